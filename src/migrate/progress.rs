//! Live progress of a copy: how many messages and bytes are copied so far
//! against what the legacy mailbox holds, while the copy runs.
//!
//! A pass gets a [`Progress`] handle from the sequence. It measures the legacy
//! mailbox before copying (IMAP: one `STATUS (MESSAGES SIZE)` per folder when
//! the server has `STATUS=SIZE`, RFC 8438, else `STATUS (MESSAGES)` and the
//! sizes from the per-folder `FETCH` the copy does anyway; POP3: the `UIDL` and
//! `LIST` the pass reads anyway), and the committer reports each committed
//! batch.
//!
//! Where the counters live: in the job row (`migration_jobs`, [`super::jobs`]),
//! one small `UPDATE` per committed batch, not in memory on `UserMigration`.
//! `status`, the admin API and `/metrics` already read that table; a copy that
//! is not running in this daemon (interrupted by a restart, waiting for the
//! user's login) still shows how far it got; and next to the filesystem sync
//! and the transaction a batch costs anyway, one more small write is nothing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::discover::Discovery;
use super::jobs::{self, Job, JobState};
use crate::store::Db;

/// What a legacy mailbox or folder holds: messages, and their bytes when known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    pub messages: u64,
    pub bytes: Option<u64>,
}

impl Size {
    fn add(self, o: Size) -> Size {
        Size {
            messages: self.messages + o.messages,
            bytes: self.bytes.zip(o.bytes).map(|(a, b)| a + b),
        }
    }
}

/// The handle through which a pass records its progress in the job row; a
/// pass outside the copy job (a catch-up) gets [`Progress::off`]. It also
/// carries what the pass records besides: the alias evidence
/// ([`Progress::with_discovery`]).
#[derive(Debug, Clone)]
pub struct Progress {
    db: Option<Db>,
    account_id: i64,
    measure_first: bool,
    discovery: Option<Arc<Discovery>>,
}

impl Progress {
    /// Records nothing.
    pub fn off() -> Progress {
        Progress {
            db: None,
            account_id: 0,
            measure_first: false,
            discovery: None,
        }
    }

    /// Records in the job of `account_id`. With `measure_first` (the first
    /// pass of an attempt) the pass measures the whole legacy mailbox before
    /// copying; otherwise (the delta pass of the switch, where logins are
    /// held) it adds no command and the total is corrected once the pass has
    /// seen every folder.
    pub fn new(db: &Db, account_id: i64, measure_first: bool) -> Progress {
        Progress {
            db: Some(db.clone()),
            account_id,
            measure_first,
            discovery: None,
        }
    }

    /// The pass also gathers alias evidence ([`super::discover`]).
    pub fn with_discovery(mut self, discovery: Option<Arc<Discovery>>) -> Progress {
        self.discovery = discovery;
        self
    }

    pub fn discovery(&self) -> Option<&Arc<Discovery>> {
        self.discovery.as_ref()
    }

    pub fn is_on(&self) -> bool {
        self.db.is_some()
    }

    /// Whether the pass should measure the legacy mailbox before copying.
    pub fn measures_first(&self) -> bool {
        self.is_on() && self.measure_first
    }

    /// The pass starts; `total` is the legacy mailbox when it was measured.
    pub async fn begin(&self, total: Option<Size>) {
        if let Some(db) = &self.db {
            let total = total.map(|t| (t.messages, t.bytes));
            let r = jobs::begin_pass(db, self.account_id, total).await;
            self.log(r);
        }
    }

    /// The pass has a better measure of the legacy mailbox.
    pub async fn total(&self, total: Size) {
        if let Some(db) = &self.db {
            let r = jobs::set_total(db, self.account_id, total.messages, total.bytes).await;
            self.log(r);
        }
    }

    /// A batch was committed.
    pub async fn committed(&self, messages: u64, bytes: u64) {
        if let Some(db) = self.db.as_ref().filter(|_| messages > 0) {
            let r = jobs::add_copied(db, self.account_id, messages, bytes).await;
            self.log(r);
        }
    }

    /// A progress record that fails is logged; the copy goes on.
    fn log(&self, r: Result<(), crate::store::StoreError>) {
        if let Err(e) = r {
            tracing::error!(account_id = self.account_id, error = %e, "cannot record the copy's progress");
        }
    }
}

/// The size of a legacy mailbox folder by folder, as an IMAP pass learns it:
/// measured before the copy, then seen exactly when the pass reaches each
/// folder (its UID list with sizes).
#[derive(Debug, Default)]
pub struct Tally {
    /// (measured, seen) by legacy folder name.
    folders: BTreeMap<String, (Option<Size>, Option<Size>)>,
    recorded: Option<Size>,
}

