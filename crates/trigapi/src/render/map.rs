//! The trig map (one dot on a small map) and the user map (every log as a translucent dot).

use std::sync::{Arc, LazyLock};

use tiny_skia::{FillRule, Mask, Paint, Path, PathBuilder, Pixmap, Rect, Transform};

use super::frame::{Frame, Projection};
use super::{Colour, RenderError, encode_png, pixmap};

/// Land and coast of the maps unless asked otherwise.
pub const LAND: Colour = Colour::rgb(0xdd, 0xdd, 0xdd);
pub const COAST: Colour = Colour::rgb(0x66, 0x66, 0x66);

/// A trig map style: the name the `style` parameter takes, and its land, drawn once.
pub struct TrigMapStyle {
    pub name: &'static str,
    frame: Frame,
    base: Option<Pixmap>,
}

static TRIG_MAP_STYLES: LazyLock<Vec<TrigMapStyle>> = LazyLock::new(|| {
    [("stretched53_default", 110, 110)]
        .into_iter()
        .map(|(name, width, height)| {
            let frame = Frame::new(width, height);
            let base = Pixmap::new(width, height).map(|mut base| {
                frame.draw_land(&mut base, Some(LAND), Some(COAST), 0.75);
                base
            });
            TrigMapStyle { name, frame, base }
        })
        .collect()
});

/// The trig map style called `name`, if there is one.
pub fn trig_map_style(name: &str) -> Option<&'static TrigMapStyle> {
    TRIG_MAP_STYLES.iter().find(|s| s.name == name)
}

/// A trig map: the style's land, and a solid dot at the trig of radius `max(1, round(diameter/2))`
/// (rounding half to even, as the original) (RGBA PNG).
pub fn trig_map(
    style: &TrigMapStyle,
    lon: f64,
    lat: f64,
    colour: Colour,
    diameter: u32,
) -> Result<Vec<u8>, RenderError> {
    let frame = style.frame;
    let mut map = style.base.clone().ok_or(RenderError::Size(frame.width, frame.height))?;
    let (x, y) = frame.project(lon, lat);
    let r = (diameter as f32 / 2.0).round_ties_even().max(1.0);
    if let Some(dot) = circle(r) {
        let mut paint = Paint { anti_alias: true, ..Paint::default() };
        paint.set_color(colour.with_alpha(255));
        map.fill_path(&dot, &paint, FillRule::Winding, Transform::from_translate(x, y), None);
    }
    encode_png(&map, true)
}

/// One category of points on the user map.
#[derive(Debug, Clone)]
pub struct DotLayer {
    pub colour: Colour,
    /// `(lon, lat, n)`: `n` dots stacked at that place.
    pub points: Vec<(f64, f64, u32)>,
}

/// The colours of the user map's three layers; `None` leaves a layer out.
#[derive(Debug, Clone, Copy)]
pub struct UserMapColours {
    pub found: Option<Colour>,
    pub not_found: Option<Colour>,
    pub not_logged: Option<Colour>,
}

impl UserMapColours {
    /// The layers, bottom to top (not logged, not found, found), from the trigs the user logged
    /// as `(lon, lat, logs that found it, logs that did not)` and those they have not logged as
    /// `(lon, lat)`.
    pub fn layers(
        &self,
        logged: impl IntoIterator<Item = (f64, f64, i64, i64)>,
        not_logged: impl IntoIterator<Item = (f64, f64)>,
    ) -> Vec<DotLayer> {
        let (mut found, mut not_found) = (Vec::new(), Vec::new());
        // Counts beyond what saturates a dot are all alike.
        let count = |n: i64| u32::try_from(n.clamp(0, 255)).unwrap_or(0);
        for (lon, lat, f, n) in logged {
            if f > 0 {
                found.push((lon, lat, count(f)));
            }
            if n > 0 {
                not_found.push((lon, lat, count(n)));
            }
        }
        let unlogged = match self.not_logged {
            Some(_) => not_logged.into_iter().map(|(lon, lat)| (lon, lat, 1)).collect(),
            None => Vec::new(),
        };
        [(self.not_logged, unlogged), (self.not_found, not_found), (self.found, found)]
            .into_iter()
            .filter_map(|(colour, points)| colour.map(|colour| DotLayer { colour, points }))
            .collect()
    }
}

/// What the user map looks like.
#[derive(Debug, Clone)]
pub struct UserMapStyle {
    pub projection: Projection,
    pub height: u32,
    pub land: Option<Colour>,
    pub coast: Option<Colour>,
    /// Dot diameter in full-size pixels (see [`Projection::full_size`]), scaled with the map.
    pub dot_diameter: u32,
    /// What each dot adds to its layer's opacity (saturating at 255).
    pub dot_alpha: u8,
}

