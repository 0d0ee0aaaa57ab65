//! The switch and crash safety, against a real Dovecot: while a (deliberately
//! slowed) copy runs, POP3 sessions are relayed to the legacy server; changes
//! made on the legacy side meanwhile are present after the switch, which ends
//! the proxied sessions; `kill -9` during the copy, restart, login: the same
//! result with no duplicates and nothing fetched twice.

mod common;
mod migrate_support;

use std::time::{Duration, Instant};

use common::legacy::{Legacy, LegacyOptions};
use common::wait_until;
use migrate_support::*;

fn seed(legacy: &Legacy, folders: &[&str], per_folder: usize) {
    let mut c = legacy.imap("alice", "alice-pw");
    for f in folders {
        if !matches!(*f, "INBOX" | "Sent" | "Drafts" | "Trash" | "Junk") {
            c.ok(&format!("CREATE \"{f}\""));
        }
        let samples = sample_messages();
        for i in 0..per_folder {
            let (flags, date, body) = &samples[i % samples.len()];
            let mut body = body.clone();
            body.extend_from_slice(format!("\r\n-- {f} {i}\r\n").as_bytes());
            c.append(f, flags, date, &body);
        }
    }
    c.logout();
}

#[test]
fn proxied_while_copying_then_switched_with_legacy_changes() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, &["INBOX", "Archive"], 20);
    let cfg = config(
        &legacy,
        "serve_locally_within_ms = 0\nwhile_copying = \"proxy\"",
    );
    let mut d = start_daemon(&cfg, Some(150));
    let addr = d.addr("pop3", "plain");

    // The first login is relayed to the legacy POP3 server: Dovecot's UIDLs
    // (%08Xu%08Xv), not ferrymail's.
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert_eq!(r, "+OK Logged in", "first session must be proxied");
    assert_eq!(
        account_state(&d.data_dir, "alice@example.org").as_deref(),
        Some("copying")
    );
    assert!(p.cmd("UIDL").starts_with("+OK"));
    let uidls = p.multiline();
    assert_eq!(uidls.len(), 20, "{uidls:?}");
    for u in &uidls {
        let id = u.split(' ').nth(1).unwrap();
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{u}"
        );
    }
    assert!(p.cmd("QUIT").starts_with("+OK"));

    // A second proxied session stays open across the switch.
    let mut held = Pop::connect(addr);
    assert_eq!(held.login("alice@example.org", "alice-pw"), "+OK Logged in");
    assert!(held.cmd("STAT").starts_with("+OK 20 "));

    // Meanwhile on the legacy side: new mail, flag changes, an expunge.
    let mut c = legacy.imap("alice", "alice-pw");
    c.ok("SELECT INBOX");
    c.ok("UID STORE 1 +FLAGS (\\Flagged $Late)");
    c.ok("UID STORE 3 -FLAGS (\\Seen)");
    c.ok("UID STORE 2 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    c.append(
        "INBOX",
        "",
        "20-Nov-2026 09:00:00 +0100",
        b"From: late@example.net\r\nSubject: arrived during the copy\r\n\r\nlate\r\n",
    );
    c.append(
        "Archive",
        "\\Seen",
        "21-Nov-2026 09:00:00 +0100",
        b"From: late@example.net\r\nSubject: filed during the copy\r\n\r\nlate\r\n",
    );
    c.logout();

    wait_state(&d, "alice@example.org", "migrated", 180);
    // The switch ended the proxied session.
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(held.line().is_none(), "proxied session not ended");
    assert!(Instant::now() < deadline);

    // From now on, served locally, with the legacy server's UIDLs: a "leave
    // mail on server" POP3 client downloads nothing twice.
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("+OK Logged in, 20 messages"), "{r}");
    assert!(p.cmd("UIDL").starts_with("+OK"));
    let ours = p.multiline();
    p.cmd("QUIT");
    let mut lp = Pop::connect(([127, 0, 0, 1], legacy.pop3_port).into());
    assert!(lp.login("alice", "alice-pw").starts_with("+OK"));
    assert!(lp.cmd("UIDL").starts_with("+OK"));
    let theirs = lp.multiline();
    lp.cmd("QUIT");
    assert_eq!(ours, theirs);
    assert_eq!(ours[..1], uidls[..1], "UIDL of the first message kept");
    let log = d.log_text();
    assert!(log.contains("switch: logins held"), "{log}");
    assert!(!log.contains("alice-pw"));
    d.terminate();

    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    let inbox = &loc.folders["INBOX"].messages;
    assert!(!inbox.iter().any(|m| m.uid == 2), "expunge mirrored");
    assert!(inbox
        .iter()
        .any(|m| m.uid == 1 && m.flags.contains("$Late")));
    assert_eq!(loc.folders["Archive"].messages.len(), 21);
}

