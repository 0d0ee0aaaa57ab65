//! The admin's operations on a POP3-source domain (`[migration] source =
//! "pop3"`, no legacy IMAP server at all), against a real Dovecot POP3 service
//! and `ferrymail serve`: `migrate user` and `migrate bulk` check passwords on
//! the POP3 server and run the one migration sequence, the copied INBOX keeps
//! the legacy UIDLs in order, `--messages-only` and `finish` bring over what
//! reached the legacy server after the switch.

mod common;

use std::net::SocketAddr;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{cli, row, state, stored, wait_state};
use common::pyclients::run_login_script;
use common::{Daemon, TestConfig};

fn config(legacy: &Legacy) -> TestConfig {
    let domain = migrating(
        legacy,
        MigratingDomain {
            migration: "source = \"pop3\"\ntimeout_secs = 20\nserve_locally_within_ms = 0",
            imap: false,
            pop3: true,
            ..Default::default()
        },
    );
    TestConfig::new(
        &server(PLAINTEXT, &["pop3", "admin"]),
        &[("example.org", &domain)],
    )
}

fn seed(legacy: &Legacy, user: &str, pw: &str, from: usize, n: usize) {
    let mut c = legacy.imap(user, pw);
    for i in from..from + n {
        let body = format!(
            "From: x@example.net\r\nTo: {user}@example.org\r\nSubject: Grüße {i}\r\n\r\nbody {i}\r\n"
        );
        c.append("INBOX", "", "06-Jan-2020 10:00:00 +0100", body.as_bytes());
    }
    c.logout();
}

/// The UIDL listing a POP3 server gives `user` (Python's poplib).
fn uidls(addr: SocketAddr, user: &str, pass: &str) -> Vec<String> {
    let script = r#"
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
p.user(sys.argv[3]); p.pass_(sys.stdin.readline().rstrip("\n"))
_, uidl, _ = p.uidl()
for l in uidl: print(l.decode())
p.quit()
"#;
    run_login_script(script, addr, user, pass)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn migrate_user_bulk_messages_only_and_finish_on_a_pop3_source() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob", "carol"]));
    seed(&legacy, "alice", "alice-pw", 0, 3);
    seed(&legacy, "bob", "bob-pw", 0, 2);
    let legacy_pop3: SocketAddr = ([127, 0, 0, 1], legacy.pop3_port).into();
    let cfg = config(&legacy);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());

    // migrate user: the password is checked on the POP3 server, the copy queued.
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "alice@example.org", "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("queued"), "{out}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    assert_eq!(stored(&cfg, "alice@example.org"), 3);
    let ours = d.addr("pop3", "plain");
    let theirs = uidls(legacy_pop3, "alice", "alice-pw");
    assert_eq!(theirs.len(), 3);
    assert_eq!(uidls(ours, "alice@example.org", "alice-pw"), theirs);

    // migrate bulk: a good line and a wrong password.
    let file = cfg.dir.path().join("users.txt");
    std::fs::write(
        &file,
        "bob@example.org:bob-pw\ncarol@example.org:not-carols\n",
    )
    .unwrap();
    let (code, out, err) = cli(&cfg, &["migrate", "bulk", file.to_str().unwrap()], "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(row(&out, 1).contains("queued"), "{out}");
    assert!(
        row(&out, 2).contains("error") && row(&out, 2).contains("refused"),
        "{out}"
    );
    assert!(!out.contains("not-carols") && !err.contains("not-carols"));
    wait_state(&cfg, &d, "bob@example.org", "migrated");
    assert_eq!(state(&cfg, "carol@example.org"), None);
    assert_eq!(stored(&cfg, "bob@example.org"), 2);

    // Mail that reached the legacy server after the switch: --messages-only
    // (password from the admin's earlier request) brings it over ...
    seed(&legacy, "alice", "alice-pw", 3, 2);
    let (code, out, err) = cli(
        &cfg,
        &["migrate", "user", "alice@example.org", "--messages-only"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 new messages"), "{out}");
    assert_eq!(stored(&cfg, "alice@example.org"), 5);
    // ... and finish's final sweep too.
    seed(&legacy, "bob", "bob-pw", 2, 1);
    let (code, out, err) = cli(&cfg, &["finish", "--domain", "example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 users finished"), "{out}");
    assert_eq!(stored(&cfg, "bob@example.org"), 3);
    assert_eq!(state(&cfg, "bob@example.org").as_deref(), Some("finished"));
    // No pass ever deleted anything on the legacy server.
    assert_eq!(uidls(legacy_pop3, "alice", "alice-pw").len(), 5);
    assert_eq!(uidls(legacy_pop3, "bob", "bob-pw").len(), 3);
    drop(d);
}
