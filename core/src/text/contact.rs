//! Personal information: phone numbers and e-mail addresses. Both move the
//! conversation off Stoop and identify a person; in an alert about someone
//! else they are doxxing.

use super::links::is_domain;
use super::scan::tokens;

/// Fewest and most digits of an international number written with `+` or
/// `00` (E.164 allows up to 15; the shortest national numbers with a
/// country code have 8).
const INTL_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;
/// Digits of a national number written with a leading trunk `0`
/// ("020 7946 0958", "01 23 45 67 89", "030 1234567").
const TRUNK_DIGITS: std::ops::RangeInclusive<usize> = 10..=11;

/// One digit group of a candidate number and the separator before it.
#[derive(Debug, Clone, Copy)]
struct Group<'a> {
    digits: &'a str,
    sep: Sep,
}

/// What joined a group to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// First group.
    Start,
    /// `-`.
    Dash,
    /// `.`.
    Dot,
    /// A single space.
    Space,
    /// Parentheses, with at most one space: "(555) 123", "+1 (555)".
    Paren,
}

/// The separator at the start of `s` and its length in bytes. Only the
/// forms numbers are written with: one `-`, `.` or space, or parentheses
/// with at most one space around them.
fn separator(s: &str) -> Option<(Sep, usize)> {
    let b = s.as_bytes();
    let paren = |i: usize| matches!(b.get(i), Some(b'(' | b')'));
    match b.first()? {
        b'-' => Some((Sep::Dash, 1)),
        b'.' => Some((Sep::Dot, 1)),
        b' ' if paren(1) => Some((Sep::Paren, 2)),
        b' ' => Some((Sep::Space, 1)),
        b')' if b.get(1) == Some(&b' ') => Some((Sep::Paren, 2)),
        b'(' | b')' => Some((Sep::Paren, 1)),
        _ => None,
    }
}

/// Maximal runs of digit groups: `+`? digits (separator digits)*. A group
/// of 1–2 digits right before `:` and a digit is the hour of a time
/// ("10:30") and ends the run without it; a run
/// glued to a letter or `$` on its left ("A555", "$1.500") is not a number
/// anyone dials.
fn runs(text: &str) -> Vec<(bool, Vec<Group<'_>>)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Runs start at a digit or `+`, both ASCII, so stepping bytes
        // never lands a slice inside a character.
        if !matches!(bytes.get(i), Some(b'0'..=b'9' | b'+')) {
            i += 1;
            continue;
        }
        let glued = i > 0
            && matches!(bytes.get(i - 1), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'$' | b'.' | b','));
        let plus = bytes.get(i) == Some(&b'+');
        let (mut j, mut groups, mut sep) = (i + usize::from(plus), Vec::new(), Sep::Start);
        if plus && bytes.get(j) == Some(&b'(') {
            j += 1;
        }
        loop {
            let len = bytes.get(j..).unwrap_or_default().iter().take_while(|b| b.is_ascii_digit()).count();
            let is_time =
                len <= 2 && bytes.get(j + len) == Some(&b':') && bytes.get(j + len + 1).is_some_and(u8::is_ascii_digit);
            if len == 0 || is_time {
                break;
            }
            groups.push(Group { digits: text.get(j..j + len).unwrap_or_default(), sep });
            j += len;
            match text.get(j..).and_then(separator) {
                Some((s, n)) if bytes.get(j + n).is_some_and(u8::is_ascii_digit) => {
                    sep = s;
                    j += n;
                }
                _ => break,
            }
        }
        if !glued && !groups.is_empty() {
            found.push((plus, groups));
        }
        i = j.max(i + 1);
    }
    found
}

