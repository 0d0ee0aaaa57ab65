//! The one place where the parser's types live: a complete command (literals
//! inlined) is decoded with imap-codec and turned into our [`Cmd`]. LIST and LSUB
//! are parsed here by hand because imap-codec does not know the RFC 5258 syntax
//! (`LIST (SPECIAL-USE) "" *`, `RETURN (...)`).

use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::imap_types::command::{CommandBody, FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section as CSection,
};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::search::SearchKey as CKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::CommandCodec;

use super::proto::*;
use crate::auth::Password;

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
    match CommandCodec::default().decode(input) {
        Ok((rest, command)) => {
            if !rest.is_empty() {
                return bad(tag, "Junk after command");
            }
            match convert(command.body) {
                Ok(cmd) => Parsed::Ok { tag: tag_s, cmd },
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

/// A mailbox name from the wire (modified UTF-7) as stored (UTF-8).
pub fn mailbox_name(raw: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "Mailbox name is not valid".to_string())?;
    if s.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".into());
    }
    match crate::mutf7::decode(s) {
        Ok(n) => Ok(n),
        // Some clients send raw UTF-8; take it as it is.
        Err(_) if !s.is_ascii() => Ok(s.to_string()),
        Err(_) => Err("Mailbox name is not valid modified UTF-7".into()),
    }
}

fn mailbox(m: &Mailbox<'_>) -> Result<String, String> {
    match m {
        Mailbox::Inbox => Ok("INBOX".into()),
        Mailbox::Other(o) => mailbox_name(o.as_ref()),
    }
}

fn astring(a: &AString<'_>) -> String {
    String::from_utf8_lossy(a.as_ref()).into_owned()
}

fn seq_set(s: &SequenceSet) -> SeqSet {
    let b = |x: &SeqOrUid| match x {
        SeqOrUid::Value(n) => SeqBound::Num(n.get()),
        SeqOrUid::Asterisk => SeqBound::Star,
    };
    SeqSet(
        s.0.as_ref()
            .iter()
            .map(|q| match q {
                Sequence::Single(x) => (b(x), b(x)),
                Sequence::Range(x, y) => (b(x), b(y)),
            })
            .collect(),
    )
}

fn flag(f: &Flag<'_>) -> String {
    f.to_string()
}

fn days(d: &imap_codec::imap_types::datetime::NaiveDate) -> i64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    d.as_ref().signed_duration_since(epoch).num_days()
}

fn part_vec(p: &Option<Part>) -> Vec<u32> {
    p.as_ref()
        .map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
        .unwrap_or_default()
}

fn part_label(part: &[u32]) -> String {
    part.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn fields_label(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| super::write::astring(f))
        .collect::<Vec<_>>()
        .join(" ")
}

fn section(s: &Option<CSection<'_>>) -> (Section, String) {
    let (part, kind) = match s {
        None => (vec![], SectionKind::All),
        Some(CSection::Part(p)) => (
            p.0.as_ref().iter().map(|n| n.get()).collect(),
            SectionKind::All,
        ),
        Some(CSection::Header(p)) => (part_vec(p), SectionKind::Header),
        Some(CSection::HeaderFields(p, f)) => (
            part_vec(p),
            SectionKind::HeaderFields(f.as_ref().iter().map(astring).collect()),
        ),
        Some(CSection::HeaderFieldsNot(p, f)) => (
            part_vec(p),
            SectionKind::HeaderFieldsNot(f.as_ref().iter().map(astring).collect()),
        ),
        Some(CSection::Text(p)) => (part_vec(p), SectionKind::Text),
        Some(CSection::Mime(p)) => (
            p.0.as_ref().iter().map(|n| n.get()).collect(),
            SectionKind::Mime,
        ),
    };
    let prefix = part_label(&part);
    let name = match &kind {
        SectionKind::All => String::new(),
        SectionKind::Header => "HEADER".into(),
        SectionKind::HeaderFields(f) => format!("HEADER.FIELDS ({})", fields_label(f)),
        SectionKind::HeaderFieldsNot(f) => format!("HEADER.FIELDS.NOT ({})", fields_label(f)),
        SectionKind::Text => "TEXT".into(),
        SectionKind::Mime => "MIME".into(),
    };
    let label = match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name,
        (false, true) => prefix,
        (false, false) => format!("{prefix}.{name}"),
    };
    (Section { part, kind }, label)
}

