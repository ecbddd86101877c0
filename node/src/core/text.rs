//! The text-only policy: alerts carry short plain text and nothing else.
//!
//! Stoop never carries footage, images or precise locations, and a schema
//! without media fields is not enough on its own: media can hide in text as
//! data URIs, base64 or hex blobs, links to footage, or coordinates. Each of
//! those is refused with a named reason. Links are refused by default (a hood
//! can allow them in its charter). The profiling guard keeps alerts about a
//! person from describing them by race or ethnicity alone.
//!
//! The rules are heuristics over tokens, tuned to pass ordinary neighborhood
//! text (times like 3:30, addresses like No. 12, prices like $12.50,
//! abbreviations like e.g. and p.m.) and to catch the encodings above.

/// Which text field is being checked (for error messages).
pub type FieldName = &'static str;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextViolation {
    /// Over the byte cap.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// Field.
        field: FieldName,
        /// Cap.
        max: usize,
    },
    /// Required but blank.
    #[error("{field} is empty")]
    Empty {
        /// Field.
        field: FieldName,
    },
    /// A control or invisible formatting character (only newline is allowed,
    /// and not in single-line fields).
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// Field.
        field: FieldName,
    },
    /// A data URI, an encoded blob or a media file name.
    #[error("{field} contains media (data URI, encoded blob or media file)")]
    MediaNotAllowed {
        /// Field.
        field: FieldName,
    },
    /// A link, web address or email address.
    #[error("{field} contains a link")]
    LinkNotAllowed {
        /// Field.
        field: FieldName,
    },
    /// Coordinates finer than a neighborhood cell.
    #[error("{field} contains precise coordinates")]
    PreciseLocation {
        /// Field.
        field: FieldName,
    },
    /// Describes a person by race or ethnicity only.
    #[error("{field}: {reason}")]
    Profiling {
        /// Field.
        field: FieldName,
        /// Why.
        reason: &'static str,
    },
}

impl TextViolation {
    /// Stable snake_case code for metrics and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Empty { .. } => "empty",
            Self::ControlCharacter { .. } => "control_character",
            Self::MediaNotAllowed { .. } => "media_not_allowed",
            Self::LinkNotAllowed { .. } => "link_not_allowed",
            Self::PreciseLocation { .. } => "precise_location",
            Self::Profiling { .. } => "profiling",
        }
    }
}

/// The policy a charter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPolicy {
    /// Whether links are allowed.
    pub allow_links: bool,
}

/// Base64 runs at least this long are blobs (40 chars = 30 bytes).
const MIN_BASE64_RUN: usize = 40;
/// Hex runs at least this long are blobs (32 digits = 16 bytes).
const MIN_HEX_RUN: usize = 32;

const MEDIA_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff", "svg", "mp4", "mov", "m4v", "avi",
    "mkv", "webm", "3gp", "mp3", "wav", "m4a",
];

/// Top-level domains recognised in bare domains ("ring.com/clip"). English
/// words that are also TLDs (to, me, in, it, at, be, us, so, no) are left
/// out on purpose: "went.to" is a typo far more often than a link.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "info", "biz", "xyz", "app", "dev", "tv", "ly", "gl", "gg", "link", "live",
    "cloud", "site", "online", "shop", "store", "tech", "page", "top", "club", "edu", "gov", "uk", "ca", "de", "fr",
    "nl", "eu", "au", "ru", "cn", "jp", "br", "es", "ch", "se", "pl", "onion",
];

