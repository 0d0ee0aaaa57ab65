//! POP3 transcripts against a server on port 0 with a temporary data dir, plus
//! real clients (Python poplib, curl).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::inproc;
use common::pyclients::run_blocking;
use common::{Client, TestConfig};
use ferrymail::config::Protocol;
use ferrymail::daemon;
use ferrymail::store::{AccountState, Flags, IngestSource, Mailstore, NewMessage};

const PLAIN: &str = "[auth]\nallow_plaintext = true\n";

struct Pop3Test {
    _cfg: TestConfig,
    running: Option<daemon::Running>,
    plain: std::net::SocketAddr,
    tls: std::net::SocketAddr,
    ms: Arc<Mailstore>,
    bodies: Vec<Vec<u8>>,
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: sender{i}@example.net\r\nTo: pat@example.test\r\nSubject: message {i}\r\n\r\nline one of {i}\r\n.starts with a dot\r\n..two dots\r\nline four\r\n"
    )
    .into_bytes()
}

async fn start(extra: &str, messages: usize) -> Pop3Test {
    let cfg = TestConfig::new(
        &format!("{extra}\n[pop3]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n"),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let (app, running) = inproc::start(&cfg).await;
    let ms = inproc::mailstore(&app, "pat@example.test", "pat-pw", AccountState::Local).await;
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut bodies = Vec::new();
    for i in 1..=messages {
        let body = message(i);
        let blob = ms.stage_bytes(&body).await.unwrap();
        ms.ingest(
            IngestSource::Smtp,
            vec![NewMessage {
                mailbox_id: inbox.id,
                uid: None,
                flags: Flags::new(),
                internaldate: 1_700_000_000,
                tz_minutes: 0,
                blob,
                legacy: None,
                legacy_uidl: (i == 1).then(|| "000000010000abcd".to_string()),
            }],
        )
        .await
        .unwrap();
        bodies.push(body);
    }
    Pop3Test {
        plain: running.addr(Protocol::Pop3, false).unwrap(),
        tls: running.addr(Protocol::Pop3, true).unwrap(),
        running: Some(running),
        _cfg: cfg,
        ms,
        bodies,
    }
}

impl Pop3Test {
    async fn login(&self) -> Client {
        let mut c = Client::connect(self.plain).await;
        assert!(c.line().await.unwrap().starts_with("+OK"));
        c.send("USER pat@example.test").await;
        assert_eq!(c.line().await.unwrap(), "+OK");
        c.send("PASS pat-pw").await;
        let l = c.line().await.unwrap();
        assert!(l.starts_with("+OK Logged in"), "{l}");
        c
    }

    async fn inbox_count(&self) -> u32 {
        self.ms.mailbox("INBOX").await.unwrap().unwrap().exists
    }
}

async fn multiline(c: &mut Client) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = c.line().await.expect("multi-line response ended early");
        if l == "." {
            return lines;
        }
        lines.push(l);
    }
}

