//! Hostile SMTP input against `ferrymail serve` (a child process on port 0 with a
//! temporary data dir): NUL in commands, over-long command lines, a SIZE that lies,
//! shell metacharacters and huge ESMTP parameters, and what a relayed message looks
//! like on the wire at the next hop (CRLF only, dot-stuffed, one transaction).
//! The bare CR/LF smuggling refusals themselves are in tests/smtp_protocol.rs;
//! smuggling after an over-long DATA line is here.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::capture::Capture;
use common::domains::{migrating, MigratingDomain};
use common::ops::add_account;
use common::proc::vm_rss_kib;
use common::{Client, Daemon, TestConfig};

const DOMAIN: &str = "domain = \"example.test\"\n";

/// A daemon with an MX, submission (relaying to `relay`), and POP3 to look
/// into pat@example.test's INBOX.
struct T {
    cfg: TestConfig,
    d: Daemon,
}

impl T {
    fn start(extra: &str) -> T {
        let cfg = TestConfig::new(
            &format!(
                "[auth]\nallow_plaintext = true\nfailure_delay_ms = 1\nmax_failure_delay_ms = 1\n\
                 [smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_message_size = 1000000\n\
                 [pop3]\nlisten = [\"127.0.0.1:0\"]\n\
                 {extra}"
            ),
            &[("example.test", DOMAIN)],
        );
        add_account(&cfg, "pat@example.test", "pat-pw");
        let d = Daemon::start(&cfg.path(), &cfg.data_dir());
        T { cfg, d }
    }

    /// Messages in pat's INBOX, by POP3 STAT.
    async fn inbox_count(&self) -> usize {
        let mut c = Client::connect(self.d.addr("pop3", "plain")).await;
        c.line().await.unwrap();
        c.send("USER pat@example.test").await;
        c.line().await.unwrap();
        c.send("PASS pat-pw").await;
        let l = c.line().await.unwrap();
        assert!(l.starts_with("+OK"), "{l}");
        c.send("STAT").await;
        let l = c.line().await.unwrap();
        c.send("QUIT").await;
        l.split(' ').nth(1).unwrap().parse().unwrap()
    }

    fn spool_files(&self) -> usize {
        std::fs::read_dir(self.cfg.data_dir().join("spool"))
            .map(|r| r.count())
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn nul_in_commands_gets_501_and_the_session_goes_on() {
    let t = T::start("");
    let mut c = Client::greeted(t.d.addr("smtp", "plain"), "220 ").await;
    for evil in [
        &b"EH\0LO client.example\r\n"[..],
        b"EHLO client\0.example\r\n",
        b"\0\r\n",
    ] {
        c.send_raw(evil).await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("501 "), "{evil:?} -> {r}");
    }
    c.expect_code("EHLO client.example", "250").await;
    for evil in [
        &b"MAIL FROM:<a\0b@example.net>\r\n"[..],
        b"MAIL FROM:<ab@example.net> SIZE=1\0\r\n",
    ] {
        c.send_raw(evil).await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("501 "), "{evil:?} -> {r}");
    }
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.send_raw(b"RCPT TO:<pat@example.test\0>\r\n").await;
    assert!(c.smtp_reply().await.starts_with("501 "));
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw(b"Subject: after NULs\r\n\r\nok\r\n.\r\n").await;
    assert!(c.smtp_reply().await.starts_with("250 "));
    c.expect_code("QUIT", "221").await;
    assert_eq!(t.inbox_count().await, 1);
    assert!(!t.d.log_text().contains("panicked"), "{}", t.d.log_text());
}

