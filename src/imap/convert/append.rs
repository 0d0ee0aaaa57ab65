//! MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469): `APPEND mailbox [flags]
//! [date] (literal | CATENATE (TEXT literal | URL url ...)) ...`. imap-codec
//! decodes an APPEND of one plain message; this splits a command into one
//! APPEND per message (same tag and mailbox), each decoded on its own, a
//! CATENATE message standing in as a one-byte literal with its parts kept
//! aside.

use crate::imap::proto::CatPart;

/// One message of an APPEND: a single-message APPEND command to decode, and
/// the parts when it is a CATENATE.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece {
    pub cmd: Vec<u8>,
    pub catenate: Option<Vec<CatPart>>,
}

/// The messages of `input` when it has several or a CATENATE; `None`
/// otherwise (or when it is not well-formed: the decoder then reports it).
pub fn split(input: &[u8]) -> Option<Vec<Piece>> {
    let mut p = Scan { b: input, at: 0 };
    p.word()?; // tag
    let verb = p.word()?;
    if !verb.eq_ignore_ascii_case(b"APPEND") {
        return None;
    }
    p.astring()?;
    let prefix = &input[..p.at];
    let mut items = Vec::new();
    let mut any_catenate = false;
    while p.peek() == Some(b' ') {
        p.at += 1;
        let start = p.at;
        if p.peek() == Some(b'(') {
            p.parenthesized()?;
            p.space()?;
        }
        if p.peek() == Some(b'"') {
            p.quoted()?;
            p.space()?;
        }
        let head = start..p.at;
        if p.keyword(b"CATENATE (") {
            items.push((head, Some(p.cat_parts()?)));
            any_catenate = true;
            continue;
        }
        if p.peek() == Some(b'~') {
            p.at += 1;
        }
        p.literal()?;
        items.push((start..p.at, None));
    }
    if &input[p.at..] != b"\r\n" || (items.len() < 2 && !any_catenate) {
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|(r, catenate)| {
                let mut cmd = prefix.to_vec();
                cmd.push(b' ');
                cmd.extend_from_slice(&input[r]);
                if catenate.is_some() {
                    cmd.extend_from_slice(b"{1}\r\nx");
                }
                cmd.extend_from_slice(b"\r\n");
                Piece { cmd, catenate }
            })
            .collect(),
    )
}

struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn space(&mut self) -> Option<()> {
        (self.peek()? == b' ').then(|| self.at += 1)
    }

    /// A word ended by one space.
    fn word(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let len = self.b[start..].iter().position(|&b| b == b' ')?;
        self.at = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// An atom, a quoted string or a literal.
    fn astring(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => {
                let len = self.b[self.at..]
                    .iter()
                    .position(|&b| matches!(b, b' ' | b'\r' | b'(' | b')'))?;
                (len > 0).then(|| self.at += len)
            }
        }
    }

    fn quoted(&mut self) -> Option<()> {
        self.at += 1;
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                b'\\' => self.at += 1,
                b'"' => return Some(()),
                b'\r' | b'\n' => return None,
                _ => {}
            }
        }
        None
    }

    /// `word` (case-insensitive) at the cursor: taken.
    fn keyword(&mut self, word: &[u8]) -> bool {
        let hit = self
            .b
            .get(self.at..self.at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word));
        if hit {
            self.at += word.len();
        }
        hit
    }

    /// `TEXT literal` and `URL astring` items up to and with `)`.
    fn cat_parts(&mut self) -> Option<Vec<CatPart>> {
        let mut parts = Vec::new();
        loop {
            if self.keyword(b"TEXT ") {
                if self.peek() == Some(b'~') {
                    self.at += 1;
                }
                let start = self.at;
                self.literal()?;
                let lit = &self.b[start..self.at];
                let body = lit.iter().position(|&b| b == b'\n')? + 1;
                parts.push(CatPart::Text(lit[body..].to_vec()));
            } else if self.keyword(b"URL ") {
                let start = self.at;
                self.astring()?;
                let raw = &self.b[start..self.at];
                let url = match raw.first() {
                    Some(b'"') => unquote(&raw[1..raw.len() - 1]),
                    Some(b'{') => raw[raw.iter().position(|&b| b == b'\n')? + 1..].to_vec(),
                    _ => raw.to_vec(),
                };
                parts.push(CatPart::Url(String::from_utf8(url).ok()?));
            } else {
                return None;
            }
            match self.peek()? {
                b' ' => self.at += 1,
                b')' => {
                    self.at += 1;
                    return (!parts.is_empty()).then_some(parts);
                }
                _ => return None,
            }
        }
    }

    /// `(...)` without nesting (a flag list).
    fn parenthesized(&mut self) -> Option<()> {
        let len = self.b[self.at..]
            .iter()
            .position(|&b| b == b')' || b == b'\r' || b == b'{')?;
        (self.b[self.at + len] == b')').then(|| self.at += len + 1)
    }

    /// `{n}` or `{n+}`, CRLF, n bytes.
    fn literal(&mut self) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        let close = self.b[self.at..].iter().position(|&b| b == b'}')? + self.at;
        let digits = self.b[self.at + 1..close]
            .strip_suffix(b"+")
            .unwrap_or(&self.b[self.at + 1..close]);
        if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if self.b.get(close + 1..close + 3)? != b"\r\n" {
            return None;
        }
        let end = (close + 3).checked_add(n)?;
        (end <= self.b.len()).then(|| self.at = end)
    }
}

