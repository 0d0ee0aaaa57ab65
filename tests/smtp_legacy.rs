//! SMTP routing against a real legacy system: a private Postfix delivering into a
//! private Dovecot over LMTP (tests/common/legacy.rs). Mail for users not yet
//! migrated reaches the legacy mailbox, unknown users are refused at RCPT after a
//! probe, submission relays out through the legacy MTA, the queue survives the
//! legacy MTA being down and the daemon being killed with SIGKILL, and a message
//! that cannot be delivered within the queue lifetime comes back as a DSN.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::domains::{migrating, MigratingDomain};
use common::inproc::{self, inbox_bodies};
use common::legacy::{Legacy, LegacyOptions};
use common::{wait_until, Client, Daemon, TestConfig};
use ferrymail::app::App;
use ferrymail::auth::Password;
use ferrymail::config::Protocol;
use ferrymail::daemon;
use ferrymail::store::AccountState::Migrated;
use ferrymail::store::Mailstore;

fn legacy() -> Legacy {
    Legacy::start(LegacyOptions {
        postfix: true,
        ..LegacyOptions::with_users(&["alice", "bob"])
    })
}

fn domain_file(l: &Legacy) -> String {
    migrating(
        l,
        MigratingDomain {
            tls: "none",
            postfix: true,
            ..Default::default()
        },
    )
}

fn server_file(extra: &str) -> String {
    format!(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 10\n\
         [smtp]\nlisten = [\"127.0.0.1:0\"]\nretry_secs = 1\n{extra}\n\
         [submission]\nlisten = [\"127.0.0.1:0\"]\n"
    )
}

/// One SMTP transaction; `auth` logs in first (PLAIN).
async fn send(
    addr: SocketAddr,
    auth: Option<(&str, &str)>,
    from: &str,
    rcpts: &[(&str, &str)],
    body: &str,
) {
    let mut c = Client::connect(addr).await;
    c.timeout = Duration::from_secs(60);
    assert!(c.smtp_reply().await.starts_with("220"));
    c.expect_code("EHLO client.example", "250").await;
    if let Some((u, p)) = auth {
        let b64 = base64_plain(u, p);
        c.expect_code(&format!("AUTH PLAIN {b64}"), "235").await;
    }
    c.expect_code(&format!("MAIL FROM:<{from}>"), "250").await;
    let mut any = false;
    for (r, code) in rcpts {
        c.expect_code(&format!("RCPT TO:<{r}>"), code).await;
        any |= code.starts_with('2');
    }
    if any {
        c.expect_code("DATA", "354").await;
        c.send_raw(body.as_bytes()).await;
        c.send_raw(b".\r\n").await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with("250"), "DATA -> {r}");
    }
    c.expect_code("QUIT", "221").await;
}

fn base64_plain(u: &str, p: &str) -> String {
    ferrymail::auth::sasl::plain_b64(u, &Password::new(p))
}

/// Messages in a legacy INBOX whose subject contains `subject`.
fn legacy_count(l: &Legacy, user: &str, subject: &str) -> usize {
    let mut imap = l.imap(user, &format!("{user}-pw"));
    imap.ok("SELECT INBOX");
    let lines = imap.ok(&format!("SEARCH SUBJECT \"{subject}\""));
    imap.logout();
    lines
        .iter()
        .find(|l| l.text.starts_with("* SEARCH"))
        .map(|l| l.text.split(' ').skip(2).filter(|s| !s.is_empty()).count())
        .unwrap_or(0)
}

/// Waits until the legacy INBOX has `n` such messages (Postfix delivers async).
fn wait_legacy(l: &Legacy, user: &str, subject: &str, n: usize) {
    let mut got = 0;
    wait_until(
        90,
        200,
        || {
            got = legacy_count(l, user, subject);
            got >= n
        },
        || {
            format!(
                "{subject} not delivered to {user}; postfix log:\n{}",
                l.postfix_log()
            )
        },
    );
    assert_eq!(got, n, "{subject}: too many copies");
}

async fn inbox(ms: &Mailstore) -> Vec<String> {
    inbox_bodies(ms)
        .await
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

fn queue_len(data_dir: &std::path::Path) -> usize {
    ferrymail::smtp::queue::list(data_dir).len()
}

struct InProcess {
    _cfg: TestConfig,
    app: Arc<App>,
    running: Option<daemon::Running>,
    mx: SocketAddr,
    sub: SocketAddr,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.app.shutdown.cancel();
        }
    }
}

