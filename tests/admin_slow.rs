//! Slow or silent clients cannot keep the command line out of the admin API:
//! with 100 connections that send nothing or a byte a second, `ferrymail
//! status` still answers at once, and the slow connections are closed by the
//! header timeout (10 s) or sooner.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::domains::{server, PLAINTEXT};
use common::ops::cli;
use common::{Daemon, TestConfig};

/// Holds a connection open, sending one byte a second when `trickle`, and
/// returns how long it stayed open (None: still open after 30 s).
fn slow(addr: std::net::SocketAddr, trickle: bool) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let request =
        b"GET /api/status HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buf = [0u8; 1024];
    for i in 0..30 {
        if trickle {
            let _ = s.write_all(&request[i..=i]);
        }
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => return Some(start.elapsed()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn status_works_while_slow_clients_hold_connections() {
    let cfg = TestConfig::new(&server(PLAINTEXT, &["pop3", "admin"]), &[]);
    let daemon = Daemon::start(&cfg.path(), &cfg.data_dir());
    let admin = daemon.addr("admin", "plain");

    let slow: Vec<_> = (0..100)
        .map(|i| std::thread::spawn(move || slow(admin, i % 2 == 1)))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));

    let began = Instant::now();
    let (code, out, err) = cli(&cfg, &["status", "--json"], "");
    assert_eq!(code, 0, "status failed: {out}{err}");
    assert!(out.contains('{'), "{out}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "status took {:?}",
        began.elapsed()
    );

    for (i, h) in slow.into_iter().enumerate() {
        let open = h.join().unwrap();
        assert!(
            open.is_some_and(|d| d <= Duration::from_secs(14)),
            "slow connection {i} stayed open: {open:?}"
        );
    }
    drop(daemon);
}
