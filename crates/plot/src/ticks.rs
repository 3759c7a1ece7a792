//! Axis ranges, tick positions and tick labels.
//!
//! Every axis is drawn on a plain `f64` coordinate with explicit key points,
//! so linear and log axes share one chart type: a log axis works in
//! `log10(value)` space and formats its ticks back to data values.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// Whether an axis is linear or logarithmic (base 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log,
}

impl Scale {
    /// Maps a data value to axis space; `None` for values the axis cannot
    /// show (non-finite, or non-positive on a log axis).
    pub(crate) fn to_axis(self, v: f64) -> Option<f64> {
        match self {
            _ if !v.is_finite() => None,
            Scale::Linear => Some(v),
            Scale::Log if v > 0.0 => Some(v.log10()),
            Scale::Log => None,
        }
    }
}

/// A finished axis: its range and ticks in axis space, and how to label them.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) ticks: Vec<f64>,
    scale: Scale,
    decimals: usize,
}

/// At most this many ticks are ever produced (guards against pathological
/// ranges turning into millions of key points).
const MAX_TICKS: usize = 40;

impl Axis {
    /// Builds an axis covering `data` (already in axis space, all finite).
    ///
    /// `fixed` pins the range exactly (in axis space); otherwise the data
    /// range gets a 5 % margin each side, like matplotlib. With no data the
    /// range is `0..1`. `integer` keeps linear tick steps at whole numbers
    /// (epochs). `log_values` are data values to prefer as log ticks (e.g. the
    /// batch sizes of a sweep) when there are few of them.
    pub(crate) fn new(
        scale: Scale,
        data: &[f64],
        fixed: Option<(f64, f64)>,
        integer: bool,
        log_values: &[f64],
    ) -> Axis {
        let (lo, hi) = match fixed {
            Some(r) => r,
            None => padded_range(data),
        };
        match scale {
            Scale::Linear => {
                let (ticks, decimals) = linear_ticks(lo, hi, integer);
                Axis {
                    lo,
                    hi,
                    ticks,
                    scale,
                    decimals,
                }
            }
            Scale::Log => Axis {
                lo,
                hi,
                ticks: log_ticks(lo, hi, log_values),
                scale,
                decimals: 0,
            },
        }
    }

    /// The tick label for `v` (in axis space).
    pub(crate) fn label(&self, v: f64) -> String {
        match self.scale {
            Scale::Linear => {
                // Avoid "-0.0".
                let v = if v.abs() < 1e-12 * (self.hi - self.lo).abs() {
                    0.0
                } else {
                    v
                };
                format_fixed(v, self.decimals)
            }
            Scale::Log => format_sig(10f64.powf(v)),
        }
    }
}

/// plotters coordinate for an [`Axis`]: linear in axis space, with our own
/// ticks (bold grid lines only) and tick labels.
impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let t = (*v - self.lo) / span;
        if !(span > 0.0 && t.is_finite()) {
            return (limit.0 + limit.1) / 2;
        }
        // `as` saturates, so far-away points cannot overflow.
        limit.0 + (f64::from(limit.1 - limit.0) * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// Min and max of `data` with a 5 % margin; degenerate ranges widened.
fn padded_range(data: &[f64]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &v in data.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if !span.is_finite() {
        // Values near ±f64::MAX: no room for a margin.
        return (lo, hi);
    }
    let finite = |v: f64| v.clamp(-f64::MAX, f64::MAX);
    if span <= 1e-12 * lo.abs() || span == 0.0 {
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        return (finite(lo - half), finite(hi + half));
    }
    (finite(lo - 0.05 * span), finite(hi + 0.05 * span))
}

/// "Nice" linear ticks (steps of 1, 2, 2.5 or 5 × 10^k, about 5–10 of them)
/// inside `lo..=hi`, and the number of decimals that labels them exactly.
fn linear_ticks(lo: f64, hi: f64, integer: bool) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (Vec::new(), 0);
    }
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    if integer && step < 1.0 {
        step = 1.0;
    }
    if integer && step.fract() != 0.0 {
        step = step.ceil();
    }
    if !(step.is_finite() && step > 0.0) {
        return (Vec::new(), 0);
    }
    let first = (lo / step).ceil();
    let mut ticks = Vec::new();
    let eps = step * 1e-9;
    for i in 0..MAX_TICKS {
        let t = (first + i as f64) * step;
        if t > hi + eps {
            break;
        }
        ticks.push(t);
    }
    let exp = step.log10().floor();
    let mut decimals = (-exp).max(0.0) as usize;
    // A step of 2.5 × 10^k needs one more decimal than 10^k when k <= 0.
    if exp <= 0.0 && (step / 10f64.powf(exp) - 2.5).abs() < 1e-9 {
        decimals += 1;
    }
    (ticks, decimals.min(12))
}

