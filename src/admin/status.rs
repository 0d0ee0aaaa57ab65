//! The status report behind `ferrymail status`, `GET /api/status` and the
//! dashboard: per domain, users by state and migration progress; per user on
//! request, with the live progress of their copy (copied so far against what
//! the legacy mailbox holds, rate, time left). `GET /api/progress` is the
//! cheap per-user part alone, which `migrate bulk` polls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::accounts::{self, OpError};
use super::quota::quota_use;
pub use super::quota::QuotaUse;
use crate::app::App;
use crate::migrate::jobs::{now_ms, JobState};
use crate::migrate::progress::CopyProgress;
use crate::store::{Account, AccountState, StoreError};

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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// How far the copy is (from the job), with its rate and time left while
    /// it runs.
    #[serde(default)]
    pub progress: Option<CopyProgress>,
    /// What the account uses against its `[quota]` (in `status --user` and
    /// `--all-users` rows; None when unlimited or not stored here yet).
    #[serde(default)]
    pub quota: Option<QuotaUse>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// What the legacy mailboxes of those jobs hold, as their copies measured
    /// them (a job not measured counts what it copied).
    #[serde(default)]
    pub messages_total: u64,
    #[serde(default)]
    pub bytes_total: u64,
    /// Jobs that recorded an error (failed, or retried).
    #[serde(default)]
    pub errors: u64,
    /// Aliases the domain's configuration defines (`[aliases]` and `aliases_file`).
    #[serde(default)]
    pub aliases_configured: u64,
    /// Distinct addresses of the domain the copies found in other users'
    /// delivery headers (`ferrymail aliases discover` suggests them).
    #[serde(default)]
    pub aliases_discovered: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub generated_at: i64,
    pub domains: Vec<DomainStatus>,
    /// Every user of the selected domain(s) when asked for (`--user` or `users=1`).
    pub users: Vec<UserStatus>,
}

/// The report `GET /api/status` answers: as [`report`], but a domain that is
/// not hosted or a user without an account is an error (404) rather than an
/// empty report, and a bare user name gets `default_domain`, as logins do.
pub async fn checked_report(
    app: &App,
    domain: Option<&str>,
    user: Option<&str>,
    all_users: bool,
) -> Result<StatusReport, OpError> {
    let config = app.config();
    let domain = domain
        .map(|d| accounts::hosted_domain(&config, d))
        .transpose()?;
    let user = user.map(|u| accounts::resolve(&config, u)).transpose()?;
    if let Some(address) = &user {
        let account = app
            .store
            .account(address)
            .await
            .map_err(|e| OpError::Internal(e.to_string()))?
            .ok_or_else(|| OpError::NotFound(format!("account {address} does not exist")))?;
        if let Some(d) = domain
            .as_deref()
            .filter(|d| !d.eq_ignore_ascii_case(&account.domain))
        {
            return Err(OpError::Invalid(format!(
                "account {address} is not in domain {d}"
            )));
        }
    }
    report(app, domain.as_deref(), user.as_deref(), all_users)
        .await
        .map_err(|e| OpError::Internal(e.to_string()))
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
    let queued = app.migrations.vault.queued();
    let accounts = app.store.accounts(domain).await?;
    let jobs = crate::migrate::jobs::all(app.store.db()).await?;
    let discovered = match crate::migrate::discover::counts(app.store.db()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the discovered addresses");
            Default::default()
        }
    };
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
                messages_total: 0,
                bytes_total: 0,
                errors: 0,
                aliases_configured: d.addresses.len() as u64,
                aliases_discovered: discovered.get(&d.name).copied().unwrap_or(0),
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
        let line = user_line(app, a, &queued, jobs.get(&a.id).cloned(), stored_messages);
        if let Some(d) = domains.get_mut(&a.domain) {
            if let Some(j) = &line.job {
                d.messages_copied += j.messages.max(0) as u64;
                d.bytes_copied += j.bytes.max(0) as u64;
                d.messages_total += j.total_messages.unwrap_or(j.messages).max(0) as u64;
                d.bytes_total += j.total_bytes.unwrap_or(j.bytes).max(0) as u64;
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
            let mut line = line;
            line.quota = quota_use(app, a).await;
            users.push(line);
        }
    }
    Ok(StatusReport {
        generated_at: crate::store::now(),
        domains: domains.into_values().collect(),
        users,
    })
}

