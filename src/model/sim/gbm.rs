//! Geometric Brownian motion, exact discretisation.

/// Trading seconds in a year: 252 sessions of 6.5 hours. Drift and volatility are annual, so a
/// symbol's dt between ticks is measured in these years.
pub const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

/// S(t+dt) = S(t) * exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z), the exact solution of the GBM SDE
/// over dt (no Euler error, price stays positive).
#[inline]
pub fn step(price: f64, mu: f64, sigma: f64, dt_years: f64, z: f64) -> f64 {
    price * ((mu - 0.5 * sigma * sigma) * dt_years + sigma * dt_years.sqrt() * z).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn zero_noise_grows_at_the_drift() {
        let p = step(100.0, 0.05, 0.0, 1.0, 0.0);
        assert!((p - 100.0 * 0.05f64.exp()).abs() < 1e-9, "{p}");
        assert_eq!(step(100.0, 0.3, 0.4, 0.0, 2.5), 100.0);
    }

    #[test]
    fn log_returns_have_the_model_mean_and_variance() {
        // With n samples, the sample mean's standard error is sigma*sqrt(dt)/sqrt(n); we allow
        // 4 standard errors (a false failure about once in 16,000 seeds; this seed is fixed).
        let (mu, sigma, dt) = (0.2, 0.5, 1.0 / 252.0);
        let n = 200_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let rets: Vec<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                (step(50.0, mu, sigma, dt, z) / 50.0).ln()
            })
            .collect();
        let mean = rets.iter().sum::<f64>() / n as f64;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let want_mean = (mu - sigma * sigma / 2.0) * dt;
        let want_var = sigma * sigma * dt;
        let se_mean = (want_var / n as f64).sqrt();
        // Var of the sample variance of normals: 2 sigma^4 / (n-1).
        let se_var = (2.0 * want_var * want_var / (n - 1) as f64).sqrt();
        assert!(
            (mean - want_mean).abs() < 4.0 * se_mean,
            "mean {mean} want {want_mean}"
        );
        assert!(
            (var - want_var).abs() < 4.0 * se_var,
            "var {var} want {want_var}"
        );
    }
}
