//! Addresses that are not mailboxes (issue 18): aliases to local and legacy
//! users, forwards with SRS and the bounces back, catch-all and `+`
//! addressing, sending as an alias, loops refused by `check-config` and by a
//! reload, the depth limit at RCPT, and aliases after the migration ends.
//! Against the real legacy Postfix + Dovecot (tests/common/legacy.rs).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::capture::Capture;
use common::domains::{migrating, MigratingDomain};
use common::inproc::{self, inbox_bodies};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{add_account, cli};
use common::{wait_until, Client, Daemon, TestConfig};
use ferrymail::auth::Password;
use ferrymail::config::Protocol;
use ferrymail::smtp::srs::Srs;
use ferrymail::store::AccountState::Migrated;
use ferrymail::store::Mailstore;

/// One SMTP transaction; `auth` logs in first (PLAIN). Each RCPT must answer
/// with its code; DATA is sent when one was accepted.
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
        let b64 = ferrymail::auth::sasl::plain_b64(u, &Password::new(p));
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

async fn wait_legacy(l: &Arc<Legacy>, user: &'static str, subject: &'static str) {
    let l = l.clone();
    tokio::task::spawn_blocking(move || {
        let mut got = 0;
        wait_until(
            90,
            200,
            || {
                got = legacy_count(&l, user, subject);
                got >= 1
            },
            || format!("{subject} not delivered to {user}:\n{}", l.postfix_log()),
        );
        assert_eq!(got, 1, "{subject}: too many copies");
    })
    .await
    .unwrap();
}

/// How many INBOX messages of `ms` contain `needle`.
async fn local_count(ms: &Mailstore, needle: &str) -> usize {
    inbox_bodies(ms)
        .await
        .iter()
        .filter(|b| String::from_utf8_lossy(b).contains(needle))
        .count()
}

