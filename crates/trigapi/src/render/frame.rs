//! Where a longitude/latitude lands on a map image, and the land drawn under it.
//!
//! Every map shows the same box, longitude −14…4.5 and latitude 49.8…60.9 (the original's
//! calibration: its `bounds_geo`), equirectangular. What differs is the pixel size the box is
//! stretched to: "stretched53" is almost square (1200×1196 at full size), which scales latitude by
//! about 1/cos 53° against longitude so Britain looks as it does on a map; "wgs84" keeps degrees
//! square (1000×600). Rendering at another height scales the whole frame, so a 110 px map is
//! drawn at 110 px, not shrunk from a large bitmap.
//!
//! The land is Natural Earth's 1:10m United Kingdom and Isle of Man outline, vendored in
//! `assets/` (public domain), parsed once into a path in degrees and transformed per frame.

use std::sync::LazyLock;

use serde::Deserialize;
use tiny_skia::{FillRule, Paint, Path, PathBuilder, Pixmap, Stroke, Transform};

use super::Colour;

const WEST: f64 = -14.0;
const EAST: f64 = 4.5;
const SOUTH: f64 = 49.8;
const NORTH: f64 = 60.9;

/// How degrees become pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// Latitude stretched by about 1/cos 53° (full size 1200×1196).
    Stretched53,
    /// Plain WGS84 degrees, equirectangular (full size 1000×600).
    Wgs84,
}

impl Projection {
    /// The full-size image the original drew on; dot sizes are given in its pixels.
    pub const fn full_size(self) -> (u32, u32) {
        match self {
            Projection::Stretched53 => (1200, 1196),
            Projection::Wgs84 => (1000, 600),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Projection::Stretched53 => "stretched53",
            Projection::Wgs84 => "wgs84",
        }
    }
}

/// The map box drawn into `width`×`height` pixels.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Pixels per degree of longitude and of latitude.
    sx: f64,
    sy: f64,
}

impl Frame {
    /// The map box in exactly `width`×`height` pixels.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, sx: f64::from(width) / (EAST - WEST), sy: f64::from(height) / (NORTH - SOUTH) }
    }

    /// `projection` at `height` pixels, the width following the full-size aspect ratio.
    pub fn with_height(projection: Projection, height: u32) -> Self {
        let (w, h) = projection.full_size();
        let width = (f64::from(w) * f64::from(height) / f64::from(h)).round().max(1.0) as u32;
        Self::new(width, height)
    }

    /// Pixel position (x right, y down) of a point.
    pub fn project(&self, lon: f64, lat: f64) -> (f32, f32) {
        (((lon - WEST) * self.sx) as f32, ((NORTH - lat) * self.sy) as f32)
    }

    fn transform(&self) -> Transform {
        Transform::from_row(
            self.sx as f32,
            0.0,
            0.0,
            -self.sy as f32,
            (-WEST * self.sx) as f32,
            (NORTH * self.sy) as f32,
        )
    }

    /// Fill the land with `land` and stroke its coast `coast_width` pixels wide; either may be
    /// `None` (not drawn). The sea stays as it is (transparent on a new pixmap).
    pub fn draw_land(&self, pixmap: &mut Pixmap, land: Option<Colour>, coast: Option<Colour>, coast_width: f32) {
        let Some(path) = OUTLINE.as_ref().and_then(|p| p.clone().transform(self.transform())) else {
            return;
        };
        let mut paint = Paint { anti_alias: true, ..Paint::default() };
        if let Some(land) = land {
            paint.set_color(land.with_alpha(255));
            pixmap.fill_path(&path, &paint, FillRule::EvenOdd, Transform::identity(), None);
        }
        if let Some(coast) = coast {
            paint.set_color(coast.with_alpha(255));
            let stroke = Stroke { width: coast_width, ..Stroke::default() };
            pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
        }
    }
}

#[derive(Deserialize)]
struct FeatureCollection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    geometry: Geometry,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

/// Every ring of the outline as one path in degrees (x = lon, y = lat).
static OUTLINE: LazyLock<Option<Path>> = LazyLock::new(|| {
    let parsed: FeatureCollection = match serde_json::from_str(include_str!("../../assets/uk_outline_10m.geojson")) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the vendored UK outline did not parse; maps are drawn without land");
            return None;
        }
    };
    let mut pb = PathBuilder::new();
    let rings = parsed.features.into_iter().flat_map(|f| match f.geometry {
        Geometry::Polygon(rings) => rings,
        Geometry::MultiPolygon(polygons) => polygons.into_iter().flatten().collect(),
    });
    for ring in rings {
        let mut points = ring.iter();
        if let Some([lon, lat]) = points.next() {
            pb.move_to(*lon as f32, *lat as f32);
            for [lon, lat] in points {
                pb.line_to(*lon as f32, *lat as f32);
            }
            pb.close();
        }
    }
    pb.finish()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_size_frames_match_the_original_calibration() {
        // The original's affine for stretched53: x = 64.865·lon + 908.108, y = −107.782·lat + 6563.928.
        let f = Frame::with_height(Projection::Stretched53, 1196);
        assert_eq!((f.width, f.height), (1200, 1196));
        let (x, y) = f.project(-3.0, 55.0);
        assert!((x - (64.865 * -3.0 + 908.108) as f32).abs() < 0.5, "{x}");
        assert!((y - (-107.782 * 55.0 + 6563.928) as f32).abs() < 2.0, "{y}");
        // Heights other than full size keep the aspect ratio: 500 → 502×500, as the original.
        assert_eq!(Frame::with_height(Projection::Stretched53, 500).width, 502);
        assert_eq!(Frame::with_height(Projection::Wgs84, 110).width, 183);
    }

    #[test]
    fn the_outline_loads_and_covers_great_britain() {
        let path = OUTLINE.as_ref().expect("outline");
        let b = path.bounds();
        assert!(b.left() < -8.0 && b.right() > 1.7 && b.top() < 50.0 && b.bottom() > 60.8, "{b:?}");
    }
}
