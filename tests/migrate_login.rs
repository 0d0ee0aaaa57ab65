//! The login path itself, in process against a real Dovecot: an IMAP login of a
//! copying user gets a legacy connection already logged in with the legacy
//! capabilities (what the IMAP server relays), SMTP AUTH is served locally, the
//! switch ends the proxied session, and `continuous = true` brings mail that
//! still reaches the legacy server over on later logins.

mod common;
mod migrate_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::legacy::{Legacy, LegacyOptions};
use ferrymail::app::App;
use ferrymail::auth::Password;
use ferrymail::login::{login, LoginOutcome, LoginRequest, Proto};
use ferrymail::store::AccountState;
use migrate_support::*;

fn req(user: &str, pw: &str, protocol: Proto) -> LoginRequest {
    LoginRequest {
        username: user.into(),
        password: Password::new(pw),
        protocol,
        client: "127.0.0.1".parse::<IpAddr>().unwrap(),
    }
}

async fn state(app: &Arc<App>, address: &str) -> Option<AccountState> {
    app.store.account(address).await.unwrap().map(|a| a.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_proxy_handoff_smtp_identity_and_continuous_catch_up() {
    // This binary holds this one test, so the slow-down affects nothing else.
    std::env::set_var("FERRYMAIL_TEST_COPY_DELAY_MS", "150");
    ferrymail::logging::init_test();
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    let mut c = legacy.imap("alice", "alice-pw");
    for (flags, date, body) in sample_messages().into_iter().cycle().take(20) {
        c.append("INBOX", flags, date, &body);
    }
    c.logout();
    let cfg = config(&legacy, "serve_locally_within_ms = 0\ncontinuous = true");
    let app = App::new(cfg.load()).unwrap();

    // IMAP: proxied, with a connection already logged in to the legacy server.
    let LoginOutcome::Proxy(account, ls) =
        login(&app, req("alice@example.org", "alice-pw", Proto::Imap)).await
    else {
        panic!("expected a proxied session");
    };
    assert_eq!(account.state, AccountState::Copying);
    let caps = ls.capabilities.clone().unwrap();
    assert!(caps.contains("IMAP4rev1"), "{caps}");
    assert!(
        !caps.contains("LOGINDISABLED") && !caps.contains("STARTTLS"),
        "{caps}"
    );
    let mut conn = ls.conn;
    conn.send(b"x1 SELECT INBOX\r\n").await.unwrap();
    let mut lines = Vec::new();
    loop {
        let l = String::from_utf8(conn.read_line(64 * 1024).await.unwrap()).unwrap();
        let done = l.starts_with("x1 ");
        lines.push(l);
        if done {
            break;
        }
    }
    assert!(lines.iter().any(|l| l.contains("20 EXISTS")), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("x1 OK"), "{lines:?}");

    // SMTP AUTH of the copying user: the identity only, served locally.
    let out = login(&app, req("alice@example.org", "alice-pw", Proto::Smtp)).await;
    assert!(matches!(out, LoginOutcome::Local(_)), "{out:?}");
    // A first login over SMTP AUTH creates the account and starts its copy.
    let out = login(&app, req("bob@example.org", "bob-pw", Proto::Smtp)).await;
    assert!(matches!(out, LoginOutcome::Local(_)), "{out:?}");
    assert!(state(&app, "bob@example.org").await.is_some());
    // Wrong password of a copying user.
    let out = login(&app, req("alice@example.org", "nope", Proto::Imap)).await;
    assert!(matches!(out, LoginOutcome::Refused), "{out:?}");

    // The switch ends the proxied session.
    tokio::time::timeout(Duration::from_secs(120), ls.end.cancelled())
        .await
        .expect("proxied session not ended by the switch");
    let deadline = Instant::now() + Duration::from_secs(60);
    while state(&app, "alice@example.org").await != Some(AccountState::Migrated) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = login(&app, req("alice@example.org", "alice-pw", Proto::Imap)).await;
    let LoginOutcome::Local(account) = out else {
        panic!("{out:?}")
    };

    // continuous: mail that still reaches the legacy server comes over on login.
    let ms = app.store.mailstore(account.id).await.unwrap();
    let before = ms.mailbox("INBOX").await.unwrap().unwrap().exists;
    assert_eq!(before, 20);
    let mut c = legacy.imap("alice", "alice-pw");
    c.append(
        "INBOX",
        "",
        "22-Nov-2026 10:00:00 +0000",
        b"Subject: late\r\n\r\nstill sent to the old MX\r\n",
    );
    c.logout();
    let out = login(&app, req("alice@example.org", "alice-pw", Proto::Pop3)).await;
    assert!(matches!(out, LoginOutcome::Local(_)), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ms.mailbox("INBOX").await.unwrap().unwrap().exists != 21 {
        assert!(Instant::now() < deadline, "catch-up did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Logging in again brings nothing twice.
    let _ = login(&app, req("alice@example.org", "alice-pw", Proto::Pop3)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ms.mailbox("INBOX").await.unwrap().unwrap().exists, 21);

    app.shutdown.cancel();
    app.tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), app.tasks.wait()).await;
}
