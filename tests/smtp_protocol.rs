//! SMTP transcripts against a daemon on port 0 with a temporary data dir: the
//! ESMTP commands, local delivery, refusals (unknown users, relay probes,
//! smuggling, size, loops), AUTH on submission, and real clients (Python smtplib,
//! swaks). The legacy side is in tests/smtp_legacy.rs.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::inproc::{self, account, inbox_bodies, mailstore};
use common::tmpfs::Tmpfs;
use common::{Client, TestConfig};
use ferrymail::app::App;
use ferrymail::config::Protocol;
use ferrymail::daemon;
use ferrymail::store::{AccountState, Change, Mailstore};

const DOMAIN: &str = "domain = \"example.test\"\n";

struct T {
    _cfg: TestConfig,
    app: Arc<App>,
    running: Option<daemon::Running>,
    mx: SocketAddr,
    sub: SocketAddr,
    sub_tls: SocketAddr,
    pat: Arc<Mailstore>,
}

impl Drop for T {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.app.shutdown.cancel();
        }
    }
}

async fn start(extra: &str) -> T {
    let cfg = TestConfig::new(
        &format!(
            "{extra}\n[smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_message_size = 10000\nmax_recipients = 3\nmax_received_headers = 5\n\
             [submission]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n"
        ),
        &[("example.test", DOMAIN)],
    );
    let (app, running) = inproc::start(&cfg).await;
    let pat = mailstore(&app, "pat@example.test", "pat-pw", AccountState::Local).await;
    account(
        &app,
        "mig@example.test",
        "mig-pw",
        AccountState::Migrated,
        true,
    )
    .await;
    T {
        mx: running.addr(Protocol::Smtp, false).unwrap(),
        sub: running.addr(Protocol::Submission, false).unwrap(),
        sub_tls: running.addr(Protocol::Submission, true).unwrap(),
        pat,
        app,
        running: Some(running),
        _cfg: cfg,
    }
}

#[tokio::test]
async fn ehlo_and_basic_commands() {
    let t = start("").await;
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    let r = c.expect_code("EHLO client.example", "250").await;
    for cap in [
        "PIPELINING",
        "SIZE 10000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ] {
        assert!(r.contains(cap), "{cap} missing: {r}");
    }
    assert!(!r.contains("AUTH"), "port 25 offers no AUTH: {r}");
    c.expect_code("AUTH PLAIN AHBhdABwYXQtcHc=", "503").await;
    c.expect_code("NOOP", "250 2.0.0").await;
    c.expect_code("VRFY pat", "252").await;
    c.expect_code("RCPT TO:<pat@example.test>", "503 5.5.1")
        .await;
    c.expect_code("FOO", "500 5.5.2").await;
    c.expect_code("MAIL FROM:<a@example.net> FOO=BAR", "555 5.5.4")
        .await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("MAIL FROM:<a@example.net>", "503").await;
    c.expect_code("RSET", "250").await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test> NOTIFY=NEVER", "555")
        .await;
    c.expect_code(&format!("NOOP {}", "x".repeat(3000)), "500 5.5.2")
        .await;
    c.expect_code("NOOP", "250").await;
    c.expect_code("RSET", "250").await;
    c.expect_code("MAIL FROM:<josé@example.net>", "553 5.6.7")
        .await;
    c.expect_code("MAIL FROM:<josé@example.net> SMTPUTF8", "250")
        .await;
    c.expect_code("QUIT", "221").await;
    assert!(c.closed().await);
    // HELO: plain SMTP, no extensions, parameters refused.
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    c.expect_code("MAIL FROM:<a@example.net>", "503 5.5.1")
        .await;
    let r = c.expect_code("HELO client.example", "250 mail.test").await;
    assert!(!r.contains("SIZE"));
    c.expect_code("MAIL FROM:<a@example.net> SIZE=10", "555")
        .await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("QUIT", "221").await;
}

