//! Media in disguise: data URIs, base64 and hex blobs, media file names.

use super::scan::{ascii_in, has_prefix_ignore_case, runs, take_while, tokens};

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
    text.match_indices(':').any(|(i, _)| {
        i >= 4
            && bytes.get(i - 4..i).is_some_and(|w| w.eq_ignore_ascii_case(b"data"))
            && is_data_uri_body(bytes.get(i + 1..).unwrap_or_default())
    })
}

pub(super) fn has_media(text: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::TextPolicy;
    use super::super::tests::{LINKS_OK, code};
    use proptest::prelude::*;

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
            "uuid-ish 550e8400-e29b-41d4-a716-446655440000 is a split hex blob",
        ] {
            assert_eq!(code(LINKS_OK, text), "media_not_allowed", "{text}");
        }
        for text in [
            "Data: 5 cars, 2 trucks",
            "metadata: none",
            "the data is in, see the .jpg later",
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

    proptest! {
        #[test]
        fn a_data_uri_anywhere_is_media(
            s in "[a-z]{1,12}( [a-z]{1,12}){0,10}",
            at in any::<prop::sample::Index>(),
            links in any::<bool>(),
        ) {
            // Any char boundary, also inside a word.
            let i = at.index(s.len() + 1);
            let text = format!("{}data:image/png;base64,iVBORw0KGgo{}", &s[..i], &s[i..]);
            let p = TextPolicy { allow_links: links, max_cell_precision: crate::area::MAX_PRECISION };
            prop_assert_eq!(p.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("media_not_allowed"));
        }

    }
}