fn domain_file(l: &Legacy, enabled: bool) -> String {
    let mut s = migrating(
        l,
        MigratingDomain {
            enabled,
            tls: "none",
            postfix: true,
            ..Default::default()
        },
    );
    s.push_str(
        "\n[addresses]\ncatch_all = \"office\"\nrecipient_delimiter = \"+\"\n\
         [aliases]\n\
         team = [\"carol\", \"alice\"]\n\
         board = [\"carol\", \"partner@outside.example\"]\n\
         office = [\"carol\"]\n\
         postmaster = [\"carol@example.org\"]\n\
         all = [\"team\", \"office\"]\n\
         sales = [\"alice\"]\n\
         away = [\"refuse-me@outside.example\"]\n",
    );
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_route_each_target_by_its_state_and_forward_with_srs() {
    let l = tokio::task::spawn_blocking(|| {
        Legacy::start(LegacyOptions {
            postfix: true,
            ..LegacyOptions::with_users(&["alice", "bob"])
        })
    })
    .await
    .unwrap();
    let l = Arc::new(l);
    let (cap, sink) = Capture::start().await;
    let server = format!(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 10\n\
         [smtp]\nlisten = [\"127.0.0.1:0\"]\nretry_secs = 1\n\
         [submission]\nlisten = [\"127.0.0.1:0\"]\nrelay_host = \"{sink}\"\n"
    );
    let cfg = TestConfig::new(&server, &[("example.org", &domain_file(&l, true))]);
    let (app, running) = inproc::start(&cfg).await;
    let mx = running.addr(Protocol::Smtp, false).unwrap();
    let sub = running.addr(Protocol::Submission, false).unwrap();
    let carol = inproc::mailstore(&app, "carol@example.org", "carol-pw", Migrated).await;

    // One migrated and one unmigrated target: a local copy, a legacy copy.
    send(
        mx,
        None,
        "sender@sender.example",
        &[("team@example.org", "250")],
        "Subject: team one\r\nFrom: Sender <sender@sender.example>\r\n\r\nhello team\r\n",
    )
    .await;
    assert_eq!(local_count(&carol, "team one").await, 1);
    wait_legacy(&l, "alice", "team one").await;

    // Nested aliases with a shared target: one copy per account.
    send(
        mx,
        None,
        "sender@sender.example",
        &[("all@example.org", "250"), ("office@example.org", "250")],
        "Subject: all two\r\n\r\nonce each\r\n",
    )
    .await;
    assert_eq!(local_count(&carol, "all two").await, 1);
    wait_legacy(&l, "alice", "all two").await;

    // An outside target: forwarded with an SRS0 sender that verifies, headers kept.
    send(
        mx,
        None,
        "sender@sender.example",
        &[("board@example.org", "250")],
        "Subject: board three\r\nFrom: Sender <sender@sender.example>\r\n\r\nfor the board\r\n",
    )
    .await;
    assert_eq!(local_count(&carol, "board three").await, 1);
    let wire = cap.wait_for_text("board three").await;
    assert!(wire.contains("RCPT TO:<partner@outside.example>"), "{wire}");
    assert!(
        wire.contains("From: Sender <sender@sender.example>"),
        "{wire}"
    );
    let from_line = wire
        .lines()
        .find(|l| l.starts_with("MAIL FROM:<"))
        .unwrap()
        .to_string();
    let srs_addr = from_line["MAIL FROM:<".len()..]
        .split('>')
        .next()
        .unwrap()
        .to_string();
    assert!(srs_addr.starts_with("SRS0="), "{from_line}");
    assert!(srs_addr.ends_with("@example.org"), "{from_line}");
    let srs_local = srs_addr.rsplit_once('@').unwrap().0;
    let srs = Srs::open(&app.config().data_dir).unwrap();
    assert_eq!(
        srs.reverse(srs_local).unwrap(),
        ("sender".to_string(), "sender.example".to_string())
    );

    // A bounce to that SRS address goes back to the original sender.
    send(
        mx,
        None,
        "",
        &[(&srs_addr, "250")],
        "Subject: bounce four\r\n\r\nundeliverable\r\n",
    )
    .await;
    let wire = cap.wait_for_text("bounce four").await;
    assert!(wire.contains("MAIL FROM:<>"), "{wire}");
    assert!(wire.contains("RCPT TO:<sender@sender.example>"), "{wire}");
    // Case changed by some MTA on the way: still valid.
    send(
        mx,
        None,
        "",
        &[(&srs_addr.to_lowercase(), "250")],
        "Subject: bounce lower\r\n\r\nundeliverable\r\n",
    )
    .await;
    cap.wait_for_text("bounce lower").await;
    // Tampered or forged SRS addresses are refused.
    let tampered = srs_addr.replace("=sender@", "=mallory@");
    let (hash, _) = srs_local[5..].split_once('=').unwrap();
    let other = if hash.eq_ignore_ascii_case("AAAA") {
        "BBBB"
    } else {
        "AAAA"
    };
    let rehashed = srs_addr.replacen(hash, other, 1);
    send(
        mx,
        None,
        "",
        &[
            (&tampered, "550"),
            (&rehashed, "550"),
            ("SRS0=abcd=AA=evil.example=victim@example.org", "550"),
        ],
        "",
    )
    .await;

    // Catch-all and + addressing: carol+news to carol, alice+x (unknown to the
    // legacy Postfix) to alice's legacy mailbox, nobody@ to office (carol).
    send(
        mx,
        None,
        "sender@sender.example",
        &[
            ("carol+news@example.org", "250"),
            ("alice+x@example.org", "250"),
            ("nobody-here@example.org", "250"),
        ],
        "Subject: plus five\r\n\r\nplus and catch-all\r\n",
    )
    .await;
    assert_eq!(local_count(&carol, "plus five").await, 1);
    wait_legacy(&l, "alice", "plus five").await;

    // Sending as an alias carol belongs to (directly or nested); not as another.
    let carol_auth = Some(("carol@example.org", "carol-pw"));
    for alias in ["team@example.org", "all@example.org", "board@example.org"] {
        send(sub, carol_auth, alias, &[], "").await;
    }
    let mut c = Client::connect(sub).await;
    assert!(c.smtp_reply().await.starts_with("220"));
    c.expect_code("EHLO client.example", "250").await;
    let b64 = ferrymail::auth::sasl::plain_b64("carol@example.org", &Password::new("carol-pw"));
    c.expect_code(&format!("AUTH PLAIN {b64}"), "235").await;
    c.expect_code("MAIL FROM:<sales@example.org>", "553 5.7.1")
        .await;
    c.expect_code("MAIL FROM:<alice@example.org>", "553 5.7.1")
        .await;
    c.expect_code("QUIT", "221").await;

    // The migration ends: alice moved, the domain no longer migrating. Every
    // alias still delivers, now locally.
    let alice = inproc::mailstore(&app, "alice@example.org", "alice-pw", Migrated).await;
    std::fs::write(
        cfg.dir.path().join("domains/example.org.toml"),
        domain_file(&l, false),
    )
    .unwrap();
    app.set_config(cfg.load());
    send(
        mx,
        None,
        "sender@sender.example",
        &[
            ("team@example.org", "250"),
            ("board@example.org", "250"),
            ("postmaster@example.org", "250"),
            ("sales+x@example.org", "250"),
            ("gone@example.org", "250"),
        ],
        "Subject: after six\r\n\r\nafter the end\r\n",
    )
    .await;
    assert_eq!(local_count(&carol, "after six").await, 1);
    assert_eq!(local_count(&alice, "after six").await, 1);
    cap.wait_for_text("after six").await;

    // A forward the outside server refuses for good: the bounce (from our
    // queue, to the SRS sender) goes back to the original sender.
    send(
        mx,
        None,
        "sender7@sender.example",
        &[("away@example.org", "250")],
        "Subject: seven\r\n\r\nto someone who left\r\n",
    )
    .await;
    let dsn = cap.wait_for_text("RCPT TO:<sender7@sender.example>").await;
    assert!(dsn.contains("MAIL FROM:<>"), "{dsn}");
    assert!(dsn.contains("refuse-me@outside.example"), "{dsn}");
    running.app.shutdown.cancel();
}

const PAT_DOMAIN: &str = "domain = \"example.test\"\n";

fn pat_domain(aliases: &str) -> String {
    format!("{PAT_DOMAIN}[aliases]\npostmaster = [\"pat\"]\n{aliases}")
}

/// A chain of `n` aliases `c0 -> c1 -> ... -> pat`.
fn chain(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("c{i} = [\"c{}\"]\n", i + 1));
    }
    s.push_str(&format!("c{n} = [\"pat\"]\n"));
    s
}

