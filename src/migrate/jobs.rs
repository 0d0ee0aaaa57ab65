//! The durable record of each user's copy (table `migration_jobs` in
//! `ferrymail.sqlite`, module schema "migrate"). The account state says what a
//! login gets; the job row says how far the copy got, how often it was tried and
//! why it last failed, for `status` and for the admin.
//!
//! After a restart a job left `running` is marked `interrupted`; the account is
//! still `copying`, so the user's next login restarts the copy, which skips every
//! message the legacy UID map already holds.
//!
//! The row is also the copy's live progress ([`super::progress`]): `messages`
//! and `bytes` grow with each committed batch, `total_messages`/`total_bytes`
//! hold what the legacy mailbox held when the copy last measured it, and the
//! `pass_*` columns what the running pass did since it started (its rate).

use rusqlite::params;

use crate::store::{now, Db, StoreError};

const SCHEMA: &[crate::store::db::Migration] = &[
    r#"
CREATE TABLE migration_jobs (
    account_id  INTEGER PRIMARY KEY,
    address     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    folders     INTEGER NOT NULL DEFAULT 0,
    messages    INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
"#,
    r#"
ALTER TABLE migration_jobs ADD COLUMN copy_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE migration_jobs ADD COLUMN hook TEXT;
"#,
    r#"
ALTER TABLE migration_jobs ADD COLUMN total_messages INTEGER;
ALTER TABLE migration_jobs ADD COLUMN total_bytes INTEGER;
ALTER TABLE migration_jobs ADD COLUMN pass_started_ms INTEGER;
ALTER TABLE migration_jobs ADD COLUMN pass_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE migration_jobs ADD COLUMN pass_bytes INTEGER NOT NULL DEFAULT 0;
"#,
];

/// Brings the table up to date and marks jobs that a crash or stop interrupted.
pub fn init(db: &Db) -> Result<(), StoreError> {
    db.migrate_module("migrate", SCHEMA)?;
    db.call_blocking(|c| {
        c.execute(
            "UPDATE migration_jobs SET state = 'interrupted', updated_at = ?1
             WHERE state IN ('running', 'switching', 'retrying', 'paused')",
            [now()],
        )?;
        Ok(())
    })
}

/// Where a copy job stands. Stored as the lower-case names (`running`,
/// `switching`, ...), as data dirs of earlier releases hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// A copy attempt runs (the user is proxied).
    Running,
    /// The switch runs: logins held, delta pass, verification.
    Switching,
    /// An attempt failed; the next one waits out its backoff.
    Retrying,
    /// The domain's migration is paused; the copy waits.
    Paused,
    /// The daemon stopped while the job ran; the user's next login resumes it.
    Interrupted,
    /// Flipped: the user is served locally.
    Done,
    /// Gave up after repeated failures.
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Running,
        JobState::Switching,
        JobState::Retrying,
        JobState::Paused,
        JobState::Interrupted,
        JobState::Done,
        JobState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Switching => "switching",
            JobState::Retrying => "retrying",
            JobState::Paused => "paused",
            JobState::Interrupted => "interrupted",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// The state of a stored name; an unknown one (a newer release's) reads as
    /// `interrupted`, which the next login resumes.
    pub fn parse(s: &str) -> JobState {
        JobState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .unwrap_or(JobState::Interrupted)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for JobState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str().map(JobState::parse)
    }
}

/// A change of a job: its new state, the folders a pass saw and, when set,
/// the last error or note. The messages and bytes a pass copies are not part
/// of it: the pass adds them batch by batch as they are committed
/// ([`add_copied`]).
#[derive(Debug, Clone)]
pub struct JobUpdate {
    pub state: JobState,
    pub folders: usize,
    pub error: Option<String>,
}

impl JobUpdate {
    /// Only the state changes.
    pub fn state(state: JobState) -> JobUpdate {
        JobUpdate {
            state,
            folders: 0,
            error: None,
        }
    }

    /// The state changes, with an error or note.
    pub fn with_error(state: JobState, error: impl Into<String>) -> JobUpdate {
        JobUpdate {
            error: Some(error.into()),
            ..JobUpdate::state(state)
        }
    }

