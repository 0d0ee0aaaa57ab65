//! Hostile input against the IMAP server of `ferrymail serve` (a child process on
//! port 0 with a temporary data dir): long lines, parenthesis floods, NUL in
//! quoted strings, huge literals, STARTTLS injection, LOGINDISABLED, names that
//! are not names, and an idle flood from one address. Memory is read from /proc.
//! (Limits already in tests/imap_limits.rs are not repeated here.)

mod common;

use std::time::Duration;

use base64::Engine;
use common::ops::add_account;
use common::proc::{admissible, count, idle_flood, raise_fd_limit, vm_rss_kib, wait_log};
use common::transcript::sasl_plain;
use common::{Client, Daemon, TestConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USER: &str = "pat@example.test";
const PASS: &str = "pat-pw";

/// A daemon with IMAP (plain + implicit TLS) and the account pat@example.test.
fn start(auth_extra: &str, imap_extra: &str) -> (TestConfig, Daemon) {
    let cfg = TestConfig::new(
        &format!(
            "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 1\n{auth_extra}\n\
             [imap]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n{imap_extra}\n"
        ),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    add_account(&cfg, USER, PASS);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    (cfg, d)
}

/// Reads from `s` until a line end or the end of the connection (at most 30 s).
async fn read_reply(s: &mut TcpStream, buf: &mut [u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.ends_with(b"\r\n") {
                break;
            }
        }
    })
    .await;
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn long_lines_paren_floods_nul_and_huge_literals() {
    raise_fd_limit();
    let (_cfg, d) = start(
        "allow_plaintext = true",
        "max_connections_per_ip = 600\nappend_limit = 100000",
    );
    let addr = d.addr("imap", "plain");
    let pid = d.pid();
    let mut c = Client::greeted(addr, "* OK").await;
    c.tagged("w", "NOOP").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = vm_rss_kib(pid);

    // An 8 KB command line is an ordinary command.
    let long = format!("x{}", "y".repeat(8 * 1024));
    let r = c.tagged("a1", &format!("LOGIN {long} pw")).await;
    assert!(r.last().unwrap().starts_with("a1 NO"), "{r:?}");
    let r = c
        .tagged("a2", &format!("ID (\"name\" \"{}\")", "n".repeat(8000)))
        .await;
    assert!(r.last().unwrap().starts_with("a2 "), "{r:?}");
    assert!(!r
        .last()
        .unwrap()
        .starts_with("a2 BAD Command line too long"));

    // NUL inside a quoted string: BAD, and the session goes on.
    c.send_raw(b"a3 LOGIN \"pat\0@example.test\" \"pat-pw\"\r\n")
        .await;
    let l = c.line().await.unwrap();
    assert!(l.starts_with("a3 BAD"), "{l}");
    c.send_raw(b"a4 SELECT \"IN\0BOX\"\r\n").await;
    let l = c.line().await.unwrap();
    assert!(l.starts_with("a4 BAD"), "{l}");

    // APPEND {4294967295}: NO [TOOBIG] before any continuation, before and after login.
    for tag in ["a5", "a6"] {
        c.send(&format!("{tag} APPEND INBOX {{4294967295}}")).await;
        let l = c.line().await.unwrap();
        assert!(l.starts_with(&format!("{tag} NO [TOOBIG]")), "{l}");
        if tag == "a5" {
            let r = c.tagged("li", &format!("LOGIN {USER} {PASS}")).await;
            assert!(r.last().unwrap().starts_with("li OK"), "{r:?}");
        }
    }
    // Over APPENDLIMIT, and a size no integer holds.
    c.send("a7 APPEND INBOX (\\Seen) {100001}").await;
    assert!(c.line().await.unwrap().starts_with("a7 NO [TOOBIG]"));
    c.send("a8 APPEND INBOX {99999999999999999999999999}").await;
    assert!(c.line().await.unwrap().starts_with("a8 NO [TOOBIG]"));
    let r = c.tagged("a9", "NOOP").await;
    assert_eq!(r.last().unwrap(), "a9 OK NOOP completed");

    // A 1 MB line without CRLF: BAD (or BYE), never held whole in memory.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut g = [0u8; 512];
    let _ = s.read(&mut g).await.unwrap();
    let mut line = b"h1 NOOP ".to_vec();
    line.resize(1024 * 1024, b'x');
    // The server may close before reading everything; a write error is fine then.
    let _ = s.write_all(&line).await;
    let _ = s.write_all(b"\r\n").await;
    let got = read_reply(&mut s, &mut [0u8; 4096]).await;
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(
        got.starts_with("h1 BAD") || got.starts_with("* BAD") || got.starts_with("* BYE"),
        "{got}"
    );
    let rss_peak = vm_rss_kib(pid);

    // `NOOP` and 4,000 `(` on 500 connections before login, 100 at a time.
    let mut all = Vec::new();
    for _ in 0..5 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let mut l = b"p NOOP ".to_vec();
                l.extend(std::iter::repeat_n(b'(', 4000));
                l.extend_from_slice(b"\r\n");
                let _ = s.write_all(&l).await;
                let got = read_reply(&mut s, &mut buf).await;
                (s, String::from_utf8_lossy(&got).into_owned())
            }));
        }
        for t in batch {
            all.push(t.await.unwrap());
        }
    }
    let rss_flood = vm_rss_kib(pid);
    for (_, got) in &all {
        assert!(got.starts_with("p BAD"), "{got}");
    }
    drop(all);
    assert!(
        rss_peak.max(rss_flood) < rss_before + 64 * 1024,
        "RSS {rss_before} KiB before, {rss_peak} after the 1 MB line, {rss_flood} after the flood"
    );
    // The first session is still there, and the daemon serves.
    let r = c.tagged("z", "NOOP").await;
    assert_eq!(r.last().unwrap(), "z OK NOOP completed");
    assert!(!d.log_text().contains("panicked"));
}

