//! The text-only policy: alerts and other messages carry short plain text
//! and nothing else.
//!
//! # Why
//!
//! - **Media in disguise.** Stoop never carries footage or images: there is
//!   no bytes field for content, and that alone is not enough, because media
//!   hides in text. A data URI, a base64 or hex blob, a link to a clip or a
//!   file name like `IMG_2231.JPG` smuggles (or points at) exactly the
//!   surveillance material the network refuses to spread. Each is refused
//!   with a named reason so clients can say what was wrong.
//! - **Links.** Refused unless a hood's charter allows them: a link is a way
//!   to attach media and to track who clicks.
//! - **Location privacy.** Alerts name coarse geohash cells. Coordinates in
//!   free text would undo that, so decimal lat/long pairs with three or more
//!   decimals (about 100 m), degrees-minutes(-seconds), `geo:` URIs and
//!   Open Location Codes ("plus codes") are refused. Coarse figures such as
//!   "40.7, -74.0" pass.
//! - **Invisible characters.** Control characters, bidi overrides and
//!   zero-width characters can make text display differently from what is
//!   checked and stored, so they are refused outright.
//! - **Profiling guard.** For categories about a person, a description that
//!   mentions race or ethnicity must also say what the person did and give
//!   at least two clothing or appearance details (the Nextdoor approach).
//!   Otherwise the alert describes someone by who they are, not by what they
//!   did, and would flag every neighbor who shares that trait.
//!
//! # How
//!
//! Every rule is a heuristic over a small scanner that walks the `&str` at
//! char boundaries (splits, byte scans of ASCII patterns), so no input can
//! make it panic. The rules are tuned to pass ordinary neighborhood text:
//! times (3:30, 5.30), addresses (No. 12, 5th & Oak), prices ($12.50),
//! abbreviations (e.g., p.m., St.), version numbers and long English words,
//! and to catch the encodings above. The rules are deterministic: every node
//! must reach the same verdict for the same text.

/// Which text field is being checked (for error messages).
pub type FieldName = &'static str;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextViolation {
    /// Over the field's byte cap.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// The field checked.
        field: FieldName,
        /// Its cap in bytes.
        max: usize,
    },
    /// Required but blank (empty or only whitespace).
    #[error("{field} is empty")]
    Empty {
        /// The field checked.
        field: FieldName,
    },
    /// A control or invisible formatting character (only newline is allowed,
    /// and not in single-line fields).
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The field checked.
        field: FieldName,
    },
    /// A data URI, a base64 or hex blob, or a media file name.
    #[error("{field} contains media (data URI or encoded blob)")]
    MediaNotAllowed {
        /// The field checked.
        field: FieldName,
    },
    /// A link, web address or email address (when the charter forbids links).
    #[error("{field} contains a link")]
    LinkNotAllowed {
        /// The field checked.
        field: FieldName,
    },
    /// Coordinates finer than a neighborhood cell.
    #[error("{field} contains precise coordinates")]
    PreciseLocation {
        /// The field checked.
        field: FieldName,
    },
    /// Describes a person by race or ethnicity without behavior and details.
    #[error("{field}: {reason}")]
    Profiling {
        /// The field checked.
        field: FieldName,
        /// What is missing, for the author.
        reason: &'static str,
    },
}

impl TextViolation {
    /// Stable snake_case code for metrics, API errors and verdicts.
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

/// The text policy a hood's charter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPolicy {
    /// Whether links (URLs, bare domains, email addresses) are allowed.
    pub allow_links: bool,
}

impl TextPolicy {
    /// Checks one field: length cap (bytes), required non-empty if
    /// `required`, then content rules. The first failure wins, in this
    /// order: too long, empty, control character, media, link (unless
    /// allowed), precise location.
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

