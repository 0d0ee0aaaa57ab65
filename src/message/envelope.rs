//! ENVELOPE (RFC 3501 §7.4.2) and RFC 5322 address lists.
//!
//! Header values are not decoded (encoded-words stay as written), only unfolded.
//! With repeated fields, the last one counts (address fields: all are joined),
//! as in Dovecot.
//! Addresses are parsed leniently; a missing local part or domain is reported as
//! `MISSING_MAILBOX` / `MISSING_DOMAIN` like Dovecot does, so that a NIL host keeps
//! meaning group syntax.

use super::imapstr::nstring;
use super::mime::Part;
use super::value::{trim, unfold};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// Renders the envelope of the message whose header is `part`'s.
pub fn render(raw: &[u8], part: &Part, out: &mut Vec<u8>) {
    // Like Dovecot: the last field of a name counts, and the addresses of all
    // fields of a name are concatenated.
    let field = |name: &str| part.all(raw, name).last().map(unfold);
    let addrs = |name: &str| {
        part.all(raw, name)
            .flat_map(|v| parse_addresses(&unfold(v)))
            .collect::<Vec<_>>()
    };
    out.push(b'(');
    nstring(out, field("date").as_deref());
    out.push(b' ');
    nstring(out, field("subject").as_deref());
    let from = addrs("from");
    let mut sender = addrs("sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addrs("reply-to");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    for list in [
        from,
        sender,
        reply_to,
        addrs("to"),
        addrs("cc"),
        addrs("bcc"),
    ] {
        out.push(b' ');
        render_list(&list, out);
    }
    out.push(b' ');
    nstring(out, field("in-reply-to").as_deref());
    out.push(b' ');
    nstring(out, field("message-id").as_deref());
    out.push(b')');
}

fn render_list(list: &[Address], out: &mut Vec<u8>) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word {
        text: Vec<u8>,
        quoted: bool,
    },
    Comment(Vec<u8>),
    Special(u8),
    /// An unterminated quoted string or domain literal.
    Bad,
}

struct Token {
    tok: Tok,
    space_before: bool,
}

fn is_special(c: u8) -> bool {
    b"()<>[]:;@\\,.\"".contains(&c)
}