fn total(groups: &[Group<'_>]) -> usize {
    groups.iter().map(|g| g.digits.len()).sum()
}

fn lens(groups: &[Group<'_>]) -> Vec<usize> {
    groups.iter().map(|g| g.digits.len()).collect()
}

/// North American: `1`? then 3-3-4 digits, or 10 (11 with the leading 1)
/// digits in one piece. In one piece the area code and exchange must start
/// with 2–9 as real ones do, so "1234567890" (a count, an order number)
/// is not a phone number.
fn is_nanp(groups: &[Group<'_>]) -> bool {
    let l = lens(groups);
    let valid = |d: &str| {
        let b = d.as_bytes();
        matches!(b.first(), Some(b'2'..=b'9')) && matches!(b.get(3), Some(b'2'..=b'9'))
    };
    match (l.as_slice(), groups.first().map(|g| g.digits)) {
        ([3, 3, 4], _) => true,
        ([1, 3, 3, 4], Some(first)) => first == "1",
        ([10], Some(d)) => valid(d),
        ([11], Some(d)) => d.strip_prefix('1').is_some_and(valid),
        _ => false,
    }
}

/// A local number: 3-4 digits joined by `-` ("867-5309").
fn is_local(groups: &[Group<'_>]) -> bool {
    matches!(groups, [a, b] if a.digits.len() == 3 && b.digits.len() == 4 && b.sep == Sep::Dash)
}

/// A national number with a trunk `0`, in groups of 2–5 digits, that is
/// not a date (`dd-mm-yyyy ...`).
fn is_trunk(groups: &[Group<'_>]) -> bool {
    let l = lens(groups);
    let is_date = matches!(l.as_slice(), [1..=2, 1..=2, 4, ..]);
    groups.len() >= 2
        && groups.first().is_some_and(|g| g.digits.starts_with('0') && !g.digits.starts_with("00"))
        && TRUNK_DIGITS.contains(&total(groups))
        && l.iter().all(|n| (2..=5).contains(n))
        && !is_date
}

/// Fewest one-digit groups in a row that spell a number digit by digit
/// ("5 5 5 8 6 7 5 3 0 9"): the shortest national numbers have 10 digits.
const MIN_SINGLE_DIGIT_GROUPS: usize = 10;

/// A number written one digit per group.
fn is_spelled_out(groups: &[Group<'_>]) -> bool {
    groups.len() >= MIN_SINGLE_DIGIT_GROUPS && groups.iter().all(|g| g.digits.len() == 1)
}

/// `+` or `00`, then a country code and groups, 8–15 digits in all.
fn is_international(plus: bool, groups: &[Group<'_>]) -> bool {
    let t = total(groups);
    if plus {
        return INTL_DIGITS.contains(&t);
    }
    groups.first().is_some_and(|g| g.digits.starts_with("00") && g.digits.len() <= 5)
        && groups.len() >= 2
        && INTL_DIGITS.contains(&(t - 2))
}

/// Whether `text` (canonical) contains a phone number. Runs of digit groups
/// are tried whole (international forms) and as every contiguous window of
/// groups (national forms), so "at 555-867-5309 2 times" still finds the
/// number.
pub(super) fn has_phone(text: &str) -> bool {
    runs(text).iter().any(|(plus, groups)| {
        if is_international(*plus, groups) {
            return true;
        }
        (0..groups.len()).any(|s| {
            (s + 1..=groups.len()).any(|e| {
                let w = groups.get(s..e).unwrap_or_default();
                is_nanp(w) || is_local(w) || is_trunk(w) || is_spelled_out(w)
            })
        })
    })
}

/// Whether `text` (canonical, refanged) contains an e-mail address:
/// `local@domain` with a non-empty local part of letters, digits and
/// `._%+-`, and a domain under the public suffix list.
pub(super) fn has_email(text: &str) -> bool {
    text.contains('@')
        && tokens(text).filter(|t| t.contains('@')).any(|t| {
            let t = t.strip_prefix("mailto:").unwrap_or(t);
            t.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && user.chars().all(|c| c.is_alphanumeric() || "._%+-".contains(c)) && is_domain(host)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, code};

    #[test]
    fn phone_numbers_and_emails() {
        for text in [
            "call 555-867-5309",
            "(555) 867-5309",
            "555.867.5309",
            "555 867 5309",
            "5558675309",
            "+1 555 867 5309",
            "+1 (555) 867-5309",
            "1-555-867-5309",
            "+44 20 7946 0958",
            "+33 1 23 45 67 89",
            "+49 30 1234567",
            "0044 20 7946 0958",
            "020 7946 0958",
            "01 23 45 67 89",
            "ring 867-5309 tonight",
            "at 555-867-5309 2 times",
            "call 555-867-5309: ask for Joe",
            "joe@example.com",
            "email me at anna@mail.me",
            "joe.smith+x@example.co.uk",
        ] {
            assert_eq!(code(LINKS_OK, text), "personal_information", "{text}");
        }
        for text in [
            "at 10:30 on 2024-05-12",
            "between 2019-2023",
            "12/05/2024 10:30",
            "05-12-2024 10 people",
            "$1,234,567 and 1,500 people",
            "the 1200 block, 3-2 score, 9-5 daily",
            "ZIP 12345-6789",
            "40.7128 -74.0060 is precise but not a phone",
            "meet @5pm",
            "flight 1234 gate 56",
        ] {
            assert_ne!(code(LINKS_OK, text), "personal_information", "{text}");
        }
    }
}
