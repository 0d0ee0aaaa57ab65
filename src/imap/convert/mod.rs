//! The one place where the parser's types live: a complete command (literals
//! inlined) is decoded with imap-codec and turned into our [`Cmd`]. LIST and LSUB
//! are parsed here by hand because imap-codec does not know the RFC 5258 syntax
//! (`LIST (SPECIAL-USE) "" *`, `RETURN (...)`).
//!
//! - `codec`: imap-codec's command body -> [`Cmd`], mailbox names.
//! - `list`: the LIST/LSUB tokenizer and argument grammar.

mod append;
mod codec;
mod esearch;
mod list;

use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::CommandCodec;

use crate::imap::proto::Cmd;
use codec::convert;
pub use codec::mailbox_name;
use list::list_args;

/// The outcome of parsing one complete command.
#[derive(Debug)]
pub enum Parsed {
    Ok {
        tag: String,
        cmd: Cmd,
    },
    /// A syntax error, with the tag when one could be read.
    Bad {
        tag: Option<String>,
        text: String,
    },
    /// A valid command that cannot be carried out as sent (a mailbox name
    /// that is not valid modified UTF-7): `NO`.
    No {
        tag: String,
        text: String,
    },
}

fn bad(tag: Option<String>, text: impl Into<String>) -> Parsed {
    Parsed::Bad {
        tag,
        text: text.into(),
    }
}

/// The tag and the command word of a command line, if they look valid.
pub fn tag_and_verb(input: &[u8]) -> (Option<String>, Option<String>) {
    let mut it = input
        .split(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .filter(|s| !s.is_empty());
    let tag = it.next().and_then(|t| {
        let ok = t.len() <= 64
            && t.iter().all(|&b| {
                b > b' '
                    && b < 0x7f
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
            });
        ok.then(|| String::from_utf8_lossy(t).into_owned())
    });
    let verb = it
        .next()
        .map(|v| String::from_utf8_lossy(v).to_ascii_uppercase());
    (tag, verb)
}

/// Whether a command is a SEARCH (or SORT) that asks to SAVE its result,
/// judged from its text (for one that does not parse).
pub fn saves_result(input: &[u8]) -> bool {
    let (_, verb) = tag_and_verb(input);
    let head = &input[..input.len().min(256)];
    let upper = head.to_ascii_uppercase();
    let verb_ok = matches!(verb.as_deref(), Some("SEARCH" | "SORT" | "UID"));
    verb_ok && upper.windows(7).any(|w| w == b"RETURN ") && upper.windows(4).any(|w| w == b"SAVE")
}

/// Parses one complete command (ending in CRLF, literals inlined).
pub fn parse(input: &[u8]) -> Parsed {
    let (tag, verb) = tag_and_verb(input);
    let Some(tag_s) = tag.clone() else {
        return bad(None, "Missing or invalid tag");
    };
    match verb.as_deref() {
        Some("LIST") | Some("LSUB") => return parse_list(tag_s, input),
        Some("UID") => {}
        None => return bad(tag, "Missing command"),
        _ => {}
    }
    if verb.as_deref() == Some("APPEND") {
        if let Some(parts) = append::split(input) {
            return parse_multiappend(tag_s, parts);
        }
    }
    let (stripped, ret) = match esearch::strip_return(input) {
        Ok(Some((cmd, ret))) => (Some(cmd), Some(ret)),
        Ok(None) => (None, None),
        Err(text) => return bad(tag, text),
    };
    let input = stripped.as_deref().unwrap_or(input);
    match CommandCodec::default().decode(input) {
        Ok((rest, command)) => {
            if !rest.is_empty() {
                return bad(tag, "Junk after command");
            }
            match convert(command.body) {
                Ok(Cmd::Search {
                    uid, charset, key, ..
                }) => Parsed::Ok {
                    tag: tag_s,
                    cmd: Cmd::Search {
                        uid,
                        charset,
                        key,
                        ret,
                    },
                },
                Ok(Cmd::Sort {
                    uid,
                    criteria,
                    charset,
                    key,
                    ..
                }) => Parsed::Ok {
                    tag: tag_s,
                    cmd: Cmd::Sort {
                        uid,
                        criteria,
                        charset,
                        key,
                        ret,
                    },
                },
                Ok(cmd) => Parsed::Ok { tag: tag_s, cmd },
                Err(text) if text == codec::INVALID_NAME => Parsed::No { tag: tag_s, text },
                Err(text) => bad(tag, text),
            }
        }
        Err(CommandDecodeError::LiteralFound { .. }) | Err(CommandDecodeError::Incomplete) => {
            bad(tag, "Incomplete command")
        }
        Err(CommandDecodeError::Failed { .. }) => bad(
            tag,
            match verb.as_deref() {
                Some(v) if KNOWN.contains(&v) => "Invalid arguments",
                _ => "Unknown command",
            },
        ),
    }
}

const KNOWN: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "SORT",
    "THREAD",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "IDLE",
    "ENABLE",
    "NAMESPACE",
    "ID",
    "UNSELECT",
];

/// One APPEND of several messages (or of a CATENATE) from single-message
/// APPENDs, each decoded on its own; the first error is the command's.
fn parse_multiappend(tag: String, parts: Vec<append::Piece>) -> Parsed {
    let mut mailbox = String::new();
    let mut messages = Vec::with_capacity(parts.len());
    for p in parts {
        match parse(&p.cmd) {
            Parsed::Ok {
                cmd:
                    Cmd::Append {
                        mailbox: m,
                        messages: mut one,
                    },
                ..
            } => {
                mailbox = m;
                if let (Some(cat), Some(first)) = (p.catenate, one.first_mut()) {
                    first.message.clear();
                    first.catenate = Some(cat);
                }
                messages.append(&mut one);
            }
            Parsed::Ok { .. } => return bad(Some(tag), "Invalid arguments"),
            other => return other,
        }
    }
    Parsed::Ok {
        tag,
        cmd: Cmd::Append { mailbox, messages },
    }
}