#[tokio::test]
async fn starttls_injection_and_logindisabled() {
    let (_cfg, d) = start("", "");
    let addr = d.addr("imap", "plain");
    // Plaintext not allowed: LOGINDISABLED, LOGIN and AUTHENTICATE refused.
    let mut c = Client::greeted(addr, "* OK").await;
    let r = c.tagged("c1", "CAPABILITY").await;
    assert!(r[0].contains("LOGINDISABLED"), "{r:?}");
    assert!(r[0].contains("STARTTLS"), "{r:?}");
    assert!(!r[0].contains("AUTH=PLAIN"), "{r:?}");
    let r = c.tagged("c2", &format!("LOGIN {USER} {PASS}")).await;
    let l = r.last().unwrap();
    assert!(l.starts_with("c2 NO") || l.starts_with("c2 BAD"), "{l}");
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASS}"));
    let r = c.tagged("c3", &format!("AUTHENTICATE PLAIN {plain}")).await;
    let l = r.last().unwrap();
    assert!(l.starts_with("c3 NO") || l.starts_with("c3 BAD"), "{l}");
    // After STARTTLS, the same login works.
    c.send("c4 STARTTLS").await;
    assert!(c.line().await.unwrap().starts_with("c4 OK"));
    let mut t = c.starttls().await;
    let r = t.tagged("c5", &format!("LOGIN {USER} {PASS}")).await;
    assert!(r.last().unwrap().starts_with("c5 OK"), "{r:?}");
    assert!(!d.log_text().contains(PASS));

    // STARTTLS with a command pipelined in the same segment: the injected command
    // is never answered (neither in clear nor inside TLS); the connection closes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf).await.unwrap();
    s.write_all(b"a STARTTLS\r\nb NOOP\r\n").await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("connection not closed");
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(!got.contains("a OK"), "{got}");
    assert!(!got.contains("b OK") && !got.contains("b BAD"), "{got}");
}

/// An IMAP quoted string or literal for any bytes.
async fn send_login(c: &mut Client, tag: &str, name: &[u8]) -> String {
    let quotable = name
        .iter()
        .all(|&b| b != b'\r' && b != b'\n' && b != 0 && b < 0x80);
    if quotable {
        let mut q = Vec::new();
        for &b in name {
            if b == b'"' || b == b'\\' {
                q.push(b'\\');
            }
            q.push(b);
        }
        let mut l = format!("{tag} LOGIN \"").into_bytes();
        l.extend_from_slice(&q);
        l.extend_from_slice(format!("\" {PASS}\r\n").as_bytes());
        c.send_raw(&l).await;
    } else {
        c.send(&format!("{tag} LOGIN {{{}}}", name.len())).await;
        let l = c.line().await.unwrap();
        assert!(l.starts_with('+'), "{l}");
        c.send_raw(name).await;
        c.send_raw(format!(" {PASS}\r\n").as_bytes()).await;
    }
    c.until(&format!("{tag} ")).await.pop().unwrap()
}

