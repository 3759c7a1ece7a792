//! One set of axes: title, labelled axes, curves with point markers, an
//! optional dashed horizontal line, and a legend placed where it hides the
//! fewest data. Shared by every figure of this crate, generic over the
//! plotters backend (PNG pixels or SVG text).

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
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

/// Points joined in order, in data space.
type Polyline = Vec<(f64, f64)>;

/// What one set of axes draws, worked out before plotters sees it: the two
/// axes, and every curve already split at gaps and clipped to the axes, in
/// data space.
struct Layout<'a> {
    x: Axis,
    y: Axis,
    /// Per curve: its visible polylines and its visible markers.
    curves: Vec<(Vec<Polyline>, Polyline)>,
    /// The dashed line's y and label, if it is inside the axes.
    hline: Option<(f64, &'a str)>,
}

impl<'a> Layout<'a> {
    fn new(spec: &AxesSpec<'a>) -> Layout<'a> {
        let (xs, ys) = (spec.x_scale, spec.y_scale);
        // Every curve in axis space (log10 on a log axis); `None` marks a gap.
        let curves: Vec<Vec<Option<(f64, f64)>>> = spec
            .curves
            .iter()
            .map(|c| {
                c.points
                    .iter()
                    .map(|&(x, y)| Some((xs.to_axis(x)?, ys.to_axis(y)?)))
                    .collect()
            })
            .collect();
        let hline = spec
            .hline
            .and_then(|(v, label)| Some((ys.to_axis(v)?, label)));

        let points = || curves.iter().flatten().flatten();
        let x_data: Vec<f64> = points().map(|p| p.0).collect();
        let mut y_data: Vec<f64> = points().map(|p| p.1).collect();
        y_data.extend(hline.map(|(v, _)| v));
        let raw_xs: Vec<f64> = spec
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0))
            .collect();
        let y_fixed = spec
            .y_range
            .and_then(|(lo, hi)| Some((ys.to_axis(lo)?, ys.to_axis(hi)?)));
        let x = Axis::new(xs, &x_data, None, spec.x_integer, &raw_xs);
        let y = Axis::new(ys, &y_data, y_fixed, false, &[]);
        let bounds = Bounds {
            x0: x.lo,
            x1: x.hi,
            y0: y.lo,
            y1: y.hi,
        };
        // Back to data space, which plotters maps to pixels.
        let data = |(px, py): (f64, f64)| (xs.to_data(px), ys.to_data(py));
        Layout {
            curves: curves
                .iter()
                .map(|points| {
                    let lines = clipped_polylines(points, bounds)
                        .into_iter()
                        .map(|l| l.into_iter().map(data).collect())
                        .collect();
                    let markers = points.iter().flatten().copied();
                    (
                        lines,
                        markers.filter(|&p| bounds.contains(p)).map(data).collect(),
                    )
                })
                .collect(),
            hline: hline
                .filter(|(v, _)| (bounds.y0..=bounds.y1).contains(v))
                .map(|(v, label)| (ys.to_data(v), label)),
            x,
            y,
        }
    }
}

/// Draws `spec` filling `area`, on plotters' own linear (`lo..hi`) or
/// logarithmic (`(lo..hi).log_scale()`) coordinates.
pub(crate) fn draw_axes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &AxesSpec<'_>,
) -> DrawResult<DB> {
    let layout = Layout::new(spec);
    let (x, y) = (&layout.x, &layout.y);
    let linear = |a: &Axis| RangedCoordf64::from(a.data_range());
    let log = |a: &Axis| {
        a.data_range()
            .log_scale()
            .with_key_points(a.log_ticks.clone())
    };
    match (x.scale, y.scale) {
        (Scale::Linear, Scale::Linear) => draw_on(area, spec, &layout, linear(x), linear(y)),
        (Scale::Linear, Scale::Log) => draw_on(area, spec, &layout, linear(x), log(y)),
        (Scale::Log, Scale::Linear) => draw_on(area, spec, &layout, log(x), linear(y)),
        (Scale::Log, Scale::Log) => draw_on(area, spec, &layout, log(x), log(y)),
    }
}

