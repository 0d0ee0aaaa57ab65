//! SORT and UID SORT (RFC 5256 §3) with DISPLAYFROM/DISPLAYTO (RFC 5957).
//! State: selected. The search criteria are evaluated by SEARCH's code; text is
//! compared with i;ascii-casemap; ties fall back to the sequence number. A
//! MODSEQ criterion adds `(MODSEQ n)` as in SEARCH (RFC 7162 §3.1.5).

use std::cmp::Ordering;

use super::headers::{header_blocks, CHUNK};
use super::search::{check_charset, uses_modseq, Found};
use crate::imap::base_subject;
use crate::imap::proto::{SearchKey, SearchReturn, SortBy, SortCriterion};
use crate::imap::session::{Done, Session, State};
use crate::message::{decode_words, Address, Message};
use crate::store::MessageMeta;

/// A matched message with its header block (empty when it was not needed or
/// could not be read).
pub(super) struct Loaded {
    pub found: Found,
    pub header: Vec<u8>,
}

/// Reads the header block of every message when `needed` (from the header
/// cache where it can).
pub(super) async fn load(session: &Session, found: Vec<Found>, needed: bool) -> Vec<Loaded> {
    let mut heads: Vec<Vec<u8>> = Vec::with_capacity(found.len());
    if needed {
        if let State::Selected(user, _) = &session.state {
            for chunk in found.chunks(CHUNK) {
                let refs: Vec<&MessageMeta> = chunk.iter().map(|f| &f.meta).collect();
                let got = header_blocks(&user.ms, &refs).await;
                heads.extend(got.into_iter().map(Option::unwrap_or_default));
            }
        }
    }
    heads.resize_with(found.len(), Vec::new);
    found
        .into_iter()
        .zip(heads)
        .map(|(found, header)| Loaded { found, header })
        .collect()
}

/// The "sent date" of RFC 5256: the Date header, else INTERNALDATE; seconds
/// since the epoch (UTC).
pub(super) fn sent_date(msg: &Message<'_>, internaldate: i64) -> i64 {
    msg.date().map(|(s, _)| s).unwrap_or(internaldate)
}

/// A sort key value of one message.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Num(i64),
    /// i;ascii-casemap: compared after ASCII upper-casing.
    Text(Vec<u8>),
}

fn casemap(b: &[u8]) -> Vec<u8> {
    b.to_ascii_uppercase()
}

/// The first address of a field: its mailbox (local part), RFC 5256; missing
/// addresses sort as the empty string.
fn mailbox_key(addrs: &[Address]) -> Vec<u8> {
    addrs
        .first()
        .and_then(|a| a.mailbox.as_deref())
        .map(casemap)
        .unwrap_or_default()
}

/// RFC 5957: the decoded display name of the first address, else its
/// addr-spec (for a group, its name).
fn display_key(addrs: &[Address]) -> Vec<u8> {
    let Some(a) = addrs.first() else {
        return Vec::new();
    };
    if let Some(name) = &a.name {
        let n = decode_words(name);
        let n = n.trim();
        if !n.is_empty() {
            return casemap(n.as_bytes());
        }
    }
    let mut spec = a.mailbox.clone().unwrap_or_default();
    if let Some(h) = &a.host {
        spec.push(b'@');
        spec.extend_from_slice(h);
    }
    casemap(&spec)
}

fn key_of(by: SortBy, l: &Loaded, msg: &Message<'_>) -> Key {
    let m = &l.found.meta;
    match by {
        SortBy::Arrival => Key::Num(m.internaldate),
        SortBy::Size => Key::Num(m.size as i64),
        SortBy::Date => Key::Num(sent_date(msg, m.internaldate)),
        SortBy::Subject => Key::Text(
            msg.header("subject")
                .map(|s| base_subject::extract(&s).key())
                .unwrap_or_default(),
        ),
        SortBy::From => Key::Text(mailbox_key(&msg.addresses("from"))),
        SortBy::To => Key::Text(mailbox_key(&msg.addresses("to"))),
        SortBy::Cc => Key::Text(mailbox_key(&msg.addresses("cc"))),
        SortBy::DisplayFrom => Key::Text(display_key(&msg.addresses("from"))),
        SortBy::DisplayTo => Key::Text(display_key(&msg.addresses("to"))),
    }
}

/// Orders the messages by the criteria, ties by sequence number.
fn order(loaded: &[Loaded], criteria: &[SortCriterion]) -> Vec<usize> {
    let keys: Vec<Vec<Key>> = loaded
        .iter()
        .map(|l| {
            let msg = Message::parse_header(&l.header);
            criteria.iter().map(|c| key_of(c.by, l, &msg)).collect()
        })
        .collect();
    let mut idx: Vec<usize> = (0..loaded.len()).collect();
    idx.sort_by(|&a, &b| {
        for (i, c) in criteria.iter().enumerate() {
            let o = keys[a][i].cmp(&keys[b][i]);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        loaded[a].found.seq.cmp(&loaded[b].found.seq)
    });
    idx
}

impl Session {
    pub(crate) async fn cmd_sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: String,
        key: SearchKey,
        ret: Option<SearchReturn>,
    ) -> Done {
        if let Err(done) = check_charset(&charset) {
            return done;
        }
        let found = match self.search_matches(&key).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let needs_header = criteria
            .iter()
            .any(|c| !matches!(c.by, SortBy::Arrival | SortBy::Size));
        let loaded = load(self, found, needs_header).await;
        if let Some(ret) = ret {
            // ESORT (RFC 5267 §3.2): MIN and MAX are the first and last in
            // the sort order; ALL lists them in that order.
            let found: Vec<&Found> = order(&loaded, &criteria)
                .into_iter()
                .map(|i| &loaded[i].found)
                .collect();
            self.esearch_answer(tag, uid, ret, &found, uses_modseq(&key));
            return Done::Ok("SORT completed".into());
        }
        let mut line = String::from("* SORT");
        for i in order(&loaded, &criteria) {
            let f = &loaded[i].found;
            line.push(' ');
            line.push_str(&(if uid { f.meta.uid } else { f.seq }).to_string());
        }
        // RFC 7162 §3.1.5: a MODSEQ criterion adds the highest mod-sequence.
        if uses_modseq(&key) && !loaded.is_empty() {
            let highest = loaded.iter().map(|l| l.found.meta.modseq).max();
            line.push_str(&format!(" (MODSEQ {})", highest.unwrap_or(0)));
        }
        line.push_str("\r\n");
        self.conn.write(line.as_bytes());
        Done::Ok("SORT completed".into())
    }
}
