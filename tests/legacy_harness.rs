//! The test harness's legacy mail system works: Dovecot serves IMAP and POP3,
//! Postfix accepts mail for its users and delivers it into Dovecot over LMTP,
//! refuses unknown users, and never relays for the outside.

mod common;

use std::time::Duration;

use common::legacy::{Legacy, LegacyOptions};
use common::{wait_until, Line};

/// One SMTP transaction against the legacy Postfix; the last line of each reply.
fn smtp_send(port: u16, from: &str, to: &str, body: &str) -> Vec<String> {
    let mut c = Line::connect_timeout(([127, 0, 0, 1], port).into(), Duration::from_secs(20));
    let mut replies = vec![c.reply()];
    for cmd in [
        "EHLO tester.test".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
    ] {
        replies.push(c.cmd(&cmd));
    }
    if replies.last().unwrap().starts_with("250") {
        replies.push(c.cmd("DATA"));
        c.send(format!("{body}\r\n.\r\n").as_bytes());
        replies.push(c.reply());
    }
    c.send_line("QUIT");
    replies
}

#[test]
fn dovecot_and_postfix_form_a_working_legacy_system() {
    let legacy = Legacy::start(LegacyOptions {
        postfix: true,
        ..Default::default()
    });
    let port = legacy.smtp_port.unwrap();

    let mut imap = legacy.imap("alice", "alice-pw");
    imap.append(
        "INBOX",
        "\\Seen",
        "01-Jan-2020 10:00:00 +0100",
        b"Subject: seeded\r\n\r\nhello\r\n",
    );

    let r = smtp_send(
        port,
        "bob@outside.test",
        "alice@example.org",
        "Subject: via smtp\r\n\r\nbody",
    );
    assert!(r.last().unwrap().starts_with("250"), "{r:?}");
    let r = smtp_send(port, "bob@outside.test", "nobody@example.org", "x");
    assert!(
        r[3].starts_with("550"),
        "unknown user must be refused at RCPT: {r:?}"
    );

    // Delivery goes through the queue and LMTP: poll.
    wait_until(
        20,
        100,
        || {
            imap.ok("STATUS INBOX (MESSAGES)")[0]
                .text
                .contains("MESSAGES 2")
        },
        || format!("not delivered: {}", legacy.postfix_log()),
    );
    imap.ok("SELECT INBOX");
    let lines = imap.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let all: String = lines
        .iter()
        .flat_map(|l| l.literals.iter())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(all.contains("seeded") && all.contains("via smtp"), "{all}");

    // POP3 sees the same two messages, with the configured UIDL format.
    let mut c = Line::connect_timeout(
        ([127, 0, 0, 1], legacy.pop3_port).into(),
        Duration::from_secs(10),
    );
    c.expect("+OK");
    for cmd in ["USER alice", "PASS alice-pw", "UIDL"] {
        let line = c.pop(cmd);
        assert!(line.starts_with("+OK"), "{cmd}: {line}");
    }
    let mut uidls = Vec::new();
    loop {
        let line = c.line();
        if line == "." {
            break;
        }
        uidls.push(line);
    }
    assert_eq!(uidls.len(), 2, "{uidls:?}");
    assert_eq!(uidls[0].split(' ').nth(1).unwrap().len(), 16, "{uidls:?}");
}

#[test]
fn courier_style_namespace() {
    let legacy = Legacy::start(LegacyOptions {
        inbox_prefix: true,
        ..Default::default()
    });
    let mut imap = legacy.imap("alice", "alice-pw");
    let lines = imap.ok("NAMESPACE");
    assert!(lines[0].text.contains("((\"INBOX.\" \".\"))"), "{lines:?}");
    imap.ok("CREATE INBOX.Archive.2023");
    let lines = imap.ok("LIST \"\" \"*\"");
    let all = format!("{lines:?}");
    assert!(all.contains("INBOX.Archive.2023"), "{all}");
}
