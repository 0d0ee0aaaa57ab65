//! POP3 users across the move, against the real legacy Dovecot's POP3 service
//! (`pop3_uidl_format = %08Xu%08Xv`): the legacy UIDLs served verbatim after an
//! IMAP-source migration, a POP3-source migration (no DELE, UIDLs kept, delta
//! passes copy only new UIDLs), and real clients (Python poplib, fetchmail with
//! `keep` + `uidl`) that download nothing twice.

mod common;
mod migrate_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::legacy::{Legacy, LegacyOptions};
use common::pyclients::{run_login_script, run_python};
use common::TestConfig;
use migrate_support::*;

/// `n` distinct INBOX messages on the legacy side; the first has Received
/// fields (its INTERNALDATE over POP3 comes from the topmost one).
fn seed(legacy: &Legacy, n: usize) {
    let mut c = legacy.imap("alice", "alice-pw");
    let samples = sample_messages();
    for i in 0..n {
        let (flags, date, body) = &samples[i % samples.len()];
        let mut body = body.clone();
        if i == 0 {
            let mut b = b"Received: from relay.example.net by mx.example.org; Tue, 17 Nov 2026 08:30:00 +0100\r\nReceived: from client by relay.example.net;\r\n Mon, 16 Nov 2026 23:59:00 +0000\r\n".to_vec();
            b.extend_from_slice(&body);
            body = b;
        }
        body.extend_from_slice(format!("\r\n-- message {i}\r\n..a stuffed line\r\n").as_bytes());
        c.append("INBOX", flags, date, &body);
    }
    c.logout();
}

/// What Python's poplib sees: `(uidl lines, list lines, sha256 of every RETR)`.
#[derive(Debug, PartialEq, Eq)]
struct PopView {
    uidl: Vec<String>,
    list: Vec<String>,
    retr: Vec<String>,
}

fn poplib(addr: SocketAddr, user: &str, pass: &str) -> PopView {
    let script = r#"
import poplib, hashlib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
p.user(sys.argv[3]); p.pass_(sys.stdin.readline().rstrip("\n"))
_, uidl, _ = p.uidl()
_, lst, _ = p.list()
for l in uidl: print("U " + l.decode())
for l in lst: print("L " + l.decode())
for l in lst:
    n = int(l.split()[0])
    _, lines, _ = p.retr(n)
    print("R " + hashlib.sha256(b"".join(x + b"\r\n" for x in lines)).hexdigest())
p.quit()
"#;
    let text = run_login_script(script, addr, user, pass);
    let pick = |p: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(p))
            .map(str::to_string)
            .collect()
    };
    PopView {
        uidl: pick("U "),
        list: pick("L "),
        retr: pick("R "),
    }
}

fn legacy_addr(legacy: &Legacy) -> SocketAddr {
    ([127, 0, 0, 1], legacy.pop3_port).into()
}

/// The first login starts the migration; waits until it is flipped.
fn migrate(d: &common::Daemon) {
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("+OK"), "{r}");
    p.cmd("QUIT");
    wait_state(d, "alice@example.org", "migrated", 180);
}

fn dele_count(log: &str) -> usize {
    // Dovecot's POP3 logout line: `... del=D/M, ...`.
    log.lines()
        .filter_map(|l| l.split("del=").nth(1))
        .filter_map(|s| s.split('/').next())
        .filter_map(|n| n.parse::<usize>().ok())
        .sum()
}

#[test]
fn imap_source_200_messages_same_uidl_list_sizes_and_bytes() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 200);
    let before = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(before.uidl.len(), 200);
    let cfg = config(&legacy, "");
    let mut d = start_daemon(&cfg, None);
    migrate(&d);
    let ours = poplib(d.addr("pop3", "plain"), "alice@example.org", "alice-pw");
    let theirs = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(theirs, before);
    assert_eq!(ours.uidl, theirs.uidl, "UIDL line for line");
    assert_eq!(ours.list, theirs.list, "LIST sizes");
    assert_eq!(ours.retr, theirs.retr, "RETR bytes");
    let log = d.log_text();
    assert!(
        log.contains("legacy POP3 UIDLs carried over") && log.contains("by_uid=200"),
        "{log}"
    );
    assert!(!log.contains("alice-pw"));
    d.terminate();
}

fn pop3_source(legacy: &Legacy, extra: &str) -> TestConfig {
    config(legacy, &format!("source = \"pop3\"\n{extra}"))
}

