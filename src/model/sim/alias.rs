//! Walker/Vose alias table: a draw from any discrete distribution in O(1), from 64 random bits.

/// Alias table over indices 0..n with the given relative weights.
#[derive(Debug, Clone)]
pub struct Alias {
    /// Per column: chance of keeping it rather than taking its alias (scaled to 2^32), and the
    /// alias. Side by side, so a draw touches one cache line.
    columns: Vec<(u32, u32)>,
}

impl Alias {
    pub fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        assert!(n > 0 && n <= u32::MAX as usize, "1 to 2^32-1 weights");
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|i| scaled[*i] < 1.0);
        let mut keep = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (scaled[s] * 4_294_967_296.0).min(u32::MAX as f64) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left is 1 up to rounding: always kept.
        Alias {
            columns: keep.into_iter().zip(alias).collect(),
        }
    }

    /// An index drawn with probability proportional to its weight: the high 32 bits pick the
    /// column, the low 32 bits the coin.
    #[inline]
    pub fn sample(&self, bits: u64) -> usize {
        let k = (((bits >> 32) * self.columns.len() as u64) >> 32) as usize;
        let (keep, alias) = self.columns[k];
        if (bits as u32) < keep || keep == u32::MAX {
            k
        } else {
            alias as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sim::rng::bits_from;

    #[test]
    fn frequencies_follow_the_weights() {
        let w = [1.0, 2.0, 3.0, 4.0, 0.0, 10.0];
        let a = Alias::new(&w);
        let n = 400_000u64;
        let mut counts = [0u64; 6];
        for i in 0..n {
            counts[a.sample(bits_from(9, i))] += 1;
        }
        assert_eq!(counts[4], 0, "zero weight is never drawn");
        for (k, wk) in w.iter().enumerate() {
            let p = wk / 20.0;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            let dev = (counts[k] as f64 - n as f64 * p).abs();
            assert!(
                dev <= 5.0 * sd + 1.0,
                "index {k}: {} vs {}",
                counts[k],
                n as f64 * p
            );
        }
    }
}
