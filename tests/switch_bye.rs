//! A clean switch (issue 15, item 8): the sessions proxied to the legacy server
//! while a mailbox is copied end with a goodbye the client understands, written
//! between two responses. IMAP: `* BYE [UNAVAILABLE] ...`, also in IDLE and in
//! the middle of a response (after its end, literal included). POP3:
//! `-ERR [SYS/TEMP] ...` when a command is unanswered, else a bare close.
//!
//! First the relay alone, against a scripted legacy server (deterministic: each
//! step waits for the bytes of the one before); then the whole daemon against
//! a real Dovecot, the user held in the copy by pausing the domain (admin API)
//! until the clients are in place.

mod common;
mod migrate_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::{Line, TestConfig};
use ferrymail::legacy::relay::{relay, Goodbye, ProxyEnd};
use ferrymail::server::Conn;
use migrate_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SWITCH_BYE: &str =
    "* BYE [UNAVAILABLE] Your mailbox has been moved to the new mail server; please reconnect";
const SWITCH_ERR: &str =
    "-ERR [SYS/TEMP] Your mailbox has been moved to the new mail server; please reconnect";
/// A bound on every wait of the relay tests; never expected to be reached.
const PATIENCE: Duration = Duration::from_secs(30);

/// Two ends of one loopback connection.
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

/// A relay between a test client and a scripted legacy server.
struct Rig {
    client: TcpStream,
    legacy: TcpStream,
    end: CancellationToken,
    shutdown: CancellationToken,
    relay: JoinHandle<ProxyEnd>,
}

async fn rig(goodbye: Goodbye) -> Rig {
    let (client, served) = pair().await;
    let (to_legacy, legacy) = pair().await;
    let mut served = Conn::new(served, Duration::from_secs(60)).unwrap();
    let shutdown = CancellationToken::new();
    served.set_shutdown(shutdown.clone());
    let to_legacy = Conn::new(to_legacy, Duration::from_secs(60)).unwrap();
    let end = CancellationToken::new();
    let relay = tokio::spawn(relay(
        served,
        to_legacy,
        Duration::from_secs(600),
        end.clone(),
        goodbye,
    ));
    Rig {
        client,
        legacy,
        end,
        shutdown,
        relay,
    }
}

/// Reads exactly `want.len()` bytes, which must be `want`.
async fn expect(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(PATIENCE, s.read_exact(&mut got))
        .await
        .expect("bytes in time")
        .expect("bytes before the end");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

/// Everything up to the end of the stream.
async fn rest(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut got))
        .await
        .expect("the relay closes")
        .expect("a clean close");
    String::from_utf8(got).unwrap()
}

async fn ended(r: Rig) -> ProxyEnd {
    tokio::time::timeout(PATIENCE, r.relay)
        .await
        .expect("relay ends")
        .unwrap()
}

#[tokio::test]
async fn imap_bye_waits_for_the_end_of_the_response_literal_included() {
    let mut r = rig(Goodbye::Imap).await;
    r.client
        .write_all(b"a1 UID FETCH 7 BODY[]\r\n")
        .await
        .unwrap();
    expect(&mut r.legacy, b"a1 UID FETCH 7 BODY[]\r\n").await;
    // The switch comes in the middle of the literal.
    let head = b"* 1 FETCH (UID 7 BODY[] {13}\r\nSubj";
    r.legacy.write_all(head).await.unwrap();
    expect(&mut r.client, head).await;
    r.end.cancel();
    // The client's next command is no longer relayed.
    r.client.write_all(b"a2 NOOP\r\n").await.unwrap();
    // The literal holds what looks like a line end; the response goes on
    // after it; what follows the response is not relayed.
    r.legacy
        .write_all(b"ect\r\nxy\r\n)\r\na1 OK Fetch completed\r\n* 2 EXISTS\r\n")
        .await
        .unwrap();
    let got = rest(&mut r.client).await;
    assert_eq!(got, format!("ect\r\nxy\r\n)\r\n{SWITCH_BYE}\r\n"));
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, r.legacy.read_to_end(&mut seen)).await;
    assert!(seen.is_empty(), "{:?}", String::from_utf8_lossy(&seen));
    assert_eq!(ended(r).await, ProxyEnd::Ended);
}

