//! The status report behind `ferrymail status`, `GET /api/status` and the
//! dashboard: per domain, users by state and migration progress; per user on request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::store::{AccountState, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateCounts {
    /// The known population of the legacy server: every account that is not
    /// `local` (imported, copying, moved, failed). Progress is against it.
    #[serde(default)]
    pub known: u64,
    /// Imported (`users import`), not moved yet.
    #[serde(default)]
    pub pending: u64,
    pub local: u64,
    pub copying: u64,
    pub migrated: u64,
    pub finished: u64,
    pub failed: u64,
}

impl StateCounts {
    fn add(&mut self, s: AccountState) {
        if s != AccountState::Local {
            self.known += 1;
        }
        match s {
            AccountState::Pending => self.pending += 1,
            AccountState::Local => self.local += 1,
            AccountState::Copying => self.copying += 1,
            AccountState::Migrated => self.migrated += 1,
            AccountState::Finished => self.finished += 1,
            AccountState::Failed => self.failed += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.local + self.known
    }

    /// Accounts that came (or are to come) from the legacy server.
    pub fn from_legacy(&self) -> u64 {
        self.known
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserStatus {
    pub address: String,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The copy job's durable record (attempts, messages and bytes copied, last
    /// error), when the account came from the legacy server.
    #[serde(default)]
    pub job: Option<crate::migrate::jobs::Job>,
    /// Messages the local store holds for the account now (progress of a copy).
    #[serde(default)]
    pub stored_messages: Option<u64>,
    /// `copying` with no copy running (e.g. after a restart: the password was in
    /// memory only): the copy resumes at the user's next login.
    #[serde(default)]
    pub waiting_for_login: bool,
    /// Waits in the admin queue (`migrate user|bulk`) for its turn.
    #[serde(default)]
    pub queued: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DomainStatus {
    pub domain: String,
    pub migrating: bool,
    /// Copies paused (`enabled = false` shows as not migrating; this is the
    /// admin API's pause).
    #[serde(default)]
    pub paused: bool,
    pub users: StateCounts,
    /// When the first account of the domain was created from the legacy server.
    pub migration_started_at: Option<i64>,
    /// The most recent account to reach `migrated` or `finished`.
    pub last_migrated: Option<String>,
    pub last_migrated_at: Option<i64>,
    /// Accounts copying or failed, with their reason (the dashboard's table).
    pub attention: Vec<UserStatus>,
    /// Sums over the domain's copy jobs.
    #[serde(default)]
    pub messages_copied: u64,
    #[serde(default)]
    pub bytes_copied: u64,
    /// Jobs that recorded an error (failed, or retried).
    #[serde(default)]
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusReport {
    pub generated_at: i64,
    pub domains: Vec<DomainStatus>,
    /// Every user of the selected domain(s) when asked for (`--user` or `users=1`).
    pub users: Vec<UserStatus>,
}

/// Builds the report; `domain` restricts it to one domain, `user` adds that user's
/// line, `all_users` adds every user's line.
pub async fn report(
    app: &App,
    domain: Option<&str>,
    user: Option<&str>,
    all_users: bool,
) -> Result<StatusReport, StoreError> {
    let config = app.config();
    let accounts = app.store.accounts(domain).await?;
    let jobs = crate::migrate::jobs::all(app.store.db()).await?;
    let mut domains: BTreeMap<String, DomainStatus> = BTreeMap::new();
    for d in config.domains.values() {
        if domain.is_some_and(|x| !x.eq_ignore_ascii_case(&d.name)) {
            continue;
        }
        domains.insert(
            d.name.clone(),
            DomainStatus {
                domain: d.name.clone(),
                migrating: d.migrating(),
                paused: app.migrations.api_paused(&d.name),
                users: StateCounts::default(),
                migration_started_at: None,
                last_migrated: None,
                last_migrated_at: None,
                attention: vec![],
                messages_copied: 0,
                bytes_copied: 0,
                errors: 0,
            },
        );
    }
    let mut users = Vec::new();
    for a in &accounts {
        let wanted = all_users
            || user.is_some_and(|u| u.eq_ignore_ascii_case(&a.address))
            || matches!(a.state, AccountState::Copying | AccountState::Failed);
        let stored_messages = if wanted && domains.contains_key(&a.domain) {
            stored_messages(app, a.id).await
        } else {
            None
        };
        let job = jobs.get(&a.id).cloned();
        let line = UserStatus {
            address: a.address.clone(),
            state: a.state.as_str().to_string(),
            reason: a.state_reason.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            waiting_for_login: a.state == AccountState::Copying
                && app.migrations.get(a.id).is_none()
                && !app.migrations.vault.is_queued(a.id),
            queued: app.migrations.vault.is_queued(a.id),
            job,
            stored_messages,
        };
        if let Some(d) = domains.get_mut(&a.domain) {
            if let Some(j) = &line.job {
                d.messages_copied += j.messages.max(0) as u64;
                d.bytes_copied += j.bytes.max(0) as u64;
                if j.last_error.is_some() || j.state == crate::migrate::jobs::JobState::Failed {
                    d.errors += 1;
                }
            }
            d.users.add(a.state);
            if a.state != AccountState::Local {
                d.migration_started_at = Some(
                    d.migration_started_at
                        .map_or(a.created_at, |t| t.min(a.created_at)),
                );
            }
            if matches!(a.state, AccountState::Migrated | AccountState::Finished)
                && d.last_migrated_at.is_none_or(|t| a.updated_at >= t)
            {
                d.last_migrated = Some(a.address.clone());
                d.last_migrated_at = Some(a.updated_at);
            }
            if matches!(a.state, AccountState::Copying | AccountState::Failed) {
                d.attention.push(line.clone());
            }
        }
        if all_users || user.is_some_and(|u| u.eq_ignore_ascii_case(&a.address)) {
            users.push(line);
        }
    }
    Ok(StatusReport {
        generated_at: crate::store::now(),
        domains: domains.into_values().collect(),
        users,
    })
}

/// Messages in every mailbox of an account (0 for a `copying` account whose
/// copy has not created its store yet).
async fn stored_messages(app: &App, account_id: i64) -> Option<u64> {
    let ms = match app.store.mailstore(account_id).await {
        Ok(ms) => ms,
        Err(crate::store::StoreError::NotFound(_)) => return Some(0),
        Err(_) => return None,
    };
    let boxes = ms.mailboxes().await.ok()?;
    Some(boxes.iter().map(|m| u64::from(m.exists)).sum())
}

/// Gauges for `/metrics` read from the store: users by domain and state.
pub fn metrics_lines(report: &StatusReport) -> String {
    let mut s = String::from(
        "# HELP ferrymail_users Accounts by domain and state.\n# TYPE ferrymail_users gauge\n",
    );
    for d in &report.domains {
        let u = &d.users;
        for (state, n) in [
            ("pending", u.pending),
            ("local", u.local),
            ("copying", u.copying),
            ("migrated", u.migrated),
            ("finished", u.finished),
            ("failed", u.failed),
        ] {
            s.push_str(&format!(
                "ferrymail_users{{domain=\"{}\",state=\"{state}\"}} {n}\n",
                d.domain
            ));
        }
    }
    s.push_str("# HELP ferrymail_copied_messages Messages copied from the legacy server (job records).\n# TYPE ferrymail_copied_messages gauge\n");
    for d in &report.domains {
        s.push_str(&format!(
            "ferrymail_copied_messages{{domain=\"{}\"}} {}\n",
            d.domain, d.messages_copied
        ));
    }
    s.push_str("# HELP ferrymail_copied_bytes Bytes copied from the legacy server (job records).\n# TYPE ferrymail_copied_bytes gauge\n");
    for d in &report.domains {
        s.push_str(&format!(
            "ferrymail_copied_bytes{{domain=\"{}\"}} {}\n",
            d.domain, d.bytes_copied
        ));
    }
    s.push_str("# HELP ferrymail_copy_errors Copy jobs that recorded an error.\n# TYPE ferrymail_copy_errors gauge\n");
    for d in &report.domains {
        s.push_str(&format!(
            "ferrymail_copy_errors{{domain=\"{}\"}} {}\n",
            d.domain, d.errors
        ));
    }
    s
}

/// Human-readable rendering for `ferrymail status`.
pub fn render_text(r: &StatusReport) -> String {
    let mut s = String::new();
    for d in &r.domains {
        let u = &d.users;
        s.push_str(&format!(
            "{}{}{}\n  users: {} known: {} moved ({}%), {} pending, {} copying, {} migrated, {} finished, {} failed; {} local\n",
            d.domain,
            if d.migrating { " (migrating)" } else { "" },
            if d.paused { " (paused)" } else { "" },
            u.known,
            u.migrated + u.finished,
            (u.migrated + u.finished) * 100 / u.known.max(1),
            u.pending,
            u.copying,
            u.migrated,
            u.finished,
            u.failed,
            u.local
        ));
        s.push_str(&format!(
            "  copied: {} messages, {} bytes; {} jobs with errors\n",
            d.messages_copied, d.bytes_copied, d.errors
        ));
        if let Some(t) = d.migration_started_at {
            s.push_str(&format!("  migration started: {}\n", fmt_time(t)));
        }
        if let (Some(a), Some(t)) = (&d.last_migrated, d.last_migrated_at) {
            s.push_str(&format!("  last migrated: {a} at {}\n", fmt_time(t)));
        }
        for a in &d.attention {
            s.push_str(&format!(
                "  {:<9} {}{}{}{}\n",
                a.state,
                a.address,
                a.reason
                    .as_ref()
                    .or(a.job.as_ref().and_then(|j| j.last_error.as_ref()))
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                a.stored_messages
                    .map(|n| format!(" ({n} messages stored)"))
                    .unwrap_or_default(),
                if a.waiting_for_login {
                    " - waiting for the user's next login"
                } else if a.queued {
                    " - queued"
                } else {
                    ""
                },
            ));
        }
    }
    if !r.users.is_empty() {
        s.push_str("users:\n");
        for a in &r.users {
            let job = a
                .job
                .as_ref()
                .map(|j| {
                    format!(
                        " copied {} messages, {} bytes, {} folders in {:.1}s, {} attempts{}",
                        j.messages,
                        j.bytes,
                        j.folders,
                        j.copy_ms as f64 / 1000.0,
                        j.attempts,
                        j.hook
                            .as_ref()
                            .map(|h| format!(", hook {h}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            s.push_str(&format!(
                "  {:<40} {:<9}{}{} {}\n",
                a.address,
                a.state,
                a.stored_messages
                    .map(|n| format!(" {n} stored"))
                    .unwrap_or_default(),
                job,
                a.reason.clone().unwrap_or_default()
            ));
        }
    }
    s
}

/// `2026-11-22 14:03:09 UTC`.
pub fn fmt_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}