#[tokio::test]
async fn state_machine_and_commands() {
    let t = start(PLAIN, 3).await;
    let mut c = Client::connect(t.plain).await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    c.send("STAT").await;
    assert!(c.line().await.unwrap().starts_with("-ERR"));
    c.send("PASS x").await;
    assert_eq!(c.line().await.unwrap(), "-ERR USER first");
    c.send("USER pat@example.test").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
    c.send("PASS wrong").await;
    assert_eq!(c.line().await.unwrap(), "-ERR [AUTH] Authentication failed");
    c.send("USER pat").await; // no default_domain: refused like a wrong password
    c.line().await.unwrap();
    c.send("PASS pat-pw").await;
    assert_eq!(c.line().await.unwrap(), "-ERR [AUTH] Authentication failed");
    c.send("USER pat@example.test").await;
    c.line().await.unwrap();
    c.send("PASS pat-pw").await;
    assert!(c
        .line()
        .await
        .unwrap()
        .starts_with("+OK Logged in, 3 messages"));

    let sizes: Vec<usize> = t.bodies.iter().map(Vec::len).collect();
    let total: usize = sizes.iter().sum();
    c.send("STAT").await;
    assert_eq!(c.line().await.unwrap(), format!("+OK 3 {total}"));
    c.send("LIST").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
    assert_eq!(
        multiline(&mut c).await,
        vec![
            format!("1 {}", sizes[0]),
            format!("2 {}", sizes[1]),
            format!("3 {}", sizes[2])
        ]
    );
    c.send("LIST 2").await;
    assert_eq!(c.line().await.unwrap(), format!("+OK 2 {}", sizes[1]));
    c.send("LIST 9").await;
    assert_eq!(c.line().await.unwrap(), "-ERR No such message");
    c.send("LIST x").await;
    assert_eq!(c.line().await.unwrap(), "-ERR No such message");

    // UIDL: the legacy value verbatim for message 1, our own stable ones after.
    c.send("UIDL").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
    let uidls = multiline(&mut c).await;
    assert_eq!(uidls[0], "1 000000010000abcd");
    assert!(
        uidls[1].starts_with("2 fm") && uidls[2].starts_with("3 fm"),
        "{uidls:?}"
    );
    assert_ne!(uidls[1][2..], uidls[2][2..]);

    // RETR: byte-stuffed on the wire, exact after un-stuffing.
    c.send("RETR 2").await;
    assert_eq!(c.line().await.unwrap(), format!("+OK {} octets", sizes[1]));
    let lines = multiline(&mut c).await;
    assert!(
        lines.contains(&"..starts with a dot".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"...two dots".to_string()), "{lines:?}");
    let unstuffed: String = lines
        .iter()
        .map(|l| format!("{}\r\n", l.strip_prefix('.').unwrap_or(l)))
        .collect();
    assert_eq!(unstuffed.as_bytes(), &t.bodies[1][..]);

    // TOP n 0 and TOP n 1.
    c.send("TOP 1 0").await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    let top = multiline(&mut c).await;
    assert_eq!(top.last().unwrap(), "");
    assert_eq!(top.len(), 4, "{top:?}");
    c.send("TOP 1 1").await;
    c.line().await.unwrap();
    assert_eq!(multiline(&mut c).await.last().unwrap(), "line one of 1");
    c.send("TOP 1").await;
    assert!(c.line().await.unwrap().starts_with("-ERR"));

    // DELE then RSET restores.
    c.send("DELE 1").await;
    assert_eq!(c.line().await.unwrap(), "+OK Message 1 deleted");
    c.send("DELE 1").await;
    assert_eq!(c.line().await.unwrap(), "-ERR No such message");
    c.send("RETR 1").await;
    assert_eq!(c.line().await.unwrap(), "-ERR No such message");
    c.send("STAT").await;
    assert_eq!(
        c.line().await.unwrap(),
        format!("+OK 2 {}", total - sizes[0])
    );
    c.send("RSET").await;
    assert!(c.line().await.unwrap().starts_with("+OK 3 messages"));
    c.send("NOOP").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
    c.send("FROB").await;
    assert_eq!(c.line().await.unwrap(), "-ERR Unknown command");

    // DELE then QUIT removes from INBOX; RSET'd ones stay.
    c.send("DELE 3").await;
    c.line().await.unwrap();
    assert_eq!(t.inbox_count().await, 3, "nothing removed before UPDATE");
    c.send("QUIT").await;
    assert_eq!(
        c.line().await.unwrap(),
        "+OK Logging out, 1 messages deleted"
    );
    assert!(c.closed().await);
    assert_eq!(t.inbox_count().await, 2);

    let mut c = t.login().await;
    c.send("UIDL").await;
    c.line().await.unwrap();
    let after = multiline(&mut c).await;
    assert_eq!(
        after,
        vec![uidls[0].clone(), uidls[1].clone()],
        "UIDLs stable across sessions"
    );
    c.send("QUIT").await;
    c.line().await.unwrap();
}

#[tokio::test]
async fn dropped_connection_applies_no_deletions() {
    let t = start(PLAIN, 2).await;
    let mut c = t.login().await;
    c.send("DELE 1").await;
    c.line().await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.inbox_count().await, 2);
}

#[tokio::test]
async fn maildrop_lock_gives_in_use() {
    let t = start(PLAIN, 1).await;
    let mut a = t.login().await;
    let mut b = Client::connect(t.plain).await;
    b.line().await.unwrap();
    b.send("USER pat@example.test").await;
    b.line().await.unwrap();
    b.send("PASS pat-pw").await;
    assert_eq!(
        b.line().await.unwrap(),
        "-ERR [IN-USE] Mailbox is locked by another POP3 session"
    );
    a.send("QUIT").await;
    a.line().await.unwrap();
    assert!(a.closed().await);
    b.send("USER pat@example.test").await;
    b.line().await.unwrap();
    b.send("PASS pat-pw").await;
    assert!(b.line().await.unwrap().starts_with("+OK Logged in"));
}

#[tokio::test]
async fn auth_plain_with_and_without_initial_response() {
    let t = start(PLAIN, 1).await;
    let b64 = ferrymail::auth::sasl::plain_b64(
        "pat@example.test",
        &ferrymail::auth::Password::new("pat-pw"),
    );
    let mut c = Client::connect(t.plain).await;
    c.line().await.unwrap();
    c.send("AUTH").await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    assert_eq!(multiline(&mut c).await, vec!["PLAIN"]);
    c.send("AUTH CRAM-MD5").await;
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR Unsupported authentication mechanism"
    );
    c.send("AUTH PLAIN").await;
    assert_eq!(c.line().await.unwrap(), "+ ");
    c.send("*").await;
    assert_eq!(c.line().await.unwrap(), "-ERR Authentication cancelled");
    c.send("AUTH PLAIN").await;
    c.line().await.unwrap();
    c.send(&b64).await;
    assert!(c.line().await.unwrap().starts_with("+OK Logged in"));
    c.send("QUIT").await;
    c.line().await.unwrap();

    let mut c = Client::connect(t.plain).await;
    c.line().await.unwrap();
    c.send(&format!("AUTH PLAIN {b64}")).await;
    assert!(c.line().await.unwrap().starts_with("+OK Logged in"));
    let bad = ferrymail::auth::sasl::plain_b64(
        "pat@example.test",
        &ferrymail::auth::Password::new("nope"),
    );
    let mut d = Client::connect(t.plain).await;
    d.line().await.unwrap();
    d.send(&format!("AUTH PLAIN {bad}")).await;
    assert_eq!(d.line().await.unwrap(), "-ERR [AUTH] Authentication failed");
}