/// The user map: land, then `layers` bottom to top (RGBA PNG). In each layer every dot adds
/// `dot_alpha` to the opacity where it falls, so busy places read darker; the layer's colour is
/// then painted through that opacity.
pub fn user_map(style: &UserMapStyle, layers: &[DotLayer]) -> Result<Vec<u8>, RenderError> {
    let frame = Frame::with_height(style.projection, style.height);
    let scale = style.height as f32 / style.projection.full_size().1 as f32;
    let mut map: Pixmap = land(style, frame, scale)?.as_ref().clone();

    let r = ((style.dot_diameter as f32 / 2.0).round_ties_even().max(1.0) * scale).max(0.5);
    let Some(full) = Rect::from_xywh(0.0, 0.0, frame.width as f32, frame.height as f32) else {
        return encode_png(&map, true);
    };
    for layer in layers.iter().filter(|l| !l.points.is_empty()) {
        let mut opacity = Opacity::new(frame.width, frame.height);
        for &(lon, lat, n) in &layer.points {
            let (x, y) = frame.project(lon, lat);
            let alpha = (u32::from(style.dot_alpha) * n).min(255) as u8;
            opacity.add_disc(x, y, r, alpha);
        }
        let Some(mask) = opacity.into_mask() else { continue };
        let mut paint = Paint::default();
        paint.set_color(layer.colour.with_alpha(255));
        map.fill_rect(full, &paint, Transform::identity(), Some(&mask));
    }
    encode_png(&map, true)
}

/// The land of a user map, drawn once per projection, size and colours and kept (up to 64 MB)
/// for the next map of that kind: every user's default map shares one.
fn land(style: &UserMapStyle, frame: Frame, scale: f32) -> Result<Arc<Pixmap>, RenderError> {
    type Key = (Projection, u32, Option<Colour>, Option<Colour>);
    static LAND: LazyLock<moka::sync::Cache<Key, Arc<Pixmap>>> = LazyLock::new(|| {
        moka::sync::Cache::builder()
            .weigher(|_, p: &Arc<Pixmap>| u32::try_from(p.data().len()).unwrap_or(u32::MAX))
            .max_capacity(64 << 20)
            .build()
    });
    let key = (style.projection, style.height, style.land, style.coast);
    LAND.try_get_with(key, || {
        let mut land = pixmap(frame.width, frame.height)?;
        frame.draw_land(&mut land, style.land, style.coast, (3.0 * scale).clamp(0.75, 3.0));
        Ok(Arc::new(land))
    })
    // Allocating the pixmap is the only way drawing the land fails.
    .map_err(|_: Arc<RenderError>| RenderError::Size(frame.width, frame.height))
}

/// A layer's opacity: every disc adds its alpha where it covers a pixel (anti-aliased at the
/// rim), saturating at 255. tiny-skia could draw each disc as a path with additive blending,
/// but at 20k dots its per-path set-up dominates (70 ms for a 110 px map); stamping the
/// coverage directly costs a few instructions per covered pixel.
struct Opacity {
    width: u32,
    height: u32,
    alpha: Vec<u8>,
}

impl Opacity {
    fn new(width: u32, height: u32) -> Self {
        Self { width, height, alpha: vec![0; width as usize * height as usize] }
    }

    /// Add `alpha` × coverage of the disc of radius `r` at (`cx`, `cy`), clipped to the image.
    /// Pixels fully inside get `alpha`; only the one-pixel rim needs a square root.
    fn add_disc(&mut self, cx: f32, cy: f32, r: f32, alpha: u8) {
        let reach = r + 0.5;
        let inner = (reach - 1.0).max(0.0).powi(2);
        let outer = reach * reach;
        let x0 = (cx - reach).floor().max(0.0) as u32;
        let y0 = (cy - reach).floor().max(0.0) as u32;
        let x1 = ((cx + reach).ceil().max(0.0) as u32).min(self.width);
        let y1 = ((cy + reach).ceil().max(0.0) as u32).min(self.height);
        for y in y0..y1 {
            let dy = y as f32 + 0.5 - cy;
            let row = y as usize * self.width as usize;
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - cx;
                let d2 = dx * dx + dy * dy;
                let add = if d2 <= inner {
                    alpha
                } else if d2 < outer {
                    // Coverage of a rim pixel, linear across the one-pixel-wide rim.
                    (f32::from(alpha) * (reach - d2.sqrt()).clamp(0.0, 1.0)).round() as u8
                } else {
                    continue;
                };
                let a = &mut self.alpha[row + x as usize];
                *a = a.saturating_add(add);
            }
        }
    }

    fn into_mask(self) -> Option<Mask> {
        Mask::from_vec(self.alpha, tiny_skia::IntSize::from_wh(self.width, self.height)?)
    }
}

/// A circle of radius `r` around the origin.
fn circle(r: f32) -> Option<Path> {
    PathBuilder::from_circle(0.0, 0.0, r)
}
