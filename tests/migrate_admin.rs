//! Moving a whole domain with the legacy server's admin credential
//! (`[migration.admin]`), against a real Dovecot with a master user: `users
//! import` (one user with an exported `{SHA512-CRYPT}` hash), `migrate domain`
//! with no user login, each mailbox equal to the legacy one, `finish` bringing
//! over late mail for every user and naming those without a local password,
//! the imported hash working with the legacy server stopped; the authzid
//! method; a kill -9 mid-copy resumed at start-up without any login; 200 users
//! never more than `max_connections` legacy connections; the admin password
//! nowhere in logs, argv or the data dir.

mod common;
mod migrate_support;

use std::path::Path;
use std::time::Duration;

use common::domains::{admin_section, migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{quote, Legacy, LegacyOptions, MASTER_PASSWORD};
use common::ops::{cli, state, stored, users_import, wait_state};
use common::{wait_until, Daemon, TestConfig};
use migrate_support::{assert_same, legacy_snapshot, local_snapshot, seed_maildir};

/// `carol-local-pw` as the legacy server exported it (`openssl passwd -6`).
const CAROL_HASH: &str = "{SHA512-CRYPT}$6$fmsalt01$NafQKndXhqnBX1L1Oa2lEjWGLbcclDx33TYzyncP8FZIMoKKBnDhd8zlpVN2wGzWEtQDOYjBLP3bETRJRnFmL1";

/// A server with IMAP, POP3 and the admin API; example.org migrating from
/// `legacy` with `[migration.admin]` of `method` (none when `None`).
fn config(legacy: &Legacy, method: Option<&str>, extra: &str) -> (TestConfig, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap();
    let admin = method
        .map(|m| admin_section(secrets.path(), m))
        .unwrap_or_default();
    let migration = format!("timeout_secs = 20\nserve_locally_within_ms = 0\n{extra}\n{admin}");
    let domain = migrating(
        legacy,
        MigratingDomain {
            migration: &migration,
            pop3: true,
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "pop3", "admin"]),
        &[("example.org", &domain)],
    );
    (cfg, secrets)
}

fn seed_folders(legacy: &Legacy, user: &str, pw: &str) {
    let mut c = legacy.imap(user, pw);
    for (folder, utf7) in [
        ("Entwürfe", "Entw&APw-rfe"),
        ("Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-"),
    ] {
        c.ok(&format!("CREATE {}", quote(utf7)));
        for (i, (flags, date)) in [
            ("\\Seen", "06-Jan-2020 10:00:00 +0100"),
            ("\\Flagged $Work", "01-Dec-2023 12:00:00 +0530"),
        ]
        .into_iter()
        .enumerate()
        {
            let body = format!("From: x@example.net\r\nTo: {user}@example.org\r\nSubject: {folder} {i}\r\n\r\nbody {i}\r\n");
            c.append(utf7, flags, date, body.as_bytes());
        }
    }
    c.logout();
}

/// Appends one message to the legacy INBOX (mail that reached it late).
fn late_mail(legacy: &Legacy, user: &str, pw: &str) {
    let mut c = legacy.imap(user, pw);
    let body = format!("From: late@example.net\r\nTo: {user}@example.org\r\nSubject: late\r\n\r\nafter the switch\r\n");
    c.append("INBOX", "", "02-Dec-2026 09:00:00 +0000", body.as_bytes());
    c.logout();
}