    /// The state changes after a pass that saw `folders` folders.
    pub fn folders(state: JobState, folders: usize) -> JobUpdate {
        JobUpdate {
            folders,
            ..JobUpdate::state(state)
        }
    }
}

/// A job row, for status and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub account_id: i64,
    pub address: String,
    pub state: JobState,
    pub attempts: i64,
    pub folders: i64,
    /// Messages copied so far, by every pass of the job (grows with each
    /// committed batch while a copy runs).
    pub messages: i64,
    /// Bytes copied so far, likewise.
    pub bytes: i64,
    pub last_error: Option<String>,
    /// Time spent in copy passes, in milliseconds.
    #[serde(default)]
    pub copy_ms: i64,
    /// The post-migrate hook's outcome (`ok`, `exit 3`, `timed out`, ...).
    #[serde(default)]
    pub hook: Option<String>,
    /// Messages the legacy mailbox holds, as the copy last measured it (plus
    /// what later catch-up passes brought in); `None` before it was measured.
    #[serde(default)]
    pub total_messages: Option<i64>,
    /// Bytes of those messages; `None` while not known.
    #[serde(default)]
    pub total_bytes: Option<i64>,
    /// When the latest copy pass started (Unix milliseconds): the running
    /// pass's rate is measured from it. Not part of the JSON (status shows the
    /// rate instead).
    #[serde(skip)]
    pub pass_started_ms: Option<i64>,
    /// Messages the latest pass copied.
    #[serde(skip)]
    pub pass_messages: i64,
    /// Bytes the latest pass copied.
    #[serde(skip)]
    pub pass_bytes: i64,
}

const JOB_COLUMNS: &str = "account_id, address, state, attempts, folders, messages, bytes,
    last_error, copy_ms, hook, total_messages, total_bytes, pass_started_ms, pass_messages,
    pass_bytes";

fn job_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        account_id: r.get(0)?,
        address: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        folders: r.get(4)?,
        messages: r.get(5)?,
        bytes: r.get(6)?,
        last_error: r.get(7)?,
        copy_ms: r.get(8)?,
        hook: r.get(9)?,
        total_messages: r.get(10)?,
        total_bytes: r.get(11)?,
        pass_started_ms: r.get(12)?,
        pass_messages: r.get(13)?,
        pass_bytes: r.get(14)?,
    })
}

/// A copy attempt starts (the first of a job, or a retry).
pub async fn started(db: &Db, account_id: i64, address: &str) -> Result<(), StoreError> {
    let address = address.to_string();
    db.call(move |c| {
        let t = now();
        c.execute(
            "INSERT INTO migration_jobs (account_id, address, state, attempts, started_at, updated_at)
             VALUES (?1, ?2, 'running', 1, ?3, ?3)
             ON CONFLICT(account_id) DO UPDATE SET state = 'running',
                 attempts = attempts + 1, updated_at = excluded.updated_at",
            params![account_id, address, t],
        )?;
        Ok(())
    })
    .await
}

/// The job changes as `u` says: its state, the folders a pass saw, and the
/// last error when `u` has one.
pub async fn update(db: &Db, account_id: i64, u: JobUpdate) -> Result<(), StoreError> {
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET state = ?2, folders = max(folders, ?3),
                 last_error = coalesce(?4, last_error), updated_at = ?5
             WHERE account_id = ?1",
            params![
                account_id,
                u.state.as_str(),
                u.folders as i64,
                u.error,
                now()
            ],
        )?;
        Ok(())
    })
    .await
}

/// A copy pass starts: its counters start again from zero, and when the pass
/// measured the legacy mailbox first, `total` (messages, bytes when known)
/// replaces the job's total.
pub async fn begin_pass(
    db: &Db,
    account_id: i64,
    total: Option<(u64, Option<u64>)>,
) -> Result<(), StoreError> {
    db.call(move |c| {
        let t = now_ms();
        match total {
            Some((m, b)) => c.execute(
                "UPDATE migration_jobs SET pass_started_ms = ?2, pass_messages = 0,
                     pass_bytes = 0, total_messages = ?3, total_bytes = ?4
                 WHERE account_id = ?1",
                params![account_id, t, m as i64, b.map(|b| b as i64)],
            )?,
            None => c.execute(
                "UPDATE migration_jobs SET pass_started_ms = ?2, pass_messages = 0,
                     pass_bytes = 0
                 WHERE account_id = ?1",
                params![account_id, t],
            )?,
        };
        Ok(())
    })
    .await
}

