//! Migration operations against a real Dovecot and `ferrymail serve`: `migrate
//! bulk` with good, bad-password and malformed lines; `--messages-only` and
//! `--passwords-only`; status numbers equal to the store; `finish` importing a
//! message that reached the legacy server after the switch; the post-migrate
//! hook receiving the password on stdin only; the API refusing requests without
//! the token.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{cli, row, state, stored, wait_state};
use common::{wait_until, Daemon, TestConfig};

const HOOK: &str = "#!/bin/sh\nout=\"$(dirname \"$0\")/hook-out\"\nmkdir -p \"$out\"\ncat > \"$out/$1.stdin\"\ntr '\\0' ' ' < /proc/$$/cmdline > \"$out/$1.cmdline\"\n";

fn config(legacy: &Legacy, hook: &Path) -> TestConfig {
    let migration = format!(
        "timeout_secs = 20\nserve_locally_within_ms = 0\nmax_bytes_per_sec = 1000000\n\
         post_migrate_hook = \"{}\"",
        hook.display()
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

/// The post-migrate hook, an executable HOOK in a new temporary folder.
fn hook() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let hookdir = tempfile::tempdir().unwrap();
    let hook = hookdir.path().join("hook.sh");
    std::fs::write(&hook, HOOK).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (hookdir, hook)
}

fn seed(legacy: &Legacy, user: &str, pw: &str, n: usize) {
    let mut c = legacy.imap(user, pw);
    for i in 0..n {
        let body = format!(
            "From: x@example.net\r\nTo: {user}@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n"
        );
        c.append(
            "INBOX",
            "\\Seen",
            "06-Jan-2020 10:00:00 +0100",
            body.as_bytes(),
        );
    }
    c.logout();
}

#[test]
fn bulk_modes_status_finish_and_hook() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob", "carol"]));
    seed(&legacy, "alice", "alice-pw", 3);
    seed(&legacy, "bob", "bob-pw", 2);
    seed(&legacy, "carol", "carol-pw", 1);
    let (hookdir, hook) = hook();
    let cfg = config(&legacy, &hook);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());

    // Without the token the API refuses, and nothing is created.
    let admin = d.addr("admin", "plain");
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-d",
            r#"{"address":"alice@example.org","password":"alice-pw"}"#,
        ])
        .arg(format!("http://{admin}/api/migrate"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    assert_eq!(state(&cfg, "alice@example.org"), None);

    // A bulk file with good, bad-password and malformed lines.
    let file = cfg.dir.path().join("users.txt");
    std::fs::write(
        &file,
        "# users to move\n\nalice@example.org:alice-pw\nbob:wrong-secret:example.org\nno-colon-secretpw\ncarol@example.org:carol-pw\n",
    )
    .unwrap();
    let (code, out, err) = cli(&cfg, &["migrate", "bulk", file.to_str().unwrap()], "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(row(&out, 3).contains("alice@example.org") && row(&out, 3).contains("queued"));
    assert!(row(&out, 4).contains("error") && row(&out, 4).contains("refused"));
    assert!(row(&out, 5).contains("error") && row(&out, 5).contains("malformed"));
    assert!(row(&out, 6).contains("carol@example.org") && row(&out, 6).contains("queued"));
    for secret in ["wrong-secret", "secretpw", "alice-pw", "carol-pw"] {
        assert!(!out.contains(secret) && !err.contains(secret), "{out}{err}");
    }
    assert!(err.contains("2 of 4 lines failed"), "{err}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    wait_state(&cfg, &d, "carol@example.org", "migrated");
    assert_eq!(state(&cfg, "bob@example.org"), None);
    assert_eq!(stored(&cfg, "alice@example.org"), 3);
    // Queued copies run one at a time per legacy host: carol's copy begins after
    // alice's switch.
    let log = d.log_text();
    let lines: Vec<&str> = log.lines().collect();
    let alice_done = lines
        .iter()
        .position(|l| {
            l.contains("account state changed")
                && l.contains("alice@example.org")
                && l.contains("to=\"migrated\"")
        })
        .expect("alice's flip logged");
    let carol_copy = lines
        .iter()
        .position(|l| l.contains("copy pass") && l.contains("carol@example.org"))
        .expect("carol's copy logged");
    assert!(alice_done < carol_copy, "{log}");

    // The default mode refuses an existing account and touches nothing.
    let (code, _, err) = cli(
        &cfg,
        &["migrate", "user", "alice@example.org", "--password-stdin"],
        "alice-pw\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");

    // --messages-only needs an existing account.
    let (code, _, err) = cli(
        &cfg,
        &[
            "migrate",
            "user",
            "bob@example.org",
            "--messages-only",
            "--password-stdin",
        ],
        "bob-pw\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("no such account"), "{err}");
    assert_eq!(state(&cfg, "bob@example.org"), None);

    // --passwords-only creates the account from verified credentials, no mail.
    let file2 = cfg.dir.path().join("bob.txt");
    std::fs::write(&file2, "bob:bob-pw:example.org\n").unwrap();
    let (code, out, err) = cli(
        &cfg,
        &[
            "migrate",
            "bulk",
            file2.to_str().unwrap(),
            "--passwords-only",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(row(&out, 1).contains("created"), "{out}");
    assert_eq!(state(&cfg, "bob@example.org").as_deref(), Some("copying"));
    assert_eq!(stored(&cfg, "bob@example.org"), 0);
    // ... then --messages-only copies with the password held in memory.
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "bob@example.org", "--messages-only"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&cfg, &d, "bob@example.org", "migrated");
    assert_eq!(stored(&cfg, "bob@example.org"), 2);

    // Status numbers equal the store.
    let (code, out, err) = cli(&cfg, &["status", "--json", "--users"], "");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dom = &v["domains"][0];
    assert_eq!(dom["domain"], "example.org");
    assert_eq!(dom["users"]["migrated"], 3);
    assert_eq!(dom["messages_copied"], 3 + 2 + 1);
    for u in v["users"].as_array().unwrap() {
        let addr = u["address"].as_str().unwrap();
        assert_eq!(u["stored_messages"], stored(&cfg, addr), "{addr}");
        assert_eq!(u["job"]["messages"], stored(&cfg, addr), "{addr}");
    }

    // The hook got the password on stdin, not in its command line.
    let hook_out = hookdir.path().join("hook-out");
    wait_until(
        30,
        100,
        || hook_out.join("carol@example.org.cmdline").exists(),
        || format!("hook never ran:\n{}", d.log_text()),
    );
    std::thread::sleep(Duration::from_millis(200));
    let stdin = std::fs::read_to_string(hook_out.join("carol@example.org.stdin")).unwrap();
    assert_eq!(stdin.trim_end(), "carol-pw");
    let cmdline = std::fs::read_to_string(hook_out.join("carol@example.org.cmdline")).unwrap();
    assert!(cmdline.contains("carol@example.org"), "{cmdline}");
    assert!(!cmdline.contains("carol-pw"), "{cmdline}");

    // Mail that reaches the legacy server after the switch: finish imports it.
    let mut c = legacy.imap("alice", "alice-pw");
    c.append(
        "INBOX",
        "",
        "20-Nov-2026 09:00:00 +0100",
        b"From: late@example.net\r\nSubject: late\r\n\r\narrived after the switch\r\n",
    );
    c.logout();
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 users finished"), "{out}");
    let alice = out
        .lines()
        .find(|l| l.contains("alice@example.org"))
        .unwrap();
    assert!(alice.contains("final sweep: 1 new messages"), "{out}");
    assert_eq!(
        state(&cfg, "alice@example.org").as_deref(),
        Some("finished")
    );
    assert_eq!(stored(&cfg, "alice@example.org"), 4);

    // The statistics count the final sweep too; the hook's outcome is recorded.
    let (code, out, err) = cli(
        &cfg,
        &["status", "--json", "--user", "alice@example.org"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"][0]["job"]["messages"], 4, "{out}");
    assert_eq!(v["users"][0]["job"]["hook"], "ok", "{out}");
    assert_eq!(v["domains"][0]["users"]["finished"], 3, "{out}");
    let (_, text, _) = cli(&cfg, &["status", "--users"], "");
    assert!(text.contains("hook ok"), "{text}");

    // Never a password in the daemon's log.
    let log = d.log_text();
    for secret in ["wrong-secret", "alice-pw", "bob-pw", "carol-pw"] {
        assert!(!log.contains(secret), "password {secret} in the log");
    }
}

/// After a restart the passwords are gone: a `--passwords-only` account waits
/// for its user's next login (status says so), `finish` leaves users without a
/// password in memory `migrated` and says so, `--force` finishes them.
#[test]
fn restart_forgets_passwords() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    seed(&legacy, "alice", "alice-pw", 2);
    let (_hookdir, hook) = hook();
    let cfg = config(&legacy, &hook);
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "alice@example.org", "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    let file = cfg.dir.path().join("bob.txt");
    std::fs::write(&file, "bob@example.org:bob-pw\n").unwrap();
    let (code, out, err) = cli(
        &cfg,
        &[
            "migrate",
            "bulk",
            file.to_str().unwrap(),
            "--passwords-only",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");

    d.terminate();
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let (_, out, _) = cli(&cfg, &["status", "--json", "--user", "bob@example.org"], "");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"][0]["state"], "copying", "{out}");
    assert_eq!(v["users"][0]["waiting_for_login"], true, "{out}");
    let (_, text, _) = cli(&cfg, &["status"], "");
    assert!(
        text.contains("bob@example.org (0 messages stored) - waiting for the user's next login"),
        "{text}"
    );
    // No password in memory: --messages-only says so.
    let (code, _, err) = cli(
        &cfg,
        &["migrate", "user", "bob@example.org", "--messages-only"],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("no password for this user in memory"), "{err}");

    // Nothing can sweep alice (no password, no [migration.admin]) and bob is
    // not moved: finish says so and fails.
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org"], "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("2 users could not be finished"), "{err}");
    assert!(out.contains("0 users finished"), "{out}");
    let alice = out.lines().find(|l| l.contains("alice@")).unwrap();
    assert!(
        alice.contains("not-swept") && alice.contains("no password in memory"),
        "{out}"
    );
    let bob = out.lines().find(|l| l.contains("bob@")).unwrap();
    assert!(
        bob.contains("not-moved") && bob.contains("still copying"),
        "{out}"
    );
    assert_eq!(
        state(&cfg, "alice@example.org").as_deref(),
        Some("migrated")
    );

    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org", "--force"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 users finished"), "{out}");
    assert_eq!(
        state(&cfg, "alice@example.org").as_deref(),
        Some("finished")
    );
    assert_eq!(state(&cfg, "bob@example.org").as_deref(), Some("copying"));
    drop(d);
}