fn json(cfg: &TestConfig, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = cli(cfg, args, "");
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Every file under `dir`, read as bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn import_then_migrate_domain_moves_everyone_without_a_login_and_finish_sweeps() {
    let mut legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob", "carol"]));
    seed_folders(&legacy, "alice", "alice-pw");
    seed_maildir(&legacy, "bob", "bob-pw", 40);
    seed_folders(&legacy, "carol", "carol-pw");
    let (cfg, _secrets) = config(&legacy, Some("master"), "");
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());

    let (code, out, err) = users_import(
        &cfg,
        "example.org",
        &format!("# exported from the legacy server\nalice\nBob@Example.org\ncarol:{CAROL_HASH}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 users imported as pending (1 with a password hash)"),
        "{out}"
    );
    assert_eq!(state(&cfg, "bob@example.org").as_deref(), Some("pending"));

    let v = json(&cfg, &["status", "--json"]);
    assert_eq!(v["domains"][0]["users"]["known"], 3, "{v}");
    assert_eq!(v["domains"][0]["users"]["pending"], 3, "{v}");
    assert_eq!(v["domains"][0]["users"]["migrated"], 0, "{v}");

    let (code, out, err) = cli(&cfg, &["migrate", "domain", "example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 users queued"), "{out}");
    for u in ["alice", "bob", "carol"] {
        wait_state(&cfg, &d, &format!("{u}@example.org"), "migrated");
    }
    let v = json(&cfg, &["status", "--json"]);
    assert_eq!(v["domains"][0]["users"]["known"], 3, "{v}");
    assert_eq!(v["domains"][0]["users"]["migrated"], 3, "{v}");
    assert_eq!(v["domains"][0]["users"]["pending"], 0, "{v}");

    // Each mailbox equals the legacy one.
    d.terminate();
    for (u, pw) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
    ] {
        let leg = legacy_snapshot(&legacy, u, pw);
        let loc = local_snapshot(&cfg.data_dir(), &format!("{u}@example.org"));
        assert_same(&leg, &loc, &|raw| ferrymail::mutf7::decode(raw).unwrap());
    }
    assert!(local_snapshot(&cfg.data_dir(), "alice@example.org")
        .folders
        .contains_key("Черновики"));

    // Late mail on the legacy server: finish brings it over for every user;
    // alice and bob have no local password, so finish says so and fails.
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let before: Vec<u64> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| stored(&cfg, &format!("{u}@example.org")))
        .collect();
    for (u, pw) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
    ] {
        late_mail(&legacy, u, pw);
    }
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org"], "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.contains("1 users finished"), "{out}");
    for u in ["alice", "bob"] {
        let line = out.lines().find(|l| l.contains(&format!("{u}@"))).unwrap();
        assert!(
            line.contains("no-password") && line.contains("final sweep: 1 new messages"),
            "{out}"
        );
    }
    let carol = out.lines().find(|l| l.contains("carol@")).unwrap();
    assert!(
        carol.contains("finished") && carol.contains("final sweep: 1 new messages"),
        "{out}"
    );
    for (i, u) in ["alice", "bob", "carol"].iter().enumerate() {
        assert_eq!(
            stored(&cfg, &format!("{u}@example.org")),
            before[i] + 1,
            "{u}"
        );
    }
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org", "--force"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 users finished"), "{out}");
    assert!(out.contains("warning: no local password"), "{out}");

    // The legacy server is switched off: carol logs in with her imported hash.
    legacy.stop_dovecot();
    let mut c = common::Line::connect(d.addr("imap", "plain"));
    let greeting = c.line();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let r = c.transact("a", "LOGIN carol@example.org carol-local-pw");
    assert!(r.starts_with("a OK"), "{r}");
    c.send_line("b SELECT INBOX");
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        let done = l.starts_with("b ");
        lines.push(l);
        if done {
            break;
        }
    }
    // carol's INBOX held nothing but the late message.
    assert!(lines.iter().any(|l| l == "* 1 EXISTS"), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("b OK"), "{lines:?}");
    let r = c.transact("c", "LOGOUT");
    assert!(r.contains("c OK"), "{r}");

    // The admin password is nowhere: log, argv, data dir.
    assert!(!d.log_text().contains(MASTER_PASSWORD));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", d.pid())).unwrap();
    assert!(!contains(&cmdline, MASTER_PASSWORD.as_bytes()));
    d.terminate();
    for (p, b) in files(&cfg.data_dir()) {
        assert!(
            !contains(&b, MASTER_PASSWORD.as_bytes()),
            "admin password in {}",
            p.display()
        );
    }
}

#[test]
fn migrate_user_without_a_password_with_the_authzid_method() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    seed_folders(&legacy, "alice", "alice-pw");
    let (cfg, _secrets) = config(&legacy, Some("authzid"), "");
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(&cfg, &["migrate", "user", "alice@example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("queued"), "{out}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    // An unknown user: the legacy server refuses the admin credential for it.
    let (code, _, err) = cli(&cfg, &["migrate", "user", "nobody@example.org"], "");
    assert_ne!(code, 0);
    assert!(err.contains("refused the admin credential"), "{err}");
    assert_eq!(state(&cfg, "nobody@example.org"), None);
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&cfg.data_dir(), "alice@example.org");
    assert_same(&leg, &loc, &|raw| ferrymail::mutf7::decode(raw).unwrap());
}

