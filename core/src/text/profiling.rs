//! The profiling guard: a description that mentions race or ethnicity must
//! also say what the person did and give two appearance details.

use super::normalize::canonical;
use super::words::{
    APPEARANCE_TERMS, BEHAVIOR_TERMS, COLOR_OR_RACE, COLOR_PHRASE_WORDS, OBJECT_NOUNS, PERSON_NOUNS, RACE_BIGRAMS,
    RACE_TERMS,
};
use super::{FieldName, TextViolation};

/// The reason given when the profiling guard refuses a description.
const PROFILING_REASON: &str =
    "describes a person by race or ethnicity without behavior and at least two clothing or appearance details";

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
/// Words are the canonical text (invisible characters dropped, NFKC,
/// confusables folded: `His\u{AD}panic` and a Cyrillic `Н` read as
/// "Hispanic") split on every character that is neither alphanumeric nor
/// `-`, lowercased; matching is whole-word.
pub fn check_profiling(field: FieldName, description: &str) -> Result<(), TextViolation> {
    let words: Vec<String> = canonical(description)
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

    fn profiling(text: &str) -> &'static str {
        match check_profiling("description", text) {
            Ok(()) => "ok",
            Err(e) => e.code(),
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
            "His\u{AD}panic man near the cars",
            "\u{41D}ispanic man near the cars",
            "\u{FF28}ispanic man near the cars",
            "Hispanics hanging around",
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
}
