//! The legacy server sees the real client of a first login: ferrymail sends
//! IMAP `ID ("x-originating-ip" ...)` before LOGIN, and a Dovecot that lists
//! ferrymail in `login_trusted_networks` (as tests/common/legacy.rs does)
//! logs, and applies its brute-force penalty to, that address instead of
//! ferrymail's own (issue 23).

mod common;
mod migrate_support;

use std::time::Duration;

use common::legacy::{Legacy, LegacyOptions};
use common::{wait_until, Client};
use migrate_support::{config, start_daemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_login_reaches_the_legacy_server_with_the_clients_address() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let d = start_daemon(&cfg, None);
    let addr = d.addr("imap", "plain");
    for (source, user, pw) in [
        ("127.0.0.9", "alice", "alice-pw"),
        ("127.0.0.10", "bob", "wrong"),
    ] {
        let mut c = Client::connect_from(source, addr).await;
        c.timeout = Duration::from_secs(30);
        assert!(c.line().await.unwrap().starts_with("* OK"));
        let r = c
            .cmd_bytes(format!("a LOGIN {user}@example.org {pw}").as_bytes())
            .await;
        assert!(r.starts_with("a "), "{r}");
    }
    wait_until(
        30,
        100,
        || {
            let log = legacy.dovecot_log();
            log.contains("user=<alice>") && log.contains("rip=127.0.0.9")
        },
        || legacy.dovecot_log(),
    );
    // The refused one too, under its own address.
    let log = legacy.dovecot_log();
    assert!(log.contains("rip=127.0.0.10"), "{log}");
    // The check (and the proxied session) carry alice's address; only the
    // copy, ferrymail's own work, comes from ferrymail's.
    let first = log
        .lines()
        .find(|l| l.contains("Login: user=<alice>"))
        .unwrap();
    assert!(first.contains("rip=127.0.0.9,"), "{log}");
}
