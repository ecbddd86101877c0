//! The canonical form every rule reads, and the characters refused before
//! any rule runs.
//!
//! Every node must reach the same verdict, so the rules never look at the
//! raw text: they read [`canonical`], which is NFKC (fullwidth digits and
//! letters, ligatures, compatibility dots become ASCII) followed by a
//! per-character fold: decimal digits of any script become ASCII digits,
//! ideographic full stops become `.`, and any other non-ASCII character
//! whose Unicode TR39 confusable skeleton is pure ASCII becomes that
//! skeleton (Cyrillic `Н` → `H`, Greek `ο` → `o`). ASCII itself is never
//! folded: the skeleton maps `0` → `O` and `1` → `l`, which would destroy
//! the numbers the location rules read.

use unicode_normalization::UnicodeNormalization;

/// The first code point of each Unicode block of decimal digits (`Nd`)
/// folded to ASCII. Fullwidth and mathematical digits are folded by NFKC
/// already; these are the script digits NFKC keeps.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
    0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
    0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
];

/// Characters that read as a full stop between two labels and that NFKC
/// leaves alone: ideographic, halfwidth ideographic, vertical ideographic
/// and Arabic full stops, and the middle dot.
const DOTS: &[char] = &['\u{3002}', '\u{FF61}', '\u{FE12}', '\u{06D4}', '\u{00B7}', '\u{2027}'];

/// Latin small capitals (IPA and phonetic extensions) and the ASCII letter
/// each stands for: neither NFKC nor the confusable skeleton folds them,
/// and "ᴅᴍ me" reads as "DM me".
const SMALL_CAPITALS: &[(char, char)] = &[
    ('ᴀ', 'A'),
    ('ʙ', 'B'),
    ('ᴄ', 'C'),
    ('ᴅ', 'D'),
    ('ᴇ', 'E'),
    ('ꜰ', 'F'),
    ('ɢ', 'G'),
    ('ʜ', 'H'),
    ('ɪ', 'I'),
    ('ᴊ', 'J'),
    ('ᴋ', 'K'),
    ('ʟ', 'L'),
    ('ᴍ', 'M'),
    ('ɴ', 'N'),
    ('ᴏ', 'O'),
    ('ᴘ', 'P'),
    ('ꞯ', 'Q'),
    ('ʀ', 'R'),
    ('ꜱ', 'S'),
    ('ᴛ', 'T'),
    ('ᴜ', 'U'),
    ('ᴠ', 'V'),
    ('ᴡ', 'W'),
    ('ʏ', 'Y'),
    ('ᴢ', 'Z'),
];

/// Why a character is refused before any rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// A C0/C1 control character other than `\n`.
    Control,
    /// A character with no visible form of its own (see [`is_invisible`]).
    Invisible,
}

/// The first refused character class in `text`, if any.
pub(super) fn refused(text: &str) -> Option<Refused> {
    if text.is_ascii() {
        return text.bytes().any(|b| b.is_ascii_control() && b != b'\n').then_some(Refused::Control);
    }
    let mut prev = '\n';
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            return Some(Refused::Control);
        }
        if is_invisible(c) && !is_emoji_presentation(prev, c) {
            return Some(Refused::Invisible);
        }
        prev = c;
    }
    None
}

/// U+FE0E/U+FE0F right after a visible non-ASCII character: the text or
/// emoji presentation selector phones put after symbols ("⚠️"). Refusing
/// it would refuse ordinary alerts; one per symbol carries at most a bit.
fn is_emoji_presentation(prev: char, c: char) -> bool {
    matches!(c, '\u{FE0E}' | '\u{FE0F}') && !prev.is_ascii() && !is_invisible(prev)
}

