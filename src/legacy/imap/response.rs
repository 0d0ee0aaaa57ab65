//! The server side of the legacy IMAP conversation: response values, the
//! framing of responses (lines and literals, with their bounds) and the parser
//! of their text, response codes, and dates.

use crate::legacy::{LegacyError, Result};
use crate::server::conn::trim_eol;

/// Longest response line we accept (text between literals).
pub(super) const MAX_LINE: usize = 256 * 1024;
/// Largest literal held in memory (anything but a message body).
pub(super) const MAX_MEM_LITERAL: usize = 1024 * 1024;
/// Largest total of one response held in memory.
pub(super) const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// A parsed value of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Atom(String),
    Str(Vec<u8>),
    List(Vec<Value>),
    Nil,
    /// A message body streamed to a file (index into the response's blobs).
    Blob(usize),
}

impl Value {
    /// Atom or string as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub(super) fn number(&self) -> Option<u64> {
        match self {
            Value::Atom(a) => a.parse().ok(),
            _ => None,
        }
    }
}

/// A server response.
#[derive(Debug)]
pub enum Response {
    /// `* ...`: the text (literals replaced by markers) and its values.
    Untagged { text: String, values: Vec<Value> },
    /// `tag OK|NO|BAD text`.
    Tagged {
        tag: String,
        status: Status,
        text: String,
    },
    /// `+ ...`
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

fn is_atom_char(b: u8) -> bool {
    !matches!(b, b' ' | b'(' | b')' | b'"' | b'\r' | b'\n' | 0)
}

/// Parses response text (literals replaced by `\0<index>\0` markers) into values.
fn parse_values(text: &[u8], mem: &mut [Option<Vec<u8>>]) -> Result<Vec<Value>> {
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    let mut i = 0;
    let bad = |what: &str| LegacyError::Protocol(format!("unparsable response ({what})"));
    while i < text.len() {
        let b = text[i];
        match b {
            b' ' | b'\r' | b'\n' => i += 1,
            b'(' => {
                if stack.len() > 64 {
                    return Err(bad("nesting"));
                }
                stack.push(Vec::new());
                i += 1;
            }
            b')' => {
                let l = stack.pop().ok_or_else(|| bad("parenthesis"))?;
                stack
                    .last_mut()
                    .ok_or_else(|| bad("parenthesis"))?
                    .push(Value::List(l));
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match text.get(i) {
                        None => return Err(bad("quoted string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            s.push(*text.get(i + 1).ok_or_else(|| bad("quoted string"))?);
                            i += 2;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                stack
                    .last_mut()
                    .ok_or_else(|| bad("state"))?
                    .push(Value::Str(s));
            }
            0 => {
                let end = text[i + 1..]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| bad("marker"))?;
                let marker = std::str::from_utf8(&text[i + 1..i + 1 + end]).unwrap_or("");
                i += end + 2;
                let v = if let Some(n) = marker.strip_prefix('b') {
                    Value::Blob(n.parse().map_err(|_| bad("marker"))?)
                } else {
                    let n: usize = marker.parse().map_err(|_| bad("marker"))?;
                    Value::Str(
                        mem.get_mut(n)
                            .and_then(Option::take)
                            .ok_or_else(|| bad("marker"))?,
                    )
                };
                stack.last_mut().ok_or_else(|| bad("state"))?.push(v);
            }
            _ => {
                let start = i;
                let mut depth = 0usize;
                while i < text.len() {
                    let c = text[i];
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth = depth.saturating_sub(1);
                    } else if c == 0 || (depth == 0 && !is_atom_char(c)) {
                        break;
                    }
                    i += 1;
                }
                let a = String::from_utf8_lossy(&text[start..i]).into_owned();
                let v = if a.eq_ignore_ascii_case("NIL") {
                    Value::Nil
                } else {
                    Value::Atom(a)
                };
                stack.last_mut().ok_or_else(|| bad("state"))?.push(v);
            }
        }
    }
    if stack.len() != 1 {
        return Err(bad("unbalanced parentheses"));
    }
    Ok(stack.pop().unwrap_or_default())
}

/// `{123}` or `{123+}` at the end of a line (without CRLF): the literal's size.
pub(super) fn literal_size(line: &[u8]) -> Option<usize> {
    let s = line.strip_suffix(b"}")?;
    let open = s.iter().rposition(|&b| b == b'{')?;
    let n = std::str::from_utf8(&s[open + 1..]).ok()?;
    n.trim_end_matches('+').parse().ok()
}

/// Turns one assembled response (literals replaced by markers) into a [`Response`].
pub(super) fn finish_response(text: Vec<u8>, mem: &mut [Option<Vec<u8>>]) -> Result<Response> {
    if let Some(rest) = text.strip_prefix(b"* ") {
        // Free text (`* OK ...`) need not parse; its values are then empty.
        let values = parse_values(rest, mem).unwrap_or_default();
        let shown = String::from_utf8_lossy(rest).into_owned();
        return Ok(Response::Untagged {
            text: shown,
            values,
        });
    }
    if text.starts_with(b"+") {
        return Ok(Response::Continue);
    }
    let s = String::from_utf8_lossy(&text).into_owned();
    let mut it = s.splitn(3, ' ');
    let tag = it.next().unwrap_or("").to_string();
    let status = match it.next().map(str::to_ascii_uppercase).as_deref() {
        Some("OK") => Status::Ok,
        Some("NO") => Status::No,
        Some("BAD") => Status::Bad,
        _ => {
            return Err(LegacyError::Protocol(format!(
                "unexpected response `{}`",
                s.chars().take(80).collect::<String>()
            )))
        }
    };
    Ok(Response::Tagged {
        tag,
        status,
        text: it.next().unwrap_or("").to_string(),
    })
}

/// The response framing and parsing of the connection reader (`reader.rs`) on
/// a buffer instead of a connection, every literal held in memory: for the fuzz target
/// (`tests/fuzz/fuzz_targets/legacy_response.rs`). Returns the responses read
/// until the buffer ends or the first error.
pub fn parse_responses(mut buf: &[u8]) -> Vec<Result<Response>> {
    let mut out = Vec::new();
    'responses: while !buf.is_empty() {
        let mut text: Vec<u8> = Vec::new();
        let mut mem: Vec<Option<Vec<u8>>> = Vec::new();
        let mut total = 0usize;
        loop {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                break 'responses;
            };
            if end + 1 > MAX_LINE {
                out.push(Err(LegacyError::Protocol("line too long".into())));
                break 'responses;
            }
            let line = trim_eol(&buf[..end + 1]);
            buf = &buf[end + 1..];
            if let Err(e) = check_line(line) {
                out.push(Err(e));
                break 'responses;
            }
            total += line.len();
            if total > MAX_RESPONSE {
                out.push(Err(LegacyError::Protocol("response too large".into())));
                break 'responses;
            }
            let Some(n) = literal_size(line) else {
                text.extend_from_slice(line);
                break;
            };
            let open = line.iter().rposition(|&b| b == b'{').unwrap_or(line.len());
            text.extend_from_slice(&line[..open]);
            if n > MAX_MEM_LITERAL || n > buf.len() {
                out.push(Err(LegacyError::Protocol("literal".into())));
                break 'responses;
            }
            total += n;
            mem.push(Some(buf[..n].to_vec()));
            buf = &buf[n..];
            text.extend_from_slice(format!("\0{}\0", mem.len() - 1).as_bytes());
        }
        let r = finish_response(text, &mut mem);
        let failed = r.is_err();
        out.push(r);
        if failed {
            break;
        }
    }
    out
}

