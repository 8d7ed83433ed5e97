//! `#RRGGBB` colours as the image endpoints take them.

use std::fmt;

/// An opaque sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Colour {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// `#rrggbb` or `rrggbb`, either case; surrounding blanks ignored.
    pub fn parse_hex(s: &str) -> Option<Self> {
        let hex = s.trim();
        let hex = hex.strip_prefix('#').unwrap_or(hex);
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self { r: byte(0)?, g: byte(2)?, b: byte(4)? })
    }

    pub(crate) fn with_alpha(self, alpha: u8) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba8(self.r, self.g, self.b, alpha)
    }
}

/// Lower-case `#rrggbb`, the canonical form used in cache keys.
impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_six_hex_digits_with_or_without_hash() {
        assert_eq!(Colour::parse_hex("#FF8000"), Some(Colour::rgb(255, 128, 0)));
        assert_eq!(Colour::parse_hex(" 0000ff "), Some(Colour::rgb(0, 0, 255)));
        assert_eq!(Colour::rgb(255, 128, 0).to_string(), "#ff8000");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "#", "red", "#fff", "#12345", "#1234567", "#gg0000", "#ff00ff80", "ｆｆ００００"] {
            assert_eq!(Colour::parse_hex(bad), None, "{bad:?}");
        }
    }
}