/// A quoted string's content without its escapes.
fn unquote(q: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.len());
    let mut esc = false;
    for &b in q {
        if !esc && b == b'\\' {
            esc = true;
            continue;
        }
        esc = false;
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_messages_become_several_appends() {
        let cmd = b"a1 APPEND \"Entw&APw-rfe\" (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3}\r\nabc {2+}\r\nde ~{1}\r\n\x00\r\n";
        let parts: Vec<Vec<u8>> = split(cmd).unwrap().into_iter().map(|p| p.cmd).collect();
        assert_eq!(
            parts,
            [
                b"a1 APPEND \"Entw&APw-rfe\" (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3}\r\nabc\r\n".to_vec(),
                b"a1 APPEND \"Entw&APw-rfe\" {2+}\r\nde\r\n".to_vec(),
                b"a1 APPEND \"Entw&APw-rfe\" ~{1}\r\n\x00\r\n".to_vec(),
            ]
        );
        // A literal mailbox name, a message holding `} {`.
        let cmd = b"a APPEND {4}\r\nSent {5}\r\n} {3} {1}\r\nx\r\n";
        assert_eq!(split(cmd).unwrap().len(), 2);
        // One message: left to the decoder; so is anything malformed.
        assert!(split(b"a APPEND INBOX {3}\r\nabc\r\n").is_none());
        assert!(split(b"a APPEND INBOX {3}\r\nabc {9}\r\nab\r\n").is_none());
        assert!(split(b"a APPEND INBOX {3}\r\nabc (\\Seen {1}\r\nx\r\n").is_none());
        assert!(split(b"a APPEND INBOX {3}\r\nabc junk\r\n").is_none());
        assert!(split(b"a APPEND INBOX {99999999999}\r\nabc {1}\r\nx\r\n").is_none());
    }

    #[test]
    fn catenate_parts_are_kept_aside() {
        let cmd = b"a APPEND Sent (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY=9/;UID=3/;SECTION=HEADER\" TEXT {6}\r\nbody\r\n) {2}\r\nhi catenate (text ~{1}\r\n\x00)\r\n";
        let p = split(cmd).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].cmd, b"a APPEND Sent (\\Seen) {1}\r\nx\r\n");
        assert_eq!(
            p[0].catenate,
            Some(vec![
                CatPart::Url("/INBOX;UIDVALIDITY=9/;UID=3/;SECTION=HEADER".into()),
                CatPart::Text(b"body\r\n".to_vec()),
            ])
        );
        assert_eq!(p[1].cmd, b"a APPEND Sent {2}\r\nhi\r\n");
        assert_eq!(p[1].catenate, None);
        assert_eq!(p[2].catenate, Some(vec![CatPart::Text(vec![0])]));
        // One CATENATE message alone is split too.
        assert!(split(b"a APPEND x CATENATE (URL /x/;UID=1)\r\n").is_some());
        assert!(split(b"a APPEND x CATENATE ()\r\n").is_none());
        assert!(split(b"a APPEND x CATENATE (FOO 1)\r\n").is_none());
        assert!(split(b"a APPEND x CATENATE (URL /x/;UID=1\r\n").is_none());
    }
}
