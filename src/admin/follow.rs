//! `ferrymail migrate bulk`, once its lines are sent: follows the copies it
//! queued until each user is migrated or failed, polling the daemon's
//! `GET /api/progress?domain=D` (one request per domain, no store opened) once
//! a second. On a terminal a bar counts bytes (messages when sizes are not
//! known) with the rate over the last [`RATE_WINDOW_SECS`] and the ETA;
//! otherwise a line every [`LINE_EVERY`] and one per finished user.
//!
//! Copies queue one at a time per legacy host, so a user whose copy has not
//! started has no measured size yet: until then the total counts each such
//! user as the average of the users measured (shown with `~`).

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::client::AdminClient;
use super::status::{human_bytes, human_secs, progress_text, ProgressReport, UserStatus};
use crate::migrate::progress::{eta_secs, CopyProgress, Rate};

const POLL: Duration = Duration::from_secs(1);
const LINE_EVERY: Duration = Duration::from_secs(5);
const RATE_WINDOW_SECS: f64 = 30.0;

/// How a followed copy ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Migrated(Option<CopyProgress>),
    Failed(String),
    /// `copying` with no copy running: the daemon restarted and lost the
    /// password; the user's next login resumes the copy.
    WaitingForLogin,
    /// The account is gone.
    Gone,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Migrated(_))
    }

    /// The result column of the table.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Migrated(_) => "migrated",
            Outcome::Failed(_) => "failed",
            Outcome::WaitingForLogin => "waiting",
            Outcome::Gone => "gone",
        }
    }

    /// The detail column of the table.
    pub fn detail(&self) -> String {
        match self {
            Outcome::Migrated(Some(p)) => format!("migrated: copied {}", progress_text(p)),
            Outcome::Migrated(None) => "migrated".into(),
            Outcome::Failed(why) => format!("copy failed: {why}"),
            Outcome::WaitingForLogin => {
                "copy waits for the user's next login (the daemon lost the password)".into()
            }
            Outcome::Gone => "the account is gone".into(),
        }
    }
}

/// Where one followed user's copy is, from its line of the progress report.
fn outcome(u: Option<&UserStatus>) -> Option<Outcome> {
    let Some(u) = u else {
        return Some(Outcome::Gone);
    };
    match u.state.as_str() {
        // Waiting in the admin queue: a `pending` or `failed` account becomes
        // `copying` when its copy starts.
        "pending" | "failed" if u.queued => None,
        "migrated" | "finished" => Some(Outcome::Migrated(u.progress.clone())),
        "failed" => Some(Outcome::Failed(
            u.reason
                .clone()
                .or_else(|| u.job.as_ref().and_then(|j| j.last_error.clone()))
                .unwrap_or_default(),
        )),
        "copying" if u.waiting_for_login => Some(Outcome::WaitingForLogin),
        "copying" => None,
        // `local`: not a copy any more.
        _ => Some(Outcome::Gone),
    }
}

/// The followed users together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub users: usize,
    pub ended: usize,
    pub failed: usize,
    pub messages: u64,
    pub bytes: u64,
    pub total_messages: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Some users are counted at the average of the measured ones.
    pub estimated: bool,
}

/// Sums the progress of `users` (`None`: no job yet). A user without a
/// measured size counts as the average of those measured; the byte total is
/// known only when every measured user's is.
pub fn totals(users: &[Option<&CopyProgress>]) -> Totals {
    let mut t = Totals {
        users: users.len(),
        ..Default::default()
    };
    let measured: Vec<&CopyProgress> = users
        .iter()
        .flatten()
        .copied()
        .filter(|p| p.total_messages.is_some())
        .collect();
    for p in users.iter().flatten() {
        t.messages += p.messages;
        t.bytes += p.bytes;
    }
    if measured.is_empty() {
        return t;
    }
    let unmeasured = (users.len() - measured.len()) as u64;
    let n = measured.len() as u64;
    let messages: u64 = measured.iter().filter_map(|p| p.total_messages).sum();
    t.total_messages = Some(messages + unmeasured * messages.div_ceil(n));
    let bytes: Option<u64> = measured.iter().map(|p| p.total_bytes).sum();
    t.total_bytes = bytes.map(|b| b + unmeasured * b.div_ceil(n));
    t.estimated = unmeasured > 0;
    t
}