    /// Like [`TextPolicy::check`] for single-line fields (headline, event,
    /// category...), which additionally refuse `'\n'` as a control
    /// character. The newline check comes first.
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

// ---------------------------------------------------------------------------
// Scanner helpers
// ---------------------------------------------------------------------------

/// Bidi overrides/isolates (U+202A–U+202E, U+2066–U+2069), zero-width and
/// directional marks (U+200B–U+200F), word joiner and invisible operators
/// (U+2060–U+2065) and the BOM: they make text render differently from the
/// bytes that were checked ("Trojan Source"), or hide characters inside a
/// word to slip past the rules below.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Whitespace-separated tokens with surrounding punctuation removed, and
/// then a trailing sentence `.` or `:` ("Elm St." → "Elm St", "dog:" → "dog").
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| {
                matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | ';' | '!' | '?' | '*')
            })
            .trim_end_matches(['.', ':'])
        })
        .filter(|t| !t.is_empty())
}

/// Maximal runs of characters matching `pred` (split at char boundaries).
fn runs(text: &str, pred: impl Fn(char) -> bool) -> impl Iterator<Item = &str> {
    text.split(move |c: char| !pred(c)).filter(|r| !r.is_empty())
}

/// ASCII case-insensitive prefix test that never slices off a char boundary.
fn has_prefix_ignore_case(t: &str, prefix: &str) -> bool {
    t.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn ascii_in(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Length of the leading run of bytes matching `pred`.
fn take_while(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| pred(b)).count()
}

// ---------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------

/// Base64 runs at least this long are blobs (40 chars = 30 bytes).
const MIN_BASE64_RUN: usize = 40;
/// Hex runs at least this long are blobs (32 digits = 16 bytes, an MD5 or
/// UUID-sized value and anything bigger).
const MIN_HEX_RUN: usize = 32;

/// File extensions that name images, video or audio.
const MEDIA_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff", "svg", "mp4", "mov", "m4v", "avi",
    "mkv", "webm", "3gp", "mp3", "wav", "m4a",
];

fn is_base64_char(c: char) -> bool {
    // Standard and URL-safe alphabets plus padding.
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

/// A long base64 run is a blob only if it mixes digits, upper and lower
/// case: English words, even very long ones, never do, while 40 random
/// base64 characters almost always do.
fn looks_like_base64_blob(run: &str) -> bool {
    run.len() >= MIN_BASE64_RUN
        && run.bytes().any(|b| b.is_ascii_digit())
        && run.bytes().any(|b| b.is_ascii_uppercase())
        && run.bytes().any(|b| b.is_ascii_lowercase())
}

/// A long hex run is a blob if it has a digit: letters-only runs are
/// screams ("AAAAAAAA...", "baaaad") or repeated letters, not data, while
/// 32 random hex digits always include a digit in practice.
fn looks_like_hex_blob(run: &str) -> bool {
    run.len() >= MIN_HEX_RUN && run.bytes().any(|b| b.is_ascii_digit())
}

/// RFC 2045 token characters, enough for MIME types and parameters.
fn is_mime_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b)
}

/// After a `data:` prefix: `[type/subtype](;param)*,` where either the type
/// or a `;base64` parameter is present ("data:image/png;base64,",
/// "data:text/plain,", "data:;base64,").
fn is_data_uri_body(rest: &[u8]) -> bool {
    let mut i = take_while(rest, is_mime_byte);
    let mut has_type = false;
    if i > 0 {
        if rest.get(i) != Some(&b'/') {
            return false;
        }
        let sub = take_while(rest.get(i + 1..).unwrap_or_default(), is_mime_byte);
        if sub == 0 {
            return false;
        }
        i += 1 + sub;
        has_type = true;
    }
    let mut base64 = false;
    while rest.get(i) == Some(&b';') {
        i += 1;
        let param = rest.get(i..).unwrap_or_default();
        let n = take_while(param, |b| is_mime_byte(b) || b == b'=');
        if n == 0 {
            return false;
        }
        base64 |= param.get(..n).is_some_and(|p| p.eq_ignore_ascii_case(b"base64"));
        i += n;
    }
    rest.get(i) == Some(&b',') && (has_type || base64)
}

/// A data URI anywhere in the text, even glued to other characters
/// (`src=data:image/png;base64,...`): the scheme is ASCII, so a byte scan
/// is safe and needs no char boundaries.
fn has_data_uri(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(5)
        .enumerate()
        .any(|(i, w)| w.eq_ignore_ascii_case(b"data:") && is_data_uri_body(bytes.get(i + 5..).unwrap_or_default()))
}

