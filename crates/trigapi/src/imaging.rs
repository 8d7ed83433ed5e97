//! Uploaded photos made ready to store: decoded within limits, turned upright, capped in size,
//! encoded as JPEG with a thumbnail. Pure functions over bytes; no HTTP, SQL or storage here.
//! (`benches/imaging.rs` measures them.)
//!
//! JPEG, PNG and WebP are accepted and stored as JPEG (quality 95; the thumbnail 85). The EXIF
//! orientation is applied to the pixels, so the stored file needs no viewer to read it. The
//! longest side is capped at [`MAX_SIDE`] (Lanczos), the thumbnail's at [`ICON_SIDE`]; neither
//! is ever enlarged. Transparent pixels are laid over white.
//!
//! A decompression bomb (a small file declaring a huge picture) is refused from its header,
//! before any pixel is decoded: at most [`MAX_PIXELS`] and [`MAX_DECODED_BYTES`] of decoded
//! pixels, and the decoder's allocations are bounded too.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use jpeg_encoder::{ColorType, Encoder};

/// Largest upload, bytes (20 MiB).
pub const MAX_UPLOAD_BYTES: usize = 20 << 20;
/// Most pixels a picture may declare (100 megapixels; a 12000 × 8000 photo is 96).
pub const MAX_PIXELS: u64 = 100_000_000;
/// Longest side of a stored photo.
pub const MAX_SIDE: u32 = 4000;
/// Longest side of a thumbnail.
pub const ICON_SIDE: u32 = 120;
const PHOTO_QUALITY: u8 = 95;
const ICON_QUALITY: u8 = 85;
/// Most bytes a picture's decoded pixels may take (a 64-megapixel RGB photo, a 48-megapixel
/// RGBA one). Pixels alone are not the bound: a 100-megapixel PNG with alpha decodes to 400 MB
/// and then needs a copy laid over white, and took the server from 225 to 656 MB.
pub const MAX_DECODED_BYTES: u64 = 192 << 20;
/// Most memory the decoder may allocate: the decoded pixels, plus slack for its own tables.
const MAX_DECODE_ALLOC: u64 = MAX_DECODED_BYTES + (32 << 20);

/// Why an upload cannot be stored. Each is the client's doing (a 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImagingError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {MAX_UPLOAD_BYTES} bytes")]
    TooLarge,
    #[error("not a JPEG, PNG or WebP image")]
    Unsupported,
    #[error("{width}x{height} pixels is more than the {} megapixels allowed", MAX_PIXELS / 1_000_000)]
    TooManyPixels { width: u32, height: u32 },
    #[error("{width}x{height} pixels would take {} MB to process, more than the {} MB allowed", bytes >> 20, MAX_DECODED_BYTES >> 20)]
    TooMuchMemory { width: u32, height: u32, bytes: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// An encoded JPEG and its size.
#[derive(Debug, Clone)]
pub struct Jpeg {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A photo ready to store: the picture and its thumbnail.
#[derive(Debug, Clone)]
pub struct Processed {
    pub photo: Jpeg,
    pub icon: Jpeg,
}

/// A clockwise turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    None,
    Quarter,
    Half,
    ThreeQuarters,
}

impl Turn {
    /// The turn of `degrees` clockwise, for 0, 90, 180 and 270.
    pub fn from_degrees(degrees: i64) -> Option<Self> {
        match degrees {
            0 => Some(Turn::None),
            90 => Some(Turn::Quarter),
            180 => Some(Turn::Half),
            270 => Some(Turn::ThreeQuarters),
            _ => None,
        }
    }
}

/// Decode an upload, turn it upright (and then by `turn`), cap it and encode photo and icon.
pub fn process(bytes: &[u8], turn: Turn) -> Result<Processed, ImagingError> {
    if bytes.is_empty() {
        return Err(ImagingError::Empty);
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImagingError::TooLarge);
    }
    let mut img = decode_upright(bytes)?;
    img = match turn {
        Turn::None => img,
        Turn::Quarter => img.rotate90(),
        Turn::Half => img.rotate180(),
        Turn::ThreeQuarters => img.rotate270(),
    };
    let rgb = over_white(img);
    let photo = fit(&rgb, MAX_SIDE, FilterType::Lanczos3)?.unwrap_or(rgb);
    let icon = fit(&photo, ICON_SIDE, FilterType::Bilinear)?;
    let icon = encode(icon.as_ref().unwrap_or(&photo), ICON_QUALITY)?;
    Ok(Processed { photo: encode(&photo, PHOTO_QUALITY)?, icon })
}

