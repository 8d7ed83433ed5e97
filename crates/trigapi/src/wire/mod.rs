//! Wire types: the JSON shapes of the contract, named as the original names them. They are built
//! from `db` rows by destructuring, so a row change shows up at the conversion.

pub mod admin;
pub mod bodies;
pub mod log;
pub mod photo;
pub mod search;
pub mod stats;
pub mod trig;
pub mod user;

/// A DECIMAL column rendered with its database scale, as the original serialises it on detail
/// endpoints (`"60.62023"`, `"6.50"`).
pub fn decimal_string(v: f64, scale: usize) -> String {
    format!("{v:.scale$}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_strings_keep_the_scale() {
        assert_eq!(super::decimal_string(60.62023, 5), "60.62023");
        assert_eq!(super::decimal_string(-0.8648, 5), "-0.86480");
        assert_eq!(super::decimal_string(6.5, 2), "6.50");
    }
}
