//! One set of axes: title, labelled axes, curves with point markers, an
//! optional dashed horizontal line, and a legend placed where it hides the
//! fewest data. Shared by every figure of this crate, generic over the
//! plotters backend (PNG pixels or SVG text).

use plotters::coord::Shift;
use plotters::element::MultiLineText;
use plotters::prelude::*;

use crate::font::FAMILY;
use crate::ticks::{Axis, Scale};

/// Result type of drawing on backend `DB`.
pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One curve in data space. Unrepresentable points (NaN, ±inf, <= 0 on a log
/// axis) are skipped and break the line.
pub(crate) struct Curve<'a> {
    pub(crate) label: &'a str,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Everything one set of axes shows.
pub(crate) struct AxesSpec<'a> {
    pub(crate) title: &'a str,
    pub(crate) x_label: &'a str,
    pub(crate) y_label: &'a str,
    pub(crate) curves: Vec<Curve<'a>>,
    /// Dashed horizontal line at a y value, with its legend label.
    pub(crate) hline: Option<(f64, &'a str)>,
    pub(crate) x_scale: Scale,
    pub(crate) y_scale: Scale,
    /// Keep x tick steps whole (epochs).
    pub(crate) x_integer: bool,
    /// Fixed y range in data space, already validated (finite, lo < hi, and
    /// positive on a log axis).
    pub(crate) y_range: Option<(f64, f64)>,
}

/// matplotlib's "tab10" cycle, so the figures look like the notebook's.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const HLINE_COLOR: RGBColor = RGBColor(40, 40, 40);
const GRID_COLOR: RGBColor = RGBColor(225, 225, 225);

const TITLE_PX: u32 = 24;
const AXIS_DESC_PX: u32 = 19;
const TICK_PX: u32 = 16;
const LEGEND_PX: u32 = 16;
const LINE_WIDTH: u32 = 2;
const MARKER_RADIUS: u32 = 4;
/// Width of the legend's sample-line column.
const LEGEND_SAMPLE_PX: i32 = 34;
const LEGEND_MARGIN_PX: i32 = 8;

/// Axis-space rectangle used for clipping.
#[derive(Clone, Copy)]
struct Bounds {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Bounds {
    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// Draws `spec` filling `area`.
pub(crate) fn draw_axes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &AxesSpec<'_>,
) -> DrawResult<DB> {
    // Map every curve to axis space; `None` marks a gap.
    let curves: Vec<Vec<Option<(f64, f64)>>> = spec
        .curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .map(|&(x, y)| Some((spec.x_scale.to_axis(x)?, spec.y_scale.to_axis(y)?)))
                .collect()
        })
        .collect();
    let hline = spec
        .hline
        .and_then(|(v, label)| Some((spec.y_scale.to_axis(v)?, label)));

    let xs: Vec<f64> = curves.iter().flatten().flatten().map(|p| p.0).collect();
    let mut ys: Vec<f64> = curves.iter().flatten().flatten().map(|p| p.1).collect();
    if let Some((v, _)) = hline {
        ys.push(v);
    }
    let raw_xs: Vec<f64> = spec
        .curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect();
    let y_fixed = spec
        .y_range
        .and_then(|(lo, hi)| Some((spec.y_scale.to_axis(lo)?, spec.y_scale.to_axis(hi)?)));
    let x_axis = Axis::new(spec.x_scale, &xs, None, spec.x_integer, &raw_xs);
    let y_axis = Axis::new(spec.y_scale, &ys, y_fixed, false, &[]);
    let bounds = Bounds {
        x0: x_axis.lo,
        x1: x_axis.hi,
        y0: y_axis.lo,
        y1: y_axis.hi,
    };

    let mut chart = ChartBuilder::on(area)
        .caption(spec.title, (FAMILY, TITLE_PX))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(58)
        .y_label_area_size(78)
        .build_cartesian_2d(x_axis, y_axis)?;

    chart
        .configure_mesh()
        .x_desc(spec.x_label)
        .y_desc(spec.y_label)
        .axis_desc_style((FAMILY, AXIS_DESC_PX))
        .label_style((FAMILY, TICK_PX))
        .bold_line_style(GRID_COLOR)
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK)
        .draw()?;

    // Everything the legend should avoid, in axis space.
    let mut occupied: Vec<(f64, f64)> = Vec::new();
    let mut any_label = false;

    for (i, (curve, points)) in spec.curves.iter().zip(&curves).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = ShapeStyle::from(&color).stroke_width(LINE_WIDTH);
        let polylines = clipped_polylines(points, bounds);
        for poly in &polylines {
            occupied.extend(densify(poly, &bounds));
        }
        let anno = chart.draw_series(polylines.into_iter().map(|p| PathElement::new(p, line)))?;
        if !curve.label.is_empty() {
            any_label = true;
            anno.label(curve.label).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (LEGEND_SAMPLE_PX - 6, 0)], line)
                    + Circle::new(
                        ((LEGEND_SAMPLE_PX - 6) / 2, 0),
                        MARKER_RADIUS,
                        line.filled(),
                    )
            });
        }
        let markers: Vec<(f64, f64)> = points
            .iter()
            .flatten()
            .copied()
            .filter(|&p| bounds.contains(p))
            .collect();
        occupied.extend(&markers);
        chart.draw_series(
            markers
                .into_iter()
                .map(|p| Circle::new(p, MARKER_RADIUS, line.filled())),
        )?;
    }

    if let Some((v, label)) = hline {
        if v >= bounds.y0 && v <= bounds.y1 {
            let style = ShapeStyle::from(&HLINE_COLOR).stroke_width(LINE_WIDTH);
            let ends = [(bounds.x0, v), (bounds.x1, v)];
            occupied.extend(densify(&ends, &bounds));
            let anno = chart.draw_series(DashedLineSeries::new(ends, 10, 6, style))?;
            if !label.is_empty() {
                any_label = true;
                let half = (LEGEND_SAMPLE_PX - 6) / 2;
                anno.label(label).legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (half - 3, 0)], style)
                        + PathElement::new(vec![(half + 3, 0), (2 * half, 0)], style)
                });
            }
        }
    }

    if any_label {
        let mut labels: Vec<&str> = spec
            .curves
            .iter()
            .map(|c| c.label)
            .filter(|l| !l.is_empty())
            .collect();
        if let Some((_, l)) = hline.filter(|(v, _)| *v >= bounds.y0 && *v <= bounds.y1) {
            if !l.is_empty() {
                labels.push(l);
            }
        }
        let plot_px = chart.plotting_area().dim_in_pixel();
        let position = best_legend_position(&labels, plot_px, &occupied, &bounds);
        chart
            .configure_series_labels()
            .position(position)
            .margin(LEGEND_MARGIN_PX)
            .legend_area_size(LEGEND_SAMPLE_PX)
            .label_font((FAMILY, LEGEND_PX))
            .background_style(WHITE.mix(0.88))
            .border_style(RGBColor(170, 170, 170))
            .draw()?;
    }
    Ok(())
}