fn fetch_item(i: &MessageDataItemName<'_>) -> FetchItem {
    match i {
        MessageDataItemName::Body => FetchItem::Body,
        MessageDataItemName::BodyExt {
            section: s,
            partial,
            peek,
        } => {
            let (section, label) = section(s);
            FetchItem::BodySection {
                section,
                label,
                partial: partial.map(|(a, b)| (a, b.get())),
                peek: *peek,
            }
        }
        MessageDataItemName::BodyStructure => FetchItem::BodyStructure,
        MessageDataItemName::Envelope => FetchItem::Envelope,
        MessageDataItemName::Flags => FetchItem::Flags,
        MessageDataItemName::InternalDate => FetchItem::InternalDate,
        MessageDataItemName::Rfc822 => FetchItem::Rfc822,
        MessageDataItemName::Rfc822Header => FetchItem::Rfc822Header,
        MessageDataItemName::Rfc822Size => FetchItem::Rfc822Size,
        MessageDataItemName::Rfc822Text => FetchItem::Rfc822Text,
        MessageDataItemName::Uid => FetchItem::Uid,
        MessageDataItemName::ModSeq => FetchItem::ModSeq,
        MessageDataItemName::Binary { .. } => FetchItem::Unsupported("BINARY"),
        MessageDataItemName::BinarySize { .. } => FetchItem::Unsupported("BINARY.SIZE"),
    }
}

fn search_key(k: &CKey<'_>) -> Result<SearchKey, String> {
    use SearchKey as K;
    let s = |a: &AString<'_>| astring(a);
    Ok(match k {
        CKey::And(v) => K::And(
            v.as_ref()
                .iter()
                .map(search_key)
                .collect::<Result<_, _>>()?,
        ),
        CKey::SequenceSet(set) => K::SeqSet(seq_set(set)),
        CKey::All => K::All,
        CKey::Answered => K::Flag("\\Answered".into()),
        CKey::Bcc(a) => K::Header("bcc".into(), s(a)),
        CKey::Before(d) => K::Before(days(d)),
        CKey::Body(a) => K::Body(s(a)),
        CKey::Cc(a) => K::Header("cc".into(), s(a)),
        CKey::Deleted => K::Flag("\\Deleted".into()),
        CKey::Draft => K::Flag("\\Draft".into()),
        CKey::Flagged => K::Flag("\\Flagged".into()),
        CKey::From(a) => K::Header("from".into(), s(a)),
        CKey::Header(n, v) => K::Header(s(n).to_ascii_lowercase(), s(v)),
        CKey::Keyword(a) => K::Flag(a.inner().to_string()),
        CKey::Larger(n) => K::Larger(*n as u64),
        CKey::New => K::New,
        CKey::Not(k) => K::Not(Box::new(search_key(k)?)),
        CKey::Old => K::Old,
        CKey::On(d) => K::On(days(d)),
        CKey::Or(a, b) => K::Or(Box::new(search_key(a)?), Box::new(search_key(b)?)),
        CKey::Recent => K::Recent,
        CKey::Seen => K::Flag("\\Seen".into()),
        CKey::SentBefore(d) => K::SentBefore(days(d)),
        CKey::SentOn(d) => K::SentOn(days(d)),
        CKey::SentSince(d) => K::SentSince(days(d)),
        CKey::Since(d) => K::Since(days(d)),
        CKey::Smaller(n) => K::Smaller(*n as u64),
        CKey::Subject(a) => K::Header("subject".into(), s(a)),
        CKey::Text(a) => K::Text(s(a)),
        CKey::To(a) => K::Header("to".into(), s(a)),
        CKey::Uid(set) => K::Uid(seq_set(set)),
        CKey::Unanswered => K::NoFlag("\\Answered".into()),
        CKey::Undeleted => K::NoFlag("\\Deleted".into()),
        CKey::Undraft => K::NoFlag("\\Draft".into()),
        CKey::Unflagged => K::NoFlag("\\Flagged".into()),
        CKey::Unkeyword(a) => K::NoFlag(a.inner().to_string()),
        CKey::Unseen => K::NoFlag("\\Seen".into()),
        CKey::ModSequence { modseq, .. } => K::ModSeq(*modseq),
    })
}

