//! Folder commands on the legacy server: NAMESPACE, LIST/LSUB, STATUS, EXAMINE.

use super::command::Arg;
use super::response::{code_of, Value};
use super::session::Session;
use crate::legacy::{LegacyError, Result};

/// What `EXAMINE` said about a folder.
#[derive(Debug, Clone, Default)]
pub struct FolderStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: Option<u64>,
    pub exists: u32,
}

/// A folder from `LIST`.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The name exactly as the server sent it (modified UTF-7), used in commands
    /// and as the folder key of the legacy UID map.
    pub raw: String,
    pub separator: Option<char>,
    pub attributes: Vec<String>,
}

impl ListEntry {
    pub fn has(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }
}

impl Session {
    /// `NAMESPACE` (RFC 2342): the personal prefix and separator, if advertised.
    pub async fn personal_namespace(&mut self) -> Result<Option<(String, Option<char>)>> {
        if !self.has("NAMESPACE") {
            return Ok(None);
        }
        let untagged = self.ok(&[Arg::Raw("NAMESPACE")]).await?;
        for (_, values) in untagged {
            let is_ns = values
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("NAMESPACE"));
            if !is_ns {
                continue;
            }
            let first = values
                .get(1)
                .and_then(Value::list)
                .and_then(|l| l.first())
                .and_then(Value::list);
            if let Some(ns) = first {
                let prefix = ns.first().and_then(Value::text).unwrap_or_default();
                let sep = ns
                    .get(1)
                    .and_then(Value::text)
                    .and_then(|s| s.chars().next());
                return Ok(Some((prefix, sep)));
            }
        }
        Ok(None)
    }

    /// `LIST "" "*"` (with special-use attributes when advertised), or `LSUB`.
    pub async fn list(&mut self, lsub: bool) -> Result<Vec<ListEntry>> {
        let untagged = if lsub {
            self.ok(&[Arg::Raw("LSUB"), Arg::Raw("\"\""), Arg::Raw("\"*\"")])
                .await?
        } else if self.has("SPECIAL-USE") && self.has("LIST-EXTENDED") {
            self.ok(&[
                Arg::Raw("LIST"),
                Arg::Raw("\"\""),
                Arg::Raw("\"*\""),
                Arg::Raw("RETURN (SPECIAL-USE)"),
            ])
            .await?
        } else {
            self.ok(&[Arg::Raw("LIST"), Arg::Raw("\"\""), Arg::Raw("\"*\"")])
                .await?
        };
        let want = if lsub { "LSUB" } else { "LIST" };
        let mut out = Vec::new();
        for (_, v) in untagged {
            if !v
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case(want))
            {
                continue;
            }
            let attributes: Vec<String> = v
                .get(1)
                .and_then(Value::list)
                .map(|l| l.iter().filter_map(Value::text).collect())
                .unwrap_or_default();
            let separator = v
                .get(2)
                .and_then(Value::text)
                .and_then(|s| s.chars().next());
            let Some(raw) = v.get(3).and_then(Value::text) else {
                continue;
            };
            out.push(ListEntry {
                raw,
                separator,
                attributes,
            });
        }
        Ok(out)
    }

    /// `STATUS folder (MESSAGES)`: the message count without selecting.
    pub async fn message_count(&mut self, raw: &str) -> Result<u32> {
        Ok(self.status(raw, false).await?.0)
    }

    /// `STATUS folder (MESSAGES SIZE)` when the server advertises `STATUS=SIZE`
    /// (RFC 8438), else `STATUS folder (MESSAGES)`: the message count and, when
    /// the server gave it, the total of the messages' RFC822.SIZE.
    pub async fn folder_size(&mut self, raw: &str) -> Result<(u32, Option<u64>)> {
        let with_size = self.has("STATUS=SIZE");
        self.status(raw, with_size).await
    }

    async fn status(&mut self, raw: &str, with_size: bool) -> Result<(u32, Option<u64>)> {
        let items = if with_size {
            "(MESSAGES SIZE)"
        } else {
            "(MESSAGES)"
        };
        let untagged = self
            .ok(&[
                Arg::Raw("STATUS"),
                Arg::Str(raw.as_bytes()),
                Arg::Raw(items),
            ])
            .await?;
        let (mut messages, mut size) = (None, None);
        for (_, v) in untagged {
            let is_status = v
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("STATUS"));
            let Some(items) = v.get(2).and_then(Value::list).filter(|_| is_status) else {
                continue;
            };
            for pair in items.chunks(2) {
                if let [k, n] = pair {
                    match k.text().map(|k| k.to_ascii_uppercase()).as_deref() {
                        Some("MESSAGES") => messages = Some(n.number().unwrap_or(0) as u32),
                        Some("SIZE") => size = n.number(),
                        _ => {}
                    }
                }
            }
        }
        match messages {
            Some(m) => Ok((m, size)),
            None => Err(LegacyError::Protocol(format!("STATUS {raw}: no MESSAGES"))),
        }
    }

    /// `EXAMINE` (read-only; with CONDSTORE when advertised).
    pub async fn examine(&mut self, raw: &str) -> Result<FolderStatus> {
        let condstore = self.has("CONDSTORE");
        let args = [
            Arg::Raw("EXAMINE"),
            Arg::Str(raw.as_bytes()),
            Arg::Raw(if condstore { "(CONDSTORE)" } else { "" }),
        ];
        let args = if condstore { &args[..] } else { &args[..2] };
        let untagged = self.ok(args).await?;
        let mut st = FolderStatus::default();
        for (text, values) in untagged {
            if values
                .get(1)
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("EXISTS"))
            {
                st.exists = values.first().and_then(Value::number).unwrap_or(0) as u32;
            }
            if let Some(code) = text.get(2..).map(str::trim_start).and_then(code_of) {
                let mut it = code.split(' ');
                let (k, v) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                match k {
                    "UIDVALIDITY" => st.uidvalidity = v.parse().unwrap_or(0),
                    "UIDNEXT" => st.uidnext = v.parse().unwrap_or(0),
                    "HIGHESTMODSEQ" => st.highestmodseq = v.parse().ok(),
                    _ => {}
                }
            }
        }
        if st.uidvalidity == 0 {
            return Err(LegacyError::Protocol(format!(
                "EXAMINE {raw}: no UIDVALIDITY"
            )));
        }
        Ok(st)
    }
}
