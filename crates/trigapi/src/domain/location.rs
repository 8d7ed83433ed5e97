//! What a location search query can name, read from the forms people type: a waypoint
//! (`TP1234`, `tp 1234`), an OS grid reference of 2 to 10 figures (`SK 06 73`,
//! `SK0576773456`), a latitude and longitude in decimal or degrees-minutes-seconds, with or
//! without hemisphere letters (`53.38, -1.87`, `53°23'06"N 1°52'30"W`), and a postcode: a unit
//! (`SW1A 1AA`, `sw1a1aa`), a sector (`SW1A 1`) or a district (`SW1A`).
//!
//! Grid positions convert to and from WGS84 with `lonlat_bng`, which applies the Ordnance
//! Survey's own OSTN15 transformation (to about a millimetre over Great Britain).

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// The WGS84 position of National Grid `easting`, `northing` (metres), where OSTN15 covers.
pub fn grid_to_wgs84(easting: f64, northing: f64) -> Option<LatLon> {
    let (lon, lat) = lonlat_bng::convert_osgb36_to_ll(easting, northing).ok()?;
    (lat.is_finite() && lon.is_finite()).then_some(LatLon { lat, lon })
}

/// The National Grid easting and northing (metres) of a WGS84 position, where OSTN15 covers.
pub fn wgs84_to_grid(at: LatLon) -> Option<(f64, f64)> {
    let (e, n) = lonlat_bng::convert_osgb36(at.lon, at.lat).ok()?;
    (e.is_finite() && n.is_finite()).then_some((e, n))
}

/// A waypoint as the search reads it: the one it names exactly (`TP0012`) and the prefix it
/// was typed as (`TP12`), which also finds `TP1234`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaypointQuery {
    pub exact: String,
    pub prefix: String,
}

impl WaypointQuery {
    /// `TP` and one to six digits, in any case, spaces allowed after `TP`.
    pub fn parse(text: &str) -> Option<Self> {
        let compact: String = text.split_whitespace().collect::<String>().to_ascii_uppercase();
        let digits = compact.strip_prefix("TP")?;
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u32 = digits.parse().ok()?;
        Some(Self { exact: format!("TP{number:04}"), prefix: format!("TP{digits}") })
    }
}

/// An OS grid reference: a 100 km square and 1 to 5 figures each of easting and northing.
#[derive(Debug, Clone, PartialEq)]
pub struct GridRef {
    square: String,
    east: String,
    north: String,
}

impl GridRef {
    /// `SK`, `SK 0 7`, `SK 06 73`, `SK0673`, `SK 05767 73456`, in any case. The figures, 2 to
    /// 10 of them, split evenly between easting and northing (when they are written apart,
    /// each group must have the same number).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let square: String = text.chars().take(2).collect::<String>().to_ascii_uppercase();
        square_origin(&square)?;
        let rest = text.get(2..)?;
        let groups: Vec<&str> = rest.split_whitespace().collect();
        let (east, north) = match groups.as_slice() {
            [both] => {
                let (e, n) = both.split_at_checked(both.len() / 2)?;
                (e, n)
            }
            [e, n] if e.len() == n.len() => (*e, *n),
            _ => return None,
        };
        let figures = |s: &str| (1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if east.len() != north.len() || !figures(east) || !figures(north) {
            return None;
        }
        Some(Self { square, east: east.to_owned(), north: north.to_owned() })
    }

    /// The easting and northing (metres) of the centre of the square the reference names.
    pub fn centre(&self) -> Option<(f64, f64)> {
        let (e0, n0) = square_origin(&self.square)?;
        let size = 10f64.powi(5 - i32::try_from(self.east.len()).ok()?);
        let scaled = |digits: &str| digits.parse::<f64>().ok().map(|v| v * size + size / 2.0);
        Some((e0 + scaled(&self.east)?, n0 + scaled(&self.north)?))
    }

    /// Where the reference points, in WGS84.
    pub fn wgs84(&self) -> Option<LatLon> {
        let (e, n) = self.centre()?;
        grid_to_wgs84(e, n)
    }