#[tokio::test]
async fn imap_bye_in_idle_and_at_shutdown() {
    let mut r = rig(Goodbye::Imap).await;
    r.client.write_all(b"i IDLE\r\n").await.unwrap();
    expect(&mut r.legacy, b"i IDLE\r\n").await;
    r.legacy.write_all(b"+ idling\r\n").await.unwrap();
    expect(&mut r.client, b"+ idling\r\n").await;
    r.end.cancel();
    assert_eq!(rest(&mut r.client).await, format!("{SWITCH_BYE}\r\n"));
    assert_eq!(ended(r).await, ProxyEnd::Ended);

    let mut r = rig(Goodbye::Imap).await;
    r.legacy.write_all(b"* 3 EXISTS\r\n").await.unwrap();
    expect(&mut r.client, b"* 3 EXISTS\r\n").await;
    r.shutdown.cancel();
    assert_eq!(
        rest(&mut r.client).await,
        "* BYE [UNAVAILABLE] Server shutting down\r\n"
    );
    assert_eq!(ended(r).await, ProxyEnd::Ended);
}

#[tokio::test]
async fn imap_response_that_never_ends_is_closed_without_a_bye() {
    let mut r = rig(Goodbye::Imap).await;
    r.legacy
        .write_all(b"* 1 FETCH (BODY[] {100}\r\nabc")
        .await
        .unwrap();
    expect(&mut r.client, b"* 1 FETCH (BODY[] {100}\r\nabc").await;
    r.end.cancel();
    // The legacy server goes quiet: after the grace, a bare close.
    assert_eq!(rest(&mut r.client).await, "");
    assert_eq!(ended(r).await, ProxyEnd::Ended);
}

#[tokio::test]
async fn pop3_err_only_for_an_unanswered_command() {
    // Idle: a bare close.
    let mut r = rig(Goodbye::Pop3).await;
    r.client.write_all(b"STAT\r\n").await.unwrap();
    expect(&mut r.legacy, b"STAT\r\n").await;
    r.legacy.write_all(b"+OK 2 320\r\n").await.unwrap();
    expect(&mut r.client, b"+OK 2 320\r\n").await;
    r.end.cancel();
    assert_eq!(rest(&mut r.client).await, "");
    assert_eq!(ended(r).await, ProxyEnd::Ended);

    // A command sent, not answered.
    let mut r = rig(Goodbye::Pop3).await;
    r.client.write_all(b"NOOP\r\n").await.unwrap();
    expect(&mut r.legacy, b"NOOP\r\n").await;
    r.end.cancel();
    assert_eq!(rest(&mut r.client).await, format!("{SWITCH_ERR}\r\n"));
    assert_eq!(ended(r).await, ProxyEnd::Ended);
}

#[tokio::test]
async fn pop3_multi_line_answer_is_finished_first() {
    let mut r = rig(Goodbye::Pop3).await;
    // RETR, and a pipelined STAT behind it.
    r.client.write_all(b"RETR 1\r\nSTAT\r\n").await.unwrap();
    expect(&mut r.legacy, b"RETR 1\r\nSTAT\r\n").await;
    let head = b"+OK 40 octets\r\nSubject: x\r\n\r\n";
    r.legacy.write_all(head).await.unwrap();
    expect(&mut r.client, head).await;
    r.end.cancel();
    // A stuffed dot line is not the end; the answer to STAT is not relayed.
    r.legacy
        .write_all(b"..dot\r\nend\r\n.\r\n+OK 2 320\r\n")
        .await
        .unwrap();
    assert_eq!(
        rest(&mut r.client).await,
        format!("..dot\r\nend\r\n.\r\n{SWITCH_ERR}\r\n")
    );
    assert_eq!(ended(r).await, ProxyEnd::Ended);
}

/// A TCP relay in front of the legacy POP3 server that can stop passing the
/// client's bytes on (they are counted, not sent): a command stays unanswered.
struct Stall {
    port: u16,
    hold: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
}

