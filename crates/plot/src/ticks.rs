//! Axis ranges, tick positions and tick labels.
//!
//! plotters maps values to pixels (`lo..hi` for a linear axis,
//! `(lo..hi).log_scale()` for a log one) and places a linear axis's ticks
//! itself. What stays here is what plotters leaves to the caller or gets
//! wrong: the range that fits the data (plotters takes a range, it does not
//! choose one), the ticks of a log axis, and labels with one number of
//! decimals along an axis.

use std::ops::Range;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;

/// Whether an axis is linear or logarithmic (base 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log,
}

impl Scale {
    /// Maps a data value to axis space, where the axis is linear (`log10` of
    /// the value on a log axis); `None` for values the axis cannot show
    /// (non-finite, or non-positive on a log axis). Own check, as plotters
    /// 0.3.7 draws such a point rather than skipping it: `RangedCoordf64::map`
    /// turns NaN into the axis start (`NaN as i32` is 0) and ±inf into an end.
    pub(crate) fn to_axis(self, v: f64) -> Option<f64> {
        match self {
            _ if !v.is_finite() => None,
            Scale::Linear => Some(v),
            Scale::Log if v > 0.0 => Some(v.log10()),
            Scale::Log => None,
        }
    }

    /// The data value at axis-space position `t`.
    pub(crate) fn to_data(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
        }
    }
}

/// A finished axis: its range in axis space, and its ticks.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) scale: Scale,
    /// The range in axis space, where lines are clipped.
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    /// Linear axis: how many labels to ask plotters for (0: none).
    pub(crate) labels: usize,
    /// Log axis: the tick values, in data space.
    pub(crate) log_ticks: Vec<f64>,
    /// Linear axis: the spacing of plotters' ticks, which sets the decimals.
    step: f64,
}

/// Most labels asked of plotters on a linear axis: its 1-2-5 steps then
/// land on about 4-8 ticks, as matplotlib's do (0, 5, 10, 15 for 20 epochs).
const LINEAR_LABELS: usize = 8;

impl Axis {
    /// Builds an axis covering `data` (already in axis space, all finite).
    ///
    /// `fixed` pins the range exactly (in axis space); otherwise the data
    /// range gets a 5 % margin each side, like matplotlib. With no data the
    /// range is `0..1`. `integer` keeps linear ticks on whole numbers
    /// (epochs). `log_values` are data values to prefer as log ticks (e.g. the
    /// batch sizes of a sweep) when there are few of them.
    pub(crate) fn new(
        scale: Scale,
        data: &[f64],
        fixed: Option<(f64, f64)>,
        integer: bool,
        log_values: &[f64],
    ) -> Axis {
        let (mut lo, mut hi) = fixed.unwrap_or_else(|| padded_range(data));
        let mut axis = Axis {
            scale,
            lo,
            hi,
            labels: 0,
            log_ticks: Vec::new(),
            step: hi - lo,
        };
        match scale {
            Scale::Linear => {
                if !(hi - lo).is_finite() {
                    // plotters' key points would loop on an infinite span.
                    return axis;
                }
                let coord = RangedCoordf64::from(lo..hi);
                let whole = |n: &usize| {
                    let t = coord.key_points(*n);
                    !t.is_empty() && t.iter().all(|v| (v - v.round()).abs() < 1e-9)
                };
                axis.labels = if integer {
                    (2..=LINEAR_LABELS).rev().find(whole).unwrap_or(2)
                } else {
                    LINEAR_LABELS
                };
                if let [a, b, ..] = coord.key_points(axis.labels)[..] {
                    axis.step = b - a;
                }
            }
            Scale::Log => {
                // Keep 10^lo and 10^hi finite and normal for plotters.
                lo = lo.clamp(-307.0, 307.0);
                hi = hi.clamp(lo + 1e-9, 308.0);
                (axis.lo, axis.hi) = (lo, hi);
                axis.log_ticks = log_ticks(lo, hi, log_values)
                    .into_iter()
                    .map(|t| scale.to_data(t))
                    .collect();
            }
        }
        axis
    }

    /// The range in data space, as plotters takes it.
    pub(crate) fn data_range(&self) -> Range<f64> {
        self.scale.to_data(self.lo)..self.scale.to_data(self.hi)
    }

    /// The tick label for data value `v`.
    pub(crate) fn label(&self, v: f64) -> String {
        match self.scale {
            Scale::Linear => {
                let decimals = (-(self.step.log10() + 1e-6).floor()).clamp(0.0, 12.0) as usize;
                // plotters' ticks carry rounding error: "-0.0" is 0.
                let v = if v.abs() < 1e-6 * self.step.abs() {
                    0.0
                } else {
                    v
                };
                format!("{v:.decimals$}")
            }
            Scale::Log => format_sig(v),
        }
    }
}

