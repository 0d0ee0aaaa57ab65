//! The status report behind `ferrymail status`, `GET /api/status` and the
//! dashboard: per domain, users by state and migration progress; per user on request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::server::App;
use crate::store::{AccountState, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateCounts {
    pub local: u64,
    pub copying: u64,
    pub migrated: u64,
    pub finished: u64,
    pub failed: u64,
}

impl StateCounts {
    fn add(&mut self, s: AccountState) {
        match s {
            AccountState::Local => self.local += 1,
            AccountState::Copying => self.copying += 1,
            AccountState::Migrated => self.migrated += 1,
            AccountState::Finished => self.finished += 1,
            AccountState::Failed => self.failed += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.local + self.copying + self.migrated + self.finished + self.failed
    }

    /// Accounts that came from the legacy server.
    pub fn from_legacy(&self) -> u64 {
        self.copying + self.migrated + self.finished + self.failed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserStatus {
    pub address: String,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DomainStatus {
    pub domain: String,
    pub migrating: bool,
    pub users: StateCounts,
    /// When the first account of the domain was created from the legacy server.
    pub migration_started_at: Option<i64>,
    /// The most recent account to reach `migrated` or `finished`.
    pub last_migrated: Option<String>,
    pub last_migrated_at: Option<i64>,
    /// Accounts copying or failed, with their reason (the dashboard's table).
    pub attention: Vec<UserStatus>,
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
                users: StateCounts::default(),
                migration_started_at: None,
                last_migrated: None,
                last_migrated_at: None,
                attention: vec![],
            },
        );
    }
    let mut users = Vec::new();
    for a in &accounts {
        let line = UserStatus {
            address: a.address.clone(),
            state: a.state.as_str().to_string(),
            reason: a.state_reason.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        };
        if let Some(d) = domains.get_mut(&a.domain) {
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

/// Gauges for `/metrics` read from the store: users by domain and state.
pub fn metrics_lines(report: &StatusReport) -> String {
    let mut s = String::from(
        "# HELP ferrymail_users Accounts by domain and state.\n# TYPE ferrymail_users gauge\n",
    );
    for d in &report.domains {
        let u = &d.users;
        for (state, n) in [
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
    s
}

/// Human-readable rendering for `ferrymail status`.
pub fn render_text(r: &StatusReport) -> String {
    let mut s = String::new();
    for d in &r.domains {
        let u = &d.users;
        s.push_str(&format!(
            "{}{}\n  users: {} copying, {} migrated, {} finished, {} failed, {} local\n",
            d.domain,
            if d.migrating { " (migrating)" } else { "" },
            u.copying,
            u.migrated,
            u.finished,
            u.failed,
            u.local
        ));
        if let Some(t) = d.migration_started_at {
            s.push_str(&format!("  migration started: {}\n", fmt_time(t)));
        }
        if let (Some(a), Some(t)) = (&d.last_migrated, d.last_migrated_at) {
            s.push_str(&format!("  last migrated: {a} at {}\n", fmt_time(t)));
        }
        for a in &d.attention {
            s.push_str(&format!(
                "  {:<9} {}{}\n",
                a.state,
                a.address,
                a.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !r.users.is_empty() {
        s.push_str("users:\n");
        for a in &r.users {
            s.push_str(&format!(
                "  {:<40} {:<9} {}\n",
                a.address,
                a.state,
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