/// What the bar counts: bytes when their total is known, else messages, as
/// (position, length, whether bytes).
fn measure(t: &Totals) -> (u64, Option<u64>, bool) {
    match (t.total_bytes, t.total_messages) {
        (Some(b), _) => (t.bytes, Some(b), true),
        (None, m) => (t.messages, m, false),
    }
}

/// `1,100 of ~3,300 messages, 1.1 MB of ~3.2 MB, 150.0 KB/s, ETA 14s, 1/3 users
/// done`.
pub fn line(t: &Totals, per_sec: Option<f64>) -> String {
    let approx = if t.estimated { "~" } else { "" };
    let of = |v: Option<String>| v.map(|v| format!(" of {approx}{v}")).unwrap_or_default();
    let mut s = format!(
        "{}{} messages, {}{}",
        t.messages,
        of(t.total_messages.map(|m| m.to_string())),
        human_bytes(t.bytes),
        of(t.total_bytes.map(human_bytes)),
    );
    let (pos, len, bytes) = measure(t);
    if let Some(r) = per_sec {
        s.push_str(&match bytes {
            true => format!(", {}/s", human_bytes(r as u64)),
            false => format!(", {r:.1} messages/s"),
        });
        if let Some(eta) = len.and_then(|l| eta_secs(l.saturating_sub(pos) as f64, r)) {
            s.push_str(&format!(", ETA {approx}{}", human_secs(eta)));
        }
    }
    s.push_str(&format!(", {}/{} users done", t.ended, t.users));
    if t.failed > 0 {
        s.push_str(&format!(" ({} failed)", t.failed));
    }
    s
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// Follows the copies of `addresses` until each ended; returns how, in the
/// same order. An error when the daemon cannot be reached any more.
pub fn follow(client: &AdminClient, addresses: &[String]) -> Result<Vec<Outcome>, String> {
    let domains: BTreeSet<&str> = addresses.iter().map(|a| domain_of(a)).collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; addresses.len()];
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {msg}") {
            b.set_style(style);
        }
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let started = Instant::now();
    let mut rate = Rate::new(RATE_WINDOW_SECS);
    let mut last_line: Option<Instant> = None;
    // `waiting_for_login` must be seen twice: a copy leaving the queue is
    // briefly neither queued nor running.
    let mut waiting: Vec<bool> = vec![false; addresses.len()];
    loop {
        let mut lines: HashMap<String, UserStatus> = HashMap::new();
        for d in &domains {
            let r: ProgressReport = client
                .get_json(&format!(
                    "/api/progress?domain={}",
                    super::client::query_value(d)
                ))
                .map_err(|e| {
                    format!("{e}; the queued copies go on in the daemon (see `ferrymail status`)")
                })?;
            lines.extend(r.users.into_iter().map(|u| (u.address.clone(), u)));
        }
        let mut ended_now = false;
        for (i, a) in addresses.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            match outcome(lines.get(a)) {
                Some(Outcome::WaitingForLogin) if !waiting[i] => waiting[i] = true,
                Some(o) => {
                    outcomes[i] = Some(o);
                    ended_now = true;
                }
                None => waiting[i] = false,
            }
        }
        let progress: Vec<Option<&CopyProgress>> = addresses
            .iter()
            .map(|a| lines.get(a).and_then(|u| u.progress.as_ref()))
            .collect();
        let mut t = totals(&progress);
        t.ended = outcomes.iter().flatten().count();
        t.failed = outcomes.iter().flatten().filter(|o| !o.ok()).count();
        let (pos, len, _) = measure(&t);
        rate.push(started.elapsed().as_secs_f64(), pos as f64);
        let text = line(&t, rate.per_sec());
        let done = t.ended == t.users;
        match &bar {
            Some(b) => {
                match len {
                    Some(l) => b.set_length(l.max(pos)),
                    None => b.unset_length(),
                }
                b.set_position(pos);
                b.set_message(text);
            }
            None => {
                if done || ended_now || last_line.is_none_or(|l| l.elapsed() >= LINE_EVERY) {
                    eprintln!("copy: {text}");
                    last_line = Some(Instant::now());
                }
            }
        }
        if done {
            break;
        }
        std::thread::sleep(POLL);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(outcomes.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(messages: u64, bytes: u64, total: Option<(u64, Option<u64>)>) -> CopyProgress {
        CopyProgress {
            messages,
            bytes,
            total_messages: total.map(|t| t.0),
            total_bytes: total.and_then(|t| t.1),
            ..Default::default()
        }
    }

    #[test]
    fn totals_estimate_users_not_measured_yet() {
        let a = p(1000, 10_000, Some((1000, Some(10_000))));
        let b = p(100, 2_000, Some((500, Some(20_000))));
        let t = totals(&[Some(&a), Some(&b), None]);
        assert_eq!((t.messages, t.bytes), (1100, 12_000));
        // The third user counts as the average of the two measured.
        assert_eq!(t.total_messages, Some(1500 + 750));
        assert_eq!(t.total_bytes, Some(30_000 + 15_000));
        assert!(t.estimated);
        let t = totals(&[Some(&a), Some(&b)]);
        assert_eq!(
            (t.total_messages, t.total_bytes),
            (Some(1500), Some(30_000))
        );
        assert!(!t.estimated);
        // Nothing measured yet: no total.
        let t = totals(&[None, Some(&p(0, 0, None))]);
        assert_eq!((t.total_messages, t.total_bytes), (None, None));
        // A server without sizes: messages only.
        let c = p(10, 100, Some((40, None)));
        let t = totals(&[Some(&a), Some(&c)]);
        assert_eq!((t.total_messages, t.total_bytes), (Some(1040), None));
    }

    #[test]
    fn the_line_shows_rate_and_eta_in_the_unit_counted() {
        let a = p(1000, 1024 * 1024, Some((3000, Some(3 * 1024 * 1024))));
        let mut t = totals(&[Some(&a)]);
        t.ended = 0;
        assert_eq!(
            line(&t, Some(256.0 * 1024.0)),
            "1000 of 3000 messages, 1.0 MB of 3.0 MB, 256.0 KB/s, ETA 8s, 0/1 users done"
        );
        assert_eq!(
            line(&t, None),
            "1000 of 3000 messages, 1.0 MB of 3.0 MB, 0/1 users done"
        );
        let c = p(10, 100, Some((40, None)));
        let mut t = totals(&[Some(&c), None]);
        (t.ended, t.failed) = (1, 1);
        assert_eq!(
            line(&t, Some(2.0)),
            "10 of ~80 messages, 100 B, 2.0 messages/s, ETA ~35s, 1/2 users done (1 failed)"
        );
    }

    #[test]
    fn outcomes_of_status_lines() {
        let mut u = UserStatus {
            address: "a@b.c".into(),
            state: "copying".into(),
            reason: None,
            created_at: 0,
            updated_at: 0,
            job: None,
            stored_messages: None,
            waiting_for_login: false,
            queued: true,
            progress: None,
            quota: None,
        };
        assert_eq!(outcome(Some(&u)), None);
        u.waiting_for_login = true;
        assert_eq!(outcome(Some(&u)), Some(Outcome::WaitingForLogin));
        u.state = "failed".into();
        u.reason = Some("gave up".into());
        // Queued again (migrate domain, --messages-only): still waiting.
        assert_eq!(outcome(Some(&u)), None);
        u.queued = false;
        assert_eq!(outcome(Some(&u)), Some(Outcome::Failed("gave up".into())));
        u.state = "pending".into();
        assert_eq!(outcome(Some(&u)), Some(Outcome::Gone));
        u.queued = true;
        assert_eq!(outcome(Some(&u)), None);
        u.state = "migrated".into();
        assert!(outcome(Some(&u)).unwrap().ok());
        assert_eq!(outcome(None), Some(Outcome::Gone));
        assert_eq!(
            super::super::client::query_value("b-c.example"),
            "b-c.example"
        );
        assert_eq!(super::super::client::query_value("a&b"), "a%26b");
    }
}
