//! Binary content from an APPEND literal8 (RFC 3516 §4.4): parts whose body
//! holds NUL bytes cannot be sent in a FETCH BODY literal, so they are stored
//! base64-encoded, with their Content-Transfer-Encoding saying so. FETCH
//! BINARY undoes it and gives back the bytes the client sent.

use super::mime::{self, Kind, Part};

/// `raw` with every leaf part whose body holds a NUL re-encoded in base64;
/// `None` when there is none.
pub fn encode_nul_parts(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.contains(&0) {
        return None;
    }
    let root = mime::parse(raw);
    let mut leaves: Vec<&Part> = Vec::new();
    collect(&root, raw, &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    // Splice from the first part to the last: ranges are ascending, disjoint.
    leaves.sort_by_key(|p| p.header.start);
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 256);
    let mut at = 0;
    for p in leaves {
        let eol: &[u8] = if raw[p.header.clone()].ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        out.extend_from_slice(&raw[at..p.header.start]);
        // The header without its Content-Transfer-Encoding, then ours.
        let mut last = p.header.start;
        let fields_end = p.fields.last().map_or(p.header.start, |f| f.full.end);
        for f in &p.fields {
            if raw[f.name.clone()].eq_ignore_ascii_case(b"content-transfer-encoding") {
                out.extend_from_slice(&raw[last..f.full.start]);
                last = f.full.end;
            }
        }
        out.extend_from_slice(&raw[last..fields_end]);
        out.extend_from_slice(b"Content-Transfer-Encoding: base64");
        out.extend_from_slice(eol);
        out.extend_from_slice(&raw[fields_end.max(last)..p.header.end]);
        base64_lines(&raw[p.body.clone()], eol, &mut out);
        at = p.body.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

fn collect<'p>(p: &'p Part, raw: &[u8], out: &mut Vec<&'p Part>) {
    match &p.kind {
        Kind::Multipart(children) => children.iter().for_each(|c| collect(c, raw, out)),
        Kind::Message(inner) => collect(inner, raw, out),
        Kind::Leaf => {
            if raw[p.body.clone()].contains(&0) {
                out.push(p);
            }
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 in lines of 76 characters (RFC 2045 §6.8), each ended by `eol`.
fn base64_lines(data: &[u8], eol: &[u8], out: &mut Vec<u8>) {
    for line in data.chunks(57) {
        for c in line.chunks(3) {
            let n = c.len();
            let v = u32::from(c[0]) << 16
                | u32::from(*c.get(1).unwrap_or(&0)) << 8
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= n {
                    out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize]);
                } else {
                    out.push(b'=');
                }
            }
        }
        out.extend_from_slice(eol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    #[test]
    fn a_part_with_nul_bytes_is_stored_in_base64_and_binary_gives_it_back() {
        let body: Vec<u8> = (0u8..=255).chain([0, 0, b'\r', b'\n']).collect();
        let mut raw = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nX-Other: kept\r\n\r\n".to_vec();
        raw.extend_from_slice(&body);
        raw.extend_from_slice(b"\r\n--b--\r\n");
        let enc = encode_nul_parts(&raw).unwrap();
        assert!(!enc.contains(&0));
        let text = String::from_utf8(enc.clone()).unwrap();
        assert!(
            text.contains("X-Other: kept\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF"),
            "{text}"
        );
        assert!(!text.contains("binary"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 76));
        let m = Message::parse(&enc);
        assert_eq!(m.binary(&[1]).unwrap().as_ref(), b"hello");
        assert_eq!(m.binary(&[2]).unwrap().as_ref(), &body[..]);
        // Nothing to do without NULs.
        assert!(encode_nul_parts(b"Subject: x\r\n\r\n\xff\xfe\r\n").is_none());
    }

    #[test]
    fn base64_lines_pad_and_wrap() {
        let mut out = Vec::new();
        base64_lines(b"ab", b"\n", &mut out);
        assert_eq!(out, b"YWI=\n");
        let mut out = Vec::new();
        base64_lines(&[7u8; 58], b"\r\n", &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.split("\r\n").next().unwrap().len(), 76);
        assert!(s.ends_with("Bw==\r\n"), "{s}");
    }
}