#[test]
fn pop3_source_full_copy_then_delta_without_dele() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 40);
    let before = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    let cfg = pop3_source(&legacy, "continuous = true");
    let mut d = start_daemon(&cfg, None);
    migrate(&d);
    // The copy's time reaches the job record (`status`), as for an IMAP source.
    let db = rusqlite::Connection::open(d.data_dir.join("ferrymail.sqlite")).unwrap();
    let job = || -> (String, i64) {
        db.query_row(
            "SELECT j.state, j.copy_ms FROM migration_jobs j JOIN accounts a ON a.id = j.account_id
             WHERE a.address = 'alice@example.org'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    // The job is marked done just after the account flips.
    common::wait_until(10, 50, || job().0 == "done", || format!("{:?}", job()));
    let (state, copy_ms) = job();
    assert_eq!(state, "done");
    assert!(copy_ms > 0, "copy time recorded: {copy_ms} ms");
    drop(db);
    let ours = poplib(d.addr("pop3", "plain"), "alice@example.org", "alice-pw");
    let theirs = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(theirs, before, "legacy maildrop unchanged");
    assert_eq!(ours, theirs, "UIDLs, sizes and bytes kept in legacy order");

    // New mail on the legacy side; the next login's delta pass copies it, and
    // only it.
    let mut c = legacy.imap("alice", "alice-pw");
    c.append(
        "INBOX",
        "",
        "23-Nov-2026 10:00:00 +0000",
        b"From: late@example.net\r\nSubject: after the move\r\n\r\nlate\r\n",
    );
    c.logout();
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    wait_committed(&d, 41, 60);
    // Once more: nothing new.
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    let ours = poplib(d.addr("pop3", "plain"), "alice@example.org", "alice-pw");
    let theirs = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(theirs.uidl.len(), 41);
    assert_eq!(ours, theirs);
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = d.log_text();
        if log.matches("pass=\"continuous\"").count() + log.matches("pass=continuous").count() >= 2
        {
            break log;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log.contains("messages=1"), "{log}");
    assert!(!log.contains("alice-pw"));
    d.terminate();
    assert_eq!(committed_messages(&d.data_dir), 41, "no duplicates");
    let dlog = legacy.dovecot_log();
    assert!(dlog.contains("del=0/"), "Dovecot logs POP3 logouts: {dlog}");
    assert_eq!(dele_count(&dlog), 0, "no DELE on the legacy side");

    // Nothing marked \Seen (mark_seen = false); INTERNALDATE from the topmost
    // Received field (17 Nov 2026 07:30 UTC), else Date.
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    let inbox = &loc.folders["INBOX"].messages;
    assert_eq!(inbox.len(), 41);
    assert!(
        inbox.iter().all(|m| !m.flags.contains("\\Seen")),
        "{inbox:?}"
    );
    assert_eq!(inbox[0].date, (1_794_900_600, 60));
    let uids: Vec<u32> = inbox.iter().map(|m| m.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn pop3_source_mark_seen_and_wrong_password() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 3);
    let cfg = pop3_source(&legacy, "mark_seen = true");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("alice@example.org", "wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);
    migrate(&d);
    d.terminate();
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    let inbox = &loc.folders["INBOX"].messages;
    assert_eq!(inbox.len(), 3);
    assert!(inbox.iter().all(|m| m.flags.contains("\\Seen")));
}

// ----- fetchmail -----

fn fetchmail(dir: &Path, port: u16, user: &str) -> usize {
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let before = std::fs::read_dir(&out_dir).unwrap().count();
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\npoll 127.0.0.1 service {port} protocol POP3 uidl\n  user \"{user}\" password \"alice-pw\"\n  keep\n  sslproto ''\n  mda \"cat > $(mktemp {out}/m.XXXXXX)\"\n",
            out = out_dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("fetchmail")
        .arg("-f")
        .arg(&rc)
        .arg("-i")
        .arg(dir.join("fetchids"))
        .args(["--keep", "--uidl", "--nodetach", "-v"])
        .env("HOME", dir)
        .env("FETCHMAILHOME", dir)
        .output()
        .expect("fetchmail");
    // 0: mail fetched, 1: no mail.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fetchmail: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(&out_dir).unwrap().count() - before
}

#[test]
fn fetchmail_keep_downloads_nothing_twice_across_the_move() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 12);
    let cfg = config(&legacy, "");
    // Users keep their login name: bare `alice` takes the default domain.
    let text = std::fs::read_to_string(cfg.path()).unwrap();
    std::fs::write(
        cfg.path(),
        format!("default_domain = \"example.org\"\n{text}\n[smtp]\nlisten = [\"127.0.0.1:0\"]\n"),
    )
    .unwrap();
    let client = tempfile::tempdir().unwrap();
    assert_eq!(fetchmail(client.path(), legacy.pop3_port, "alice"), 12);
    assert_eq!(fetchmail(client.path(), legacy.pop3_port, "alice"), 0);

    let mut d = start_daemon(&cfg, None);
    migrate(&d);
    // fetchmail remembers UIDLs per user and server name: the same name
    // (127.0.0.1), now ferrymail's port.
    let port = d.addr("pop3", "plain").port();
    assert_eq!(fetchmail(client.path(), port, "alice"), 0, "nothing twice");

    // One new message through ferrymail's SMTP: exactly one download.
    let smtp = d.addr("smtp", "plain");
    let script = r#"
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=60)
s.sendmail("bob@example.net", ["alice@example.org"], b"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: new\r\n\r\nhello\r\n")
s.quit()
"#;
    run_python(
        script,
        &[&smtp.ip().to_string(), &smtp.port().to_string()],
        "",
    );
    assert_eq!(fetchmail(client.path(), port, "alice"), 1);
    assert_eq!(fetchmail(client.path(), port, "alice"), 0);

    // ferrymail's own UIDL for it: stable across sessions and a restart, and
    // not one of the legacy values.
    let view1 = poplib(d.addr("pop3", "plain"), "alice", "alice-pw");
    let legacy_view = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(view1.uidl.len(), 13);
    assert_eq!(view1.uidl[..12], legacy_view.uidl[..]);
    let own = view1.uidl[12].split(' ').nth(1).unwrap().to_string();
    assert!(!legacy_view.uidl.iter().any(|l| l.ends_with(&own)));
    d.terminate();
    let d = start_daemon(&cfg, None);
    let view2 = poplib(d.addr("pop3", "plain"), "alice", "alice-pw");
    assert_eq!(view1.uidl, view2.uidl);
    drop(d);
}

