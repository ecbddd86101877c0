//! Precise places written as words: street addresses with a house number,
//! geohashes finer than an alert cell, and what3words-style triples.

use super::links::is_domain;
use super::scan::ascii_in;
use crate::area::MAX_PRECISION;

/// Words that name a kind of street after its name ("Oak Street").
const STREET_TYPES: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "av",
    "road",
    "rd",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "ct",
    "place",
    "pl",
    "way",
    "terrace",
    "ter",
    "terr",
    "circle",
    "cir",
    "parkway",
    "pkwy",
    "highway",
    "hwy",
    "square",
    "sq",
    "trail",
    "trl",
    "crescent",
    "cres",
    "alley",
    "aly",
    "row",
    "close",
    "mews",
    "grove",
    "gardens",
    "walk",
    "pike",
    "plaza",
    "plz",
    "loop",
    "expressway",
    "expy",
    "freeway",
    "fwy",
    "turnpike",
    "tpke",
    "strasse",
    "straße",
    "str",
];

/// Words that name a kind of street before its name ("12 Rue de la Paix",
/// "5 Calle Mayor").
const STREET_TYPES_BEFORE: &[&str] = &["rue", "calle", "avenida", "via", "viale", "rua", "chemin", "allée", "carrer"];

/// Words that cannot be part of a street name between a house number and
/// the street type: prepositions, articles, the hundred-block wording and
/// counted things ("2 cars on Main Street", "1200 block of Oak Street").
const NOT_NAME_WORDS: &[&str] = &[
    "on", "at", "in", "near", "of", "the", "a", "an", "and", "or", "by", "to", "from", "between", "off", "along",
    "down", "up", "across", "past", "behind", "for", "with", "into", "onto", "toward", "towards", "around", "outside",
    "inside", "block", "blocks", "hundred", "miles", "mile", "km", "ft", "feet", "yards", "meters", "minutes", "mins",
    "hours", "hrs", "am", "pm", "cars", "people", "houses", "homes", "kids", "times", "days", "weeks", "crossing",
    // Lanes of a road ("exit 12, right lane closed", "2 bus lanes").
    "right", "left", "center", "middle", "inner", "outer", "turn", "bus", "bike", "fast", "slow", "passing", "express",
    "both", "all",
];

/// Words that turn a street type into part of another noun ("3 broken
/// street lights", "2 kids street racing").
const STREET_COMPOUNDS: &[&str] = &[
    "light", "lights", "lamp", "lamps", "racing", "parking", "sign", "signs", "sweeping", "cleaning", "party", "fair",
    "closure", "closures", "food", "art", "level", "smart", "address", "names", "name", "crossing",
];

/// Unit designators after a street ("Oak Street apt 3B").
const UNIT_WORDS: &[&str] = &["apt", "apartment", "unit", "suite", "ste", "flat", "room", "fl", "floor", "#"];

/// Words after which a 4-digit number is a year ("in 2023 Main Street
/// was closed").
const YEAR_WORDS: &[&str] = &["in", "since", "until", "by", "of", "from", "before", "after"];

/// Most name words between a house number and the street type.
const MAX_NAME_WORDS: usize = 3;
/// Most name words when the name is lowercase, where common nouns look
/// like names ("2 kids street").
const MAX_LOWERCASE_NAME_WORDS: usize = 2;

/// The geohash alphabet (base32 without a, i, l, o).
const GEOHASH: &str = "0123456789bcdefghjkmnpqrstuvwxyz";
/// Longest geohash (12 characters, a few centimetres).
const MAX_GEOHASH: usize = 12;

/// Words of `text` with surrounding punctuation removed (`#` kept), as
/// [`has_street_address`] and [`has_fine_geohash`] read them.
pub(super) fn words(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '#' || c == '-' || c == '\'')))
        .filter(|t| !t.is_empty())
        .collect()
}

/// `12`, `12B`, `12-14`: a house number.
fn is_house_number(w: &str) -> bool {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    let rest = w.get(digits..).unwrap_or_default();
    (1..=6).contains(&digits)
        && (rest.is_empty()
            || (rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_alphabetic()))
            || rest
                .strip_prefix('-')
                .is_some_and(|r| (1..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_digit())))
}

/// `5th`, `42nd`, `1st`, `3rd`: an ordinal street name.
fn is_ordinal(w: &str) -> bool {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && ascii_in(w.get(digits..).unwrap_or_default(), &["st", "nd", "rd", "th"])
}

fn is_capitalized(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase)
}

/// A unit designator then something with a digit ("apt 3B", "#4").
fn unit_at(words: &[&str], i: usize) -> bool {
    let w = words.get(i).copied().unwrap_or_default();
    if let Some(n) = w.strip_prefix('#') {
        return n.bytes().any(|b| b.is_ascii_digit());
    }
    w.len() <= 9
        && ascii_in(w, UNIT_WORDS)
        && words.get(i + 1).is_some_and(|n| n.trim_start_matches('#').bytes().any(|b| b.is_ascii_digit()))
}

