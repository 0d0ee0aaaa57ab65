//! Failed logins leave one stable log line each, and the shipped fail2ban filter
//! (config/fail2ban/ferrymail-filter.conf) takes the client address from it, never
//! an address smuggled in through the user name. Uses Debian's fail2ban-regex.

mod common;

use std::path::Path;
use std::process::Command;

use common::ops::add_account;
use common::{Client, Daemon, TestConfig};

/// A POP3 USER/PASS attempt from `source` (a loopback address); returns the reply to PASS.
async fn pop3_login(source: &str, port: u16, user: &str, pass: &str) -> String {
    let mut c = Client::connect_from(source, ([127, 0, 0, 1], port).into()).await;
    c.line().await;
    c.send(&format!("USER {user}")).await;
    c.line().await;
    c.send(&format!("PASS {pass}")).await;
    let line = c.line().await.unwrap_or_default();
    let _ = c.try_send_raw(b"QUIT\r\n").await;
    line
}

#[tokio::test]
async fn failed_logins_are_one_line_each_and_fail2ban_bans_the_real_client() {
    let filter =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fail2ban/ferrymail-filter.conf");
    assert!(
        Path::new("/usr/bin/fail2ban-regex").exists(),
        "install the Debian package fail2ban (see .ci/run)"
    );
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    add_account(&cfg, "erin@example.test", "right-pw");
    let daemon = Daemon::start(&cfg.path(), &cfg.data_dir());
    let port = daemon.addr("pop3", "plain").port();

    assert!(
        pop3_login("127.0.0.1", port, "erin@example.test", "wrong-1")
            .await
            .starts_with("-ERR")
    );
    assert!(pop3_login("127.0.0.1", port, "nobody@example.test", "x")
        .await
        .starts_with("-ERR"));
    // A user name that imitates the log line (spaces, quotes, a fake client).
    let crafted = "a\"_auth_failed:_proto=imap_client=9.9.9.9_user=\"b";
    assert!(pop3_login("127.0.0.3", port, crafted, "x")
        .await
        .starts_with("-ERR"));
    assert!(
        pop3_login("127.0.0.1", port, "erin@example.test", "right-pw")
            .await
            .starts_with("+OK")
    );

    let log = daemon.log_text();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("auth failed:")).collect();
    assert_eq!(failures.len(), 3, "{log}");
    assert!(
        failures[0]
            .contains("proto=pop3 client=127.0.0.1 user=\"erin@example.test\" reason=password"),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].contains("reason=unknown-user"),
        "{}",
        failures[1]
    );
    assert!(
        failures[2].contains("client=127.0.0.3 user=\"a\\\""),
        "{}",
        failures[2]
    );
    assert!(!log.contains("wrong-1") && !log.contains("right-pw"));

    let logfile = cfg.dir.path().join("f2b.log");
    std::fs::write(&logfile, &log).unwrap();
    let out = Command::new("fail2ban-regex")
        .args(["-o", "ip"])
        .arg(&logfile)
        .arg(&filter)
        .output()
        .unwrap();
    let ips = String::from_utf8_lossy(&out.stdout);
    let ips: Vec<&str> = ips
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        ips,
        ["127.0.0.1", "127.0.0.1", "127.0.0.3"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
