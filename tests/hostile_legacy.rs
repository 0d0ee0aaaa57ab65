//! Legacy servers that fail or misbehave at the first login, against `ferrymail
//! serve` (port 0, temporary data dir) migrating example.org. The legacy IMAP
//! endpoint is a small relay in this test: it forwards to the real Dovecot of
//! tests/common/legacy.rs (and counts the connections), or plays one broken
//! server (down, hanging, `* BYE`, garbage, extra bytes after the STARTTLS OK,
//! no STARTTLS, PREAUTH) and records every byte it receives.
//! Fake servers are for fault tests only: the normal path is real Dovecot.

mod common;
mod migrate_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::domains::{migrating, server, MigratingDomain};
use common::legacy::{Legacy, LegacyOptions};
use common::proc::{count, peak_rss_kib};
use common::{Line, TestConfig};
use migrate_support::{account_state, start_daemon, wait_state};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ATTEMPTS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Relay to the real Dovecot.
    Forward,
    /// Accept, then close at once (a server going down).
    Close,
    /// Accept, never answer.
    Hang,
    /// `* BYE` as greeting.
    Bye,
    /// A greeting, then garbage (`500 ...`) to every command.
    Garbage,
    /// `a OK Begin TLS\r\n* OK x\r\n` in one segment to STARTTLS; then no TLS.
    ExtraAfterStarttls,
    /// No STARTTLS among the capabilities, LOGIN offered.
    NoStarttls,
    /// `* PREAUTH` greeting.
    Preauth,
}

struct Fake {
    mode: Mutex<Mode>,
    connections: AtomicUsize,
    /// Everything received in fault modes.
    received: Mutex<Vec<u8>>,
    dovecot: u16,
}

async fn read_line(s: &mut TcpStream, rec: &Fake) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b).await {
            Ok(1) => {
                rec.received.lock().unwrap().push(b[0]);
                line.push(b[0]);
                if b[0] == b'\n' {
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
            }
            _ => return None,
        }
    }
}

async fn drain(s: &mut TcpStream, rec: &Fake) {
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        rec.received.lock().unwrap().extend_from_slice(&buf[..n]);
    }
}

async fn serve(mut s: TcpStream, fake: Arc<Fake>) {
    fake.connections.fetch_add(1, Ordering::SeqCst);
    let mode = *fake.mode.lock().unwrap();
    let caps_tls = "IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN";
    match mode {
        Mode::Forward => {
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", fake.dovecot)).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
        }
        Mode::Close => {}
        Mode::Hang => drain(&mut s, &fake).await,
        Mode::Bye => {
            let _ = s.write_all(b"* BYE Too busy, go away\r\n").await;
            drain(&mut s, &fake).await;
        }
        Mode::Preauth => {
            let _ = s
                .write_all(b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in as alice\r\n")
                .await;
            drain(&mut s, &fake).await;
        }
        Mode::Garbage => {
            let _ = s
                .write_all(format!("* OK [CAPABILITY {caps_tls}] hi\r\n").as_bytes())
                .await;
            while let Some(_l) = read_line(&mut s, &fake).await {
                let _ = s
                    .write_all(b"500 5.5.1 what?\r\n\x01\x02\xff garbage\r\n")
                    .await;
            }
        }
        Mode::ExtraAfterStarttls => {
            let _ = s
                .write_all(format!("* OK [CAPABILITY {caps_tls}] hi\r\n").as_bytes())
                .await;
            while let Some(l) = read_line(&mut s, &fake).await {
                let tag = l.split(' ').next().unwrap_or("").to_string();
                if l.to_ascii_uppercase().contains("STARTTLS") {
                    // The injected line is in the same segment as the OK.
                    let _ = s
                        .write_all(
                            format!("{tag} OK Begin TLS\r\n* OK x\r\n{tag} OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake\r\n")
                                .as_bytes(),
                        )
                        .await;
                    // Never speaks TLS: whatever comes now is recorded.
                    drain(&mut s, &fake).await;
                    return;
                }
                let _ = s
                    .write_all(format!("* CAPABILITY {caps_tls}\r\n{tag} OK done\r\n").as_bytes())
                    .await;
            }
        }
        Mode::NoStarttls => {
            let caps = "IMAP4rev1 AUTH=PLAIN";
            let _ = s
                .write_all(format!("* OK [CAPABILITY {caps}] hi\r\n").as_bytes())
                .await;
            while let Some(l) = read_line(&mut s, &fake).await {
                let tag = l.split(' ').next().unwrap_or("").to_string();
                let up = l.to_ascii_uppercase();
                let reply = if up.contains("CAPABILITY") {
                    format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n")
                } else if up.contains("STARTTLS") {
                    format!("{tag} BAD unknown command\r\n")
                } else {
                    format!("{tag} OK [CAPABILITY {caps}] welcome\r\n")
                };
                let _ = s.write_all(reply.as_bytes()).await;
            }
        }
    }
}

async fn start_fake(dovecot: u16) -> (Arc<Fake>, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let fake = Arc::new(Fake {
        mode: Mutex::new(Mode::Forward),
        connections: AtomicUsize::new(0),
        received: Mutex::new(Vec::new()),
        dovecot,
    });
    let f = fake.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, f.clone()));
        }
    });
    (fake, port)
}

