//! `kill -9` of `ferrymail serve` (a child process on port 0, temporary data dir)
//! the moment the OK to APPEND is read, 200 times, restarting it each time: every
//! acknowledged message is there after the restarts, byte for byte, once, with
//! the UID the APPENDUID announced. And APPEND on a full disk (a 4 MB tmpfs data
//! dir): `NO`, never OK, and every message acknowledged before is intact.
//! (The SMTP versions are in tests/durability.rs.)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Daemon, TestConfig};
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
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let line = |r: &mut BufReader<TcpStream>| {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    };
    assert!(line(&mut r).starts_with("* OK"));
    w.write_all(b"a LOGIN pat@example.test pat-pw\r\n").unwrap();
    loop {
        let l = line(&mut r);
        if l.starts_with("a ") {
            assert!(l.starts_with("a OK"), "{l}");
            break;
        }
    }
    w.write_all(format!("b APPEND INBOX (\\Seen) {{{}}}\r\n", body.len()).as_bytes())
        .unwrap();
    let l = line(&mut r);
    assert!(l.starts_with('+'), "{l}");
    w.write_all(body).unwrap();
    w.write_all(b"\r\n").unwrap();
    loop {
        let l = line(&mut r);
        if l.starts_with("b ") {
            return l;
        }
    }
}

#[tokio::test]
async fn kill_9_right_after_the_ok_to_append_200_times_loses_and_duplicates_nothing() {
    const ROUNDS: usize = 200;
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let conf = cfg.path();
    let (code, _, err) = common::run_cli(
        &[
            "account",
            "add",
            "pat@example.test",
            "--config",
            conf.to_str().unwrap(),
        ],
        "pat-pw\n",
    );
    assert_eq!(code, 0, "{err}");
    let data_dir = cfg.data_dir();
    let mut acked: Vec<(u32, Vec<u8>)> = Vec::new();
    for i in 0..ROUNDS {
        let mut d = Daemon::start(&conf, &data_dir);
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

/// Mounts a tmpfs of `size` on `dir`; unmounts on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// One APPEND on a logged-in connection; the tagged reply.
fn append_on(r: &mut BufReader<TcpStream>, w: &mut TcpStream, tag: &str, body: &[u8]) -> String {
    let mut l = String::new();
    w.write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", body.len()).as_bytes())
        .unwrap();
    r.read_line(&mut l).unwrap();
    if !l.starts_with('+') {
        return l.trim_end().to_string();
    }
    w.write_all(body).unwrap();
    w.write_all(b"\r\n").unwrap();
    loop {
        l.clear();
        r.read_line(&mut l).unwrap();
        if l.starts_with(&format!("{tag} ")) {
            return l.trim_end().to_string();
        }
    }
}

#[tokio::test]
async fn a_full_disk_gives_no_to_append_never_ok_and_nothing_is_corrupted() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&data_dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cannot mount a tmpfs (the tests run as root)");
    let _mount = Tmpfs(data_dir.clone());
    let conf = cfg.path();
    let (code, _, err) = common::run_cli(
        &[
            "account",
            "add",
            "pat@example.test",
            "--config",
            conf.to_str().unwrap(),
        ],
        "pat-pw\n",
    );
    assert_eq!(code, 0, "{err}");
    let d = Daemon::start(&conf, &data_dir);
    let s = TcpStream::connect(d.addr("imap", "plain")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    w.write_all(b"a LOGIN pat@example.test pat-pw\r\n").unwrap();
    l.clear();
    r.read_line(&mut l).unwrap();
    assert!(l.starts_with("a OK"), "{l}");

    // Messages appended until the disk is full (small ones and streamed ones):
    // every reply is OK or NO, and once NO, the disk is full.
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let body = message(if i % 2 == 0 { 20 } else { i });
        let reply = append_on(&mut r, &mut w, &format!("f{i}"), &body);
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
    w.write_all(b"n NOOP\r\n").unwrap();
    l.clear();
    r.read_line(&mut l).unwrap();
    assert!(l.starts_with("n OK") || l.starts_with("* "), "{l}");
    drop(w);
    drop(r);
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