    /// `SK 0576 7345`: the square and the figures as given.
    pub fn name(&self) -> String {
        format!("{} {} {}", self.square, self.east, self.north)
    }

    /// The reference of a grid position to 1 m (`SK 05767 73456`), if it lies on the grid.
    pub fn of(easting: f64, northing: f64) -> Option<String> {
        let (e, n) = (easting.floor(), northing.floor());
        if !(0.0..700_000.0).contains(&e) || !(0.0..1_300_000.0).contains(&n) {
            return None;
        }
        // Both are whole metres in range, so the casts are exact.
        let (e, n) = (e as u32, n as u32);
        let (col, row) = (e / 100_000, n / 100_000);
        let square = SQUARES.iter().find(|(_, c, r)| *c == col && *r == row).map(|(s, _, _)| *s)?;
        Some(format!("{square} {:05} {:05}", e % 100_000, n % 100_000))
    }
}

/// The 100 km squares of the National Grid that hold land, with their column and row.
const SQUARES: &[(&str, u32, u32)] = &[
    ("SV", 0, 0),
    ("SW", 1, 0),
    ("SX", 2, 0),
    ("SY", 3, 0),
    ("SZ", 4, 0),
    ("TV", 5, 0),
    ("SR", 1, 1),
    ("SS", 2, 1),
    ("ST", 3, 1),
    ("SU", 4, 1),
    ("TQ", 5, 1),
    ("TR", 6, 1),
    ("SM", 1, 2),
    ("SN", 2, 2),
    ("SO", 3, 2),
    ("SP", 4, 2),
    ("TL", 5, 2),
    ("TM", 6, 2),
    ("SH", 2, 3),
    ("SJ", 3, 3),
    ("SK", 4, 3),
    ("TF", 5, 3),
    ("TG", 6, 3),
    ("SC", 2, 4),
    ("SD", 3, 4),
    ("SE", 4, 4),
    ("TA", 5, 4),
    ("NW", 1, 5),
    ("NX", 2, 5),
    ("NY", 3, 5),
    ("NZ", 4, 5),
    ("OV", 5, 5),
    ("NR", 1, 6),
    ("NS", 2, 6),
    ("NT", 3, 6),
    ("NU", 4, 6),
    ("NL", 0, 7),
    ("NM", 1, 7),
    ("NN", 2, 7),
    ("NO", 3, 7),
    ("NF", 0, 8),
    ("NG", 1, 8),
    ("NH", 2, 8),
    ("NJ", 3, 8),
    ("NK", 4, 8),
    ("NA", 0, 9),
    ("NB", 1, 9),
    ("NC", 2, 9),
    ("ND", 3, 9),
    ("HW", 1, 10),
    ("HX", 2, 10),
    ("HY", 3, 10),
    ("HZ", 4, 10),
    ("HT", 3, 11),
    ("HU", 4, 11),
    ("HP", 4, 12),
];

/// The south-west corner (easting, northing in metres) of a 100 km square.
fn square_origin(square: &str) -> Option<(f64, f64)> {
    let (_, col, row) = SQUARES.iter().find(|(s, _, _)| *s == square)?;
    Some((f64::from(*col) * 100_000.0, f64::from(*row) * 100_000.0))
}

/// Where the coordinates of a latitude/longitude query may lie: the British Isles with a
/// margin (the original took 49-61 °N, 8 °W-2 °E).
const LAT_RANGE: std::ops::RangeInclusive<f64> = 49.0..=61.5;
const LON_RANGE: std::ops::RangeInclusive<f64> = -11.0..=2.5;

