//! Rendering a figure to PNG and SVG in memory, then writing both files.

use std::any::Any;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axes::DrawResult;
use crate::text::FineText;
use crate::{font, PlotError};

/// Something that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Width and height in pixels (the SVG uses the same user units).
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Renders `fig` and writes `dir/<stem>.png` and `dir/<stem>.svg`.
pub(crate) fn render<F: Figure>(
    dir: &Path,
    stem: &str,
    fig: &F,
) -> Result<(PathBuf, PathBuf), PlotError> {
    check_stem(stem)?;
    let (w, h) = fig.size();
    if w == 0 || h == 0 {
        return Err(PlotError::InvalidInput(format!(
            "figure size {w}x{h} has no pixels"
        )));
    }
    font::ensure_registered()?;
    fs::create_dir_all(dir).map_err(|source| PlotError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let png_path = dir.join(format!("{stem}.png"));
    let svg_path = dir.join(format!("{stem}.svg"));

    // Both images are produced before either file is written.
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    guarded(&png_path, || {
        let root = FineText(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()
    })?;
    let png = encode_png(&rgb, (w, h)).map_err(|source| PlotError::Encode {
        path: png_path.clone(),
        source,
    })?;

    let mut svg = String::new();
    guarded(&svg_path, || {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()
    })?;

    fs::write(&png_path, png).map_err(|source| PlotError::Write {
        path: png_path.clone(),
        source,
    })?;
    fs::write(&svg_path, svg).map_err(|source| PlotError::Write {
        path: svg_path.clone(),
        source,
    })?;
    Ok((png_path, svg_path))
}

/// Runs one rendering pass, turning a plotters error — or, as a last line of
/// defence, a panic inside plotters on input we failed to sanitise — into
/// [`PlotError::Render`] for `path`.
fn guarded<E: std::fmt::Display>(
    path: &Path,
    draw: impl FnOnce() -> Result<(), E>,
) -> Result<(), PlotError> {
    let render_err = |reason: String| PlotError::Render {
        path: path.to_path_buf(),
        reason,
    };
    match catch_unwind(AssertUnwindSafe(draw)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(render_err(e.to_string())),
        Err(payload) => Err(render_err(format!(
            "plotters panicked: {}",
            panic_message(&*payload)
        ))),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Encodes an 8-bit RGB buffer as PNG.
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// A stem must be a plain file name: non-empty, no separators, not `.`/`..`.
fn check_stem(stem: &str) -> Result<(), PlotError> {
    let bad = stem.is_empty()
        || stem == "."
        || stem == ".."
        || stem.contains(['/', '\\', '\0'])
        || Path::new(stem).components().count() != 1;
    if bad {
        return Err(PlotError::InvalidInput(format!(
            "file stem {stem:?} must be a plain file name without directories"
        )));
    }
    Ok(())
}