#[tokio::test]
async fn mail_to_a_local_or_migrated_account_lands_in_its_inbox_and_change_feed() {
    let t = start("").await;
    let mut feed = t.pat.subscribe();
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<someone@example.net>", "250 2.1.0")
        .await;
    c.expect_code("RCPT TO:<Pat@Example.TEST>", "250 2.1.5")
        .await;
    c.expect_code("RCPT TO:<mig@example.test>", "250 2.1.5")
        .await;
    c.expect_code("DATA", "354").await;
    c.send_raw(b"Subject: hello\r\n\r\n..dot stuffed\r\nline two\r\n.\r\n")
        .await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    // The change feed (what IDLE sessions listen to) announced it.
    let change = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(change, Change::Added { uid: 1, .. }), "{change:?}");
    let bodies = inbox_bodies(&t.pat).await;
    assert_eq!(bodies.len(), 1);
    let text = String::from_utf8(bodies[0].clone()).unwrap();
    assert!(text.starts_with("Received: from client.example ([127.0.0.1])\r\n\tby mail.test (ferrymail) with ESMTP id "), "{text}");
    assert!(
        text.ends_with("Subject: hello\r\n\r\n.dot stuffed\r\nline two\r\n"),
        "{text}"
    );
    let mig = t
        .app
        .store
        .account("mig@example.test")
        .await
        .unwrap()
        .unwrap();
    let mig_ms = t.app.store.mailstore(mig.id).await.unwrap();
    assert_eq!(inbox_bodies(&mig_ms).await.len(), 1);
    // Pipelined transaction (RFC 2920).
    c.send_raw(
        b"MAIL FROM:<>\r\nRCPT TO:<pat@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n",
    )
    .await;
    assert!(c.smtp_reply().await.starts_with("250"));
    assert!(c.smtp_reply().await.starts_with("250"));
    assert!(c.smtp_reply().await.starts_with("550 5.1.1"));
    assert!(c.smtp_reply().await.starts_with("354"));
    c.send_raw(b"Subject: two\r\n\r\nx\r\n.\r\n").await;
    assert!(c.smtp_reply().await.starts_with("250"));
    assert_eq!(inbox_bodies(&t.pat).await.len(), 2);
    c.expect_code("QUIT", "221").await;
}

#[tokio::test]
async fn unknown_users_foreign_domains_and_relay_probes_are_refused() {
    let t = start("").await;
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    // A local sender on port 25 grants nothing.
    c.expect_code("MAIL FROM:<pat@example.test>", "250").await;
    c.expect_code("RCPT TO:<nobody@example.test>", "550 5.1.1")
        .await;
    c.expect_code("RCPT TO:<victim@example.net>", "554 5.7.1")
        .await;
    for probe in [
        "RCPT TO:<victim%example.net@example.test>",
        "RCPT TO:<@example.test:victim@example.net>",
        "RCPT TO:<\"victim@example.net\"@example.test>",
        "RCPT TO:<\"victim%example.net\"@example.test>",
        "RCPT TO:<example.net!victim@example.test>",
        "RCPT TO:<victim@example.net@example.test>",
        "RCPT TO:<victim@[127.0.0.1]>",
        "RCPT TO:victim@example.net",
    ] {
        let r = c.smtp_cmd(probe).await;
        assert!(r.starts_with('5'), "{probe} -> {r}");
    }
    // Nothing was accepted: DATA has no recipients.
    c.expect_code("DATA", "554").await;
    c.expect_code("QUIT", "221").await;
}

#[tokio::test]
async fn smuggling_is_refused_and_never_ends_data() {
    let t = start("").await;
    for evil in [
        &b"Subject: s1\r\n\r\nbody\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"[..],
        b"Subject: s2\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n",
        b"Subject: s3\r\n\r\nbody\r.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<pat@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n",
        b"Subject: s4\r\n\r\nbare\rCR\r\n.\r\n",
    ] {
        let mut c = Client::greeted(t.mx, "220 mail.test").await;
        c.expect_code("EHLO client.example", "250").await;
        c.expect_code("MAIL FROM:<a@example.net>", "250").await;
        c.expect_code("RCPT TO:<pat@example.test>", "250").await;
        c.expect_code("DATA", "354").await;
        c.send_raw(evil).await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("554 5.6.0"), "{r}");
        // The session goes on, and nothing smuggled was taken as a command.
        c.expect_code("NOOP", "250").await;
        c.expect_code("QUIT", "221").await;
    }
    assert!(inbox_bodies(&t.pat).await.is_empty());
}

