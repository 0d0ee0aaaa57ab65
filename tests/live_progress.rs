//! Live progress of a copy, against a real Dovecot and `ferrymail serve`:
//! while a 1,500-message mailbox in two folders is copied (slowed by a low
//! `max_bytes_per_sec`), `status --json` shows the messages copied rising
//! between 0 and the total the legacy mailbox holds, with a rate and an ETA,
//! `/metrics` has the running copy's gauges, `migrate bulk` follows the copy
//! in messages and bytes, and at the end copied equals the total. The same for
//! a POP3-source domain (slowed by the test-only per-message delay).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{cli, state, stored};
use common::{bin, Daemon, TestConfig};

const USER: &str = "alice@example.org";

/// Writes `n` messages straight into the legacy maildir folder `dir` (`""`
/// for INBOX, `.Archive` for Archive) of `user`; returns their bytes.
fn seed_folder(legacy: &Legacy, user: &str, dir: &str, from: usize, n: usize) -> u64 {
    let cur = legacy.path().join(format!("mail/{user}/{dir}/cur"));
    std::fs::create_dir_all(&cur).unwrap();
    let mut bytes = 0;
    for i in from..from + n {
        let body = format!(
            "From: s{i}@example.net\r\nTo: {user}@example.org\r\nSubject: message {i}\r\n\
             Message-ID: <{i}@example.net>\r\n\r\n{}\r\n",
            format!("line {i} of some text to give the message a size\r\n").repeat(8)
        );
        bytes += body.len() as u64;
        let name = format!("{}.M{i}P1.legacy,S={}:2,", 1_600_000_000 + i, body.len());
        std::fs::write(cur.join(name), body).unwrap();
    }
    bytes
}