fn config(legacy: &Legacy, imap_port: u16) -> TestConfig {
    let domain = migrating(
        legacy,
        MigratingDomain {
            migration: "timeout_secs = 3",
            pop3: true,
            imap_port: Some(imap_port),
            ..Default::default()
        },
    );
    TestConfig::new(
        &server(
            "allow_plaintext = true\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2",
            &["imap"],
        ),
        &[
            ("example.org", &domain),
            ("example.test", "domain = \"example.test\"\n"),
        ],
    )
}

/// One IMAP LOGIN against ferrymail (blocking client); returns the tagged reply.
fn imap_login(addr: std::net::SocketAddr, user: &str, pass: &str) -> String {
    let mut c = Line::connect(addr);
    c.expect("* OK");
    let r = c.transact("a", &format!("LOGIN \"{user}\" \"{pass}\""));
    if r != "(closed)" {
        let _ = c.try_send(b"b LOGOUT\r\n");
    }
    r
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_legacy_servers_give_temporary_failures_and_never_see_the_password() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "carol"]));
    let (fake, port) = start_fake(legacy.imap_port).await;
    let cfg = config(&legacy, port);
    let d = start_daemon(&cfg, None);
    let addr = d.addr("imap", "plain");

    // Each broken server: a temporary failure, no account made, and the password
    // never arrives in clear.
    for mode in [
        Mode::Close,
        Mode::Hang,
        Mode::Bye,
        Mode::Garbage,
        Mode::ExtraAfterStarttls,
        Mode::NoStarttls,
        Mode::Preauth,
    ] {
        *fake.mode.lock().unwrap() = mode;
        fake.received.lock().unwrap().clear();
        let before = fake.connections.load(Ordering::SeqCst);
        let r =
            tokio::task::spawn_blocking(move || imap_login(addr, "alice@example.org", "alice-pw"))
                .await
                .unwrap();
        assert!(r.starts_with("a NO [UNAVAILABLE]"), "{mode:?}: {r}");
        assert!(fake.connections.load(Ordering::SeqCst) > before, "{mode:?}");
        assert_eq!(
            account_state(&d.data_dir, "alice@example.org"),
            None,
            "{mode:?}"
        );
        // Give the fake a moment to record what the daemon may still send.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = fake.received.lock().unwrap().clone();
        assert!(
            !contains(&got, b"alice-pw"),
            "{mode:?}: {}",
            String::from_utf8_lossy(&got)
        );
        // Not in base64 either (AUTHENTICATE PLAIN).
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0alice-pw");
        assert!(!contains(&got, b64.as_bytes()), "{mode:?}");
        if mode == Mode::ExtraAfterStarttls {
            // What followed the OK was a TLS ClientHello (0x16), never a command.
            assert!(
                !contains(&got, b"LOGIN"),
                "{}",
                String::from_utf8_lossy(&got)
            );
            assert!(!contains(&got, b"AUTHENTICATE"));
        }
    }

    // The legacy server is back: the same login works and the account migrates.
    // (Before the guesses below: Dovecot then slows every login from here down.)
    *fake.mode.lock().unwrap() = Mode::Forward;
    let r = tokio::task::spawn_blocking(move || imap_login(addr, "alice@example.org", "alice-pw"))
        .await
        .unwrap();
    assert!(r.starts_with("a OK"), "{r}");
    // Then 100 wrong passwords for an unmigrated user: only a handful reach the
    // legacy server; logins for domains we do not host never do.
    let before = fake.connections.load(Ordering::SeqCst);
    let mut replies = std::collections::BTreeSet::new();
    for i in 0..ATTEMPTS {
        let r = tokio::task::spawn_blocking(move || {
            imap_login(addr, "carol@example.org", &format!("guess-{i}"))
        })
        .await
        .unwrap();
        assert!(r.starts_with("a NO"), "{r}");
        replies.insert(r);
    }
    let reached = fake.connections.load(Ordering::SeqCst) - before;
    assert!(
        (1..=8).contains(&reached),
        "{reached} legacy connections; replies {replies:?}\n{}",
        d.log_text()
    );
    let dovecot_attempts = legacy
        .dovecot_log()
        .lines()
        .filter(|l| l.contains("carol"))
        .count();
    assert!(dovecot_attempts <= 10, "{}", legacy.dovecot_log());
    let before = fake.connections.load(Ordering::SeqCst);
    for user in ["alice@elsewhere.example", "carol@example.net", "x@org"] {
        let r = tokio::task::spawn_blocking(move || imap_login(addr, user, "pw"))
            .await
            .unwrap();
        assert!(r.starts_with("a NO"), "{r}");
    }
    assert_eq!(fake.connections.load(Ordering::SeqCst), before);

    tokio::task::spawn_blocking(move || {
        wait_state(&d, "alice@example.org", "migrated", 120);
        let log = d.log_text();
        assert!(!log.contains("alice-pw"));
        assert!(!log.contains("panicked"));
    })
    .await
    .unwrap();
}