#[tokio::test]
async fn plaintext_login_needs_stls_and_stls_works() {
    let t = start("", 1).await;
    let mut c = Client::connect(t.plain).await;
    c.line().await.unwrap();
    c.send("CAPA").await;
    c.line().await.unwrap();
    let caps = multiline(&mut c).await;
    assert!(caps.contains(&"STLS".to_string()), "{caps:?}");
    assert!(!caps.contains(&"USER".to_string()), "{caps:?}");
    c.send("USER pat@example.test").await;
    assert!(c
        .line()
        .await
        .unwrap()
        .starts_with("-ERR Plaintext authentication is disallowed"));
    c.send("STLS").await;
    assert_eq!(c.line().await.unwrap(), "+OK Begin TLS negotiation");
    let mut c = c.starttls().await;
    c.send("CAPA").await;
    c.line().await.unwrap();
    let caps = multiline(&mut c).await;
    assert!(caps.contains(&"USER".to_string()) && caps.contains(&"SASL PLAIN".to_string()));
    assert!(!caps.contains(&"STLS".to_string()));
    c.send("USER pat@example.test").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
    c.send("PASS pat-pw").await;
    assert!(c.line().await.unwrap().starts_with("+OK Logged in"));

    // Implicit TLS (995).
    let mut c = Client::connect_tls(t.tls).await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    c.send("USER pat@example.test").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
}

#[tokio::test]
async fn stls_with_pipelined_plaintext_is_refused() {
    let t = start("", 1).await;
    let mut c = Client::connect(t.plain).await;
    c.line().await.unwrap();
    c.send_raw(b"STLS\r\nCAPA\r\n").await;
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR Data pipelined after STLS; closing"
    );
    assert!(
        c.closed().await,
        "no reply to the injected CAPA, connection closed"
    );
}

#[tokio::test]
async fn bad_input_gets_errors_and_the_session_goes_on() {
    let t = start(PLAIN, 1).await;
    let mut c = Client::connect(t.plain).await;
    c.line().await.unwrap();
    c.send_raw(b"US\0ER x\r\n").await;
    assert_eq!(c.line().await.unwrap(), "-ERR Invalid character in command");
    c.send(&"X".repeat(5000)).await;
    assert_eq!(c.line().await.unwrap(), "-ERR Command line too long");
    c.send_raw(b"USER \xff\xfe\r\n").await;
    assert_eq!(c.line().await.unwrap(), "-ERR Command is not valid UTF-8");
    c.send("USER pat@example.test").await;
    assert_eq!(c.line().await.unwrap(), "+OK");
}

#[tokio::test]
async fn shutdown_says_goodbye_without_update() {
    let mut t = start(PLAIN, 2).await;
    let mut c = t.login().await;
    c.send("DELE 1").await;
    c.line().await.unwrap();
    let running = t.running.take().unwrap();
    running.stop(Duration::from_secs(5)).await;
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR [SYS/TEMP] Server shutting down, try again later"
    );
    assert!(c.closed().await);
    assert_eq!(t.inbox_count().await, 2);
}

#[tokio::test]
async fn python_poplib_and_curl() {
    let t = start("", 2).await;
    let script = format!(
        r#"
import poplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", {port}, timeout=10)
p.stls(context=ctx)
p.user("pat@example.test")
p.pass_("pat-pw")
count, size = p.stat()
print("stat", count, size)
resp, lines, octets = p.retr(1)
print("retr", octets, len(b"\r\n".join(lines) + b"\r\n"))
print("uidl", p.uidl()[1][0].decode())
p.dele(2)
p.quit()
"#,
        port = t.plain.port()
    );
    let out = run_blocking(std::process::Command::new("python3").arg("-c").arg(&script)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total: usize = t.bodies.iter().map(Vec::len).sum();
    assert!(stdout.contains(&format!("stat 2 {total}")), "{stdout}");
    let n = t.bodies[0].len();
    assert!(stdout.contains(&format!("retr {n} {n}")), "{stdout}");
    assert!(stdout.contains("uidl 1 000000010000abcd"), "{stdout}");
    assert_eq!(
        t.inbox_count().await,
        1,
        "poplib's DELE + QUIT removed message 2"
    );

    // curl over implicit TLS fetches message 1 exactly.
    let out = run_blocking(
        std::process::Command::new("curl")
            .args([
                "-s",
                "--insecure",
                "--max-time",
                "20",
                "--user",
                "pat@example.test:pat-pw",
            ])
            .arg(format!("pop3s://127.0.0.1:{}/1", t.tls.port())),
    )
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, t.bodies[0]);
}
