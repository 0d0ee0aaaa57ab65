//! `kill -9` of `ferrymail serve` (a child process on port 0, temporary data dir)
//! the moment the OK to APPEND is read, 200 times, restarting it each time: every
//! acknowledged message is there after the restarts, byte for byte, once, with
//! the UID the APPENDUID announced. (The SMTP version is in tests/durability.rs.)

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
    let ms = store.mailstore(pat.id).unwrap();
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
