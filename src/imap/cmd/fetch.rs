//! FETCH and UID FETCH. State: selected. RFC 3501 §6.4.5 (implicit `\Seen`
//! included), RFC 7162 (MODSEQ, CHANGEDSINCE). Message analysis (ENVELOPE,
//! BODYSTRUCTURE, sections) comes from `crate::message` as IMAP-syntax bytes.

use std::collections::HashMap;

use crate::imap::proto::{FetchItem, SeqSet};
use crate::imap::session::{store_error, Done, Session, State};
use crate::imap::write;
use crate::message::{Message, Section, SectionKind};
use crate::store::mailstore::headers::{HeaderCache, MESSAGE_MAX};
use crate::store::{FlagOp, Flags, MessageMeta};

/// Output is sent once this much is queued, so big fetches stream.
const FLUSH_AT: usize = 256 * 1024;
/// Messages whose header cache rows are read at once.
const CACHE_CHUNK: usize = 256;

fn literal(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// A BINARY result: a literal8 (`~{n}`) when it holds a NUL, which a literal
/// may not carry (RFC 3516 §4.3); a literal otherwise.
fn literal8(out: &mut Vec<u8>, data: &[u8]) {
    if data.contains(&0) {
        out.push(b'~');
    }
    literal(out, data);
}

/// `1.2.3`.
fn part_label(part: &[u32]) -> String {
    part.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn needs_body(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Envelope
                | FetchItem::Body
                | FetchItem::BodyStructure
                | FetchItem::Rfc822
                | FetchItem::Rfc822Header
                | FetchItem::Rfc822Text
                | FetchItem::BodySection { .. }
                | FetchItem::Binary { .. }
                | FetchItem::BinarySize { .. }
        )
    })
}

/// Whether the header cache can answer every item (with the message's own
/// header sections, not those of its parts).
fn cache_serves(items: &[FetchItem]) -> bool {
    items.iter().all(|i| match i {
        FetchItem::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.kind,
                    SectionKind::Header
                        | SectionKind::HeaderFields(_)
                        | SectionKind::HeaderFieldsNot(_)
                )
        }
        FetchItem::Rfc822
        | FetchItem::Rfc822Text
        | FetchItem::Binary { .. }
        | FetchItem::BinarySize { .. }
        | FetchItem::Unsupported(_) => false,
        _ => true,
    })
}

fn sets_seen(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Rfc822
                | FetchItem::Rfc822Text
                | FetchItem::BodySection { peek: false, .. }
                | FetchItem::Binary { peek: false, .. }
        )
    })
}

