//! Crashes and full disks against `ferrymail serve` (a child process on port 0):
//! `kill -9` right after the 250 to DATA, 200 times, loses and duplicates nothing;
//! a full disk (a small tmpfs data dir) gives `452 4.3.1` for local delivery and for
//! the relay queue, never a success reply, and POP3 never says +OK to a deletion it
//! did not make. (The basic DATA-on-a-full-disk case is in tests/smtp_protocol.rs.)

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::ops::add_account;
use common::tmpfs::{fill, Tmpfs};
use common::{Daemon, Line, TestConfig};
use ferrymail::store::Store;

const DOMAIN: &str = "domain = \"example.test\"\n";

/// The message of round `i`: varied sizes, dot-stuffed lines, 8-bit text.
fn message(i: usize) -> Vec<u8> {
    let mut m = format!("Subject: round {i}\r\nX-Round: {i}\r\n\r\n").into_bytes();
    for j in 0..(i % 17) * 11 {
        m.extend_from_slice(format!("line {j} of round {i} ümlaut\r\n").as_bytes());
    }
    m.extend_from_slice(b".a line that starts with a dot\r\n");
    m.extend_from_slice(b"end\r\n");
    m
}

fn dot_stuff(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 16);
    for line in m.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// Sends one message to pat over the MX; returns the reply to the end of data.
fn send_message(addr: SocketAddr, body: &[u8]) -> String {
    let mut c = Line::connect(addr);
    assert!(c.reply().starts_with("220"));
    // Pipelined up to DATA.
    c.send(
        b"EHLO crash.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\n",
    );
    for want in ["250", "250", "250"] {
        let r = c.reply();
        assert!(r.starts_with(want), "{r}");
    }
    let r = c.reply();
    if !r.starts_with("354") {
        return r;
    }
    let mut data = dot_stuff(body);
    data.extend_from_slice(b".\r\n");
    c.send(&data);
    c.reply()
}

