//! The user badge: a pillar icon, the user's name, their counts and the site's name on white,
//! laid out as the original does (contract §10.2), with text that scales with `scale`.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, PxScale, ScaleFont};
use tiny_skia::{Color, FillRule, Paint, Path, PathBuilder, Pixmap, Rect, Stroke, Transform};

use super::{RenderError, encode_png, pixmap};

static REGULAR: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(include_bytes!("../../assets/DejaVuSans.ttf")).ok());
static BOLD: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(include_bytes!("../../assets/DejaVuSans-Bold.ttf")).ok());

/// What the badge says.
#[derive(Debug, Clone)]
pub struct BadgeText {
    pub name: String,
    pub trigs_logged: i64,
    pub photos: i64,
}

/// Longest name shown, in characters (the original's cut).
const NAME_CHARS: usize = 20;

/// Pixel sizes of `int(200·scale)`×`int(50·scale)`, as the original computes them.
pub fn size(scale: f64) -> (u32, u32) {
    ((200.0 * scale) as u32, (50.0 * scale) as u32)
}

/// The badge at `scale` (0.1…5, validated by the caller) as an RGB PNG.
pub fn badge(text: &BadgeText, scale: f64) -> Result<Vec<u8>, RenderError> {
    let (regular, bold) = match (REGULAR.as_ref(), BOLD.as_ref()) {
        (Some(r), Some(b)) => (r, b),
        _ => return Err(RenderError::Font),
    };
    let (w, h) = size(scale);
    let mut canvas = pixmap(w, h)?;
    canvas.fill(Color::WHITE);
    let s = scale as f32;
    let int = |v: f32| v.trunc();

    // The icon fits int(W·0.2) × (H − int(4·scale)), aspect kept, at x = int(2·scale), centred.
    let box_w = int(w as f32 * 0.2);
    let box_h = h as f32 - int(4.0 * s);
    let icon_h = box_h.min(box_w / PILLAR_ASPECT);
    let icon_w = icon_h * PILLAR_ASPECT;
    let icon_x = int(2.0 * s);
    draw_pillar(&mut canvas, icon_x, ((h as f32 - icon_h) / 2.0).floor(), icon_w, icon_h);

    // Three lines: name (bold, 13·scale), counts and site (9·scale), gaps as the original.
    let x = icon_x + icon_w.round() + int(5.0 * s);
    let gap = ((h as f32 - 31.0 * s) / 4.0).floor();
    let y1 = gap - int(2.0 * s);
    let y2 = y1 + int(13.0 * s) + gap + int(s);
    let y3 = y2 + int(9.0 * s) + gap;
    let name: String = text.name.chars().take(NAME_CHARS).collect();
    // A long name is set smaller so that it ends inside the badge.
    let room = (w as f32 - x - int(2.0 * s)).max(1.0);
    let name_em = 13.0 * s * (room / text_width(bold, 13.0 * s, &name)).min(1.0);
    draw_text(&mut canvas, bold, name_em, x, y1, &name);
    let counts = format!("logged: {} / photos: {}", text.trigs_logged, text.photos);
    draw_text(&mut canvas, regular, 9.0 * s, x, y2, &counts);
    draw_text(&mut canvas, regular, 9.0 * s, x, y3, "Trigpointing.UK");
    encode_png(&canvas, false)
}

/// Width over height of the pillar icon (drawn in a 60×100 design box).
const PILLAR_ASPECT: f32 = 0.6;

