//! A small pool of real JPEG photos (and 120 px icons) drawn for the demo data: a sky, a hill and
//! a pillar, varied per image. Seeded photos point at these files, so every `photo_url` and
//! `icon_url` serves a real image without shipping hundreds of megabytes.

use std::path::Path;

use anyhow::Context;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

use crate::db::photos::PhotoFiles;
use crate::storage::PHOTOS_SERVER_ID;

/// Images in the pool; photo `id` uses image `id % POOL_SIZE`.
pub const POOL_SIZE: usize = 24;

/// Directory under `PHOTOS_DIR` holding the pool.
pub const POOL_DIR: &str = "demo";

/// Draw the pool into `photos_dir/demo/` and return each image's metadata.
pub fn write_pool(photos_dir: &Path) -> anyhow::Result<Vec<PhotoFiles>> {
    let dir = photos_dir.join(POOL_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    (0..POOL_SIZE)
        .map(|k| {
            let photo = draw(k, 640, 480);
            let icon = draw(k, 120, 90);
            let (p_name, i_name) = (format!("P{k:02}.jpg"), format!("I{k:02}.jpg"));
            let p_size = write_jpeg(&dir.join(&p_name), &photo, 80)?;
            let i_size = write_jpeg(&dir.join(&i_name), &icon, 85)?;
            Ok(PhotoFiles {
                server_id: PHOTOS_SERVER_ID,
                filename: format!("{POOL_DIR}/{p_name}"),
                filesize: p_size,
                width: 640,
                height: 480,
                icon_filename: format!("{POOL_DIR}/{i_name}"),
                icon_filesize: i_size,
                icon_width: 120,
                icon_height: 90,
            })
        })
        .collect()
}

fn write_jpeg(path: &Path, img: &RgbImage, quality: u8) -> anyhow::Result<i32> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img).context("encoding JPEG")?;
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes.len() as i32)
}

/// Sky gradient, a rolling hill, and a white pillar on its crest.
fn draw(k: usize, w: u32, h: u32) -> RgbImage {
    let kf = k as f32;
    let sky_top = [40.0 + 7.0 * (kf % 5.0), 90.0 + 6.0 * (kf % 7.0), 170.0 + 3.0 * (kf % 9.0)];
    let ground = [60.0 + 9.0 * (kf % 4.0), 110.0 + 5.0 * (kf % 6.0), 50.0 + 4.0 * (kf % 3.0)];
    let phase = kf * 0.7;
    let (wf, hf) = (w as f32, h as f32);
    let pillar_x = wf * (0.35 + 0.3 * ((kf * 0.37) % 1.0));
    let crest =
        |x: f32| hf * (0.62 + 0.08 * ((x / wf) * 6.0 + phase).sin() + 0.05 * ((x / wf) * 13.0 + phase * 2.0).cos());
    let pillar_base = crest(pillar_x);
    let pillar_h = hf * 0.22;
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let half = wf * 0.025 * (1.0 + 0.4 * (pillar_base - yf) / pillar_h).max(0.6);
        if yf <= pillar_base && yf >= pillar_base - pillar_h && (xf - pillar_x).abs() <= half {
            let shade = if xf < pillar_x { 235.0 } else { 200.0 };
            return Rgb([shade as u8, shade as u8, (shade - 5.0) as u8]);
        }
        if yf >= crest(xf) {
            let t = ((yf - crest(xf)) / hf).min(1.0);
            let c = |i: usize| (ground[i] * (1.0 - 0.5 * t)) as u8;
            return Rgb([c(0), c(1), c(2)]);
        }
        let t = yf / hf;
        let c = |i: usize| (sky_top[i] + (230.0 - sky_top[i]) * t).min(255.0) as u8;
        Rgb([c(0), c(1), c(2)])
    })
}