#[tokio::test]
async fn size_loops_line_length_and_recipient_limits() {
    let t = start("").await;
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<a@example.net> SIZE=10001", "552 5.3.4")
        .await;
    c.expect_code("MAIL FROM:<a@example.net> SIZE=100 BODY=8BITMIME", "250")
        .await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    let line = format!("{}\r\n", "y".repeat(98));
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..120 {
        big.extend_from_slice(line.as_bytes());
    }
    big.extend_from_slice(b".\r\n");
    c.send_raw(&big).await;
    assert!(c.smtp_reply().await.starts_with("552 5.3.4"));
    // Loop: more Received headers than max_received_headers (5).
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw("Received: from a\r\n".repeat(6).as_bytes())
        .await;
    c.send_raw(b"Subject: loop\r\n\r\nx\r\n.\r\n").await;
    assert!(c.smtp_reply().await.starts_with("554 5.4.6"));
    // A line over 1000 octets.
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw(format!("Subject: long\r\n\r\n{}\r\n.\r\n", "z".repeat(1200)).as_bytes())
        .await;
    assert!(c.smtp_reply().await.starts_with("500 5.5.2"));
    // <postmaster> without a domain is taken as the default domain's (none here: unknown).
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<postmaster>", "550 5.1.1").await;
    c.expect_code("QUIT", "221").await;
    assert!(inbox_bodies(&t.pat).await.is_empty());
}

#[tokio::test]
async fn too_many_recipients() {
    let t = start("").await;
    for name in ["r1", "r2", "r3", "r4"] {
        let address = format!("{name}@example.test");
        account(&t.app, &address, "x", AccountState::Local, false).await;
    }
    let mut c = Client::greeted(t.mx, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    for r in ["r1", "r2", "r3"] {
        c.expect_code(&format!("RCPT TO:<{r}@example.test>"), "250")
            .await;
    }
    c.expect_code("RCPT TO:<r4@example.test>", "452 4.5.3")
        .await;
}

#[tokio::test]
async fn submission_requires_starttls_and_auth() {
    let t = start("").await;
    let mut c = Client::greeted(t.sub, "220 mail.test").await;
    let r = c.expect_code("EHLO client.example", "250").await;
    assert!(!r.contains("AUTH"), "no AUTH before STARTTLS: {r}");
    c.expect_code("AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAcGF0LXB3", "530 5.7.0")
        .await;
    c.expect_code("MAIL FROM:<pat@example.test>", "530 5.7.0")
        .await;
    // STARTTLS with pipelined plaintext: refused and closed.
    c.send_raw(b"STARTTLS\r\nMAIL FROM:<x@example.test>\r\n")
        .await;
    assert!(c.smtp_reply().await.starts_with("554"));
    assert!(c.closed().await);

    let mut c = Client::greeted(t.sub, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("STARTTLS", "220").await;
    let mut c = c.starttls().await;
    let r = c.expect_code("EHLO client.example", "250").await;
    assert!(
        r.contains("AUTH PLAIN LOGIN") && !r.contains("STARTTLS"),
        "{r}"
    );
    c.expect_code(
        "MAIL FROM:<pat@example.test>",
        "530 5.7.0 Authentication required",
    )
    .await;
    // Wrong password, then AUTH LOGIN with the right one.
    c.expect_code("AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAd3Jvbmc=", "535 5.7.8")
        .await;
    c.expect_code("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    c.expect_code("cGF0QGV4YW1wbGUudGVzdA==", "334 UGFzc3dvcmQ6")
        .await;
    c.expect_code("cGF0LXB3", "235 2.7.0").await;
    // Only one's own address as sender.
    c.expect_code("MAIL FROM:<mig@example.test>", "553 5.7.1")
        .await;
    c.expect_code("MAIL FROM:<pat@example.test>", "250").await;
    c.expect_code("RCPT TO:<mig@example.test>", "250").await;
    // No relay host and a domain without a legacy server: nowhere to send.
    c.expect_code("RCPT TO:<someone@example.net>", "554 5.7.1")
        .await;
    c.expect_code("DATA", "354").await;
    c.send_raw(b"Subject: from pat\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.smtp_reply().await.starts_with("250"));
    let mig = t
        .app
        .store
        .account("mig@example.test")
        .await
        .unwrap()
        .unwrap();
    let bodies = inbox_bodies(&t.app.store.mailstore(mig.id).await.unwrap()).await;
    assert_eq!(bodies.len(), 1);
    assert!(String::from_utf8_lossy(&bodies[0]).contains("with ESMTPSA"));

    // Implicit TLS (465).
    let mut c = Client::connect_tls(t.sub_tls).await;
    assert!(c.smtp_reply().await.starts_with("220"));
    let r = c.expect_code("EHLO client.example", "250").await;
    assert!(r.contains("AUTH PLAIN LOGIN"), "{r}");
    c.expect_code("AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAcGF0LXB3", "235")
        .await;
    c.expect_code("QUIT", "221").await;
}

fn python(script: &str) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn python_smtplib_and_swaks() {
    let t = start("").await;
    // MX: plain delivery with smtplib, dot-leading line included.
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="py.example")
s.ehlo()
assert s.has_extn("pipelining") and s.has_extn("size")
refused = s.sendmail("py@example.net", ["pat@example.test"], "Subject: from python\r\n\r\n.leading dot\r\nend\r\n")
assert refused == {{}}, refused
try:
    s.sendmail("py@example.net", ["x@example.net"], "Subject: relay\r\n\r\nx\r\n")
    raise SystemExit("relayed!")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients["x@example.net"][0] == 554, e.recipients
s.quit()
print("ok")
"#,
        port = t.mx.port()
    );
    let (ok, out) = tokio::task::spawn_blocking(move || python(&script))
        .await
        .unwrap();
    assert!(ok, "{out}");
    // Submission: STARTTLS + AUTH with smtplib.
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", {port})
s.starttls(context=ctx)
s.login("pat@example.test", "pat-pw")
s.sendmail("pat@example.test", ["pat@example.test"], "Subject: to myself\r\n\r\nhi\r\n")
s.quit()
print("ok")
"#,
        port = t.sub.port()
    );
    let (ok, out) = tokio::task::spawn_blocking(move || python(&script))
        .await
        .unwrap();
    assert!(ok, "{out}");
    // swaks on the MX.
    let port = t.mx.port();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("swaks")
            .args([
                "--server",
                &format!("127.0.0.1:{port}"),
                "--from",
                "swaks@example.net",
                "--to",
                "pat@example.test",
                "--helo",
                "swaks.example",
                "--header",
                "Subject: from swaks",
            ])
            .output()
            .expect("swaks")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bodies: Vec<String> = inbox_bodies(&t.pat)
        .await
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[0].contains("Subject: from python\r\n\r\n.leading dot\r\nend\r\n"));
    assert!(bodies[1].contains("Subject: to myself"));
    assert!(bodies[2].contains("Subject: from swaks"));
}

