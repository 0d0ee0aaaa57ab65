//! The copy engine (DESIGN §3): one pass over every legacy folder, idempotent
//! through the legacy UID map, so the first copy, the delta pass of the switch,
//! a resumed copy after a crash and the catch-up after the flip are one code path.
//!
//! Per folder: `EXAMINE` (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), `UID FETCH 1:*
//! (UID FLAGS)` for the legacy UID set, then one streamed `UID FETCH` of the
//! bodies not yet copied. Each body goes straight to a message file; a batch of
//! files is made durable with one filesystem sync and committed with one
//! `ingest`. Memory stays bounded by the batch limits, whatever the sizes.
//! Each committed batch is added to the job's progress ([`super::progress`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::discover::{Discovery, Found};
use super::error::MigrateError;
use super::names::{self, Namespace};
use super::progress::{Progress, Size, Tally};
use crate::legacy::imap::{self, ListEntry, Session};
use crate::legacy::{LegacyError, Result};
use crate::store::mailstore::LegacyRef;
use crate::store::{FlagOp, Flags, IngestSource, Mailstore, NewMailbox, NewMessage};

/// Messages per committed batch.
const BATCH_MESSAGES: usize = 2000;
/// Bytes per committed batch.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// A batch is also committed once it has been open this long, so that a slow
/// copy shows its progress (and a crash loses little of it).
const BATCH_AGE: Duration = Duration::from_secs(2);
/// UIDs per `UID FETCH` command.
const FETCH_CHUNK: usize = 2000;

/// How a pass treats the legacy side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Before the switch: legacy UIDs and UIDVALIDITY are kept, flag changes and
    /// expunges made on the legacy side are mirrored.
    Mirror,
    /// After the flip: the local store is authoritative; only messages that still
    /// reached the legacy server are brought in, with fresh local UIDs.
    CatchUp,
}

/// What a pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    pub flag_updates: u64,
    pub expunged: u64,
}

/// A legacy folder and the local name it lands under.
#[derive(Debug, Clone)]
pub struct Folder {
    pub entry: ListEntry,
    pub local: String,
}

impl Folder {
    fn selectable(&self) -> bool {
        !self.entry.has("\\Noselect") && !self.entry.has("\\NonExistent")
    }
}

