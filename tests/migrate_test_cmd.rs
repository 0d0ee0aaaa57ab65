//! `ferrymail migrate test` against a real Dovecot and Postfix: the admin
//! credential and the user's own password work (folders listed with counts and
//! local names, a non-ASCII folder decoded, a copy time estimated); a wrong
//! admin password, a server refusing STARTTLS and an unknown host are one
//! problem line each; the pending users are sampled; nothing changes, neither
//! in the data dir nor on the legacy server, and no password is printed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use common::domains::{admin_section, migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions, MASTER_PASSWORD};
use common::ops::{cli, users_import};
use common::TestConfig;

const MIGRATION: &str = "timeout_secs = 10";

/// A configuration for `domain` (the text of its file), with a
/// `[migration.admin]` of `method` when given.
fn config(domain: &str, admin: Option<&str>) -> TestConfig {
    let cfg = TestConfig::new(&server(PLAINTEXT, &["imap"]), &[]);
    let mut text = domain.to_string();
    if let Some(method) = admin {
        text.push_str(&admin_section(cfg.dir.path(), method));
    }
    std::fs::write(cfg.dir.path().join("domains/example.org.toml"), text).unwrap();
    cfg
}

/// The domain file for `legacy` (its Postfix as the legacy SMTP server).
fn domain_file(legacy: &Legacy, d: MigratingDomain) -> String {
    let migration = if d.migration.is_empty() {
        MIGRATION
    } else {
        d.migration
    };
    migrating(
        legacy,
        MigratingDomain {
            migration,
            postfix: true,
            ..d
        },
    )
}

fn test(cfg: &TestConfig, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["migrate", "test", "--domain", "example.org"];
    all.extend_from_slice(args);
    cli(cfg, &all, stdin)
}

/// The `problem:` lines of stderr.
fn problems(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("problem:")).collect()
}

fn no_secret(out: &str, err: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s} shown:\n{out}{err}"
        );
    }
}