/// Min and max of `data` with a 5 % margin; degenerate ranges widened.
///
/// Own code because plotters takes a range and never picks one from data,
/// and because it must never see a NaN or one-value range: 0.3.7's
/// `compute_f64_key_points` asserts on a NaN end (the panic in
/// bheisler/criterion.rs#873, whose range came from identical samples), an
/// inverted or empty range used to hang it (plotters-rs/plotters#358,
/// #255), and its `RangedCoordf64::map` puts every value of a one-value range
/// at pixel `(end - start) / 2` of the whole image rather than mid-axis.
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

/// Log ticks in `lo..=hi` (axis space = log10). Prefers the given data
/// values when there are 2..=12 of them in range, then powers of ten, then
/// 1-2-5 steps, then 1-9 steps; falls back to linear ticks in log space for
/// tiny ranges.
///
/// Own code, handed to plotters with `with_key_points`, because the key
/// points of plotters 0.3.7's `LogCoord` are wrong for these figures: on
/// 0.9..35 it labels 1, 2, ..., 9, 10, 10, 20, 30 (every unit of the first
/// decade, and 10 twice), on 1.1..2.9 nothing at all, and on 8..1200 either
/// 10, 100, 1000 or 21 labels depending on whether 19 or 20 are asked for
/// (plotters-rs/plotters#126).
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
        return plotters_ticks(lo, hi);
    }
    let decades = || (k0 as i64..=k1 as i64).map(|k| k as f64);
    let powers: Vec<f64> = decades().filter(inside).collect();
    if powers.len() >= 3 {
        let every = powers.len().div_ceil(10);
        return powers.into_iter().step_by(every).collect();
    }
    for mantissas in [
        &[1.0, 2.0, 5.0][..],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ] {
        let ticks: Vec<f64> = decades()
            .flat_map(|k| mantissas.iter().map(move |m: &f64| k + m.log10()))
            .filter(inside)
            .collect();
        if ticks.len() >= 2 {
            return ticks;
        }
    }
    plotters_ticks(lo, hi)
}

/// plotters' own 1-2-5 ticks for a linear `lo..hi` (here: log10 space, whose
/// steps are then whole decades or fractions of one).
fn plotters_ticks(lo: f64, hi: f64) -> Vec<f64> {
    RangedCoordf64::from(lo..hi).key_points(LINEAR_LABELS)
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

    /// The labels a linear axis shows: plotters' ticks, one number of
    /// decimals along the axis.
    fn labels(data: &[f64], integer: bool) -> Vec<String> {
        let axis = Axis::new(Scale::Linear, data, None, integer, &[]);
        let coord = RangedCoordf64::from(axis.data_range());
        coord
            .key_points(axis.labels)
            .iter()
            .map(|&v| axis.label(v))
            .collect()
    }

    #[test]
    fn linear_labels_share_their_decimals() {
        assert_eq!(
            labels(&[0.0, 1.0], false),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(labels(&[0.0, 19.0], true), ["0", "5", "10", "15"]);
        assert_eq!(labels(&[0.0, 4.0], true), ["0", "1", "2", "3", "4"]);
        assert_eq!(labels(&[0.0, 1.0], true), ["0", "1"]);
        assert_eq!(labels(&[0.0], true), ["0"]);
        let val = labels(&[0.176, 0.314], false);
        assert_eq!(val.first().map(String::as_str), Some("0.18"));
        assert!(val.contains(&"0.20".to_string()), "{val:?}");
        // A one-value axis: widened, and its middle tick is "0.0", not "-0.0".
        assert!(labels(&[0.0, 0.0], false).contains(&"0.0".to_string()));
        assert!(labels(&[-f64::MAX, f64::MAX], false).is_empty());
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
        let log = Axis::new(Scale::Log, &[-400.0, 400.0], None, false, &[]);
        let range = log.data_range();
        assert!(range.start > 0.0 && range.end.is_finite() && range.start < range.end);
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
        // Narrower than a decade (plotters' own log ticks: none): 1-2-5 steps.
        let narrow = Axis::new(
            Scale::Log,
            &[1.1f64.log10(), 2.9f64.log10()],
            None,
            false,
            &[],
        );
        let labels: Vec<String> = narrow.log_ticks.iter().map(|&v| narrow.label(v)).collect();
        assert_eq!(labels, ["2", "3"]);
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