/// A latitude and longitude: `53.38, -1.87`, `53.38 -1.87`, `53.38N 1.87W`, `N53.38 W1.87`,
/// `53°23'06"N 1°52'30"W`, `53 23 06 N, 1 52 30 W`, `53°23.1'N 1°52.5'W`. Latitude comes
/// first unless the hemisphere letters say otherwise; the result must lie in the British
/// Isles.
pub fn parse_lat_lon(text: &str) -> Option<LatLon> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut number = String::new();
    let flush = |number: &mut String, tokens: &mut Vec<Token>| -> Option<()> {
        if !number.is_empty() {
            tokens.push(Token::Number(number.parse().ok()?, number.starts_with('-')));
            number.clear();
        }
        Some(())
    };
    for c in text.trim().chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            '-' | '+' if number.is_empty() => number.push(c),
            'N' | 'n' | 'S' | 's' | 'E' | 'e' | 'W' | 'w' => {
                flush(&mut number, &mut tokens)?;
                tokens.push(Token::Hemisphere(c.to_ascii_uppercase()));
            }
            ',' | ';' => {
                flush(&mut number, &mut tokens)?;
                tokens.push(Token::Comma);
            }
            ' ' | '\t' | '°' | 'º' | '\'' | '"' | '′' | '″' | '’' | '”' => flush(&mut number, &mut tokens)?,
            _ => return None,
        }
    }
    flush(&mut number, &mut tokens)?;
    let (first, second) = split_halves(&tokens)?;
    let (a, a_hemi) = angle(&first)?;
    let (b, b_hemi) = angle(&second)?;
    let (lat, lon) = match (a_hemi, b_hemi) {
        (Some('E' | 'W'), _) | (_, Some('N' | 'S')) => (b, a),
        _ => (a, b),
    };
    let at = LatLon { lat, lon };
    (LAT_RANGE.contains(&at.lat) && LON_RANGE.contains(&at.lon)).then_some(at)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    /// A number, and whether it was written with a minus sign (`-0.5` and `-0` included).
    Number(f64, bool),
    Hemisphere(char),
    Comma,
}

/// The tokens of each coordinate: split at a comma, after a hemisphere letter that follows a
/// number, or else between equal halves of the numbers.
fn split_halves(tokens: &[Token]) -> Option<(Vec<Token>, Vec<Token>)> {
    if let Some(i) = tokens.iter().position(|t| *t == Token::Comma) {
        let (a, b) = tokens.split_at(i);
        return Some((a.to_vec(), b.get(1..)?.to_vec()));
    }
    // `N53.38 W1.87`: each letter starts a coordinate.
    if let Some(Token::Hemisphere(_)) = tokens.first()
        && let Some(i) = tokens.iter().skip(1).position(|t| matches!(t, Token::Hemisphere(_)))
    {
        return Some((tokens[..=i].to_vec(), tokens[i + 1..].to_vec()));
    }
    // `53.38N 1.87W`: the first letter after a number ends the first coordinate.
    let first_number = tokens.iter().position(|t| matches!(t, Token::Number(..)))?;
    if let Some(i) = tokens.iter().skip(first_number).position(|t| matches!(t, Token::Hemisphere(_))) {
        let end = first_number + i + 1;
        if tokens[end..].iter().any(|t| matches!(t, Token::Number(..))) {
            return Some((tokens[..end].to_vec(), tokens[end..].to_vec()));
        }
    }
    let numbers = tokens.iter().filter(|t| matches!(t, Token::Number(..))).count();
    if tokens.len() != numbers || numbers % 2 != 0 {
        return None;
    }
    let (a, b) = tokens.split_at(numbers / 2);
    Some((a.to_vec(), b.to_vec()))
}

/// Degrees (with minutes and seconds) and hemisphere of one coordinate.
fn angle(tokens: &[Token]) -> Option<(f64, Option<char>)> {
    let mut values = Vec::new();
    let mut negative = false;
    let mut hemisphere = None;
    for t in tokens {
        match *t {
            Token::Number(v, minus) => {
                if values.is_empty() {
                    negative = minus;
                } else if minus {
                    return None;
                }
                values.push(v.abs());
            }
            Token::Hemisphere(h) if hemisphere.is_none() => hemisphere = Some(h),
            _ => return None,
        }
    }
    let degrees = match values.as_slice() {
        [d] => *d,
        [d, m] if *m < 60.0 && d.fract() == 0.0 => d + m / 60.0,
        [d, m, s] if *m < 60.0 && *s < 60.0 && d.fract() == 0.0 && m.fract() == 0.0 => d + m / 60.0 + s / 3600.0,
        _ => return None,
    };
    // A minus sign and a south or west letter each mean the same; `-1.87W` is west once.
    let sign = if negative || matches!(hemisphere, Some('S' | 'W')) { -1.0 } else { 1.0 };
    Some((sign * degrees, hemisphere))
}