fn stall(target: u16) -> Stall {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicUsize::new(0));
    let (h, n) = (hold.clone(), held.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let Ok(s) = StdStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut cr, mut sw) = (c.try_clone().unwrap(), s.try_clone().unwrap());
            let (h, n) = (h.clone(), n.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(k) = cr.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    if h.load(Ordering::SeqCst) {
                        n.fetch_add(k, Ordering::SeqCst);
                    } else if sw.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown(std::net::Shutdown::Both);
            });
            let (mut sr, mut cw) = (s, c);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut sr, &mut cw);
                let _ = cw.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    Stall { port, hold, held }
}

fn admin_post(addr: SocketAddr, token: &str, path: &str) {
    let mut s = StdStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{path}: {resp}");
}

/// A proxied POP3 session of alice, after a STAT.
fn pop3_login(addr: SocketAddr) -> Line {
    let mut p = Line::connect(addr);
    p.expect("+OK");
    let r = p.pop("USER alice@example.org");
    assert!(r.starts_with("+OK"), "{r}");
    assert_eq!(p.pop("PASS alice-pw"), "+OK Logged in");
    let r = p.pop("STAT");
    assert!(r.starts_with("+OK 30 "), "{r}");
    p
}

/// Lines up to the end of the stream.
fn lines_to_eof(c: &mut Line) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(l) = c.try_line() {
        out.push(l);
        assert!(out.len() < 1000, "no end: {out:?}");
    }
    out
}

#[test]
fn proxied_sessions_are_told_at_the_switch() {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut c = legacy.imap("alice", "alice-pw");
    for (flags, date, body) in sample_messages().into_iter().cycle().take(30) {
        c.append("INBOX", flags, date, &body);
    }
    c.logout();
    let pop3 = stall(legacy.pop3_port);
    let mut domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "timeout_secs = 20\nserve_locally_within_ms = 0\nwhile_copying = \"proxy\"",
            ..Default::default()
        },
    );
    domain.push_str(&format!(
        "\n[migration.pop3]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nverify_certificate = false\n",
        pop3.port
    ));
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "pop3", "admin"]),
        &[("example.org", &domain)],
    );
    let d = start_daemon(&cfg, None);
    let admin = d.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let token = token.trim();
    // The copy waits until the clients are in place.
    admin_post(admin, token, "/api/domains/example.org/pause");

    // IMAP, in IDLE on the legacy server.
    let mut imap = Line::connect_timeout(d.addr("imap", "plain"), Duration::from_secs(300));
    imap.expect("* OK");
    let r = imap.transact("a", "LOGIN alice@example.org alice-pw");
    assert!(r.starts_with("a OK"), "{r}");
    assert_eq!(
        account_state(&d.data_dir, "alice@example.org").as_deref(),
        Some("copying")
    );
    let r = imap.transact("b", "SELECT INBOX");
    assert!(r.starts_with("b OK"), "{r}");
    imap.send_line("c IDLE");
    imap.expect("+ ");

    // POP3, between two commands; and POP3 waiting for an answer to a
    // command the legacy server never gets.
    let mut idle = pop3_login(d.addr("pop3", "plain"));
    let mut waiting = pop3_login(d.addr("pop3", "plain"));
    pop3.hold.store(true, Ordering::SeqCst);
    waiting.send_line("LIST 1");
    common::wait_until(
        60,
        20,
        || pop3.held.load(Ordering::SeqCst) > 0,
        || "the relay never passed LIST on".into(),
    );

    admin_post(admin, token, "/api/domains/example.org/resume");
    wait_state(&d, "alice@example.org", "migrated", 300);

    let got = lines_to_eof(&mut imap);
    assert_eq!(got.last().map(String::as_str), Some(SWITCH_BYE), "{got:?}");
    assert!(
        got[..got.len() - 1].iter().all(|l| l.starts_with("* ")),
        "only untagged responses in IDLE: {got:?}"
    );
    assert_eq!(lines_to_eof(&mut idle), Vec::<String>::new());
    assert_eq!(lines_to_eof(&mut waiting), vec![SWITCH_ERR.to_string()]);

    // The next login is served by ferrymail itself.
    let mut imap = Line::connect(d.addr("imap", "plain"));
    imap.expect("* OK");
    let r = imap.transact("a", "LOGIN alice@example.org alice-pw");
    assert!(r.starts_with("a OK") && !r.contains("THREAD=REFS"), "{r}");
    let log = d.log_text();
    assert!(log.contains("switch: logins held"), "{log}");
}