#[test]
fn check_config_reports_loops_duplicates_bad_targets_and_shadowed_accounts() {
    let cfg = TestConfig::new(
        "",
        &[(
            "example.test",
            &format!(
                "{PAT_DOMAIN}[addresses]\naliases_file = \"example.test.aliases\"\nrecipient_delimiter = \"+@\"\n\
                 [aliases]\n\
                 a = [\"b\"]\n\
                 b = [\"c@example.test\"]\n\
                 c = [\"a\"]\n\
                 dup = [\"pat\", \"pat\"]\n\
                 bad = [\"|/usr/bin/procmail\"]\n\
                 self = [\"self\", \"friend@outside.example\"]\n"
            ),
        )],
    );
    std::fs::write(
        cfg.dir.path().join("domains/example.test.aliases"),
        "# converted from /etc/postfix/virtual\n\
         info@example.test   pat, a\n\
         sales: pat\n\
         \x20   other@outside.example\n\
         a  pat\n\
         x@elsewhere.test  pat\n",
    )
    .unwrap();
    let (code, out, err) = cli(&cfg, &["check-config"], "");
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains("line 6: alias loop: a@example.test -> b@example.test -> c@example.test -> a@example.test"),
        "{all}"
    );
    assert!(
        all.contains("line 9: alias `dup` lists `pat` twice"),
        "{all}"
    );
    assert!(
        all.contains("line 10: alias `bad`: target `|/usr/bin/procmail`"),
        "{all}"
    );
    assert!(all.contains("recipient_delimiter"), "{all}");
    assert!(
        all.contains("example.test.aliases: line 5: alias `a` is defined twice"),
        "{all}"
    );
    assert!(
        all.contains("example.test.aliases: line 6: `x@elsewhere.test` is not of this domain"),
        "{all}"
    );
    // No relay host and no legacy SMTP server: the forwards cannot leave.
    assert!(
        all.contains("alias `sales` forwards to other@outside.example")
            && all.contains("nothing can send it"),
        "{all}"
    );
    assert_eq!(all.matches("alias loop").count(), 1, "{all}");

    // A clean table; then aliases checked against the accounts in the store.
    let cfg = TestConfig::new(
        "[submission]\nrelay_host = \"127.0.0.1:2525\"\n",
        &[(
            "example.test",
            &format!(
                "{PAT_DOMAIN}[aliases]\ninfo = [\"pat\", \"friend@outside.example\"]\nsam = [\"pat\"]\nkept = [\"kept\", \"pat\"]\nghost = [\"nobody\"]\n"
            ),
        )],
    );
    let (code, out, _) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 0, "{out}");
    add_account(&cfg, "pat@example.test", "pat-pw");
    add_account(&cfg, "sam@example.test", "sam-pw");
    add_account(&cfg, "kept@example.test", "kept-pw");
    let (code, out, err) = cli(&cfg, &["check-config"], "");
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("alias `sam` is also an account"), "{all}");
    assert!(!all.contains("alias `kept` is also"), "{all}");
    assert!(
        all.contains("target nobody@example.test is neither an alias nor an account"),
        "{all}"
    );
    assert!(!all.contains("postmaster"), "{all}");

    // With the store, a domain where postmaster@ reaches nobody gets a warning.
    std::fs::write(
        cfg.dir.path().join("domains/example.test.toml"),
        format!("{PAT_DOMAIN}[aliases]\ninfo = [\"pat\"]\n"),
    )
    .unwrap();
    let (code, out, _) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: postmaster@example.test reaches nobody"),
        "{out}"
    );
}

