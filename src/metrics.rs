//! Counters and gauges for `GET /metrics` (Prometheus text format). Everything is
//! an atomic: cheap to bump from any task.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::config::Protocol;

const PROTOCOLS: [Protocol; 5] = [
    Protocol::Imap,
    Protocol::Pop3,
    Protocol::ManageSieve,
    Protocol::Smtp,
    Protocol::Submission,
];

/// Outcomes of checks against legacy servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAuth {
    Accepted,
    Refused,
    Unavailable,
    /// Not sent: the throttle refused to ask the legacy server.
    Throttled,
}

impl LegacyAuth {
    const ALL: [LegacyAuth; 4] = [
        LegacyAuth::Accepted,
        LegacyAuth::Refused,
        LegacyAuth::Unavailable,
        LegacyAuth::Throttled,
    ];

    fn name(self) -> &'static str {
        match self {
            LegacyAuth::Accepted => "accepted",
            LegacyAuth::Refused => "refused",
            LegacyAuth::Unavailable => "unavailable",
            LegacyAuth::Throttled => "throttled",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    sessions: [AtomicI64; PROTOCOLS.len()],
    sessions_total: [AtomicU64; PROTOCOLS.len()],
    legacy_auth: [AtomicU64; 4],
    pub messages_copied: AtomicU64,
    pub bytes_copied: AtomicU64,
    pub copy_errors: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub messages_relayed: AtomicU64,
    pub login_failures: AtomicU64,
    pub credential_cache_hits: AtomicU64,
}

fn proto_index(p: Protocol) -> Option<usize> {
    PROTOCOLS.iter().position(|x| *x == p)
}

/// Counts one open session while it lives.
pub struct SessionGuard<'a> {
    metrics: &'a Metrics,
    index: Option<usize>,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            self.metrics.sessions[i].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Metrics {
    pub fn session(&self, p: Protocol) -> SessionGuard<'_> {
        let index = proto_index(p);
        if let Some(i) = index {
            self.sessions[i].fetch_add(1, Ordering::Relaxed);
            self.sessions_total[i].fetch_add(1, Ordering::Relaxed);
        }
        SessionGuard {
            metrics: self,
            index,
        }
    }

    pub fn open_sessions(&self, p: Protocol) -> i64 {
        proto_index(p)
            .map(|i| self.sessions[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub fn legacy_auth(&self, outcome: LegacyAuth) {
        let i = LegacyAuth::ALL
            .iter()
            .position(|x| *x == outcome)
            .unwrap_or(0);
        self.legacy_auth[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the counters; `extra` lines (gauges read from the store) are appended.
    pub fn render(&self, extra: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP ferrymail_sessions Open client sessions by protocol."
        );
        let _ = writeln!(s, "# TYPE ferrymail_sessions gauge");
        for (i, p) in PROTOCOLS.iter().enumerate() {
            let _ = writeln!(
                s,
                "ferrymail_sessions{{protocol=\"{}\"}} {}",
                p.name(),
                self.sessions[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP ferrymail_sessions_total Client sessions accepted by protocol."
        );
        let _ = writeln!(s, "# TYPE ferrymail_sessions_total counter");
        for (i, p) in PROTOCOLS.iter().enumerate() {
            let _ = writeln!(
                s,
                "ferrymail_sessions_total{{protocol=\"{}\"}} {}",
                p.name(),
                self.sessions_total[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP ferrymail_legacy_auth_total Credential checks against legacy servers by outcome.");
        let _ = writeln!(s, "# TYPE ferrymail_legacy_auth_total counter");
        for (i, o) in LegacyAuth::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "ferrymail_legacy_auth_total{{outcome=\"{}\"}} {}",
                o.name(),
                self.legacy_auth[i].load(Ordering::Relaxed)
            );
        }
        for (name, help, v) in [
            (
                "ferrymail_messages_copied_total",
                "Messages copied from legacy servers.",
                &self.messages_copied,
            ),
            (
                "ferrymail_bytes_copied_total",
                "Bytes of messages copied from legacy servers.",
                &self.bytes_copied,
            ),
            (
                "ferrymail_copy_errors_total",
                "Copy passes that failed.",
                &self.copy_errors,
            ),
            (
                "ferrymail_messages_delivered_total",
                "Messages delivered into local mailboxes by SMTP.",
                &self.messages_delivered,
            ),
            (
                "ferrymail_messages_relayed_total",
                "Messages handed to another SMTP server.",
                &self.messages_relayed,
            ),
            (
                "ferrymail_login_failures_total",
                "Failed logins.",
                &self.login_failures,
            ),
            (
                "ferrymail_credential_cache_hits_total",
                "Logins whose password matched one verified lately (no argon2id check).",
                &self.credential_cache_hits,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} counter");
            let _ = writeln!(s, "{name} {}", v.load(Ordering::Relaxed));
        }
        s.push_str(extra);
        s
    }
}