/// [`draw_axes`] on the coordinates `x` and `y` (data space in, pixels out).
fn draw_on<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    spec: &AxesSpec<'_>,
    layout: &Layout<'_>,
    x: X,
    y: Y,
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(spec.title, (FAMILY, TITLE_PX))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(58)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)?;

    let (x_label, y_label) = (|v: &f64| layout.x.label(*v), |v: &f64| layout.y.label(*v));
    chart
        .configure_mesh()
        .x_labels(layout.x.labels)
        .y_labels(layout.y.labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .x_desc(spec.x_label)
        .y_desc(spec.y_label)
        .axis_desc_style((FAMILY, AXIS_DESC_PX))
        .label_style((FAMILY, TICK_PX))
        .bold_line_style(GRID_COLOR)
        .max_light_lines(0)
        .axis_style(BLACK)
        .draw()?;

    // Everything the legend should avoid, in pixels.
    let mut occupied: Vec<(i32, i32)> = Vec::new();
    let mut labels: Vec<&str> = Vec::new();

    for (i, (curve, (lines, markers))) in spec.curves.iter().zip(&layout.curves).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = ShapeStyle::from(&color).stroke_width(LINE_WIDTH);
        for l in lines {
            let pixels: Vec<(i32, i32)> = l.iter().map(|p| chart.backend_coord(p)).collect();
            occupied.extend(densify(&pixels));
        }
        occupied.extend(markers.iter().map(|p| chart.backend_coord(p)));
        let anno = chart.draw_series(lines.iter().map(|l| PathElement::new(l.clone(), line)))?;
        if !curve.label.is_empty() {
            labels.push(curve.label);
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
        chart.draw_series(
            markers
                .iter()
                .map(|&p| Circle::new(p, MARKER_RADIUS, line.filled())),
        )?;
    }

    if let Some((v, label)) = layout.hline {
        let style = ShapeStyle::from(&HLINE_COLOR).stroke_width(LINE_WIDTH);
        let range = layout.x.data_range();
        let ends = [(range.start, v), (range.end, v)];
        occupied.extend(densify(&ends.map(|p| chart.backend_coord(&p))));
        let anno = chart.draw_series(DashedLineSeries::new(ends, 10, 6, style))?;
        if !label.is_empty() {
            labels.push(label);
            let half = (LEGEND_SAMPLE_PX - 6) / 2;
            anno.label(label).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (half - 3, 0)], style)
                    + PathElement::new(vec![(half + 3, 0), (2 * half, 0)], style)
            });
        }
    }

    if !labels.is_empty() {
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let plot_px = ((xr.end - xr.start) as u32, (yr.end - yr.start) as u32);
        let relative: Vec<(f64, f64)> = occupied
            .iter()
            .map(|&(px, py)| (f64::from(px - xr.start), f64::from(py - yr.start)))
            .collect();
        let position = best_legend_position(&labels, plot_px, &relative);
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
///
/// Own clipping, in axis space (where a segment is straight on screen, log
/// axes too), because plotters 0.3.7 does not clip: a point outside the
/// axes is moved onto their edge (`Rect::truncate` in its `CoordMapper`), so
/// a line leaving the plot is bent along the border instead of cut
/// (plotters-rs/plotters#429, #622, #120).
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

/// Pixels along a polyline, about 8 px apart, so that the legend placement
/// sees lines and not only their vertices.
fn densify(poly: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for seg in poly.windows(2) {
        let (p, q) = (seg[0], seg[1]);
        let (dx, dy) = (f64::from(q.0 - p.0), f64::from(q.1 - p.1));
        let n = ((dx.hypot(dy) / 8.0).ceil() as i32).clamp(1, 400);
        out.extend((0..=n).map(|k| {
            let t = f64::from(k) / f64::from(n);
            (p.0 + (t * dx) as i32, p.1 + (t * dy) as i32)
        }));
    }
    out
}

/// Picks the legend corner (or edge middle) covering the fewest of `pixels`
/// (relative to the plotting area), trying matplotlib's order of preference.
/// plotters puts a legend only where it is told.
fn best_legend_position(
    labels: &[&str],
    (pw, ph): (u32, u32),
    pixels: &[(f64, f64)],
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
    let (pw, ph) = (f64::from(pw), f64::from(ph));
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