impl Tally {
    /// A tally of the folders the pass copies (the selectable ones).
    pub fn new<'a>(folders: impl IntoIterator<Item = &'a str>) -> Tally {
        Tally {
            folders: folders
                .into_iter()
                .map(|f| (f.to_string(), (None, None)))
                .collect(),
            recorded: None,
        }
    }

    pub fn measured(&mut self, folder: &str, size: Size) {
        if let Some(f) = self.folders.get_mut(folder) {
            f.0 = Some(size);
        }
    }

    pub fn seen(&mut self, folder: &str, size: Size) {
        if let Some(f) = self.folders.get_mut(folder) {
            f.1 = Some(size);
        }
    }

    /// The whole mailbox: each folder as seen, else as measured; `None` while
    /// a folder is neither.
    pub fn total(&self) -> Option<Size> {
        self.folders
            .values()
            .map(|(measured, seen)| seen.or(*measured))
            .try_fold(
                Size {
                    messages: 0,
                    bytes: Some(0),
                },
                |acc, s| s.map(|s| acc.add(s)),
            )
    }

    /// [`Self::total`] when it is known and differs from the one last returned
    /// here (so each change is recorded once).
    pub fn changed(&mut self) -> Option<Size> {
        let t = self.total()?;
        if self.recorded == Some(t) {
            return None;
        }
        self.recorded = Some(t);
        Some(t)
    }
}

/// How far a user's copy is, for status, the admin API, the dashboard and
/// `/metrics`: copied so far against the legacy mailbox, and while a pass
/// runs, its rate and the time left at that rate.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CopyProgress {
    /// Messages copied so far (every pass of the job).
    pub messages: u64,
    pub bytes: u64,
    /// What the legacy mailbox holds, once measured.
    pub total_messages: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Done, in percent (by bytes when both byte counts are known, else by
    /// messages), at most 100.
    pub percent: Option<f64>,
    /// The running pass's rate since it started (while the job runs).
    pub messages_per_sec: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    /// Seconds left at that rate.
    pub eta_secs: Option<u64>,
}

impl CopyProgress {
    /// The progress a job row shows at `now_ms` (Unix milliseconds).
    pub fn of_job(job: &Job, now_ms: i64) -> CopyProgress {
        let n = |v: i64| v.max(0) as u64;
        let mut p = CopyProgress {
            messages: n(job.messages),
            bytes: n(job.bytes),
            total_messages: job.total_messages.map(n),
            total_bytes: job.total_bytes.map(n),
            ..Default::default()
        };
        let by_bytes = p.total_bytes.map(|t| (p.bytes, t));
        let by_messages = p.total_messages.map(|t| (p.messages, t));
        p.percent = by_bytes
            .or(by_messages)
            .map(|(done, total)| percent(done, total));
        let running = matches!(job.state, JobState::Running | JobState::Switching);
        let elapsed = job
            .pass_started_ms
            .map(|t| (now_ms - t) as f64 / 1000.0)
            .filter(|&s| s > 0.0);
        if let Some(secs) = elapsed.filter(|_| running) {
            let mps = n(job.pass_messages) as f64 / secs;
            let bps = n(job.pass_bytes) as f64 / secs;
            p.messages_per_sec = Some(round1(mps));
            p.bytes_per_sec = Some(round1(bps));
            p.eta_secs = match (by_bytes, by_messages) {
                (Some((done, total)), _) if bps > 0.0 => eta_secs(left(done, total), bps),
                (_, Some((done, total))) => eta_secs(left(done, total), mps),
                _ => None,
            };
        }
        p
    }
}

fn left(done: u64, total: u64) -> f64 {
    total.saturating_sub(done) as f64
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `done` of `total` in percent, rounded to 0.1, at most 100 (a mailbox that
/// shrank on the legacy side during the copy may have had more copied).
pub fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        return 100.0;
    }
    round1((done as f64 * 100.0 / total as f64).min(100.0))
}

/// Seconds needed for `remaining` at `per_sec`; `None` without a rate.
pub fn eta_secs(remaining: f64, per_sec: f64) -> Option<u64> {
    if remaining <= 0.0 {
        return Some(0);
    }
    if per_sec.is_finite() && per_sec > 0.0 {
        Some((remaining / per_sec).ceil() as u64)
    } else {
        None
    }
}

/// A rate over a sliding window of samples of a growing count (the bulk
/// progress bar: bytes copied so far, sampled at each poll).
#[derive(Debug)]
pub struct Rate {
    window_secs: f64,
    samples: VecDeque<(f64, f64)>,
}

impl Rate {
    pub fn new(window_secs: f64) -> Rate {
        Rate {
            window_secs,
            samples: VecDeque::new(),
        }
    }

    /// The count is `value` at `at_secs` (seconds since any fixed start).
    pub fn push(&mut self, at_secs: f64, value: f64) {
        self.samples.push_back((at_secs, value));
        // Keep the newest sample older than the window as the base.
        while self.samples.len() > 2 && at_secs - self.samples[1].0 >= self.window_secs {
            self.samples.pop_front();
        }
    }