/// How the hostile legacy server of the copy test misbehaves in `UID FETCH`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Copy {
    Forward,
    /// A 10 MB response line.
    HugeLine,
    /// FETCH responses that do not parse, then a literal of the wrong kind.
    Malformed,
    /// A message literal announcing 1 MB, 100 bytes sent, then the connection closed.
    LyingLiteral,
    /// The connection dropped in the middle of a FETCH response.
    Drop,
}

struct CopyFake {
    mode: Mutex<Copy>,
    dovecot: u16,
}

/// A legacy server good enough for the login check and the start of a copy, with
/// hostile folder names (`../../etc`, one with a NUL, one with `/` levels going
/// up) and a hostile `UID FETCH`.
async fn serve_copy(mut s: TcpStream, fake: Arc<CopyFake>) {
    let mode = *fake.mode.lock().unwrap();
    if mode == Copy::Forward {
        if let Ok(mut up) = TcpStream::connect(("127.0.0.1", fake.dovecot)).await {
            let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
        }
        return;
    }
    let sink = Fake {
        mode: Mutex::new(Mode::Hang),
        connections: AtomicUsize::new(0),
        received: Mutex::new(Vec::new()),
        dovecot: 0,
    };
    let caps = "IMAP4rev1 NAMESPACE";
    let _ = s
        .write_all(format!("* OK [CAPABILITY {caps}] hostile\r\n").as_bytes())
        .await;
    while let Some(l) = read_line(&mut s, &sink).await {
        sink.received.lock().unwrap().clear();
        let tag = l.split(' ').next().unwrap_or("").to_string();
        let up = l.to_ascii_uppercase();
        let verb = up.split(' ').nth(1).unwrap_or("").trim().to_string();
        let out: Vec<u8> = match verb.as_str() {
            "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n").into_bytes(),
            "LOGIN" => format!("{tag} OK [CAPABILITY {caps}] in\r\n").into_bytes(),
            "NAMESPACE" => format!("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK done\r\n").into_bytes(),
            "LIST" | "LSUB" => {
                let mut o = format!(
                    "* {verb} () \"/\" INBOX\r\n* {verb} () \"/\" \"../../etc\"\r\n* {verb} () \"/\" \"a/../../../b\"\r\n* {verb} () \"/\" {{7}}\r\n"
                )
                .into_bytes();
                o.extend_from_slice(b"bad\0box\r\n");
                o.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                o
            }
            "STATUS" => {
                let name = l.split(' ').nth(2).unwrap_or("INBOX").to_string();
                format!("* STATUS {name} (MESSAGES 2)\r\n{tag} OK done\r\n").into_bytes()
            }
            "EXAMINE" | "SELECT" => format!(
                "* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 42] x\r\n* OK [UIDNEXT 3] x\r\n* FLAGS (\\Seen)\r\n{tag} OK [READ-ONLY] done\r\n"
            )
            .into_bytes(),
            "UID" => {
                match mode {
                    Copy::HugeLine => {
                        let mut o = b"* 1 FETCH (UID 1 FLAGS (".to_vec();
                        o.resize(10 * 1024 * 1024, b'x');
                        o.extend_from_slice(b"))\r\n");
                        o
                    }
                    Copy::Malformed => {
                        let mut o = b"* 1 FETCH (UID abc FLAGS (\\Seen)\r\n* 2 FETCH UID 2))\r\n* FETCH\r\n* 1 FETCH (UID 1 FLAGS ((((\r\n".to_vec();
                        o.extend_from_slice(b"* 2 FETCH (UID 2 BODY[] NIL)\r\n* 3 FETCH (UID 3 X-JUNK {5}\r\n\0\0\0\0\0)\r\n");
                        o.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                        o
                    }
                    Copy::LyingLiteral => {
                        let mut o = if up.contains("BODY") {
                            b"* 1 FETCH (UID 1 BODY[] {1000000}\r\n".to_vec()
                        } else {
                            b"* 1 FETCH (UID 1 FLAGS ()) \r\n* 1 FETCH (UID 1 X {1000000}\r\n".to_vec()
                        };
                        o.extend_from_slice(&[b'y'; 100]);
                        let _ = s.write_all(&o).await;
                        return;
                    }
                    Copy::Drop => {
                        let _ = s.write_all(b"* 1 FETCH (UID 1 FLAGS (\\Se").await;
                        return;
                    }
                    Copy::Forward => unreachable!(),
                }
            }
            "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n").into_bytes(),
            _ => format!("{tag} OK done\r\n").into_bytes(),
        };
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Every path under `dir`.
fn tree(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            // Never follow symlinks.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_legacy_during_the_copy_fails_safely_and_the_copy_resumes() {
    let legacy = Legacy::start(LegacyOptions::default());
    migrate_support::seed_maildir(&legacy, "alice", "alice-pw", 3);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let fake = Arc::new(CopyFake {
        mode: Mutex::new(Copy::HugeLine),
        dovecot: legacy.imap_port,
    });
    let f = fake.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_copy(s, f.clone()));
        }
    });
    let cfg = config(&legacy, port);
    let path = cfg.dir.path().join("domains/example.org.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replacen("tls = \"starttls\"", "tls = \"none\"", 1)
        .replacen(
            "timeout_secs = 3",
            "timeout_secs = 10\nwhile_copying = \"reject\"",
            1,
        );
    std::fs::write(&path, text).unwrap();
    // Beside the test's directory (where `../` from it would lead).
    let beside = |name: &str| cfg.dir.path().parent().unwrap().join(name).exists();
    let outside_before = (beside("etc"), beside("b"));
    let d = start_daemon(&cfg, None);
    let addr = d.addr("imap", "plain");
    let pid = d.pid();

    // The first login starts the copy (and is told to come back later).
    let r = tokio::task::spawn_blocking(move || imap_login(addr, "alice@example.org", "alice-pw"))
        .await
        .unwrap();
    assert!(r.starts_with("a NO [UNAVAILABLE]"), "{r}");
    // Each hostile answer fails one attempt; the retries go on.
    for (i, mode) in [
        Copy::HugeLine,
        Copy::Malformed,
        Copy::LyingLiteral,
        Copy::Drop,
    ]
    .into_iter()
    .enumerate()
    {
        *fake.mode.lock().unwrap() = mode;
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let n = count(&d.log_text(), "migration attempt failed");
            if n > i {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{mode:?}:\n{}",
                d.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_ne!(
            account_state(&d.data_dir, "alice@example.org").as_deref(),
            Some("migrated"),
            "{mode:?}"
        );
    }
    let log = d.log_text();
    let reasons: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("migration attempt failed"))
        .collect();
    assert!(reasons[0].contains("line too long"), "{reasons:?}");
    assert!(reasons[2].contains("closed"), "{reasons:?}");
    assert!(reasons[3].contains("closed"), "{reasons:?}");
    // Memory stayed bounded (the 10 MB line was never held whole... nor twice).
    let peak = peak_rss_kib(pid);
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
    // Names are data: nothing named after them exists on disk.
    for p in tree(cfg.dir.path()) {
        let s = p.to_string_lossy();
        assert!(!s.contains("etc") && !s.contains("bad"), "{s}");
    }
    let outside_after = (beside("etc"), beside("b"));
    assert_eq!(outside_before, outside_after);

    // The real server again: a later pass completes.
    *fake.mode.lock().unwrap() = Copy::Forward;
    tokio::task::spawn_blocking(move || {
        wait_state(&d, "alice@example.org", "migrated", 240);
        let log = d.log_text();
        assert!(!log.contains("panicked"));
    })
    .await
    .unwrap();
}
