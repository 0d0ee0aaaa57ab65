//! SEARCH and UID SEARCH. State: selected. RFC 3501 §6.4.4 (every key, nested
//! OR/NOT, CHARSET UTF-8), RFC 7162 §3.1.5 (MODSEQ).

use std::collections::HashMap;

use super::headers::{header_blocks, CHUNK};
use crate::imap::proto::{SearchKey, SearchReturn};
use crate::imap::session::{store_error, Done, Session, State};
use crate::message::{Message, SearchField};
use crate::store::MessageMeta;

/// What one message offers to the search.
struct Candidate<'a> {
    seq: u32,
    meta: &'a MessageMeta,
    max_seq: u32,
    max_uid: u32,
    /// `\Recent` in this session.
    recent: bool,
    raw: Option<&'a [u8]>,
    /// Whether `raw` is the whole message (BODY, TEXT), not its header block.
    whole: bool,
    /// Parsed once, on first use by a key that needs it.
    msg: &'a std::cell::OnceCell<Message<'a>>,
}

fn day(secs: i64, tz_minutes: i32) -> i64 {
    (secs + tz_minutes as i64 * 60).div_euclid(86_400)
}

fn needs_content(k: &SearchKey) -> bool {
    match k {
        SearchKey::And(v) => v.iter().any(needs_content),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Not(a) => needs_content(a),
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        _ => false,
    }
}

/// True when a key needs more than the header block (BODY, TEXT).
fn needs_text(k: &SearchKey) -> bool {
    match k {
        SearchKey::And(v) => v.iter().any(needs_text),
        SearchKey::Or(a, b) => needs_text(a) || needs_text(b),
        SearchKey::Not(a) => needs_text(a),
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        _ => false,
    }
}

pub(super) fn uses_modseq(k: &SearchKey) -> bool {
    match k {
        SearchKey::And(v) => v.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(a) => uses_modseq(a),
        SearchKey::ModSeq(_) => true,
        _ => false,
    }
}

fn eval(k: &SearchKey, c: &Candidate<'_>) -> bool {
    let m = c.meta;
    let msg = || {
        c.msg.get_or_init(|| match c.whole {
            true => Message::parse(c.raw.unwrap_or(&[])),
            false => Message::parse_header(c.raw.unwrap_or(&[])),
        })
    };
    let sent_day = || msg().date().map(|(s, tz)| day(s, tz));
    match k {
        SearchKey::And(v) => v.iter().all(|k| eval(k, c)),
        SearchKey::Or(a, b) => eval(a, c) || eval(b, c),
        SearchKey::Not(a) => !eval(a, c),
        SearchKey::SeqSet(s) => s.contains(c.seq, c.max_seq),
        SearchKey::Uid(s) => s.contains(m.uid, c.max_uid),
        SearchKey::All => true,
        SearchKey::Flag(f) => m.flags.contains(f),
        SearchKey::NoFlag(f) => !m.flags.contains(f),
        SearchKey::Recent => c.recent,
        SearchKey::Older(n) => m.internaldate <= crate::store::now() - i64::from(*n),
        SearchKey::Younger(n) => m.internaldate >= crate::store::now() - i64::from(*n),
        SearchKey::New => c.recent && !m.flags.contains("\\Seen"),
        SearchKey::Old => !c.recent,
        SearchKey::Before(d) => day(m.internaldate, m.tz_minutes) < *d,
        SearchKey::On(d) => day(m.internaldate, m.tz_minutes) == *d,
        SearchKey::Since(d) => day(m.internaldate, m.tz_minutes) >= *d,
        SearchKey::SentBefore(d) => sent_day().is_some_and(|x| x < *d),
        SearchKey::SentOn(d) => sent_day().is_some_and(|x| x == *d),
        SearchKey::SentSince(d) => sent_day().is_some_and(|x| x >= *d),
        SearchKey::Larger(n) => m.size > *n,
        SearchKey::Smaller(n) => m.size < *n,
        SearchKey::Header(name, needle) => msg().contains(SearchField::Header(name), needle),
        SearchKey::Body(needle) => msg().contains(SearchField::Body, needle),
        SearchKey::Text(needle) => msg().contains(SearchField::Text, needle),
        SearchKey::ModSeq(n) => m.modseq >= *n,
    }
}

