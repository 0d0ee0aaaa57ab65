//! Deadlines on top of idle timeouts (issue 23): a client that trickles a
//! command one byte at a time, each byte in time for the idle timeout, still
//! gets `421` once the command has taken the whole timeout (SMTP); a client
//! that keeps a connection busy with commands that never log in is ended by
//! the login deadline (IMAP `* BYE`, POP3 `-ERR`), while a logged-in session
//! doing the same stays. Idle timeouts are 2 s here.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::ops::add_account;
use common::{Daemon, TestConfig};

fn start() -> (TestConfig, Daemon) {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 2\n\
         [pop3]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 2\n\
         [smtp]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 2\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    (cfg, d)
}

/// Lines the server sends, with the instant each arrived, until it closes.
fn reader(s: &TcpStream) -> mpsc::Receiver<(String, Instant)> {
    let (tx, rx) = mpsc::channel();
    let mut r = BufReader::new(s.try_clone().unwrap());
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    std::thread::spawn(move || loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx
                    .send((line.trim_end().to_string(), Instant::now()))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

fn next(rx: &mpsc::Receiver<(String, Instant)>) -> (String, Instant) {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("a line from the server")
}

/// Sends `bytes` one at a time every 400 ms (within the 2 s idle timeout)
/// until the server closes; returns when the last byte went out.
fn trickle(s: &mut TcpStream, bytes: &[u8]) -> Instant {
    let mut last = Instant::now();
    for b in bytes {
        std::thread::sleep(Duration::from_millis(400));
        if s.write_all(&[*b]).is_err() {
            break;
        }
        last = Instant::now();
    }
    last
}

#[test]
fn a_command_trickled_byte_by_byte_gets_421_within_the_timeout() {
    let (_cfg, d) = start();
    let addr: SocketAddr = d.addr("smtp", "plain");
    let mut s = TcpStream::connect(addr).unwrap();
    let rx = reader(&s);
    assert!(next(&rx).0.starts_with("220"));
    s.write_all(b"EHLO client.example\r\n").unwrap();
    while !next(&rx).0.starts_with("250 ") {}
    // 40 bytes at 400 ms: 16 s, never a whole line.
    let started = Instant::now();
    let last = trickle(&mut s, &[b'x'; 40]);
    let (line, at) = next(&rx);
    assert!(line.starts_with("421 4.4.2"), "{line}");
    // With the idle timeout alone it would come 2 s after the trickle ended
    // (16 s); the command's deadline is 2 s.
    assert!(
        at - started < Duration::from_secs(10),
        "the 421 came {:?} after the trickle began (the trickle's last byte: {:?})",
        at - started,
        last - started
    );
}

#[test]
fn commands_that_never_log_in_end_at_the_login_deadline() {
    let (_cfg, d) = start();
    // IMAP: NOOP every 400 ms, each answered, for up to 16 s.
    let mut s = TcpStream::connect(d.addr("imap", "plain")).unwrap();
    let rx = reader(&s);
    assert!(next(&rx).0.starts_with("* OK"));
    let started = Instant::now();
    let mut bye = None;
    for i in 0..40 {
        std::thread::sleep(Duration::from_millis(400));
        if s.write_all(format!("a{i} NOOP\r\n").as_bytes()).is_err() {
            break;
        }
        while let Ok((l, at)) = rx.try_recv() {
            if l.starts_with("* BYE") {
                bye = Some((l, at));
            }
        }
        if bye.is_some() {
            break;
        }
    }
    let (line, at) = bye.unwrap_or_else(|| next(&rx));
    assert!(line.starts_with("* BYE Login timeout"), "{line}");
    assert!(at - started < Duration::from_secs(10), "{:?}", at - started);

    // POP3: CAPA every 400 ms before USER/PASS.
    let mut s = TcpStream::connect(d.addr("pop3", "plain")).unwrap();
    let rx = reader(&s);
    assert!(next(&rx).0.starts_with("+OK"));
    let started = Instant::now();
    let mut end = None;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(400));
        if s.write_all(b"CAPA\r\n").is_err() {
            break;
        }
        while let Ok((l, at)) = rx.try_recv() {
            if l.starts_with("-ERR") {
                end = Some((l, at));
            }
        }
        if end.is_some() {
            break;
        }
    }
    let (line, at) = end.unwrap_or_else(|| next(&rx));
    assert!(line.starts_with("-ERR"), "{line}");
    assert!(at - started < Duration::from_secs(10), "{:?}", at - started);

    // Logged in, the same NOOPs keep the session for longer than the timeout.
    let mut s = TcpStream::connect(d.addr("imap", "plain")).unwrap();
    let rx = reader(&s);
    assert!(next(&rx).0.starts_with("* OK"));
    s.write_all(b"l LOGIN pat@example.test pat-pw\r\n").unwrap();
    while !next(&rx).0.starts_with("l OK") {}
    for i in 0..15 {
        std::thread::sleep(Duration::from_millis(400));
        s.write_all(format!("n{i} NOOP\r\n").as_bytes()).unwrap();
        let (l, _) = next(&rx);
        assert_eq!(l, format!("n{i} OK NOOP completed"), "after {i} NOOPs");
    }
}
