//! The `GET /v1/trigs` filter set: parsed once, used by SQL, links and `context`.

use super::pagination::Page;
use super::params::{QueryParams, py_float};

/// Kilometres per degree of latitude in the contract's planar distance approximation.
pub const KM_PER_DEGREE: f64 = 111.32;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centre {
    pub lat: f64,
    pub lon: f64,
}

impl Centre {
    /// Kilometres per degree of longitude at this latitude.
    pub fn km_per_degree_lon(&self) -> f64 {
        KM_PER_DEGREE * self.lat.to_radians().cos()
    }

    /// The contract's planar distance in km, unrounded.
    pub fn distance_km(&self, lat: f64, lon: f64) -> f64 {
        let dlat = (lat - self.lat) * KM_PER_DEGREE;
        let dlon = (lon - self.lon) * self.km_per_degree_lon();
        (dlat * dlat + dlon * dlon).sqrt()
    }
}

/// Sort order of the trig list. Unknown `order` values fall back to `Id` so pagination is always
/// deterministic (the original left such lists unordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrigOrder {
    Id,
    Name,
    Distance,
}

#[derive(Debug, Clone)]
pub struct TrigListQuery {
    pub name: Option<String>,
    pub county: Option<String>,
    /// `lat` and `lon` as given, each alone too (links keep them).
    given: (Option<f64>, Option<f64>),
    pub centre: Option<Centre>,
    pub max_km: Option<f64>,
    /// `order` as the client sent it (echoed in links and `context`).
    pub order_raw: Option<String>,
    pub order: TrigOrder,
    /// Canonical (sorted, de-duplicated) types for SQL and keys.
    pub physical_types: Vec<String>,
    physical_types_raw: Option<String>,
    pub exclude_found: bool,
    pub page: Page,
}

impl TrigListQuery {
    pub fn from_query(q: &mut QueryParams) -> Self {
        let name = q.string("name");
        let county = q.string("county");
        let lat = q.float("lat", None, None);
        let lon = q.float("lon", None, None);
        let max_km = q.float("max_km", Some(0.0), None);
        let order_raw = q.string("order");
        // Every physical type named once is about 250 characters.
        let physical_types_raw = q.text("physical_types", 1_000);
        let exclude_found = q.bool("exclude_found").unwrap_or(false);
        q.key_param("exclude_found", exclude_found);
        let page = Page::from_query(q);
        let centre = lat.zip(lon).map(|(lat, lon)| Centre { lat, lon });
        let order = match (order_raw.as_deref().unwrap_or(""), centre.is_some()) {
            ("" | "distance", true) => TrigOrder::Distance,
            ("name", _) => TrigOrder::Name,
            _ => TrigOrder::Id,
        };
        let mut physical_types: Vec<String> = physical_types_raw
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        physical_types.sort_unstable();
        physical_types.dedup();
        Self {
            name,
            county,
            given: (lat, lon),
            centre,
            max_km,
            order_raw,
            order,
            physical_types,
            physical_types_raw,
            exclude_found,
            page,
        }
    }

    /// The same query restricted to `radius_km` around its centre.
    pub fn within(&self, radius_km: f64) -> Self {
        Self { max_km: Some(radius_km), ..self.clone() }
    }

    /// `max_km` only applies together with a centre.
    pub fn radius(&self) -> Option<(Centre, f64)> {
        self.centre.zip(self.max_km)
    }

    /// Link parameters in the contract's order (`…, exclude_found=true, limit`; skip is added by
    /// the envelope).
    pub fn link_params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                p.push((k, v));
            }
        };
        put("name", self.name.clone());
        put("county", self.county.clone());
        // What was given, even when it takes no effect (a `lat` without `lon`), as the original.
        put("lat", self.given.0.map(py_float));
        put("lon", self.given.1.map(py_float));
        put("max_km", self.max_km.map(py_float));
        put("order", self.order_raw.clone());
        put("physical_types", self.physical_types_raw.clone());
        put("exclude_found", self.exclude_found.then(|| "true".to_owned()));
        p.push(("limit", self.page.limit.to_string()));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_ordering_needs_both_coordinates() {
        let t = TrigListQuery::from_query(&mut QueryParams::parse(Some("lat=57.5")));
        assert_eq!(t.order, TrigOrder::Id);
        let t = TrigListQuery::from_query(&mut QueryParams::parse(Some("lat=57.5&lon=-4&max_km=500&limit=5")));
        assert_eq!(t.order, TrigOrder::Distance);
        let keys: Vec<_> = t.link_params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(keys, ["lat=57.5", "lon=-4.0", "max_km=500.0", "limit=5"]);
        let t = TrigListQuery::from_query(&mut QueryParams::parse(Some("lat=52&limit=3")));
        let keys: Vec<_> = t.link_params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(keys, ["lat=52.0", "limit=3"]);
    }

    #[test]
    fn unknown_order_is_deterministic() {
        let t = TrigListQuery::from_query(&mut QueryParams::parse(Some("order=bogus")));
        assert_eq!(t.order, TrigOrder::Id);
    }
}
