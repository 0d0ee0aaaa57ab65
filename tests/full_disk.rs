//! A full data disk stops writes, not reads (issue 23): with the disk full to
//! the last byte, before and after a restart, users still log in over IMAP and
//! POP3, read their mail and delete it to make room; only writes (APPEND, mail
//! delivery) fail, with temporary errors.

mod common;

use common::ops::add_account;
use common::tmpfs::{fill, Tmpfs};
use common::{Daemon, Line, TestConfig};

fn imap_session(d: &Daemon) -> Line {
    let mut c = Line::connect(d.addr("imap", "plain"));
    let g = c.line();
    assert!(g.starts_with("* OK"), "{g}");
    let r = c.transact("l", "LOGIN pat@example.test pat-pw");
    assert!(
        r.starts_with("l OK"),
        "login on a full disk: {r}\n{}",
        d.log_text()
    );
    c
}

/// Untagged lines and the tagged reply of one command.
fn run(c: &mut Line, tag: &str, cmd: &str) -> (Vec<String>, String) {
    c.send_line(&format!("{tag} {cmd}"));
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        if l.starts_with(&format!("{tag} ")) {
            return (lines, l);
        }
        lines.push(l);
    }
}

#[test]
fn a_full_disk_still_lets_users_log_in_read_and_delete() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let data_dir = cfg.data_dir();
    let _mount = Tmpfs::mount(&data_dir, "80m");
    add_account(&cfg, "pat@example.test", "pat-pw");
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let mut c = imap_session(&d);
    for i in 0..6 {
        let body = format!("From: a@example.net\r\nSubject: m{i}\r\n\r\nbody {i}\r\n");
        let r = c.append("a", "", body.as_bytes());
        assert!(r.starts_with("a OK"), "{r}");
    }
    c.transact("z", "LOGOUT");

    for restart in [false, true] {
        if restart {
            // With room again, a start makes the reserve again.
            d.terminate();
            d = Daemon::start(&cfg.path(), &cfg.data_dir());
            assert_eq!(
                std::fs::metadata(data_dir.join("reserve")).unwrap().len(),
                4 << 20 // RESERVE_BYTES (80 MiB / 16 is more)
            );
            d.terminate();
        }
        let filler = fill(&data_dir);
        if restart {
            d = Daemon::start(&cfg.path(), &cfg.data_dir());
        }
        // IMAP: log in, read, delete.
        let mut c = imap_session(&d);
        let (lines, r) = run(&mut c, "s", "SELECT INBOX");
        assert!(r.starts_with("s OK"), "{r}\n{}", d.log_text());
        // Round one deleted one message over IMAP and one over POP3.
        let exists = if restart { 4 } else { 6 };
        assert!(lines.contains(&format!("* {exists} EXISTS")), "{lines:?}");
        let (lines, r) = run(&mut c, "f", "FETCH 1 BODY.PEEK[]");
        assert!(r.starts_with("f OK"), "{r}");
        assert!(lines.iter().any(|l| l.contains("FETCH")), "{lines:?}");
        // Writing fails, temporarily.
        let r = c.append("w", "", b"Subject: no room\r\n\r\nx\r\n");
        assert!(r.starts_with("w NO [OVERQUOTA]"), "{r}");
        // Deleting works: the disk reserve makes room for it.
        let r = c.transact("d", "STORE 1 +FLAGS (\\Deleted)");
        assert!(r.starts_with("d OK"), "{r}\n{}", d.log_text());
        let (lines, r) = run(&mut c, "e", "EXPUNGE");
        assert!(
            r.starts_with("e OK"),
            "EXPUNGE on a full disk: {r}\n{}",
            d.log_text()
        );
        assert!(lines.contains(&"* 1 EXPUNGE".to_string()), "{lines:?}");
        c.transact("z", "LOGOUT");

        // POP3: log in, list, read, delete.
        let mut p = Line::connect(d.addr("pop3", "plain"));
        assert!(p.line().starts_with("+OK"));
        assert!(p.cmd("USER pat@example.test").starts_with("+OK"));
        let r = p.cmd("PASS pat-pw");
        assert!(
            r.starts_with("+OK"),
            "POP3 login on a full disk: {r}\n{}",
            d.log_text()
        );
        let r = p.cmd("RETR 1");
        assert!(r.starts_with("+OK"), "{r}");
        while p.line() != "." {}
        assert!(p.cmd("DELE 1").starts_with("+OK"));
        let r = p.cmd("QUIT");
        assert!(
            r.starts_with("+OK"),
            "POP3 QUIT (deletes) on a full disk: {r}"
        );
        std::fs::remove_file(&filler).unwrap();
    }
}