fn is_invisible(c: char) -> bool {
    // Bidi overrides/isolates and zero-width characters disguise content.
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

/// Maximal runs of characters matching `pred`.
fn runs(text: &str, pred: impl Fn(char) -> bool) -> impl Iterator<Item = &str> {
    text.split(move |c: char| !pred(c)).filter(|r| !r.is_empty())
}

fn looks_like_base64_blob(run: &str) -> bool {
    run.len() >= MIN_BASE64_RUN
        && run.bytes().any(|b| b.is_ascii_digit())
        && run.bytes().any(|b| b.is_ascii_uppercase())
        && run.bytes().any(|b| b.is_ascii_lowercase())
}

/// Whitespace-separated tokens with surrounding punctuation removed.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace().map(|t| {
        t.trim_matches(|c: char| {
            matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | ';' | '!' | '?' | '*')
        })
        .trim_end_matches(['.', ':'])
    })
}

fn has_prefix_ignore_case(t: &str, prefix: &str) -> bool {
    t.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn has_media(text: &str) -> bool {
    // Most words have no '.' or ':'; skip them without allocating.
    for t in tokens(text).filter(|t| t.contains(['.', ':'])) {
        if has_prefix_ignore_case(t, "data:") && (t[5..].contains('/') || t[5..].contains(',')) {
            return true;
        }
        if t.rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && MEDIA_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(ext)))
        {
            return true;
        }
    }
    runs(text, is_base64_char).any(looks_like_base64_blob)
        || runs(text, |c| c.is_ascii_hexdigit()).any(|r| r.len() >= MIN_HEX_RUN)
}

fn is_domain(host: &str) -> bool {
    let Some((_, tld)) = host.rsplit_once('.') else { return false };
    let ok_label = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    TLDS.iter().any(|t| t.eq_ignore_ascii_case(tld))
        && host.split('.').all(ok_label)
        && !host.split('.').next().is_some_and(|first| first.chars().all(|c| c.is_ascii_digit()))
}

fn has_link(text: &str) -> bool {
    tokens(text).filter(|t| t.contains(['.', ':', '@'])).any(|t| {
        if t.contains("://") || has_prefix_ignore_case(t, "www.") || has_prefix_ignore_case(t, "mailto:") {
            return true;
        }
        if t.split_once('@').is_some_and(|(user, host)| !user.is_empty() && is_domain(host)) {
            return true;
        }
        is_domain(t.split(['/', '?', '#']).next().unwrap_or(""))
    })
}

/// A decimal degree with at least three fractional digits (~100 m).
fn precise_numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let mut j = i;
        if bytes[j] == b'-' || bytes[j] == b'+' {
            j += 1;
        }
        let int_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        let int_len = j - int_start;
        let preceded_by_digit = start > 0 && (bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b'.');
        if (1..=3).contains(&int_len) && !preceded_by_digit && j < bytes.len() && bytes[j] == b'.' {
            let frac_start = j + 1;
            let mut k = frac_start;
            while k < bytes.len() && bytes[k].is_ascii_digit() {
                k += 1;
            }
            if k - frac_start >= 3 {
                found.push((start, k));
                i = k;
                continue;
            }
        }
        i = if j > i { j } else { i + 1 };
    }
    found
}

fn is_plus_code(token: &str) -> bool {
    const ALPHABET: &str = "23456789CFGHJMPQRVWX";
    let upper = token.to_ascii_uppercase();
    let Some((head, tail)) = upper.split_once('+') else { return false };
    head.len() == 8 && (2..=3).contains(&tail.len()) && head.chars().chain(tail.chars()).all(|c| ALPHABET.contains(c))
}

