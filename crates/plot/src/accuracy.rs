//! Per-epoch curves in vertically stacked panels: the notebook's
//! "Train accuracy" / "Val accuracy" figures.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axes::{draw_axes, AxesSpec, Curve, DrawResult};
use crate::render::{render, Figure};
use crate::ticks::Scale;
use crate::PlotError;

/// Width in pixels of a [`plot_panels`] figure.
pub const PANELS_FIGURE_WIDTH: u32 = 900;
/// Height in pixels of each panel of a [`plot_panels`] figure (two panels
/// make a 900x900 figure).
pub const PANEL_HEIGHT: u32 = 450;
/// Most panels one [`plot_panels`] figure may stack.
pub const MAX_PANELS: usize = 16;

/// One curve of a [`Panel`]: `values[i]` is plotted at x = `i` (the epoch).
///
/// NaN or infinite values are skipped and break the line; an empty
/// `values` only contributes its legend entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend label, e.g. `"0.60 dropout"`; an empty label keeps the curve
    /// out of the legend.
    pub label: String,
    /// One value per epoch.
    pub values: Vec<f64>,
}

/// One subplot: curves over epochs, with optional dashed reference line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Title above the panel, e.g. `"Train accuracy"`.
    pub title: String,
    /// x axis title, e.g. `"Epoch"`.
    pub x_label: String,
    /// y axis title, e.g. `"Accuracy"`.
    pub y_label: String,
    /// The curves, drawn in order with distinct colours and `o` markers.
    pub series: Vec<Series>,
    /// A dashed horizontal line at `y` with its legend label, e.g.
    /// `(0.55, "0.55 target".into())`. A non-finite `y` is not drawn.
    pub hline: Option<(f64, String)>,
    /// Fixed `(min, max)` of the y axis; `None` fits the data (and the
    /// `hline`) with a 5 % margin. Must be finite with `min < max`.
    pub y_range: Option<(f64, f64)>,
}

/// Draws `panels` stacked vertically (first on top), each
/// [`PANEL_HEIGHT`] px high and [`PANELS_FIGURE_WIDTH`] px wide, and writes
/// `<stem>.png` and `<stem>.svg` in `dir`, creating `dir` if needed.
///
/// Returns the paths of the PNG and the SVG, in that order.
///
/// # Errors
/// [`PlotError::InvalidInput`] for no panels, more than [`MAX_PANELS`], a bad `stem` or a bad
/// `y_range`; [`PlotError::CreateDir`] / [`PlotError::Write`] when the files
/// cannot be written; [`PlotError::Render`] if plotters fails.
pub fn plot_panels(
    dir: &Path,
    stem: &str,
    panels: &[Panel],
) -> Result<(PathBuf, PathBuf), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::InvalidInput(
            "plot_panels needs at least one panel".into(),
        ));
    }
    if panels.len() > MAX_PANELS {
        return Err(PlotError::InvalidInput(format!(
            "{} panels is too many to stack (max {MAX_PANELS})",
            panels.len()
        )));
    }
    for p in panels {
        if let Some((lo, hi)) = p.y_range {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(PlotError::InvalidInput(format!(
                    "panel {:?}: y_range ({lo}, {hi}) must be finite with min < max",
                    p.title
                )));
            }
        }
    }
    render(dir, stem, &Panels(panels))
}

struct Panels<'a>(&'a [Panel]);

impl Figure for Panels<'_> {
    fn size(&self) -> (u32, u32) {
        (PANELS_FIGURE_WIDTH, PANEL_HEIGHT * self.0.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let areas = root.split_evenly((self.0.len(), 1));
        for (panel, area) in self.0.iter().zip(&areas) {
            let spec = AxesSpec {
                title: &panel.title,
                x_label: &panel.x_label,
                y_label: &panel.y_label,
                curves: panel
                    .series
                    .iter()
                    .map(|s| Curve {
                        label: &s.label,
                        points: s
                            .values
                            .iter()
                            .enumerate()
                            .map(|(i, &v)| (i as f64, v))
                            .collect(),
                    })
                    .collect(),
                hline: panel.hline.as_ref().map(|(v, l)| (*v, l.as_str())),
                x_scale: Scale::Linear,
                y_scale: Scale::Linear,
                x_integer: true,
                y_range: panel.y_range,
            };
            draw_axes(area, &spec)?;
        }
        Ok(())
    }
}
