//! SEARCH text matching (RFC 3501 §6.4.4): case-insensitive substring tests on
//! decoded text. Headers are matched both RFC 2047-decoded and as written; bodies
//! of text/* parts (also inside multiparts and message/rfc822) after
//! Content-Transfer-Encoding and charset decoding. Non-text parts are not
//! searched. What BODY and TEXT cover follows Dovecot (checked against it in
//! tests/message_dovecot.rs).

use super::bodystructure::encoding;
use super::decode::{base64, quoted_printable, rfc2047, to_utf8};
use super::mime::{Kind, Part};
use super::value::unfold;

/// Whether any field named `name` of `part`'s header contains `needle`
/// (lower-cased); an empty needle matches when the field exists.
pub fn header_field(raw: &[u8], part: &Part, name: &str, needle: &str) -> bool {
    let address = ADDRESS_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
    part.fields
        .iter()
        .filter(|f| raw[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .any(|f| {
            let value = &raw[f.value.clone()];
            needle.is_empty()
                || value_matches(value, needle)
                || (address && addresses_match(value, needle))
        })
}

/// Fields whose value is an address list: SEARCH FROM/TO/CC/BCC also match
/// the addresses as `local@domain` and their names, without the comments and
/// white space the field may hold (`<user (c)@ (c) host>`), like Dovecot.
const ADDRESS_FIELDS: [&str; 6] = ["from", "to", "cc", "bcc", "sender", "reply-to"];

fn addresses_match(value: &[u8], needle: &str) -> bool {
    super::envelope::parse_addresses(&unfold(value))
        .iter()
        .any(|a| {
            let mut s = String::new();
            if let Some(n) = &a.name {
                s.push_str(&rfc2047(n));
                s.push(' ');
            }
            if let Some(m) = &a.mailbox {
                s.push('<');
                s.push_str(&String::from_utf8_lossy(m));
                if let Some(h) = &a.host {
                    s.push('@');
                    s.push_str(&String::from_utf8_lossy(h));
                }
                s.push('>');
            }
            contains_ci(&s, needle)
        })
}

fn value_matches(value: &[u8], needle: &str) -> bool {
    let v = unfold(value);
    contains_ci(&rfc2047(&v), needle) || contains_ci(&String::from_utf8_lossy(&v), needle)
}

/// Whether any header field (name or value) of `part` contains `needle`.
pub fn any_header(raw: &[u8], part: &Part, needle: &str) -> bool {
    part.fields.iter().any(|f| {
        contains_ci(&String::from_utf8_lossy(&raw[f.name.clone()]), needle)
            || value_matches(&raw[f.value.clone()], needle)
    }) || contains_ci(&String::from_utf8_lossy(&raw[part.header.clone()]), needle)
}

/// Whether the decoded text of `part`'s body contains `needle`. With `headers`
/// (SEARCH TEXT) the MIME headers of the parts and the headers of encapsulated
/// messages count too; without (SEARCH BODY) only the text, like Dovecot.
pub fn body(raw: &[u8], part: &Part, needle: &str, headers: bool) -> bool {
    match &part.kind {
        Kind::Multipart(children) => children
            .iter()
            .any(|c| (headers && any_header(raw, c, needle)) || body(raw, c, needle, headers)),
        Kind::Message(inner) => {
            (headers && any_header(raw, inner, needle)) || body(raw, inner, needle, headers)
        }
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
            contains_ci(&to_utf8(bytes, charset), needle)
        }
    }
}

/// Whether `hay` contains `needle` (already lower-case), ignoring case. An ASCII
/// needle is compared byte by byte without lower-casing the whole text.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return false;
    }
    let first = n[0];
    (0..=h.len() - n.len()).any(|i| {
        h[i].to_ascii_lowercase() == first
            && h[i + 1..i + n.len()]
                .iter()
                .zip(&n[1..])
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

#[cfg(test)]
mod tests {
    use super::contains_ci;

    #[test]
    fn case_insensitive_substrings() {
        assert!(contains_ci("Hello World", "o w"));
        assert!(contains_ci("GRÜSSE aus", "grüsse"));
        assert!(contains_ci("x", ""));
        assert!(!contains_ci("ab", "abc"));
        assert!(!contains_ci("Straße", "strasse"));
        assert!(contains_ci("ÄÖÜ abc", "abc"));
    }
}
