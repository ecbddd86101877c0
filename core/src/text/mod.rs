//! The text-only policy: alerts and other messages carry short plain text
//! and nothing else.
//!
//! # Why
//!
//! - **Media in disguise.** Stoop never carries footage or images: there is
//!   no bytes field for content, and that alone is not enough, because media
//!   hides in text. A data URI, a base64, base32 or hex blob (also split
//!   into short groups), or a file name like `IMG_2231.JPG` smuggles (or
//!   points at) exactly the surveillance material the network refuses to
//!   spread. Each is refused with a named reason so clients can say what
//!   was wrong.
//! - **Footage hand-offs.** "DM me for the clip" moves the footage off the
//!   network instead: a media word with a contact or a meeting is refused.
//! - **Links.** Refused unless a hood's charter allows them: a link is a way
//!   to attach media and to track who clicks. Any domain under the public
//!   suffix list, defanged forms, IP-literal URLs and `host:port`.
//! - **Personal information.** Phone numbers and e-mail addresses identify
//!   a person; in an alert about someone else they are doxxing.
//! - **Location privacy.** Alerts name coarse geohash cells. Coordinates in
//!   any notation, map URL parameters, fine geohashes, what3words triples,
//!   plus codes and street addresses with a house number would undo that.
//!   Hundred blocks ("the 1200 block of Oak Street") and coarse figures
//!   ("40.7, -74.0") pass.
//! - **Invisible characters.** Control characters, format characters,
//!   variation selectors, tag characters and separators can make text
//!   display differently from what is checked, split a word past a rule or
//!   carry data unseen, so they are refused outright.
//! - **Profiling guard.** For categories about a person, a description that
//!   mentions race or ethnicity must also say what the person did and give
//!   at least two clothing or appearance details (the Nextdoor approach).
//!
//! # How
//!
//! The raw text is checked for length, blankness and refused characters;
//! every other rule reads the canonical form ([`normalize`]: NFKC, script
//! digits, ideographic dots and TR39 confusable skeletons folded to ASCII)
//! with defanged links undone, so every node sees the same text. Each rule
//! is a heuristic over a scanner that only splits at char boundaries, so no
//! input can make it panic, and the rules are tuned against a corpus of
//! ordinary alerts (`core/tests/data/ordinary_alerts.txt`) and of evasions
//! (`core/tests/data/evasions.tsv`). docs/PROTOCOL.md specifies every rule.
//!
//! # Layout
//!
//! - [`TextPolicy`] (here): the per-field checks, in order.
//! - `normalize`: refused characters and the canonical form.
//! - `scan`: the char-boundary-safe scanner the rules share.
//! - `media`: data URIs, long base64/hex blobs, media file names.
//! - `encoded`: encodings split into short groups.
//! - `footage`: footage solicitation.
//! - `contact`: phone numbers and e-mail addresses.
//! - `links`: URLs, domains, defanging.
//! - `location`: coordinates, map parameters, `geo:` URIs, plus codes.
//! - `place`: street addresses, fine geohashes, what3words.
//! - `profiling`: the profiling guard, [`check_profiling`].
//! - `words`: the word lists the profiling guard matches against.

mod contact;
mod encoded;
mod footage;
mod links;
mod location;
mod media;
mod normalize;
mod place;
mod profiling;
mod scan;
mod words;

pub use profiling::check_profiling;

use contact::{has_email, has_phone};
use encoded::has_encoded_span;
use footage::solicits_footage;
use links::{has_link, refang};
use location::has_precise_location;
use media::has_media;
use normalize::{Refused, canonical, refused};
use place::{has_fine_geohash, has_street_address, has_word_triple};