/// What the legacy mailbox holds, as a pass measured it: `messages`, and
/// `bytes` when known.
pub async fn set_total(
    db: &Db,
    account_id: i64,
    messages: u64,
    bytes: Option<u64>,
) -> Result<(), StoreError> {
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET total_messages = ?2, total_bytes = ?3
             WHERE account_id = ?1",
            params![account_id, messages as i64, bytes.map(|b| b as i64)],
        )?;
        Ok(())
    })
    .await
}

/// A batch of `messages` messages (`bytes` bytes) was committed by the
/// running pass: one small write.
pub async fn add_copied(
    db: &Db,
    account_id: i64,
    messages: u64,
    bytes: u64,
) -> Result<(), StoreError> {
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET messages = messages + ?2, bytes = bytes + ?3,
                 pass_messages = pass_messages + ?2, pass_bytes = pass_bytes + ?3,
                 updated_at = ?4
             WHERE account_id = ?1",
            params![account_id, messages as i64, bytes as i64, now()],
        )?;
        Ok(())
    })
    .await
}

/// The job of one account.
pub async fn get(db: &Db, account_id: i64) -> Result<Option<Job>, StoreError> {
    use rusqlite::OptionalExtension;
    db.call(move |c| {
        Ok(c.query_row(
            &format!("SELECT {JOB_COLUMNS} FROM migration_jobs WHERE account_id = ?1"),
            [account_id],
            job_of_row,
        )
        .optional()?)
    })
    .await
}

/// Every job row, by account id (for status).
pub async fn all(db: &Db) -> Result<std::collections::HashMap<i64, Job>, StoreError> {
    db.call(move |c| {
        let mut st = c.prepare(&format!("SELECT {JOB_COLUMNS} FROM migration_jobs"))?;
        let rows = st.query_map([], job_of_row)?;
        let mut out = std::collections::HashMap::new();
        for j in rows {
            let j = j?;
            out.insert(j.account_id, j);
        }
        Ok(out)
    })
    .await
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Adds the time of a pass to the job.
pub async fn add_time(db: &Db, account_id: i64, ms: u64) -> Result<(), StoreError> {
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET copy_ms = copy_ms + ?2 WHERE account_id = ?1",
            params![account_id, ms as i64],
        )?;
        Ok(())
    })
    .await
}

/// Records the post-migrate hook's outcome.
pub async fn set_hook(db: &Db, account_id: i64, summary: &str) -> Result<(), StoreError> {
    let summary = summary.to_string();
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET hook = ?2, updated_at = ?3 WHERE account_id = ?1",
            params![account_id, summary, now()],
        )?;
        Ok(())
    })
    .await
}

/// Adds a pass outside the copy job (a catch-up, the final sweep of `finish`,
/// an admin's `--messages-only`) to the account's statistics, creating the row
/// when the account has none. What it brought in had reached the legacy
/// mailbox after it was measured: a known total grows by as much.
pub async fn record_pass(
    db: &Db,
    account_id: i64,
    address: &str,
    messages: u64,
    bytes: u64,
    ms: u64,
) -> Result<(), StoreError> {
    let address = address.to_string();
    db.call(move |c| {
        let t = now();
        c.execute(
            "INSERT INTO migration_jobs (account_id, address, state, attempts, started_at, updated_at,
                 messages, bytes, copy_ms)
             VALUES (?1, ?2, 'done', 0, ?3, ?3, ?4, ?5, ?6)
             ON CONFLICT(account_id) DO UPDATE SET messages = messages + excluded.messages,
                 bytes = bytes + excluded.bytes, copy_ms = copy_ms + excluded.copy_ms,
                 total_messages = total_messages + excluded.messages,
                 total_bytes = total_bytes + excluded.bytes,
                 updated_at = excluded.updated_at",
            params![account_id, address, t, messages as i64, bytes as i64, ms as i64],
        )?;
        Ok(())
    })
    .await
}
