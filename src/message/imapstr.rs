//! IMAP string syntax for the structures we render (RFC 3501 §4.3).

/// A string: quoted (with `\` and `"` escaped), or a literal `{n}\r\n...` when it
/// holds bytes a quoted string cannot carry (CR, LF, NUL, 8-bit).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter()
        .any(|&b| b == b'\r' || b == b'\n' || b == 0 || b >= 0x80)
    {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// A string or NIL.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}