/// Log ticks in `lo..=hi` (axis space = log10). Prefers the given data
/// values when there are 2..=12 of them in range, then powers of ten, then
/// 1-2-5 steps; falls back to linear ticks in log space for tiny ranges.
fn log_ticks(lo: f64, hi: f64, values: &[f64]) -> Vec<f64> {
    if !(hi - lo).is_finite() || hi <= lo {
        return Vec::new();
    }
    let inside = |t: &f64| *t >= lo - 1e-9 && *t <= hi + 1e-9;
    let mut data: Vec<f64> = values
        .iter()
        .filter_map(|&v| Scale::Log.to_axis(v))
        .filter(inside)
        .collect();
    data.sort_by(f64::total_cmp);
    data.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    if (2..=12).contains(&data.len()) {
        return data;
    }
    let (k0, k1) = (lo.floor(), hi.ceil());
    if k1 - k0 > 200.0 {
        return linear_ticks(lo, hi, true).0;
    }
    let decades = || (k0 as i64..=k1 as i64).map(|k| k as f64);
    let powers: Vec<f64> = decades().filter(inside).collect();
    if powers.len() >= 3 {
        let every = powers.len().div_ceil(10);
        return powers.into_iter().step_by(every).collect();
    }
    let one_two_five: Vec<f64> = decades()
        .flat_map(|k| [1.0f64, 2.0, 5.0].map(|m| k + m.log10()))
        .filter(inside)
        .collect();
    if one_two_five.len() >= 2 {
        return one_two_five;
    }
    linear_ticks(lo, hi, false).0
}

/// `v` with exactly `decimals` decimals.
fn format_fixed(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// `v` with up to 3 significant digits, no trailing zeros; scientific
/// notation outside 1e-3..1e6.
pub(crate) fn format_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor();
    if !(-3.0..6.0).contains(&mag) {
        let s = format!("{v:.2e}");
        // "1.00e5" -> "1e5", "2.50e-4" -> "2.5e-4"
        return match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        };
    }
    let decimals = (2.0 - mag).max(0.0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_nice() {
        let (t, d) = linear_ticks(0.0, 1.0, false);
        assert_eq!(d, 1);
        assert_eq!(t.len(), 6); // 0, 0.2, ..., 1.0
        let (t, d) = linear_ticks(-0.95, 19.95, true);
        assert_eq!(d, 0);
        assert_eq!(t, vec![0.0, 5.0, 10.0, 15.0]);
        let (t, d) = linear_ticks(0.0, 2.0, false);
        assert_eq!(d, 2);
        assert_eq!(t[1], 0.25);
        let (t, _) = linear_ticks(-0.2, 4.2, true);
        assert_eq!(t, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn degenerate_ranges_do_not_explode() {
        assert_eq!(padded_range(&[]), (0.0, 1.0));
        let (lo, hi) = padded_range(&[3.0, 3.0]);
        assert!(lo < 3.0 && hi > 3.0);
        let (lo, hi) = padded_range(&[0.0]);
        assert!(lo < 0.0 && hi > 0.0);
        let (lo, hi) = padded_range(&[-f64::MAX, f64::MAX]);
        assert!(lo.is_finite() && hi.is_finite());
        let (lo, hi) = padded_range(&[f64::MAX]);
        assert!(lo.is_finite() && hi.is_finite() && lo < hi);
        assert!(linear_ticks(-f64::MAX, f64::MAX, false).0.len() <= MAX_TICKS);
        assert!(linear_ticks(1.0, 1.0, false).0.is_empty());
    }

    #[test]
    fn log_ticks_prefer_data_then_decades() {
        let sizes = [16.0, 32.0, 64.0, 128.0, 256.0];
        let axis_vals: Vec<f64> = sizes.iter().map(|v: &f64| v.log10()).collect();
        let (lo, hi) = padded_range(&axis_vals);
        let t = log_ticks(lo, hi, &sizes);
        assert_eq!(t.len(), 5);
        let t = log_ticks(-4.0, 1.0, &[]);
        assert_eq!(t, vec![-4.0, -3.0, -2.0, -1.0, 0.0, 1.0]);
        let t = log_ticks(1.1, 2.9, &[]);
        assert!(t.len() >= 2);
    }

    #[test]
    fn sig_formatting() {
        assert_eq!(format_sig(16.0), "16");
        assert_eq!(format_sig(1024.0), "1024");
        assert_eq!(format_sig(0.005), "0.005");
        assert_eq!(format_sig(0.25), "0.25");
        assert_eq!(format_sig(49.999_999), "50");
        assert_eq!(format_sig(1e-5), "1e-5");
        assert_eq!(format_sig(2.5e7), "2.5e7");
    }
}
