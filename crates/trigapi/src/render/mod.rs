//! Generated images: the trig map, the user map and the user badge.
//!
//! Everything is drawn as vectors with tiny-skia at the size asked for: the land from the
//! vendored Natural Earth outline ([`frame`]), dots as anti-aliased circles, text with ab_glyph
//! from the vendored DejaVu Sans. Nothing here knows about HTTP or the database: the routes
//! fetch the data, call these functions in a blocking task and cache the PNG bytes.

pub mod badge;
mod colour;
pub mod frame;
pub mod map;

use tiny_skia::Pixmap;

pub use colour::Colour;

/// Why an image could not be produced. Every input is validated before drawing, so these mean
/// a bug or an asset that failed to load; the routes answer them with a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("an image of {0}x{1} pixels cannot be allocated")]
    Size(u32, u32),
    #[error("the vendored font did not load")]
    Font,
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
}

pub(crate) fn pixmap(width: u32, height: u32) -> Result<Pixmap, RenderError> {
    Pixmap::new(width, height).ok_or(RenderError::Size(width, height))
}

/// Encode as PNG: RGBA, or RGB when `alpha` is false (for opaque images such as the badge).
pub(crate) fn encode_png(pixmap: &Pixmap, alpha: bool) -> Result<Vec<u8>, RenderError> {
    let channels = if alpha { 4 } else { 3 };
    let mut data = Vec::with_capacity(pixmap.pixels().len() * channels);
    for p in pixmap.pixels() {
        let c = p.demultiply();
        data.extend_from_slice(&[c.red(), c.green(), c.blue()]);
        if alpha {
            data.push(c.alpha());
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    encoder.set_color(if alpha { png::ColorType::Rgba } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}
