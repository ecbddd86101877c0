//! The scanner the rules share: tokens, runs and prefix tests that only
//! ever split a `&str` at char boundaries, so no input can make them panic.

/// Whitespace-separated tokens with surrounding punctuation removed, and
/// then a trailing sentence `.` or `:` ("Elm St." → "Elm St", "dog:" → "dog").
pub(super) fn tokens(text: &str) -> impl Iterator<Item = &str> {
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
pub(super) fn runs(text: &str, pred: impl Fn(char) -> bool) -> impl Iterator<Item = &str> {
    text.split(move |c: char| !pred(c)).filter(|r| !r.is_empty())
}

/// ASCII case-insensitive prefix test that never slices off a char boundary.
pub(super) fn has_prefix_ignore_case(t: &str, prefix: &str) -> bool {
    t.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

pub(super) fn ascii_in(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Length of the leading run of bytes matching `pred`.
pub(super) fn take_while(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| pred(b)).count()
}