fn has_media(text: &str) -> bool {
    if has_data_uri(text) {
        return true;
    }
    // Most words have no '.' or ':'; skip them cheaply.
    for t in tokens(text).filter(|t| t.contains(['.', ':'])) {
        // A bare `data:` token naming a type or payload, even without the comma.
        if has_prefix_ignore_case(t, "data:") && t.get(5..).is_some_and(|rest| rest.contains(['/', ','])) {
            return true;
        }
        // A media file name, also inside a URL with a query ("clip.mp4?t=3").
        let path = t.split(['?', '#']).next().unwrap_or_default();
        if path.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && ascii_in(ext, MEDIA_EXTENSIONS)) {
            return true;
        }
    }
    runs(text, is_base64_char).any(looks_like_base64_blob)
        || runs(text, |c| c.is_ascii_hexdigit()).any(looks_like_hex_blob)
}

// ---------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------

/// Top-level domains recognised in bare domains ("ring.com/clip").
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "info", "biz", "xyz", "app", "dev", "tv", "ly", "gl", "gg", "link", "live",
    "cloud", "site", "online", "shop", "store", "tech", "page", "top", "club", "edu", "gov", "uk", "ca", "de", "fr",
    "nl", "eu", "au", "ru", "cn", "jp", "br", "es", "ch", "se", "pl", "onion",
];

/// Real TLDs that are also English words. "went.to" or "it.is" is a missed
/// space far more often than a link, so these count only with a path after
/// the host ("youtu.be/abc", "t.me/channel") or as an email host.
const WORD_TLDS: &[&str] = &["to", "me", "be", "us", "in", "it", "at", "so", "no", "is", "my", "am", "by", "as", "do"];

/// `host` is `label(.label)+` with a known TLD. Labels are 1–63 ASCII
/// letters, digits or `-`; the first is not all digits, so "5.30" and
/// "1.2.3" are not domains. `strong` admits [`WORD_TLDS`].
fn is_domain(host: &str, strong: bool) -> bool {
    let Some((_, tld)) = host.rsplit_once('.') else { return false };
    let ok_label = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (ascii_in(tld, TLDS) || (strong && ascii_in(tld, WORD_TLDS)))
        && host.split('.').all(ok_label)
        && !host.split('.').next().is_some_and(|first| first.chars().all(|c| c.is_ascii_digit()))
}

fn has_link(text: &str) -> bool {
    tokens(text).filter(|t| t.contains(['.', ':', '@'])).any(|t| {
        // Any `scheme://` (http, https, ftp, ...), `www.` or `mailto:`.
        if t.contains("://") || has_prefix_ignore_case(t, "www.") || has_prefix_ignore_case(t, "mailto:") {
            return true;
        }
        // Email addresses are links: they move the conversation off Stoop.
        if t.split_once('@').is_some_and(|(user, host)| !user.is_empty() && is_domain(host, true)) {
            return true;
        }
        // A bare domain, optionally with a path, query or fragment.
        let host_end = t.find(['/', '?', '#']).unwrap_or(t.len());
        let (host, rest) = t.split_at(host_end);
        if rest.is_empty() && is_sentence_join(host) {
            return false;
        }
        is_domain(host, !rest.is_empty())
    })
}

/// "Info.Tech meeting" or "the shop.Store opens": a missed space after a
/// full stop, where the next sentence starts with a word that happens to be
/// a TLD. Typed domains are lowercase (or all caps), so a Title-case last
/// label with no path is read as prose.
fn is_sentence_join(host: &str) -> bool {
    host.rsplit_once('.').is_some_and(|(_, last)| {
        let mut chars = last.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.clone().next().is_some()
            && chars.all(|c| c.is_ascii_lowercase())
    })
}

// ---------------------------------------------------------------------------
// Precise location
// ---------------------------------------------------------------------------

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