/// Splits a point list at gaps and clips every segment to `b`, returning
/// the visible polylines.
fn clipped_polylines(points: &[Option<(f64, f64)>], b: Bounds) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for pair in points.windows(2) {
        let (Some(p), Some(q)) = (pair[0], pair[1]) else {
            flush(&mut out, &mut current);
            continue;
        };
        match clip_segment(p, q, b) {
            Some((a, c)) => {
                if current.last() != Some(&a) {
                    flush(&mut out, &mut current);
                    current.push(a);
                }
                current.push(c);
            }
            None => flush(&mut out, &mut current),
        }
    }
    flush(&mut out, &mut current);
    out
}

fn flush(out: &mut Vec<Vec<(f64, f64)>>, current: &mut Vec<(f64, f64)>) {
    if current.len() >= 2 {
        out.push(std::mem::take(current));
    } else {
        current.clear();
    }
}

/// Liang–Barsky clipping of segment `p`–`q` to `b`. An endpoint inside `b`
/// is returned bit-for-bit, so consecutive clipped segments chain up.
fn clip_segment(p: (f64, f64), q: (f64, f64), b: Bounds) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (den, num) in [
        (-dx, p.0 - b.x0),
        (dx, b.x1 - p.0),
        (-dy, p.1 - b.y0),
        (dy, b.y1 - p.1),
    ] {
        if den == 0.0 {
            if num < 0.0 {
                return None;
            }
        } else {
            let t = num / den;
            if den < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    if t0.is_nan() || t1.is_nan() || t0 > t1 {
        return None;
    }
    let at = |t: f64| {
        if t == 0.0 {
            p
        } else if t == 1.0 {
            q
        } else {
            (p.0 + t * dx, p.1 + t * dy)
        }
    };
    Some((at(t0), at(t1)))
}

/// Points along a polyline, about 1/40 of the axes apart, so that the legend
/// placement sees lines and not only their vertices.
fn densify(poly: &[(f64, f64)], b: &Bounds) -> Vec<(f64, f64)> {
    let (w, h) = (
        (b.x1 - b.x0).max(f64::MIN_POSITIVE),
        (b.y1 - b.y0).max(f64::MIN_POSITIVE),
    );
    let mut out = Vec::new();
    for seg in poly.windows(2) {
        let (p, q) = (seg[0], seg[1]);
        let len = (((q.0 - p.0) / w).powi(2) + ((q.1 - p.1) / h).powi(2)).sqrt();
        let n = ((len * 40.0).ceil() as usize).clamp(1, 400);
        out.extend((0..=n).map(|k| {
            let t = k as f64 / n as f64;
            (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
        }));
    }
    out
}

/// Picks the legend corner (or edge middle) covering the fewest of
/// `occupied`, trying matplotlib's order of preference.
fn best_legend_position(
    labels: &[&str],
    (pw, ph): (u32, u32),
    occupied: &[(f64, f64)],
    b: &Bounds,
) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    let candidates = [
        UpperRight,
        UpperLeft,
        LowerLeft,
        LowerRight,
        MiddleRight,
        MiddleLeft,
        LowerMiddle,
        UpperMiddle,
    ];
    // Legend box size as plotters will lay it out.
    let font: TextStyle = (FAMILY, LEGEND_PX).into_font().into();
    let mut text = MultiLineText::<(i32, i32), &str>::new((0, 0), &font);
    for l in labels {
        text.push_line(*l);
    }
    let (tw, th) = text
        .estimate_dimension()
        .unwrap_or((200, 20 * labels.len() as i32));
    let (lw, lh) = (
        tw + LEGEND_SAMPLE_PX + 2 * LEGEND_MARGIN_PX,
        th + 2 * LEGEND_MARGIN_PX,
    );
    let (pw, ph) = (pw as f64, ph as f64);
    let (sx, sy) = (pw / (b.x1 - b.x0), ph / (b.y1 - b.y0));
    let pixels: Vec<(f64, f64)> = occupied
        .iter()
        .map(|&(x, y)| ((x - b.x0) * sx, (b.y1 - y) * sy))
        .collect();
    let pad = MARKER_RADIUS as f64 + 2.0;
    let mut best = (usize::MAX, UpperRight);
    for pos in candidates {
        // Same arithmetic as plotters' `layout_label_area`.
        let (lw, lh) = (lw as f64, lh as f64);
        let x = match pos {
            UpperLeft | MiddleLeft | LowerLeft => 5.0,
            UpperMiddle | MiddleMiddle | LowerMiddle => (pw - lw) / 2.0,
            _ => pw - lw - 5.0,
        };
        let y = match pos {
            UpperLeft | UpperMiddle | UpperRight => 5.0,
            MiddleLeft | MiddleMiddle | MiddleRight => (ph - lh) / 2.0,
            _ => ph - lh - 5.0,
        };
        let hits = pixels
            .iter()
            .filter(|&&(px, py)| {
                px >= x - pad && px <= x + lw + pad && py >= y - pad && py <= y + lh + pad
            })
            .count();
        if hits < best.0 {
            best = (hits, pos);
        }
        if hits == 0 {
            break;
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        x0: 0.0,
        x1: 10.0,
        y0: 0.0,
        y1: 1.0,
    };

    #[test]
    fn gaps_split_lines_and_single_points_make_none() {
        let pts = [
            Some((0.0, 0.1)),
            Some((1.0, 0.2)),
            None,
            Some((3.0, 0.3)),
            None,
            Some((5.0, 0.5)),
            Some((6.0, 0.6)),
        ];
        let polys = clipped_polylines(&pts, B);
        assert_eq!(
            polys,
            vec![vec![(0.0, 0.1), (1.0, 0.2)], vec![(5.0, 0.5), (6.0, 0.6)]]
        );
    }

    #[test]
    fn clipping_cuts_at_the_box() {
        let pts = [Some((0.0, 0.5)), Some((2.0, 1.5)), Some((4.0, 0.5))];
        let polys = clipped_polylines(&pts, B);
        assert_eq!(polys.len(), 2);
        assert_eq!(polys[0], vec![(0.0, 0.5), (1.0, 1.0)]);
        assert_eq!(polys[1], vec![(3.0, 1.0), (4.0, 0.5)]);
        assert!(clip_segment((-5.0, 2.0), (-1.0, 3.0), B).is_none());
    }
}