/// Characters that display as nothing (or as nothing standard), so text
/// could render differently from the bytes that were checked, a word
/// could be split to slip past a rule (`His\u{AD}panic`), or data could
/// ride along unseen (320 bytes in variation selectors, text in tag
/// characters):
///
/// - every format character (general category `Cf`): soft hyphen, Arabic
///   number signs, zero-width and bidi controls, word joiner, invisible
///   operators, BOM, interlinear annotation, tag characters, ...;
/// - the rest of `Default_Ignorable_Code_Point`: combining grapheme
///   joiner U+034F, Hangul fillers U+115F, U+1160, U+3164, U+FFA0, Khmer
///   inherent vowels U+17B4–U+17B5, Mongolian variation selectors
///   U+180B–U+180F, variation selectors U+FE00–U+FE0F and
///   U+E0100–U+E01EF (only U+FE0E/U+FE0F right after a non-ASCII symbol
///   pass, see `is_emoji_presentation`), and the reserved U+2065, U+FFF0–U+FFF8, U+E0000–U+E0FFF;
/// - line and paragraph separators U+2028, U+2029 (`Zl`, `Zp`);
/// - the Braille blank U+2800 and the Halfwidth/Hangul blank look-alikes;
/// - private-use characters (U+E000–U+F8FF, planes 15–16), which have no
///   agreed glyph and carry 16 bits each.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
            | '\u{F0000}'..='\u{10FFFF}'
    )
}

/// The ASCII digit a script decimal digit stands for.
fn fold_digit(c: char) -> Option<char> {
    let cp = u32::from(c);
    DIGIT_ZEROS.iter().find(|&&zero| (zero..zero + 10).contains(&cp)).and_then(|&zero| char::from_digit(cp - zero, 10))
}

/// The canonical text the rules read: NFKC, then the per-character fold
/// described in the module docs. Invisible characters are dropped (the
/// policy refuses them before this runs; the profiling guard, which may run
/// on its own, must not be split by them).
pub(super) fn canonical(text: &str) -> String {
    // ASCII is already NFKC and is never folded: the common case is a copy.
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.nfkc() {
        if c.is_ascii() {
            out.push(c);
        } else if is_invisible(c) {
            continue;
        } else if let Some(d) = fold_digit(c) {
            out.push(d);
        } else if DOTS.contains(&c) {
            out.push('.');
        } else if let Some(&(_, ascii)) = SMALL_CAPITALS.iter().find(|&&(small, _)| small == c) {
            out.push(ascii);
        } else {
            let start = out.len();
            out.extend(unicode_security::skeleton(c.encode_utf8(&mut [0; 4])));
            let folded = out.get(start..).unwrap_or_default();
            if folded.is_empty() || !folded.is_ascii() {
                out.truncate(start);
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_folds_compatibility_forms_and_confusables() {
        assert_eq!(canonical("４０．７１２８"), "40.7128");
        assert_eq!(canonical("example。com example｡com"), "example.com example.com");
        assert_eq!(canonical("\u{41D}ispanic"), "Hispanic");
        assert_eq!(canonical("g\u{43E}\u{43E}gle"), "google");
        assert_eq!(canonical("٤٠٫٧١٢٨"), "40,7128");
        assert_eq!(canonical("ﬁre at 10:30, $25"), "fire at 10:30, $25");
        // ASCII is never folded, accents and other scripts stay.
        assert_eq!(canonical("0 1 l I O %"), "0 1 l I O %");
        assert_eq!(canonical("Café 日本語 72°F"), "Café 日本語 72°F");
        assert_eq!(canonical("His\u{AD}panic"), "Hispanic");
        assert_eq!(canonical("ᴅᴍ me"), "DM me");
    }

    #[test]
    fn refused_classes() {
        assert_eq!(refused("plain text\nwith a newline"), None);
        assert_eq!(refused("tab\t"), Some(Refused::Control));
        assert_eq!(refused("\u{26A0}\u{FE0F} road closed"), None);
        assert_eq!(refused("a\u{FE0F}"), Some(Refused::Invisible));
        assert_eq!(refused("\u{26A0}\u{FE0F}\u{FE0F}"), Some(Refused::Invisible));
        for c in ['\u{AD}', '\u{34F}', '\u{2028}', '\u{2029}', '\u{3164}', '\u{FE0F}', '\u{E0041}', '\u{E0100}'] {
            assert_eq!(refused(&format!("a{c}b")), Some(Refused::Invisible), "{c:?}");
        }
    }
}
