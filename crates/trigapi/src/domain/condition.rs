//! A log's condition: what the walker found (the site's vocabulary, contract §2.7).

/// The condition a log reports, by its one-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    Good,
    SlightlyDamaged,
    Damaged,
    Toppled,
    Moved,
    Converted,
    Remains,
    PossiblyMissing,
    CouldNotFind,
    Destroyed,
    UnreachableButVisible,
    Inaccessible,
    NotLogged,
    Unknown,
}

impl Condition {
    /// Every condition, in the order the site lists them (and a 422 names them).
    pub const ALL: [Condition; 14] = [
        Condition::Good,
        Condition::SlightlyDamaged,
        Condition::Damaged,
        Condition::Toppled,
        Condition::Moved,
        Condition::Converted,
        Condition::Remains,
        Condition::PossiblyMissing,
        Condition::CouldNotFind,
        Condition::Destroyed,
        Condition::UnreachableButVisible,
        Condition::Inaccessible,
        Condition::NotLogged,
        Condition::Unknown,
    ];

    /// The code stored in `tlog.condition`.
    pub const fn code(self) -> &'static str {
        match self {
            Condition::Good => "G",
            Condition::SlightlyDamaged => "S",
            Condition::Damaged => "D",
            Condition::Toppled => "T",
            Condition::Moved => "M",
            Condition::Converted => "C",
            Condition::Remains => "R",
            Condition::PossiblyMissing => "Q",
            Condition::CouldNotFind => "N",
            Condition::Destroyed => "X",
            Condition::UnreachableButVisible => "V",
            Condition::Inaccessible => "P",
            Condition::NotLogged => "Z",
            Condition::Unknown => "U",
        }
    }

    /// The condition a stored or sent code names (case and surrounding blanks aside).
    pub fn from_code(code: &str) -> Option<Self> {
        let code = code.trim();
        Self::ALL.into_iter().find(|c| c.code().eq_ignore_ascii_case(code))
    }

    /// The site's words for it.
    pub const fn description(self) -> &'static str {
        match self {
            Condition::Good => "Good",
            Condition::SlightlyDamaged => "Slightly damaged",
            Condition::Damaged => "Damaged",
            Condition::Toppled => "Toppled",
            Condition::Moved => "Moved",
            Condition::Converted => "Converted",
            Condition::Remains => "Remains",
            Condition::PossiblyMissing => "Possibly missing",
            Condition::CouldNotFind => "Couldn't find it",
            Condition::Destroyed => "Destroyed",
            Condition::UnreachableButVisible => "Unreachable but visible",
            Condition::Inaccessible => "Inaccessible",
            Condition::NotLogged => "Not Logged",
            Condition::Unknown => "Unknown",
        }
    }

    /// Whether a log with this condition counts as a find (the trig's and the user's "found"
    /// counts): the pillar was there, whole or damaged.
    pub const fn is_found(self) -> bool {
        matches!(self, Condition::Good | Condition::SlightlyDamaged | Condition::Damaged | Condition::Toppled)
    }

    /// The codes of the conditions that count as a find, for SQL.
    pub fn found_codes() -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|c| c.is_found()).map(Condition::code).collect()
    }

    /// Every code, for a 422 that lists them.
    pub fn codes() -> Vec<&'static str> {
        Self::ALL.into_iter().map(Condition::code).collect()
    }
}

/// The site's text for a stored code; a code it does not know is "Unknown".
pub fn description_of(code: &str) -> &'static str {
    Condition::from_code(code).map_or("Unknown", Condition::description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_finds_are_the_four_of_the_site() {
        for c in Condition::ALL {
            assert_eq!(Condition::from_code(c.code()), Some(c));
        }
        assert_eq!(Condition::from_code(" g "), Some(Condition::Good));
        assert_eq!(Condition::found_codes(), ["G", "S", "D", "T"]);
        assert_eq!(description_of("n"), "Couldn't find it");
        assert_eq!(description_of("?"), "Unknown");
    }
}
