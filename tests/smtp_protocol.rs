//! SMTP transcripts against a daemon on port 0 with a temporary data dir: the
//! ESMTP commands, local delivery, refusals (unknown users, relay probes,
//! smuggling, size, loops), AUTH on submission, and real clients (Python smtplib,
//! swaks). The legacy side is in tests/smtp_legacy.rs.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestConfig};
use ferrymail::app::App;
use ferrymail::auth::{hash_password, Password};
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
    ferrymail::logging::init_test();
    let cfg = TestConfig::new(
        &format!(
            "{extra}\n[smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_message_size = 10000\nmax_recipients = 3\nmax_received_headers = 5\n\
             [submission]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n"
        ),
        &[("example.test", DOMAIN)],
    );
    let app = App::new(cfg.load()).unwrap();
    let running = daemon::start(app.clone(), &ferrymail::daemon::services)
        .await
        .unwrap();
    let pat = app
        .store
        .create_account(
            "pat@example.test",
            &hash_password(&Password::new("pat-pw")),
            AccountState::Local,
            true,
        )
        .await
        .unwrap();
    let m = app
        .store
        .create_account(
            "mig@example.test",
            &hash_password(&Password::new("mig-pw")),
            AccountState::Migrated,
            true,
        )
        .await
        .unwrap();
    let _ = m;
    T {
        mx: running.addr(Protocol::Smtp, false).unwrap(),
        sub: running.addr(Protocol::Submission, false).unwrap(),
        sub_tls: running.addr(Protocol::Submission, true).unwrap(),
        pat: app.store.mailstore(pat.id).await.unwrap(),
        app,
        running: Some(running),
        _cfg: cfg,
    }
}

/// Reads one reply (all its lines); returns the lines.
async fn reply(c: &mut Client) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = c
            .line()
            .await
            .unwrap_or_else(|| panic!("closed; got {lines:?}"));
        let last = l.len() < 4 || l.as_bytes()[3] == b' ';
        lines.push(l);
        if last {
            return lines;
        }
    }
}

async fn cmd(c: &mut Client, line: &str) -> String {
    c.send(line).await;
    reply(c).await.join("\n")
}

async fn expect(c: &mut Client, line: &str, code: &str) -> String {
    let r = cmd(c, line).await;
    assert!(r.starts_with(code), "{line} -> {r}");
    r
}

async fn greet(addr: SocketAddr) -> Client {
    let mut c = Client::connect(addr).await;
    let g = reply(&mut c).await;
    assert!(g[0].starts_with("220 mail.test"), "{g:?}");
    c
}

async fn inbox_bodies(ms: &Mailstore) -> Vec<Vec<u8>> {
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut out = Vec::new();
    for m in ms.messages(inbox.id).await.unwrap() {
        out.push(std::fs::read(ms.blob_path(&m.blob)).unwrap());
    }
    out
}

#[tokio::test]
async fn ehlo_and_basic_commands() {
    let t = start("").await;
    let mut c = greet(t.mx).await;
    let r = expect(&mut c, "EHLO client.example", "250").await;
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
    expect(&mut c, "AUTH PLAIN AHBhdABwYXQtcHc=", "503").await;
    expect(&mut c, "NOOP", "250 2.0.0").await;
    expect(&mut c, "VRFY pat", "252").await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "503 5.5.1").await;
    expect(&mut c, "FOO", "500 5.5.2").await;
    expect(&mut c, "MAIL FROM:<a@example.net> FOO=BAR", "555 5.5.4").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "503").await;
    expect(&mut c, "RSET", "250").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<pat@example.test> NOTIFY=NEVER", "555").await;
    expect(&mut c, &format!("NOOP {}", "x".repeat(3000)), "500 5.5.2").await;
    expect(&mut c, "NOOP", "250").await;
    expect(&mut c, "RSET", "250").await;
    expect(&mut c, "MAIL FROM:<josé@example.net>", "553 5.6.7").await;
    expect(&mut c, "MAIL FROM:<josé@example.net> SMTPUTF8", "250").await;
    expect(&mut c, "QUIT", "221").await;
    assert!(c.closed().await);
    // HELO: plain SMTP, no extensions, parameters refused.
    let mut c = greet(t.mx).await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "503 5.5.1").await;
    let r = expect(&mut c, "HELO client.example", "250 mail.test").await;
    assert!(!r.contains("SIZE"));
    expect(&mut c, "MAIL FROM:<a@example.net> SIZE=10", "555").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "QUIT", "221").await;
}