/// A message of the selected mailbox that matched the search criteria.
pub(super) struct Found {
    pub seq: u32,
    pub meta: MessageMeta,
}

/// The charsets SEARCH, SORT and THREAD accept; NO [BADCHARSET] for others.
pub(super) fn check_charset(charset: &str) -> Result<(), Done> {
    let cs = charset.to_ascii_uppercase();
    if cs != "UTF-8" && cs != "US-ASCII" {
        return Err(Done::No(
            "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset".into(),
        ));
    }
    Ok(())
}

impl Session {
    /// The messages of the selected mailbox that match `key`, in sequence
    /// order (shared by SEARCH, SORT and THREAD). `Err` is the command's answer.
    pub(super) async fn search_matches(&mut self, key: &SearchKey) -> Result<Vec<Found>, Done> {
        if uses_modseq(key) {
            self.condstore = true;
        }
        let State::Selected(user, sel) = &mut self.state else {
            return Err(Done::Bad("No mailbox selected".into()));
        };
        let all = match user.ms.messages(sel.mailbox_id).await {
            Ok(a) => a,
            Err(e) => return Err(store_error(e)),
        };
        let mut metas: HashMap<u32, MessageMeta> = all.into_iter().map(|m| (m.uid, m)).collect();
        let content = needs_content(key);
        let text = needs_text(key);
        let max_seq = sel.exists();
        let max_uid = sel.uids.last().copied().unwrap_or(0);
        let mut hits = Vec::new();
        for (n, chunk) in sel.uids.chunks(CHUNK).enumerate() {
            let chunk: Vec<(usize, MessageMeta)> = chunk
                .iter()
                .enumerate()
                .filter_map(|(j, u)| metas.remove(u).map(|m| (n * CHUNK + j, m)))
                .collect();
            // Header keys only: the header cache answers (headers.rs).
            let mut heads = if content && !text {
                let refs: Vec<&MessageMeta> = chunk.iter().map(|(_, m)| m).collect();
                header_blocks(&user.ms, &refs).await
            } else {
                Vec::new()
            }
            .into_iter();
            for (i, meta) in chunk {
                let raw = if !content {
                    None
                } else if text {
                    tokio::fs::read(user.ms.blob_path(&meta.blob)).await.ok()
                } else {
                    heads.next().flatten()
                };
                let cell = std::cell::OnceCell::new();
                let c = Candidate {
                    seq: i as u32 + 1,
                    meta: &meta,
                    max_seq,
                    max_uid,
                    recent: sel.recent.contains(&meta.uid),
                    raw: raw.as_deref(),
                    whole: text,
                    msg: &cell,
                };
                if eval(key, &c) {
                    hits.push(Found { seq: c.seq, meta });
                }
            }
        }
        Ok(hits)
    }

    pub(crate) async fn cmd_search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<String>,
        key: SearchKey,
        ret: Option<SearchReturn>,
    ) -> Done {
        if let Some(cs) = &charset {
            if let Err(done) = check_charset(cs) {
                return done;
            }
        }
        let hits = match self.search_matches(&key).await {
            Ok(h) => h,
            Err(done) => {
                // RFC 5182 §2.1: a failed SAVE leaves `$` empty.
                if ret.is_some_and(|r| r.save) {
                    self.saved.clear();
                }
                return done;
            }
        };
        if let Some(ret) = ret {
            let found: Vec<&Found> = hits.iter().collect();
            self.esearch_answer(tag, uid, ret, &found, uses_modseq(&key));
            return Done::Ok("SEARCH completed".into());
        }
        let mut line = String::from("* SEARCH");
        for h in &hits {
            line.push(' ');
            line.push_str(&(if uid { h.meta.uid } else { h.seq }).to_string());
        }
        if uses_modseq(&key) && !hits.is_empty() {
            let highest = hits.iter().map(|h| h.meta.modseq).max().unwrap_or(0);
            line.push_str(&format!(" (MODSEQ {highest})"));
        }
        line.push_str("\r\n");
        self.conn.write(line.as_bytes());
        Done::Ok("SEARCH completed".into())
    }
}
