//! APPEND. State: authenticated. RFC 3501 §6.3.11, UIDPLUS APPENDUID (RFC 4315),
//! APPENDLIMIT (RFC 7889; the size check happens before the literal is read).

use crate::imap::session::{store_error, Done, Session};
use crate::store::blob::Durability;
use crate::store::{Flags, IngestSource, NewMessage};

impl Session {
    pub(crate) async fn cmd_append(
        &mut self,
        mailbox: String,
        flags: Vec<String>,
        date: Option<(i64, i32)>,
        mut message: Vec<u8>,
        binary: bool,
    ) -> Done {
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        let ms = u.ms.clone();
        let info = match ms.mailbox(&mailbox).await {
            Ok(Some(i)) => i,
            Ok(None) => return Done::No("[TRYCREATE] No such mailbox".into()),
            Err(e) => return store_error(e),
        };
        let mut streamed = self.streamed.take();
        if let Some(w) = streamed.take_if(|_| binary) {
            // A large literal8 went to a file: it is read back to look for NULs.
            let staged = match w.finish(Durability::Now).await {
                Ok(b) => b,
                Err(e) => return store_error(e),
            };
            let path = ms.blob_path(&staged.id);
            let read = tokio::fs::read(&path).await;
            let _ = tokio::fs::remove_file(&path).await;
            message = match read {
                Ok(m) => m,
                Err(e) => return store_error(e.into()),
            };
        }
        // RFC 3516 §4.4: parts with NULs are stored base64-encoded, so that
        // FETCH BODY never sends a NUL; FETCH BINARY gives the bytes back.
        if let Some(encoded) = crate::message::encode_nul_parts(&message) {
            message = encoded;
        }
        if message.is_empty() && streamed.is_none() {
            return Done::No("[CANNOT] Empty messages are not stored".into());
        }
        let mut set = Flags::new();
        for f in &flags {
            if f.eq_ignore_ascii_case("\\Recent") {
                continue;
            }
            if !set.insert(f) {
                return Done::Bad(format!("Invalid flag {f}"));
            }
        }
        let (internaldate, tz_minutes) = date.unwrap_or((crate::store::now(), 0));
        let staged = match streamed {
            Some(w) => w.finish(Durability::Now).await,
            None => ms.stage_bytes(&message).await,
        };
        let blob = match staged {
            Ok(b) => b,
            Err(e) => return store_error(e),
        };
        drop(message);
        let stored = ms
            .ingest(
                IngestSource::Append,
                vec![NewMessage {
                    mailbox_id: info.id,
                    uid: None,
                    flags: set,
                    internaldate,
                    tz_minutes,
                    blob,
                    legacy: None,
                    legacy_uidl: None,
                }],
            )
            .await;
        match stored {
            Ok(s) if !s.is_empty() => Done::Ok(format!(
                "[APPENDUID {} {}] APPEND completed",
                info.uidvalidity, s[0].uid
            )),
            Ok(_) => Done::No("[SERVERBUG] Message not stored".into()),
            Err(e) => store_error(e),
        }
    }
}