#[tokio::test]
async fn mail_to_a_local_or_migrated_account_lands_in_its_inbox_and_change_feed() {
    let t = start("").await;
    let mut feed = t.pat.subscribe();
    let mut c = greet(t.mx).await;
    expect(&mut c, "EHLO client.example", "250").await;
    expect(&mut c, "MAIL FROM:<someone@example.net>", "250 2.1.0").await;
    expect(&mut c, "RCPT TO:<Pat@Example.TEST>", "250 2.1.5").await;
    expect(&mut c, "RCPT TO:<mig@example.test>", "250 2.1.5").await;
    expect(&mut c, "DATA", "354").await;
    c.send_raw(b"Subject: hello\r\n\r\n..dot stuffed\r\nline two\r\n.\r\n")
        .await;
    let r = reply(&mut c).await.join("");
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
    assert!(reply(&mut c).await[0].starts_with("250"));
    assert!(reply(&mut c).await[0].starts_with("250"));
    assert!(reply(&mut c).await[0].starts_with("550 5.1.1"));
    assert!(reply(&mut c).await[0].starts_with("354"));
    c.send_raw(b"Subject: two\r\n\r\nx\r\n.\r\n").await;
    assert!(reply(&mut c).await[0].starts_with("250"));
    assert_eq!(inbox_bodies(&t.pat).await.len(), 2);
    expect(&mut c, "QUIT", "221").await;
}

#[tokio::test]
async fn unknown_users_foreign_domains_and_relay_probes_are_refused() {
    let t = start("").await;
    let mut c = greet(t.mx).await;
    expect(&mut c, "EHLO client.example", "250").await;
    // A local sender on port 25 grants nothing.
    expect(&mut c, "MAIL FROM:<pat@example.test>", "250").await;
    expect(&mut c, "RCPT TO:<nobody@example.test>", "550 5.1.1").await;
    expect(&mut c, "RCPT TO:<victim@example.net>", "554 5.7.1").await;
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
        let r = cmd(&mut c, probe).await;
        assert!(r.starts_with('5'), "{probe} -> {r}");
    }
    // Nothing was accepted: DATA has no recipients.
    expect(&mut c, "DATA", "554").await;
    expect(&mut c, "QUIT", "221").await;
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
        let mut c = greet(t.mx).await;
        expect(&mut c, "EHLO client.example", "250").await;
        expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
        expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
        expect(&mut c, "DATA", "354").await;
        c.send_raw(evil).await;
        let r = reply(&mut c).await.join("");
        assert!(r.starts_with("554 5.6.0"), "{r}");
        // The session goes on, and nothing smuggled was taken as a command.
        expect(&mut c, "NOOP", "250").await;
        expect(&mut c, "QUIT", "221").await;
    }
    assert!(inbox_bodies(&t.pat).await.is_empty());
}

#[tokio::test]
async fn size_loops_line_length_and_recipient_limits() {
    let t = start("").await;
    let mut c = greet(t.mx).await;
    expect(&mut c, "EHLO client.example", "250").await;
    expect(&mut c, "MAIL FROM:<a@example.net> SIZE=10001", "552 5.3.4").await;
    expect(
        &mut c,
        "MAIL FROM:<a@example.net> SIZE=100 BODY=8BITMIME",
        "250",
    )
    .await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
    expect(&mut c, "DATA", "354").await;
    let line = format!("{}\r\n", "y".repeat(98));
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..120 {
        big.extend_from_slice(line.as_bytes());
    }
    big.extend_from_slice(b".\r\n");
    c.send_raw(&big).await;
    assert!(reply(&mut c).await[0].starts_with("552 5.3.4"));
    // Loop: more Received headers than max_received_headers (5).
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
    expect(&mut c, "DATA", "354").await;
    c.send_raw("Received: from a\r\n".repeat(6).as_bytes())
        .await;
    c.send_raw(b"Subject: loop\r\n\r\nx\r\n.\r\n").await;
    assert!(reply(&mut c).await[0].starts_with("554 5.4.6"));
    // A line over 1000 octets.
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
    expect(&mut c, "DATA", "354").await;
    c.send_raw(format!("Subject: long\r\n\r\n{}\r\n.\r\n", "z".repeat(1200)).as_bytes())
        .await;
    assert!(reply(&mut c).await[0].starts_with("500 5.5.2"));
    // <postmaster> without a domain is taken as the default domain's (none here: unknown).
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<postmaster>", "550 5.1.1").await;
    expect(&mut c, "QUIT", "221").await;
    assert!(inbox_bodies(&t.pat).await.is_empty());
}

#[tokio::test]
async fn too_many_recipients() {
    let t = start("").await;
    for name in ["r1", "r2", "r3", "r4"] {
        t.app
            .store
            .create_account(
                &format!("{name}@example.test"),
                &hash_password(&Password::new("x")),
                AccountState::Local,
                false,
            )
            .await
            .unwrap();
    }
    let mut c = greet(t.mx).await;
    expect(&mut c, "EHLO client.example", "250").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    for r in ["r1", "r2", "r3"] {
        expect(&mut c, &format!("RCPT TO:<{r}@example.test>"), "250").await;
    }
    expect(&mut c, "RCPT TO:<r4@example.test>", "452 4.5.3").await;
}

