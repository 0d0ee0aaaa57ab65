//! `kill -9` of `ferrymail serve` (a child process on port 0, temporary data dir)
//! the moment the OK to APPEND is read, 200 times, restarting it each time: every
//! acknowledged message is there after the restarts, byte for byte, once, with
//! the UID the APPENDUID announced. And APPEND on a full disk (a 4 MB tmpfs data
//! dir): `NO`, never OK, and every message acknowledged before is intact.
//! (The SMTP versions are in tests/durability.rs.)

mod common;

use std::net::SocketAddr;

use common::ops::add_account;
use common::tmpfs::Tmpfs;
use common::{Daemon, Line, TestConfig};
use ferrymail::store::Store;

/// The message of round `i`: varied sizes; every 20th one is over the 64 KiB
/// that APPEND streams to a file instead of holding in memory.
fn message(i: usize) -> Vec<u8> {
    let mut m = format!("Subject: round {i}\r\nX-Round: {i}\r\n\r\n").into_bytes();
    let lines = if i % 20 == 0 { 3000 } else { (i % 13) * 7 };
    for j in 0..lines {
        m.extend_from_slice(format!("line {j} of round {i} ümlaut\r\n").as_bytes());
    }
    m.extend_from_slice(b"end\r\n");
    m
}

/// Logs in, APPENDs `body` to INBOX; returns the tagged reply.
fn append(addr: SocketAddr, body: &[u8]) -> String {
    let mut c = Line::connect(addr);
    c.expect("* OK");
    let r = c.transact("a", "LOGIN pat@example.test pat-pw");
    assert!(r.starts_with("a OK"), "{r}");
    c.append("b", "(\\Seen) ", body)
}

#[tokio::test]
async fn kill_9_right_after_the_ok_to_append_200_times_loses_and_duplicates_nothing() {
    const ROUNDS: usize = 200;
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    add_account(&cfg, "pat@example.test", "pat-pw");
    let data_dir = cfg.data_dir();
    let mut acked: Vec<(u32, Vec<u8>)> = Vec::new();
    for i in 0..ROUNDS {
        let mut d = Daemon::start(&cfg.path(), &data_dir);
        let body = message(i);
        let addr = d.addr("imap", "plain");
        let r = tokio::task::spawn_blocking({
            let body = body.clone();
            move || append(addr, &body)
        })
        .await
        .unwrap();
        // SIGKILL the moment the OK is read.
        d.kill9();
        assert!(r.starts_with("b OK [APPENDUID "), "round {i}: {r}");
        let uid: u32 = r
            .split(' ')
            .nth(4)
            .and_then(|u| u.trim_end_matches(']').parse().ok())
            .unwrap_or_else(|| panic!("{r}"));
        acked.push((uid, body));
    }
    let store = Store::open(&data_dir).unwrap();
    let pat = store.account("pat@example.test").await.unwrap().unwrap();
    let ms = store.mailstore(pat.id).await.unwrap();
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut got: Vec<(u32, Vec<u8>)> = Vec::new();
    for m in ms.messages(inbox.id).await.unwrap() {
        got.push((m.uid, std::fs::read(ms.blob_path(&m.blob)).unwrap()));
    }
    assert_eq!(got.len(), ROUNDS, "messages stored after {ROUNDS} kills");
    got.sort();
    acked.sort();
    // Byte for byte, each exactly once, under the UID APPENDUID gave.
    assert!(
        got == acked,
        "stored messages differ from the acknowledged ones"
    );
}

#[tokio::test]
async fn a_full_disk_gives_no_to_append_never_ok_and_nothing_is_corrupted() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let data_dir = cfg.data_dir();
    let _mount = Tmpfs::mount(&data_dir, "4m");
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &data_dir);
    let mut c = Line::connect(d.addr("imap", "plain"));
    c.line();
    c.send_line("a LOGIN pat@example.test pat-pw");
    let l = c.line();
    assert!(l.starts_with("a OK"), "{l}");

    // Messages appended until the disk is full (small ones and streamed ones):
    // every reply is OK or NO, and once NO, the disk is full.
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let body = message(if i % 2 == 0 { 20 } else { i });
        let reply = c.append(&format!("f{i}"), "", &body);
        if reply.starts_with(&format!("f{i} OK")) {
            acked.push(body);
        } else {
            assert!(reply.starts_with(&format!("f{i} NO")), "{reply}");
            refused += 1;
            if refused >= 5 {
                break;
            }
        }
    }
    assert!(refused >= 5, "the disk never filled up");
    // The session goes on after the NOs.
    c.send_line("n NOOP");
    let l = c.line();
    assert!(l.starts_with("n OK") || l.starts_with("* "), "{l}");
    drop(c);
    drop(d);
    // Every acknowledged message is intact after a restart.
    let store = Store::open(&data_dir).unwrap();
    let pat = store.account("pat@example.test").await.unwrap().unwrap();
    let ms = store.mailstore(pat.id).await.unwrap();
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut got = Vec::new();
    for m in ms.messages(inbox.id).await.unwrap() {
        got.push(std::fs::read(ms.blob_path(&m.blob)).unwrap());
    }
    got.sort();
    acked.sort();
    assert_eq!(got.len(), acked.len());
    assert!(
        got == acked,
        "stored messages differ from the acknowledged ones"
    );
}