#[tokio::test]
async fn command_lines_over_1000_octets_get_500_but_auth_may_be_longer() {
    let t = T::start("[submission]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut c = Client::greeted(t.d.addr("smtp", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    // 998 octets + CRLF is a legal line; one more octet is not.
    let ok = format!("NOOP {}", "x".repeat(993));
    assert_eq!(ok.len(), 998);
    c.expect_code(&ok, "250").await;
    c.expect_code(&format!("NOOP {}", "x".repeat(994)), "500 5.5.2")
        .await;
    c.expect_code(&format!("NOOP {}", "x".repeat(100_000)), "500 5.5.2")
        .await;
    let params = format!("MAIL FROM:<a@example.net> X-P={}", "p".repeat(10 * 1024));
    c.expect_code(&params, "500 5.5.2").await;
    // The session goes on.
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RSET", "250").await;
    c.expect_code("QUIT", "221").await;

    // AUTH PLAIN's initial response may be longer than a command line (RFC 4954 §4).
    let mut c = Client::greeted(t.d.addr("submission", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    let long_pw = "w".repeat(1500);
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(format!("\0pat@example.test\0{long_pw}"));
    assert!(b64.len() > 1000);
    c.expect_code(&format!("AUTH PLAIN {b64}"), "535").await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("\0pat@example.test\0pat-pw");
    c.expect_code(&format!("AUTH PLAIN {b64}"), "235").await;
    c.expect_code("QUIT", "221").await;
}

#[tokio::test]
async fn declared_small_size_then_50_mb_gets_552_and_nothing_is_stored() {
    let t = T::start("");
    let pid = t.d.pid();
    let mut c = Client::greeted(t.d.addr("smtp", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<a@example.net> SIZE=1000", "250")
        .await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    let rss_before = vm_rss_kib(pid);
    c.send_raw(b"Subject: liar\r\n\r\n").await;
    let line = format!("{}\r\n", "z".repeat(998));
    let chunk = line.repeat(1024); // 1 MiB
    for _ in 0..50 {
        c.send_raw(chunk.as_bytes()).await;
    }
    c.send_raw(b".\r\n").await;
    c.timeout = Duration::from_secs(60);
    let r = c.smtp_reply().await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    let rss_after = vm_rss_kib(pid);
    // The message streamed through a bounded buffer: 50 MB never sat in memory.
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    // The session goes on, and nothing was stored.
    c.expect_code("NOOP", "250").await;
    c.expect_code("QUIT", "221").await;
    assert_eq!(t.inbox_count().await, 0);
    assert_eq!(t.spool_files(), 0);
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn submission_login(addr: SocketAddr) -> Client {
    let mut c = Client::greeted(addr, "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("\0pat@example.test\0pat-pw");
    c.expect_code(&format!("AUTH PLAIN {b64}"), "235").await;
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn relayed_mail_is_crlf_only_dot_stuffed_and_one_transaction() {
    let (cap, hop) = Capture::start().await;
    let t = T::start(&format!(
        "[submission]\nlisten = [\"127.0.0.1:0\"]\nrelay_host = \"{hop}\"\n"
    ));
    let mut c = submission_login(t.d.addr("submission", "plain")).await;
    c.expect_code("MAIL FROM:<pat@example.test>", "250").await;
    c.expect_code("RCPT TO:<friend@remote.test>", "250").await;
    c.expect_code("DATA", "354").await;
    // Content lines that look like the end of data or like commands, sent
    // dot-stuffed by the client as RFC 5321 §4.5.2 requires.
    c.send_raw(
        b"Subject: relay-wire\r\n\r\nfirst\r\n..\r\n...two\r\n..MAIL FROM:<x@y>\r\nRCPT TO:<evil@remote.test>\r\nDATA\r\nlast\r\n.\r\n",
    )
    .await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("250 "), "{r}");
    c.expect_code("QUIT", "221").await;

    let wire = cap.wait_for(b"Subject: relay-wire").await;
    let text = String::from_utf8_lossy(&wire);
    // CRLF only: no bare LF, no bare CR anywhere on the wire.
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && wire[i - 1] == b'\r', "bare LF at {i}:\n{text}");
        }
        if b == b'\r' {
            assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i}:\n{text}");
        }
    }
    // Exactly one transaction, one end of data.
    assert_eq!(count(&wire, b"\r\nMAIL FROM:"), 1, "{text}");
    assert_eq!(count(&wire, b"\r\nDATA\r\n"), 1 + 1, "{text}"); // the command, and the content line
    assert_eq!(count(&wire, b"\r\n.\r\n"), 1, "{text}");
    assert_eq!(count(&wire, b"\r\nRCPT TO:"), 2, "{text}"); // the command, and the content line
    assert!(text.contains("RCPT TO:<friend@remote.test>\r\n"), "{text}");
    // The content, dot-stuffed again.
    assert!(
        text.contains(
            "\r\n\r\nfirst\r\n..\r\n...two\r\n..MAIL FROM:<x@y>\r\nRCPT TO:<evil@remote.test>\r\nDATA\r\nlast\r\n.\r\n"
        ),
        "{text}"
    );
    // A lone content "." never reached the next hop unstuffed.
    assert_eq!(count(&wire, b"\r\n.\r\n"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_metacharacters_and_huge_parameters_are_refused_or_carried_verbatim() {
    let (cap, hop) = Capture::start().await;
    let t = T::start(&format!(
        "[submission]\nlisten = [\"127.0.0.1:0\"]\nrelay_host = \"{hop}\"\n"
    ));
    let marker = std::env::temp_dir().join(format!("fm-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let m = marker.display().to_string();

    // On the MX: every form is either a syntax refusal or an unknown user.
    let mut c = Client::greeted(t.d.addr("smtp", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    for (line, code) in [
        (format!("MAIL FROM:<$(touch {m})@example.net>"), "5"),
        (
            format!("MAIL FROM:<a@example.net> X-CMD=$(touch${{IFS}}{m})"),
            "555",
        ),
        (
            format!("MAIL FROM:<a@example.net> BODY=`touch${{IFS}}{m}`"),
            "555",
        ),
        (
            "MAIL FROM:<a@example.net> SIZE=${jndi:ldap://x/a}".to_string(),
            "555",
        ),
        (format!("MAIL FROM:<a@example.net> AUTH=<;touch {m}>"), "5"),
        ("MAIL FROM:<a@example.net> SIZE=1;reboot".to_string(), "555"),
    ] {
        c.expect_code(&line, code).await;
    }
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    for line in [
        format!("RCPT TO:<`touch${{IFS}}{m}`@example.test>"),
        "RCPT TO:<${HOME}@example.test>".to_string(),
        "RCPT TO:<a|b&c@example.test>".to_string(),
        format!("RCPT TO:<pat@example.test> NOTIFY=$(touch${{IFS}}{m})"),
        format!("RCPT TO:<pat@example.test> X={}", "q".repeat(900)),
    ] {
        let r = c.expect_code(&line, "5").await;
        assert!(!r.contains(&m) || r.starts_with("55"), "{r}");
    }
    c.expect_code("QUIT", "221").await;

    // Through submission to another domain: valid atext characters are carried to
    // the next hop byte for byte and never interpreted.
    let rcpts = [
        format!("`touch${{IFS}}{m}`@remote.test"),
        "${HOME}|$PATH&x@remote.test".to_string(),
        "'q'{x}~#=?^@remote.test".to_string(),
    ];
    let mut c = submission_login(t.d.addr("submission", "plain")).await;
    c.expect_code("MAIL FROM:<pat@example.test>", "250").await;
    let mut accepted = Vec::new();
    for r in &rcpts {
        c.send(&format!("RCPT TO:<{r}>")).await;
        let reply = c.smtp_reply().await;
        assert!(
            reply.starts_with("250") || reply.starts_with("5"),
            "{r} -> {reply}"
        );
        if reply.starts_with("250") {
            accepted.push(r.clone());
        }
    }
    assert!(accepted.len() >= 2, "{accepted:?}");
    c.expect_code("DATA", "354").await;
    c.send_raw(format!("Subject: meta $(touch {m}) `id` ${{HOME}}\r\n\r\nx\r\n.\r\n").as_bytes())
        .await;
    assert!(c.smtp_reply().await.starts_with("250"));
    c.expect_code("QUIT", "221").await;
    for r in &accepted {
        let wire = cap.wait_for(format!("RCPT TO:<{r}>\r\n").as_bytes()).await;
        let text = String::from_utf8_lossy(&wire);
        assert!(
            text.contains(&format!("Subject: meta $(touch {m}) `id` ${{HOME}}\r\n")),
            "{text}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!marker.exists(), "a client-supplied command was run");
}

/// The same through a real MTA: a private Postfix (the legacy SMTP server, the
/// default relay for a migrating domain's users) takes the relayed message as one
/// message with its content lines intact, and sends exactly one copy to its
/// "outside world" file sink.
#[tokio::test(flavor = "multi_thread")]
async fn relayed_mail_reaches_a_real_postfix_as_one_intact_message() {
    use common::legacy::{Legacy, LegacyOptions};
    let l = tokio::task::spawn_blocking(|| {
        Legacy::start(LegacyOptions {
            postfix: true,
            ..Default::default()
        })
    })
    .await
    .unwrap();
    let domain = migrating(
        &l,
        MigratingDomain {
            tls: "none",
            postfix: true,
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n[submission]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.org", &domain)],
    );
    add_account(&cfg, "carol@example.org", "carol-pw");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let mut c = Client::greeted(d.addr("submission", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("\0carol@example.org\0carol-pw");
    c.expect_code(&format!("AUTH PLAIN {b64}"), "235").await;
    c.expect_code("MAIL FROM:<carol@example.org>", "250").await;
    c.expect_code("RCPT TO:<friend@example.net>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw(
        b"Subject: wire-check\r\n\r\nbefore\r\n..\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n..\r\nafter\r\n.\r\n",
    )
    .await;
    assert!(c.smtp_reply().await.starts_with("250"));
    c.expect_code("QUIT", "221").await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let files = loop {
        if l.sink_texts().iter().any(|f| f.contains("wire-check")) {
            // Give a second (wrong) copy the time to show up too.
            tokio::time::sleep(Duration::from_secs(1)).await;
            break l.sink_texts();
        }
        assert!(
            Instant::now() < deadline,
            "nothing in the sink:\n{}",
            l.postfix_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // One message, to one recipient; nothing smuggled became a message of its own.
    assert_eq!(files.len(), 1, "{files:?}");
    let f = &files[0];
    assert!(
        f.contains("\n\nbefore\n.\nMAIL FROM:<evil@example.net>\nRCPT TO:<victim@example.net>\nDATA\nSubject: smuggled\n\nx\n.\nafter\n"),
        "{f}"
    );
    let log = l.postfix_log();
    assert!(!log.contains("victim@example.net"), "{log}");
    assert_eq!(
        log.lines()
            .filter(|x| x.contains("to=<friend@example.net>") && x.contains("status=sent"))
            .count(),
        1,
        "{log}"
    );
}

/// SMTP smuggling through an over-long line: a line over 1,000 octets that ends
/// in a bare LF, then `.` CRLF and a second transaction, sent as one stream on
/// the MX and on submission. The `.` after a bare LF is data, so everything up
/// to the real `CRLF . CRLF` is one refused message: one refusal, no reply to
/// the smuggled commands, nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn an_over_long_line_ending_in_a_bare_lf_never_ends_data() {
    let t = T::start("[submission]\nlisten = [\"127.0.0.1:0\"]\n");
    for port in ["smtp", "submission"] {
        for len in [1001, 1200, 40_000] {
            let mut c = if port == "smtp" {
                let mut c = Client::greeted(t.d.addr("smtp", "plain"), "220 ").await;
                c.expect_code("EHLO relay.example", "250").await;
                c
            } else {
                submission_login(t.d.addr("submission", "plain")).await
            };
            // Submission: the sender must be the authenticated user.
            let from = if port == "smtp" {
                "outer@relay.example"
            } else {
                "pat@example.test"
            };
            let mut stream = format!(
                "MAIL FROM:<{from}>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\nSubject: outer\r\n\r\n"
            )
            .into_bytes();
            stream.extend(std::iter::repeat_n(b'A', len));
            stream.extend_from_slice(
                b"\n.\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\n\
                  From: ceo@bank.example\r\nSubject: SMUGGLED\r\n\r\nwire the money\r\n.\r\n",
            );
            c.send_raw(&stream).await;
            for want in ["250", "250", "354"] {
                let r = c.smtp_reply().await;
                assert!(r.starts_with(want), "{port} {len}: {r}");
            }
            let r = c.smtp_reply().await;
            assert!(
                r.starts_with('5'),
                "{port} {len}: the message was taken: {r}"
            );
            // The next reply answers QUIT: the smuggled commands were data.
            c.expect_code("QUIT", "221").await;
        }
    }
    assert_eq!(t.inbox_count().await, 0);
}

/// The same smuggling streams, for recipients ferrymail relays: on submission
/// to a remote address (relay_host), on the MX to a user of a migrating domain
/// not moved yet (its legacy SMTP server); the next hop is a capture sink.
/// With short, 1,001-, 1,200- and 40,000-octet lines before the fake end, and
/// each way of ending them: every message is refused, and not one byte of an
/// outer or smuggled message reaches the next hop; a clean message sent after
/// them arrives byte for byte (after our Received header), alone.
#[tokio::test(flavor = "multi_thread")]
async fn smuggling_toward_relayed_recipients_never_reaches_the_next_hop() {
    let (cap, hop) = Capture::start().await;
    let legacy = format!(
        "domain = \"legacy.test\"\n[migration]\nenabled = true\n[migration.imap]\nhost = \"127.0.0.1\"\nport = 1\n\
         [migration.smtp]\nhost = \"{}\"\nport = {}\n",
        hop.ip(),
        hop.port()
    );
    let cfg = TestConfig::new(
        &format!(
            "[auth]\nallow_plaintext = true\nfailure_delay_ms = 1\nmax_failure_delay_ms = 1\n\
             [smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_message_size = 1000000\nretry_secs = 1\n\
             [submission]\nlisten = [\"127.0.0.1:0\"]\nrelay_host = \"{hop}\"\n"
        ),
        &[("example.test", DOMAIN), ("legacy.test", &legacy)],
    );
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    for port in ["smtp", "submission"] {
        let (from, rcpt) = if port == "smtp" {
            ("outer@relay.example", "lee@legacy.test")
        } else {
            ("pat@example.test", "friend@remote.test")
        };
        for len in [10, 1001, 1200, 40_000] {
            for (end, dot) in [
                (&b"\n"[..], &b".\r\n"[..]),
                (b"\n", b".\n"),
                (b"\r", b".\r\n"),
                (b"\r\n", b".\n"),
            ] {
                let mut c = if port == "smtp" {
                    let mut c = Client::greeted(d.addr("smtp", "plain"), "220 ").await;
                    c.expect_code("EHLO relay.example", "250").await;
                    c
                } else {
                    submission_login(d.addr("submission", "plain")).await
                };
                let mut stream = format!(
                    "MAIL FROM:<{from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nSubject: OUTER\r\n\r\n"
                )
                .into_bytes();
                stream.extend(std::iter::repeat_n(b'A', len));
                stream.extend_from_slice(end);
                stream.extend_from_slice(dot);
                stream.extend_from_slice(
                    format!(
                        "MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n\
                         From: ceo@bank.example\r\nSubject: SMUGGLED\r\n\r\nwire the money\r\n.\r\n"
                    )
                    .as_bytes(),
                );
                c.send_raw(&stream).await;
                for want in ["250", "250", "354"] {
                    let r = c.smtp_reply().await;
                    assert!(r.starts_with(want), "{port} {len} {end:?}{dot:?}: {r}");
                }
                let r = c.smtp_reply().await;
                assert!(
                    r.starts_with('5'),
                    "{port} {len} {end:?}{dot:?}: taken: {r}"
                );
                c.expect_code("QUIT", "221").await;
            }
        }
        // A clean message after all that, byte for byte at the next hop.
        let mut c = if port == "smtp" {
            let mut c = Client::greeted(d.addr("smtp", "plain"), "220 ").await;
            c.expect_code("EHLO relay.example", "250").await;
            c
        } else {
            submission_login(d.addr("submission", "plain")).await
        };
        let body =
            format!("From: <{from}>\r\nSubject: clean-{port}\r\n\r\nline one\r\n..dot\r\nend\r\n");
        c.expect_code(&format!("MAIL FROM:<{from}>"), "250").await;
        c.expect_code(&format!("RCPT TO:<{rcpt}>"), "250").await;
        c.expect_code("DATA", "354").await;
        c.send_raw(format!("{body}.\r\n").as_bytes()).await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("250"), "{r}");
        c.expect_code("QUIT", "221").await;
        let wire = cap
            .wait_for(format!("Subject: clean-{port}").as_bytes())
            .await;
        let text = String::from_utf8_lossy(&wire);
        // The message as sent (still dot-stuffed on the wire), after Received.
        assert!(text.contains(&format!("\r\n{body}.\r\n")), "{text}");
        assert_eq!(count(&wire, b"\r\nMAIL FROM:"), 1, "{text}");
    }
    let all: Vec<u8> = cap.0.lock().unwrap().concat();
    for needle in [
        &b"SMUGGLED"[..],
        b"ceo@bank.example",
        b"OUTER",
        b"AAAAAAAAAA",
    ] {
        assert_eq!(
            count(&all, needle),
            0,
            "{:?} reached the next hop",
            String::from_utf8_lossy(needle)
        );
    }
}
