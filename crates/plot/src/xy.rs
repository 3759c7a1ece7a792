//! Free-form `(x, y)` line plots, e.g. a benchmark's step time vs batch size.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axes::{draw_axes, AxesSpec, Curve, DrawResult};
use crate::render::{render, Figure};
use crate::ticks::Scale;
use crate::PlotError;

/// Width and height in pixels of a [`plot_xy`] figure.
pub const XY_FIGURE_SIZE: (u32, u32) = (900, 600);

/// One curve of an [`XyPlot`]: points joined in the given order.
///
/// Points with a NaN/infinite coordinate — or a non-positive one on a log
/// axis — are skipped and break the line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct XySeries {
    /// Legend label; empty keeps the curve out of the legend.
    pub label: String,
    /// The `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A single-panel line plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct XyPlot {
    /// Title above the plot, e.g. `"Step time vs batch size"`.
    pub title: String,
    /// x axis title, e.g. `"Batch size"`.
    pub x_label: String,
    /// y axis title, e.g. `"Step time (ms)"`.
    pub y_label: String,
    /// The curves, drawn in order with distinct colours and `o` markers.
    pub series: Vec<XySeries>,
    /// Logarithmic x axis. With at most 12 distinct x values (a batch-size
    /// sweep) the ticks sit exactly on them; otherwise on powers of ten.
    pub log_x: bool,
    /// Logarithmic y axis (ticks on powers of ten, or 1-2-5 steps).
    pub log_y: bool,
}

/// Draws `plot` at [`XY_FIGURE_SIZE`] and writes `<stem>.png` and
/// `<stem>.svg` in `dir`, creating `dir` if needed.
///
/// Returns the paths of the PNG and the SVG, in that order.
///
/// # Errors
/// [`PlotError::InvalidInput`] for a bad `stem`; [`PlotError::CreateDir`] /
/// [`PlotError::Write`] when the files cannot be written;
/// [`PlotError::Render`] if plotters fails.
pub fn plot_xy(dir: &Path, stem: &str, plot: &XyPlot) -> Result<(PathBuf, PathBuf), PlotError> {
    render(dir, stem, plot)
}

impl Figure for XyPlot {
    fn size(&self) -> (u32, u32) {
        XY_FIGURE_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let scale = |log| if log { Scale::Log } else { Scale::Linear };
        let spec = AxesSpec {
            title: &self.title,
            x_label: &self.x_label,
            y_label: &self.y_label,
            curves: self
                .series
                .iter()
                .map(|s| Curve {
                    label: &s.label,
                    points: s.points.clone(),
                })
                .collect(),
            hline: None,
            x_scale: scale(self.log_x),
            y_scale: scale(self.log_y),
            x_integer: false,
            y_range: None,
        };
        draw_axes(root, &spec)
    }
}
