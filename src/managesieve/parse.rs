//! ManageSieve command syntax (RFC 5804 §4): a command is an atom followed by
//! arguments, each a quoted string, a literal (`{n+}` or `{n}`, then CRLF and
//! n octets) or an atom (numbers). Pure, so that it is unit-tested without a
//! socket: the session feeds it one line at a time and reads the literals it
//! announces.

/// Longest quoted string (RFC 5804 §4: 1024 octets).
pub const MAX_QUOTED: usize = 1024;
/// Most arguments one command may carry (PUTSCRIPT and RENAMESCRIPT take two).
pub const MAX_ARGS: usize = 4;

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// An atom: a number, or `*`.
    Atom(String),
}

/// What one line of a command holds: its words so far, and the length of a
/// literal that follows the line, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePart {
    pub args: Vec<Arg>,
    pub literal: Option<u64>,
}

/// Why a command line is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("quoted string too long")]
    QuotedTooLong,
    #[error("invalid escape in quoted string")]
    BadEscape,
    #[error("invalid character in command")]
    BadChar,
    #[error("invalid literal")]
    BadLiteral,
    #[error("too many arguments")]
    TooMany,
}

/// Splits one line (its CRLF removed) into arguments. A literal may only end
/// the line; `args_before` counts the arguments of the command's earlier lines.
pub fn split_line(line: &[u8], args_before: usize) -> Result<LinePart, SyntaxError> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' => i += 1,
            b'"' => {
                let (s, next) = quoted(line, i + 1)?;
                args.push(Arg::Str(s));
                i = next;
            }
            b'{' => {
                let close = line[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or(SyntaxError::BadLiteral)?;
                if i + close + 1 != line.len() {
                    return Err(SyntaxError::BadLiteral);
                }
                let inner = &line[i + 1..i + close];
                let digits = inner.strip_suffix(b"+").unwrap_or(inner);
                if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit)
                {
                    return Err(SyntaxError::BadLiteral);
                }
                let n: u64 = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or(SyntaxError::BadLiteral)?;
                if args_before + args.len() >= MAX_ARGS {
                    return Err(SyntaxError::TooMany);
                }
                return Ok(LinePart {
                    args,
                    literal: Some(n),
                });
            }
            _ => {
                let end = line[i..]
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(line.len(), |p| i + p);
                let word = &line[i..end];
                if !word
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'{' | b'}'))
                {
                    return Err(SyntaxError::BadChar);
                }
                args.push(Arg::Atom(String::from_utf8_lossy(word).into_owned()));
                i = end;
            }
        }
        if args_before + args.len() > MAX_ARGS + 1 {
            return Err(SyntaxError::TooMany);
        }
    }
    Ok(LinePart {
        args,
        literal: None,
    })
}

/// A quoted string's contents from `start` (after its opening quote), and the
/// index after its closing quote.
fn quoted(line: &[u8], start: usize) -> Result<(Vec<u8>, usize), SyntaxError> {
    let mut out = Vec::new();
    let mut i = start;
    while i < line.len() {
        match line[i] {
            b'"' => return Ok((out, i + 1)),
            b'\\' => {
                match line.get(i + 1) {
                    Some(&c @ (b'"' | b'\\')) => out.push(c),
                    _ => return Err(SyntaxError::BadEscape),
                }
                i += 2;
            }
            0 | b'\r' | b'\n' => return Err(SyntaxError::BadChar),
            c => {
                out.push(c);
                i += 1;
            }
        }
        if out.len() > MAX_QUOTED {
            return Err(SyntaxError::QuotedTooLong);
        }
    }
    Err(SyntaxError::Unterminated)
}

/// `s` as a quoted string for a response; control characters (which a name
/// never has, but an error text might) become spaces.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Arg {
        Arg::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn words_strings_and_literals() {
        let p = split_line(b"PUTSCRIPT \"Urlaub\" {12+}", 0).unwrap();
        assert_eq!(p.args, vec![Arg::Atom("PUTSCRIPT".into()), s("Urlaub")]);
        assert_eq!(p.literal, Some(12));
        let p = split_line(b"putscript \"a\" {3}", 0).unwrap();
        assert_eq!(p.literal, Some(3));
        let p = split_line("HAVESPACE \"Фильтры\" 1000".as_bytes(), 0).unwrap();
        assert_eq!(
            p.args,
            vec![
                Arg::Atom("HAVESPACE".into()),
                s("Фильтры"),
                Arg::Atom("1000".into())
            ]
        );
        let p = split_line(br#"GETSCRIPT "a\"b\\c""#, 0).unwrap();
        assert_eq!(p.args[1], s("a\"b\\c"));
        assert_eq!(split_line(b"", 0).unwrap().args, vec![]);
        assert_eq!(split_line(b" \"\"", 0).unwrap().args, vec![s("")]);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(split_line(b"X \"abc", 0), Err(SyntaxError::Unterminated));
        assert_eq!(split_line(b"X \"a\\b\"", 0), Err(SyntaxError::BadEscape));
        assert_eq!(
            split_line(b"X {12+} \"a\"", 0),
            Err(SyntaxError::BadLiteral)
        );
        assert_eq!(split_line(b"X {}", 0), Err(SyntaxError::BadLiteral));
        assert_eq!(split_line(b"X {-1}", 0), Err(SyntaxError::BadLiteral));
        assert_eq!(
            split_line(b"X {99999999999}", 0),
            Err(SyntaxError::BadLiteral)
        );
        assert_eq!(split_line(b"X \x01", 0), Err(SyntaxError::BadChar));
        assert_eq!(split_line(b"X \"a\0\"", 0), Err(SyntaxError::BadChar));
        assert_eq!(
            split_line(b"X \"a\" \"b\" \"c\" \"d\" \"e\"", 0),
            Err(SyntaxError::TooMany)
        );
        assert_eq!(split_line(b"{1+}", MAX_ARGS), Err(SyntaxError::TooMany));
        let long = format!("X \"{}\"", "a".repeat(MAX_QUOTED + 1));
        assert_eq!(
            split_line(long.as_bytes(), 0),
            Err(SyntaxError::QuotedTooLong)
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("Urlaub"), "\"Urlaub\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(quote("x\r\ny"), "\"x  y\"");
    }
}