fn convert(body: CommandBody<'_>) -> Result<Cmd, String> {
    Ok(match body {
        CommandBody::Capability => Cmd::Capability,
        CommandBody::Noop => Cmd::Noop,
        CommandBody::Logout => Cmd::Logout,
        CommandBody::StartTLS => Cmd::StartTls,
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => Cmd::Authenticate {
            mechanism: mechanism.to_string().to_ascii_uppercase(),
            initial: initial_response.map(|r| r.declassify().to_vec()),
        },
        CommandBody::Login { username, password } => Cmd::Login {
            user: astring(&username),
            password: Password::new(
                String::from_utf8(password.declassify().as_ref().to_vec())
                    .map_err(|_| "Password is not UTF-8".to_string())?,
            ),
        },
        CommandBody::Select {
            mailbox: m,
            parameters,
        } => Cmd::Select {
            mailbox: mailbox(&m)?,
            read_only: false,
            condstore: parameters
                .iter()
                .any(|p| matches!(p, SelectParameter::CondStore)),
        },
        CommandBody::Examine {
            mailbox: m,
            parameters,
        } => Cmd::Select {
            mailbox: mailbox(&m)?,
            read_only: true,
            condstore: parameters
                .iter()
                .any(|p| matches!(p, SelectParameter::CondStore)),
        },
        CommandBody::Unselect => Cmd::Unselect,
        CommandBody::Create { mailbox: m } => Cmd::Create(mailbox(&m)?),
        CommandBody::Delete { mailbox: m } => Cmd::Delete(mailbox(&m)?),
        CommandBody::Rename { from, to } => Cmd::Rename(mailbox(&from)?, mailbox(&to)?),
        CommandBody::Subscribe { mailbox: m } => Cmd::Subscribe(mailbox(&m)?),
        CommandBody::Unsubscribe { mailbox: m } => Cmd::Unsubscribe(mailbox(&m)?),
        CommandBody::Status {
            mailbox: m,
            item_names,
        } => Cmd::Status {
            mailbox: mailbox(&m)?,
            items: item_names
                .iter()
                .map(|i| match i {
                    StatusDataItemName::Messages => StatusItem::Messages,
                    StatusDataItemName::Recent => StatusItem::Recent,
                    StatusDataItemName::UidNext => StatusItem::UidNext,
                    StatusDataItemName::UidValidity => StatusItem::UidValidity,
                    StatusDataItemName::Unseen => StatusItem::Unseen,
                    StatusDataItemName::HighestModSeq => StatusItem::HighestModSeq,
                    _ => StatusItem::Other,
                })
                .collect(),
        },
        CommandBody::Append {
            mailbox: m,
            flags,
            date,
            message,
        } => Cmd::Append {
            mailbox: mailbox(&m)?,
            flags: flags.iter().map(flag).collect(),
            date: date.map(|d| {
                let d = d.as_ref();
                (d.timestamp(), d.offset().local_minus_utc() / 60)
            }),
            message: match message {
                LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                LiteralOrLiteral8::Literal8(_) => {
                    return Err("BINARY literals are not supported".into())
                }
            },
        },
        CommandBody::Check => Cmd::Check,
        CommandBody::Close => Cmd::Close,
        CommandBody::Expunge => Cmd::Expunge { uids: None },
        CommandBody::ExpungeUid { sequence_set } => Cmd::Expunge {
            uids: Some(seq_set(&sequence_set)),
        },
        CommandBody::Search {
            charset,
            criteria,
            uid,
        } => {
            let keys = criteria
                .as_ref()
                .iter()
                .map(search_key)
                .collect::<Result<Vec<_>, _>>()?;
            Cmd::Search {
                uid,
                charset: charset.map(|c| c.as_ref().to_string()),
                key: if keys.len() == 1 {
                    keys.into_iter().next().unwrap_or(SearchKey::All)
                } else {
                    SearchKey::And(keys)
                },
            }
        }
        CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            modifiers,
        } => {
            let items = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(Macro::All) => vec![
                    FetchItem::Flags,
                    FetchItem::InternalDate,
                    FetchItem::Rfc822Size,
                    FetchItem::Envelope,
                ],
                MacroOrMessageDataItemNames::Macro(Macro::Fast) => {
                    vec![
                        FetchItem::Flags,
                        FetchItem::InternalDate,
                        FetchItem::Rfc822Size,
                    ]
                }
                MacroOrMessageDataItemNames::Macro(Macro::Full) => vec![
                    FetchItem::Flags,
                    FetchItem::InternalDate,
                    FetchItem::Rfc822Size,
                    FetchItem::Envelope,
                    FetchItem::Body,
                ],
                MacroOrMessageDataItemNames::MessageDataItemNames(v) => {
                    v.iter().map(fetch_item).collect()
                }
                MacroOrMessageDataItemNames::Macro(_) => vec![FetchItem::Unsupported("macro")],
            };
            let mut changed_since = None;
            for m in &modifiers {
                match m {
                    FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                    FetchModifier::Vanished => {
                        return Err("VANISHED requires QRESYNC, which is not enabled".into())
                    }
                }
            }
            Cmd::Fetch {
                uid,
                set: seq_set(&sequence_set),
                items,
                changed_since,
            }
        }
        CommandBody::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            modifiers,
        } => Cmd::Store {
            uid,
            set: seq_set(&sequence_set),
            op: match kind {
                StoreType::Add => StoreOp::Add,
                StoreType::Remove => StoreOp::Remove,
                StoreType::Replace => StoreOp::Replace,
            },
            silent: matches!(response, StoreResponse::Silent),
            flags: flags.iter().map(flag).collect(),
            unchanged_since: modifiers
                .iter()
                .map(|m| match m {
                    StoreModifier::UnchangedSince(n) => *n,
                })
                .next(),
        },
        CommandBody::Copy {
            sequence_set,
            mailbox: m,
            uid,
        } => Cmd::Copy {
            uid,
            set: seq_set(&sequence_set),
            mailbox: mailbox(&m)?,
            is_move: false,
        },
        CommandBody::Move {
            sequence_set,
            mailbox: m,
            uid,
        } => Cmd::Copy {
            uid,
            set: seq_set(&sequence_set),
            mailbox: mailbox(&m)?,
            is_move: true,
        },
        CommandBody::Idle => Cmd::Idle,
        CommandBody::Enable { capabilities } => Cmd::Enable(
            capabilities
                .as_ref()
                .iter()
                .map(|c| c.to_string().to_ascii_uppercase())
                .collect(),
        ),
        CommandBody::Namespace => Cmd::Namespace,
        CommandBody::Id { .. } => Cmd::Id,
        CommandBody::List { .. } | CommandBody::Lsub { .. } => {
            return Err("LIST is parsed elsewhere".into())
        }
        CommandBody::Sort { .. } => Cmd::Unsupported("SORT"),
        CommandBody::Thread { .. } => Cmd::Unsupported("THREAD"),
        CommandBody::Compress { .. } => Cmd::Unsupported("COMPRESS"),
        CommandBody::GetQuota { .. }
        | CommandBody::GetQuotaRoot { .. }
        | CommandBody::SetQuota { .. } => Cmd::Unsupported("QUOTA"),
    })
}

