//! Quotas (`[quota]`, issue 19 item 5) against `ferrymail serve`: IMAP QUOTA
//! (RFC 9208) reports usage and limits, APPEND and COPY over the limit get
//! `NO [OVERQUOTA]` (MOVE does not add), SMTP refuses a recipient at its
//! limit with `452 4.2.2`, a delivery passing 90% brings one warning,
//! `status` shows users over quota; a migration copy
//! is never limited: a mailbox larger than its quota comes over whole and is
//! reported. Bad sizes are check-config problems.

mod common;
mod migrate_support;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{add_account, cli, stored, wait_state};
use common::{Daemon, Line, TestConfig};

/// An IMAP session over a real socket; `cmd` returns every line of the
/// answer, the tagged one last.
struct Imap {
    c: Line,
    n: u32,
}

impl Imap {
    fn login(d: &Daemon, user: &str, pw: &str) -> Imap {
        let mut c = Line::connect(d.addr("imap", "plain"));
        c.expect("* OK");
        let mut s = Imap { c, n: 0 };
        let r = s.cmd(&format!("LOGIN {user} {pw}"));
        assert!(r.last().unwrap().contains("OK"), "{r:?}");
        s
    }

    fn cmd(&mut self, command: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.c.send_line(&format!("{tag} {command}"));
        self.read(&tag)
    }

    fn read(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.c.line();
            assert!(!l.is_empty(), "closed: {out:?}");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    fn append(&mut self, mailbox: &str, size: usize) -> String {
        let body = format!(
            "Subject: filler\r\n\r\n{}",
            "x".repeat(size - "Subject: filler\r\n\r\n".len())
        );
        assert_eq!(body.len(), size);
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.c
            .send_line(&format!("{tag} APPEND {mailbox} {{{}+}}", body.len()));
        self.c.send(body.as_bytes());
        self.c.send_line("");
        self.read(&tag).pop().unwrap()
    }
}

fn smtp_rcpt(d: &Daemon, to: &str, size: usize) -> String {
    let mut c = Line::connect(d.addr("smtp", "plain"));
    c.expect("220");
    c.expect_code("EHLO sender.test", "250");
    c.expect_code("MAIL FROM:<someone@example.net>", "250");
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    if r.starts_with("250") {
        c.expect_code("DATA", "354");
        let line = format!("{}\r\n", "y".repeat(75));
        let body = line.repeat(size / 77 + 1);
        c.send(format!("Subject: by smtp\r\n\r\n{body}.\r\n").as_bytes());
        let done = c.reply();
        assert!(done.starts_with("250"), "{done}");
    }
    c.send_line("QUIT");
    r
}

#[test]
fn imap_quota_append_copy_and_smtp_respect_the_limits() {
    let domain = "domain = \"example.org\"\n[quota]\nstorage = \"20 KiB\"\nusers = { \"Karl\" = \"1 MiB\" }\n";
    let cfg = TestConfig::new(
        &format!(
            "{}[quota]\nmessages = 100\n",
            server(PLAINTEXT, &["imap", "smtp", "admin"])
        ),
        &[("example.org", domain)],
    );
    let (code, out, err) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 0, "{out}{err}");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    add_account(&cfg, "anna@example.org", "anna-pw");
    add_account(&cfg, "karl@example.org", "karl-pw");

