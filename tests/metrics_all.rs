//! Every metric `GET /metrics` advertises changes when its event happens,
//! against `ferrymail serve`, a real Dovecot and a real Postfix: sessions of
//! each protocol, refused/accepted/throttled/unavailable legacy checks, failed
//! logins, logins answered from the credential cache, a copy (running-copy
//! gauges while it runs, copied totals after), a
//! copy that fails, a message delivered, one waiting in the relay queue and then
//! relayed, accounts in every state. The test reads the metric families from
//! the output itself, so a metric added later without an event here fails it.

mod common;
mod migrate_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::domains::{migrating, MigratingDomain};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{add_account, admin_get, cli, imap_login, state, users_import};
use common::{Daemon, Line, TestConfig};

/// Series name with labels → value.
type Snapshot = BTreeMap<String, f64>;

struct Scrape {
    /// Every `# TYPE` family seen.
    families: BTreeSet<String>,
    snapshots: Vec<(String, Snapshot)>,
}

impl Scrape {
    fn take(&mut self, cfg: &TestConfig, d: &Daemon, why: &str) -> Snapshot {
        let text = admin_get(cfg, d, "/metrics");
        let mut snap = Snapshot::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                self.families.insert(name);
            } else if !l.starts_with('#') && !l.is_empty() {
                let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("{l}"));
                let v: f64 = value.parse().unwrap_or_else(|_| panic!("{l}"));
                snap.insert(series.to_string(), v);
            }
        }
        assert!(
            !snap.is_empty(),
            "no metrics ({why}):\n{text}\n{}",
            d.log_text()
        );
        self.snapshots.push((why.to_string(), snap.clone()));
        snap
    }

    /// Scrapes until `cond` holds on a snapshot (at most 60 s).
    fn until(
        &mut self,
        cfg: &TestConfig,
        d: &Daemon,
        why: &str,
        cond: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.take(cfg, d, why);
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{why}: never seen; last metrics {s:#?}\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The values a series had, in order, across all snapshots (absent: None).
    fn history(&self, series: &str) -> Vec<Option<f64>> {
        self.snapshots
            .iter()
            .map(|(_, s)| s.get(series).copied())
            .collect()
    }
}

fn family(series: &str) -> &str {
    series.split('{').next().unwrap()
}

fn v(s: &Snapshot, series: &str) -> f64 {
    s.get(series).copied().unwrap_or(0.0)
}

/// One message over the MX listener; the reply to the end of DATA.
fn mx_send(d: &Daemon, to: &str) -> String {
    let mut c = Line::connect(d.addr("smtp", "plain"));
    c.expect("220");
    c.expect_code("EHLO sender.test", "250");
    c.expect_code("MAIL FROM:<someone@sender.test>", "250");
    c.expect_code(&format!("RCPT TO:<{to}>"), "250");
    c.expect_code("DATA", "354");
    c.send(
        format!("From: someone@sender.test\r\nTo: {to}\r\nSubject: metrics\r\n\r\nhello\r\n.\r\n")
            .as_bytes(),
    );
    let r = c.reply();
    c.send_line("QUIT");
    r
}

const USERS: [&str; 4] = ["alice", "bob", "dave", "erin"];

#[test]
fn every_advertised_metric_changes_when_its_event_happens() {
    let mut legacy = Legacy::start(LegacyOptions {
        postfix: true,
        ..LegacyOptions::with_users(&USERS)
    });
    migrate_support::seed_maildir(&legacy, "alice", "alice-pw", 300);
    migrate_support::seed_maildir(&legacy, "dave", "dave-pw", 400);
    let domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "timeout_secs = 10\nserve_locally_within_ms = 0",
            postfix: true,
            ..Default::default()
        },
    );
    let server =
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 10\nmax_failure_delay_ms = 20\n\
        [imap]\nlisten = [\"127.0.0.1:0\"]\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n\
        [smtp]\nlisten = [\"127.0.0.1:0\"]\nretry_secs = 1\n\
        [submission]\nlisten = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = TestConfig::new(server, &[("example.org", &domain)]);
    // Each message of a copy takes 25 ms: the running copy is seen.
    let d = Daemon::start_with(&cfg.path(), &cfg.data_dir(), |cmd| {
        cmd.env("FERRYMAIL_TEST_COPY_DELAY_MS", "25");
    });
    let mut m = Scrape {
        families: BTreeSet::new(),
        snapshots: Vec::new(),
    };
    let base = m.take(&cfg, &d, "at start");

    // A session of each protocol, open: the gauge and the total count it.
    let mut open = Vec::new();
    for (p, greeting) in [
        ("imap", "* OK"),
        ("pop3", "+OK"),
        ("smtp", "220"),
        ("submission", "220"),
    ] {
        let mut c = Line::connect(d.addr(p, "plain"));
        c.expect(greeting);
        open.push(c);
    }
    let s = m.take(&cfg, &d, "sessions open");
    for p in ["imap", "pop3", "smtp", "submission"] {
        let g = format!("ferrymail_sessions{{protocol=\"{p}\"}}");
        let t = format!("ferrymail_sessions_total{{protocol=\"{p}\"}}");
        assert_eq!(v(&s, &g), v(&base, &g) + 1.0, "{p}: {s:#?}");
        assert!(v(&s, &t) > v(&base, &t), "{p}: {s:#?}");
    }
    drop(open);
    m.until(&cfg, &d, "sessions closed", |s| {
        ["imap", "pop3", "smtp", "submission"]
            .iter()
            .all(|p| v(s, &format!("ferrymail_sessions{{protocol=\"{p}\"}}")) == 0.0)
    });

    let auth = |o: &str| format!("ferrymail_legacy_auth_total{{outcome=\"{o}\"}}");

    // Known users: one pending (imported), one local.
    let (code, out, err) = users_import(&cfg, "example.org", "bob@example.org\n");
    assert_eq!(code, 0, "{out}{err}");
    add_account(&cfg, "carol@example.org", "carol-local-pw");
    let users = |st: &str| format!("ferrymail_users{{domain=\"example.org\",state=\"{st}\"}}");
    let s = m.take(&cfg, &d, "imported and added");
    assert_eq!(
        (v(&s, &users("pending")), v(&s, &users("local"))),
        (1.0, 1.0)
    );

    // alice's first login: accepted, her copy runs (its gauges), then done.
    let r = imap_login(&d, "alice@example.org", "alice-pw");
    assert!(r.starts_with("a OK"), "{r}\n{}", d.log_text());
    let alice = |n: &str| format!("{n}{{domain=\"example.org\",user=\"alice@example.org\"}}");
    let s = m.until(&cfg, &d, "alice copying", |s| {
        v(s, &alice("ferrymail_user_copied_messages")) > 0.0
    });
    assert_eq!(v(&s, &users("copying")), 1.0, "{s:#?}");
    assert_eq!(v(&s, &alice("ferrymail_user_total_messages")), 300.0);
    assert!(v(&s, &alice("ferrymail_user_total_bytes")) > 0.0);
    assert!(v(&s, &alice("ferrymail_user_copied_bytes")) > 0.0);
    assert_eq!(v(&s, &auth("accepted")), 1.0, "{s:#?}");
    let s = m.until(&cfg, &d, "alice migrated", |s| {
        v(s, &users("migrated")) == 1.0
    });
    assert_eq!(v(&s, "ferrymail_messages_copied_total"), 300.0, "{s:#?}");
    assert!(v(&s, "ferrymail_bytes_copied_total") > 0.0);
    let dom = |n: &str| format!("{n}{{domain=\"example.org\"}}");
    assert_eq!(v(&s, &dom("ferrymail_copied_messages")), 300.0);
    assert_eq!(v(&s, &dom("ferrymail_copy_total_messages")), 300.0);
    assert_eq!(
        v(&s, &dom("ferrymail_copied_bytes")),
        v(&s, "ferrymail_bytes_copied_total")
    );
    assert_eq!(
        v(&s, &dom("ferrymail_copy_total_bytes")),
        v(&s, "ferrymail_bytes_copied_total")
    );
    assert!(
        !s.contains_key(&alice("ferrymail_user_copied_messages")),
        "{s:#?}"
    );

    // alice again: the first login verifies her password, the next one is
    // answered from the verified-credential cache.
    for _ in 0..2 {
        let r = imap_login(&d, "alice@example.org", "alice-pw");
        assert!(r.starts_with("a OK"), "{r}");
    }
    let s = m.take(&cfg, &d, "alice back");
    assert_eq!(
        v(&s, "ferrymail_credential_cache_hits_total"),
        1.0,
        "{s:#?}"
    );

    // Mail for alice is delivered here; mail for bob (pending) waits in the
    // relay queue while the legacy SMTP server is down, then is relayed.
    let r = mx_send(&d, "alice@example.org");
    assert!(r.starts_with("250"), "{r}");
    let s = m.take(&cfg, &d, "delivered");
    assert_eq!(v(&s, "ferrymail_messages_delivered_total"), 1.0, "{s:#?}");
    legacy.stop_postfix();
    let r = mx_send(&d, "bob@example.org");
    assert!(r.starts_with("250"), "{r}");
    m.until(&cfg, &d, "queued", |s| v(s, "ferrymail_relay_queue") == 1.0);
    legacy.start_postfix_again();
    let s = m.until(&cfg, &d, "relayed", |s| {
        v(s, "ferrymail_messages_relayed_total") == 1.0
    });
    m.until(&cfg, &d, "queue empty", |s| {
        v(s, "ferrymail_relay_queue") == 0.0
    });
    assert_eq!(v(&s, "ferrymail_messages_delivered_total"), 1.0);

    // dave's copy loses its legacy server half-way: a copy error.
    let r = imap_login(&d, "dave@example.org", "dave-pw");
    assert!(r.starts_with("a OK"), "{r}\n{}", d.log_text());
    let dave = "ferrymail_user_copied_messages{domain=\"example.org\",user=\"dave@example.org\"}";
    m.until(&cfg, &d, "dave copying", |s| v(s, dave) > 0.0);
    legacy.stop_dovecot();
    m.until(&cfg, &d, "dave's copy failed", |s| {
        v(s, "ferrymail_copy_errors_total") >= 1.0 && v(s, &dom("ferrymail_copy_errors")) >= 1.0
    });

    // Back up: dave's copy resumes and ends; a finished domain's accounts
    // are `finished`. A failed copy is `failed` until it resumes.
    legacy.start_dovecot();
    m.until(&cfg, &d, "dave migrated", |s| {
        v(s, &users("migrated")) == 2.0
    });
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org", "--force"], "");
    assert_eq!(code, 0, "{out}{err}");
    m.until(&cfg, &d, "finished", |s| v(s, &users("finished")) >= 1.0);
    assert_eq!(
        state(&cfg, "alice@example.org").as_deref(),
        Some("finished")
    );

    // A stranger's wrong passwords: refused by the legacy server, failed
    // logins, then throttled before the legacy server is asked again (last: Dovecot
    // slows every login from this address after failures).
    for i in 0..4 {
        let r = imap_login(&d, "zed@example.org", &format!("guess{i}"));
        assert!(r.starts_with("a NO"), "{r}");
    }
    let s = m.take(&cfg, &d, "wrong passwords");
    assert_eq!(v(&s, &auth("refused")), 3.0, "{s:#?}");
    assert_eq!(v(&s, &auth("throttled")), 1.0, "{s:#?}");
    assert!(v(&s, "ferrymail_login_failures_total") >= 4.0, "{s:#?}");

    legacy.stop_dovecot();
    // erin logs in while the legacy server is down: unavailable.
    let r = imap_login(&d, "erin@example.org", "erin-pw");
    assert!(!r.starts_with("a OK"), "{r}");
    let s = m.take(&cfg, &d, "legacy down");
    assert_eq!(v(&s, &auth("unavailable")), 1.0, "{s:#?}");

    // Every series named above moved; and every family advertised had at
    // least one series change across the run.
    for series in [
        auth("accepted"),
        auth("refused"),
        auth("unavailable"),
        auth("throttled"),
        users("pending"),
        users("local"),
        users("copying"),
        users("migrated"),
        users("finished"),
    ] {
        let h = m.history(&series);
        assert!(
            h.windows(2).any(|w| w[0] != w[1]),
            "{series} never changed: {h:?}"
        );
    }
    let mut still = Vec::new();
    for f in &m.families {
        let mut series: BTreeSet<&str> = BTreeSet::new();
        for (_, s) in &m.snapshots {
            series.extend(s.keys().map(String::as_str).filter(|k| family(k) == f));
        }
        let changed = series.iter().any(|k| {
            let h = m.history(k);
            h.windows(2).any(|w| w[0] != w[1])
        });
        if !changed {
            still.push(f.clone());
        }
    }
    let mut steps: Vec<&str> = m.snapshots.iter().map(|(w, _)| w.as_str()).collect();
    steps.dedup();
    assert!(
        still.is_empty(),
        "metrics that never changed: {still:?} (steps: {steps:?})"
    );
    eprintln!("families: {:?}", m.families);
    // The families this test knows about, so a new one is noticed here too.
    assert!(m.families.len() >= 17, "{:?}", m.families);
}
