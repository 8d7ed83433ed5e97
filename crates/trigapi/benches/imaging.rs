//! What processing an upload costs: decoding, turning upright, capping at 4000 px (Lanczos),
//! the thumbnail and both JPEG encodings (`trigapi::imaging::process`), for camera-sized photos.
//! Also what refusing a decompression bomb costs (it is refused from its header).
//!
//! The inputs are made here: photo-like pictures (gradients with fine noise, so they compress
//! like photos, about 2-4 bits per pixel at quality 90).
//!
//! Run: `cargo bench -p trigapi --bench imaging`

mod common;

use common::{report, time};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use trigapi::imaging::{self, Turn};

/// A photo-like JPEG of `w` × `h`.
fn photo(w: u32, h: u32) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let noise = rng.u8(..24);
        let c = |base: f32, k: f32| (base + 90.0 * (fx * k + fy).sin() + f32::from(noise)).clamp(0.0, 255.0) as u8;
        Rgb([c(90.0, 3.0), c(120.0, 5.0), c(140.0, 7.0)])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
    out
}

fn main() {
    println!("| upload | runs | p50 | p99 | max | stored photo bytes |");
    println!("|---|---|---|---|---|---|");
    for (label, w, h, rounds) in [
        ("phone photo, 12 MP JPEG (4000 × 3000)", 4000, 3000, 10),
        ("camera photo, 24 MP JPEG (6000 × 4000)", 6000, 4000, 8),
        ("large photo, 48 MP JPEG (8000 × 6000)", 8000, 6000, 5),
        ("small photo, 2 MP JPEG (1600 × 1200)", 1600, 1200, 20),
    ] {
        let input = photo(w, h);
        let label = format!("{label}, {:.1} MB", input.len() as f64 / 1e6);
        let (samples, bytes) =
            time(rounds, |_| imaging::process(&input, Turn::None).map(|p| p.photo.bytes).unwrap_or_default());
        report(&label, samples, bytes);
    }
    // Where the time goes, for the 24 MP photo: the same library calls as `process`, one by one.
    let input = photo(6000, 4000);
    let (samples, _) = time(8, |_| image::load_from_memory(&input).map(|i| i.into_bytes()).unwrap_or_default());
    report("  decode only, 24 MP", samples, 0);
    let decoded = image::load_from_memory(&input).expect("decode").into_rgb8();
    let (samples, _) =
        time(8, |_| image::imageops::resize(&decoded, 4000, 2667, image::imageops::FilterType::Lanczos3).into_raw());
    report("  Lanczos3 to 4000 × 2667 only, with `image` (before)", samples, 0);
    let (samples, _) = time(8, |_| {
        use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
        let src = Image::from_vec_u8(6000, 4000, decoded.as_raw().clone(), PixelType::U8x3).expect("image");
        let mut dst = Image::new(4000, 2667, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resizer::new().resize(&src, &mut dst, &options).expect("resize");
        dst.into_vec()
    });
    report("  Lanczos3 to 4000 × 2667 only, with fast_image_resize (now)", samples, 0);
    let capped = image::imageops::resize(&decoded, 4000, 2667, image::imageops::FilterType::Lanczos3);
    let (samples, bytes) = time(8, |_| {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95).encode_image(&capped).expect("encode");
        out
    });
    report("  JPEG encoding (quality 95) of 4000 × 2667 only, with `image`", samples, bytes);
    let (samples, bytes) = time(8, |_| {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 95)
            .encode(capped.as_raw(), 4000, 2667, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        out
    });
    report("  JPEG encoding (quality 95) of 4000 × 2667 only, with jpeg-encoder (AVX2)", samples, bytes);

    let bomb = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/photos/bomb.png")).expect("bomb");
    let (samples, _) = time(200, |_| match imaging::process(&bomb, Turn::None) {
        Err(e) => e.to_string().into_bytes(),
        Ok(_) => panic!("the bomb was accepted"),
    });
    report("decompression bomb refused (30000 × 30000 PNG, 109 KB)", samples, 0);
}
