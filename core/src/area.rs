//! Coarse locations: geohash cells. A hood is a set of cells; an alert names
//! one cell inside it, never finer than the charter allows, so the network
//! never carries a precise location.

use std::fmt;

/// The geohash base32 alphabet (no a, i, l, o).
const GEOHASH_ALPHABET: &str = "0123456789bcdefghjkmnpqrstuvwxyz";
/// Finest precision a hood may ever use: ~1.2 km x 0.6 km.
pub const MAX_PRECISION: usize = 6;

/// Why a cell string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// Empty, too long or characters outside the geohash alphabet.
    #[error("not a geohash cell")]
    Malformed,
}

/// A validated geohash cell (lowercase, 1..=12 characters).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell(String);

impl Cell {
    /// Parses a geohash (case-insensitive on input, stored lowercase).
    pub fn parse(s: &str) -> Result<Self, CellError> {
        let lower = s.to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 12 || !lower.chars().all(|c| GEOHASH_ALPHABET.contains(c)) {
            return Err(CellError::Malformed);
        }
        Ok(Self(lower))
    }

    /// Number of characters: larger is finer.
    pub fn precision(&self) -> usize {
        self.0.len()
    }

    /// Whether `other` lies inside this cell (this cell is a prefix of it).
    pub fn contains(&self, other: &Cell) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The cell as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cell({})", self.0)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_contain() -> Result<(), CellError> {
        let hood = Cell::parse("dr5ru")?;
        assert!(hood.contains(&Cell::parse("dr5ru7")?));
        assert!(hood.contains(&Cell::parse("DR5RU")?));
        assert!(!hood.contains(&Cell::parse("dr5rv")?));
        assert!(!Cell::parse("dr5ru7")?.contains(&hood));
        for bad in ["", "dr5ra", "dr5rl", "dr5r i", "0123456789bcd", "dr5ru\u{e9}"] {
            assert!(Cell::parse(bad).is_err(), "{bad:?}");
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = Cell::parse(&s);
        }

        #[test]
        fn every_prefix_contains_the_cell(s in "[0-9b-hjkmnp-z]{1,12}") {
            let cell = Cell::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for n in 1..=s.len() {
                let prefix = Cell::parse(&s[..n]).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(prefix.contains(&cell));
            }
        }
    }
}