/// Unseen messages of alice's INBOX on the legacy server.
fn unseen(legacy: &Legacy) -> String {
    let mut c = legacy.imap("alice", "alice-pw");
    let lines = c.ok("STATUS INBOX (MESSAGES UNSEEN)");
    c.logout();
    lines[0].text.clone()
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                out.extend(snapshot(&e.path()));
            } else {
                out.push((
                    e.path().display().to_string(),
                    m.len(),
                    m.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A fake IMAP server on loopback that advertises STARTTLS (or not, with
/// `offer = false`) and refuses it.
fn fake_imap(offer: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let caps = if offer {
        "IMAP4rev1 STARTTLS LOGIN"
    } else {
        "IMAP4rev1 LOGIN"
    };
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let _ = write!(w, "* OK [CAPABILITY {caps}] fake ready\r\n");
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { return };
                    let mut it = line.splitn(3, ' ');
                    let (tag, cmd) = (it.next().unwrap_or("*"), it.next().unwrap_or(""));
                    let reply = match cmd.to_ascii_uppercase().as_str() {
                        "STARTTLS" => format!("{tag} NO TLS is not configured here\r\n"),
                        "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n"),
                        "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
                        _ => format!("{tag} BAD unexpected\r\n"),
                    };
                    if w.write_all(reply.as_bytes()).is_err() || cmd.eq_ignore_ascii_case("LOGOUT")
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn dry_run_reports_problems_and_changes_nothing() {
    let legacy = Legacy::start(LegacyOptions {
        postfix: true,
        ..LegacyOptions::with_users(&["alice", "bob"])
    });
    let mut c = legacy.imap("alice", "alice-pw");
    for i in 0..3 {
        let body = format!("From: x@example.net\r\nSubject: m{i}\r\n\r\nbody {i}\r\n");
        c.append("INBOX", "", "06-Jan-2020 10:00:00 +0100", body.as_bytes());
    }
    c.ok("CREATE \"Entw&APw-rfe\"");
    c.append(
        "Entw&APw-rfe",
        "\\Draft",
        "06-Jan-2020 10:00:00 +0100",
        b"Subject: draft\r\n\r\nnot yet\r\n",
    );
    c.logout();
    let before = unseen(&legacy);
    assert!(before.contains("UNSEEN 3"), "{before}");

    // (1) The admin credential acting for alice: servers, folders, estimate.
    let imap_pop3 = domain_file(
        &legacy,
        MigratingDomain {
            pop3: true,
            ..Default::default()
        },
    );
    let cfg = config(&imap_pop3, Some("master"));
    let (code, out, err) = test(&cfg, &["--user", "alice"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(problems(&err).is_empty(), "{err}");
    assert!(out.contains("legacy IMAP 127.0.0.1"), "{out}");
    assert!(out.contains("capabilities before STARTTLS"), "{out}");
    assert!(out.contains("legacy POP3 127.0.0.1"), "{out}");
    assert!(out.contains("legacy SMTP 127.0.0.1") && out.contains("EHLO capabilities"));
    assert!(out.contains("takes mail for alice@example.org"), "{out}");
    assert!(out.contains("IMAP login: ok"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
            .to_string()
    };
    let inbox = row("INBOX ");
    assert!(
        inbox.contains("-> INBOX") && inbox.contains(" 3 "),
        "{inbox}"
    );
    let drafts = row("Entw&APw-rfe");
    assert!(
        drafts.contains("-> Entwürfe") && drafts.contains(" 1 "),
        "{drafts}"
    );
    assert!(row("Sent ").contains("\\Sent"), "{out}");
    assert!(out.contains("POP3 login: ok; 3 messages"), "{out}");
    assert!(out.contains("fetch rate: 3 messages"), "{out}");
    assert!(out.contains("estimated copy time:"), "{out}");
    assert!(out.contains("OK: everything"), "{out}");
    no_secret(&out, &err, &[MASTER_PASSWORD]);

    // (2) The user's own password on standard input; a wrong one is one line.
    let cfg2 = config(&imap_pop3, None);
    let (code, out, err) = test(
        &cfg2,
        &["--user", "alice", "--password-stdin"],
        "alice-pw\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Entwürfe"), "{out}");
    no_secret(&out, &err, &["alice-pw"]);
    let (code, out, err) = test(
        &cfg2,
        &["--user", "alice", "--password-stdin"],
        "bad-alice\n",
    );
    assert_ne!(code, 0, "{out}{err}");
    let p = problems(&err);
    assert_eq!(p.len(), 1, "{err}");
    assert!(
        p[0].contains("refused the password of alice@example.org"),
        "{err}"
    );
    no_secret(&out, &err, &["bad-alice"]);
    // Without a password or an admin credential: what to give.
    let (code, _, err) = test(&cfg2, &["--user", "alice"], "");
    assert_ne!(code, 0);
    assert!(problems(&err)[0].contains("--password-stdin"), "{err}");

    // (3) A wrong admin password: one line naming the admin credential.
    std::fs::write(cfg.dir.path().join("legacy-admin"), "not-the-master-pw\n").unwrap();
    let (code, out, err) = test(&cfg, &["--user", "alice"], "");
    assert_ne!(code, 0, "{out}{err}");
    let p = problems(&err);
    assert_eq!(p.len(), 1, "{err}");
    assert!(
        p[0].contains("admin credential refused for alice@example.org")
            && p[0].contains("[migration.admin]"),
        "{err}"
    );
    no_secret(&out, &err, &["not-the-master-pw", MASTER_PASSWORD]);

    // (4) STARTTLS refused, or not offered: one line each, saying what to set.
    for (offer, said) in [(true, "STARTTLS refused"), (false, "STARTTLS not offered")] {
        let port = fake_imap(offer);
        let text = domain_file(
            &legacy,
            MigratingDomain {
                imap_port: Some(port),
                ..Default::default()
            },
        );
        let cfg4 = config(&text, Some("master"));
        let (code, out, err) = test(&cfg4, &["--user", "alice"], "");
        assert_ne!(code, 0, "{out}{err}");
        let p = problems(&err);
        assert_eq!(p.len(), 1, "{err}");
        assert!(
            p[0].contains(&format!("legacy IMAP 127.0.0.1:{port}: {said}"))
                && p[0].contains("set tls = \"none\" in [migration.imap]"),
            "{err}"
        );
    }

    // (5) An unknown host: one line.
    let text = domain_file(&legacy, MigratingDomain::default()).replacen(
        "host = \"127.0.0.1\"",
        "host = \"no-such-host.invalid\"",
        1,
    );
    let cfg5 = config(&text, Some("authzid"));
    let (code, out, err) = test(&cfg5, &["--user", "alice"], "");
    assert_ne!(code, 0, "{out}{err}");
    let p = problems(&err);
    assert_eq!(p.len(), 1, "{err}");
    assert!(
        p[0].contains("cannot resolve/connect no-such-host.invalid:")
            && p[0].contains("[migration.imap]"),
        "{err}"
    );

    // POP3 as the source, with the authzid method.
    let pop3_source = domain_file(
        &legacy,
        MigratingDomain {
            migration: "source = \"pop3\"\ntimeout_secs = 10",
            imap: false,
            pop3: true,
            ..Default::default()
        },
    );
    let cfg6 = config(&pop3_source, Some("authzid"));
    let (code, out, err) = test(&cfg6, &["--user", "alice"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("INBOX -> INBOX  3 messages"), "{out}");
    assert!(out.contains("fetch rate: 3 messages"), "{out}");

    // (6) Nothing changed: no data dir was made by any of these runs ...
    for c in [&cfg, &cfg2, &cfg5, &cfg6] {
        assert!(!c.data_dir().exists(), "{:?}", snapshot(&c.data_dir()));
    }
    // ... and the legacy messages are still unseen (EXAMINE, BODY.PEEK, no QUIT).
    assert_eq!(unseen(&legacy), before);

    // Without --user: the admin credential for the pending users, read-only.
    let cfg7 = config(&imap_pop3, Some("master"));
    let (code, _, err) = users_import(&cfg7, "example.org", "alice\nbob@example.org\n");
    assert_eq!(code, 0, "{err}");
    let files = snapshot(&cfg7.data_dir());
    let (code, out, err) = test(&cfg7, &[], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("for 2 pending users"), "{out}");
    assert!(out.contains("user alice@example.org") && out.contains("user bob@example.org"));
    assert!(out.contains("sample of 2 users"), "{out}");
    no_secret(&out, &err, &[MASTER_PASSWORD]);
    assert_eq!(snapshot(&cfg7.data_dir()), files);
    assert_eq!(
        common::ops::state(&cfg7, "alice@example.org").as_deref(),
        Some("pending")
    );
    assert_eq!(unseen(&legacy), before);

    // No --user and nobody pending: says what to give.
    let (code, _, err) = test(&cfg, &[], "");
    assert_ne!(code, 0);
    assert!(problems(&err)[0].contains("no pending users"), "{err}");
    assert!(!cfg.data_dir().exists());
}
