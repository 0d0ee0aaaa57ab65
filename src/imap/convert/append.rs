//! MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date] literal [flags]
//! [date] literal ...`. imap-codec decodes an APPEND of one message; this
//! splits a command of several into one APPEND per message (same tag and
//! mailbox), each decoded on its own.

/// The single-message APPEND commands `input` is made of, when it has more
/// than one message; `None` otherwise (or when it is not well-formed: the
/// decoder then reports it).
pub fn split(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut p = Scan { b: input, at: 0 };
    p.word()?; // tag
    let verb = p.word()?;
    if !verb.eq_ignore_ascii_case(b"APPEND") {
        return None;
    }
    p.astring()?;
    let prefix = &input[..p.at];
    let mut items = Vec::new();
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
        if p.peek() == Some(b'~') {
            p.at += 1;
        }
        p.literal()?;
        items.push(start..p.at);
    }
    if &input[p.at..] != b"\r\n" || items.len() < 2 {
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|r| {
                let mut c = prefix.to_vec();
                c.push(b' ');
                c.extend_from_slice(&input[r]);
                c.extend_from_slice(b"\r\n");
                c
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
                    .position(|&b| b == b' ' || b == b'\r')?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_messages_become_several_appends() {
        let cmd = b"a1 APPEND \"Entw&APw-rfe\" (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3}\r\nabc {2+}\r\nde ~{1}\r\n\x00\r\n";
        let parts = split(cmd).unwrap();
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
}
