//! Sharper text for the PNG.
//!
//! plotters 0.3.7's `ab_glyph` text path places every glyph at a whole-pixel
//! pen position and ignores its left side bearing, so letters come out
//! unevenly spaced ("dr op o ut"), and it puts the baseline half an em below
//! the top of the text box, so labels sit a few pixels too high. [`FineText`]
//! wraps a pixel backend and redraws text with ab_glyph directly: sub-pixel
//! glyph positions with kerning, and the cap height centred in the same box
//! plotters uses for layout (so anchors and legend sizes stay consistent).
//! Every other drawing call is forwarded unchanged.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// The embedded font as an ab_glyph face, parsed once. `None` if the bytes
/// are unusable, in which case [`FineText`] falls back to plotters' text.
fn face() -> Option<&'static FontRef<'static>> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(crate::font::bytes()).ok())
        .as_ref()
}

/// A pixel backend whose text is drawn by [`draw_glyphs`].
pub(crate) struct FineText<B>(pub(crate) B);

impl<B: DrawingBackend> DrawingBackend for FineText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        self.0.estimate_text_size(text, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        match face() {
            Some(face) => draw_glyphs(&mut self.0, face, text, style, pos),
            None => self.0.draw_text(text, style, pos),
        }
    }
}

/// Rasterises `text` onto `backend` with `face`, anchored at `pos` the way
/// plotters anchors its text box.
fn draw_glyphs<B: DrawingBackend, S: BackendTextStyle>(
    backend: &mut B,
    face: &FontRef<'static>,
    text: &str,
    style: &S,
    pos: BackendCoord,
) -> Result<(), DrawingErrorKind<B::ErrorType>> {
    let color = style.color();
    let size = style.size() as f32;
    if color.alpha <= 0.0 || !(size.is_finite() && size > 0.0 && size < 10_000.0) {
        return Ok(());
    }
    let scale = PxScale::from(size);
    let font = face.as_scaled(scale);

    // Pen positions: advance + kerning, the same sum plotters uses for the
    // text box width.
    let mut pen = 0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        glyphs.push((id, pen));
        pen += font.h_advance(id);
        prev = Some(id);
    }
    // The box plotters lays out: width = pen, height = size / 1.24.
    let width = pen as i32;
    let height = (f64::from(size) / 1.24) as i32;
    let dx = match style.anchor().h_pos {
        HPos::Left => 0,
        HPos::Right => -width,
        HPos::Center => -width / 2,
    };
    let dy = match style.anchor().v_pos {
        VPos::Top => 0,
        VPos::Center => -height / 2,
        VPos::Bottom => -height,
    };
    // Centre capitals and digits vertically in the box.
    let cap = face
        .outline_glyph(face.glyph_id('H').with_scale(scale))
        .map_or(size * 0.63, |g| -g.px_bounds().min.y);
    let baseline = (height as f32 + cap) / 2.0;

    let trans = style.transform();
    let (w, h) = backend.get_size();
    let mut pixels = Vec::new();
    for (id, x) in glyphs {
        let Some(outline) =
            face.outline_glyph(id.with_scale_and_position(scale, ab_glyph::point(x, baseline)))
        else {
            continue; // whitespace
        };
        let min = outline.px_bounds().min;
        pixels.clear();
        outline.draw(|gx, gy, coverage| pixels.push((gx, gy, coverage)));
        for &(gx, gy, coverage) in &pixels {
            if coverage <= 0.0 {
                continue;
            }
            let (ux, uy) = (min.x as i32 + gx as i32 + dx, min.y as i32 + gy as i32 + dy);
            let (tx, ty) = trans.transform(ux, uy);
            let (px, py) = (pos.0.saturating_add(tx), pos.1.saturating_add(ty));
            if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                backend.draw_pixel(
                    (px, py),
                    BackendColor {
                        alpha,
                        rgb: color.rgb,
                    },
                )?;
            }
        }
    }
    Ok(())
}