// ----- LIST / LSUB (RFC 3501 §6.3.8, RFC 5258, RFC 6154) -----

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

fn parse_list(tag: String, input: &[u8]) -> Parsed {
    match list_args(input) {
        Ok(args) => Parsed::Ok {
            tag,
            cmd: Cmd::List(args),
        },
        Err(e) => bad(Some(tag), e),
    }
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

fn list_args(input: &[u8]) -> Result<ListArgs, String> {
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
                for o in word_list(&mut it)? {
                    match o.as_str() {
                        "SUBSCRIBED" => a.return_subscribed = true,
                        "CHILDREN" => a.return_children = true,
                        "SPECIAL-USE" => a.return_special_use = true,
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

    fn ok(s: &str) -> Cmd {
        match parse(s.as_bytes()) {
            Parsed::Ok { cmd, .. } => cmd,
            Parsed::Bad { text, .. } => panic!("{s:?}: {text}"),
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
            Cmd::Fetch { uid, items, changed_since, set } => {
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
        match ok("a LIST (SPECIAL-USE) \"\" (* Other) RETURN (SUBSCRIBED CHILDREN)\r\n") {
            Cmd::List(a) => {
                assert!(a.select_special_use && a.return_subscribed && a.return_children);
                assert_eq!(a.patterns, vec!["*", "Other"]);
            }
            c => panic!("{c:?}"),
        }
        match ok("a LSUB \"\" %\r\n") {
            Cmd::List(a) => assert!(a.lsub),
            c => panic!("{c:?}"),
        }
        match ok("a APPEND INBOX (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {3+}\r\nabc\r\n") {
            Cmd::Append {
                date,
                message,
                flags,
                ..
            } => {
                assert_eq!(date, Some((1704445200, 60)));
                assert_eq!(message, b"abc");
                assert_eq!(flags, vec!["\\Seen"]);
            }
            c => panic!("{c:?}"),
        }
        assert!(is_bad(b"\r\n"));
        assert!(is_bad(b"a\r\n"));
        assert!(is_bad(b"a FROB\r\n"));
        assert!(is_bad(b"a FETCH\r\n"));
        assert!(is_bad(b"a LIST (\r\n"));
        assert!(is_bad(b"a LIST \"\" \"unterminated\r\n"));
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