#[test]
fn pop3_source_never_sends_the_password_when_tls_fails() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 1);
    let cfg = pop3_source(&legacy, "");
    // The legacy certificate is self-signed: with verification on, STLS fails.
    let file = cfg.dir.path().join("domains/example.org.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("verify_certificate = false", "verify_certificate = true"),
    )
    .unwrap();
    let d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let r = p.login("alice@example.org", "alice-pw");
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    assert_eq!(account_state(&d.data_dir, "alice@example.org"), None);
    let dlog = legacy.dovecot_log();
    let pop3: Vec<&str> = dlog.lines().filter(|l| l.contains("pop3-login")).collect();
    assert!(!pop3.is_empty(), "{dlog}");
    assert!(
        pop3.iter()
            .all(|l| l.contains("user=<>") && !l.contains("auth failed")),
        "{dlog}"
    );
    drop(d);
}

#[test]
fn uidls_not_derived_from_uids_are_matched_by_content() {
    let mut legacy = Legacy::start(LegacyOptions::default());
    seed(&legacy, 8);
    // Two identical messages: they pair in order.
    let mut c = legacy.imap("alice", "alice-pw");
    for _ in 0..2 {
        c.append(
            "INBOX",
            "",
            "22-Nov-2026 10:00:00 +0000",
            b"From: same@example.net\r\nSubject: twice\r\n\r\nsame\r\n",
        );
    }
    c.logout();
    // UIDLs the legacy server does not derive from the UID: the maildir file
    // name (`%g`).
    let conf = legacy.path().join("dovecot.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("pop3_uidl_format = %08Xu%08Xv"));
    std::fs::write(
        &conf,
        text.replace("pop3_uidl_format = %08Xu%08Xv", "pop3_uidl_format = %g"),
    )
    .unwrap();
    legacy.stop_dovecot();
    legacy.start_dovecot();
    let theirs = poplib(legacy_addr(&legacy), "alice", "alice-pw");
    assert_eq!(theirs.uidl.len(), 10);
    assert!(
        theirs
            .uidl
            .iter()
            .all(|l| l.split(' ').nth(1).unwrap().len() != 16),
        "{:?}",
        theirs.uidl
    );
    let cfg = config(&legacy, "");
    let mut d = start_daemon(&cfg, None);
    migrate(&d);
    let ours = poplib(d.addr("pop3", "plain"), "alice@example.org", "alice-pw");
    assert_eq!(ours, theirs);
    let log = d.log_text();
    assert!(
        log.contains("by_content=10") && log.contains("unmatched=0"),
        "{log}"
    );
    d.terminate();
}