    let mut s = Imap::login(&d, "anna@example.org", "anna-pw");
    let caps = s.cmd("CAPABILITY");
    assert!(
        caps[0].contains(" QUOTA ") && caps[0].contains("QUOTA=RES-STORAGE"),
        "{caps:?}"
    );
    let r = s.cmd("GETQUOTAROOT INBOX");
    assert_eq!(
        r,
        vec![
            "* QUOTAROOT \"INBOX\" \"\"",
            "* QUOTA \"\" (STORAGE 0 20 MESSAGE 0 100)",
            "t3 OK GETQUOTAROOT completed"
        ]
    );
    // Two 8 KiB messages fit; a third would pass 20 KiB.
    assert!(s.append("INBOX", 8192).contains("OK"));
    assert!(s.append("INBOX", 8192).contains("OK"));
    let r = s.append("INBOX", 8192);
    assert!(r.contains("NO [OVERQUOTA]"), "{r}");
    let r = s.cmd("GETQUOTA \"\"");
    assert_eq!(r[0], "* QUOTA \"\" (STORAGE 16 20 MESSAGE 2 100)");
    assert!(s.cmd("GETQUOTA \"other\"").last().unwrap().contains("NO"));
    assert!(s
        .cmd("GETQUOTAROOT Nirgendwo")
        .last()
        .unwrap()
        .contains("NO [NONEXISTENT]"));
    let r = s.cmd("SETQUOTA \"\" (STORAGE 999999)");
    assert!(r.last().unwrap().contains("NO [NOPERM]"), "{r:?}");
    // COPY would double the usage; MOVE does not add.
    assert!(s.cmd("CREATE Archiv").last().unwrap().contains("OK"));
    s.cmd("SELECT INBOX");
    let r = s.cmd("COPY 1:2 Archiv");
    assert!(r.last().unwrap().contains("NO [OVERQUOTA]"), "{r:?}");
    let r = s.cmd("MOVE 1 Archiv");
    assert!(r.last().unwrap().contains("OK"), "{r:?}");
    let r = s.cmd("GETQUOTAROOT Archiv");
    assert_eq!(r[1], "* QUOTA \"\" (STORAGE 16 20 MESSAGE 2 100)");

    // SMTP: under the limit a message is taken (even one that passes it);
    // at the limit the recipient is refused, temporarily.
    let r = smtp_rcpt(&d, "anna@example.org", 6000);
    assert!(r.starts_with("250"), "{r}");
    // That delivery passed 90% of the limit: one warning in her INBOX.
    s.cmd("SELECT INBOX");
    let r = s.cmd("SEARCH SUBJECT \"almost full\"");
    assert_eq!(r[0], "* SEARCH 3", "{r:?}");
    assert!(d.log_text().contains("quota warning delivered"));
    let r = smtp_rcpt(&d, "anna@example.org", 10);
    assert!(r.starts_with("452 4.2.2"), "{r}");
    assert!(d.log_text().contains("recipient over quota"));
    let (code, out, err) = cli(&cfg, &["status", "--user", "anna@example.org"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(" of 20.0 KB, 4 of 100 messages (over quota)"),
        "{out}"
    );

    // A user with a storage limit of their own.
    let mut g = Imap::login(&d, "karl@example.org", "karl-pw");
    let r = g.cmd("GETQUOTA \"\"");
    assert_eq!(r[0], "* QUOTA \"\" (STORAGE 0 1024 MESSAGE 0 100)");
    assert!(smtp_rcpt(&d, "karl@example.org", 10).starts_with("250"));
}

#[test]
fn a_migration_copy_is_never_limited_and_is_reported() {
    let legacy = Legacy::start(LegacyOptions::default());
    migrate_support::seed_maildir(&legacy, "alice", "alice-pw", 30);
    let mut domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "timeout_secs = 20\nserve_locally_within_ms = 5000",
            ..Default::default()
        },
    );
    domain.push_str("\n[quota]\nstorage = \"1 KiB\"\nmessages = 10\n");
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "admin"]),
        &[("example.org", &domain)],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let _ = Imap::login(&d, "alice@example.org", "alice-pw");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    assert_eq!(stored(&cfg, "alice@example.org"), 30);
    let (_, out, _) = cli(&cfg, &["status", "--user", "alice@example.org"], "");
    assert!(out.contains("of 10 messages (over quota)"), "{out}");
    // And her own APPEND is refused now.
    let mut s = Imap::login(&d, "alice@example.org", "alice-pw");
    assert!(s.append("INBOX", 100).contains("NO [OVERQUOTA]"));
}

#[test]
fn bad_sizes_are_reported_by_check_config() {
    let cfg = TestConfig::new(
        &format!("{}[quota]\nstorage = \"lots\"\n", server(PLAINTEXT, &["imap"])),
        &[(
            "example.org",
            "domain = \"example.org\"\n[quota]\nusers = { \"a@b\" = \"1 GiB\", bob = \"5 parsecs\" }\n",
        )],
    );
    let (code, out, err) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 1, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(
        text.contains("quota.storage: `lots` is not a size"),
        "{text}"
    );
    assert!(text.contains("`a@b` must be a local part"), "{text}");
    assert!(text.contains("unknown unit `parsecs`"), "{text}");
}
