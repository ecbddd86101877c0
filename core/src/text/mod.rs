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
//!
//! # Layout
//!
//! - [`TextPolicy`] (here): the per-field checks, in order.
//! - `scan`: the char-boundary-safe scanner the rules share.
//! - `media`: data URIs, base64/hex blobs, media file names.
//! - `links`: URLs, bare domains, email addresses.
//! - `location`: precise coordinates, `geo:` URIs, plus codes.
//! - `profiling`: the profiling guard, [`check_profiling`].
//! - `words`: the word lists the profiling guard matches against.

mod links;
mod location;
mod media;
mod profiling;
mod scan;
mod words;

pub use profiling::check_profiling;

use links::has_link;
use location::has_precise_location;
use media::has_media;
use scan::is_invisible;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) const STRICT: TextPolicy = TextPolicy { allow_links: false };
    pub(super) const LINKS_OK: TextPolicy = TextPolicy { allow_links: true };

    /// The code `p` gives a description field, or "ok".
    pub(super) fn code(p: TextPolicy, text: &str) -> &'static str {
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

    }
}