/// A response line from the server may not hold NUL (RFC 3501 §9: CHAR8 excludes
/// it; NUL is only allowed inside literals): it would be taken for our literal
/// markers.
pub(super) fn check_line(line: &[u8]) -> Result<()> {
    if line.contains(&0) {
        return Err(LegacyError::Protocol("NUL in a response line".into()));
    }
    Ok(())
}

/// The response code of a status text: `[UNAVAILABLE] ...` -> `UNAVAILABLE`.
pub(super) fn code_of(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].to_ascii_uppercase())
}

/// A `NO` to LOGIN/AUTHENTICATE that does not mean "wrong password" (RFC 5530).
pub(super) fn temporary_code(text: &str) -> bool {
    matches!(
        code_of(text)
            .as_deref()
            .and_then(|c| c.split(' ').next())
            .unwrap_or(""),
        "UNAVAILABLE" | "SERVERBUG" | "INUSE" | "LIMIT" | "CONTACTADMIN" | "OVERQUOTA"
    )
}

/// Capabilities from `[CAPABILITY ...]` in a status text, or `* CAPABILITY ...`.
pub(super) fn caps_from_code(text: &str) -> Option<String> {
    let code = text.strip_prefix('[')?;
    let end = code.find(']')?;
    let code = &code[..end];
    let (name, rest) = code.split_once(' ')?;
    name.eq_ignore_ascii_case("CAPABILITY")
        .then(|| rest.to_string())
}

/// Parses an IMAP date-time (`"17-Jul-1996 02:44:25 -0700"`) into seconds since
/// the epoch and the zone offset in minutes.
pub fn parse_internaldate(s: &str) -> Option<(i64, i32)> {
    let d = chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()?;
    Some((d.timestamp(), d.offset().local_minus_utc() / 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_lists_strings_and_markers() {
        let mut mem = vec![Some(b"lit".to_vec())];
        let v = parse_values(
            b"1 FETCH (UID 7 FLAGS (\\Seen $Work) INTERNALDATE \" 1-Jan-2020 10:00:00 +0100\" BODY[] \0b0\0 X \x000\x00)",
            &mut mem,
        )
        .unwrap();
        assert_eq!(v[0], Value::Atom("1".into()));
        let items = v[2].list().unwrap();
        assert_eq!(items[1], Value::Atom("7".into()));
        assert_eq!(
            items[3],
            Value::List(vec![
                Value::Atom("\\Seen".into()),
                Value::Atom("$Work".into())
            ])
        );
        assert_eq!(items[6], Value::Atom("BODY[]".into()));
        assert_eq!(items[7], Value::Blob(0));
        assert_eq!(items[9], Value::Str(b"lit".to_vec()));
        let v = parse_values(b"LIST (\\HasNoChildren) \"/\" NIL", &mut []).unwrap();
        assert_eq!(v[3], Value::Nil);
        assert!(parse_values(b"(((", &mut []).is_err());
        assert!(parse_values(b"\"open", &mut []).is_err());
    }

    #[test]
    fn dates_literal_sizes_and_codes() {
        assert_eq!(
            parse_internaldate(" 1-Jan-2020 10:00:00 +0100"),
            Some((1577869200, 60))
        );
        assert_eq!(parse_internaldate("garbage"), None);
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_size(b"abc"), None);
        assert!(temporary_code("[UNAVAILABLE] try later"));
        assert!(!temporary_code("[AUTHENTICATIONFAILED] no"));
        assert_eq!(
            caps_from_code("[CAPABILITY IMAP4rev1 IDLE] Logged in").as_deref(),
            Some("IMAP4rev1 IDLE")
        );
    }
}