/// What a postcode query names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostcodeKind {
    /// `SW1A 1AA`.
    Unit,
    /// `SW1A 1`.
    Sector,
    /// `SW1A`.
    District,
    /// The start of a unit: `SW1A 1A`.
    Partial,
}

/// A query that reads as (the start of) a postcode, in the stored form: upper case, one
/// space before the inward code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostcodeQuery {
    pub kind: PostcodeKind,
    pub code: String,
}

impl PostcodeQuery {
    /// `SW1A 1AA`, `sw1a1aa`, `SW1A 1`, `SW1A`, `SW1A 1A`.
    pub fn parse(text: &str) -> Option<Self> {
        let upper = text.trim().to_ascii_uppercase();
        // Postcodes are ASCII; the byte offsets below rely on it.
        if !upper.is_ascii() {
            return None;
        }
        let parts: Vec<&str> = upper.split_whitespace().collect();
        let (outward, inward) = match parts.as_slice() {
            [one] if is_outward(one) => (*one, ""),
            // `SW1A1AA`: the inward code is always a digit and two letters.
            [one] if one.len() > 3 => {
                let (o, i) = one.split_at(one.len() - 3);
                if !is_outward(o) || !is_inward_start(i) || i.len() != 3 {
                    return None;
                }
                (o, i)
            }
            [o, i] if is_outward(o) && is_inward_start(i) => (*o, *i),
            _ => return None,
        };
        let kind = match inward.len() {
            0 => PostcodeKind::District,
            1 => PostcodeKind::Sector,
            2 => PostcodeKind::Partial,
            _ => PostcodeKind::Unit,
        };
        let code = if inward.is_empty() { outward.to_owned() } else { format!("{outward} {inward}") };
        Some(Self { kind, code })
    }

    /// The sector a unit or partial unit lies in (`SW1A 1AA` → `SW1A 1`).
    pub fn sector(&self) -> Option<String> {
        match self.kind {
            PostcodeKind::Unit | PostcodeKind::Partial => {
                let (outward, inward) = self.code.split_once(' ')?;
                Some(format!("{outward} {}", inward.get(..1)?))
            }
            _ => None,
        }
    }
}

/// `SW1A`, `M1`, `EH10`: one or two letters, a digit, and a digit or letter.
fn is_outward(s: &str) -> bool {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) || b.len() < letters + 1 || b.len() > letters + 2 {
        return false;
    }
    b[letters].is_ascii_digit() && b.get(letters + 1).is_none_or(|c| c.is_ascii_alphanumeric())
}

