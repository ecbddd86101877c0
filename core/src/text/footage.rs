//! Footage solicitation: offering, requesting or arranging the hand-off of
//! footage, clips, recordings or photos through a contact or a meeting.
//! Stoop carries no media; an alert that says "DM me for the clip" moves
//! the surveillance material off the network instead.

use super::contact::{has_email, has_phone};

/// Words for recorded media (lowercase, whole words; each starts with one
/// of b c d f i p r s t v, which `solicits_footage` uses as a prefilter).
const MEDIA_WORDS: &[&str] = &[
    "footage",
    "clip",
    "clips",
    "video",
    "videos",
    "vid",
    "vids",
    "recording",
    "recordings",
    "photo",
    "photos",
    "pic",
    "pics",
    "picture",
    "pictures",
    "image",
    "images",
    "tape",
    "tapes",
    "film",
    "cctv",
    "bodycam",
    "dashcam",
    "screenshot",
    "screenshots",
    "selfie",
];

/// Single words that arrange a private hand-off.
const CONTACT_WORDS: &[&str] = &[
    "dm", "dms", "inbox", "whatsapp", "telegram", "airdrop", "snapchat", "wickr", "kik", "venmo", "paypal", "cashapp",
];

/// Two-word phrases that arrange a private hand-off or a meeting: first
/// person contact ("message me", "my number"), offers ("will send",
/// "for sale") and meetings ("meet me", "meet up"). Impersonal ones ("pick
/// up", "come by") are left out: "pick up the school photos on Friday".
const CONTACT_PHRASES: &[(&str, &str)] = &[
    ("message", "me"),
    ("msg", "me"),
    ("text", "me"),
    ("call", "me"),
    ("email", "me"),
    ("e-mail", "me"),
    ("mail", "me"),
    ("contact", "me"),
    ("reach", "me"),
    ("ping", "me"),
    ("dm", "me"),
    ("pm", "me"),
    ("inbox", "me"),
    ("signal", "me"),
    ("hit", "me"),
    ("find", "me"),
    ("send", "me"),
    ("ask", "me"),
    ("my", "number"),
    ("my", "cell"),
    ("my", "phone"),
    ("my", "email"),
    ("my", "dms"),
    ("my", "inbox"),
    ("my", "whatsapp"),
    ("my", "signal"),
    ("my", "telegram"),
    ("will", "send"),
    ("can", "send"),
    ("i'll", "send"),
    ("ill", "send"),
    ("will", "share"),
    ("can", "share"),
    ("i'll", "share"),
    ("will", "trade"),
    ("for", "sale"),
    ("selling", "the"),
    ("meet", "me"),
    ("meet", "up"),
];

/// Most words between a media word and a contact cue: the two must be
/// about the same hand-off, not two sentences of a long alert.
const MAX_CUE_DISTANCE: usize = 12;

/// Lowercase words, split on everything but letters, digits, `-` and `'`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '@'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the canonical, refanged `text` solicits footage: a media word
/// with a phone number or e-mail address anywhere, or within
/// [`MAX_CUE_DISTANCE`] words of a contact word, a contact phrase or an
/// `@handle`.
pub(super) fn solicits_footage(text: &str) -> bool {
    // Most alerts name no media: find that out without allocating.
    let is_media = |w: &str| {
        (3..=11).contains(&w.len())
            && matches!(
                w.as_bytes()[0].to_ascii_lowercase(),
                b'b' | b'c' | b'd' | b'f' | b'i' | b'p' | b'r' | b's' | b't' | b'v'
            )
            && MEDIA_WORDS.iter().any(|m| m.eq_ignore_ascii_case(w))
    };
    if !text.split(|c: char| !c.is_alphanumeric()).any(is_media) {
        return false;
    }
    let words = words(text);
    let media: Vec<usize> = (0..words.len()).filter(|&i| MEDIA_WORDS.contains(&words[i].as_str())).collect();
    if media.is_empty() {
        return false;
    }
    if has_phone(text) || has_email(text) {
        return true;
    }
    let cue_at = |i: usize| {
        let w = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        CONTACT_WORDS.contains(&w)
            || CONTACT_PHRASES.iter().any(|&(a, b)| w == a && next == Some(b))
            || w.strip_prefix('@').is_some_and(|h| h.len() >= 2 && h.starts_with(|c: char| c.is_alphabetic()))
    };
    (0..words.len()).filter(|&i| cue_at(i)).any(|i| media.iter().any(|&m| m.abs_diff(i) <= MAX_CUE_DISTANCE))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, code};

    #[test]
    fn footage_hand_offs() {
        for text in [
            "DM me for the footage",
            "message me at 555-123-4567 to get the clip",
            "I have video of the guy, text me",
            "Got the break-in on my dashcam, will send it to anyone who asks",
            "Photos of the suspect for sale, whatsapp only",
            "Recording available, meet me at the park at 6",
            "clip is on my phone, hit me up @joe_cams",
            "footage: joe@example.com",
        ] {
            assert_eq!(code(LINKS_OK, text), "footage_solicitation", "{text}");
        }
        for text in [
            "Police ask anyone with doorbell video to call the non-emergency line",
            "Footage at https://cams.example.com/clip/123",
            "Call me if you see Max, he is a brown lab",
            "School photos: pick up on Friday at the office",
        ] {
            assert_ne!(code(LINKS_OK, text), "footage_solicitation", "{text}");
        }
    }
}