/// IMAP INBOX message count of `user` on the daemon.
fn imap_exists(d: &Daemon, user: &str, password: &str) -> usize {
    let mut c = common::legacy::ImapClient::connect(d.addr("imap", "plain").port());
    c.ok(&format!("LOGIN {user} {password}"));
    let lines = c.ok("SELECT INBOX");
    c.logout();
    lines
        .iter()
        .find_map(|l| l.text.strip_suffix(" EXISTS"))
        .and_then(|l| l.trim_start_matches("* ").parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_introduced_by_a_reload_is_refused_and_deep_chains_answer_5xx() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[smtp]\nlisten = [\"127.0.0.1:0\"]\n",
        &[(
            "example.test",
            &pat_domain(&format!("a = [\"b\"]\nb = [\"pat\"]\n{}", chain(12))),
        )],
    );
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let mx = d.addr("smtp", "plain");
    send(
        mx,
        None,
        "x@sender.example",
        &[
            ("a@example.test", "250"),
            ("c3@example.test", "250"),
            ("c0@example.test", "554 5.4.6"),
        ],
        "Subject: one\r\n\r\n1\r\n",
    )
    .await;
    assert_eq!(imap_exists(&d, "pat@example.test", "pat-pw"), 1);

    // A 3-step loop in the new file: the reload is refused, the old table stays.
    std::fs::write(
        cfg.dir.path().join("domains/example.test.toml"),
        pat_domain("a = [\"b\"]\nb = [\"c\"]\nc = [\"a\"]\n"),
    )
    .unwrap();
    let (code, out, _) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("alias loop"), "{out}");
    unsafe { libc::kill(d.pid(), libc::SIGHUP) };
    wait_until(
        30,
        50,
        || d.log_text().contains("keeping the old one"),
        || d.log_text(),
    );
    assert!(d.log_text().contains("alias loop"), "{}", d.log_text());
    send(
        mx,
        None,
        "x@sender.example",
        &[("a@example.test", "250")],
        "Subject: two\r\n\r\n2\r\n",
    )
    .await;
    assert_eq!(imap_exists(&d, "pat@example.test", "pat-pw"), 2);
}
