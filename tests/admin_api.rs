//! The admin API: token protection, status numbers equal to the store, metrics,
//! the `status` command against the running daemon, and the dashboard rendered in
//! headless Chromium.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::domains::{server, PLAINTEXT};
use common::ops::cli;
use common::{Daemon, TestConfig};
use ferrymail::store::{AccountState, Store};

fn http(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
    )
}

const DOMAINS: &[(&str, &str)] = &[
    ("example.test", "domain = \"example.test\"\n"),
    (
        "legacy.test",
        "domain = \"legacy.test\"\n[migration]\nenabled = true\n[migration.imap]\nhost = \"127.0.0.1\"\nport = 1\n[migration.smtp]\nhost = \"127.0.0.1\"\nport = 1\n",
    ),
];

fn config() -> TestConfig {
    TestConfig::new(&server(PLAINTEXT, &["pop3", "admin"]), DOMAINS)
}

/// Accounts in every state, made through the store while the daemon runs.
async fn seed(cfg: &TestConfig) {
    let store = Store::open(&cfg.data_dir()).unwrap();
    let h = ferrymail::auth::hash_password(&ferrymail::auth::Password::new("pw"));
    for (addr, state, reason) in [
        ("ann@example.test", AccountState::Local, None),
        ("bea@legacy.test", AccountState::Migrated, None),
        ("cal@legacy.test", AccountState::Migrated, None),
        ("dan@legacy.test", AccountState::Copying, None),
        (
            "eve@legacy.test",
            AccountState::Failed,
            Some("verification failed: INBOX count 10 != 11"),
        ),
        ("fay@legacy.test", AccountState::Finished, None),
    ] {
        let a = store.create_account(addr, &h, state, false).await.unwrap();
        if reason.is_some() {
            store.set_state(a.id, state, reason).await.unwrap();
        }
        if addr == "dan@legacy.test" {
            // A copy that got part of the way (12 of the 40 messages the
            // legacy mailbox holds) before the daemon stopped.
            let db = store.db();
            use ferrymail::migrate::jobs::{self, JobState, JobUpdate};
            jobs::started(db, a.id, addr).await.unwrap();
            jobs::begin_pass(db, a.id, Some((40, Some(10 * 1024))))
                .await
                .unwrap();
            jobs::add_copied(db, a.id, 12, 3 * 1024).await.unwrap();
            let u = JobUpdate {
                error: Some("legacy server unavailable: timed out".into()),
                ..JobUpdate::folders(JobState::Retrying, 2)
            };
            jobs::update(db, a.id, u).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_status_metrics_and_cli() {
    let cfg = config();
    let daemon = Daemon::start(&cfg.path(), &cfg.data_dir());
    seed(&cfg).await;
    let admin = daemon.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let token = token.trim();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cfg.data_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Refused without the token, or with a wrong one.
    for t in [None, Some("0".repeat(64).as_str()), Some("short")] {
        for path in ["/api/status", "/metrics"] {
            let (status, _, body) = get(admin, path, t);
            assert_eq!(status, 401, "{path} with {t:?}: {body}");
            assert!(!body.contains("legacy.test"));
        }
    }
    let (status, _, body) = get(admin, "/", None);
    assert_eq!(status, 401);
    assert!(!body.contains("ann@"));

    // Status numbers equal what the store holds.
    let (status, _, body) = get(admin, "/api/status", Some(token));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let legacy = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "legacy.test")
        .unwrap();
    assert_eq!(legacy["migrating"], true);
    assert_eq!(legacy["users"]["migrated"], 2);
    assert_eq!(legacy["users"]["copying"], 1);
    assert_eq!(legacy["users"]["failed"], 1);
    assert_eq!(legacy["users"]["finished"], 1);
    assert_eq!(legacy["users"]["local"], 0);
    let attention: Vec<&str> = legacy["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(attention, vec!["dan@legacy.test", "eve@legacy.test"]);
    assert!(legacy["attention"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("verification failed"));
    // The copy's progress: copied so far against the legacy mailbox; no rate
    // while it does not run.
    let dan = &legacy["attention"][0];
    assert_eq!(dan["job"]["messages"], 12, "{dan}");
    assert_eq!(dan["job"]["total_messages"], 40, "{dan}");
    assert_eq!(dan["progress"]["total_bytes"], 10 * 1024, "{dan}");
    assert_eq!(dan["progress"]["percent"], 30.0, "{dan}");
    assert_eq!(
        dan["progress"]["eta_secs"],
        serde_json::Value::Null,
        "{dan}"
    );
    assert_eq!(legacy["messages_total"], 40, "{legacy}");
    let (status, _, body) = get(admin, "/api/progress?domain=legacy.test", Some(token));
    assert_eq!(status, 200, "{body}");
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    let users: Vec<&str> = p["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["dan@legacy.test"], "{body}");
    assert_eq!(p["users"][0]["progress"]["messages"], 12, "{body}");
    let local = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "example.test")
        .unwrap();
    assert_eq!(local["users"]["local"], 1);

    // One domain, one user.
    let (_, _, body) = get(
        admin,
        "/api/status?domain=example.test&user=ann%40example.test",
        Some(token),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["domains"].as_array().unwrap().len(), 1);
    assert_eq!(v["users"][0]["address"], "ann@example.test");
    assert_eq!(v["users"][0]["state"], "local");

    // Metrics: users by state, and an open POP3 session shows up.
    let mut pop = TcpStream::connect(daemon.addr("pop3", "plain")).unwrap();
    let mut greeting = [0u8; 3];
    pop.read_exact(&mut greeting).unwrap();
    let (status, _, body) = get(admin, "/metrics", Some(token));
    assert_eq!(status, 200);
    assert!(
        body.contains("ferrymail_users{domain=\"legacy.test\",state=\"migrated\"} 2"),
        "{body}"
    );
    assert!(
        body.contains("ferrymail_sessions{protocol=\"pop3\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("ferrymail_legacy_auth_total{outcome=\"accepted\"}"),
        "{body}"
    );
    assert!(body.contains("ferrymail_relay_queue 0"), "{body}");
    assert!(
        body.contains("ferrymail_copied_messages{domain=\"legacy.test\"} 12"),
        "{body}"
    );
    pop.write_all(b"USER ann@example.test\r\nPASS wrong\r\nQUIT\r\n")
        .unwrap();
    let mut rest = String::new();
    pop.read_to_string(&mut rest).unwrap();
    let (_, _, body) = get(admin, "/metrics", Some(token));
    assert!(body.contains("ferrymail_login_failures_total 1"), "{body}");
    assert!(
        body.contains("ferrymail_sessions{protocol=\"pop3\"} 0"),
        "{body}"
    );

    // Unknown endpoints and methods.
    assert_eq!(get(admin, "/api/nothing", Some(token)).0, 404);
    let (status, _, _) = http(
        admin,
        &format!("DELETE /api/status HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
    );
    assert_eq!(status, 405);
    let (status, _, _) = http(admin, "garbage\r\n\r\n");
    assert_eq!(status, 400);

    // The CLI reads the token itself and talks to the daemon.
    let (code, out, err) = cli(&cfg, &["status", "--json"], "");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["domains"][1]["users"]["migrated"], 2, "{out}");
    let (code, out, err) = cli(&cfg, &["status", "--domain", "legacy.test"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("legacy.test (migrating)"), "{out}");
    assert!(
        out.contains("5 known: 3 moved (60%), 0 pending, 1 copying, 2 migrated, 1 finished, 1 failed; 0 local"),
        "{out}"
    );
    assert!(
        out.contains("eve@legacy.test: verification failed"),
        "{out}"
    );
}

#[test]
fn status_without_a_daemon_says_so() {
    let cfg = config();
    std::fs::create_dir_all(cfg.data_dir()).unwrap();
    std::fs::write(cfg.data_dir().join("admin-token"), "x".repeat(64)).unwrap();
    std::fs::write(
        cfg.data_dir().join("listeners"),
        "admin plain 127.0.0.1:1\n",
    )
    .unwrap();
    let (code, _, err) = cli(&cfg, &["status"], "");
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the daemon"), "{err}");
}

/// The dashboard rendered by a real browser shows the domains, the users needing
/// attention and progress bars (checked on the screenshot's pixels).
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is not installed: apt-get install chromium (see .ci/run)");
    let cfg = config();
    let daemon = Daemon::start(&cfg.path(), &cfg.data_dir());
    seed(&cfg).await;
    let admin = daemon.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let url = format!("http://{admin}/?token={}", token.trim());
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let base = |extra: &[&str]| {
        let mut c = std::process::Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1000,900",
            "--virtual-time-budget=4000",
        ]);
        c.arg(format!("--user-data-dir={}", profile.path().display()));
        c.args(extra);
        c.arg(&url);
        c
    };
    let out = base(&["--dump-dom"]).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "legacy.test",
        "example.test",
        "dan@legacy.test",
        "eve@legacy.test",
        "verification failed",
        "migrated: 2",
        "state-failed",
        "messages copied: 12",
        "copied 12 of 40 messages, 3.0 KB of 10.0 KB (30%), attempt 1",
        "messages copied: 12 of 40",
        "0 stored",
        "waiting for the user's next login",
    ] {
        assert!(
            dom.contains(needle),
            "{needle} missing from the rendered page:\n{dom}"
        );
    }
    assert!(
        !dom.contains("bea@legacy.test"),
        "migrated users are not in the attention table"
    );

    let out = base(&[&format!("--screenshot={}", shot.display())])
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut green = 0;
    let mut red = 0;
    let mut amber = 0;
    for px in buf[..info.buffer_size()].chunks(channels) {
        match (px[0], px[1], px[2]) {
            (0x3b, 0x9a, 0x5b) => green += 1,
            (0xc9, 0x4a, 0x4a) => red += 1,
            (0xe0, 0xa4, 0x3a) => amber += 1,
            _ => {}
        }
    }
    // legacy.test: 3 of 5 moved (green), 1 copying (amber), 1 failed (red).
    assert!(
        green > 1000 && amber > 200 && red > 200,
        "progress bar pixels: green {green}, amber {amber}, red {red}"
    );
    assert!(
        green > 2 * amber && green > 2 * red,
        "bar proportions: green {green}, amber {amber}, red {red}"
    );
}
