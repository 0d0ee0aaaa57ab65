//! APPEND. State: authenticated. RFC 3501 §6.3.11, MULTIAPPEND (RFC 3502),
//! UIDPLUS APPENDUID (RFC 4315),
//! APPENDLIMIT (RFC 7889; the size check happens before the literal is read).

use crate::imap::proto::{AppendMessage, CatPart};
use crate::imap::session::{store_error, Done, Session};
use crate::store::blob::{Durability, StagedBlob};
use crate::store::{BlobWriter, Flags, IngestSource, Mailstore, NewMessage, StoreError};

impl Session {
    /// APPEND of one message or several (MULTIAPPEND, RFC 3502): all are
    /// stored in one transaction or none.
    pub(crate) async fn cmd_append(
        &mut self,
        mailbox: String,
        messages: Vec<AppendMessage>,
    ) -> Done {
        let mut streamed = std::mem::take(&mut self.streamed).into_iter();
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        let ms = u.ms.clone();
        let info = match ms.mailbox(&mailbox).await {
            Ok(Some(i)) => i,
            Ok(None) => return Done::No("[TRYCREATE] No such mailbox".into()),
            Err(e) => return store_error(e),
        };
        let append_limit = self.app.config().imap.append_limit;
        let quota = self.app.config().quota_for(&u.account.address);
        let mut new = Vec::with_capacity(messages.len());
        let mut staged_ids = Vec::new();
        for mut m in messages {
            if let Some(parts) = m.catenate.take() {
                match catenated(&ms, parts, &mut streamed, append_limit).await {
                    Ok(bytes) => m.message = bytes,
                    Err(no) => {
                        discard(&ms, &staged_ids).await;
                        return no;
                    }
                }
            }
            // An empty literal stands for the next message streamed to a file.
            let file = if m.message.is_empty() {
                streamed.next()
            } else {
                None
            };
            let staged = match stage(&ms, m.message, file, m.binary).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    discard(&ms, &staged_ids).await;
                    return Done::No("[CANNOT] Empty messages are not stored".into());
                }
                Err(e) => {
                    discard(&ms, &staged_ids).await;
                    return store_error(e);
                }
            };
            staged_ids.push(staged.id.clone());
            let mut set = Flags::new();
            for f in &m.flags {
                if f.eq_ignore_ascii_case("\\Recent") {
                    continue;
                }
                if !set.insert(f) {
                    discard(&ms, &staged_ids).await;
                    return Done::Bad(format!("Invalid flag {f}"));
                }
            }
            let (internaldate, tz_minutes) = m.date.unwrap_or((crate::store::now(), 0));
            new.push(NewMessage {
                mailbox_id: info.id,
                uid: None,
                flags: set,
                internaldate,
                tz_minutes,
                blob: staged,
                legacy: None,
                legacy_uidl: None,
            });
        }
        let count = new.len();
        if !quota.is_unlimited() {
            let bytes: u64 = new.iter().map(|m| m.blob.size).sum();
            match ms.usage().await {
                Ok(used) if !quota.allows(used, bytes, count as u64) => {
                    discard(&ms, &staged_ids).await;
                    return Done::No(
                        "[OVERQUOTA] The mailbox is over its quota (see GETQUOTAROOT)".into(),
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    discard(&ms, &staged_ids).await;
                    return store_error(e);
                }
            }
        }
        match ms.ingest(IngestSource::Append, new).await {
            Ok(s) if s.len() == count && count > 0 => {
                let uids: Vec<u32> = s.iter().map(|m| m.uid).collect();
                Done::Ok(format!(
                    "[APPENDUID {} {}] APPEND completed",
                    info.uidvalidity,
                    crate::imap::write::uid_list(&uids)
                ))
            }
            Ok(_) => Done::No("[SERVERBUG] Message not stored".into()),
            Err(e) => store_error(e),
        }
    }
}

/// Makes one message's file: from memory, or the file it was streamed to.
/// RFC 3516 §4.4: parts holding NULs are stored base64-encoded, so that FETCH
/// BODY never sends a NUL; FETCH BINARY gives the bytes back. `None` for an
/// empty message.
async fn stage(
    ms: &Mailstore,
    mut message: Vec<u8>,
    file: Option<BlobWriter>,
    binary: bool,
) -> Result<Option<StagedBlob>, StoreError> {
    let file = match file {
        // A large literal8 went to a file: it is read back to look for NULs.
        Some(w) if binary => {
            let staged = w.finish(Durability::Now).await?;
            let path = ms.blob_path(&staged.id);
            let read = tokio::fs::read(&path).await;
            let _ = tokio::fs::remove_file(&path).await;
            message = read?;
            None
        }
        other => other,
    };
    if let Some(encoded) = crate::message::encode_nul_parts(&message) {
        message = encoded;
    }
    match file {
        Some(w) => Ok(Some(w.finish(Durability::Now).await?)),
        None if message.is_empty() => Ok(None),
        None => Ok(Some(ms.stage_bytes(&message).await?)),
    }
}

/// A CATENATE message (RFC 4469) put together: its TEXT parts (an empty one
/// stands for the next part streamed to a file) and the messages or parts
/// its URLs name. `NO [BADURL]` for an URL that names nothing here, `NO
/// [TOOBIG]` beyond APPENDLIMIT.
async fn catenated(
    ms: &Mailstore,
    parts: Vec<CatPart>,
    streamed: &mut impl Iterator<Item = BlobWriter>,
    limit: u64,
) -> Result<Vec<u8>, Done> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            CatPart::Text(t) if t.is_empty() => {
                if let Some(w) = streamed.next() {
                    let staged = w.finish(Durability::Now).await.map_err(store_error)?;
                    let path = ms.blob_path(&staged.id);
                    let read = tokio::fs::read(&path).await;
                    let _ = tokio::fs::remove_file(&path).await;
                    out.extend_from_slice(&read.map_err(|e| store_error(e.into()))?);
                }
            }
            CatPart::Text(t) => out.extend_from_slice(&t),
            CatPart::Url(u) => match super::catenate::resolve(ms, &u).await {
                Ok(data) => out.extend_from_slice(&data),
                Err(why) => {
                    let q = u.replace('\\', "\\\\").replace('"', "\\\"");
                    return Err(Done::No(format!("[BADURL \"{q}\"] {why}")));
                }
            },
        }
        if out.len() as u64 > limit {
            return Err(Done::No(format!(
                "[TOOBIG] The message would be over APPENDLIMIT ({limit} bytes)"
            )));
        }
    }
    Ok(out)
}

/// Removes message files staged for an APPEND that stores nothing.
async fn discard(ms: &Mailstore, ids: &[String]) {
    for id in ids {
        let _ = tokio::fs::remove_file(ms.blob_path(id)).await;
    }
}