/// Every message in pat's INBOX, with the Received header ferrymail added removed.
async fn inbox(data_dir: &Path) -> Vec<Vec<u8>> {
    let store = Store::open(data_dir).unwrap();
    let pat = store.account("pat@example.test").await.unwrap().unwrap();
    let ms = store.mailstore(pat.id).await.unwrap();
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut out = Vec::new();
    for m in ms.messages(inbox.id).await.unwrap() {
        let bytes = std::fs::read(ms.blob_path(&m.blob)).unwrap();
        let start = bytes
            .windows(9)
            .position(|w| w == b"Subject: ")
            .expect("a stored message without its content");
        assert!(bytes.starts_with(b"Received: "));
        out.push(bytes[start..].to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_right_after_the_250_to_data_200_times_loses_and_duplicates_nothing() {
    const ROUNDS: usize = 200;
    let cfg = TestConfig::new(
        "[smtp]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", DOMAIN)],
    );
    add_account(&cfg, "pat@example.test", "pat-pw");
    let data_dir = cfg.data_dir();
    let mut acked = Vec::new();
    for i in 0..ROUNDS {
        let mut d = Daemon::start(&cfg.path(), &data_dir);
        let body = message(i);
        let r = send_message(d.addr("smtp", "plain"), &body);
        // SIGKILL the moment the 250 is read: nothing after it may matter.
        d.kill9();
        assert!(r.starts_with("250 2.0.0"), "round {i}: {r}");
        acked.push(body);
    }
    let mut got = inbox(&data_dir).await;
    assert_eq!(got.len(), ROUNDS, "messages stored after {ROUNDS} kills");
    got.sort();
    acked.sort();
    // Byte for byte, each exactly once.
    assert!(
        got == acked,
        "stored messages differ from the acknowledged ones"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disk_filling_up_gives_452_and_every_acknowledged_message_is_intact() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n\
         [smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_message_size = 10000000\n\
         [pop3]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", DOMAIN)],
    );
    let data_dir = cfg.data_dir();
    let _tmpfs = Tmpfs::mount(&data_dir, "6m");
    add_account(&cfg, "pat@example.test", "pat-pw");
    let mut d = Daemon::start(&cfg.path(), &data_dir);
    let smtp = d.addr("smtp", "plain");

    // Messages of ~300 KB until the disk is full: each is 250 (and stored whole)
    // or 452 4.3.1; never a success for something not stored.
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        let mut body = format!("Subject: fill {i}\r\n\r\n").into_bytes();
        for j in 0..4000 {
            body.extend_from_slice(format!("{i:04} {j:05} {}\r\n", "t".repeat(60)).as_bytes());
        }
        let r = send_message(smtp, &body);
        if r.starts_with("250") {
            assert_eq!(refused, 0, "a 250 after the disk was full: {r}");
            acked.push(body);
        } else {
            assert!(r.starts_with("452 4.3.1"), "message {i}: {r}");
            refused += 1;
            if refused == 3 {
                break;
            }
        }
    }
    assert!(refused > 0, "the disk never filled up");
    assert!(!acked.is_empty());

    // POP3 on the full disk: reading works; a deletion is either made (+OK and
    // gone after restart) or refused (-ERR, still there): never +OK for nothing.
    let _filler = fill(&data_dir);
    let pop3 = d.addr("pop3", "plain");
    let mut c = Line::connect(pop3);
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.pop("USER pat@example.test"), "+OK");
    let r = c.pop("PASS pat-pw");
    let deleted = if r.starts_with("+OK") {
        assert!(c.pop("RETR 1").starts_with("+OK"));
        let mut msg = Vec::new();
        loop {
            let l = c.raw_line();
            if l == b".\r\n" {
                break;
            }
            msg.extend_from_slice(&l);
        }
        assert!(msg.ends_with(&dot_stuff(&acked[0])));
        assert!(c.pop("DELE 1").starts_with("+OK"));
        let q = c.pop("QUIT");
        assert!(
            q.starts_with("+OK") || q.starts_with("-ERR [SYS/TEMP]"),
            "{q}"
        );
        q.starts_with("+OK")
    } else {
        // Refusing to log in on a full disk is allowed, as a temporary error.
        assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
        false
    };
    drop(c);
    eprintln!(
        "{} messages acknowledged before the disk was full; POP3 deletion on the full disk {}",
        acked.len(),
        if deleted { "made" } else { "refused" }
    );

    // Restart with space: every acknowledged message is there, intact, once.
    d.kill9();
    std::fs::remove_file(data_dir.join("filler")).unwrap();
    let mut got = inbox(&data_dir).await;
    let mut want = acked.clone();
    if deleted {
        want.remove(0);
    }
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "stored messages differ from the acknowledged ones"
    );
    // And the daemon takes mail again.
    let d = Daemon::start(&cfg.path(), &data_dir);
    let r = send_message(
        d.addr("smtp", "plain"),
        b"Subject: after\r\n\r\nroom again\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_relayed_mail_with_452_and_queues_nothing() {
    // The next hop is never reached: nothing may be queued.
    let hop = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = TestConfig::new(
        &format!(
            "[auth]\nallow_plaintext = true\n\
             [submission]\nlisten = [\"127.0.0.1:0\"]\nrelay_host = \"{}\"\n",
            hop.local_addr().unwrap()
        ),
        &[("example.test", DOMAIN)],
    );
    let data_dir = cfg.data_dir();
    let _tmpfs = Tmpfs::mount(&data_dir, "4m");
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &data_dir);
    let filler = fill(&data_dir);
    let mut c = Line::connect(d.addr("submission", "plain"));
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode("\0pat@example.test\0pat-pw");
    assert!(c.cmd(&format!("AUTH PLAIN {b64}")).starts_with("235"));
    for i in 0..3 {
        assert!(c.cmd("MAIL FROM:<pat@example.test>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<friend@remote.test>").starts_with("250"));
        let r = c.cmd("DATA");
        let r = if r.starts_with("354") {
            let body = format!("Subject: out {i}\r\n\r\n{}", "relay me\r\n".repeat(20_000));
            c.send(body.as_bytes());
            c.cmd(".")
        } else {
            r
        };
        assert!(r.starts_with("452 4.3.1"), "{r}");
    }
    let queued = std::fs::read_dir(data_dir.join("queue"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(queued, 0, "a refused message left a queue entry");
    // With room again the same session relays.
    std::fs::remove_file(filler).unwrap();
    assert!(c.cmd("MAIL FROM:<pat@example.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<friend@remote.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: out ok\r\n\r\nx\r\n");
    assert!(c.cmd(".").starts_with("250"));
}