async fn start(l: &Legacy, extra: &str) -> InProcess {
    let cfg = TestConfig::new(&server_file(extra), &[("example.org", &domain_file(l))]);
    let (app, running) = inproc::start(&cfg).await;
    InProcess {
        mx: running.addr(Protocol::Smtp, false).unwrap(),
        sub: running.addr(Protocol::Submission, false).unwrap(),
        app,
        running: Some(running),
        _cfg: cfg,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_is_routed_between_ferrymail_and_the_legacy_server() {
    let l = tokio::task::spawn_blocking(legacy).await.unwrap();
    let t = start(&l, "").await;
    let carol = inproc::mailstore(&t.app, "carol@example.org", "carol-pw", Migrated).await;

    // Not yet migrated: verified on the legacy server, relayed, in the legacy mailbox.
    // Unknown to both: 550 at RCPT. Migrated: local. Elsewhere: 554 on port 25.
    send(
        t.mx,
        None,
        "sender@example.net",
        &[
            ("alice@example.org", "250"),
            ("nosuchuser@example.org", "550 5.1.1"),
            ("carol@example.org", "250"),
            ("someone@example.net", "554 5.7.1"),
        ],
        "Subject: routed one\r\n\r\n..dot line\r\nbye\r\n",
    )
    .await;
    let l = Arc::new(l);
    let l2 = l.clone();
    tokio::task::spawn_blocking(move || wait_legacy(&l2, "alice", "routed one", 1))
        .await
        .unwrap();
    let mine = inbox(&carol).await;
    assert_eq!(mine.len(), 1);
    assert!(
        mine[0].ends_with("Subject: routed one\r\n\r\n.dot line\r\nbye\r\n"),
        "{}",
        mine[0]
    );

    // Submission: refused without AUTH; with AUTH, mail for other domains goes out
    // through the legacy MTA (default relay), whose "outside world" is a file sink.
    let mut c = Client::connect(t.sub).await;
    c.smtp_reply().await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<carol@example.org>", "530").await;
    drop(c);
    send(
        t.sub,
        Some(("carol@example.org", "carol-pw")),
        "carol@example.org",
        &[("friend@example.net", "250"), ("bob@example.org", "250")],
        "Subject: outbound two\r\n\r\n..leading dot\r\n...two dots\r\nend\r\n",
    )
    .await;
    let l2 = l.clone();
    tokio::task::spawn_blocking(move || wait_legacy(&l2, "bob", "outbound two", 1))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sunk = loop {
        if let Some(f) = l
            .sink_texts()
            .into_iter()
            .find(|t| t.contains("outbound two"))
        {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "nothing in the sink:\n{}",
            l.postfix_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Dot-stuffing was undone on receipt and redone on relay: the lines arrive intact.
    assert!(sunk.contains("\n.leading dot\n..two dots\nend\n"), "{sunk}");
    assert!(
        sunk.contains("by mail.test (ferrymail) with ESMTPA"),
        "{sunk}"
    );

    // The legacy SMTP server is down: queued (250), delivered when it is back.
    l.stop_postfix();
    send(
        t.mx,
        None,
        "sender@example.net",
        &[("alice@example.org", "250")],
        "Subject: while down three\r\n\r\nqueued\r\n",
    )
    .await;
    let data_dir = t.app.config().data_dir.clone();
    assert_eq!(queue_len(&data_dir), 1);
    l.start_postfix_again();
    let l2 = l.clone();
    tokio::task::spawn_blocking(move || wait_legacy(&l2, "alice", "while down three", 1))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue_len(&data_dir) > 0 {
        assert!(Instant::now() < deadline, "queue entry not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undeliverable_mail_comes_back_as_a_dsn_after_the_queue_lifetime() {
    let l = tokio::task::spawn_blocking(legacy).await.unwrap();
    let t = start(&l, "queue_lifetime_secs = 3").await;
    let carol = inproc::mailstore(&t.app, "carol@example.org", "carol-pw", Migrated).await;
    l.stop_postfix();
    send(
        t.sub,
        Some(("carol@example.org", "carol-pw")),
        "carol@example.org",
        &[("alice@example.org", "250")],
        "Subject: doomed four\r\nMessage-ID: <doomed@example.org>\r\n\r\nnever arrives\r\n",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let dsn = loop {
        let mine = inbox(&carol).await;
        if let Some(m) = mine.first() {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "no DSN");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        dsn.contains("Subject: Undelivered Mail Returned to Sender"),
        "{dsn}"
    );
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; alice@example.org"),
        "{dsn}"
    );
    assert!(dsn.contains("Message-ID: <doomed@example.org>"), "{dsn}");
    // The entry is dropped right after its DSN is stored (never before).
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue_len(&t.app.config().data_dir) != 0 {
        assert!(
            Instant::now() < deadline,
            "the queue entry outlived its DSN"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn queued_mail_survives_kill_9_and_is_delivered_exactly_once() {
    let l = legacy();
    let cfg = TestConfig::new(&server_file(""), &[("example.org", &domain_file(&l))]);
    l.stop_postfix();
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let mx = d.addr("smtp", "plain");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(send(
        mx,
        None,
        "sender@example.net",
        &[("alice@example.org", "250")],
        "Subject: survivor five\r\n\r\nkept across kill -9\r\n",
    ));
    assert_eq!(queue_len(&cfg.data_dir()), 1);
    d.kill9();
    l.start_postfix_again();
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    wait_legacy(&l, "alice", "survivor five", 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue_len(&cfg.data_dir()) > 0 {
        assert!(
            Instant::now() < deadline,
            "queue entry not removed:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give any duplicate the time to arrive through Postfix, then count again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(legacy_count(&l, "alice", "survivor five"), 1);
}