#[test]
fn kill_9_mid_copy_then_restart_resumes_without_any_login() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    seed_maildir(&legacy, "alice", "alice-pw", 5000);
    let (cfg, _secrets) = config(&legacy, Some("master"), "");
    let mut d = Daemon::start_with(&cfg.path(), &cfg.data_dir(), |cmd| {
        cmd.env("FERRYMAIL_TEST_COPY_DELAY_MS", "1");
    });
    let (code, out, err) = cli(&cfg, &["migrate", "user", "alice@example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    migrate_support::wait_committed(&d, 1000, 120);
    d.kill9();
    assert_eq!(state(&cfg, "alice@example.org").as_deref(), Some("copying"));
    // No login, no admin command: the restart resumes it.
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    wait_until(
        300,
        200,
        || state(&cfg, "alice@example.org").as_deref() == Some("migrated"),
        || d.log_text(),
    );
    let mut d = d;
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&cfg.data_dir(), "alice@example.org");
    assert_same(&leg, &loc, &|raw| ferrymail::mutf7::decode(raw).unwrap());
    let n: usize = loc.folders.values().map(|f| f.messages.len()).sum();
    assert_eq!(n, 5000, "duplicates or losses");
}

/// Established TCP connections whose local port is `port` (the server side of
/// connections to it), from /proc/net/tcp.
fn established_to(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let hex = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex) && f[3] == "01"
        })
        .count()
}

#[test]
fn migrate_domain_of_200_users_stays_within_max_connections() {
    let users: Vec<String> = (0..200).map(|i| format!("u{i:03}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let legacy = Legacy::start(LegacyOptions::with_users(&names));
    for u in &users[..20] {
        seed_maildir(&legacy, u, &format!("{u}-pw"), 3);
    }
    let (cfg, _secrets) = config(&legacy, Some("master"), "max_connections = 3");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = users_import(&cfg, "example.org", &(users.join("\n") + "\n"));
    assert_eq!(code, 0, "{out}{err}");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = legacy.imap_port;
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(established_to(port));
                std::thread::sleep(Duration::from_millis(5));
            }
            max
        })
    };
    let (code, out, err) = cli(&cfg, &["migrate", "domain", "example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200 users queued"), "{out}");
    wait_until(
        600,
        250,
        || {
            let v = json(&cfg, &["status", "--json"]);
            v["domains"][0]["users"]["migrated"] == 200
        },
        || d.log_text(),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let max = sampler.join().unwrap();
    assert!(max >= 1, "the sampler never saw a copy's connection");
    assert!(
        max <= 3,
        "{max} legacy IMAP connections at once with max_connections = 3"
    );
}

