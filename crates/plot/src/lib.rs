//! Figures for the gradtape Dropout notebook, drawn with [`plotters`] and
//! written as both PNG and SVG.
//!
//! Two entry points:
//!
//! - [`plot_panels`] draws vertically stacked [`Panel`]s of per-epoch curves
//!   — the notebook's "Train accuracy" / "Val accuracy" figures, optionally
//!   with a dashed target line such as `0.55`.
//! - [`plot_xy`] draws one [`XyPlot`] of free `(x, y)` curves, optionally on
//!   log axes — e.g. a benchmark's "step time vs batch size".
//!
//! Both create the output directory, write `<stem>.png` and `<stem>.svg`, and
//! return the two paths. Bad data never panics: NaN / infinite points (and
//! non-positive ones on a log axis) are skipped and break the line there, an
//! empty series only shows in the legend, and an empty panel still draws its
//! axes. Bad configuration (no panels, an inverted `y_range`, an unusable
//! file stem) and I/O failures come back as a [`PlotError`].
//!
//! Text is rendered with DejaVu Sans embedded in the binary (see the `font`
//! module), so no system font or fontconfig is needed at run time.
//!
//! ```no_run
//! use gradtape_plot::{plot_panels, Panel, Series};
//! # fn main() -> Result<(), gradtape_plot::PlotError> {
//! let train = Panel {
//!     title: "Train accuracy".into(),
//!     x_label: "Epoch".into(),
//!     y_label: "Accuracy".into(),
//!     series: vec![Series { label: "0.60 dropout".into(), values: vec![0.2, 0.4, 0.6] }],
//!     hline: None,
//!     y_range: None,
//! };
//! let (png, svg) = plot_panels(std::path::Path::new("figures"), "dropout", &[train])?;
//! # let _ = (png, svg);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod accuracy;
mod axes;
mod error;
mod font;
mod render;
mod text;
mod ticks;
mod xy;

pub use accuracy::{plot_panels, Panel, Series, MAX_PANELS, PANELS_FIGURE_WIDTH, PANEL_HEIGHT};
pub use error::PlotError;
pub use xy::{plot_xy, XyPlot, XySeries, XY_FIGURE_SIZE};
