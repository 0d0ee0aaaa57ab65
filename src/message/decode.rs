//! Decoders for SEARCH: quoted-printable, base64, charsets (through mail-parser's
//! tables), RFC 2047 encoded-words. All lenient: bad input is kept or skipped,
//! never an error.

use super::value::hex;

/// Quoted-printable (RFC 2045 §6.7): `=XX` and soft line breaks; a stray `=` is
/// kept; white space at the end of a line was added in transport and goes.
pub fn quoted_printable(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b' ' || v[i] == b'\t' {
            let mut j = i;
            while j < v.len() && (v[j] == b' ' || v[j] == b'\t') {
                j += 1;
            }
            if j == v.len() || v[j] == b'\n' || (v[j] == b'\r' && v.get(j + 1) == Some(&b'\n')) {
                i = j;
                continue;
            }
            out.extend_from_slice(&v[i..j]);
            i = j;
            continue;
        }
        if v[i] == b'=' {
            if let (Some(&a), Some(&b)) = (v.get(i + 1), v.get(i + 2)) {
                if let (Some(h), Some(l)) = (hex(a), hex(b)) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            // Soft line break: "=" then optional whitespace then a line end.
            let mut j = i + 1;
            while j < v.len() && (v[j] == b' ' || v[j] == b'\t') {
                j += 1;
            }
            if j < v.len() && v[j] == b'\n' {
                i = j + 1;
                continue;
            }
            if j + 1 < v.len() && v[j] == b'\r' && v[j + 1] == b'\n' {
                i = j + 2;
                continue;
            }
            if j >= v.len() {
                break;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn b64(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Base64, skipping every byte outside the alphabet (line ends, garbage, `=`).
pub fn base64(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() / 4 * 3);
    let mut acc = 0u32;
    let mut n = 0;
    for &c in v {
        let Some(d) = b64(c) else { continue };
        acc = acc << 6 | d;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Bytes in `charset` as UTF-8; unknown charsets are read as UTF-8 with
/// replacement characters.
pub fn to_utf8(bytes: &[u8], charset: &[u8]) -> String {
    let cs = charset.to_ascii_lowercase();
    let cs = cs.split(|&b| b == b'*').next().unwrap_or_default();
    if cs.is_empty() || cs == b"utf-8" || cs == b"utf8" || cs == b"us-ascii" {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match mail_parser::decoders::charsets::map::charset_decoder(cs) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes RFC 2047 encoded-words in a header value; white space between two
/// adjacent encoded-words is dropped. Text outside encoded-words is read as UTF-8.
pub fn rfc2047(v: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut pending_space: Option<&[u8]> = None;
    let mut last_was_word = false;
    while i < v.len() {
        if v[i..].starts_with(b"=?") {
            if let Some((text, len)) = encoded_word(&v[i..]) {
                if let Some(sp) = pending_space.take() {
                    if !last_was_word {
                        out.push_str(&String::from_utf8_lossy(sp));
                    }
                }
                out.push_str(&text);
                i += len;
                last_was_word = true;
                continue;
            }
        }
        if v[i] == b' ' || v[i] == b'\t' {
            let s = i;
            while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
                i += 1;
            }
            if let Some(sp) = pending_space.take() {
                out.push_str(&String::from_utf8_lossy(sp));
            }
            pending_space = Some(&v[s..i]);
            continue;
        }
        if let Some(sp) = pending_space.take() {
            out.push_str(&String::from_utf8_lossy(sp));
        }
        let s = i;
        while i < v.len() && v[i] != b' ' && v[i] != b'\t' && !v[i..].starts_with(b"=?") {
            i += 1;
        }
        if i == s {
            i += 1; // a "=?" that is not an encoded-word
        }
        out.push_str(&String::from_utf8_lossy(&v[s..i]));
        last_was_word = false;
    }
    if let Some(sp) = pending_space {
        out.push_str(&String::from_utf8_lossy(sp));
    }
    out
}

/// `=?charset?Q|B?text?=` at the start of `v`: the decoded text and the length.
fn encoded_word(v: &[u8]) -> Option<(String, usize)> {
    let rest = v.get(2..)?;
    let q1 = rest.iter().take(80).position(|&b| b == b'?')?;
    let charset = &rest[..q1];
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let text_len = rest[text_start..].windows(2).position(|w| w == b"?=")?;
    let text = &rest[text_start..text_start + text_len];
    if text
        .iter()
        .any(|&b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n')
    {
        return None;
    }
    let bytes = match enc {
        b'Q' | b'q' => {
            let t: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            quoted_printable(&t)
        }
        b'B' | b'b' => base64(text),
        _ => return None,
    };
    Some((to_utf8(&bytes, charset), 2 + text_start + text_len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(
            quoted_printable(b"Caf=C3=A9 =\r\nok= =3d=zz"),
            "Café ok= ==zz".as_bytes()
        );
        assert_eq!(base64(b"SGVs\r\nbG8=\r\n"), b"Hello");
        assert_eq!(base64(b"SGVsbG8gd29ybGQh"), b"Hello world!");
        assert_eq!(to_utf8(b"Gr\xfc\xdfe", b"ISO-8859-1"), "Grüße");
        assert_eq!(rfc2047(b"=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
        assert_eq!(
            rfc2047(b"=?UTF-8?B?SsO8cmdlbg==?= =?UTF-8?Q?_M=C3=BCller?="),
            "Jürgen Müller"
        );
        assert_eq!(rfc2047(b"a =?x?y"), "a =?x?y");
        assert_eq!(rfc2047(b"=?utf-8?q?a?= b"), "a b");
    }
}