    /// Per second over the window; `None` until two samples apart in time.
    pub fn per_sec(&self) -> Option<f64> {
        let (t0, v0) = *self.samples.front()?;
        let (t1, v1) = *self.samples.back()?;
        (t1 > t0).then(|| ((v1 - v0) / (t1 - t0)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(messages: u64, bytes: Option<u64>) -> Size {
        Size { messages, bytes }
    }

    #[test]
    fn tally_measured_then_seen() {
        let mut t = Tally::new(["INBOX", "Archive"]);
        assert_eq!(t.total(), None);
        t.measured("INBOX", size(1000, Some(10_000)));
        assert_eq!(t.changed(), None, "Archive is not measured yet");
        t.measured("Archive", size(500, Some(5_000)));
        assert_eq!(t.changed(), Some(size(1500, Some(15_000))));
        // Seen as measured: nothing to record again.
        t.seen("INBOX", size(1000, Some(10_000)));
        assert_eq!(t.changed(), None);
        // Mail arrived in Archive meanwhile.
        t.seen("Archive", size(501, Some(5_100)));
        assert_eq!(t.changed(), Some(size(1501, Some(15_100))));
        // A folder the pass does not copy is ignored.
        t.seen("Other", size(7, Some(7)));
        assert_eq!(t.total(), Some(size(1501, Some(15_100))));
    }

    #[test]
    fn tally_without_status_size_learns_bytes_from_the_fetch() {
        let mut t = Tally::new(["INBOX", "Archive"]);
        t.measured("INBOX", size(10, None));
        t.measured("Archive", size(5, None));
        assert_eq!(t.changed(), Some(size(15, None)));
        t.seen("INBOX", size(10, Some(100)));
        assert_eq!(t.changed(), None, "bytes still unknown for Archive");
        t.seen("Archive", size(5, Some(50)));
        assert_eq!(t.changed(), Some(size(15, Some(150))));
    }

    #[test]
    fn tally_unmeasured_is_known_once_every_folder_is_seen() {
        let mut t = Tally::new(["A", "B"]);
        t.seen("A", size(3, Some(30)));
        assert_eq!(t.changed(), None);
        t.seen("B", size(0, Some(0)));
        assert_eq!(t.changed(), Some(size(3, Some(30))));
        assert_eq!(Tally::new([]).total(), Some(size(0, Some(0))));
    }

    fn job(state: JobState) -> Job {
        Job {
            account_id: 1,
            address: "a@b.c".into(),
            state,
            attempts: 1,
            folders: 0,
            messages: 600,
            bytes: 6_000,
            last_error: None,
            copy_ms: 0,
            hook: None,
            total_messages: Some(1_500),
            total_bytes: Some(15_000),
            pass_started_ms: Some(1_000_000),
            pass_messages: 500,
            pass_bytes: 5_000,
        }
    }

    #[test]
    fn progress_of_a_running_job() {
        // 10 s into the pass, 5,000 bytes copied by it: 500 B/s, 9,000 left.
        let p = CopyProgress::of_job(&job(JobState::Running), 1_010_000);
        assert_eq!(p.messages, 600);
        assert_eq!(p.total_messages, Some(1_500));
        assert_eq!(p.percent, Some(40.0));
        assert_eq!(p.bytes_per_sec, Some(500.0));
        assert_eq!(p.messages_per_sec, Some(50.0));
        assert_eq!(p.eta_secs, Some(18));
    }

    #[test]
    fn progress_without_bytes_or_rate() {
        let mut j = job(JobState::Running);
        j.total_bytes = None;
        let p = CopyProgress::of_job(&j, 1_010_000);
        assert_eq!(p.percent, Some(40.0), "by messages");
        assert_eq!(p.eta_secs, Some(18), "900 messages at 50/s");
        // A job that does not run has no rate; a finished one is at 100%.
        let mut j = job(JobState::Done);
        j.messages = 1_501;
        j.bytes = 15_000;
        let p = CopyProgress::of_job(&j, 1_010_000);
        assert_eq!(
            (p.percent, p.bytes_per_sec, p.eta_secs),
            (Some(100.0), None, None)
        );
        // Never measured: no percentage.
        let mut j = job(JobState::Interrupted);
        (j.total_messages, j.total_bytes) = (None, None);
        assert_eq!(CopyProgress::of_job(&j, 0).percent, None);
    }

    #[test]
    fn eta_and_percent() {
        assert_eq!(eta_secs(100.0, 0.0), None);
        assert_eq!(eta_secs(100.0, f64::NAN), None);
        assert_eq!(eta_secs(0.0, 0.0), Some(0));
        assert_eq!(eta_secs(100.0, 30.0), Some(4));
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 100.0);
        assert_eq!(percent(11, 10), 100.0);
    }

    #[test]
    fn rate_over_a_sliding_window() {
        let mut r = Rate::new(10.0);
        assert_eq!(r.per_sec(), None);
        r.push(0.0, 0.0);
        assert_eq!(r.per_sec(), None);
        r.push(1.0, 100.0);
        assert_eq!(r.per_sec(), Some(100.0));
        for t in 2..=20 {
            r.push(t as f64, 100.0 * t as f64);
        }
        assert_eq!(r.per_sec(), Some(100.0));
        // The copy slows down: the window follows within its length.
        for t in 21..=40 {
            r.push(t as f64, 2_000.0 + 10.0 * (t - 20) as f64);
        }
        assert_eq!(r.per_sec(), Some(10.0));
        assert!(r.samples.len() <= 12, "{}", r.samples.len());
    }
}