/// INBOX and Archive with `inbox` and `archive` messages; returns the bytes.
fn seed(legacy: &Legacy, inbox: usize, archive: usize) -> u64 {
    let mut c = legacy.imap("alice", "alice-pw");
    c.ok("SELECT INBOX");
    if archive > 0 {
        c.ok("CREATE Archive");
    }
    c.logout();
    let mut bytes = seed_folder(legacy, "alice", "", 0, inbox);
    if archive > 0 {
        bytes += seed_folder(legacy, "alice", ".Archive", inbox, archive);
    }
    let out = Command::new("chown")
        .args(["-R", "vmail:vmail"])
        .arg(legacy.path().join("mail/alice"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut c = legacy.imap("alice", "alice-pw");
    let lines = c.ok("SELECT INBOX");
    assert!(
        lines.iter().any(|l| l.text == format!("* {inbox} EXISTS")),
        "{lines:?}"
    );
    c.logout();
    bytes
}

/// One look at the user's line of `status --json --user`.
#[derive(Debug, Clone)]
struct Sample {
    state: String,
    messages: u64,
    bytes: u64,
    total_messages: Option<u64>,
    total_bytes: Option<u64>,
    progress: serde_json::Value,
}

fn sample(cfg: &TestConfig) -> Sample {
    let (code, out, err) = cli(cfg, &["status", "--json", "--user", USER], "");
    // Before the copy creates the account, `status --user` says so (exit 1).
    let not_yet = code == 1 && err.contains("does not exist");
    assert!(code == 0 || not_yet, "{out}{err}");
    let v: serde_json::Value = if not_yet {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&out).unwrap()
    };
    let u = &v["users"][0];
    let job = &u["job"];
    Sample {
        state: u["state"].as_str().unwrap_or_default().to_string(),
        messages: job["messages"].as_u64().unwrap_or(0),
        bytes: job["bytes"].as_u64().unwrap_or(0),
        total_messages: job["total_messages"].as_u64(),
        total_bytes: job["total_bytes"].as_u64(),
        progress: u["progress"].clone(),
    }
}

/// `GET /metrics` with the admin token.
fn metrics(cfg: &TestConfig, d: &Daemon) -> String {
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("http://{}/metrics", d.addr("admin", "plain")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the metric line starting with `name{labels}`.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Samples the user's status until the account is `migrated`, calling `also`
/// with each sample; every sample, in order.
fn watch(cfg: &TestConfig, d: &Daemon, mut also: impl FnMut(&Sample)) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut samples = Vec::new();
    loop {
        let s = sample(cfg);
        also(&s);
        let done = s.state == "migrated";
        samples.push(s);
        if done {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "never migrated; last {:?}:\n{}",
            samples.last(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What every copy's samples must show: the total is the seeded count from
/// the first measure on, copied never goes down, and several values strictly
/// between 0 and the total are seen while the account is `copying`, with a
/// percentage, a rate and an ETA.
fn check_progress(samples: &[Sample], total: u64) {
    for s in samples {
        if let Some(t) = s.total_messages {
            assert_eq!(t, total, "{s:?}");
        }
    }
    for w in samples.windows(2) {
        assert!(w[0].messages <= w[1].messages, "copied went down: {w:?}");
    }
    let mid: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.state == "copying" && s.messages > 0 && s.messages < total)
        .collect();
    let mut values: Vec<u64> = mid.iter().map(|s| s.messages).collect();
    values.dedup();
    eprintln!("copied while copying, of {total}: {values:?}");
    assert!(
        values.len() >= 2,
        "copied should rise in steps between 0 and {total} while copying: {values:?}"
    );
    for s in &mid {
        assert_eq!(s.total_messages, Some(total), "{s:?}");
        assert_eq!(s.progress["messages"], s.messages, "{s:?}");
        let pc = s.progress["percent"].as_f64().unwrap();
        assert!(pc > 0.0 && pc < 100.0, "{s:?}");
    }
    assert!(
        mid.iter()
            .any(|s| s.progress["bytes_per_sec"].as_f64() > Some(0.0)
                && s.progress["eta_secs"].as_u64().is_some()),
        "a rate and an ETA while copying: {mid:?}"
    );
}

/// A server with IMAP and the admin API, and `example.org` migrating from
/// `legacy` over IMAP, its copies capped at `bytes_per_sec`.
fn imap_config(legacy: &Legacy, bytes_per_sec: u64) -> TestConfig {
    let migration = format!(
        "timeout_secs = 20\nserve_locally_within_ms = 0\nmax_bytes_per_sec = {bytes_per_sec}"
    );
    let domain = migrating(
        legacy,
        MigratingDomain {
            migration: &migration,
            ..Default::default()
        },
    );
    TestConfig::new(
        &server(PLAINTEXT, &["imap", "admin"]),
        &[("example.org", &domain)],
    )
}

#[test]
fn status_metrics_and_bulk_show_a_running_imap_copy() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    let bytes = seed(&legacy, 1000, 500);
    // About 750 KB at 80 KB/s: the copy takes some 10 s.
    let cfg = imap_config(&legacy, 80_000);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());

    // `migrate bulk` queues the copy and follows it (not on a terminal: lines).
    let file = cfg.dir.path().join("users.txt");
    std::fs::write(&file, format!("{USER}:alice-pw\n")).unwrap();
    let bulk = Command::new(bin())
        .args(["migrate", "bulk"])
        .arg(&file)
        .arg("--config")
        .arg(cfg.path())
        .env_remove("FERRYMAIL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let series = |name: &str| format!("{name}{{domain=\"example.org\",user=\"{USER}\"}}");
    let mut gauges: Vec<(u64, u64)> = Vec::new();
    let samples = watch(&cfg, &d, |s| {
        if s.state == "copying" && s.messages > 0 && gauges.is_empty() {
            let m = metrics(&cfg, &d);
            if let (Some(copied), Some(total)) = (
                metric(&m, &series("ferrymail_user_copied_messages")),
                metric(&m, &series("ferrymail_user_total_messages")),
            ) {
                gauges.push((copied, total));
            }
        }
    });
    check_progress(&samples, 1500);
    // Dovecot has STATUS=SIZE: the bytes are known from the first measure on.
    for s in samples.iter().filter(|s| s.total_messages.is_some()) {
        assert_eq!(s.total_bytes, Some(bytes), "{s:?}");
    }
    // The running copy's gauges in /metrics.
    let &(copied, total) = gauges
        .first()
        .expect("the running copy's gauges in /metrics");
    assert!(copied > 0 && copied <= 1500 && total == 1500, "{gauges:?}");

    // At the end: copied equals the legacy mailbox, in messages and bytes.
    let last = samples.last().unwrap();
    assert_eq!((last.messages, last.total_messages), (1500, Some(1500)));
    assert_eq!(last.total_bytes, Some(bytes), "{last:?}");
    assert_eq!(last.bytes, bytes, "{last:?}");
    assert_eq!(last.progress["percent"], 100.0);
    assert_eq!(stored(&cfg, USER), 1500);
    let (_, text, _) = cli(&cfg, &["status", "--user", USER], "");
    assert!(text.contains("copied 1500 of 1500 messages"), "{text}");
    let m = metrics(&cfg, &d);
    assert_eq!(
        metric(&m, "ferrymail_copy_total_messages{domain=\"example.org\"}"),
        Some(1500),
        "{m}"
    );
    assert_eq!(metric(&m, &series("ferrymail_user_copied_messages")), None);

    // The bulk command followed the copy in messages and bytes, then ended.
    let output = bulk.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    let status = output.status;
    eprintln!("migrate bulk:\n{err}{out}");
    assert!(status.success(), "{out}{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("copy: ")).collect();
    // A line every 5 s: one while the copy runs, with its rate and ETA.
    let copied = |l: &str| -> Option<u64> {
        let (n, _) = l.strip_prefix("copy: ")?.split_once(" of 1500 messages")?;
        n.parse().ok()
    };
    assert!(
        lines
            .iter()
            .any(|l| copied(l).is_some_and(|n| n > 0 && n < 1500)
                && l.contains("KB/s, ETA ")
                && l.ends_with("0/1 users done")),
        "{err}"
    );
    assert!(
        lines.last().is_some_and(
            |l| l.starts_with("copy: 1500 of 1500 messages") && l.contains("1/1 users done")
        ),
        "{err}"
    );
    let row = out.lines().find(|l| l.contains(USER)).unwrap_or_default();
    assert!(
        row.contains("migrated") && row.contains("copied 1500 of 1500 messages"),
        "{out}"
    );
    assert_eq!(state(&cfg, USER).as_deref(), Some("migrated"));
}

/// Dovecot's capabilities after login, without STATUS=SIZE (it adds
/// LITERAL+, SPECIAL-USE and the like itself).
const WITHOUT_STATUS_SIZE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
    SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
    CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC \
    ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE";

/// A legacy server without STATUS=SIZE: the messages are counted before the
/// copy (STATUS MESSAGES), the bytes learned as the copy reaches each folder.
#[test]
fn without_status_size_the_bytes_are_learned_folder_by_folder() {
    let legacy = Legacy::start(LegacyOptions {
        imap_capability: Some(WITHOUT_STATUS_SIZE.into()),
        ..LegacyOptions::with_users(&["alice"])
    });
    let mut c = legacy.imap("alice", "alice-pw");
    let caps = c.ok("CAPABILITY");
    c.logout();
    assert!(
        caps.iter().any(|l| l.text.contains("CONDSTORE"))
            && !caps.iter().any(|l| l.text.contains("STATUS=SIZE")),
        "{caps:?}"
    );
    let bytes = seed(&legacy, 400, 200);
    // About 300 KB at 40 KB/s.
    let cfg = imap_config(&legacy, 40_000);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", USER, "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let samples = watch(&cfg, &d, |_| {});
    check_progress(&samples, 600);
    // Archive is copied first: the bytes of INBOX are not known yet.
    assert!(
        samples.iter().any(|s| s.state == "copying"
            && s.total_messages == Some(600)
            && s.total_bytes.is_none()),
        "{samples:?}"
    );
    let last = samples.last().unwrap();
    assert_eq!((last.messages, last.total_messages), (600, Some(600)));
    assert_eq!((last.bytes, last.total_bytes), (bytes, Some(bytes)));
}

#[test]
fn status_shows_a_running_pop3_copy() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    let bytes = seed(&legacy, 300, 0);
    let domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "source = \"pop3\"\ntimeout_secs = 20\nserve_locally_within_ms = 0",
            imap: false,
            pop3: true,
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["pop3", "admin"]),
        &[("example.org", &domain)],
    );
    // POP3 is not charged to the bandwidth cap: 20 ms per message, some 6 s.
    let d = Daemon::start_with(&cfg.path(), &cfg.data_dir(), |cmd| {
        cmd.env("FERRYMAIL_TEST_COPY_DELAY_MS", "20");
    });
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", USER, "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let samples = watch(&cfg, &d, |_| {});
    check_progress(&samples, 300);
    let last = samples.last().unwrap();
    assert_eq!((last.messages, last.total_messages), (300, Some(300)));
    assert_eq!((last.bytes, last.total_bytes), (bytes, Some(bytes)));
    assert_eq!(stored(&cfg, USER), 300);
}
