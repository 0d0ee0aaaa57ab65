//! imap-codec's command types turned into ours ([`Cmd`] and the types of
//! `proto.rs`): the only file that knows the parser's command types.

use imap_codec::imap_types::command::{CommandBody, FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::sort::SortKey as CSortKey;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section as CSection,
};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::search::SearchKey as CKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::StatusDataItemName;

use crate::auth::Password;
use crate::imap::proto::*;

/// The answer to a well-formed command naming a mailbox that cannot exist:
/// `NO` (RFC 3501 §6.3: the name is data, the command is valid), not `BAD`.
pub const INVALID_NAME: &str = "Mailbox name is not valid modified UTF-7";

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
        Err(_) => Err(INVALID_NAME.into()),
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
        .map(|f| crate::imap::write::astring(f))
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

/// The QRESYNC parameter of SELECT/EXAMINE, if given (the sequence match
/// data, an optimisation hint, is not used).
fn qresync_param(params: &[SelectParameter]) -> Option<Qresync> {
    params.iter().find_map(|p| match p {
        SelectParameter::QResync {
            uid_validity,
            mod_sequence_value,
            known_uids,
            ..
        } => Some(Qresync {
            uidvalidity: uid_validity.get(),
            modseq: mod_sequence_value.get(),
            known_uids: known_uids.as_ref().map(seq_set),
        }),
        _ => None,
    })
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
        MessageDataItemName::Binary {
            section,
            partial,
            peek,
        } => FetchItem::Binary {
            part: section.iter().map(|n| n.get()).collect(),
            partial: partial.map(|(a, b)| (a, b.get())),
            peek: *peek,
        },
        MessageDataItemName::BinarySize { section } => FetchItem::BinarySize {
            part: section.iter().map(|n| n.get()).collect(),
        },
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
        CKey::Older(n) => K::Older(n.get()),
        CKey::Younger(n) => K::Younger(n.get()),
    })
}

/// The search criteria of SEARCH, SORT and THREAD: one key, or all of them.
fn search_keys(criteria: &[CKey<'_>]) -> Result<SearchKey, String> {
    let mut keys = criteria
        .iter()
        .map(search_key)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if keys.len() == 1 {
        keys.pop().unwrap_or(SearchKey::All)
    } else {
        SearchKey::And(keys)
    })
}

fn sort_by(k: &CSortKey) -> SortBy {
    match k {
        CSortKey::Arrival => SortBy::Arrival,
        CSortKey::Cc => SortBy::Cc,
        CSortKey::Date => SortBy::Date,
        CSortKey::From => SortBy::From,
        CSortKey::Size => SortBy::Size,
        CSortKey::Subject => SortBy::Subject,
        CSortKey::To => SortBy::To,
        CSortKey::DisplayFrom => SortBy::DisplayFrom,
        CSortKey::DisplayTo => SortBy::DisplayTo,
    }
}

/// Turns a command decoded by imap-codec into our [`Cmd`].
pub(super) fn convert(body: CommandBody<'_>) -> Result<Cmd, String> {
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
            qresync: qresync_param(&parameters),
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
            qresync: qresync_param(&parameters),
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
                    StatusDataItemName::Size => StatusItem::Size,
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
            messages: vec![AppendMessage {
                flags: flags.iter().map(flag).collect(),
                date: date.map(|d| {
                    let d = d.as_ref();
                    (d.timestamp(), d.offset().local_minus_utc() / 60)
                }),
                binary: matches!(message, LiteralOrLiteral8::Literal8(_)),
                catenate: None,
                message: match message {
                    LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                    // RFC 3516 §4.4: binary content, NULs allowed.
                    LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
                },
            }],
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
        } => Cmd::Search {
            uid,
            charset: charset.map(|c| c.as_ref().to_string()),
            key: search_keys(criteria.as_ref())?,
            ret: None,
        },
        CommandBody::Sort {
            sort_criteria,
            charset,
            search_criteria,
            uid,
        } => Cmd::Sort {
            uid,
            criteria: sort_criteria
                .as_ref()
                .iter()
                .map(|c| SortCriterion {
                    reverse: c.reverse,
                    by: sort_by(&c.key),
                })
                .collect(),
            charset: charset.as_ref().to_string(),
            key: search_keys(search_criteria.as_ref())?,
            ret: None,
        },
        CommandBody::Thread {
            algorithm,
            charset,
            search_criteria,
            uid,
        } => Cmd::Thread {
            uid,
            algorithm: match algorithm {
                ThreadingAlgorithm::OrderedSubject => ThreadAlgorithm::OrderedSubject,
                ThreadingAlgorithm::References => ThreadAlgorithm::References,
                ThreadingAlgorithm::Other(_) => return Err("Unknown thread algorithm".into()),
            },
            charset: charset.as_ref().to_string(),
            key: search_keys(search_criteria.as_ref())?,
        },
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
            let mut vanished = false;
            for m in &modifiers {
                match m {
                    FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                    FetchModifier::Vanished => vanished = true,
                }
            }
            if vanished && (!uid || changed_since.is_none()) {
                return Err("VANISHED needs UID FETCH with CHANGEDSINCE".into());
            }
            Cmd::Fetch {
                uid,
                set: seq_set(&sequence_set),
                items,
                changed_since,
                vanished,
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
        // DEFLATE is the only algorithm there is (RFC 4978).
        CommandBody::Compress { .. } => Cmd::Compress,
        CommandBody::GetQuota { root } => {
            Cmd::GetQuota(String::from_utf8_lossy(root.as_ref()).into_owned())
        }
        CommandBody::GetQuotaRoot { mailbox: m } => Cmd::GetQuotaRoot(mailbox(&m)?),
        CommandBody::SetQuota { .. } => Cmd::SetQuota,
    })
}
