//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2), written the way Dovecot writes them:
//! type, subtype, parameter names and the transfer encoding lower-cased; text
//! parts without a charset get `("charset" "us-ascii")`; sizes are the octets of
//! the encoded body as stored; lines count LF characters.

use super::envelope;
use super::imapstr::{nstring, string};
use super::mime::{parse_token_params, strip_comments, trim, unfold, Kind, Part};

pub fn render(raw: &[u8], part: &Part, extended: bool, out: &mut Vec<u8>) {
    match &part.kind {
        Kind::Multipart(children) => {
            out.push(b'(');
            for c in children {
                render(raw, c, extended, out);
            }
            out.push(b' ');
            string(out, &part.ctype.sub.to_ascii_lowercase());
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
        _ => basic(raw, part, extended, out),
    }
}

fn basic(raw: &[u8], part: &Part, extended: bool, out: &mut Vec<u8>) {
    let ct = &part.ctype;
    // A multipart or message/rfc822 that was not analysed (nesting limit) is
    // shown as an opaque part so the structure stays valid.
    let opaque = matches!(part.kind, Kind::Leaf)
        && (ct.main.eq_ignore_ascii_case(b"multipart") || ct.is("message", "rfc822"));
    let (main, sub) = if opaque {
        (b"application".to_vec(), b"octet-stream".to_vec())
    } else {
        (ct.main.to_ascii_lowercase(), ct.sub.to_ascii_lowercase())
    };
    let body = &raw[part.body.clone()];
    out.push(b'(');
    string(out, &main);
    out.push(b' ');
    string(out, &sub);
    out.push(b' ');
    if main == b"text" {
        // Like Dovecot: a missing charset is us-ascii, and us-ascii is lower-cased.
        let mut p = Vec::with_capacity(ct.params.len() + 1);
        if ct.param("charset").is_none() {
            p.push((b"charset".to_vec(), b"us-ascii".to_vec()));
        }
        for (n, v) in &ct.params {
            if n == b"charset" && v.eq_ignore_ascii_case(b"us-ascii") {
                p.push((n.clone(), b"us-ascii".to_vec()));
            } else {
                p.push((n.clone(), v.clone()));
            }
        }
        params(out, &p);
    } else {
        params(out, &ct.params);
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
    string(out, &encoding(raw, part));
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    if let Kind::Message(inner) = &part.kind {
        out.push(b' ');
        envelope::render(raw, inner, out);
        out.push(b' ');
        render(raw, inner, extended, out);
        out.push(b' ');
        out.extend_from_slice(count_lines(body).to_string().as_bytes());
    } else if main == b"text" {
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

/// The Content-Transfer-Encoding, lower-cased; `7bit` when absent.
pub fn encoding(raw: &[u8], part: &Part) -> Vec<u8> {
    part.field(raw, "content-transfer-encoding")
        .map(|v| trim(&strip_comments(&unfold(v))).to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| b"7bit".to_vec())
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