/// A triangulation pillar: tapering body with its flush bracket, flat top and spider, on grass.
fn draw_pillar(canvas: &mut Pixmap, x: f32, y: f32, w: f32, h: f32) {
    let at = Transform::from_row(w / 60.0, 0.0, 0.0, h / 100.0, x, y);
    let outline = Stroke { width: 2.0, ..Stroke::default() };
    let ink = Color::from_rgba8(0x33, 0x33, 0x33, 255);
    let mut paint = Paint { anti_alias: true, ..Paint::default() };
    let mut shape = |path: Option<Path>, fill: Color, stroked: bool| {
        let Some(path) = path else { return };
        paint.set_color(fill);
        canvas.fill_path(&path, &paint, FillRule::Winding, at, None);
        if stroked {
            paint.set_color(ink);
            canvas.stroke_path(&path, &paint, &outline, at, None);
        }
    };
    let rect = |x, y, w, h| Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect);
    let body = {
        let mut pb = PathBuilder::new();
        pb.move_to(8.0, 92.0);
        pb.line_to(52.0, 92.0);
        pb.line_to(43.0, 15.0);
        pb.line_to(17.0, 15.0);
        pb.close();
        pb.finish()
    };
    // Ground, body, flush bracket, the flat top and the brass spider on it.
    shape(rect(0.0, 92.0, 60.0, 8.0), Color::from_rgba8(0x6b, 0x8e, 0x4e, 255), false);
    shape(body, Color::from_rgba8(0xf2, 0xf2, 0xf2, 255), true);
    shape(rect(25.0, 58.0, 10.0, 13.0), Color::from_rgba8(0x4a, 0x55, 0x60, 255), false);
    shape(rect(14.0, 10.0, 32.0, 5.0), Color::from_rgba8(0xd4, 0xd4, 0xd4, 255), true);
    shape(rect(24.0, 6.0, 12.0, 4.0), Color::from_rgba8(0xb0, 0x8d, 0x2f, 255), false);
}

/// ab_glyph's scale for an em of `em` pixels (Pillow's font size).
fn px_scale(font: &FontRef<'_>, em: f32) -> PxScale {
    PxScale::from(em * font.height_unscaled() / font.units_per_em().unwrap_or(2048.0))
}

/// Glyphs of `text` with the pen position before each (advances and kerning applied).
fn layout(font: &FontRef<'_>, em: f32, text: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let scaled = font.as_scaled(px_scale(font, em));
    let mut pen = 0.0;
    let mut prev: Option<GlyphId> = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        glyphs.push((id, pen));
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    (glyphs, pen)
}

fn text_width(font: &FontRef<'_>, em: f32, text: &str) -> f32 {
    layout(font, em, text).1.max(1.0)
}

/// Draw `text` in black with its ascender line at `top` (Pillow's default anchor), as
/// anti-aliased glyph outlines.
fn draw_text(canvas: &mut Pixmap, font: &FontRef<'_>, em: f32, x: f32, top: f32, text: &str) {
    let scaled = font.as_scaled(px_scale(font, em));
    let baseline = top + scaled.ascent();
    let (sx, sy) = (scaled.h_scale_factor(), scaled.v_scale_factor());
    let mut paint = Paint { anti_alias: true, ..Paint::default() };
    paint.set_color(Color::BLACK);
    for (id, pen) in layout(font, em, text).0 {
        if let Some(path) = glyph_path(font, id) {
            let at = Transform::from_row(sx, 0.0, 0.0, -sy, x + pen, baseline);
            canvas.fill_path(&path, &paint, FillRule::Winding, at, None);
        }
    }
}

/// A glyph's outline as a path in font units (y up).
fn glyph_path(font: &FontRef<'_>, id: GlyphId) -> Option<Path> {
    let outline = font.outline(id)?;
    let mut pb = PathBuilder::new();
    let mut end = None;
    for curve in &outline.curves {
        let (start, last) = match curve {
            OutlineCurve::Line(a, b) | OutlineCurve::Quad(a, _, b) | OutlineCurve::Cubic(a, _, _, b) => (*a, *b),
        };
        if end != Some(start) {
            if end.is_some() {
                pb.close();
            }
            pb.move_to(start.x, start.y);
        }
        match curve {
            OutlineCurve::Line(_, b) => pb.line_to(b.x, b.y),
            OutlineCurve::Quad(_, c, b) => pb.quad_to(c.x, c.y, b.x, b.y),
            OutlineCurve::Cubic(_, c1, c2, b) => pb.cubic_to(c1.x, c1.y, c2.x, c2.y, b.x, b.y),
        }
        end = Some(last);
    }
    if end.is_some() {
        pb.close();
    }
    pb.finish()
}