fn tokenize(v: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < v.len() {
        let c = v[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                space = true;
                i += 1;
            }
            b'(' => {
                let s = i;
                let mut depth = 0usize;
                while i < v.len() {
                    match v[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                // The text between the outer parentheses (to the end if unclosed).
                let i2 = i.min(v.len());
                let inner_end = if depth == 0 { i2 - 1 } else { i2 };
                out.push(Token {
                    tok: Tok::Comment(unescape(&v[s + 1..inner_end.max(s + 1)])),
                    space_before: space,
                });
                i = i2;
                space = true;
            }
            b'"' => {
                i += 1;
                let mut text = Vec::new();
                let mut closed = false;
                while i < v.len() {
                    match v[i] {
                        b'\\' if i + 1 < v.len() => {
                            text.push(v[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        b => {
                            text.push(b);
                            i += 1;
                        }
                    }
                }
                let tok = if closed {
                    Tok::Word { text, quoted: true }
                } else {
                    Tok::Bad
                };
                out.push(Token {
                    tok,
                    space_before: space,
                });
                space = false;
            }
            b'[' => {
                let s = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                let tok = if i < v.len() {
                    i += 1;
                    Tok::Word {
                        text: v[s..i].to_vec(),
                        quoted: false,
                    }
                } else {
                    Tok::Bad
                };
                out.push(Token {
                    tok,
                    space_before: space,
                });
                space = false;
            }
            _ if is_special(c) => {
                out.push(Token {
                    tok: Tok::Special(c),
                    space_before: space,
                });
                space = false;
                i += 1;
            }
            _ => {
                let s = i;
                while i < v.len()
                    && !is_special(v[i])
                    && !matches!(v[i], b' ' | b'\t' | b'\r' | b'\n')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word {
                        text: v[s..i].to_vec(),
                        quoted: false,
                    },
                    space_before: space,
                });
                space = false;
            }
        }
    }
    out
}

/// A comment's text with quoted-pairs resolved.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            i += 1;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn is(t: &Token, c: u8) -> bool {
    t.tok == Tok::Special(c)
}

/// A display name: words with single spaces where the source had space.
fn phrase(toks: &[Token]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in toks {
        let text: &[u8] = match &t.tok {
            Tok::Word { text, .. } => text,
            Tok::Special(c) if *c != b'<' && *c != b'>' => std::slice::from_ref(c),
            _ => continue,
        };
        if !out.is_empty() && t.space_before {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }
    (!out.is_empty()).then_some(out)
}

/// Local part or domain: words and dots as written (quoted words unquoted, as
/// Dovecot writes them).
fn dotted(toks: &[Token]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in toks {
        match &t.tok {
            Tok::Word { text, .. } => out.extend_from_slice(text),
            Tok::Special(c) => out.push(*c),
            Tok::Comment(_) => {}
            Tok::Bad => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn addr_spec(toks: &[Token], name: Option<Vec<u8>>, adl: Option<Vec<u8>>) -> Address {
    let (local, domain) = match toks.iter().position(|t| is(t, b'@')) {
        Some(at) => {
            // A second '@' ends the domain (as Dovecot).
            let rest = &toks[at + 1..];
            let end = rest.iter().position(|t| is(t, b'@')).unwrap_or(rest.len());
            (dotted(&toks[..at]), dotted(&rest[..end]))
        }
        None => (dotted(toks), None),
    };
    Address {
        name,
        adl,
        mailbox: Some(local.unwrap_or_else(|| b"MISSING_MAILBOX".to_vec())),
        host: Some(domain.unwrap_or_else(|| b"MISSING_DOMAIN".to_vec())),
    }
}

/// The text of the last non-empty comment: the name when there is no display
/// name (`user@host (Real Name)`), as Dovecot does.
fn comment_name(toks: &[Token]) -> Option<Vec<u8>> {
    // Only comments after the address count: "(c) user@host" has no name.
    let first = toks
        .iter()
        .position(|t| !matches!(t.tok, Tok::Comment(_)))
        .unwrap_or(toks.len());
    // Comments inside `<...>` are part of the address's white space, never a
    // name (`<user (c)@ (c) host>`).
    let mut angle = false;
    let mut name = None;
    for t in &toks[first..] {
        match &t.tok {
            Tok::Special(b'<') => angle = true,
            Tok::Special(b'>') => angle = false,
            Tok::Comment(c) if !angle && !trim(c).is_empty() => name = Some(trim(c).to_vec()),
            _ => {}
        }
    }
    name
}

/// One mailbox from `toks` (without separators).
fn mailbox(toks: &[Token]) -> Option<Address> {
    if toks.iter().all(|t| matches!(t.tok, Tok::Comment(_))) {
        return None;
    }
    let mut a = mailbox_parts(toks)?;
    if a.name.is_none() {
        a.name = comment_name(toks);
    }
    Some(a)
}

fn mailbox_parts(toks: &[Token]) -> Option<Address> {
    match toks.iter().position(|t| is(t, b'<')) {
        Some(lt) => {
            let name = phrase(&toks[..lt]);
            let close = toks[lt + 1..]
                .iter()
                .position(|t| is(t, b'>'))
                .map_or(toks.len(), |p| lt + 1 + p);
            let inner = &toks[lt + 1..close];
            let (adl, spec) = match inner.iter().position(|t| is(t, b':')) {
                Some(c) => (dotted(&inner[..c]), &inner[c + 1..]),
                None => (None, inner),
            };
            Some(addr_spec(spec, name, adl))
        }
        // A source route without angle brackets: "@a,@b:x@y".
        None if is(&toks[0], b'@') => match toks.iter().position(|t| is(t, b':')) {
            Some(c) => Some(addr_spec(&toks[c + 1..], None, dotted(&toks[..c]))),
            None => Some(addr_spec(toks, None, None)),
        },
        None => Some(addr_spec(toks, None, None)),
    }
}

/// The end of the mailbox starting at `i`: the next `,` (or `;`) outside `<>`.
fn mailbox_end(toks: &[Token], mut i: usize) -> usize {
    let mut angle = false;
    while i < toks.len() {
        match toks[i].tok {
            Tok::Special(b'<') => angle = true,
            Tok::Special(b'>') => angle = false,
            Tok::Special(b',') | Tok::Special(b';') if !angle => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// An RFC 5322 address list with groups: group start `(NIL NIL name NIL)` and end
/// `(NIL NIL NIL NIL)` markers as RFC 3501 wants.
pub fn parse_addresses(v: &[u8]) -> Vec<Address> {
    let toks = tokenize(v);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if is(&toks[i], b',') || is(&toks[i], b';') {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < toks.len()
            && !matches!(toks[j].tok, Tok::Special(b':' | b'<' | b'@' | b',' | b';'))
        {
            j += 1;
        }
        if j < toks.len() && is(&toks[j], b':') {
            out.push(Address {
                name: None,
                adl: None,
                mailbox: Some(phrase(&toks[i..j]).unwrap_or_default()),
                host: None,
            });
            i = j + 1;
            while i < toks.len() && !is(&toks[i], b';') {
                if is(&toks[i], b',') {
                    i += 1;
                    continue;
                }
                let e = mailbox_end(&toks, i);
                out.extend(mailbox(&toks[i..e]));
                i = e;
            }
            i += 1; // ';'
            out.push(Address {
                name: None,
                adl: None,
                mailbox: None,
                host: None,
            });
        } else {
            let e = mailbox_end(&toks, i);
            out.extend(mailbox(&toks[i..e]));
            i = e;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &str) -> String {
        let mut out = Vec::new();
        render_list(&parse_addresses(v.as_bytes()), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn address_lists() {
        let t = [
            ("a@b.c", r#"((NIL NIL "a" "b.c"))"#),
            (
                "\"Doe, Jane\" <jane@x.y>, bob@z",
                r#"(("Doe, Jane" NIL "jane" "x.y")(NIL NIL "bob" "z"))"#,
            ),
            ("Ben B. <b@x>", r#"(("Ben B." NIL "b" "x"))"#),
            ("<@a,@b:joe@c.d>", r#"((NIL "@a,@b" "joe" "c.d"))"#),
            (
                "undisclosed-recipients:;",
                r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))"#,
            ),
            ("justlocal", r#"((NIL NIL "justlocal" "MISSING_DOMAIN"))"#),
            ("<>", r#"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
            ("x@y (Comment)", r#"(("Comment" NIL "x" "y"))"#),
            ("(c1) x@y (c2 (nested))", r#"(("c2 (nested)" NIL "x" "y"))"#),
            ("(c1) x@y", r#"((NIL NIL "x" "y"))"#),
            ("a@b@c", r#"((NIL NIL "a" "b"))"#),
            ("Name (c) <x@y>", r#"(("Name" NIL "x" "y"))"#),
            ("(only a comment)", "NIL"),
            (
                "<user-from (comment)@ (comment) domain.org>",
                r#"((NIL NIL "user-from" "domain.org"))"#,
            ),
            ("<x@y> (after)", r#"(("after" NIL "x" "y"))"#),
            ("x@y (unclosed", r#"(("unclosed" NIL "x" "y"))"#),
            ("\"a b\"@c", r#"((NIL NIL "a b" "c"))"#),
            ("", "NIL"),
            (" , ,", "NIL"),
        ];
        for (input, want) in t {
            assert_eq!(show(input), want, "{input}");
        }
    }
}
