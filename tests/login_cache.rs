//! The verified-credential cache, against `ferrymail serve` over IMAP, POP3
//! and SMTP AUTH: a returning user's login is answered from it (counted in
//! `ferrymail_credential_cache_hits_total`), a wrong password never is and
//! never enters it, `account passwd` and `account delete` end what it knew
//! at once, a restart forgets it, and `credential_cache_secs = 0` turns it off.

mod common;

use common::domains::{server, PLAINTEXT};
use common::ops::{add_account, admin_get, cli};
use common::transcript::sasl_plain;
use common::{Daemon, Line, TestConfig};

const USER: &str = "anna@example.org";

fn metric(cfg: &TestConfig, d: &Daemon, name: &str) -> u64 {
    let text = admin_get(cfg, d, "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

fn hits(cfg: &TestConfig, d: &Daemon) -> u64 {
    metric(cfg, d, "ferrymail_credential_cache_hits_total")
}

fn imap_login(d: &Daemon, password: &str) -> bool {
    let mut c = Line::connect(d.addr("imap", "plain"));
    c.expect("* OK");
    // The password as a literal: it may be any UTF-8.
    c.send_line(&format!("a LOGIN {USER} {{{}}}", password.len()));
    c.expect("+");
    c.send_line(password);
    loop {
        let l = c.line();
        if let Some(rest) = l.strip_prefix("a ") {
            c.send_line("z LOGOUT");
            return rest.starts_with("OK");
        }
        assert!(!l.is_empty(), "connection closed");
    }
}

fn pop3_login(d: &Daemon, password: &str) -> bool {
    let mut c = Line::connect(d.addr("pop3", "plain"));
    c.expect("+OK");
    let ok = c.pop(&format!("USER {USER}")).starts_with("+OK")
        && c.pop(&format!("PASS {password}")).starts_with("+OK");
    c.send_line("QUIT");
    ok
}

fn smtp_login(d: &Daemon, password: &str) -> bool {
    let mut c = Line::connect(d.addr("submission", "plain"));
    c.expect("220");
    c.expect_code("EHLO client.test", "250");
    let r = c.cmd(&format!(
        "AUTH PLAIN {}",
        sasl_plain(USER.as_bytes(), password)
    ));
    c.send_line("QUIT");
    r.starts_with("235")
}

fn config(extra_auth: &str) -> TestConfig {
    TestConfig::new(
        &server(
            &format!("{PLAINTEXT}\nfailure_delay_ms = 10\nmax_failure_delay_ms = 20\n{extra_auth}"),
            &["imap", "pop3", "submission", "admin"],
        ),
        &[("example.org", "domain = \"example.org\"\n")],
    )
}

#[test]
fn returning_users_are_answered_from_the_cache_until_the_password_changes() {
    let cfg = config("");
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    add_account(&cfg, USER, "первый-pw1");
    assert_eq!(hits(&cfg, &d), 0);

    // The first login verifies the hash; the next ones, on any protocol, hit.
    assert!(imap_login(&d, "первый-pw1"));
    assert_eq!(hits(&cfg, &d), 0);
    assert!(imap_login(&d, "первый-pw1"));
    assert!(pop3_login(&d, "первый-pw1"));
    assert!(smtp_login(&d, "первый-pw1"));
    assert_eq!(hits(&cfg, &d), 3);

    // A wrong password after a cached success: refused, counted as a failed
    // login, and never a hit; the right one still is.
    let failures = metric(&cfg, &d, "ferrymail_login_failures_total");
    assert!(!imap_login(&d, "первый-pw2"));
    assert!(!imap_login(&d, "первый-pw1 "));
    assert_eq!(
        metric(&cfg, &d, "ferrymail_login_failures_total"),
        failures + 2
    );
    assert!(d.log_text().contains("reason=password"));
    assert_eq!(hits(&cfg, &d), 3);
    assert!(imap_login(&d, "первый-pw1"));
    assert_eq!(hits(&cfg, &d), 4);

    // `account passwd` (through the admin API while the daemon runs): the old
    // password stops working at once, the new one is verified, then cached.
    let (code, out, err) = cli(&cfg, &["account", "passwd", USER], "zweites-Passwort\n");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!imap_login(&d, "первый-pw1"));
    assert_eq!(hits(&cfg, &d), 4);
    assert!(imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 4);
    assert!(imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 5);

    // A restart forgets everything: the first login verifies again.
    assert!(d.terminate().success());
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    assert!(imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 0);
    assert!(imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 1);

    // `account delete`: the cached password opens nothing.
    let (code, out, err) = cli(&cfg, &["account", "delete", USER, "--yes"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 1);
    // Re-created with the same password: a new hash, verified afresh.
    add_account(&cfg, USER, "zweites-Passwort");
    assert!(imap_login(&d, "zweites-Passwort"));
    assert_eq!(hits(&cfg, &d), 1);
    assert!(d.terminate().success());
}

#[test]
fn credential_cache_secs_zero_turns_it_off() {
    let cfg = config("credential_cache_secs = 0");
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    add_account(&cfg, USER, "pw");
    for _ in 0..3 {
        assert!(imap_login(&d, "pw"));
    }
    assert_eq!(hits(&cfg, &d), 0);
    assert!(d.terminate().success());
}
