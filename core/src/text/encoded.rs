//! Encoded data split into short groups: base32, base64 and hex written as
//! "aGVs bG8g d29y", "9f86d081 884c7d65", "mzxw6ytb oi2dk..." so that no
//! single run is long enough for the blob rules in `media`.

/// Encoded characters a span needs to be refused (24 = 18 bytes of base64,
/// 15 of base32, 12 of hex): longer than any plate, model number or
/// reference an alert quotes, together with their neighbours.
pub(super) const MIN_ENCODED_SPAN: usize = 24;
/// Shannon entropy (bits per character) a span needs: random base32/base64
/// groups of 24+ characters sit near 4; repeated patterns ("AB12AB12...")
/// and digit-heavy runs sit well below.
const MIN_ENCODED_ENTROPY: f64 = 3.3;
/// Lengths of a token that is not code-like but may sit inside a span
/// without ending it: a base64 or hex group that happens to read as a
/// word ("bGQg abcd d29y", "9f86 beef d081"). Shorter words ("and", "at",
/// "on") always end a span.
const BRIDGE_LEN: std::ops::RangeInclusive<usize> = 4..=8;

/// How a token reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Letters and digits, irregular case, padding or no vowels: data.
    Code,
    /// Only digits: data inside a span, a number outside one.
    Digits,
    /// Anything else.
    Word,
}

fn is_alphabet(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

/// Code: base64/base32/hex alphabet only, at least 2 characters, and one
/// of: letters and digits mixed, an uppercase letter after a lowercase
/// one ("aGVs"), `=` padding or a `+` inside.
fn kind(token: &str) -> Kind {
    if !token.chars().all(is_alphabet) || token.len() < 2 {
        return Kind::Word;
    }
    let b = token.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        return Kind::Digits;
    }
    let letters = b.iter().any(u8::is_ascii_alphabetic);
    let digits = b.iter().any(u8::is_ascii_digit);
    let irregular_case = b.windows(2).any(|p| p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase());
    let marked = token.ends_with('=') || token.trim_matches('+').contains('+');
    if (letters && digits) || irregular_case || marked { Kind::Code } else { Kind::Word }
}

/// Share of vowels among the letters of `s`: English (also CamelCase
/// hashtags) has about 0.38, random base64 letters about 0.19.
fn vowel_share(s: &str) -> f64 {
    let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
    let vowels = s.bytes().filter(|c| b"aeiouAEIOU".contains(c)).count();
    if letters == 0 { 0.0 } else { vowels as f64 / letters as f64 }
}

/// A span without a digit reads as data only if it has few vowels: an
/// irregular-case span with English-like vowels is a CamelCase hashtag.
const MAX_VOWEL_SHARE_WITHOUT_DIGITS: f64 = 0.3;

/// A Word that may sit inside a span: [`BRIDGE_LEN`] alphabet characters,
/// or hex letters only ("ea" in "9f:86:ea:a0").
fn is_bridge(t: &str) -> bool {
    (BRIDGE_LEN.contains(&t.len()) && t.chars().all(is_alphabet))
        || (t.len() >= 2 && t.bytes().all(|b| matches!(b.to_ascii_lowercase(), b'a'..=b'f')))
}

/// Shannon entropy of the characters of `s`, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 128];
    let mut n = 0u32;
    for b in s.bytes().filter(u8::is_ascii) {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
            n += 1;
        }
    }
    let n = f64::from(n.max(1));
    counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / n).map(|p| -p * p.log2()).sum()
}

/// Whether the canonical `text` has a span of code tokens: tokens split on
/// whitespace and `.,;:`, consecutive Code and Digits tokens with at least
/// one Code token, bridged over single Word tokens of [`BRIDGE_LEN`]
/// alphabet characters or of hex letters, whose characters number at least
/// [`MIN_ENCODED_SPAN`] with entropy at least [`MIN_ENCODED_ENTROPY`],
/// and which contain a digit or have a vowel share of at most
/// [`MAX_VOWEL_SHARE_WITHOUT_DIGITS`].
pub(super) fn has_encoded_span(text: &str) -> bool {
    // A Code token needs a letter next to a digit, a lowercase letter
    // before an uppercase one, `=` or `+`: without any, skip the tokens.
    let b = text.as_bytes();
    let code_pair = |p: &[u8]| {
        (p[0].is_ascii_digit() && p[1].is_ascii_alphabetic())
            || (p[0].is_ascii_alphabetic() && p[1].is_ascii_digit())
            || (p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase())
    };
    if !b.windows(2).any(code_pair) && !b.iter().any(|&c| c == b'=' || c == b'+') {
        return false;
    }
    let tokens =
        text.split(|c: char| c.is_whitespace() || matches!(c, '.' | ',' | ';' | ':')).filter(|t| !t.is_empty());
    let mut span = String::new();
    let mut has_code = false;
    let mut bridged = false;
    let done = |span: &mut String, has_code: &mut bool| {
        let has_digit = span.bytes().any(|b| b.is_ascii_digit());
        let hit = *has_code
            && span.len() >= MIN_ENCODED_SPAN
            && entropy(span) >= MIN_ENCODED_ENTROPY
            && (has_digit || vowel_share(span) <= MAX_VOWEL_SHARE_WITHOUT_DIGITS);
        span.clear();
        *has_code = false;
        hit
    };
    for t in tokens {
        let k = kind(t);
        match k {
            Kind::Code | Kind::Digits => {
                has_code |= k == Kind::Code;
                span.push_str(t);
                bridged = false;
            }
            Kind::Word if !span.is_empty() && !bridged && is_bridge(t) => {
                span.push_str(t);
                bridged = true;
            }
            Kind::Word => {
                if done(&mut span, &mut has_code) {
                    return true;
                }
                bridged = false;
            }
        }
    }
    done(&mut span, &mut has_code)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, code};
    use super::has_encoded_span;

    #[test]
    fn split_encodings() {
        for text in [
            "aGVs bG8g d29y bGQg dGhp cyBp cyBh",
            "9f86d081 884c7d65 9a2feaa0 c55ad015",
            "9f86-d081-884c-7d65-9a2f-eaa0",
            "nbswy3dpeb3w64tmmqqho2lunaqgc",
            "nbswy 3dpeb 3w64t mmqqh o2lun bfyw4 3dpeb",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(has_encoded_span(text), "{text}");
            assert_eq!(code(LINKS_OK, text), "media_not_allowed", "{text}");
        }
        for text in [
            "plate 7ABC123, an RTX3080 and a WD40 can",
            "Models X1, B2 and C3 at 10:30am-2pm on 5th",
            "1234567890 1234567890 1234567890",
            "call the non-emergency line",
            "ABCD1234ABCD1234ABCD1234ABCD1234",
            "strength rhythm crypt lynx glyph",
            "ThisIsAVeryLongHashtagAboutOurNeighborhoodWatch",
            "a bbffbbbfj jvrrgkblk pbcmdh xkcd",
        ] {
            assert!(!has_encoded_span(text), "{text}");
        }
    }
}