fn has_precise_location(text: &str) -> bool {
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

// ---------------------------------------------------------------------------
// Profiling guard
// ---------------------------------------------------------------------------

/// The reason given when the profiling guard refuses a description.
const PROFILING_REASON: &str =
    "describes a person by race or ethnicity without behavior and at least two clothing or appearance details";

/// Words that name a race or ethnicity by themselves.
const RACE_TERMS: &[&str] = &[
    "hispanic",
    "hispanics",
    "latino",
    "latinos",
    "latina",
    "latinas",
    "latinx",
    "latine",
    "asian",
    "asians",
    "arab",
    "arabs",
    "african",
    "africans",
    "african-american",
    "african-americans",
    "afro-american",
    "mexican",
    "mexicans",
    "indian",
    "indians",
    "caucasian",
    "caucasians",
    "blacks",
    "whites",
    "middle-eastern",
    "native-american",
    "biracial",
    "mixed-race",
    "ethnic",
    "indigenous",
    "aboriginal",
    "chinese",
    "korean",
    "japanese",
    "filipino",
    "vietnamese",
    "somali",
    "haitian",
    "jamaican",
    "dominican",
    "pakistani",
    "persian",
    "gypsy",
    "brown-skinned",
    "dark-skinned",
    "light-skinned",
    "olive-skinned",
    "black-skinned",
    "white-skinned",
    "tan-skinned",
    "dark-complected",
    "light-complected",
];

/// Two-word race or ethnicity terms.
const RACE_BIGRAMS: &[(&str, &str)] = &[
    ("middle", "eastern"),
    ("native", "american"),
    ("african", "american"),
    ("pacific", "islander"),
    ("puerto", "rican"),
    ("mixed", "race"),
    ("dark", "skinned"),
    ("light", "skinned"),
    ("olive", "skinned"),
    ("dark", "complexion"),
    ("light", "complexion"),
];

/// Colors that are also race words. They are a color when they describe a
/// thing ("black hoodie", "white van", "dressed in black", "the car was
/// white"), and a race mention otherwise ("black male", "suspect was white").
const COLOR_OR_RACE: &[&str] = &["black", "white", "brown"];

/// Things a color can describe: clothing, hair and features, vehicles and
/// common objects. A color word right before one of these is a color.
const OBJECT_NOUNS: &[&str] = &[
    // Clothing and carried items.
    "shirt",
    "shirts",
    "t-shirt",
    "t-shirts",
    "tshirt",
    "tee",
    "top",
    "hoodie",
    "hoodies",
    "hood",
    "sweatshirt",
    "sweater",
    "jacket",
    "jackets",
    "coat",
    "vest",
    "jersey",
    "parka",
    "windbreaker",
    "pants",
    "jeans",
    "shorts",
    "sweatpants",
    "joggers",
    "leggings",
    "overalls",
    "skirt",
    "dress",
    "uniform",
    "clothes",
    "clothing",
    "outfit",
    "hat",
    "hats",
    "cap",
    "caps",
    "beanie",
    "helmet",
    "bandana",
    "scarf",
    "mask",
    "masks",
    "gloves",
    "glasses",
    "sunglasses",
    "shoes",
    "shoe",
    "sneakers",
    "boots",
    "sandals",
    "socks",
    "backpack",
    "bag",
    "bags",
    "purse",
    "logo",
    "stripes",
    // Hair and features.
    "hair",
    "eyes",
    "beard",
    "mustache",
    "moustache",
    "goatee",
    // Vehicles and makes.
    "car",
    "cars",
    "truck",
    "trucks",
    "pickup",
    "van",
    "vans",
    "minivan",
    "sedan",
    "suv",
    "suvs",
    "coupe",
    "hatchback",
    "wagon",
    "jeep",
    "vehicle",
    "vehicles",
    "motorcycle",
    "motorbike",
    "moped",
    "bike",
    "bikes",
    "bicycle",
    "scooter",
    "skateboard",
    "toyota",
    "honda",
    "ford",
    "chevy",
    "chevrolet",
    "nissan",
    "bmw",
    "audi",
    "mercedes",
    "lexus",
    "kia",
    "hyundai",
    "subaru",
    "dodge",
    "mazda",
    "volkswagen",
    "vw",
    "tesla",
    "prius",
    "camry",
    "civic",
    "corolla",
    "acura",
    "buick",
    "gmc",
    "cadillac",
    "volvo",
    // Objects and animals.
    "box",
    "boxes",
    "package",
    "packages",
    "envelope",
    "trash",
    "bin",
    "bins",
    "bucket",
    "door",
    "gate",
    "fence",
    "house",
    "paint",
    "smoke",
    "tape",
    "sign",
    "flag",
    "plate",
    "plates",
    "windows",
    "tint",
    "rims",
    "phone",
    "flashlight",
    "crowbar",
    "gun",
    "knife",
    "bat",
    "tarp",
    "cart",
    "stroller",
    "dog",
    "dogs",
    "cat",
    "cats",
    "lab",
    "labrador",
    "puppy",
];

/// Words that may sit between a color and the thing it describes ("black
/// and gray hoodie", "white leather jacket", "dark blue 4-door sedan").
const COLOR_PHRASE_WORDS: &[&str] = &[
    "and",
    "or",
    "colored",
    "dark",
    "light",
    "bright",
    "pale",
    "navy",
    "neon",
    "solid",
    "matte",
    "metallic",
    "faded",
    "black",
    "white",
    "brown",
    "red",
    "blue",
    "green",
    "gray",
    "grey",
    "yellow",
    "orange",
    "purple",
    "pink",
    "tan",
    "beige",
    "silver",
    "gold",
    "maroon",
    "khaki",
    "camo",
    "olive",
    "teal",
    "leather",
    "denim",
    "baseball",
    "ski",
    "knit",
    "puffer",
    "puffy",
    "hooded",
    "zip-up",
    "long",
    "short",
    "long-sleeve",
    "short-sleeve",
    "sleeve",
    "sleeveless",
    "baggy",
    "oversized",
    "winter",
    "rain",
    "running",
    "tennis",
    "cargo",
    "track",
    "sweat",
    "nike",
    "adidas",
    "2-door",
    "4-door",
    "two-door",
    "four-door",
    "old",
    "older",
    "new",
    "newer",
    "small",
    "large",
    "big",
];

/// People; they stop the look-back in "the car was white" so that "the
/// driver was white" stays a race mention.
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
    "driver",
    "passenger",
    "subject",
    "someone",
    "somebody",
    "he",
    "she",
    "they",
];