/// The hint given with a street address.
pub const HUNDRED_BLOCK_HINT: &str = "give the hundred block instead, e.g. \"the 1200 block of Oak Street\"";
/// The hint given with coordinates, geohashes and other precise points.
pub const AREA_CELL_HINT: &str = "the alert's area cell says where; leave precise points out";

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
    /// A control character (only newline is allowed, and not in
    /// single-line fields).
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The field checked.
        field: FieldName,
    },
    /// A format, variation-selector, tag, separator, filler or private-use
    /// character: nothing to see, something to hide.
    #[error("{field} contains an invisible character")]
    InvisibleCharacter {
        /// The field checked.
        field: FieldName,
    },
    /// A data URI, a base64, base32 or hex blob, or a media file name.
    #[error("{field} contains media (data URI or encoded blob)")]
    MediaNotAllowed {
        /// The field checked.
        field: FieldName,
    },
    /// Offers, asks for or arranges handing over footage or photos.
    #[error("{field} arranges handing over footage; Stoop carries text only")]
    FootageSolicitation {
        /// The field checked.
        field: FieldName,
    },
    /// A phone number or e-mail address.
    #[error("{field} contains a phone number or e-mail address")]
    PersonalInformation {
        /// The field checked.
        field: FieldName,
    },
    /// A link or web address (when the charter forbids links).
    #[error("{field} contains a link")]
    LinkNotAllowed {
        /// The field checked.
        field: FieldName,
    },
    /// A location finer than a neighborhood cell: coordinates, a fine
    /// geohash, a what3words triple, a plus code or a street address.
    #[error("{field} contains a precise location: {hint}")]
    PreciseLocation {
        /// The field checked.
        field: FieldName,
        /// What to write instead.
        hint: &'static str,
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
            Self::InvisibleCharacter { .. } => "invisible_character",
            Self::MediaNotAllowed { .. } => "media_not_allowed",
            Self::FootageSolicitation { .. } => "footage_solicitation",
            Self::PersonalInformation { .. } => "personal_information",
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
    /// The charter's finest alert cell (geohash characters): a geohash in
    /// the text finer than this pinpoints more than an alert may.
    pub max_cell_precision: usize,
}

