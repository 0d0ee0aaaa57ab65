//! Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).
//!
//! Used on ferrymail's own IMAP wire and when reading folder names from a legacy
//! server. Printable US-ASCII stands for itself except `&`, written `&-`; any
//! other run of characters is UTF-16BE in modified base64 (`,` for `/`, no
//! padding) between `&` and `-`.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

fn engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &IMAP_MUTF7,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Encodes a UTF-8 mailbox name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine().encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Why a name is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid modified UTF-7 mailbox name")]
pub struct Invalid;

/// Decodes a modified UTF-7 mailbox name into UTF-8. Strict: 8-bit bytes, an
/// unterminated `&` run, bad base64, or bad UTF-16 are errors.
pub fn decode(name: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('&') {
        let plain = &rest[..i];
        if !plain.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(Invalid);
        }
        out.push_str(plain);
        let after = &rest[i + 1..];
        let end = after.find('-').ok_or(Invalid)?;
        let run = &after[..end];
        if run.is_empty() {
            out.push('&');
        } else {
            let bytes = engine().decode(run).map_err(|_| Invalid)?;
            if bytes.len() % 2 != 0 {
                return Err(Invalid);
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let s = String::from_utf16(&units).map_err(|_| Invalid)?;
            // A run that only encodes printable ASCII is not canonical.
            if s.chars().any(|c| (' '..='~').contains(&c)) {
                return Err(Invalid);
            }
            out.push_str(&s);
        }
        rest = &after[end + 1..];
    }
    if !rest.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(Invalid);
    }
    out.push_str(rest);
    Ok(out)
}

/// Decodes when valid, otherwise returns the name as it is (a legacy server that
/// sends raw UTF-8 names).
pub fn decode_lenient(name: &str) -> String {
    decode(name).unwrap_or_else(|_| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rfc_examples() {
        let table = [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("A&B", "A&-B"),
            ("Envoyés", "Envoy&AOk-s"),
            ("😀", "&2D3eAA-"),
        ];
        for (utf8, wire) in table {
            assert_eq!(encode(utf8), wire, "{utf8}");
            assert_eq!(decode(wire).unwrap(), utf8, "{wire}");
        }
    }

    #[test]
    fn invalid_input_is_refused() {
        for bad in ["&", "&Jjo", "&AGE-", "Entwürfe", "&Jjo!-", "&AP-"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert_eq!(decode_lenient("Entwürfe"), "Entwürfe");
    }
}