/// Words saying what a person did.
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
    "peeking",
    "peeked",
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
    "prying",
    "pried",
    "jiggling",
    "jiggled",
    "ringing",
    "rang",
    "snatched",
    "snatching",
    "punched",
    "assaulted",
    "attacked",
    "threatened",
    "threatening",
    "vandalizing",
    "shoplifting",
];

/// Clothing and appearance details; at least two distinct ones are needed.
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
    "jersey",
    "parka",
    "windbreaker",
    "pants",
    "jeans",
    "shorts",
    "sweatpants",
    "joggers",
    "leggings",
    "overalls",
    "skirt",
    "dress",
    "hat",
    "cap",
    "beanie",
    "hood",
    "helmet",
    "bandana",
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
    "goatee",
    "mustache",
    "moustache",
    "tattoo",
    "tattoos",
    "scar",
    "hair",
    "bald",
    "blond",
    "blonde",
    "curly",
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

fn is_word_in(word: Option<&str>, list: &[&str]) -> bool {
    word.is_some_and(|w| list.contains(&w))
}

/// Whether `words[i]`, a [`COLOR_OR_RACE`] word, is used as a color.
fn used_as_color(words: &[String], i: usize) -> bool {
    let word = |j: usize| words.get(j).map(String::as_str);
    // Before a thing, maybe after a few more color words or adjectives:
    // "black hoodie", "white and gray Honda", "black leather jacket".
    for j in i + 1..=i + 4 {
        match word(j) {
            w if is_word_in(w, OBJECT_NOUNS) => return true,
            w if is_word_in(w, COLOR_PHRASE_WORDS) => {}
            _ => break,
        }
    }
    let Some(before) = i.checked_sub(1) else { return false };
    // Right after a thing: "hoodie, black with white stripes".
    if is_word_in(word(before), OBJECT_NOUNS) {
        return true;
    }
    // Clothing: "in black", "wearing all black", "dressed in white".
    let clothing_at = if word(before) == Some("all") { before.checked_sub(1) } else { Some(before) };
    if is_word_in(clothing_at.and_then(word), &["in", "wearing", "wore", "dressed"]) {
        return true;
    }
    // Predicate of a thing: "the car was white", "hoodie that is black";
    // a person found first ("the driver was black") keeps it a race mention.
    if is_word_in(word(before), &["was", "is", "were", "are"]) {
        for k in (before.saturating_sub(3)..before).rev() {
            if is_word_in(word(k), PERSON_NOUNS) {
                return false;
            }
            if is_word_in(word(k), OBJECT_NOUNS) {
                return true;
            }
        }
    }
    false
}

