//! Precise location: coordinate pairs, degrees-minutes, `geo:` URIs and
//! Open Location Codes.

use super::scan::{ascii_in, has_prefix_ignore_case, runs, take_while, tokens};

/// Most characters allowed between the two numbers of a coordinate pair
/// ("40.7128° N, 74.0060° W" has 5, "40.7128 N, longitude -74.0060" 15).
const MAX_PAIR_GAP: usize = 16;

/// Words allowed between the two numbers of a coordinate pair: hemispheres
/// and axis names. Any other word means the numbers are something else.
const PAIR_GAP_WORDS: &[&str] =
    &["n", "s", "e", "w", "north", "south", "east", "west", "lat", "lon", "lng", "long", "latitude", "longitude"];

/// The text between two precise decimals joins them into a coordinate pair.
fn is_pair_gap(gap: &str) -> bool {
    gap.chars().count() <= MAX_PAIR_GAP
        && gap.chars().all(|c| c.is_ascii_alphabetic() || matches!(c, ' ' | ',' | ';' | '/' | '°' | ':' | '='))
        && runs(gap, |c| c.is_ascii_alphabetic()).all(|w| ascii_in(w, PAIR_GAP_WORDS))
}

/// Decimal degrees with at least three fractional digits (~100 m): an
/// optional sign, 1–3 integer digits, `.`, ≥ 3 digits, not preceded by a
/// digit or `.` (so "1.2345.678" and "v1.2.3" do not count). Returns byte
/// ranges; every bound sits on an ASCII byte, so it is a char boundary.
fn precise_numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let digits_from = |k: usize| take_while(bytes.get(k..).unwrap_or_default(), |b| b.is_ascii_digit());
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let mut j = i;
        if matches!(bytes.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let int_len = digits_from(j);
        j += int_len;
        let preceded_by_number =
            start > 0 && matches!(bytes.get(start - 1), Some(b) if b.is_ascii_digit() || *b == b'.');
        if (1..=3).contains(&int_len) && !preceded_by_number && bytes.get(j) == Some(&b'.') {
            let frac_len = digits_from(j + 1);
            if frac_len >= 3 {
                let end = j + 1 + frac_len;
                found.push((start, end));
                i = end;
                continue;
            }
        }
        i = if j > i { j } else { i + 1 };
    }
    found
}

/// Open Location Code: 8 characters (full) or 4/6 (short, relative to a
/// town) from the code alphabet, `+`, then 2–3 more. Short codes must mix
/// letters and digits so arithmetic like "2345+67" is not one.
fn is_plus_code(token: &str) -> bool {
    const ALPHABET: &str = "23456789CFGHJMPQRVWX";
    let in_alphabet = |c: char| ALPHABET.contains(c.to_ascii_uppercase());
    let Some((head, tail)) = token.split_once('+') else { return false };
    let shape = match head.len() {
        8 => true,
        4 | 6 => head.bytes().any(|b| b.is_ascii_digit()) && head.bytes().any(|b| b.is_ascii_alphabetic()),
        _ => false,
    };
    shape && (2..=3).contains(&tail.len()) && head.chars().all(in_alphabet) && tail.chars().all(in_alphabet)
}

/// Degrees followed by minutes: `40°42'`, `40° 42′`.
fn has_degrees_minutes(text: &str) -> bool {
    text.match_indices('°').any(|(i, deg)| {
        let rest = text.get(i + deg.len()..).unwrap_or_default();
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let digits = take_while(rest.as_bytes(), |b| b.is_ascii_digit());
        digits > 0 && matches!(rest.get(digits..).and_then(|r| r.chars().next()), Some('\'' | '′' | '’'))
    })
}

pub(super) fn has_precise_location(text: &str) -> bool {
    // Two precise decimals separated only by separators and hemispheres:
    // "40.7128, -74.0060", "40.7128N 74.0060W", "40.7128° N, 74.0060° W".
    let numbers = precise_numbers(text);
    let is_pair = |a: &(usize, usize), b: &(usize, usize)| text.get(a.1..b.0).is_some_and(is_pair_gap);
    if numbers.windows(2).any(|w| is_pair(&w[0], &w[1])) || has_degrees_minutes(text) {
        return true;
    }
    tokens(text).filter(|t| t.contains([':', '+'])).any(|t| {
        (has_prefix_ignore_case(t, "geo:")
            && t.get(4..).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit() || c == '-')))
            || is_plus_code(t)
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, code};

    #[test]
    fn precise_coordinates() {
        for text in [
            "It happened at 40.71280, -74.00600 last night",
            "40.7128, -74.0060",
            "40.7128 -74.0060",
            "40.7128,-74.0060",
            "40.7128N 74.0060W",
            "N40.7128 W74.0060",
            "40.7128° N, 74.0060° W",
            "lat 40.7128 lon -74.0060",
            "latitude: 40.7128, longitude: -74.0060",
            "40°42'46\"N 74°0'22\"W",
            "40° 42′ N",
            "geo:40.7128,-74.0060",
            "GEO:-33.86,151.2",
            "plus code 87G8Q2PQ+96",
            "near Q2PQ+96 Manhattan",
        ] {
            assert_eq!(code(LINKS_OK, text), "precise_location", "{text}");
        }
        for text in [
            "40.7, -74.0 is the city",
            "40.71, -74.01 roughly",
            "12:30 at house 1432",
            "5.5 km away",
            "version 1.2.3",
            "prices $12.50 and $3.99",
            "It was 72° outside",
            "2+2 and 2345+67",
            "1.2345 kg of flour",
            "1.234 kg and 5.678 kg",
        ] {
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
    }
}