/// Messages in the legacy INBOX of `user`.
fn legacy_inbox(legacy: &Legacy, user: &str, pw: &str) -> usize {
    let mut c = legacy.imap(user, pw);
    let lines = c.ok("EXAMINE INBOX");
    c.logout();
    lines
        .iter()
        .find_map(|l| {
            l.text
                .strip_suffix(" EXISTS")?
                .strip_prefix("* ")?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// An imported user not moved yet: mail to them is relayed to the legacy
/// server (swaks through ferrymail's MX); a wrong password is refused and
/// leaves them pending; their own login (legacy password) starts their move.
/// `migrate bulk` with bare addresses moves the others with the admin
/// credential.
#[test]
fn a_pending_user_is_relayed_to_and_moves_on_login_and_bulk_takes_bare_addresses() {
    let legacy = Legacy::start(LegacyOptions {
        postfix: true,
        ..LegacyOptions::with_users(&["dave", "erin", "fred"])
    });
    seed_folders(&legacy, "dave", "dave-pw");
    seed_folders(&legacy, "erin", "erin-pw");
    let secrets = tempfile::tempdir().unwrap();
    let migration = format!(
        "timeout_secs = 20\nserve_locally_within_ms = 0\n{}",
        admin_section(secrets.path(), "master")
    );
    let domain = migrating(
        &legacy,
        MigratingDomain {
            migration: &migration,
            tls: "none",
            postfix: true,
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        &format!(
            "{}[smtp]\nlisten = [\"127.0.0.1:0\"]\nretry_secs = 1\n",
            server(PLAINTEXT, &["imap", "admin"])
        ),
        &[("example.org", &domain)],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = users_import(&cfg, "example.org", "dave\nerin\nfred\n");
    assert_eq!(code, 0, "{out}{err}");

    // SMTP to a pending user reaches the legacy mailbox.
    let before = legacy_inbox(&legacy, "dave", "dave-pw");
    let mx = d.addr("smtp", "plain");
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &mx.to_string(),
            "--from",
            "x@example.net",
            "--to",
            "dave@example.org",
        ])
        .args([
            "--helo",
            "client.example",
            "--header",
            "Subject: for a pending user",
        ])
        .output()
        .expect("swaks");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_until(
        60,
        200,
        || legacy_inbox(&legacy, "dave", "dave-pw") == before + 1,
        || format!("{}\n{}", d.log_text(), legacy.postfix_log()),
    );
    assert_eq!(state(&cfg, "dave@example.org").as_deref(), Some("pending"));

    // A wrong password: refused, still pending. The right one: the move starts.
    let mut c = common::Line::connect(d.addr("imap", "plain"));
    c.line();
    let r = c.transact("a", "LOGIN dave@example.org wrong-pw");
    assert!(r.starts_with("a NO"), "{r}");
    assert_eq!(state(&cfg, "dave@example.org").as_deref(), Some("pending"));
    let r = c.transact("b", "LOGIN dave@example.org dave-pw");
    assert!(r.starts_with("b OK"), "{r}");
    c.transact("c", "LOGOUT");
    wait_state(&cfg, &d, "dave@example.org", "migrated");

    // Bare addresses in a bulk file: the admin credential copies.
    let bulk = cfg.dir.path().join("bulk.txt");
    std::fs::write(&bulk, "erin@example.org\nfred@example.org\n").unwrap();
    let (code, out, err) = cli(&cfg, &["migrate", "bulk", bulk.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&cfg, &d, "erin@example.org", "migrated");
    wait_state(&cfg, &d, "fred@example.org", "migrated");
    assert!(stored(&cfg, "erin@example.org") >= 4);
    // erin was moved without a local password: her first login is checked
    // with the legacy server and sets it; a wrong one is refused.
    let mut c = common::Line::connect(d.addr("imap", "plain"));
    c.line();
    let r = c.transact("a", "LOGIN erin@example.org not-erins");
    assert!(r.starts_with("a NO"), "{r}");
    let r = c.transact("b", "LOGIN erin@example.org erin-pw");
    assert!(r.starts_with("b OK"), "{r}");
    c.transact("c", "LOGOUT");
    assert!(d
        .log_text()
        .contains("local password set from the legacy server's check"));
    // ... so it works with the legacy server gone, as dave's does.
    drop(legacy);
    for (u, pw) in [("dave", "dave-pw"), ("erin", "erin-pw")] {
        let mut c = common::Line::connect(d.addr("imap", "plain"));
        c.line();
        let r = c.transact("a", &format!("LOGIN {u}@example.org {pw}"));
        assert!(r.starts_with("a OK"), "{u}: {r}");
    }
}

/// A POP3-source domain: the admin credential (`USER alice*migrator`) moves a
/// user with the legacy UIDLs.
#[test]
fn a_pop3_source_moves_with_the_admin_credential() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    seed_maildir(&legacy, "alice", "alice-pw", 25);
    let secrets = tempfile::tempdir().unwrap();
    let migration = format!(
        "source = \"pop3\"\ntimeout_secs = 20\nserve_locally_within_ms = 0\n{}",
        admin_section(secrets.path(), "master")
    );
    let domain = migrating(
        &legacy,
        MigratingDomain {
            migration: &migration,
            imap: false,
            pop3: true,
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["pop3", "admin"]),
        &[("example.org", &domain)],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(&cfg, &["migrate", "user", "alice@example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    assert_eq!(stored(&cfg, "alice@example.org"), 25);
}
