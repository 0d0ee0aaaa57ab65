//! `ferrymail_legacy_auth_total` counts the checks of users' passwords against
//! the legacy server by outcome (it was advertised and never counted): a
//! refused password, an accepted one, and a legacy server that is down.

mod common;
mod migrate_support;

use std::net::IpAddr;

use common::legacy::{Legacy, LegacyOptions};
use ferrymail::app::App;
use ferrymail::auth::Password;
use ferrymail::login::{login, LoginOutcome, LoginRequest, Proto};
use migrate_support::*;

fn req(user: &str, pw: &str) -> LoginRequest {
    LoginRequest {
        username: user.into(),
        password: Password::new(pw),
        protocol: Proto::Pop3,
        client: "127.0.0.1".parse::<IpAddr>().unwrap(),
    }
}

fn count(app: &App, outcome: &str) -> u64 {
    let text = app.metrics.render("");
    let key = format!("ferrymail_legacy_auth_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_checks_are_counted_by_outcome() {
    let mut legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let app = App::new(cfg.load()).unwrap();
    for o in ["accepted", "refused", "unavailable", "throttled"] {
        assert_eq!(count(&app, o), 0, "{o}");
    }
    let r = login(&app, req("alice@example.org", "not-alices")).await;
    assert!(matches!(r, LoginOutcome::Refused), "{r:?}");
    assert_eq!(count(&app, "refused"), 1);
    let r = login(&app, req("alice@example.org", "alice-pw")).await;
    assert!(
        !matches!(r, LoginOutcome::Refused | LoginOutcome::Unavailable(_)),
        "{r:?}"
    );
    assert_eq!(count(&app, "accepted"), 1);
    legacy.stop_dovecot();
    let r = login(&app, req("bob@example.org", "bob-pw")).await;
    assert!(matches!(r, LoginOutcome::Unavailable(_)), "{r:?}");
    assert_eq!(count(&app, "unavailable"), 1);
    assert_eq!((count(&app, "refused"), count(&app, "accepted")), (1, 1));
}
