//! The font used for every piece of text.
//!
//! Decision: plotters is built without its `ttf` feature (which goes through
//! font-kit and fontconfig to find fonts installed on the machine — absent on
//! a fresh CI box or a minimal user machine) and with `ab_glyph` instead,
//! which renders from font bytes registered in-process. The bytes are DejaVu
//! Sans from the `dejavu` crate on crates.io (crate: MIT/Apache-2.0; the font
//! itself: the DejaVu Fonts license, i.e. the Bitstream Vera license plus
//! public-domain DejaVu changes — free to use, embed and redistribute). That
//! crate ships the license text in `assets/dejavu-fonts-ttf-2.37/LICENSE`, so
//! nothing is vendored into this repository. Only `DejaVuSans.ttf` (~740 KiB)
//! ends up in a linked binary.
//!
//! The SVG output does not embed the font: it names the `sans-serif` family
//! and lets the viewer pick one; the embedded font is still needed there to
//! measure text for layout.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::PlotError;

/// The family name every text style in this crate uses. plotters maps its
/// `FontFamily::SansSerif` to this same name.
pub(crate) const FAMILY: &str = "sans-serif";

/// DejaVu Sans (Book), the TrueType file embedded by the `dejavu` crate.
pub(crate) fn bytes() -> &'static [u8] {
    dejavu::sans::regular()
}

/// Registers DejaVu Sans under [`FAMILY`] once per process.
pub(crate) fn ensure_registered() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes())
                .map_err(|_| "DejaVuSans.ttf is not a valid TrueType font".to_string())
        })
        .clone()
        .map_err(PlotError::Font)
}