/// Name words from `words[from]` up to a street type: the index of the type.
fn street_type_after(words: &[&str], from: usize) -> Option<usize> {
    let mut lowercase = false;
    for (k, j) in (from..words.len()).enumerate() {
        let w = words.get(j)?;
        if k > 0 && ascii_in(w, STREET_TYPES) {
            let compound = words.get(j + 1).is_some_and(|n| ascii_in(n, STREET_COMPOUNDS));
            let max = if lowercase { MAX_LOWERCASE_NAME_WORDS } else { MAX_NAME_WORDS };
            return (!compound && k <= max).then_some(j);
        }
        let name_like = is_ordinal(w) || w.chars().all(|c| c.is_alphabetic() || c == '\'' || c == '-');
        if k >= MAX_NAME_WORDS || !name_like || ascii_in(w, NOT_NAME_WORDS) {
            return None;
        }
        lowercase |= !is_capitalized(w) && !is_ordinal(w);
    }
    None
}

/// A street address: a house number, 1–3 name words and a street type
/// ("42 Elm Street", "1234 Oak St", "7 5th Ave"), a house number, a type
/// and a name ("12 Rue de la Paix"), or a street with a unit
/// ("Oak Street apt 3B"). Hundred blocks ("1200 block of Oak Street")
/// are not addresses.
pub(super) fn has_street_address(words: &[&str]) -> bool {
    (0..words.len()).any(|i| {
        let w = words.get(i).copied().unwrap_or_default();
        if i > 0 && unit_at(words, i + 1) && ascii_in(w, STREET_TYPES) {
            return true;
        }
        if !is_house_number(w) {
            return false;
        }
        let year_like = w.len() == 4 && i > 0 && words.get(i - 1).is_some_and(|p| ascii_in(p, YEAR_WORDS));
        let type_before = words.get(i + 1).is_some_and(|t| ascii_in(t, STREET_TYPES_BEFORE))
            && words.get(i + 2).is_some_and(|n| n.chars().all(char::is_alphabetic));
        !year_like && (type_before || street_type_after(words, i + 1).is_some())
    })
}

/// A geohash finer than the hood's alert cells: more than `max_precision`
/// (the charter's, at most [`MAX_PRECISION`])
/// characters (at most 12) of the geohash alphabet. Lowercase (the form
/// geohashes are written in) needs a digit and a letter; other case needs
/// at least three letter/digit alternations, so model numbers and plates
/// ("RTX3080", "7XYZ123") are not geohashes.
pub(super) fn has_fine_geohash(words: &[&str], max_precision: usize) -> bool {
    let finest = max_precision.clamp(1, MAX_PRECISION);
    words.iter().any(|w| {
        if !(finest + 1..=MAX_GEOHASH).contains(&w.len())
            || !w.bytes().all(|b| GEOHASH.as_bytes().contains(&b.to_ascii_lowercase()))
        {
            return false;
        }
        let digits = w.bytes().filter(u8::is_ascii_digit).count();
        let lowercase = !w.bytes().any(|b| b.is_ascii_uppercase());
        let alternations = w.as_bytes().windows(2).filter(|p| p[0].is_ascii_digit() != p[1].is_ascii_digit()).count();
        digits > 0 && digits < w.len() && (lowercase || alternations >= 3)
    })
}

/// A what3words address: `///word.word.word` in any case, or three
/// lowercase words of at least three letters joined by dots that are not
/// a domain ("filled.count.soap").
pub(super) fn has_word_triple(text: &str) -> bool {
    text.split_whitespace().filter(|t| t.matches('.').count() >= 2).any(|t| {
        let t = t.trim_matches(|c: char| matches!(c, ',' | ';' | '!' | '?' | '(' | ')' | '"' | '\''));
        let t = t.strip_suffix('.').unwrap_or(t);
        let (prefixed, body) = match t.find("///") {
            Some(i) => (true, t.get(i + 3..).unwrap_or_default()),
            None => (false, t),
        };
        let parts: Vec<&str> = body.split('.').collect();
        parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(char::is_alphabetic))
            && (prefixed
                || (parts.iter().all(|p| p.chars().count() >= 3 && p.chars().all(char::is_lowercase))
                    && !is_domain(body)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, code};

    #[test]
    fn a_geohash_finer_than_the_charters_cells_is_refused() {
        use super::super::TextPolicy;
        // A hood whose cells are 5 characters: a 6-character geohash
        // pinpoints more than its alerts may; at the default 6 it is a cell.
        let coarse = TextPolicy { allow_links: false, max_cell_precision: 5 };
        assert_eq!(code(coarse, "seen near dr5reg"), "precise_location");
        assert_eq!(code(LINKS_OK, "seen near dr5reg"), "ok");
        // Control: ordinary words of the same length still pass.
        assert_eq!(code(coarse, "seen near the school"), "ok");
    }

    #[test]
    fn addresses_geohashes_and_word_triples() {
        for text in [
            "Break-in at 1234 Oak Street, apartment 5B",
            "42 Elm Street",
            "42 elm street",
            "he lives at 7 5th Ave",
            "12B Oak St.",
            "1600 Pennsylvania Avenue",
            "12 Rue de la Paix",
            "Oak Street apt 3B",
            "Elm St #4",
            "dr5regw3pg",
            "DR5REGW3PG",
            "cell dr5regw",
            "///filled.count.soap",
            "filled.count.soap",
            "///Filled.Count.Soap",
        ] {
            assert_eq!(code(LINKS_OK, text), "precise_location", "{text}");
        }
        for text in [
            "the 1200 block of Oak Street",
            "2 cars on Main Street",
            "3 broken street lights on Elm",
            "in 2023 Main Street was repaved",
            "5th Ave and 42nd St",
            "Accident near exit 12, right lane closed",
            "plate 7XYZ123, an RTX3080 and a dr5reg cell",
            "Went.to.bed early",
            "news.example.com",
            "e.g. a.m. i.e.",
        ] {
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
    }
}
