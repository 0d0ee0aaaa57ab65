//! The durable record of each user's copy (table `migration_jobs` in
//! `ferrymail.sqlite`, module schema "migrate"). The account state says what a
//! login gets; the job row says how far the copy got, how often it was tried and
//! why it last failed, for `status` and for the admin.
//!
//! After a restart a job left `running` is marked `interrupted`; the account is
//! still `copying`, so the user's next login restarts the copy, which skips every
//! message the legacy UID map already holds.

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

/// A change of a job: its new state, what a pass copied (added to the totals)
/// and, when set, the last error or note.
#[derive(Debug, Clone)]
pub struct JobUpdate {
    pub state: JobState,
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

impl JobUpdate {
    /// Only the state changes.
    pub fn state(state: JobState) -> JobUpdate {
        JobUpdate {
            state,
            folders: 0,
            messages: 0,
            bytes: 0,
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

    /// The state changes, adding what a pass copied.
    pub fn copied(state: JobState, folders: usize, messages: u64, bytes: u64) -> JobUpdate {
        JobUpdate {
            folders,
            messages,
            bytes,
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
    pub messages: i64,
    pub bytes: i64,
    pub last_error: Option<String>,
    /// Time spent in copy passes, in milliseconds.
    #[serde(default)]
    pub copy_ms: i64,
    /// The post-migrate hook's outcome (`ok`, `exit 3`, `timed out`, ...).
    #[serde(default)]
    pub hook: Option<String>,
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

/// The job changes as `u` says: its state, the totals plus what a pass copied,
/// and the last error when `u` has one.
pub async fn update(db: &Db, account_id: i64, u: JobUpdate) -> Result<(), StoreError> {
    db.call(move |c| {
        c.execute(
            "UPDATE migration_jobs SET state = ?2, folders = max(folders, ?3),
                 messages = messages + ?4, bytes = bytes + ?5,
                 last_error = coalesce(?6, last_error), updated_at = ?7
             WHERE account_id = ?1",
            params![
                account_id,
                u.state.as_str(),
                u.folders as i64,
                u.messages as i64,
                u.bytes as i64,
                u.error,
                now()
            ],
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
            "SELECT account_id, address, state, attempts, folders, messages, bytes, last_error,
                    copy_ms, hook
             FROM migration_jobs WHERE account_id = ?1",
            [account_id],
            |r| {
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
                })
            },
        )
        .optional()?)
    })
    .await
}

/// Every job row, by account id (for status).
pub async fn all(db: &Db) -> Result<std::collections::HashMap<i64, Job>, StoreError> {
    db.call(move |c| {
        let mut st = c.prepare(
            "SELECT account_id, address, state, attempts, folders, messages, bytes, last_error,
                    copy_ms, hook
             FROM migration_jobs",
        )?;
        let rows = st.query_map([], |r| {
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
            })
        })?;
        let mut out = std::collections::HashMap::new();
        for j in rows {
            let j = j?;
            out.insert(j.account_id, j);
        }
        Ok(out)
    })
    .await
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
/// when the account has none.
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
                 updated_at = excluded.updated_at",
            params![account_id, address, t, messages as i64, bytes as i64, ms as i64],
        )?;
        Ok(())
    })
    .await
}
