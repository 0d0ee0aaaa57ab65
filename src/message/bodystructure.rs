//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2), written the way Dovecot 2.3 writes
//! them, so that clients that cached structures from the legacy server see the
//! same after the migration: type, subtype, parameters and transfer encoding in
//! the case they are written; text parts without a charset get
//! `("charset" "us-ascii")`; a single-part message that is plain 7-bit US-ASCII
//! text is written in the canonical lower-case form; sizes are the octets of the
//! encoded body as stored; lines count LF characters.

use super::envelope;
use super::imapstr::{nstring, string};
use super::mime::{Kind, Part};
use super::value::{parse_token_params, strip_comments, trim, unfold};

/// The structure of the message `part` (the whole message when `top`).
pub fn render(raw: &[u8], part: &Part, extended: bool, out: &mut Vec<u8>) {
    render_part(raw, part, extended, true, out);
}

fn render_part(raw: &[u8], part: &Part, extended: bool, top: bool, out: &mut Vec<u8>) {
    match &part.kind {
        Kind::Multipart(children) => {
            out.push(b'(');
            for c in children {
                render_part(raw, c, extended, false, out);
            }
            out.push(b' ');
            string(out, &part.ctype.sub);
            if extended {
                out.push(b' ');
                params(out, &part.ctype.params);
                out.push(b' ');
                disposition(raw, part, out);
                out.push(b' ');
                language(raw, part, out);
                out.push(b' ');
                nstring(
                    out,
                    part.field(raw, "content-location").map(unfold).as_deref(),
                );
            }
            out.push(b')');
        }
        _ => basic(raw, part, extended, top, out),
    }
}

fn basic(raw: &[u8], part: &Part, extended: bool, top: bool, out: &mut Vec<u8>) {
    let ct = &part.ctype;
    // A multipart or message/rfc822 that was not analysed (nesting limit) is
    // shown as an opaque part so the structure stays valid.
    let opaque = matches!(part.kind, Kind::Leaf)
        && (ct.main.eq_ignore_ascii_case(b"multipart") || ct.is("message", "rfc822"));
    let (main, sub) = if opaque {
        (&b"application"[..], &b"octet-stream"[..])
    } else {
        (&ct.main[..], &ct.sub[..])
    };
    let text = main.eq_ignore_ascii_case(b"text");
    let body = &raw[part.body.clone()];
    out.push(b'(');
    if is_plain_7bit(raw, part, top) {
        out.extend_from_slice(br#""text" "plain" ("charset" "us-ascii")"#);
    } else {
        string(out, main);
        out.push(b' ');
        string(out, sub);
        out.push(b' ');
        if text && ct.param("charset").is_none() {
            let mut p = vec![(b"charset".to_vec(), b"us-ascii".to_vec())];
            p.extend(ct.params.iter().cloned());
            params(out, &p);
        } else {
            params(out, &ct.params);
        }
    }
    out.push(b' ');
    nstring(out, part.field(raw, "content-id").map(unfold).as_deref());
    out.push(b' ');
    nstring(
        out,
        part.field(raw, "content-description")
            .map(unfold)
            .as_deref(),
    );
    out.push(b' ');
    match part.field(raw, "content-transfer-encoding").map(token) {
        Some(enc) if !enc.is_empty() => string(out, &enc),
        _ => string(out, b"7bit"),
    }
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    if let Kind::Message(inner) = &part.kind {
        out.push(b' ');
        envelope::render(raw, inner, out);
        out.push(b' ');
        render_part(raw, inner, extended, false, out);
        out.push(b' ');
        out.extend_from_slice(count_lines(body).to_string().as_bytes());
    } else if text {
        out.push(b' ');
        out.extend_from_slice(count_lines(body).to_string().as_bytes());
    }
    if extended {
        out.push(b' ');
        nstring(out, part.field(raw, "content-md5").map(unfold).as_deref());
        out.push(b' ');
        disposition(raw, part, out);
        out.push(b' ');
        language(raw, part, out);
        out.push(b' ');
        nstring(
            out,
            part.field(raw, "content-location").map(unfold).as_deref(),
        );
    }
    out.push(b')');
}

pub fn count_lines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

/// A header value as one token: unfolded, without comments, trimmed.
fn token(v: &[u8]) -> Vec<u8> {
    trim(&strip_comments(&unfold(v))).to_vec()
}

/// The Content-Transfer-Encoding, lower-cased; `7bit` when absent.
pub fn encoding(raw: &[u8], part: &Part) -> Vec<u8> {
    part.field(raw, "content-transfer-encoding")
        .map(|v| token(v).to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| b"7bit".to_vec())
}

/// Dovecot writes a single-part message that is text/plain in US-ASCII, 7bit,
/// without any other MIME field in one canonical lower-case form.
fn is_plain_7bit(raw: &[u8], part: &Part, top: bool) -> bool {
    let ct = &part.ctype;
    let charset_only = match ct.params.as_slice() {
        [] => true,
        [(n, v)] => n.eq_ignore_ascii_case(b"charset") && v.eq_ignore_ascii_case(b"us-ascii"),
        _ => false,
    };
    top && matches!(part.kind, Kind::Leaf)
        && ct.main.eq_ignore_ascii_case(b"text")
        && ct.sub.eq_ignore_ascii_case(b"plain")
        && charset_only
        && encoding(raw, part) == b"7bit"
        && [
            "content-id",
            "content-description",
            "content-md5",
            "content-disposition",
            "content-language",
            "content-location",
        ]
        .iter()
        .all(|f| part.field(raw, f).is_none_or(|v| trim(v).is_empty()))
}

fn params(out: &mut Vec<u8>, params: &[(Vec<u8>, Vec<u8>)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (n, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, n);
        out.push(b' ');
        string(out, v);
    }
    out.push(b')');
}

fn disposition(raw: &[u8], part: &Part, out: &mut Vec<u8>) {
    match part
        .field(raw, "content-disposition")
        .and_then(parse_token_params)
    {
        Some((kind, p)) => {
            out.push(b'(');
            string(out, &kind);
            out.push(b' ');
            params(out, &p);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
}

fn language(raw: &[u8], part: &Part, out: &mut Vec<u8>) {
    let langs: Vec<Vec<u8>> = part
        .field(raw, "content-language")
        .map(|v| {
            strip_comments(&unfold(v))
                .split(|&b| b == b',' || b == b' ' || b == b'\t')
                .filter(|s| !s.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default();
    if langs.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, l) in langs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, l);
    }
    out.push(b')');
}