fn has_precise_location(text: &str) -> bool {
    let numbers = precise_numbers(text);
    for pair in numbers.windows(2) {
        let gap = &text[pair[0].1..pair[1].0];
        if gap.chars().count() <= 4
            && gap
                .chars()
                .all(|c| matches!(c, ' ' | ',' | ';' | '/' | '°' | 'N' | 'S' | 'E' | 'W' | 'n' | 's' | 'e' | 'w'))
        {
            return true;
        }
    }
    // Degrees and minutes: 40°42'
    for (i, _) in text.match_indices('°') {
        let rest = &text[i + '°'.len_utf8()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && matches!(rest[digits..].chars().next(), Some('\'' | '′' | '’')) {
            return true;
        }
    }
    tokens(text).filter(|t| t.contains([':', '+'])).any(|t| {
        (has_prefix_ignore_case(t, "geo:") && t[4..].starts_with(|c: char| c.is_ascii_digit() || c == '-'))
            || is_plus_code(t)
    })
}

impl TextPolicy {
    /// Checks one field: byte cap, blank if required, then content rules.
    pub fn check(&self, field: FieldName, text: &str, max_len: usize, required: bool) -> Result<(), TextViolation> {
        if text.len() > max_len {
            return Err(TextViolation::TooLong { field, max: max_len });
        }
        if required && text.trim().is_empty() {
            return Err(TextViolation::Empty { field });
        }
        if text.chars().any(|c| (c.is_control() && c != '\n') || is_invisible(c)) {
            return Err(TextViolation::ControlCharacter { field });
        }
        if has_media(text) {
            return Err(TextViolation::MediaNotAllowed { field });
        }
        if !self.allow_links && has_link(text) {
            return Err(TextViolation::LinkNotAllowed { field });
        }
        if has_precise_location(text) {
            return Err(TextViolation::PreciseLocation { field });
        }
        Ok(())
    }

    /// Like [`TextPolicy::check`] for single-line fields, which also refuse newlines.
    pub fn check_line(
        &self,
        field: FieldName,
        text: &str,
        max_len: usize,
        required: bool,
    ) -> Result<(), TextViolation> {
        if text.contains('\n') {
            return Err(TextViolation::ControlCharacter { field });
        }
        self.check(field, text, max_len, required)
    }
}

const RACE_TERMS: &[&str] = &[
    "hispanic",
    "latino",
    "latina",
    "latinx",
    "asian",
    "arab",
    "african",
    "mexican",
    "indian",
    "caucasian",
    "brown-skinned",
    "dark-skinned",
    "light-skinned",
    "olive-skinned",
    "black-skinned",
    "white-skinned",
];
/// Words that can be a color or a race: they count as race only before a
/// word for a person ("black male"), not before an object ("black hoodie").
const COLOR_OR_RACE: &[&str] = &["black", "white", "brown"];
const RACE_BIGRAMS: &[(&str, &str)] = &[("middle", "eastern"), ("native", "american"), ("pacific", "islander")];
const PERSON_NOUNS: &[&str] = &[
    "man",
    "men",
    "male",
    "males",
    "woman",
    "women",
    "female",
    "females",
    "guy",
    "guys",
    "person",
    "people",
    "kid",
    "kids",
    "teen",
    "teens",
    "teenager",
    "teenagers",
    "boy",
    "boys",
    "girl",
    "girls",
    "suspect",
    "suspects",
    "individual",
    "individuals",
    "dude",
    "dudes",
    "lady",
    "ladies",
    "gentleman",
    "youth",
    "youths",
    "adult",
    "adults",
];
const BEHAVIOR_TERMS: &[&str] = &[
    "trying",
    "tried",
    "opened",
    "opening",
    "entered",
    "entering",
    "took",
    "taking",
    "stole",
    "stealing",
    "broke",
    "breaking",
    "carrying",
    "carried",
    "running",
    "ran",
    "climbing",
    "climbed",
    "checking",
    "checked",
    "pulled",
    "pulling",
    "knocking",
    "knocked",
    "followed",
    "following",
    "drove",
    "driving",
    "walked",
    "walking",
    "hiding",
    "hid",
    "threw",
    "throwing",
    "grabbed",
    "grabbing",
    "looking",
    "looked",
    "peering",
    "jumped",
    "jumping",
    "loitering",
    "smashed",
    "smashing",
    "picked",
    "picking",
    "kicked",
    "kicking",
    "yelling",
    "shouting",
    "fled",
    "fleeing",
    "left",
    "approached",
    "approaching",
    "photographing",
    "filming",
    "tampering",
    "removed",
    "removing",
    "loading",
    "unloading",
];
const APPEARANCE_TERMS: &[&str] = &[
    "shirt",
    "t-shirt",
    "tshirt",
    "hoodie",
    "hooded",
    "sweatshirt",
    "sweater",
    "jacket",
    "coat",
    "vest",
    "pants",
    "jeans",
    "shorts",
    "skirt",
    "dress",
    "hat",
    "cap",
    "beanie",
    "hood",
    "shoes",
    "sneakers",
    "boots",
    "sandals",
    "backpack",
    "bag",
    "glasses",
    "sunglasses",
    "mask",
    "gloves",
    "scarf",
    "uniform",
    "tall",
    "short",
    "beard",
    "mustache",
    "moustache",
    "tattoo",
    "tattoos",
    "hair",
    "bald",
    "ponytail",
    "braids",
    "dreadlocks",
    "heavyset",
    "slim",
    "thin",
    "stocky",
    "build",
    "limp",
    "bicycle",
    "bike",
    "scooter",
    "skateboard",
    "logo",
    "stripes",
    "striped",
];

/// The profiling guard for categories about a person: a description that
/// mentions race or ethnicity must also say what the person did and give at
/// least two clothing or appearance details; otherwise it describes someone
/// only by who they are.
pub fn check_profiling(field: FieldName, description: &str) -> Result<(), TextViolation> {
    let words: Vec<String> = description
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mentions_race = words.iter().enumerate().any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str);
        RACE_TERMS.contains(&w.as_str())
            || (COLOR_OR_RACE.contains(&w.as_str()) && next.is_some_and(|n| PERSON_NOUNS.contains(&n)))
            || RACE_BIGRAMS.iter().any(|(a, b)| w == a && next == Some(b))
    });
    if !mentions_race {
        return Ok(());
    }
    let behavior = words.iter().any(|w| BEHAVIOR_TERMS.contains(&w.as_str()));
    let mut appearance: Vec<&str> = words.iter().map(String::as_str).filter(|w| APPEARANCE_TERMS.contains(w)).collect();
    appearance.sort_unstable();
    appearance.dedup();
    if behavior && appearance.len() >= 2 {
        Ok(())
    } else {
        Err(TextViolation::Profiling {
            field,
            reason: "describes a person by race or ethnicity without what they did and at least two clothing or appearance details",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRICT: TextPolicy = TextPolicy { allow_links: false };
    const LINKS_OK: TextPolicy = TextPolicy { allow_links: true };

    fn code(p: TextPolicy, text: &str) -> &'static str {
        match p.check("description", text, 4000, true) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn ordinary_neighborhood_text_passes() {
        for text in [
            "Package stolen from porch on Elm St around 3:30 p.m.; brown box, about 2 ft.",
            "Water main break at 5th & Oak, avoid the area until 6 pm",
            "Lost dog: golden retriever, answers to Max, red collar, No. 12 tag",
            "Supercalifragilisticexpialidocious antidisestablishmentarianism",
            "Meeting moved to 7.30, e.g. bring chairs. Cost $12.50 each, version 1.2.3 of the flyer.",
            "Fire at 1234 Maple Ave.\nFirefighters on scene; road closed between 2nd and 4th.",
            "Coyote seen near the school, 40.7 N of the park (roughly).",
            "Went.to the store",
        ] {
            assert_eq!(code(STRICT, text), "ok", "{text}");
        }
    }

    #[test]
    fn length_blank_and_control_characters() {
        assert_eq!(
            STRICT.check("headline", "abcdef", 5, true),
            Err(TextViolation::TooLong { field: "headline", max: 5 })
        );
        assert_eq!(STRICT.check("headline", "  \n ", 5, true), Err(TextViolation::Empty { field: "headline" }));
        assert_eq!(STRICT.check("note", "", 5, false), Ok(()));
        for bad in ["bell\u{7}", "tab\there", "cr\r\nlf", "rtl\u{202E}txt", "zero\u{200B}width", "bom\u{FEFF}"] {
            assert_eq!(code(STRICT, bad), "control_character", "{bad:?}");
        }
        assert_eq!(
            STRICT.check_line("headline", "two\nlines", 50, true).map_err(|e| e.code()),
            Err("control_character")
        );
    }

    #[test]
    fn media_in_disguise() {
        for text in [
            "see data:image/png;base64,iVBORw0KGgo",
            "DATA:video/mp4,AAAA",
            "blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk",
            "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "footage in cam_front_0412.mp4 shows it",
            "photo: IMG_2231.JPG",
        ] {
            assert_eq!(code(LINKS_OK, text), "media_not_allowed", "{text}");
        }
    }

    #[test]
    fn links_unless_the_charter_allows_them() {
        for text in [
            "Footage at https://cams.example.com/clip/123",
            "see www.example.org",
            "clip on ring.com/share/abc",
            "email me at joe@example.com",
            "ftp://files.example.net/x",
        ] {
            assert_eq!(code(STRICT, text), "link_not_allowed", "{text}");
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
    }

    #[test]
    fn precise_coordinates() {
        for text in [
            "It happened at 40.71280, -74.00600 last night",
            "40.7128 -74.0060",
            "40.7128N 74.0060W",
            "40°42'46\"N 74°0'22\"W",
            "geo:40.7128,-74.0060",
            "plus code 87G8Q2PQ+96",
        ] {
            assert_eq!(code(STRICT, text), "precise_location", "{text}");
        }
        for text in ["40.7, -74.0 is the city", "12:30 at house 1432", "5.5 km away", "version 1.2.3"] {
            assert_eq!(code(STRICT, text), "ok", "{text}");
        }
    }

    #[test]
    fn profiling_guard() {
        let refused =
            ["Suspicious black male walking around", "Hispanic guy near the cars", "Two middle eastern men in a van"];
        for text in refused {
            assert_eq!(check_profiling("description", text).map_err(|e| e.code()), Err("profiling"), "{text}");
        }
        let allowed = [
            "Black male, about 6 ft tall, gray hoodie and red backpack, was trying car door handles on Elm.",
            "Person in a black hoodie and white sneakers was checking car doors.",
            "White van parked with its engine running all night.",
            "Man trying door handles, blue jacket, jeans and a cap.",
        ];
        for text in allowed {
            assert_eq!(check_profiling("description", text), Ok(()), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}", links in any::<bool>()) {
            let _ = TextPolicy { allow_links: links }.check("f", &s, 10_000, false);
            let _ = check_profiling("f", &s);
        }

        #[test]
        fn plain_lowercase_words_pass(s in "[a-z]{1,12}( [a-z]{1,12}){0,30}") {
            prop_assert_eq!(STRICT.check("f", &s, 10_000, true), Ok(()));
        }

        #[test]
        fn a_data_uri_anywhere_is_media(s in "[a-z]{1,12}( [a-z]{1,12}){0,10}", at in any::<prop::sample::Index>()) {
            let words: Vec<&str> = s.split(' ').collect();
            let i = at.index(words.len() + 1);
            let mut out: Vec<&str> = words[..i].to_vec();
            out.push("data:image/png;base64,iVBORw0KGgo");
            out.extend(&words[i..]);
            prop_assert_eq!(STRICT.check("f", &out.join(" "), 10_000, true).map_err(|e| e.code()), Err("media_not_allowed"));
        }

        #[test]
        fn a_url_anywhere_is_a_link_unless_allowed(s in "[a-z]{1,12}( [a-z]{1,12}){0,10}", host in "[a-z]{1,10}\\.(com|org|net)") {
            let text = format!("{s} https://{host}/clip {s}");
            prop_assert_eq!(STRICT.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("link_not_allowed"));
            prop_assert_eq!(LINKS_OK.check("f", &text, 10_000, true), Ok(()));
        }
    }
}
