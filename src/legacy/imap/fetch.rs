//! Streaming a `UID FETCH` from the legacy server: message bodies go to
//! message files as they arrive, charged to the host's bandwidth cap.

use std::sync::Arc;

use super::command::Arg;
use super::response::{Response, Status, Value};
use super::session::Session;
use crate::legacy::bandwidth::Bandwidth;
use crate::legacy::{LegacyError, Result};
use crate::store::blob::Durability;
use crate::store::{Mailstore, StagedBlob};

/// One message of a `FETCH` response.
#[derive(Debug, Default)]
pub struct Fetched {
    pub uid: u32,
    pub flags: Option<Vec<String>>,
    pub internaldate: Option<String>,
    pub size: Option<u64>,
    pub modseq: Option<u64>,
    pub body: Option<StagedBlob>,
}

impl Session {
    /// Caps the rate at which message bodies are read (shared per legacy host).
    pub fn set_bandwidth(&mut self, bandwidth: Option<Arc<Bandwidth>>) {
        self.bandwidth = bandwidth;
    }

    /// Starts `UID FETCH set (items)`; read its messages with [`Self::next_fetch`].
    pub async fn start_fetch(&mut self, set: &str, items: &str) -> Result<String> {
        self.send(&[Arg::Raw("UID FETCH"), Arg::Raw(set), Arg::Raw(items)])
            .await
    }

    /// The next message of the fetch `tag`; `None` once it completed. Bodies are
    /// streamed into message files of `ms`.
    pub async fn next_fetch(
        &mut self,
        tag: &str,
        ms: Option<&Mailstore>,
    ) -> Result<Option<Fetched>> {
        loop {
            let (resp, mut blobs) = self.read(ms).await?;
            if let Some(bw) = &self.bandwidth {
                bw.charge(blobs.iter().map(|b| b.size).sum()).await;
            }
            match resp {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => {
                    match status {
                        Status::Ok => {}
                        // Some messages could not be fetched (expunged meanwhile,
                        // or broken on the server): keep what came; verification
                        // decides whether anything is missing.
                        Status::No => tracing::warn!(
                            response = %text.chars().take(200).collect::<String>(),
                            "legacy UID FETCH answered NO; keeping the messages that came"
                        ),
                        Status::Bad => {
                            return Err(LegacyError::Protocol(format!("UID FETCH: {text}")))
                        }
                    }
                    return Ok(None);
                }
                Response::Untagged { values, .. } => {
                    let is_fetch = values
                        .get(1)
                        .and_then(Value::text)
                        .is_some_and(|t| t.eq_ignore_ascii_case("FETCH"));
                    if !is_fetch {
                        continue;
                    }
                    let Some(items) = values.get(2).and_then(Value::list) else {
                        continue;
                    };
                    let mut f = Fetched::default();
                    for pair in items.chunks(2) {
                        let [k, v] = pair else { break };
                        let k = k.text().unwrap_or_default().to_ascii_uppercase();
                        match k.as_str() {
                            "UID" => f.uid = v.number().unwrap_or(0) as u32,
                            "FLAGS" => {
                                f.flags =
                                    v.list().map(|l| l.iter().filter_map(Value::text).collect())
                            }
                            "INTERNALDATE" => f.internaldate = v.text(),
                            "RFC822.SIZE" => f.size = v.number(),
                            "MODSEQ" => {
                                f.modseq = v.list().and_then(|l| l.first()).and_then(Value::number)
                            }
                            "BODY[]" | "RFC822" => match v {
                                Value::Blob(i) if *i < blobs.len() => {
                                    f.body = Some(blobs.swap_remove(*i));
                                }
                                Value::Str(bytes) => {
                                    if let Some(ms) = ms {
                                        let mut w = ms.blob_writer().await?;
                                        w.write(bytes).await?;
                                        f.body = Some(w.finish(Durability::Batch).await?);
                                    }
                                }
                                _ => {}
                            },
                            _ => {}
                        }
                    }
                    if f.uid == 0 {
                        continue;
                    }
                    return Ok(Some(f));
                }
                _ => {}
            }
        }
    }
}