/// The picture with its EXIF orientation applied, refusing what is not a supported image or
/// declares too many pixels.
fn decode_upright(bytes: &[u8]) -> Result<DynamicImage, ImagingError> {
    let format = image::guess_format(bytes).map_err(|_| ImagingError::Unsupported)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) {
        return Err(ImagingError::Unsupported);
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImagingError::Invalid("the JPEG data is truncated".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let invalid = |e: image::ImageError| ImagingError::Invalid(e.to_string());
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImagingError::TooManyPixels { width, height });
    }
    if width == 0 || height == 0 {
        return Err(ImagingError::Invalid("the image has no pixels".into()));
    }
    let bytes = decoder.total_bytes();
    if bytes > MAX_DECODED_BYTES {
        return Err(ImagingError::TooMuchMemory { width, height, bytes });
    }
    let orientation = decoder.orientation().map_err(invalid)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Whether a JPEG ends its last scan with an end-of-image marker. The decoder fills a cut-off
/// file with grey rather than failing; a partial photo must not be stored as if whole.
///
/// Markers cannot occur inside entropy-coded data (a `0xFF` there is followed by `0x00`), so
/// the last start-of-scan is the main image's (an EXIF thumbnail's comes before it), and the
/// file is whole if an end-of-image follows it.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let marker = |m: u8| move |w: &[u8]| w == [0xFF, m];
    let Some(last_scan) = bytes.windows(2).rposition(marker(0xDA)) else { return false };
    bytes[last_scan..].windows(2).any(marker(0xD9))
}

/// RGB, with any transparency laid over white.
fn over_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// `img` shrunk, keeping its proportions, so that its longest side is at most `side`; `None`
/// when it already fits (fast_image_resize: the same convolution as `image`'s, with SIMD, ten
/// times faster). The source is read in place, never copied.
fn fit(img: &RgbImage, side: u32, filter: FilterType) -> Result<Option<RgbImage>, ImagingError> {
    let (w, h) = img.dimensions();
    if w.max(h) <= side {
        return Ok(None);
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let scaled = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, side);
    let (nw, nh) = (scaled(w), scaled(h));
    let failed = |e: &dyn std::fmt::Display| ImagingError::Invalid(format!("resizing failed: {e}"));
    let src = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3).map_err(|e| failed(&e))?;
    let mut dst = Image::new(nw, nh, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    RgbImage::from_raw(nw, nh, dst.into_vec()).map(Some).ok_or_else(|| failed(&"the buffer size"))
}

/// JPEG with jpeg-encoder (AVX2 where the CPU has it: 1.75 times `image`'s encoder).
fn encode(img: &RgbImage, quality: u8) -> Result<Jpeg, ImagingError> {
    let failed = |e: &dyn std::fmt::Display| ImagingError::Invalid(format!("encoding failed: {e}"));
    let side = |n: u32| u16::try_from(n).map_err(|_| failed(&"a side longer than 65535 px"));
    let mut bytes = Vec::new();
    Encoder::new(&mut bytes, quality)
        .encode(img.as_raw(), side(img.width())?, side(img.height())?, ColorType::Rgb)
        .map_err(|e| failed(&e))?;
    Ok(Jpeg { bytes, width: img.width(), height: img.height() })
}

#[cfg(test)]
mod tests {
    use image::codecs::jpeg::JpegEncoder;

    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
        out
    }

    #[test]
    fn a_wide_picture_is_capped_on_its_longest_side_and_never_enlarged() {
        let p = process(&jpeg(4500, 300), Turn::None).expect("processed");
        assert_eq!((p.photo.width, p.photo.height), (4000, 267));
        assert_eq!((p.icon.width, p.icon.height), (120, 8));
        let small = process(&jpeg(100, 60), Turn::None).expect("processed");
        assert_eq!((small.photo.width, small.photo.height, small.icon.width), (100, 60, 100));
    }

    #[test]
    fn turns_swap_the_sides() {
        let p = process(&jpeg(200, 100), Turn::Quarter).expect("processed");
        assert_eq!((p.photo.width, p.photo.height), (100, 200));
        assert_eq!(Turn::from_degrees(45), None);
    }

    #[test]
    fn a_cut_off_jpeg_is_refused() {
        let whole = jpeg(64, 64);
        assert!(jpeg_is_complete(&whole));
        let cut = &whole[..whole.len() - 40];
        assert!(matches!(process(cut, Turn::None), Err(ImagingError::Invalid(_))));
    }
}