fn mentions_race(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let w = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        RACE_TERMS.contains(&w)
            || RACE_BIGRAMS.iter().any(|&(a, b)| w == a && next == Some(b))
            || (COLOR_OR_RACE.contains(&w) && !used_as_color(words, i))
    })
}

/// Posting guard against racial profiling (Nextdoor-style): for categories
/// about a person, a description that mentions race or ethnicity must also
/// describe behavior (what the person did) and at least two distinct
/// clothing or appearance details. Descriptions without race terms always
/// pass.
///
/// Words are the text split on every character that is neither
/// alphanumeric nor `-`, lowercased; matching is whole-word.
pub fn check_profiling(field: FieldName, description: &str) -> Result<(), TextViolation> {
    let words: Vec<String> = description
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if !mentions_race(&words) {
        return Ok(());
    }
    let behavior = words.iter().any(|w| BEHAVIOR_TERMS.contains(&w.as_str()));
    let mut details: Vec<&str> = words.iter().map(String::as_str).filter(|w| APPEARANCE_TERMS.contains(w)).collect();
    details.sort_unstable();
    details.dedup();
    if behavior && details.len() >= 2 {
        Ok(())
    } else {
        Err(TextViolation::Profiling { field, reason: PROFILING_REASON })
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

    fn profiling(text: &str) -> &'static str {
        match check_profiling("description", text) {
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
            "pneumonoultramicroscopicsilicovolcanoconiosis is a word",
            "Meeting moved to 7.30, e.g. bring chairs. Cost $12.50 each, version 1.2.3 of the flyer.",
            "Fire at 1234 Maple Ave.\nFirefighters on scene; road closed between 2nd and 4th.",
            "Coyote seen near the school, 40.7 N of the park (roughly).",
            "Went.to the store, then it.is closed.Then we left at 5.30 a.m.",
            "Power out on the 1200 block of Pine (No.5 transformer). ETA 10:45 p.m. per the utility.",
            "Road closed i.e. no through traffic; detour via St. Mark's Pl. for approx. 2 hrs.",
            "Bear on Hwy 9 near mile marker 12.5, 5.5 km north of town, about 3:15.",
            "Suspicious car, plate starts with 7ABC, circled the block 3x between 9 and 9:30 pm.",
            "Café on Rue de la Paix is collecting coats 🧥 for the winter drive — 日本語もOK",
            "Call the non-emergency line at 555-123-4567 if you see it again!",
            "Flooding: 2-3 ft of water at Oak/5th. Sandbags at the fire station (12-14 per car).",
            "Temperature dropping to 28°F tonight; bring pets inside.",
            "ThisIsAVeryLongHashtagAboutOurNeighborhoodWatch meeting",
        ] {
            assert_eq!(code(STRICT, text), "ok", "{text}");
        }
    }

    #[test]
    fn length_and_empty() {
        assert_eq!(
            STRICT.check("headline", "abcdef", 5, true),
            Err(TextViolation::TooLong { field: "headline", max: 5 })
        );
        assert_eq!(STRICT.check("headline", "abcde", 5, true), Ok(()));
        // The cap is in bytes, not chars: "é" is two bytes.
        assert_eq!(code_with_cap("ééé", 5), "too_long");
        assert_eq!(STRICT.check("headline", "  \n ", 5, true), Err(TextViolation::Empty { field: "headline" }));
        assert_eq!(STRICT.check("headline", "", 5, true), Err(TextViolation::Empty { field: "headline" }));
        assert_eq!(STRICT.check("note", "", 5, false), Ok(()));
        assert_eq!(STRICT.check("note", "   ", 5, false), Ok(()));
        // Too long wins over everything else.
        assert_eq!(code_with_cap("data:image/png;base64,AAAA", 5), "too_long");
    }

    fn code_with_cap(text: &str, cap: usize) -> &'static str {
        match STRICT.check("f", text, cap, true) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn control_and_invisible_characters() {
        for bad in [
            "bell\u{7}",
            "tab\there",
            "cr\r\nlf",
            "nul\0",
            "del\u{7F}",
            "c1\u{85}",
            "rtl\u{202E}txt",
            "isolate\u{2066}x\u{2069}",
            "zero\u{200B}width",
            "zwnj\u{200C}",
            "zwj\u{200D}",
            "bom\u{FEFF}",
        ] {
            assert_eq!(code(STRICT, bad), "control_character", "{bad:?}");
        }
        assert_eq!(code(STRICT, "two\nlines\nare fine here"), "ok");
        assert_eq!(
            STRICT.check_line("headline", "two\nlines", 50, true).map_err(|e| e.code()),
            Err("control_character")
        );
        assert_eq!(STRICT.check_line("headline", "one line", 50, true), Ok(()));
        // A zero-width space cannot be used to split a link past the scanner.
        assert_eq!(code(STRICT, "ring\u{200B}.com"), "control_character");
    }

    #[test]
    fn media_in_disguise() {
        for text in [
            "see data:image/png;base64,iVBORw0KGgo",
            "DATA:video/mp4,AAAA",
            "<img src=data:image/jpeg;base64,/9j/4AAQ>",
            "xdata:;base64,QUJD",
            "plain data:text/plain;charset=utf-8,hello",
            "data:image/png",
            "blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk",
            "url-safe aGVsbG8td29ybGQtdGhpcy1pcy1hLXRlc3Qtb2YtYmFzZTY0LXVybA_-Zz9",
            "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "uuid 550e8400e29b41d4a716446655440000",
            "digits 12345678901234567890123456789012",
            "footage in cam_front_0412.mp4 shows it",
            "photo: IMG_2231.JPG",
            "clip.mov?t=30 has him",
            "(doorbell.heic)",
        ] {
            assert_eq!(code(LINKS_OK, text), "media_not_allowed", "{text}");
        }
        for text in [
            "Data: 5 cars, 2 trucks",
            "metadata: none",
            "the data is in, see the .jpg later",
            "uuid-ish 550e8400-e29b-41d4-a716-446655440000 is fine",
            "Supercalifragilisticexpialidocious",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!!! a bear",
            "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "1234567890 1234567890 1234567890 1234567890",
        ] {
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
    }

    #[test]
    fn links_unless_the_charter_allows_them() {
        for text in [
            "Footage at https://cams.example.com/clip/123",
            "HTTP://EXAMPLE.COM",
            "see www.example.org",
            "clip on ring.com/share/abc",
            "Check Ring.com for updates",
            "(nextdoor.com)",
            "email me at joe@example.com",
            "mailto:joe",
            "ftp://files.example.net/x",
            "irc://chat.example",
            "join t.me/ourhood",
            "watch youtu.be/dQw4w9WgXcQ",
            "mail anna@mail.me",
            "see bit.ly/abc",
        ] {
            assert_eq!(code(STRICT, text), "link_not_allowed", "{text}");
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
        for text in [
            "It ended.Then the alarm went off.",
            "Score: 3-2. Info.Tech meeting after; the shop.Store opens at 9",
            "e.g. a.m. p.m. St. No.5 5.30 U.S. D.C. i.e.",
            "went.to bed, it.is late",
            "version 1.2.3 and 10.0.0.1",
            "meet @5pm at Joe's",
            "ellipsis...so what",
            "report.pdf",
        ] {
            assert_eq!(code(STRICT, text), "ok", "{text}");
        }
    }

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

    #[test]
    fn profiling_guard_refuses_race_without_behavior_and_details() {
        for text in [
            "Suspicious black male walking around",
            "Hispanic guy near the cars",
            "Two middle eastern men in a van",
            "Suspect was black, about 20.",
            "The driver was white.",
            "A Black teen, tall, trying car doors",
            "Native American woman in a red jacket",
            "light-skinned man with a hat and jeans",
            "Dark skinned guy, hoodie, jeans",
            "Asian lady taking pictures",
            "brown guy looking into cars wearing a cap",
        ] {
            assert_eq!(profiling(text), "profiling", "{text}");
        }
        assert_eq!(
            check_profiling("description", "Asian man"),
            Err(TextViolation::Profiling { field: "description", reason: PROFILING_REASON })
        );
    }

    #[test]
    fn profiling_guard_allows_complete_or_race_free_descriptions() {
        for text in [
            "Black male, about 6 ft tall, gray hoodie and red backpack, was trying car door handles on Elm.",
            "Hispanic woman in a blue jacket and white sneakers took a package from the porch at 3:30.",
            "Person in a black hoodie and white sneakers was checking car doors.",
            "White van parked with its engine running all night.",
            "Man trying door handles, blue jacket, jeans and a cap.",
            "Someone in a black and gray hoodie with black leather gloves pried the gate.",
            "Tall man dressed all in black with a backpack climbed the fence.",
            "The car was white and the hoodie was black; he ran toward the park wearing a cap.",
            "Guy with brown hair and a black cap grabbed a bike.",
            "Package stolen by a person in a white Toyota.",
            "Nobody saw anything, but the porch light was broken.",
            "",
        ] {
            assert_eq!(profiling(text), "ok", "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}", links in any::<bool>()) {
            let p = TextPolicy { allow_links: links };
            let _ = p.check("f", &s, 10_000, false);
            let _ = p.check_line("f", &s, 10, true);
            let _ = check_profiling("f", &s);
        }

        #[test]
        fn never_panics_on_arbitrary_chars(chars in prop::collection::vec(any::<char>(), 0..120)) {
            let s: String = chars.into_iter().collect();
            let _ = STRICT.check("f", &s, 10_000, true);
            let _ = check_profiling("f", &s);
        }

        #[test]
        fn lowercase_word_sentences_pass(s in "[a-z]{1,12}( [a-z]{1,12}){0,30}") {
            prop_assert_eq!(STRICT.check("f", &s, 10_000, true), Ok(()));
        }

        #[test]
        fn a_data_uri_anywhere_is_media(
            s in "[a-z]{1,12}( [a-z]{1,12}){0,10}",
            at in any::<prop::sample::Index>(),
            links in any::<bool>(),
        ) {
            // Any char boundary, also inside a word.
            let i = at.index(s.len() + 1);
            let text = format!("{}data:image/png;base64,iVBORw0KGgo{}", &s[..i], &s[i..]);
            let p = TextPolicy { allow_links: links };
            prop_assert_eq!(p.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("media_not_allowed"));
        }

        #[test]
        fn a_url_anywhere_is_a_link_unless_allowed(
            s in "[a-z]{1,12}( [a-z]{1,12}){0,10}",
            at in any::<prop::sample::Index>(),
            host in "[a-z]{1,10}(\\.[a-z]{1,8})?\\.(com|org|net|io|be|me)",
            path in "(/[a-z0-9]{1,8}){0,3}",
        ) {
            let i = at.index(s.len() + 1);
            let text = format!("{} https://{host}{path} {}", &s[..i], &s[i..]);
            prop_assert_eq!(STRICT.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("link_not_allowed"));
            prop_assert_eq!(LINKS_OK.check("f", &text, 10_000, true), Ok(()));
        }
    }
}