#[tokio::test]
async fn a_full_disk_gives_452_never_250() {
    let cfg = TestConfig::new(
        "[smtp]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", DOMAIN)],
    );
    let data = cfg.data_dir();
    let _guard = Tmpfs::mount(&data, "4m");
    let (app, running) = inproc::start(&cfg).await;
    let mx = running.addr(Protocol::Smtp, false).unwrap();
    let pat = account(
        &app,
        "pat@example.test",
        "pat-pw",
        AccountState::Local,
        false,
    )
    .await;
    // Fill the disk.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![b'f'; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let body = format!("Subject: full\r\n\r\n{}", "line of text\r\n".repeat(5000));
    let mut c = Client::greeted(mx, "220 mail.test").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    let r = c.smtp_cmd("DATA").await;
    if r.starts_with("354") {
        c.send_raw(body.as_bytes()).await;
        c.send_raw(b".\r\n").await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("452 4.3.1"), "{r}");
    } else {
        assert!(r.starts_with("452 4.3.1"), "{r}");
    }
    // Space again: the same message is taken.
    std::fs::remove_file(&filler).unwrap();
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw(body.as_bytes()).await;
    c.send_raw(b".\r\n").await;
    assert!(c.smtp_reply().await.starts_with("250"));
    c.expect_code("QUIT", "221").await;
    let ms = app.store.mailstore(pat.id).await.unwrap();
    assert_eq!(inbox_bodies(&ms).await.len(), 1);
    running.stop(Duration::from_secs(5)).await;
}