impl TextPolicy {
    /// Checks one field: length cap (bytes), required non-empty if
    /// `required`, then content rules. The first failure wins, in this
    /// order: too long, empty, control character, invisible character
    /// (these three on the raw text), then on the canonical text: media
    /// (data URIs, blobs, split encodings, file names), footage
    /// solicitation, personal information, link (unless allowed), precise
    /// location (numbers, then places).
    pub fn check(&self, field: FieldName, text: &str, max_len: usize, required: bool) -> Result<(), TextViolation> {
        if text.len() > max_len {
            return Err(TextViolation::TooLong { field, max: max_len });
        }
        if required && text.trim().is_empty() {
            return Err(TextViolation::Empty { field });
        }
        match refused(text) {
            Some(Refused::Control) => return Err(TextViolation::ControlCharacter { field }),
            Some(Refused::Invisible) => return Err(TextViolation::InvisibleCharacter { field }),
            None => {}
        }
        let text = refang(&canonical(text));
        if has_media(&text) || has_encoded_span(&text) {
            return Err(TextViolation::MediaNotAllowed { field });
        }
        if solicits_footage(&text) {
            return Err(TextViolation::FootageSolicitation { field });
        }
        if has_phone(&text) || has_email(&text) {
            return Err(TextViolation::PersonalInformation { field });
        }
        if !self.allow_links && has_link(&text) {
            return Err(TextViolation::LinkNotAllowed { field });
        }
        let words = place::words(&text);
        if has_precise_location(&text) || has_fine_geohash(&words, self.max_cell_precision) || has_word_triple(&text) {
            return Err(TextViolation::PreciseLocation { field, hint: AREA_CELL_HINT });
        }
        if has_street_address(&words) {
            return Err(TextViolation::PreciseLocation { field, hint: HUNDRED_BLOCK_HINT });
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

    pub(super) const STRICT: TextPolicy =
        TextPolicy { allow_links: false, max_cell_precision: crate::area::MAX_PRECISION };
    pub(super) const LINKS_OK: TextPolicy =
        TextPolicy { allow_links: true, max_cell_precision: crate::area::MAX_PRECISION };

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
            "Fire on the 1200 block of Maple Ave.\nFirefighters on scene; road closed between 2nd and 4th.",
            "Coyote seen near the school, 40.7 N of the park (roughly).",
            "Went.to the store, then it.is closed.Then we left at 5.30 a.m.",
            "Power out on the 1200 block of Pine (No.5 transformer). ETA 10:45 p.m. per the utility.",
            "Road closed i.e. no through traffic; detour via St. Mark's Pl. for approx. 2 hrs.",
            "Bear on Hwy 9 near mile marker 12.5, 5.5 km north of town, about 3:15.",
            "Suspicious car, plate starts with 7ABC, circled the block 3x between 9 and 9:30 pm.",
            "Café on Rue de la Paix is collecting coats 🧥 for the winter drive — 日本語もOK",
            "Call the non-emergency line if you see it again!",
            "\u{26A0}\u{FE0F} Road closed, detour via 5th Ave",
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
        for bad in ["bell\u{7}", "tab\there", "cr\r\nlf", "nul\0", "del\u{7F}", "c1\u{85}"] {
            assert_eq!(code(STRICT, bad), "control_character", "{bad:?}");
        }
        for bad in [
            "rtl\u{202E}txt",
            "isolate\u{2066}x\u{2069}",
            "zero\u{200B}width",
            "zwnj\u{200C}",
            "zwj\u{200D}",
            "bom\u{FEFF}",
            "soft\u{AD}hyphen",
            "line\u{2028}separator",
            "filler\u{3164}",
            "cgj\u{34F}",
        ] {
            assert_eq!(code(STRICT, bad), "invisible_character", "{bad:?}");
        }
        assert_eq!(code(STRICT, "two\nlines\nare fine here"), "ok");
        assert_eq!(
            STRICT.check_line("headline", "two\nlines", 50, true).map_err(|e| e.code()),
            Err("control_character")
        );
        assert_eq!(STRICT.check_line("headline", "one line", 50, true), Ok(()));
        // A zero-width space cannot be used to split a link past the scanner.
        assert_eq!(code(STRICT, "ring\u{200B}.com"), "invisible_character");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}", links in any::<bool>()) {
            let p = TextPolicy { allow_links: links, max_cell_precision: crate::area::MAX_PRECISION };
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
        fn an_invisible_character_anywhere_refuses(
            text in prop::sample::select(vec![
                "DM me for the footage",
                "Break-in at 1234 Oak Street, apartment 5B",
                "40.7128, -74.0060",
                "Lost cat near the 1200 block of Oak Street, call the shelter",
                "Road works on 5th Ave until 10:30, $25 fine",
            ]),
            invisible in prop::sample::select(vec![
                '\u{AD}', '\u{34F}', '\u{61C}', '\u{180E}', '\u{200B}', '\u{200D}', '\u{202E}', '\u{2028}',
                '\u{2029}', '\u{2060}', '\u{2066}', '\u{3164}', '\u{FE00}', '\u{FE0F}', '\u{FEFF}', '\u{FFA0}',
                '\u{E0041}', '\u{E0100}', '\u{E000}',
            ]),
            at in any::<prop::sample::Index>(),
        ) {
            // Positive control: the text as given is refused or accepted
            // for its own reason; with the character inserted anywhere it
            // is refused, and as invisible_character.
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let i = boundaries[at.index(boundaries.len())];
            let spliced = format!("{}{invisible}{}", &text[..i], &text[i..]);
            prop_assert_ne!(code(STRICT, text), "invisible_character");
            prop_assert_eq!(code(STRICT, &spliced), "invisible_character");
        }

        #[test]
        fn lowercase_word_sentences_pass(s in "[a-z]{1,12}( [a-z]{1,12}){0,30}") {
            prop_assert_eq!(STRICT.check("f", &s, 10_000, true), Ok(()));
        }

    }
}