#[test]
fn kill_9_during_the_copy_then_login_resumes_without_duplicates() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, &["Archive", "INBOX", "Sent"], 12);
    let total = 36;
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, Some(120));
    let addr = d.addr("pop3", "plain");

    let mut p = Pop::connect(addr);
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    // Wait until the first folder is committed, then kill -9 mid-copy.
    wait_committed(&d, 12, 120);
    d.kill9();
    let before = committed_messages(&d.data_dir);
    assert!(before < total, "copy finished before the kill");
    assert_eq!(
        account_state(&d.data_dir, "alice@example.org").as_deref(),
        Some("copying")
    );
    let log_len = d.log_text().len();

    // Restart (no slow-down) and log in: the copy resumes.
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);
    let log = strip_ansi(&d.log_text()[log_len..]);
    let expected = format!("messages={}", total - before);
    let copy_line = log
        .lines()
        .find(|l| l.contains("copy pass") && l.contains("pass=\"copy\""))
        .unwrap_or_else(|| panic!("no copy line: {log}"));
    assert!(
        copy_line.contains(&expected),
        "resumed copy fetched again what was committed: {copy_line} (expected {expected})"
    );
    d.terminate();

    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    assert_eq!(loc.legacy_map_rows, total);
    let stored: usize = loc.folders.values().map(|f| f.messages.len()).sum();
    assert_eq!(stored as i64, total, "duplicates");
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn concurrent_first_logins_start_exactly_one_copy() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, &["INBOX"], 10);
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, Some(100));
    let addr = d.addr("pop3", "plain");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut p = Pop::connect(addr);
                let r = p.login("alice@example.org", "alice-pw");
                p.cmd("QUIT");
                r
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert!(r.starts_with("+OK"), "{r}");
    }
    wait_state(&d, "alice@example.org", "migrated", 120);
    let log = strip_ansi(&d.log_text());
    let copies = log
        .lines()
        .filter(|l| l.contains("copy pass") && l.contains("pass=\"copy\""))
        .count();
    assert_eq!(copies, 1, "{log}");
    let created = log
        .lines()
        .filter(|l| l.contains("account state changed") && l.contains("to=\"copying\""))
        .count();
    assert_eq!(created, 1, "{log}");
    d.terminate();
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_eq!(loc.folders["INBOX"].messages.len(), 10);
}

#[test]
fn reject_and_wait_modes() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    seed(&legacy, &["INBOX"], 10);
    let mut c = legacy.imap("bob", "bob-pw");
    for (flags, date, body) in sample_messages() {
        c.append("INBOX", flags, date, &body);
    }
    c.logout();

    // reject: a clear temporary failure while the copy runs; the account exists.
    let cfg = config(
        &legacy,
        "serve_locally_within_ms = 0\nwhile_copying = \"reject\"",
    );
    let mut d = start_daemon(&cfg, Some(100));
    let addr = d.addr("pop3", "plain");
    let mut p = Pop::connect(addr);
    let r = p.login("alice@example.org", "alice-pw");
    assert!(
        r.starts_with("-ERR [SYS/TEMP]") && r.contains("moved"),
        "{r}"
    );
    p.cmd("QUIT");
    assert!(account_state(&d.data_dir, "alice@example.org").is_some());
    wait_state(&d, "alice@example.org", "migrated", 120);
    let mut p = Pop::connect(addr);
    assert!(p
        .login("alice@example.org", "alice-pw")
        .starts_with("+OK Logged in, 10 messages"));
    p.cmd("QUIT");
    d.terminate();

    // wait: the login is held until the copy is done, then served locally.
    let cfg2 = config(
        &legacy,
        "serve_locally_within_ms = 0\nwhile_copying = \"wait\"\nwait_secs = 120",
    );
    let mut d = start_daemon(&cfg2, Some(50));
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("bob@example.org", "bob-pw");
    assert!(r.starts_with("+OK Logged in, 5 messages"), "{r}");
    p.cmd("QUIT");
    d.terminate();
}

#[test]
fn a_copy_interrupted_by_the_legacy_server_is_retried_with_backoff() {
    let mut legacy = Legacy::start(LegacyOptions::default());
    // Large enough that the fetch cannot sit whole in socket buffers.
    let mut c = legacy.imap("alice", "alice-pw");
    for i in 0..20 {
        let mut body = format!("Subject: part {i}\r\n\r\n").into_bytes();
        for j in 0..4000 {
            body.extend_from_slice(
                format!("line {j} of message {i}, padding padding padding\r\n").as_bytes(),
            );
        }
        c.append("INBOX", "", "01-Jan-2024 10:00:00 +0000", &body);
    }
    c.logout();
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, Some(150));
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    std::thread::sleep(Duration::from_millis(800));
    // The legacy server goes away mid-copy: its IMAP processes (children of this
    // test's own Dovecot, found by parent id) first, then Dovecot itself.
    kill_imap_children(&legacy);
    legacy.stop_dovecot();
    wait_until(
        30,
        50,
        || strip_ansi(&d.log_text()).contains("migration attempt failed"),
        || d.log_text(),
    );
    legacy.start_dovecot();
    wait_state(&d, "alice@example.org", "migrated", 120);
    d.terminate();
    let c = rusqlite::Connection::open(d.data_dir.join("ferrymail.sqlite")).unwrap();
    let (state, attempts, error): (String, i64, Option<String>) = c
        .query_row(
            "SELECT state, attempts, last_error FROM migration_jobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(state, "done");
    assert!(attempts >= 2, "{attempts}");
    assert!(error.is_some());
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    assert_eq!(loc.legacy_map_rows, 20);
}

/// SIGKILLs the `imap` processes of this test's Dovecot (by id, children of its
/// master process).
fn kill_imap_children(legacy: &Legacy) {
    let master: i32 = std::fs::read_to_string(legacy.path().join("run/master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
        let ppid: i32 = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        if ppid == master && comm == "imap" {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn a_big_mailbox_never_delays_the_first_login() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed_maildir(&legacy, "alice", "alice-pw", 1500);
    // A generous bound: a small mailbox would be waited for and served locally.
    let cfg = config(&legacy, "serve_locally_within_ms = 120000");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    // Over 1,000 messages: proxied at once rather than held for the copy.
    assert_eq!(p.login("alice@example.org", "alice-pw"), "+OK Logged in");
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 300);
    d.terminate();
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_eq!(loc.folders["INBOX"].messages.len(), 1500);
}