fn parse_list(tag: String, input: &[u8]) -> Parsed {
    match list_args(input) {
        Ok(args) => Parsed::Ok {
            tag,
            cmd: Cmd::List(args),
        },
        Err(e) => bad(Some(tag), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::proto::*;

    fn ok(s: &str) -> Cmd {
        match parse(s.as_bytes()) {
            Parsed::Ok { cmd, .. } => cmd,
            Parsed::Bad { text, .. } | Parsed::No { text, .. } => panic!("{s:?}: {text}"),
        }
    }

    fn is_bad(s: &[u8]) -> bool {
        matches!(parse(s), Parsed::Bad { .. })
    }

    #[test]
    fn table() {
        assert!(matches!(ok("a CAPABILITY\r\n"), Cmd::Capability));
        assert!(matches!(ok("a noop\r\n"), Cmd::Noop));
        match ok("a LOGIN {5}\r\nalice \"p w\"\r\n") {
            Cmd::Login { user, password } => {
                assert_eq!(user, "alice");
                assert_eq!(password.expose(), "p w");
            }
            c => panic!("{c:?}"),
        }
        match ok("a SELECT &AOk-t&AOk-\r\n") {
            Cmd::Select { mailbox, .. } => assert_eq!(mailbox, "été"),
            c => panic!("{c:?}"),
        }
        match ok("a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.10>) (CHANGEDSINCE 5)\r\n") {
            Cmd::Fetch { uid, items, changed_since, set, .. } => {
                assert!(uid);
                assert_eq!(changed_since, Some(5));
                assert_eq!(set, SeqSet(vec![(SeqBound::Num(1), SeqBound::Star)]));
                match &items[1] {
                    FetchItem::BodySection { label, partial, peek, section } => {
                        assert_eq!(label, "1.2.HEADER.FIELDS (From To)");
                        assert_eq!(*partial, Some((0, 10)));
                        assert!(*peek);
                        assert_eq!(section.part, vec![1, 2]);
                    }
                    i => panic!("{i:?}"),
                }
            }
            c => panic!("{c:?}"),
        }
        match ok("a SEARCH CHARSET UTF-8 OR (FROM x NOT SEEN) 1:3,*\r\n") {
            Cmd::Search { charset, key, .. } => {
                assert_eq!(charset.as_deref(), Some("UTF-8"));
                assert!(matches!(key, SearchKey::Or(..)));
            }
            c => panic!("{c:?}"),
        }
        match ok("a APPEND INBOX (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3+}\r\nabc\r\n") {
            Cmd::Append { messages, .. } => {
                assert_eq!(messages.len(), 1);
                assert_eq!(messages[0].date, Some((1704445200, 60)));
                assert_eq!(messages[0].message, b"abc");
                assert_eq!(messages[0].flags, vec!["\\Seen"]);
            }
            c => panic!("{c:?}"),
        }
        match ok("a APPEND INBOX (\\Seen) {3+}\r\nabc (\\Draft) {2+}\r\nde\r\n") {
            Cmd::Append { mailbox, messages } => {
                assert_eq!(mailbox, "INBOX");
                assert_eq!(messages.len(), 2);
                assert_eq!(messages[1].message, b"de");
                assert_eq!(messages[1].flags, vec!["\\Draft"]);
            }
            c => panic!("{c:?}"),
        }
        assert!(is_bad(
            b"a APPEND INBOX {3+}\r\nabc \"not a date\" {2+}\r\nde\r\n"
        ));
        assert!(is_bad(b"\r\n"));
        assert!(is_bad(b"a\r\n"));
        assert!(is_bad(b"a FROB\r\n"));
        assert!(is_bad(b"a FETCH\r\n"));
        assert!(is_bad(b"a SELECT \xff\xfe\r\n"));
        let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(200), ")".repeat(200));
        assert!(is_bad(deep.as_bytes()));
        let deep = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(200));
        assert!(is_bad(deep.as_bytes()));
    }

    /// Mutated valid commands never panic the parser (a poor man's fuzzer; the
    /// seed is fixed so failures reproduce).
    #[test]
    fn mutations_never_panic() {
        let seeds: &[&[u8]] = &[
            b"a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From)]<0.10>) (CHANGEDSINCE 5)\r\n",
            b"a SEARCH CHARSET UTF-8 OR (FROM x NOT SEEN) HEADER X {3}\r\nabc UID 1:*\r\n",
            b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (* %) RETURN (CHILDREN)\r\n",
            b"a APPEND INBOX (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3+}\r\nabc\r\n",
            b"a STORE 1,2:4 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Deleted kw)\r\n",
            b"a AUTHENTICATE PLAIN AGFAYg==\r\n",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"()[]{}<>\"\\*%+:,.- 0123456789aZ\r\n\x00\xff";
        for seed in seeds {
            for _ in 0..3000 {
                let mut v = seed.to_vec();
                for _ in 0..(rnd() % 4 + 1) {
                    let i = (rnd() as usize) % v.len();
                    match rnd() % 3 {
                        0 => v[i] = alphabet[(rnd() as usize) % alphabet.len()],
                        1 => {
                            v.remove(i);
                        }
                        _ => v.insert(i, alphabet[(rnd() as usize) % alphabet.len()]),
                    }
                    if v.is_empty() {
                        v.push(b'a');
                    }
                }
                let _ = parse(&v);
                let _ = crate::imap::reader::literal_at_end(&v);
            }
        }
    }
}
