//! Pausing a domain's migration (`[migration] enabled = false` and SIGHUP): a
//! running copy stops, `migrate user` is refused, status says `paused`; after
//! `enabled = true` and SIGHUP the copy resumes and completes with no duplicates.

mod common;
mod migrate_support;

use std::process::Command;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::cli;
use common::proc::wait_log;
use common::TestConfig;
use migrate_support::*;

fn domain_text(legacy: &Legacy, enabled: bool) -> String {
    migrating(
        legacy,
        MigratingDomain {
            enabled,
            migration: "timeout_secs = 20\nserve_locally_within_ms = 0",
            ..Default::default()
        },
    )
}

fn hup(pid: u32) {
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn pause_and_resume_a_domain() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    seed_maildir(&legacy, "alice", "alice-pw", 60);
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "admin"]),
        &[("example.org", &domain_text(&legacy, true))],
    );
    let domain_file = cfg.dir.path().join("domains/example.org.toml");
    let d = start_daemon(&cfg, Some(100));
    let pid = d.pid() as u32;

    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "alice@example.org", "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("queued"), "{out}");

    // Pause: the running copy stops; new requests are refused. (Once it
    // runs: the queued copy starts a moment after the request's answer.)
    wait_committed(&d, 3, 60);
    std::fs::write(&domain_file, domain_text(&legacy, false)).unwrap();
    hup(pid);
    let needle = "copy stopped: the domain's migration is paused";
    let log = wait_log(&d, needle, 1, 30);
    assert!(log.contains(needle), "no `{needle}` in:\n{log}");
    let (code, _, err) = cli(
        &cfg,
        &["migrate", "user", "bob@example.org", "--password-stdin"],
        "bob-pw\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("paused"), "{err}");
    let (_, out, _) = cli(
        &cfg,
        &["status", "--json", "--user", "alice@example.org"],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"][0]["state"], "copying", "{out}");
    assert_eq!(v["users"][0]["job"]["state"], "paused", "{out}");

    // Resume: the copy completes, every message once.
    std::fs::write(&domain_file, domain_text(&legacy, true)).unwrap();
    hup(pid);
    wait_state(&d, "alice@example.org", "migrated", 120);
    assert_eq!(committed_messages(&d.data_dir), 60);

    // The same through the admin API (token required).
    let admin = d.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let post = |path: &str, token: Option<&str>| {
        let mut c = Command::new("curl");
        c.args(["-s", "-w", "\n%{http_code}", "-X", "POST"]);
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {}", t.trim())]);
        }
        let out = c.arg(format!("http://{admin}{path}")).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(post("/api/domains/example.org/pause", None).ends_with("401"));
    let r = post("/api/domains/example.org/pause", Some(&token));
    assert!(r.ends_with("200") && r.contains("\"paused\": true"), "{r}");
    let (code, _, err) = cli(
        &cfg,
        &["migrate", "user", "bob@example.org", "--password-stdin"],
        "bob-pw\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("paused"), "{err}");
    let (_, out, _) = cli(&cfg, &["status"], "");
    assert!(out.contains("example.org (migrating) (paused)"), "{out}");
    let r = post("/api/domains/example.org/resume", Some(&token));
    assert!(r.ends_with("200"), "{r}");
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "bob@example.org", "--password-stdin"],
        "bob-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&d, "bob@example.org", "migrated", 60);
}
