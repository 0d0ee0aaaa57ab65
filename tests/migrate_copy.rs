//! On-login migration from a real Dovecot: the first POP3 login copies every
//! folder with its UIDVALIDITY, UIDs, flags, INTERNALDATEs and exact bytes; a
//! Courier-style namespace and a name containing `/` translate; a wrong password
//! creates nothing; a stopped legacy server gives a temporary failure.

mod common;
mod migrate_support;

use common::legacy::{Legacy, LegacyOptions};
use common::proc::peak_rss_kib;
use migrate_support::*;

fn seed_alice(legacy: &Legacy) -> usize {
    let mut c = legacy.imap("alice", "alice-pw");
    for f in [
        "Archive/2023",
        "Archive/2024/Q1",
        "Entw&APw-rfe",
        "&ZeVnLIqe-",
        "Sent Items",
    ] {
        c.ok(&format!("CREATE \"{f}\""));
    }
    let mut n = 0;
    for (i, folder) in [
        "INBOX",
        "Sent",
        "Archive/2023",
        "Archive/2024/Q1",
        "Entw&APw-rfe",
        "&ZeVnLIqe-",
        "Drafts",
    ]
    .iter()
    .enumerate()
    {
        for (j, (flags, date, body)) in sample_messages().into_iter().enumerate() {
            if (i + j) % 3 == 2 && *folder != "INBOX" {
                continue;
            }
            c.append(folder, flags, date, &body);
            n += 1;
        }
    }
    // A gap in the UIDs of INBOX.
    c.ok("SELECT INBOX");
    c.ok("UID STORE 2 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    n -= 1;
    c.ok("SUBSCRIBE \"Archive/2023\"");
    c.ok("SUBSCRIBE \"Entw&APw-rfe\"");
    c.logout();
    n
}

#[test]
fn first_login_copies_every_folder_keeping_uids() {
    let legacy = Legacy::start(LegacyOptions::default());
    let total = seed_alice(&legacy);
    let cfg = config(&legacy, "serve_locally_within_ms = 10000");
    let mut d = start_daemon(&cfg, None);
    let addr = d.addr("pop3", "plain");

    // A wrong password: the usual failure, and nothing is created.
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "not-her-password");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);
    p.cmd("QUIT");

    // The right one: the legacy server says yes, the copy runs; a small mailbox
    // is served locally within serve_locally_within.
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("+OK"), "{r}");
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);

    // After the switch the local store serves: 5 - 1 INBOX messages.
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("+OK Logged in, 4 messages"), "{r}");
    p.cmd("QUIT");

    let log = d.log_text();
    assert!(!log.contains("alice-pw"), "password in the log");
    assert!(log.contains("copy pass"), "{log}");
    d.terminate();

    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| match raw {
        "Entw&APw-rfe" => "Entwürfe".into(),
        "&ZeVnLIqe-" => "日本語".into(),
        other => other.into(),
    });
    let copied: usize = leg.values().map(|f| f.messages.len()).sum();
    assert_eq!(copied, total);
    assert_eq!(loc.legacy_map_rows as usize, total);
    // Special-use roles from the legacy SPECIAL-USE, plus the usual defaults.
    let su = |n: &str| loc.special_use.get(n).cloned().flatten();
    assert_eq!(su("Sent").as_deref(), Some("\\Sent"));
    assert_eq!(su("Drafts").as_deref(), Some("\\Drafts"));
    assert_eq!(su("Trash").as_deref(), Some("\\Trash"));
    assert_eq!(su("Junk").as_deref(), Some("\\Junk"));
    assert_eq!(su("Archive").as_deref(), Some("\\Archive"));
    assert_eq!(su("Sent Items"), None, "only one \\Sent");
    // Subscriptions carried over.
    for s in [
        "Archive/2023",
        "Entwürfe",
        "Sent",
        "Drafts",
        "Trash",
        "Junk",
    ] {
        assert!(
            loc.subscriptions.iter().any(|x| x == s),
            "{s} not subscribed: {:?}",
            loc.subscriptions
        );
    }
}

