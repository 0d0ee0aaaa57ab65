//! The test harness's legacy mail system works: Dovecot serves IMAP and POP3,
//! Postfix accepts mail for its users and delivers it into Dovecot over LMTP,
//! refuses unknown users, and never relays for the outside.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::legacy::{Legacy, LegacyOptions};

fn smtp_send(port: u16, from: &str, to: &str, body: &str) -> Vec<String> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut replies = Vec::new();
    let read = |r: &mut BufReader<TcpStream>| {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all.trim_end().to_string();
            }
        }
    };
    replies.push(read(&mut r));
    for cmd in [
        "EHLO tester.test".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        replies.push(read(&mut r));
    }
    if replies.last().unwrap().starts_with("250") {
        write!(w, "DATA\r\n").unwrap();
        replies.push(read(&mut r));
        write!(w, "{body}\r\n.\r\n").unwrap();
        replies.push(read(&mut r));
    }
    write!(w, "QUIT\r\n").unwrap();
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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = imap.ok("STATUS INBOX (MESSAGES)");
        if lines[0].text.contains("MESSAGES 2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered: {}",
            legacy.postfix_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    imap.ok("SELECT INBOX");
    let lines = imap.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let all: String = lines
        .iter()
        .flat_map(|l| l.literals.iter())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(all.contains("seeded") && all.contains("via smtp"), "{all}");

    // POP3 sees the same two messages, with the configured UIDL format.
    let s = TcpStream::connect(("127.0.0.1", legacy.pop3_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    for cmd in ["USER alice", "PASS alice-pw", "UIDL"] {
        write!(w, "{cmd}\r\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{cmd}: {line}");
    }
    let mut uidls = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim_end() == "." {
            break;
        }
        uidls.push(line.trim_end().to_string());
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