/// The test-only slow-down (`FERRYMAIL_TEST_COPY_DELAY_MS`, off by default):
/// a pause after each copied message, so tests can act while a copy runs.
pub(super) fn test_delay() -> Option<Duration> {
    std::env::var("FERRYMAIL_TEST_COPY_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

/// The legacy namespace: NAMESPACE when advertised, else no prefix and the
/// separator LIST reports.
pub async fn namespace(sess: &mut Session) -> Result<Namespace> {
    if let Some((prefix, separator)) = sess.personal_namespace().await? {
        return Ok(Namespace { prefix, separator });
    }
    let list = sess.list(false).await?;
    Ok(Namespace {
        prefix: String::new(),
        separator: list.iter().find_map(|e| e.separator),
    })
}

/// Lists the legacy folders with their local names, in a stable order; two legacy
/// names that translate to the same local name get ` (2)`, ` (3)`... on the later.
pub async fn folders(sess: &mut Session, ns: &Namespace) -> Result<Vec<Folder>> {
    let mut list = sess.list(false).await?;
    list.sort_by(|a, b| a.raw.cmp(&b.raw));
    list.dedup_by(|a, b| a.raw == b.raw);
    let mut used: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let base = names::local_name(&entry.raw, ns);
        let mut local = base.clone();
        let mut n = 2;
        while !used.insert(local.to_lowercase()) {
            local = format!("{base} ({n})");
            n += 1;
        }
        out.push(Folder { entry, local });
    }
    Ok(out)
}

/// Whether the legacy mailbox holds at most `limit` messages: `LIST`, then one
/// `STATUS` per selectable folder (INBOX first), stopping as soon as the count
/// passes `limit`, so a big mailbox usually costs two commands. Tells a first
/// login whether waiting for the copy to finish is worth it.
pub async fn at_most(sess: &mut Session, limit: u64) -> Result<bool> {
    let mut list = sess.list(false).await?;
    list.retain(|e| !e.has("\\Noselect") && !e.has("\\NonExistent"));
    list.sort_by_key(|e| !e.raw.eq_ignore_ascii_case("INBOX"));
    let mut total = 0u64;
    for e in &list {
        total += u64::from(sess.message_count(&e.raw).await?);
        if total > limit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Measures each folder the pass copies (one `STATUS` each, with `SIZE` when
/// the server has `STATUS=SIZE`). A folder that cannot be measured stays
/// unknown until the pass reaches it; the copy does not fail for it.
async fn measure(sess: &mut Session, folders: &[Folder], tally: &mut Tally) {
    for f in folders.iter().filter(|f| f.selectable()) {
        match sess.folder_size(&f.entry.raw).await {
            Ok((messages, bytes)) => {
                let messages = u64::from(messages);
                tally.measured(&f.entry.raw, Size { messages, bytes });
            }
            Err(e) => {
                tracing::warn!(folder = %f.entry.raw, error = %e, "cannot measure a legacy folder");
            }
        }
    }
}

/// One pass over every folder, its progress recorded through `progress`.
pub async fn pass(
    sess: &mut Session,
    ms: &Arc<Mailstore>,
    mode: Mode,
    progress: &Progress,
) -> Result<PassReport> {
    let ns = namespace(sess).await?;
    let folders = folders(sess, &ns).await?;
    let mut report = PassReport::default();
    let mut tally = Tally::new(
        folders
            .iter()
            .filter(|f| f.selectable())
            .map(|f| f.entry.raw.as_str()),
    );
    if progress.measures_first() {
        measure(sess, &folders, &mut tally).await;
    }
    progress.begin(tally.changed()).await;
    let mut tally = progress.is_on().then_some(tally);
    let local_roles: HashSet<String> = ms
        .mailboxes()
        .await?
        .into_iter()
        .filter_map(|m| m.special_use)
        .collect();
    let mut roles_taken = local_roles;
    for f in &folders {
        let role = names::role_from_attributes(&f.entry.attributes)
            .or_else(|| names::role_by_name(&f.local));
        let role = role.filter(|r| mode == Mode::Mirror && roles_taken.insert(r.to_string()));
        if !f.selectable() {
            if mode == Mode::Mirror {
                match ms.mailbox(&f.local).await? {
                    None => {
                        let opts = NewMailbox {
                            special_use: role.map(str::to_string),
                            ..Default::default()
                        };
                        ms.create_mailbox(&f.local, opts).await?;
                    }
                    Some(m) if m.special_use.is_none() && role.is_some() => {
                        ms.update_mailbox(m.id, None, None, None, Some(role.map(str::to_string)))
                            .await?;
                    }
                    Some(_) => {}
                }
            }
            continue;
        }
        let copy = FolderCopy {
            mode,
            progress,
            tally: tally.as_mut(),
        };
        copy_folder(sess, ms, f, role, copy, &mut report).await?;
        report.folders += 1;
    }
    if mode == Mode::Mirror {
        let by_raw: HashMap<&str, &str> = folders
            .iter()
            .map(|f| (f.entry.raw.as_str(), f.local.as_str()))
            .collect();
        let subscribed = sess.list(true).await?;
        for s in subscribed {
            let local = by_raw
                .get(s.raw.as_str())
                .map(|l| l.to_string())
                .unwrap_or_else(|| names::local_name(&s.raw, &ns));
            if let Err(e) = ms.set_subscribed(&local, true).await {
                tracing::warn!(folder = %local, error = %e, "cannot carry a subscription over");
            }
        }
    }
    Ok(report)
}

/// How a pass copies a folder: its mode, and where its progress goes (the
/// tally only when progress is recorded).
struct FolderCopy<'a> {
    mode: Mode,
    progress: &'a Progress,
    tally: Option<&'a mut Tally>,
}

async fn copy_folder(
    sess: &mut Session,
    ms: &Arc<Mailstore>,
    f: &Folder,
    role: Option<&str>,
    copy: FolderCopy<'_>,
    report: &mut PassReport,
) -> Result<()> {
    let FolderCopy {
        mode,
        progress,
        tally,
    } = copy;
    let raw = f.entry.raw.as_str();
    let st = sess.examine(raw).await?;
    let mbx = match ms.mailbox(&f.local).await? {
        None => {
            let opts = match mode {
                Mode::Mirror => NewMailbox {
                    uidvalidity: Some(st.uidvalidity),
                    uidnext: Some(st.uidnext.max(1)),
                    highestmodseq: st.highestmodseq,
                    special_use: role.map(str::to_string),
                },
                Mode::CatchUp => NewMailbox::default(),
            };
            ms.create_mailbox(&f.local, opts).await?
        }
        Some(m) if mode == Mode::Mirror && m.uidvalidity != st.uidvalidity => {
            if m.exists > 0 {
                return Err(LegacyError::Protocol(format!(
                    "local folder `{}` holds messages under UIDVALIDITY {}, the legacy folder now has {}",
                    f.local, m.uidvalidity, st.uidvalidity
                )));
            }
            ms.update_mailbox(m.id, Some(st.uidvalidity), None, None, None)
                .await?
        }
        Some(m) => m,
    };
    if mode == Mode::Mirror && mbx.special_use.is_none() && role.is_some() {
        ms.update_mailbox(mbx.id, None, None, None, Some(role.map(str::to_string)))
            .await?;
    }

    // The legacy UID set with flags (and sizes, for the progress).
    let items = match tally {
        Some(_) => "(UID FLAGS RFC822.SIZE)",
        None => "(UID FLAGS)",
    };
    let mut legacy: Vec<(u32, Vec<String>, Option<u64>)> = Vec::with_capacity(st.exists as usize);
    if st.exists > 0 {
        let tag = sess.start_fetch("1:*", items).await?;
        while let Some(m) = sess.next_fetch(&tag, None).await? {
            legacy.push((m.uid, m.flags.unwrap_or_default(), m.size));
        }
    }
    legacy.sort_by_key(|m| m.0);
    legacy.dedup_by_key(|m| m.0);
    if let Some(tally) = tally {
        let size = Size {
            messages: legacy.len() as u64,
            bytes: legacy.iter().map(|m| m.2).sum(),
        };
        tally.seen(raw, size);
        if let Some(total) = tally.changed() {
            progress.total(total).await;
        }
    }
    let mapped = ms.legacy_map_for(raw, st.uidvalidity).await?;

    if mode == Mode::Mirror && !mapped.is_empty() {
        mirror_changes(ms, mbx.id, &legacy, &mapped, report).await?;
    }

    let wanted: Vec<u32> = legacy
        .iter()
        .map(|m| m.0)
        .filter(|u| !mapped.contains_key(u))
        .collect();
    drop(legacy);
    let mut committer = Committer::new(ms, progress);
    let fetched = fetch_bodies(sess, ms, &wanted, raw, &st, mbx.id, mode, &mut committer).await;
    // Whatever happened, no commit may still run once this folder is left.
    let committed = committer.finish(report).await;
    fetched?;
    committed?;
    if mode == Mode::Mirror {
        ms.update_mailbox(mbx.id, None, Some(st.uidnext), st.highestmodseq, None)
            .await?;
    }
    Ok(())
}

/// Streams the bodies of `wanted` into message files and hands them to the
/// committer in batches.
#[allow(clippy::too_many_arguments)]
async fn fetch_bodies(
    sess: &mut Session,
    ms: &Mailstore,
    wanted: &[u32],
    raw: &str,
    st: &imap::FolderStatus,
    mailbox_id: i64,
    mode: Mode,
    committer: &mut Committer,
) -> Result<()> {
    let delay = test_delay();
    for chunk in wanted.chunks(FETCH_CHUNK) {
        let want: HashSet<u32> = chunk.iter().copied().collect();
        let tag = sess
            .start_fetch(
                &imap::uid_set(chunk),
                "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
            )
            .await?;
        let mut batch = committer.batch();
        while let Some(m) = sess.next_fetch(&tag, Some(ms)).await? {
            let Some(blob) = m.body else { continue };
            if !want.contains(&m.uid) {
                // Not asked for (an unsolicited response): its file is removed
                // as unreferenced the next time the store is opened.
                continue;
            }
            let (internaldate, tz_minutes) = m
                .internaldate
                .as_deref()
                .and_then(imap::parse_internaldate)
                .unwrap_or((crate::store::now(), 0));
            batch.push(NewMessage {
                mailbox_id,
                uid: (mode == Mode::Mirror).then_some(m.uid),
                flags: Flags::from_names(m.flags.unwrap_or_default()),
                internaldate,
                tz_minutes,
                blob,
                legacy: Some(LegacyRef {
                    folder: raw.to_string(),
                    uidvalidity: st.uidvalidity,
                    uid: m.uid,
                }),
                legacy_uidl: None,
            });
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            if batch.full() {
                committer.submit(batch.take()).await?;
            }
        }
        committer.submit(batch.take()).await?;
    }
    Ok(())
}

/// The messages fetched since the last commit, and the alias evidence of
/// their headers ([`super::discover`]) when the pass gathers it.
#[derive(Default)]
pub(super) struct Batch {
    items: Vec<NewMessage>,
    bytes: u64,
    opened: Option<Instant>,
    discovery: Option<Arc<Discovery>>,
    found: Found,
}

impl Batch {
    /// Takes the header block the blob writer kept off the message (noting
    /// its evidence first, when gathered): it is not kept in the batch.
    pub(super) fn push(&mut self, mut m: NewMessage) {
        if let (Some(head), Some(d)) = (m.blob.head.take(), &self.discovery) {
            d.note(&mut self.found, &head, m.internaldate);
        }
        self.bytes += m.blob.size;
        self.opened.get_or_insert_with(Instant::now);
        self.items.push(m);
    }

    /// Whether to commit now: [`BATCH_MESSAGES`], [`BATCH_BYTES`] or
    /// [`BATCH_AGE`] reached.
    pub(super) fn full(&self) -> bool {
        self.items.len() >= BATCH_MESSAGES
            || self.bytes >= BATCH_BYTES
            || self.opened.is_some_and(|t| t.elapsed() >= BATCH_AGE)
    }

    /// The batch, leaving an empty one (for the same pass).
    pub(super) fn take(&mut self) -> Batch {
        let discovery = self.discovery.clone();
        let out = std::mem::take(self);
        self.discovery = discovery;
        out
    }
}

/// Commits batches in the background, one at a time and in order, so the legacy
/// socket is read (and the next batch written) while the previous batch is
/// synced and committed. A batch counts as copied only once its commit returned;
/// then it is added to the job's progress.
pub(super) struct Committer {
    ms: Arc<Mailstore>,
    progress: Progress,
    running: Option<tokio::task::JoinHandle<Result<PassReport>>>,
    done: PassReport,
}

impl Committer {
    pub(super) fn new(ms: &Arc<Mailstore>, progress: &Progress) -> Committer {
        Committer {
            ms: ms.clone(),
            progress: progress.clone(),
            running: None,
            done: PassReport::default(),
        }
    }

    /// An empty batch of this pass.
    pub(super) fn batch(&self) -> Batch {
        Batch {
            discovery: self.progress.discovery().cloned(),
            ..Batch::default()
        }
    }

    /// Waits for the previous batch, then starts committing `batch`; its
    /// alias evidence is recorded once it is committed.
    pub(super) async fn submit(&mut self, batch: Batch) -> Result<()> {
        self.wait().await?;
        if batch.items.is_empty() {
            return Ok(());
        }
        let (ms, progress) = (self.ms.clone(), self.progress.clone());
        self.running = Some(tokio::spawn(async move {
            let mut r = PassReport::default();
            commit(&ms, batch.items, &mut r).await?;
            progress.committed(r.messages, r.bytes).await;
            if let Some(d) = &batch.discovery {
                d.record(batch.found).await;
            }
            Ok(r)
        }));
        Ok(())
    }

    async fn wait(&mut self) -> Result<()> {
        if let Some(h) = self.running.take() {
            let r = h.await.map_err(|e| {
                crate::store::StoreError::Internal(format!("commit task failed: {e}"))
            })??;
            self.done.messages += r.messages;
            self.done.bytes += r.bytes;
        }
        Ok(())
    }

    /// Waits for the last batch and adds what was committed to `report`.
    pub(super) async fn finish(mut self, report: &mut PassReport) -> Result<()> {
        let r = self.wait().await;
        report.messages += self.done.messages;
        report.bytes += self.done.bytes;
        r
    }
}

async fn commit(ms: &Mailstore, batch: Vec<NewMessage>, report: &mut PassReport) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    ms.sync_batch().await?;
    let bytes: u64 = batch.iter().map(|m| m.blob.size).sum();
    let n = batch.len() as u64;
    ms.ingest(IngestSource::Migration, batch).await?;
    report.messages += n;
    report.bytes += bytes;
    Ok(())
}

/// Flag changes and expunges made on the legacy side since the messages were
/// copied. Walks the local mailbox in pages, so memory stays bounded by the
/// legacy UID list and the map, whatever the folder size.
async fn mirror_changes(
    ms: &Mailstore,
    mailbox_id: i64,
    legacy: &[(u32, Vec<String>, Option<u64>)],
    mapped: &HashMap<u32, i64>,
    report: &mut PassReport,
) -> Result<()> {
    const PAGE: usize = 5000;
    let by_id: HashMap<i64, u32> = mapped.iter().map(|(uid, id)| (*id, *uid)).collect();
    let mut gone: Vec<u32> = Vec::new();
    let mut by_flags: HashMap<String, (Flags, Vec<u32>)> = HashMap::new();
    let mut after = 0u32;
    loop {
        let page = ms.messages_page(mailbox_id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.uid;
        for meta in &page {
            let Some(legacy_uid) = by_id.get(&meta.id) else {
                continue;
            };
            let Ok(i) = legacy.binary_search_by_key(legacy_uid, |m| m.0) else {
                gone.push(meta.uid);
                continue;
            };
            let flags = Flags::from_names(&legacy[i].1);
            if flags != meta.flags {
                by_flags
                    .entry(flags.to_stored())
                    .or_insert_with(|| (flags.clone(), Vec::new()))
                    .1
                    .push(meta.uid);
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    // One store call per distinct new flag set.
    for (_, (flags, uids)) in by_flags {
        report.flag_updates += uids.len() as u64;
        ms.store_flags(mailbox_id, uids, FlagOp::Replace, flags, None)
            .await?;
    }
    if !gone.is_empty() {
        report.expunged += ms.remove(mailbox_id, gone).await?.len() as u64;
    }
    Ok(())
}

/// Checks the local store against the legacy server: every legacy folder exists
/// locally with the same UIDVALIDITY, the same UID set and so the same count.
/// [`MigrateError::Verification`] carries the first difference found, for the
/// log and the status.
pub async fn verify(sess: &mut Session, ms: &Mailstore) -> std::result::Result<(), MigrateError> {
    let differs = |why: String| Err(MigrateError::Verification(why));
    let ns = namespace(sess).await?;
    let folders = folders(sess, &ns).await?;
    for f in folders.iter().filter(|f| f.selectable()) {
        let st = sess.examine(&f.entry.raw).await?;
        let Some(mbx) = ms.mailbox(&f.local).await? else {
            return differs(format!("folder `{}` missing locally", f.local));
        };
        if mbx.uidvalidity != st.uidvalidity {
            return differs(format!(
                "folder `{}`: UIDVALIDITY {} locally, {} on the legacy server",
                f.local, mbx.uidvalidity, st.uidvalidity
            ));
        }
        let mut legacy = Vec::with_capacity(st.exists as usize);
        if st.exists > 0 {
            let tag = sess.start_fetch("1:*", "(UID)").await?;
            while let Some(m) = sess.next_fetch(&tag, None).await? {
                legacy.push(m.uid);
            }
        }
        legacy.sort_unstable();
        legacy.dedup();
        let local = ms.uids(mbx.id).await?;
        if local != legacy {
            return differs(format!(
                "folder `{}`: {} messages locally, {} on the legacy server, or different UIDs",
                f.local,
                local.len(),
                legacy.len()
            ));
        }
        if mbx.uidnext < st.uidnext {
            return differs(format!(
                "folder `{}`: UIDNEXT {} below the legacy {}",
                f.local, mbx.uidnext, st.uidnext
            ));
        }
    }
    Ok(())
}