impl Session {
    pub(crate) async fn cmd_fetch(
        &mut self,
        uid: bool,
        set: SeqSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Done {
        if vanished && !self.qresync {
            return Done::Bad("VANISHED needs QRESYNC (ENABLE QRESYNC first)".into());
        }
        if let Some(FetchItem::Unsupported(n)) = items
            .iter()
            .find(|i| matches!(i, FetchItem::Unsupported(_)))
        {
            return Done::Bad(format!("{n} is not supported"));
        }
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.condstore = true;
        }
        let condstore = self.condstore;
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if changed_since.is_some() && !items.contains(&FetchItem::ModSeq) {
            items.push(FetchItem::ModSeq);
        }
        let State::Selected(user, sel) = &mut self.state else {
            return Done::Bad("No mailbox selected".into());
        };
        let msgs = match sel.resolve(&set, uid) {
            Ok(m) => m,
            Err(e) => return Done::Bad(e),
        };
        // QRESYNC (RFC 7162 §3.2.6): UIDs of the set expunged since the
        // CHANGEDSINCE modseq, before the FETCH answers.
        if let (true, Some(cs)) = (vanished, changed_since) {
            // `*` reaches past the last UID shown: expunged ones above it too.
            let max = u32::MAX;
            match user.ms.changes_since(sel.mailbox_id, cs).await {
                Ok(c) => {
                    let mut gone: Vec<u32> = c
                        .expunged
                        .into_iter()
                        .filter(|&u| set.contains(u, max))
                        .collect();
                    gone.sort_unstable();
                    gone.dedup();
                    if !gone.is_empty() {
                        self.conn.write(
                            format!("* VANISHED (EARLIER) {}\r\n", write::uid_list(&gone))
                                .as_bytes(),
                        );
                    }
                }
                Err(e) => return store_error(e),
            }
        }
        if msgs.is_empty() {
            return Done::Ok("FETCH completed".into());
        }
        let ms = user.ms.clone();
        let lo = msgs.first().map(|m| m.1).unwrap_or(1);
        let hi = msgs.last().map(|m| m.1).unwrap_or(1);
        let all = match ms.messages_between(sel.mailbox_id, lo, hi).await {
            Ok(a) => a,
            Err(e) => return store_error(e),
        };
        let mut metas: HashMap<u32, MessageMeta> = all.into_iter().map(|m| (m.uid, m)).collect();
        // Removed by another session and not reported here yet: still readable,
        // as it was (RFC 2180 §4.1.1).
        for (_, u) in &msgs {
            if !metas.contains_key(u) {
                if let Some(m) = ms.kept_message(sel.mailbox_id, *u) {
                    metas.insert(*u, m);
                }
            }
        }
        let msgs: Vec<(u32, u32)> = msgs
            .into_iter()
            .filter(|(_, u)| {
                metas
                    .get(u)
                    .is_some_and(|m| changed_since.is_none_or(|c| m.modseq > c))
            })
            .collect();
        // Implicit \Seen (RFC 3501 §6.4.5): set first, then report FLAGS with it.
        let mut seen_now: Vec<u32> = Vec::new();
        if sets_seen(&items) && !sel.read_only {
            let unseen: Vec<u32> = msgs
                .iter()
                .filter(|(_, u)| metas.get(u).is_some_and(|m| !m.flags.contains("\\Seen")))
                .map(|(_, u)| *u)
                .collect();
            if !unseen.is_empty() {
                let res = ms
                    .store_flags(
                        sel.mailbox_id,
                        unseen,
                        FlagOp::Add,
                        Flags::from_names(["\\Seen"]),
                        None,
                    )
                    .await;
                match res {
                    Ok(r) => {
                        for m in r.messages {
                            if r.changed.contains(&m.uid) {
                                seen_now.push(m.uid);
                            }
                            sel.told(m.uid, m.modseq);
                            metas.insert(m.uid, m);
                        }
                    }
                    Err(e) => return store_error(e),
                }
            }
        }
        let wants_flags = items.contains(&FetchItem::Flags);
        // A keyword another session added is announced with FLAGS before the
        // FETCH that shows it (RFC 3501 §7.2.6); flags shown here need no
        // FETCH of their own later.
        for (_, u) in &msgs {
            if let Some(m) = metas.get(u).filter(|_| wants_flags || seen_now.contains(u)) {
                if let Some(lines) = sel.new_keywords(&m.flags) {
                    self.conn.write(lines.as_bytes());
                }
                sel.told(*u, m.modseq);
            }
        }
        let recent = &sel.recent;
        let mut missing = false;
        let mut unknown_cte: Option<String> = None;
        let body = needs_body(&items);
        // Items the header cache can answer (the store's headers.rs): the
        // files are read only for messages it has nothing for.
        let use_cache = body && cache_serves(&items);
        let wants_head = items
            .iter()
            .any(|i| matches!(i, FetchItem::Rfc822Header | FetchItem::BodySection { .. }));
        for chunk in msgs.chunks(CACHE_CHUNK) {
            let cache = if use_cache {
                let blobs = chunk
                    .iter()
                    .filter_map(|(_, u)| metas.get(u).map(|m| m.blob.clone()))
                    .collect();
                ms.header_caches(blobs).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "imap: header cache unreadable");
                    HashMap::new()
                })
            } else {
                HashMap::new()
            };
            let mut fills = Vec::new();
            for &(seq, u) in chunk {
                let Some(meta) = metas.get(&u) else {
                    continue;
                };
                let cached = cache
                    .get(&meta.blob)
                    .filter(|c| !wants_head || c.header.is_some());
                let raw = if body && cached.is_none() {
                    match tokio::fs::read(ms.blob_path(&meta.blob)).await {
                        Ok(r) => Some(r),
                        Err(e) => {
                            // Expunged meanwhile by another session (its file is gone).
                            tracing::debug!(uid = u, error = %e, "imap: message file unreadable");
                            missing = true;
                            continue;
                        }
                    }
                } else {
                    None
                };
                if let Some(r) = raw.as_deref().filter(|r| {
                    use_cache && !cache.contains_key(&meta.blob) && r.len() as u64 <= MESSAGE_MAX
                }) {
                    fills.push((meta.blob.clone(), HeaderCache::of(r)));
                }
                let mut out: Vec<u8> = format!("* {seq} FETCH (").into_bytes();
                let mut first = true;
                let mut sep = |out: &mut Vec<u8>| {
                    if !first {
                        out.push(b' ');
                    }
                    first = false;
                };
                let raw_ref: &[u8] = raw.as_deref().unwrap_or(&[]);
                {
                    // The MIME structure is analysed only if an item needs it.
                    let parsed = std::cell::OnceCell::new();
                    let msg = || parsed.get_or_init(|| Message::parse(raw_ref));
                    // Header sections of the message itself need only the fields
                    // of its header block.
                    let head: &[u8] = match cached {
                        Some(c) => c.header.as_deref().unwrap_or_default(),
                        None => &raw_ref[..crate::message::header_end(raw_ref)],
                    };
                    let parsed_head = std::cell::OnceCell::new();
                    let head_msg = || parsed_head.get_or_init(|| Message::parse_header(head));
                    for item in &items {
                        sep(&mut out);
                        match item {
                            FetchItem::Uid => out.extend_from_slice(format!("UID {u}").as_bytes()),
                            FetchItem::Flags => out.extend_from_slice(
                                format!(
                                    "FLAGS {}",
                                    write::flags_recent(&meta.flags, recent.contains(&u))
                                )
                                .as_bytes(),
                            ),
                            FetchItem::InternalDate => out.extend_from_slice(
                                format!(
                                    "INTERNALDATE {}",
                                    write::date_time(meta.internaldate, meta.tz_minutes)
                                )
                                .as_bytes(),
                            ),
                            FetchItem::Rfc822Size => out
                                .extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes()),
                            FetchItem::ModSeq => out
                                .extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
                            FetchItem::Envelope => {
                                out.extend_from_slice(b"ENVELOPE ");
                                match cached {
                                    Some(c) => out.extend_from_slice(&c.envelope),
                                    None => out.extend_from_slice(&msg().envelope()),
                                }
                            }
                            FetchItem::Body => {
                                out.extend_from_slice(b"BODY ");
                                match cached {
                                    Some(c) => out.extend_from_slice(&c.body),
                                    None => out.extend_from_slice(&msg().body_structure(false)),
                                }
                            }
                            FetchItem::BodyStructure => {
                                out.extend_from_slice(b"BODYSTRUCTURE ");
                                match cached {
                                    Some(c) => out.extend_from_slice(&c.bodystructure),
                                    None => out.extend_from_slice(&msg().body_structure(true)),
                                }
                            }
                            FetchItem::Rfc822 => {
                                out.extend_from_slice(b"RFC822 ");
                                literal(&mut out, raw_ref);
                            }
                            FetchItem::Rfc822Header => {
                                out.extend_from_slice(b"RFC822.HEADER ");
                                let h = head_msg().section_ref(&Section {
                                    part: vec![],
                                    kind: SectionKind::Header,
                                });
                                literal(&mut out, &h);
                            }
                            FetchItem::Rfc822Text => {
                                out.extend_from_slice(b"RFC822.TEXT ");
                                let t = msg().section_ref(&Section {
                                    part: vec![],
                                    kind: SectionKind::Text,
                                });
                                literal(&mut out, &t);
                            }
                            FetchItem::BodySection {
                                section,
                                label,
                                partial,
                                ..
                            } => {
                                let header_only = section.part.is_empty()
                                    && matches!(
                                        section.kind,
                                        SectionKind::Header
                                            | SectionKind::HeaderFields(_)
                                            | SectionKind::HeaderFieldsNot(_)
                                    );
                                let data = if section.part.is_empty()
                                    && section.kind == SectionKind::All
                                {
                                    std::borrow::Cow::Borrowed(raw_ref)
                                } else if header_only {
                                    head_msg().section_ref(section)
                                } else {
                                    msg().section_ref(section)
                                };
                                out.extend_from_slice(format!("BODY[{label}]").as_bytes());
                                match partial {
                                    Some((origin, len)) => {
                                        out.extend_from_slice(format!("<{origin}> ").as_bytes());
                                        let start = (*origin as usize).min(data.len());
                                        let end =
                                            start.saturating_add(*len as usize).min(data.len());
                                        literal(&mut out, &data[start..end]);
                                    }
                                    None => {
                                        out.push(b' ');
                                        literal(&mut out, &data);
                                    }
                                }
                            }
                            FetchItem::Binary { part, partial, .. } => {
                                let data = match msg().binary(part) {
                                    Ok(d) => d,
                                    Err(cte) => {
                                        unknown_cte = Some(cte);
                                        continue;
                                    }
                                };
                                out.extend_from_slice(
                                    format!("BINARY[{}]", part_label(part)).as_bytes(),
                                );
                                let data = match partial {
                                    Some((origin, len)) => {
                                        out.extend_from_slice(format!("<{origin}>").as_bytes());
                                        let start = (*origin as usize).min(data.len());
                                        let end =
                                            start.saturating_add(*len as usize).min(data.len());
                                        &data[start..end]
                                    }
                                    None => &data[..],
                                };
                                out.push(b' ');
                                literal8(&mut out, data);
                            }
                            FetchItem::BinarySize { part } => match msg().binary(part) {
                                Ok(d) => out.extend_from_slice(
                                    format!("BINARY.SIZE[{}] {}", part_label(part), d.len())
                                        .as_bytes(),
                                ),
                                Err(cte) => unknown_cte = Some(cte),
                            },
                            FetchItem::Unsupported(_) => {}
                        }
                    }
                    if !wants_flags && seen_now.contains(&u) {
                        sep(&mut out);
                        out.extend_from_slice(
                            format!(
                                "FLAGS {}",
                                write::flags_recent(&meta.flags, recent.contains(&u))
                            )
                            .as_bytes(),
                        );
                    }
                    // RFC 7162 §3.1: with CONDSTORE on, a FETCH that set \Seen carries
                    // UID and MODSEQ.
                    if condstore && !items.contains(&FetchItem::Uid) && seen_now.contains(&u) {
                        sep(&mut out);
                        out.extend_from_slice(format!("UID {u}").as_bytes());
                    }
                    if condstore && !items.contains(&FetchItem::ModSeq) && seen_now.contains(&u) {
                        sep(&mut out);
                        out.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes());
                    }
                    out.extend_from_slice(b")\r\n");
                }
                self.conn.write(&out);
                if self.conn.pending_output() > FLUSH_AT && self.conn.flush().await.is_err() {
                    return Done::Close;
                }
            }
            if let Err(e) = ms.fill_header_caches(fills).await {
                tracing::debug!(error = %e, "imap: header cache not filled");
            }
        }
        if let Some(cte) = unknown_cte {
            return Done::No(format!(
                "[UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding {cte}"
            ));
        }
        if missing {
            return Done::No("[EXPUNGEISSUED] Some messages were expunged meanwhile".into());
        }
        Done::Ok("FETCH completed".into())
    }
}
