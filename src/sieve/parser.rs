//! The grammar of RFC 5228 §8.2 over the tokens of lexer.rs: commands, blocks,
//! arguments, tests and test lists. Nesting (blocks and tests together) is
//! bounded by `max_depth`, so hostile scripts cannot exhaust the stack.

use super::ast::{Arg, ArgKind, Command, Test};
use super::error::Error;
use super::lexer::{Tok, Token};

struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    max_depth: usize,
}

/// Parses the tokens of a whole script.
pub fn parse(toks: &[Token], max_depth: usize) -> Result<Vec<Command>, Error> {
    let mut p = Parser {
        toks,
        i: 0,
        max_depth,
    };
    let cmds = p.commands(0)?;
    if let Some(t) = p.toks.get(p.i) {
        return Err(Error::at(t.line, t.col, "unexpected '}'"));
    }
    Ok(cmds)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier {s}"),
        Tok::Tag(s) => format!("tag :{s}"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(_) => "a string".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::Semi => "';'".into(),
    }
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.i)
    }

    fn eof(&self) -> Error {
        let (l, c) = self.toks.last().map_or((1, 1), |t| (t.line, t.col));
        Error::at(l, c, "unexpected end of script")
    }

    fn unexpected(&self, t: &Token, wanted: &str) -> Error {
        Error::at(
            t.line,
            t.col,
            format!("expected {wanted}, found {}", describe(&t.tok)),
        )
    }

    fn deeper(&self, depth: usize, t: &Token) -> Result<usize, Error> {
        if depth >= self.max_depth {
            return Err(Error::at(
                t.line,
                t.col,
                format!("nesting deeper than {} levels", self.max_depth),
            ));
        }
        Ok(depth + 1)
    }

    /// Commands up to a `}` or the end of the script (neither consumed).
    fn commands(&mut self, depth: usize) -> Result<Vec<Command>, Error> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            match &t.tok {
                Tok::RBrace => break,
                Tok::Ident(name) => {
                    self.i += 1;
                    out.push(self.command(name, t, depth)?);
                }
                _ => return Err(self.unexpected(t, "a command")),
            }
        }
        Ok(out)
    }

    fn command(&mut self, name: &str, start: &Token, depth: usize) -> Result<Command, Error> {
        let (args, tests, test_list) = self.arguments(depth, start)?;
        let t = self.peek().ok_or_else(|| self.eof())?;
        let block = match t.tok {
            Tok::Semi => {
                self.i += 1;
                None
            }
            Tok::LBrace => {
                self.i += 1;
                let d = self.deeper(depth, t)?;
                let cmds = self.commands(d)?;
                match self.peek() {
                    Some(Token {
                        tok: Tok::RBrace, ..
                    }) => self.i += 1,
                    Some(t) => return Err(self.unexpected(t, "'}'")),
                    None => {
                        return Err(Error::at(
                            t.line,
                            t.col,
                            "unterminated block: '{' without its '}'",
                        ))
                    }
                }
                Some(cmds)
            }
            _ => return Err(self.unexpected(t, "';' or '{'")),
        };
        Ok(Command {
            name: name.to_ascii_lowercase(),
            line: start.line,
            col: start.col,
            args,
            tests,
            test_list,
            block,
        })
    }

    /// Arguments, then an optional test or test list.
    fn arguments(
        &mut self,
        depth: usize,
        start: &Token,
    ) -> Result<(Vec<Arg>, Vec<Test>, bool), Error> {
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            let kind = match &t.tok {
                Tok::Tag(s) => ArgKind::Tag(s.clone()),
                Tok::Num(n) => ArgKind::Num(*n),
                Tok::Str(s) => ArgKind::Str(s.clone()),
                Tok::LBracket => {
                    self.i += 1;
                    ArgKind::List(self.string_list()?)
                }
                _ => break,
            };
            if !matches!(kind, ArgKind::List(_)) {
                self.i += 1;
            }
            args.push(Arg {
                kind,
                line: t.line,
                col: t.col,
            });
        }
        let Some(t) = self.peek() else {
            return Ok((args, Vec::new(), false));
        };
        match &t.tok {
            Tok::Ident(name) => {
                self.i += 1;
                let d = self.deeper(depth, start)?;
                Ok((args, vec![self.test(name, t, d)?], false))
            }
            Tok::LParen => {
                self.i += 1;
                let d = self.deeper(depth, t)?;
                let mut tests = Vec::new();
                loop {
                    let t = self.peek().ok_or_else(|| self.eof())?;
                    let Tok::Ident(name) = &t.tok else {
                        return Err(self.unexpected(t, "a test"));
                    };
                    self.i += 1;
                    tests.push(self.test(name, t, d)?);
                    let t = self.peek().ok_or_else(|| self.eof())?;
                    self.i += 1;
                    match t.tok {
                        Tok::Comma => {}
                        Tok::RParen => break,
                        _ => return Err(self.unexpected(t, "',' or ')'")),
                    }
                }
                Ok((args, tests, true))
            }
            _ => Ok((args, Vec::new(), false)),
        }
    }

    fn test(&mut self, name: &str, start: &Token, depth: usize) -> Result<Test, Error> {
        let (args, tests, test_list) = self.arguments(depth, start)?;
        Ok(Test {
            name: name.to_ascii_lowercase(),
            line: start.line,
            col: start.col,
            args,
            tests,
            test_list,
        })
    }

    /// The rest of `[ "a", "b" ]` after the `[`.
    fn string_list(&mut self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        loop {
            let t = self.peek().ok_or_else(|| self.eof())?;
            let Tok::Str(s) = &t.tok else {
                return Err(self.unexpected(t, "a string in the string list"));
            };
            out.push(s.clone());
            self.i += 1;
            let t = self.peek().ok_or_else(|| self.eof())?;
            self.i += 1;
            match t.tok {
                Tok::Comma => {}
                Tok::RBracket => return Ok(out),
                _ => return Err(self.unexpected(t, "',' or ']'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn p(s: &str) -> Result<Vec<Command>, Error> {
        parse(&lex(s.as_bytes())?, 32)
    }

    #[test]
    fn shapes() {
        let c = p("if anyof (true, not false) { keep; } else { discard; }").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].tests[0].name, "anyof");
        assert!(c[0].tests[0].test_list);
        assert_eq!(c[0].tests[0].tests[1].tests[0].name, "false");
        let c = p("fileinto :copy [\"a\", \"b\"];").unwrap();
        assert_eq!(c[0].args.len(), 2);
    }

    #[test]
    fn errors() {
        assert!(p("keep").unwrap_err().message.contains("end of script"));
        assert!(p("keep }").is_err());
        assert!(p("if true { keep;").unwrap_err().message.contains("'}'"));
        assert!(p("fileinto [\"a\" \"b\"];").is_err());
        assert!(p("if anyof (true, false {}").is_err());
        let deep = "if true {".repeat(100) + &"}".repeat(100);
        assert!(p(&deep).unwrap_err().message.contains("nesting"));
        let nots = "if ".to_string() + &"not ".repeat(100_000) + "true {}";
        assert!(p(&nots).unwrap_err().message.contains("nesting"));
    }
}
