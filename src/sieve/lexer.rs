//! The tokens of a Sieve script (RFC 5228 §2 and §8.1): identifiers, tags,
//! numbers with K/M/G, quoted and multi-line (`text:`) strings, the special
//! characters; `#` and `/* */` comments and white space are skipped.
//!
//! The script must be UTF-8 (RFC 5228 §2.1); the first invalid byte is an
//! error with its place. Works on a vector of chars, so no string is ever
//! sliced at a byte index.

use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    /// `:name`, without the colon, lower-cased.
    Tag(String),
    Num(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

struct Lexer {
    s: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

/// Splits `src` into tokens.
pub fn lex(src: &[u8]) -> Result<Vec<Token>, Error> {
    let text = match std::str::from_utf8(src) {
        Ok(t) => t,
        Err(e) => {
            // valid_up_to is a char boundary by definition.
            let good = std::str::from_utf8(&src[..e.valid_up_to()]).unwrap_or("");
            let line = good.matches('\n').count() as u32 + 1;
            let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
            return Err(Error::at(line, col, "the script is not valid UTF-8"));
        }
    };
    let mut lx = Lexer {
        s: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    while let Some(t) = lx.next()? {
        out.push(t);
    }
    Ok(out)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::at(self.line, self.col, msg)
    }

    /// Skips white space and comments.
    fn skip(&mut self) -> Result<(), Error> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    let (l, c) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(Error::at(l, c, "unterminated /* comment")),
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next(&mut self) -> Result<Option<Token>, Error> {
        self.skip()?;
        let (line, col) = (self.line, self.col);
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            '[' | ']' | '(' | ')' | '{' | '}' | ',' | ';' => {
                self.bump();
                match c {
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ',' => Tok::Comma,
                    _ => Tok::Semi,
                }
            }
            '"' => self.quoted()?,
            ':' => {
                self.bump();
                match self.peek() {
                    Some(c) if is_ident_start(c) => Tok::Tag(self.ident().to_ascii_lowercase()),
                    _ => return Err(self.err("expected a tag name after ':'")),
                }
            }
            '0'..='9' => self.number()?,
            c if is_ident_start(c) => {
                let id = self.ident();
                if id.eq_ignore_ascii_case("text") && self.peek() == Some(':') {
                    self.bump();
                    self.multiline(line, col)?
                } else {
                    Tok::Ident(id)
                }
            }
            c => return Err(self.err(format!("unexpected character {c:?}"))),
        };
        Ok(Some(Token { tok, line, col }))
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !is_ident(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    fn number(&mut self) -> Result<Tok, Error> {
        let (l, c) = (self.line, self.col);
        let mut n: u64 = 0;
        let too_big = || Error::at(l, c, "number too large");
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(too_big)?;
            self.bump();
        }
        let mult: u64 = match self.peek() {
            Some('k' | 'K') => 1 << 10,
            Some('m' | 'M') => 1 << 20,
            Some('g' | 'G') => 1 << 30,
            _ => 1,
        };
        if mult > 1 {
            self.bump();
            n = n.checked_mul(mult).ok_or_else(too_big)?;
        }
        if self.peek().is_some_and(is_ident) {
            return Err(self.err("unexpected character after a number"));
        }
        Ok(Tok::Num(n))
    }

    /// A quoted string: `\\` and `\"` are escapes, any other backslash is
    /// dropped (RFC 5228 §2.4.2).
    fn quoted(&mut self) -> Result<Tok, Error> {
        let (l, c) = (self.line, self.col);
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(Error::at(l, c, "unterminated quoted string")),
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => match self.bump() {
                    None => return Err(Error::at(l, c, "unterminated quoted string")),
                    Some(ch) => s.push(ch),
                },
                Some(ch) => s.push(ch),
            }
        }
    }

    /// The rest of a `text:` string: up to a line holding only `.`; a line
    /// starting with `..` loses its first dot. Lines end with CRLF.
    fn multiline(&mut self, l: u32, c: u32) -> Result<Tok, Error> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        match self.peek() {
            Some('#') => {
                while let Some(ch) = self.bump() {
                    if ch == '\n' {
                        break;
                    }
                }
            }
            Some('\r') if self.peek_at(1) == Some('\n') => {
                self.bump();
                self.bump();
            }
            Some('\n') => {
                self.bump();
            }
            None => return Err(Error::at(l, c, "unterminated text: string")),
            _ => return Err(self.err("expected the end of the line after text:")),
        }
        let mut s = String::new();
        loop {
            if self.peek().is_none() {
                return Err(Error::at(
                    l,
                    c,
                    "unterminated text: string (a line with a single '.' ends it)",
                ));
            }
            let mut line = String::new();
            while let Some(ch) = self.bump() {
                if ch == '\n' {
                    break;
                }
                line.push(ch);
            }
            if line.ends_with('\r') {
                line.pop();
            }
            if line == "." {
                return Ok(Tok::Str(s));
            }
            let body = line.strip_prefix('.').filter(|r| r.starts_with('.'));
            s.push_str(body.unwrap_or(&line));
            s.push_str("\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn basics() {
        assert_eq!(
            toks("if size :over 100K { discard; } # c\n/* x */"),
            vec![
                Tok::Ident("if".into()),
                Tok::Ident("size".into()),
                Tok::Tag("over".into()),
                Tok::Num(100 * 1024),
                Tok::LBrace,
                Tok::Ident("discard".into()),
                Tok::Semi,
                Tok::RBrace,
            ]
        );
    }

    #[test]
    fn strings() {
        assert_eq!(toks(r#""a\"b\\c\d""#), vec![Tok::Str("a\"b\\cd".into())]);
        assert_eq!(
            toks("text: # c\r\nline\n..dot\n.\n"),
            vec![Tok::Str("line\r\n.dot\r\n".into())]
        );
        assert_eq!(toks("text:\n.\n"), vec![Tok::Str(String::new())]);
    }

    #[test]
    fn errors() {
        let e = lex(b"keep;\n  \"abc").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(lex(b"text:\nabc\n")
            .unwrap_err()
            .message
            .contains("unterminated"));
        assert!(lex(b"/* abc").is_err());
        assert!(lex(b"99999999999999999999").is_err());
        assert!(lex(b"17179869184G").is_err());
        let e = lex(b"keep;\n\xff").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert!(lex(b"@").is_err());
    }
}