fn user_line(
    app: &App,
    a: &Account,
    queued: &std::collections::HashSet<i64>,
    job: Option<crate::migrate::jobs::Job>,
    stored_messages: Option<u64>,
) -> UserStatus {
    let queued = queued.contains(&a.id);
    UserStatus {
        address: a.address.clone(),
        state: a.state.as_str().to_string(),
        reason: a.state_reason.clone(),
        created_at: a.created_at,
        updated_at: a.updated_at,
        waiting_for_login: a.state == AccountState::Copying
            && app.migrations.get(a.id).is_none()
            && !queued,
        queued,
        progress: job.as_ref().map(|j| CopyProgress::of_job(j, now_ms())),
        job,
        stored_messages,
        quota: None,
    }
}

/// `GET /api/progress`: the users of `domain` (every domain when `None`) that
/// have a copy job or are `copying`, with their job and progress; no store is
/// opened, so it is cheap to poll.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProgressReport {
    pub generated_at: i64,
    pub users: Vec<UserStatus>,
}

pub async fn progress_report(
    app: &App,
    domain: Option<&str>,
) -> Result<ProgressReport, StoreError> {
    let queued = app.migrations.vault.queued();
    let accounts = app.store.accounts(domain).await?;
    let mut jobs = crate::migrate::jobs::all(app.store.db()).await?;
    let users = accounts
        .iter()
        .filter_map(|a| {
            let job = jobs.remove(&a.id);
            (job.is_some() || matches!(a.state, AccountState::Copying | AccountState::Pending))
                .then(|| user_line(app, a, &queued, job, None))
        })
        .collect();
    Ok(ProgressReport {
        generated_at: crate::store::now(),
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
    let per_domain = |s: &mut String, name: &str, help: &str, value: fn(&DomainStatus) -> u64| {
        s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for d in &report.domains {
            s.push_str(&format!("{name}{{domain=\"{}\"}} {}\n", d.domain, value(d)));
        }
    };
    per_domain(
        &mut s,
        "ferrymail_copy_total_messages",
        "Messages the legacy mailboxes of the copy jobs hold, as measured.",
        |d| d.messages_total,
    );
    per_domain(
        &mut s,
        "ferrymail_copy_total_bytes",
        "Bytes the legacy mailboxes of the copy jobs hold, as measured.",
        |d| d.bytes_total,
    );
    s.push_str(&running_copy_lines(report));
    s
}

/// Per-user gauges of the copies running now (so as many series as copies run
/// at once): copied so far and the legacy mailbox's size.
fn running_copy_lines(report: &StatusReport) -> String {
    type Value = fn(&CopyProgress) -> Option<u64>;
    let gauges: [(&str, &str, Value); 4] = [
        (
            "ferrymail_user_copied_messages",
            "Messages copied so far by a running copy.",
            |p| Some(p.messages),
        ),
        (
            "ferrymail_user_total_messages",
            "Messages the legacy mailbox of a running copy holds.",
            |p| p.total_messages,
        ),
        (
            "ferrymail_user_copied_bytes",
            "Bytes copied so far by a running copy.",
            |p| Some(p.bytes),
        ),
        (
            "ferrymail_user_total_bytes",
            "Bytes the legacy mailbox of a running copy holds.",
            |p| p.total_bytes,
        ),
    ];
    let running: Vec<(&str, &UserStatus, &CopyProgress)> = report
        .domains
        .iter()
        .flat_map(|d| d.attention.iter().map(move |u| (d.domain.as_str(), u)))
        .filter(|(_, u)| {
            u.job
                .as_ref()
                .is_some_and(|j| matches!(j.state, JobState::Running | JobState::Switching))
        })
        .filter_map(|(d, u)| Some((d, u, u.progress.as_ref()?)))
        .collect();
    let mut s = String::new();
    for (name, help, value) in gauges {
        s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (domain, u, p) in &running {
            if let Some(v) = value(p) {
                s.push_str(&format!(
                    "{name}{{domain=\"{}\",user=\"{}\"}} {v}\n",
                    label(domain),
                    label(&u.address)
                ));
            }
        }
    }
    s
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `600 of 1500 messages, 5.9 KB of 14.6 KB (40%), 500 B/s, ETA 18s`; the
/// parts not known are left out.
pub fn progress_text(p: &CopyProgress) -> String {
    let of = |total: Option<String>| total.map(|t| format!(" of {t}")).unwrap_or_default();
    let mut s = format!(
        "{}{} messages, {}{}",
        p.messages,
        of(p.total_messages.map(|t| t.to_string())),
        human_bytes(p.bytes),
        of(p.total_bytes.map(human_bytes)),
    );
    if let Some(pc) = p.percent {
        s.push_str(&format!(" ({pc}%)"));
    }
    if let Some(r) = p.bytes_per_sec {
        s.push_str(&format!(", {}/s", human_bytes(r as u64)));
    }
    if let Some(eta) = p.eta_secs {
        s.push_str(&format!(", ETA {}", human_secs(eta)));
    }
    s
}

/// `512 B`, `3.0 KB`, `41.2 MB` (powers of 1024, as the dashboard shows them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let (mut v, mut i) = (n as f64, 0);
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// `14s`, `3m05s`, `2h07m`.
pub fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
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
            "  copied: {} of {} messages, {} of {}; {} jobs with errors\n",
            d.messages_copied,
            d.messages_total,
            human_bytes(d.bytes_copied),
            human_bytes(d.bytes_total),
            d.errors
        ));
        s.push_str(&format!(
            "  aliases: {} configured, {} discovered{}\n",
            d.aliases_configured,
            d.aliases_discovered,
            if d.aliases_discovered > 0 {
                format!(" (`ferrymail aliases discover --domain {}`)", d.domain)
            } else {
                String::new()
            }
        ));
        if let Some(t) = d.migration_started_at {
            s.push_str(&format!("  migration started: {}\n", fmt_time(t)));
        }
        if let (Some(a), Some(t)) = (&d.last_migrated, d.last_migrated_at) {
            s.push_str(&format!("  last migrated: {a} at {}\n", fmt_time(t)));
        }
        for a in &d.attention {
            s.push_str(&format!(
                "  {:<9} {}{}{}{}{}\n",
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
                a.progress
                    .as_ref()
                    .map(|p| format!("; copied {}", progress_text(p)))
                    .unwrap_or_default(),
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
                    let copied = match &a.progress {
                        Some(p) => progress_text(p),
                        None => format!("{} messages, {} bytes", j.messages, j.bytes),
                    };
                    // Folders and time are recorded when a pass ends.
                    let passes = if j.folders > 0 || j.copy_ms > 0 {
                        format!(
                            ", {} folders in {:.1}s",
                            j.folders,
                            j.copy_ms as f64 / 1000.0
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        " copied {copied}{passes}, {} attempts{}",
                        j.attempts,
                        j.hook
                            .as_ref()
                            .map(|h| format!(", hook {h}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let quota = a
                .quota
                .as_ref()
                .map(|q| {
                    let mut parts = Vec::new();
                    if let Some(l) = q.storage_limit {
                        parts.push(format!("{} of {}", human_bytes(q.bytes), human_bytes(l)));
                    }
                    if let Some(l) = q.message_limit {
                        parts.push(format!("{} of {l} messages", q.messages));
                    }
                    format!(
                        ", quota {}{}",
                        parts.join(", "),
                        if q.over { " (over quota)" } else { "" }
                    )
                })
                .unwrap_or_default();
            s.push_str(&format!(
                "  {:<40} {:<9}{}{}{} {}\n",
                a.address,
                a.state,
                a.stored_messages
                    .map(|n| format!(" {n} stored"))
                    .unwrap_or_default(),
                job,
                quota,
                // The reason of the state, else the job's last error or note
                // (a Sieve script stored inactive, a hook that failed...).
                a.reason
                    .clone()
                    .or_else(|| a.job.as_ref().and_then(|j| j.last_error.clone()))
                    .map(|r| format!("- {r}"))
                    .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024), "3.0 KB");
        assert_eq!(human_bytes(41 * 1024 * 1024 + 200 * 1024), "41.2 MB");
        assert_eq!(human_secs(14), "14s");
        assert_eq!(human_secs(185), "3m05s");
        assert_eq!(human_secs(7620), "2h07m");
    }

    #[test]
    fn progress_lines() {
        let mut p = CopyProgress {
            messages: 600,
            bytes: 6 * 1024,
            total_messages: Some(1500),
            total_bytes: Some(15 * 1024),
            percent: Some(40.0),
            messages_per_sec: Some(50.0),
            bytes_per_sec: Some(512.0),
            eta_secs: Some(18),
        };
        assert_eq!(
            progress_text(&p),
            "600 of 1500 messages, 6.0 KB of 15.0 KB (40%), 512 B/s, ETA 18s"
        );
        (p.total_messages, p.total_bytes, p.percent) = (None, None, None);
        (p.bytes_per_sec, p.eta_secs) = (None, None);
        assert_eq!(progress_text(&p), "600 messages, 6.0 KB");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
