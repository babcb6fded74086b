//! Line charts as self-contained SVG text: no scripts, no fonts to load, the same bytes for the
//! same data (so reports diff and snapshot cleanly). Written by hand because plotting crates lay
//! text out with a font file they must find on the machine.

use std::fmt::Write as _;

use super::table::esc;

const W: f64 = 760.0;
const H: f64 = 340.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 36.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How the x values are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Plain numbers.
    Linear,
    /// HdrHistogram's percentile spectrum: x is -log10(1 - q), ticks at 0%, 90%, 99%, 99.9%...
    Percentile,
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: XAxis,
    /// Log-scale y (decades).
    pub y_log: bool,
    pub series: Vec<Series>,
}

/// The x position of quantile `q` on a [`XAxis::Percentile`] axis.
pub fn percentile_x(q: f64) -> f64 {
    -(1.0 - q).max(1e-7).log10()
}

/// Round tick steps: 1, 2 or 5 times a power of ten, about `n` of them over the range.
fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v.abs() >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Renders the chart; a chart with no points says so instead of drawing empty axes.
pub fn render(c: &Chart) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12" role="img" aria-label="{}">"#,
        esc(&c.title)
    );
    let _ = write!(
        out,
        r##"<rect width="{W}" height="{H}" fill="#fff"/><text x="{}" y="20" font-size="14" font-weight="bold">{}</text>"##,
        LEFT,
        esc(&c.title)
    );
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let ok = |y: f64| y.is_finite() && (!c.y_log || y > 0.0);
    if pts().filter(|(_, y)| ok(*y)).count() == 0 {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" fill="#666">no data</text></svg>"##,
            W / 2.0 - 30.0,
            H / 2.0
        );
        return out;
    }
    let (mut x0, mut x1) = (f64::MAX, f64::MIN);
    let (mut y0, mut y1) = (f64::MAX, f64::MIN);
    for (x, y) in pts().filter(|(_, y)| ok(*y)) {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if c.x == XAxis::Percentile {
        x0 = 0.0;
        // Float noise must not add a decade (p99.9999 would print as 100%).
        x1 = (x1 - 1e-6).ceil().max(1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (ty0, ty1, yticks): (f64, f64, Vec<f64>) = if c.y_log {
        let lo = y0.log10().floor();
        let hi = y1.log10().ceil().max(lo + 1.0);
        (lo, hi, (lo as i32..=hi as i32).map(|e| e as f64).collect())
    } else {
        let lo = y0.min(0.0);
        let hi = if y1 > lo { y1 * 1.05 } else { lo + 1.0 };
        let t = linear_ticks(lo, hi, 5);
        (lo, hi.max(*t.last().unwrap_or(&hi)), t)
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| {
        let v = if c.y_log { y.log10() } else { y };
        TOP + ph - (v - ty0) / (ty1 - ty0) * ph
    };
    // Grid and y ticks.
    for t in &yticks {
        let y = TOP + ph - (t - ty0) / (ty1 - ty0) * ph;
        let text = if c.y_log {
            label(10f64.powf(*t))
        } else {
            label(*t)
        };
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            text
        );
    }
    // X ticks.
    let xticks: Vec<(f64, String)> = match c.x {
        XAxis::Percentile => (0..=x1 as i32)
            .map(|d| {
                let pct = 100.0 * (1.0 - 10f64.powi(-d));
                (d as f64, format!("{}%", trim(pct)))
            })
            .collect(),
        XAxis::Linear => linear_ticks(x0, x1, 8)
            .into_iter()
            .map(|t| (t, label(t)))
            .collect(),
    };
    for (t, text) in xticks {
        let x = sx(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            esc(&text)
        );
    }
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        LEFT + pw / 2.0,
        H - 10.0,
        esc(&c.x_label),
        TOP + ph / 2.0,
        esc(&c.y_label)
    );
    // Lines, then the legend on a white box above them.
    let (lx, ly0) = (LEFT + pw - 170.0, TOP + 4.0);
    let mut legend = String::new();
    for (i, s) in c.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (x, y) in s.points.iter().filter(|(_, y)| ok(*y)) {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if d.is_empty() { "M" } else { " L" },
                sx(*x),
                sy(*y)
            );
        }
        if !d.is_empty() {
            let _ = write!(
                out,
                r#"<path class="series" d="{d}" fill="none" stroke="{color}" stroke-width="1.8"/>"#
            );
        }
        let ly = ly0 + 12.0 + i as f64 * 16.0;
        let _ = write!(
            legend,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            lx + 24.0,
            esc(&s.name)
        );
    }
    let _ = write!(
        out,
        r##"<rect x="{:.1}" y="{ly0:.1}" width="164" height="{:.1}" fill="#fff" fill-opacity="0.85"/>{legend}</svg>"##,
        lx - 6.0,
        c.series.len() as f64 * 16.0 + 6.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            linear_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(label(25_000.0), "25k");
        assert_eq!(label(2.5), "2.5");
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_chart_draws_one_path_per_series_and_escapes_text() {
        let c = Chart {
            title: "a < b".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x: XAxis::Percentile,
            y_log: true,
            series: vec![
                Series {
                    name: "one".into(),
                    points: vec![(0.0, 1.0), (3.0, 100.0)],
                },
                Series {
                    name: "two".into(),
                    points: vec![(0.0, 2.0), (5.0, 1000.0)],
                },
            ],
        };
        let svg = render(&c);
        assert_eq!(svg.matches(r#"class="series""#).count(), 2);
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("99.999%"));
        assert!(!svg.contains("NaN"));
        let empty = render(&Chart {
            series: vec![],
            ..c
        });
        assert!(empty.contains("no data"));
    }
}