/// `1`, `1A`, `1AA`: a digit and up to two letters.
fn is_inward_start(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=3).contains(&b.len()) && b[0].is_ascii_digit() && b[1..].iter().all(u8::is_ascii_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: LatLon, lat: f64, lon: f64) -> bool {
        (a.lat - lat).abs() < 1e-4 && (a.lon - lon).abs() < 1e-4
    }

    #[test]
    fn waypoints_in_the_forms_people_type() {
        let w = WaypointQuery::parse("tp 12").expect("parses");
        assert_eq!((w.exact.as_str(), w.prefix.as_str()), ("TP0012", "TP12"));
        assert_eq!(WaypointQuery::parse("TP1234").expect("parses").exact, "TP1234");
        assert_eq!(WaypointQuery::parse("TP"), None);
        assert_eq!(WaypointQuery::parse("TPX1"), None);
    }

    #[test]
    fn grid_references_of_two_to_ten_figures() {
        let g = GridRef::parse("SK 06 73").expect("parses");
        assert_eq!(g.centre(), Some((406_500.0, 373_500.0)));
        assert_eq!(GridRef::parse("sk0576773456").expect("parses").centre(), Some((405_767.5, 373_456.5)));
        assert_eq!(GridRef::parse("SK 05767 73456").expect("parses").name(), "SK 05767 73456");
        assert_eq!(GridRef::parse("SK07").expect("parses").centre(), Some((405_000.0, 375_000.0)));
        assert_eq!(GridRef::parse("SK 067 73"), None);
        assert_eq!(GridRef::parse("SK123"), None);
        assert_eq!(GridRef::parse("XX 06 73"), None);
        assert_eq!(GridRef::parse("SK 060000 730000"), None);
        assert_eq!(GridRef::of(405_767.9, 373_456.1).as_deref(), Some("SK 05767 73456"));
    }

    #[test]
    fn latitude_and_longitude_in_decimal_and_sexagesimal() {
        assert!(close(parse_lat_lon("53.38, -1.87").expect("parses"), 53.38, -1.87));
        assert!(close(parse_lat_lon("53.38 -1.87").expect("parses"), 53.38, -1.87));
        assert!(close(parse_lat_lon("53.38N 1.87W").expect("parses"), 53.38, -1.87));
        assert!(close(parse_lat_lon("N53.38 W1.87").expect("parses"), 53.38, -1.87));
        assert!(close(parse_lat_lon("1.87W 53.38N").expect("parses"), 53.38, -1.87));
        let dms = parse_lat_lon("53°23'06\"N 1°52'30\"W").expect("parses");
        assert!(close(dms, 53.0 + 23.0 / 60.0 + 6.0 / 3600.0, -(1.0 + 52.0 / 60.0 + 30.0 / 3600.0)));
        assert!(close(parse_lat_lon("53 23 06 N, 1 52 30 W").expect("parses"), dms.lat, dms.lon));
        assert!(close(parse_lat_lon("53°23.1'N 1°52.5'W").expect("parses"), 53.385, -1.875));
        assert!(close(parse_lat_lon("51.5, 0.12").expect("parses"), 51.5, 0.12));
        assert_eq!(parse_lat_lon("12.0, 40.0"), None, "outside the British Isles");
        assert_eq!(parse_lat_lon("53 61 00 N 1 0 0 W"), None, "61 minutes");
        assert_eq!(parse_lat_lon("TP1234"), None);
        assert_eq!(parse_lat_lon("53.38"), None);
    }

    #[test]
    fn postcodes_full_sector_and_district() {
        let unit = PostcodeQuery::parse("sw1a1aa").expect("parses");
        assert_eq!((unit.kind.clone(), unit.code.as_str()), (PostcodeKind::Unit, "SW1A 1AA"));
        assert_eq!(unit.sector().as_deref(), Some("SW1A 1"));
        assert_eq!(PostcodeQuery::parse("SW1A 1AA").expect("parses"), unit);
        assert_eq!(PostcodeQuery::parse("SW1A 1").expect("parses").kind, PostcodeKind::Sector);
        assert_eq!(PostcodeQuery::parse("SW1A").expect("parses").kind, PostcodeKind::District);
        assert_eq!(PostcodeQuery::parse("m1").expect("parses").code, "M1");
        assert_eq!(PostcodeQuery::parse("SW1A 1A").expect("parses").kind, PostcodeKind::Partial);
        assert_eq!(PostcodeQuery::parse("Buxton"), None);
        assert_eq!(PostcodeQuery::parse("TP1234"), None);
        assert_eq!(PostcodeQuery::parse("SK 06 73"), None);
        // Found by schemathesis: a byte offset inside a character panicked.
        assert_eq!(PostcodeQuery::parse("\u{13292}\u{118}\u{137}"), None);
        assert_eq!(PostcodeQuery::parse("\u{128}\u{7d58f}"), None);
    }
}
