//! LIST and LSUB arguments (RFC 3501 §6.3.8, RFC 5258, RFC 6154), parsed by hand
//! because imap-codec does not know the RFC 5258 syntax
//! (`LIST (SPECIAL-USE) "" *`, `RETURN (...)`): a tokenizer for list-mailbox
//! atoms, quoted strings and inlined literals, and the argument grammar.

use crate::imap::proto::{ListArgs, StatusItem};

#[derive(Debug, PartialEq)]
enum Tok {
    Word(Vec<u8>),
    Str(Vec<u8>),
    Open,
    Close,
}

/// Splits LIST arguments into atoms (list-mailbox chars included), quoted strings,
/// literals (already inlined: `{n}\r\n` then n bytes) and parentheses.
fn tokens(mut s: &[u8]) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let err = || "Invalid arguments".to_string();
    while let Some(&c) = s.first() {
        match c {
            b' ' => s = &s[1..],
            b'\r' | b'\n' => s = &s[1..],
            b'(' => {
                out.push(Tok::Open);
                s = &s[1..];
            }
            b')' => {
                out.push(Tok::Close);
                s = &s[1..];
            }
            b'"' => {
                let mut v = Vec::new();
                let mut i = 1;
                loop {
                    match s.get(i) {
                        None => return Err(err()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let &n = s.get(i + 1).ok_or_else(err)?;
                            v.push(n);
                            i += 2;
                        }
                        Some(b'\r') | Some(b'\n') => return Err(err()),
                        Some(&b) => {
                            v.push(b);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
                s = &s[i + 1..];
            }
            b'{' => {
                let close = s.iter().position(|&b| b == b'}').ok_or_else(err)?;
                let num = std::str::from_utf8(&s[1..close])
                    .ok()
                    .map(|n| n.trim_end_matches('+'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(err)?;
                let rest = s[close + 1..].strip_prefix(b"\r\n").ok_or_else(err)?;
                if rest.len() < num {
                    return Err(err());
                }
                out.push(Tok::Str(rest[..num].to_vec()));
                s = &rest[num..];
            }
            _ => {
                let end = s
                    .iter()
                    .position(|&b| matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{'))
                    .unwrap_or(s.len());
                if s[..end].iter().any(|&b| b < 0x20 || b == 0x7f) {
                    return Err(err());
                }
                out.push(Tok::Word(s[..end].to_vec()));
                s = &s[end..];
            }
        }
    }
    Ok(out)
}

fn word_list(it: &mut std::iter::Peekable<std::vec::IntoIter<Tok>>) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    loop {
        match it.next() {
            Some(Tok::Close) => return Ok(v),
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                v.push(String::from_utf8_lossy(&w).to_ascii_uppercase())
            }
            _ => return Err("Invalid option list".into()),
        }
    }
}

/// The arguments of a LIST or LSUB command line (tag and verb included).
pub(super) fn list_args(input: &[u8]) -> Result<ListArgs, String> {
    let toks = tokens(input)?;
    let mut it = toks.into_iter().peekable();
    it.next(); // tag
    let verb = match it.next() {
        Some(Tok::Word(w)) => String::from_utf8_lossy(&w).to_ascii_uppercase(),
        _ => return Err("Missing command".into()),
    };
    let mut a = ListArgs {
        lsub: verb == "LSUB",
        ..Default::default()
    };
    if !a.lsub && it.peek() == Some(&Tok::Open) {
        it.next();
        a.extended = true;
        for o in word_list(&mut it)? {
            match o.as_str() {
                "SUBSCRIBED" => a.select_subscribed = true,
                "SPECIAL-USE" => {
                    a.select_special_use = true;
                    a.return_special_use = true;
                }
                "RECURSIVEMATCH" => a.recursive_match = true,
                "REMOTE" => {}
                _ => return Err(format!("Unknown selection option {o}")),
            }
        }
        if a.recursive_match && !a.select_subscribed {
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
    }
    let name = |t: Option<Tok>| -> Result<String, String> {
        match t {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                let s = String::from_utf8(w).map_err(|_| "Invalid name".to_string())?;
                if s.eq_ignore_ascii_case("INBOX") {
                    return Ok("INBOX".into());
                }
                Ok(crate::mutf7::decode(&s).unwrap_or(s))
            }
            _ => Err("Missing argument".into()),
        }
    };
    a.reference = name(it.next())?;
    if !a.lsub && it.peek() == Some(&Tok::Open) {
        it.next();
        a.extended = true;
        loop {
            match it.next() {
                Some(Tok::Close) => break,
                t @ (Some(Tok::Word(_)) | Some(Tok::Str(_))) => a.patterns.push(name(t)?),
                _ => return Err("Invalid pattern list".into()),
            }
        }
    } else {
        a.patterns.push(name(it.next())?);
    }
    if !a.lsub {
        if let Some(Tok::Word(w)) = it.peek() {
            if w.eq_ignore_ascii_case(b"RETURN") {
                it.next();
                a.extended = true;
                if it.next() != Some(Tok::Open) {
                    return Err("Invalid RETURN options".into());
                }
                loop {
                    let o = match it.next() {
                        Some(Tok::Close) => break,
                        Some(Tok::Word(w)) => String::from_utf8_lossy(&w).to_ascii_uppercase(),
                        _ => return Err("Invalid RETURN options".into()),
                    };
                    match o.as_str() {
                        "SUBSCRIBED" => a.return_subscribed = true,
                        "CHILDREN" => a.return_children = true,
                        "SPECIAL-USE" => a.return_special_use = true,
                        "STATUS" if a.return_status.is_none() => {
                            if it.next() != Some(Tok::Open) {
                                return Err("STATUS needs a list of items".into());
                            }
                            let mut items = Vec::new();
                            for i in word_list(&mut it)? {
                                items.push(match i.as_str() {
                                    "MESSAGES" => StatusItem::Messages,
                                    "RECENT" => StatusItem::Recent,
                                    "UIDNEXT" => StatusItem::UidNext,
                                    "UIDVALIDITY" => StatusItem::UidValidity,
                                    "UNSEEN" => StatusItem::Unseen,
                                    "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                                    "SIZE" => StatusItem::Size,
                                    _ => return Err(format!("Unknown STATUS item {i}")),
                                });
                            }
                            if items.is_empty() {
                                return Err("STATUS needs at least one item".into());
                            }
                            a.return_status = Some(items);
                        }
                        _ => return Err(format!("Unknown return option {o}")),
                    }
                }
            }
        }
    }
    if it.next().is_some() {
        return Err("Junk after command".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> ListArgs {
        match list_args(s.as_bytes()) {
            Ok(a) => a,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn list_and_lsub() {
        let a = args("a LIST (SPECIAL-USE) \"\" (* Other) RETURN (SUBSCRIBED CHILDREN)\r\n");
        assert!(a.select_special_use && a.return_subscribed && a.return_children);
        assert_eq!(a.patterns, vec!["*", "Other"]);
        assert!(args("a LSUB \"\" %\r\n").lsub);
        let a = args("a LIST \"\" * RETURN (CHILDREN STATUS (MESSAGES size))\r\n");
        assert_eq!(
            a.return_status,
            Some(vec![StatusItem::Messages, StatusItem::Size])
        );
        assert!(list_args(b"a LIST \"\" * RETURN (STATUS ())\r\n").is_err());
        assert!(list_args(b"a LIST \"\" * RETURN (STATUS (BOGUS))\r\n").is_err());
        assert!(list_args(b"a LIST \"\" * RETURN (STATUS MESSAGES)\r\n").is_err());
        assert!(list_args(b"a LIST (\r\n").is_err());
        assert!(list_args(b"a LIST \"\" \"unterminated\r\n").is_err());
    }
}