#[tokio::test]
async fn names_that_are_not_names_are_refused_at_imap_login() {
    let (_cfg, d) = start("allow_plaintext = true", "");
    let addr = d.addr("imap", "plain");
    let long = "x".repeat(256) + "@example.test";
    let names: Vec<&[u8]> = vec![
        b"a\rb@example.test",
        b"a\nb@example.test",
        b"a b@example.test",
        b"a%b@example.test",
        b"*@example.test",
        b"a/b@example.test",
        b"../../etc/passwd@example.test",
        b"a/../pat@example.test",
        b"pat@example.test\r\n",
        long.as_bytes(),
    ];
    let mut attempts = 0;
    for (i, name) in names.iter().enumerate() {
        let mut c = Client::greeted(addr, "* OK").await;
        let r = send_login(&mut c, &format!("l{i}"), name).await;
        assert!(r.starts_with(&format!("l{i} NO")), "{name:?} -> {r}");
        attempts += 1;
        let r = c
            .tagged(
                "s",
                &format!("AUTHENTICATE PLAIN {}", sasl_plain(name, PASS)),
            )
            .await;
        assert!(r.last().unwrap().starts_with("s NO"), "{name:?} -> {r:?}");
        attempts += 1;
    }
    // NUL inside the SASL name: malformed PLAIN, no login attempted; the session
    // goes on and a real login works.
    let mut c = Client::greeted(addr, "* OK").await;
    let r = c
        .tagged(
            "n1",
            &format!(
                "AUTHENTICATE PLAIN {}",
                sasl_plain(b"a\0b@example.test", PASS)
            ),
        )
        .await;
    let l = r.last().unwrap();
    assert!(l.starts_with("n1 NO") || l.starts_with("n1 BAD"), "{l}");
    let r = c
        .tagged(
            "n2",
            &format!("AUTHENTICATE PLAIN {}", sasl_plain(USER.as_bytes(), PASS)),
        )
        .await;
    assert!(r.last().unwrap().starts_with("n2 OK"), "{r:?}");

    let log = wait_log(&d, "reason=bad-name", attempts, 30);
    assert_eq!(count(&log, "reason=bad-name"), attempts, "{log}");
    assert_eq!(count(&log, "reason=unknown-user"), 0, "{log}");
    assert_eq!(count(&log, "reason=password"), 0, "{log}");
    for l in log.lines().filter(|l| l.contains("auth failed:")) {
        assert!(
            l.contains("proto=imap") && l.ends_with("reason=bad-name"),
            "{l}"
        );
    }
    assert!(!log.contains(PASS));
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_idle_imap_connections_are_capped() {
    raise_fd_limit();
    const PER_IP: usize = 20;
    let (_cfg, d) = start(
        "",
        &format!("max_connections_per_ip = {PER_IP}\ntimeout_secs = 3"),
    );
    let addr = d.addr("imap", "plain");
    let pid = d.pid();
    let rss_before = vm_rss_kib(pid);
    let (tasks, opening) = idle_flood(addr, 500).await;
    let admissible = admissible(PER_IP, 3, opening);
    let rss_peak = vm_rss_kib(pid);
    let (mut greeted, mut refused) = (0, 0);
    for t in tasks {
        let got = String::from_utf8_lossy(&t.await.unwrap()).into_owned();
        if got.starts_with("* OK") {
            assert!(got.contains("* BYE"), "{got}");
            greeted += 1;
        } else {
            assert!(got.starts_with("* BYE [UNAVAILABLE]"), "{got}");
            refused += 1;
        }
    }
    assert!(
        (PER_IP..=admissible).contains(&greeted),
        "{greeted} admitted"
    );
    assert_eq!(greeted + refused, 500);
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "{rss_before} -> {rss_peak} KiB"
    );
    // Every place came back.
    let mut c = Client::greeted(addr, "* OK").await;
    let r = c.tagged("x", "NOOP").await;
    assert_eq!(r.last().unwrap(), "x OK NOOP completed");
}

/// A second APPEND literal (MULTIAPPEND) is bounded before it is read: the
/// literals of one APPEND together stay within APPENDLIMIT, so
/// `{70000+} <70000 bytes> {45000000+}` with a 45 MB limit is refused at the
/// second announcement, before any of its bytes are read (a second literal
/// used to be read into memory, 44 MB per session); the synchronizing form
/// gets `NO [TOOBIG]` instead of a continuation (issue 23 item 3). Large
/// messages go to files, never to memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_append_literal_is_refused_before_it_is_read() {
    // MULTIAPPEND: the messages of one APPEND together stay within
    // APPENDLIMIT; the second announcement passes it.
    let (_cfg, d) = start("allow_plaintext = true", "append_limit = 45000000");
    let addr = d.addr("imap", "plain");
    let first = vec![b'a'; 70_000];
    for (tag, second) in [("n1", "{45000000+}"), ("s1", "{45000000}")] {
        let mut c = Client::greeted(addr, "* OK").await;
        c.timeout = Duration::from_secs(20);
        let r = c.tagged("li", &format!("LOGIN {USER} {PASS}")).await;
        assert!(r.last().unwrap().starts_with("li OK"), "{r:?}");
        c.send_raw(b"a APPEND INBOX {70000+}\r\n").await;
        c.send_raw(&first).await;
        c.send_raw(format!(" {second}\r\n").as_bytes()).await;
        let l = c.line().await.expect("an answer before the 45 MB");
        if second.ends_with("+}") {
            assert!(l.starts_with("a BAD [TOOBIG]"), "{tag}: {l}");
            let bye = c.line().await.unwrap_or_default();
            assert!(bye.starts_with("* BYE"), "{tag}: {bye}");
        } else {
            assert!(l.starts_with("a NO [TOOBIG]"), "{tag}: {l}");
            let r = c.tagged("z", "NOOP").await;
            assert_eq!(r.last().unwrap(), "z OK NOOP completed");
        }
    }
    // One large message streamed to a file is still fine.
    let mut c = Client::greeted(addr, "* OK").await;
    let r = c.tagged("li", &format!("LOGIN {USER} {PASS}")).await;
    assert!(r.last().unwrap().starts_with("li OK"), "{r:?}");
    let body = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(300_000));
    c.send_raw(format!("b APPEND INBOX {{{}+}}\r\n", body.len()).as_bytes())
        .await;
    c.send_raw(body.as_bytes()).await;
    c.send_raw(b"\r\n").await;
    let r = c.until("b ").await;
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
}
