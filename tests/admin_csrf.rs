//! Cross-site requests against the admin API: the dashboard's cookie opens
//! state-changing endpoints only for JSON requests whose `Origin` is the admin
//! listener itself; a `text/plain` form post or a page on another port of the
//! same host (SameSite does not separate ports) is refused and changes
//! nothing. The command line's bearer token is unaffected, and the token in the
//! query string opens the dashboard only.

mod common;

use std::process::Command;

use common::{Daemon, TestConfig};

/// `curl` with extra arguments: (HTTP status, body).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

#[test]
fn cookie_requests_need_json_and_the_same_origin() {
    let cfg = TestConfig::new(
        "[admin]\nlisten = \"127.0.0.1:0\"\n",
        &[("example.org", "domain = \"example.org\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let admin = d.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let token = token.trim();
    let base = format!("http://{admin}");
    let paused = || {
        let (code, body) = curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("{base}/api/status"),
        ]);
        assert_eq!(code, "200", "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["domains"][0]["paused"].as_bool().unwrap()
    };

    // Opening the dashboard with the token sets the cookie.
    let (code, _) = curl(&[&format!("{base}/?token={token}")]);
    assert_eq!(code, "200");
    let cookie = format!("Cookie: ferrymail_token={token}");
    let pause = format!("{base}/api/domains/example.org/pause");
    let finish = format!("{base}/api/finish");
    let other = format!("Origin: http://127.0.0.1:{}", admin.port() ^ 1);
    let ours = format!("Origin: {base}");

    // An HTML form on another port: text/plain, a foreign origin.
    for (url, body) in [
        (&pause, ""),
        (&finish, r#"{"domain":"example.org","force":true}"#),
    ] {
        let (code, _) = curl(&[
            "-X",
            "POST",
            "-H",
            &cookie,
            "-H",
            &other,
            "-H",
            "Content-Type: text/plain",
            "-d",
            body,
            url,
        ]);
        assert_eq!(code, "403", "{url}");
    }
    // JSON, but from another origin, or with no origin at all.
    for origin in [other.as_str(), "X-No-Origin: 1"] {
        let (code, _) = curl(&[
            "-X",
            "POST",
            "-H",
            &cookie,
            "-H",
            origin,
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            &pause,
        ]);
        assert_eq!(code, "403", "{origin}");
    }
    assert!(!paused(), "a refused request changed the domain");
    // The token in the query string opens only the dashboard.
    let (code, _) = curl(&["-X", "POST", &format!("{pause}?token={token}")]);
    assert_eq!(code, "401");
    assert!(!paused());

    // The dashboard's own request goes through ...
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        &cookie,
        "-H",
        &ours,
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &pause,
    ]);
    assert_eq!(code, "200", "{body}");
    assert!(paused());
    // ... and so does the command line's bearer token, whatever its body.
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("{base}/api/domains/example.org/resume"),
    ]);
    assert_eq!(code, "200", "{body}");
    assert!(!paused());
    drop(d);
}