#[tokio::test]
async fn submission_requires_starttls_and_auth() {
    let t = start("").await;
    let mut c = greet(t.sub).await;
    let r = expect(&mut c, "EHLO client.example", "250").await;
    assert!(!r.contains("AUTH"), "no AUTH before STARTTLS: {r}");
    expect(
        &mut c,
        "AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAcGF0LXB3",
        "530 5.7.0",
    )
    .await;
    expect(&mut c, "MAIL FROM:<pat@example.test>", "530 5.7.0").await;
    // STARTTLS with pipelined plaintext: refused and closed.
    c.send_raw(b"STARTTLS\r\nMAIL FROM:<x@example.test>\r\n")
        .await;
    assert!(reply(&mut c).await[0].starts_with("554"));
    assert!(c.closed().await);

    let mut c = greet(t.sub).await;
    expect(&mut c, "EHLO client.example", "250").await;
    expect(&mut c, "STARTTLS", "220").await;
    let mut c = c.starttls().await;
    let r = expect(&mut c, "EHLO client.example", "250").await;
    assert!(
        r.contains("AUTH PLAIN LOGIN") && !r.contains("STARTTLS"),
        "{r}"
    );
    expect(
        &mut c,
        "MAIL FROM:<pat@example.test>",
        "530 5.7.0 Authentication required",
    )
    .await;
    // Wrong password, then AUTH LOGIN with the right one.
    expect(
        &mut c,
        "AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAd3Jvbmc=",
        "535 5.7.8",
    )
    .await;
    expect(&mut c, "AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    expect(&mut c, "cGF0QGV4YW1wbGUudGVzdA==", "334 UGFzc3dvcmQ6").await;
    expect(&mut c, "cGF0LXB3", "235 2.7.0").await;
    // Only one's own address as sender.
    expect(&mut c, "MAIL FROM:<mig@example.test>", "553 5.7.1").await;
    expect(&mut c, "MAIL FROM:<pat@example.test>", "250").await;
    expect(&mut c, "RCPT TO:<mig@example.test>", "250").await;
    // No relay host and a domain without a legacy server: nowhere to send.
    expect(&mut c, "RCPT TO:<someone@example.net>", "554 5.7.1").await;
    expect(&mut c, "DATA", "354").await;
    c.send_raw(b"Subject: from pat\r\n\r\nhi\r\n.\r\n").await;
    assert!(reply(&mut c).await[0].starts_with("250"));
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
    assert!(reply(&mut c).await[0].starts_with("220"));
    let r = expect(&mut c, "EHLO client.example", "250").await;
    assert!(r.contains("AUTH PLAIN LOGIN"), "{r}");
    expect(&mut c, "AUTH PLAIN AHBhdEBleGFtcGxlLnRlc3QAcGF0LXB3", "235").await;
    expect(&mut c, "QUIT", "221").await;
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

/// Unmounts the test's tmpfs on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_gives_452_never_250() {
    ferrymail::logging::init_test();
    let cfg = TestConfig::new(
        "[smtp]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", DOMAIN)],
    );
    let data = cfg.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&data)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cannot mount a tmpfs (the tests run as root)");
    let _guard = Tmpfs(data.clone());
    let app = App::new(cfg.load()).unwrap();
    let running = daemon::start(app.clone(), &ferrymail::daemon::services)
        .await
        .unwrap();
    let mx = running.addr(Protocol::Smtp, false).unwrap();
    let pat = app
        .store
        .create_account(
            "pat@example.test",
            &hash_password(&Password::new("pat-pw")),
            AccountState::Local,
            false,
        )
        .await
        .unwrap();
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
    let mut c = greet(mx).await;
    expect(&mut c, "EHLO client.example", "250").await;
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
    let r = cmd(&mut c, "DATA").await;
    if r.starts_with("354") {
        c.send_raw(body.as_bytes()).await;
        c.send_raw(b".\r\n").await;
        let r = reply(&mut c).await.join("");
        assert!(r.starts_with("452 4.3.1"), "{r}");
    } else {
        assert!(r.starts_with("452 4.3.1"), "{r}");
    }
    // Space again: the same message is taken.
    std::fs::remove_file(&filler).unwrap();
    expect(&mut c, "MAIL FROM:<a@example.net>", "250").await;
    expect(&mut c, "RCPT TO:<pat@example.test>", "250").await;
    expect(&mut c, "DATA", "354").await;
    c.send_raw(body.as_bytes()).await;
    c.send_raw(b".\r\n").await;
    assert!(reply(&mut c).await[0].starts_with("250"));
    expect(&mut c, "QUIT", "221").await;
    let ms = app.store.mailstore(pat.id).await.unwrap();
    assert_eq!(inbox_bodies(&ms).await.len(), 1);
    running.stop(Duration::from_secs(5)).await;
}
