//! Precise location in numbers: coordinate pairs (decimal points or
//! commas), degrees-minutes(-seconds) with or without symbols, map URL
//! parameters, `geo:` URIs and Open Location Codes.

use super::scan::{ascii_in, has_prefix_ignore_case, runs, take_while, tokens};

/// Most characters allowed between the two numbers of a coordinate pair
/// ("40.7128° N, 74.0060° W" has 5, "40.7128 N, longitude -74.0060" 15).
const MAX_PAIR_GAP: usize = 16;

/// Words allowed between the two numbers of a coordinate pair: hemispheres
/// and axis names. Any other word means the numbers are something else.
const PAIR_GAP_WORDS: &[&str] =
    &["n", "s", "e", "w", "north", "south", "east", "west", "lat", "lon", "lng", "long", "latitude", "longitude"];

/// Fractional digits both numbers need when joined by "and" or `&`, which
/// also join ordinary quantities ("between 1.250 and 1.500 kg").
const MIN_AND_FRACTION: usize = 4;
/// Fractional digits a decimal-comma number needs: three after a comma are
/// a thousands group ("1,500").
const MIN_COMMA_FRACTION: usize = 4;

/// Keys of map URL parameters that carry coordinates ("?lat=40.71&lon=-74.00",
/// "ll=40.71,-74.00"): refused at any precision, the link is the point.
const COORDINATE_KEYS: &[&str] =
    &["lat", "lon", "lng", "long", "latitude", "longitude", "ll", "sll", "center", "coords"];

/// The text between two precise decimals joins them into a coordinate
/// pair. "and" or `&` count only when both numbers have
/// [`MIN_AND_FRACTION`] digits (`strong`).
fn is_pair_gap(gap: &str, strong: bool) -> bool {
    gap.chars().count() <= MAX_PAIR_GAP
        && gap
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, ' ' | ',' | ';' | '/' | '°' | ':' | '=' | '&' | '|'))
        && (strong || !gap.contains('&'))
        && runs(gap, |c| c.is_ascii_alphabetic())
            .all(|w| ascii_in(w, PAIR_GAP_WORDS) || (strong && w.eq_ignore_ascii_case("and")))
}

/// A precise decimal: byte range, fractional digits, and the integer part.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    start: usize,
    end: usize,
    frac: usize,
    int: u32,
}

/// Decimal degrees with at least three fractional digits (~100 m): an
/// optional sign, 1–3 integer digits, `.` (or `,` with at least
/// [`MIN_COMMA_FRACTION`] digits), ≥ 3 digits, not preceded by a digit
/// or `.` (so "1.2345.678" and "v1.2.3" do not count). Every bound
/// sits on an ASCII byte, so it is a char boundary.
fn precise_numbers(text: &str) -> Vec<Decimal> {
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
        let point = bytes.get(j).copied();
        if (1..=3).contains(&int_len) && !preceded_by_number && matches!(point, Some(b'.' | b',')) {
            let frac_len = digits_from(j + 1);
            let min = if point == Some(b',') { MIN_COMMA_FRACTION } else { 3 };
            if frac_len >= min {
                let end = j + 1 + frac_len;
                let int = text.get(j - int_len..j).and_then(|d| d.parse().ok()).unwrap_or(u32::MAX);
                found.push(Decimal { start, end, frac: frac_len, int });
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

/// Degrees, minutes and seconds written with spaces instead of symbols,
/// with a hemisphere letter after or before: "40 42 46 N", "N 40 42 46",
/// "40 42.767 N" (degrees ≤ 180, minutes and seconds < 60).
fn has_spaced_dms(text: &str) -> bool {
    // A hemisphere letter standing alone; most text has none, so skip the
    // word split.
    let b = text.as_bytes();
    let alone = |i: usize| {
        matches!(b[i].to_ascii_lowercase(), b'n' | b's' | b'e' | b'w')
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 1).is_none_or(|n| !n.is_ascii_alphanumeric())
    };
    if !(0..b.len()).any(alone) {
        return false;
    }
    let words: Vec<&str> = text.split_whitespace().map(|w| w.trim_matches([',', ';'])).collect();
    let int = |w: &str, digits: std::ops::RangeInclusive<usize>, max: u32| {
        digits.contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit()) && w.parse::<u32>().is_ok_and(|n| n <= max)
    };
    let below_60 = |w: &str| {
        let (i, f) = w.split_once('.').unwrap_or((w, "0"));
        int(i, 1..=2, 59) && !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())
    };
    let hemisphere = |w: &str| ascii_in(w, &["n", "s", "e", "w"]);
    (0..words.len()).any(|i| {
        let w = |k: usize| words.get(i + k).copied().unwrap_or_default();
        let deg = int(w(0), 1..=3, 180);
        let dms = deg && int(w(1), 1..=2, 59) && below_60(w(2));
        let dm = deg && below_60(w(1)) && w(1).contains('.');
        (dms && hemisphere(w(3)))
            || (dm && hemisphere(w(2)))
            || (hemisphere(w(0)) && int(w(1), 1..=3, 180) && int(w(2), 1..=2, 59) && below_60(w(3)))
    })
}

/// A map URL parameter with a coordinate value: `lat=40.71`, `ll=40.7,-74`.
fn has_coordinate_parameter(text: &str) -> bool {
    text.match_indices('=').any(|(i, _)| {
        let key_start = text.get(..i).map_or(0, |k| k.rfind(|c: char| !c.is_ascii_alphabetic()).map_or(0, |p| p + 1));
        let key = text.get(key_start..i).unwrap_or_default();
        let value = text.get(i + 1..).unwrap_or_default();
        ascii_in(key, COORDINATE_KEYS) && value.trim_start_matches(['-', '+']).starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Whether the canonical `text` contains a precise location in numbers.
pub(super) fn has_precise_location(text: &str) -> bool {
    // Two precise decimals separated only by separators and hemispheres:
    // "40.7128, -74.0060", "40.7128N 74.0060W", "40.7128° N, 74.0060° W",
    // "40,7128 -74,0060", "40.7128 and -74.0060". Either order, as long as
    // one is a latitude (≤ 90) and both are ≤ 180.
    let numbers = precise_numbers(text);
    let is_pair = |a: &Decimal, b: &Decimal| {
        let strong = a.frac >= MIN_AND_FRACTION && b.frac >= MIN_AND_FRACTION;
        a.int.max(b.int) <= 180
            && a.int.min(b.int) <= 90
            && text.get(a.end..b.start).is_some_and(|g| is_pair_gap(g, strong))
    };
    if numbers.windows(2).any(|w| is_pair(&w[0], &w[1]))
        || has_degrees_minutes(text)
        || has_spaced_dms(text)
        || has_coordinate_parameter(text)
    {
        return true;
    }
    let b = text.as_bytes();
    let has_geo =
        text.match_indices(':').any(|(i, _)| i >= 3 && b.get(i - 3..i).is_some_and(|w| w.eq_ignore_ascii_case(b"geo")));
    if !has_geo && !text.contains('+') {
        return false;
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
            "40.7128 and -74.0060",
            "40,7128 -74,0060",
            "see ?lat=40.71&lon=-74.00",
            "map ll=40.7,-74.0",
            "40 42 46 N 74 0 22 W",
            "N 40 42 46, W 74 0 22",
            "40 42.767 N",
            "-74.0060, 40.7128",
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
            "between 1.250 and 1.500 kg",
            "1,500 people and 2,000 cars",
            "flat=3 and lat is short for latitude",
            "Route 40 42 46 and 48 are closed",
        ] {
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
    }
}
