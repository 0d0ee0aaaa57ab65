//! SEARCH text matching (RFC 3501 §6.4.4): case-insensitive substring tests on
//! decoded text. Headers are matched both RFC 2047-decoded and as written; bodies
//! of text/* parts (also inside multiparts and message/rfc822) after
//! Content-Transfer-Encoding and charset decoding. Non-text parts are not searched.

use super::bodystructure::encoding;
use super::decode::{base64, quoted_printable, rfc2047, to_utf8};
use super::mime::{unfold, Kind, Part};

/// Whether any field named `name` of `part`'s header contains `needle`
/// (lower-cased); an empty needle matches when the field exists.
pub fn header_field(raw: &[u8], part: &Part, name: &str, needle: &str) -> bool {
    part.fields
        .iter()
        .filter(|f| raw[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .any(|f| needle.is_empty() || value_matches(&raw[f.value.clone()], needle))
}

fn value_matches(value: &[u8], needle: &str) -> bool {
    let v = unfold(value);
    rfc2047(&v).to_lowercase().contains(needle)
        || String::from_utf8_lossy(&v).to_lowercase().contains(needle)
}

/// Whether any header field (name or value) of `part` contains `needle`.
pub fn any_header(raw: &[u8], part: &Part, needle: &str) -> bool {
    part.fields.iter().any(|f| {
        String::from_utf8_lossy(&raw[f.name.clone()])
            .to_lowercase()
            .contains(needle)
            || value_matches(&raw[f.value.clone()], needle)
    }) || String::from_utf8_lossy(&raw[part.header.clone()])
        .to_lowercase()
        .contains(needle)
}

/// Whether the decoded text of `part`'s body contains `needle`.
pub fn body(raw: &[u8], part: &Part, needle: &str) -> bool {
    match &part.kind {
        Kind::Multipart(children) => children.iter().any(|c| body(raw, c, needle)),
        Kind::Message(inner) => any_header(raw, inner, needle) || body(raw, inner, needle),
        Kind::Leaf => {
            if !part.ctype.main.eq_ignore_ascii_case(b"text") {
                return false;
            }
            let bytes = &raw[part.body.clone()];
            let decoded;
            let bytes = match encoding(raw, part).as_slice() {
                b"quoted-printable" => {
                    decoded = quoted_printable(bytes);
                    &decoded[..]
                }
                b"base64" => {
                    decoded = base64(bytes);
                    &decoded[..]
                }
                _ => bytes,
            };
            let charset = part.ctype.param("charset").unwrap_or(b"us-ascii");
            to_utf8(bytes, charset).to_lowercase().contains(needle)
        }
    }
}