#[test]
fn courier_namespace_and_a_name_with_slash() {
    let legacy = Legacy::start(LegacyOptions {
        inbox_prefix: true,
        ..LegacyOptions::with_users(&["bob"])
    });
    let mut c = legacy.imap("bob", "bob-pw");
    c.ok("CREATE \"INBOX.Archive.2023\"");
    c.ok("CREATE \"INBOX.Q1/Q2 reports\"");
    for folder in [
        "INBOX",
        "INBOX.Sent",
        "INBOX.Archive.2023",
        "INBOX.Q1/Q2 reports",
    ] {
        for (flags, date, body) in sample_messages().into_iter().take(3) {
            c.append(folder, flags, date, &body);
        }
    }
    c.logout();
    let cfg = config(&legacy, "legacy_login = \"localpart\"");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("bob@example.org", "bob-pw");
    assert!(r.starts_with("+OK"), "{r}");
    p.cmd("QUIT");
    wait_state(&d, "bob@example.org", "migrated", 120);
    d.terminate();

    let leg = legacy_snapshot(&legacy, "bob", "bob-pw");
    assert!(leg.contains_key("INBOX.Q1/Q2 reports"), "{:?}", leg.keys());
    let loc = local_snapshot(&d.data_dir, "bob@example.org");
    assert_same(&leg, &loc, &|raw| match raw {
        "INBOX" => "INBOX".into(),
        "INBOX.Archive.2023" => "Archive/2023".into(),
        "INBOX.Q1/Q2 reports" => "Q1\u{2215}Q2 reports".into(),
        other => other.strip_prefix("INBOX.").unwrap().replace('.', "/"),
    });
    assert!(loc.folders.contains_key("Sent"));
    assert!(
        !loc.folders.keys().any(|k| k.starts_with("INBOX/")),
        "{:?}",
        loc.folders.keys()
    );
}

#[test]
fn legacy_down_is_a_temporary_failure_and_a_later_login_works() {
    let mut legacy = Legacy::start(LegacyOptions::default());
    let cfg = config(&legacy, "");
    let mut d = start_daemon(&cfg, None);
    let addr = d.addr("pop3", "plain");

    legacy.stop_dovecot();
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    p.cmd("QUIT");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);

    legacy.start_dovecot();
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("+OK"), "{r}");
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);
    d.terminate();
}

#[test]
fn a_50_mb_message_is_streamed_with_bounded_memory() {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut body =
        b"From: big@example.net\r\nSubject: big attachment\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let mut x: u32 = 12345;
    while body.len() < 50 * 1024 * 1024 {
        let line: String = (0..76)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x >> 16) as usize % 64] as char
            })
            .collect();
        body.extend_from_slice(line.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    let mut c = legacy.imap("alice", "alice-pw");
    c.append("INBOX", "\\Seen", "02-Jan-2024 10:00:00 +0000", &body);
    c.append(
        "INBOX",
        "",
        "03-Jan-2024 10:00:00 +0000",
        b"Subject: small\r\n\r\nsmall\r\n",
    );
    c.logout();
    drop(body);
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 300);
    let peak = peak_rss_kib(d.pid()) * 1024;
    eprintln!("peak RSS {} MB", peak / (1024 * 1024));
    assert!(
        peak < 100 * 1024 * 1024,
        "peak RSS {} MB while copying a 50 MB message",
        peak / (1024 * 1024)
    );
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    assert!(loc.folders["INBOX"].messages[0].size > 50 * 1024 * 1024);
}

fn set_domain_key(cfg: &common::TestConfig, from: &str, to: &str) {
    let path = cfg.dir.path().join("domains/example.org.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn an_unverifiable_legacy_certificate_is_a_temporary_failure() {
    let legacy = Legacy::start(LegacyOptions::default());
    let cfg = config(&legacy, "");
    // Dovecot's certificate is self-signed: with verification on, STARTTLS fails
    // and the password is never sent.
    set_domain_key(
        &cfg,
        "verify_certificate = false",
        "verify_certificate = true",
    );
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    p.cmd("QUIT");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);
    assert!(
        !legacy.dovecot_log().contains("user=<alice>"),
        "credentials reached the legacy server: {}",
        legacy.dovecot_log()
    );
    d.terminate();
}

#[test]
fn failed_legacy_checks_are_throttled_per_user() {
    let legacy = Legacy::start(LegacyOptions::default());
    let cfg = config(&legacy, "");
    let mut d = start_daemon(&cfg, None);
    let addr = d.addr("pop3", "plain");
    for i in 0..3 {
        let mut p = Pop::connect(addr);
        let r = p.login("alice@example.org", &format!("guess-{i}"));
        assert!(r.starts_with("-ERR [AUTH]"), "{r}");
        p.cmd("QUIT");
    }
    // The budget is spent: not even the right password is sent to the legacy
    // server now (no brute force through ferrymail, no lockout upstream).
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    p.cmd("QUIT");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);
    assert!(d.log_text().contains("reason=legacy-throttled"));
    d.terminate();
}
