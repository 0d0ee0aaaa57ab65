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

/// The attack as a browser makes it: in headless Chromium the admin has the
/// dashboard open (opened with the token: the cookie is set) while a page
/// served from another port of 127.0.0.1 submits a `text/plain` form to pause
/// the domain and `fetch`es `/api/finish` with credentials. The browser sends the cookie
/// (SameSite does not separate ports: the daemon logs both refusals, with the
/// attack page's origin), and nothing changes.
#[test]
fn an_attack_page_on_another_port_changes_nothing_in_chromium() {
    use std::io::{Read, Write};
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is not installed: apt-get install chromium (see .ci/run)");
    let cfg = TestConfig::new(
        "[admin]\nlisten = \"127.0.0.1:0\"\n",
        &[("example.org", "domain = \"example.org\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let admin = d.addr("admin", "plain");
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let token = token.trim().to_string();
    let base = format!("http://{admin}");

    // The attacker's page, on a port of its own. The admin has the dashboard
    // open (here in a frame of the page, so one browser run does it all: the
    // cookie is set when it loads), then the attack runs.
    let page = format!(
        r#"<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="{base}/api/domains/example.org/pause">
<input name='{{"x":"' value='"}}'></form>
<script>
function attack() {{
  document.getElementById("f").submit();
  fetch("{base}/api/finish", {{method: "POST", mode: "no-cors", credentials: "include",
    headers: {{"Content-Type": "text/plain"}}, body: '{{"domain":"example.org","force":true}}'}});
}}
</script>
<iframe src="{base}/?token={token}" onload="attack()"></iframe>
</body></html>"#
    );
    let attack = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let attack_port = attack.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in attack.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });

    let profile = tempfile::tempdir().unwrap();
    let browse = |url: &str| {
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = browse(&format!("http://127.0.0.1:{attack_port}/"));
    assert!(dom.contains("sink"), "{dom}");

    // Both requests reached the daemon with the cookie, and were refused.
    let origin = format!("origin=\"http://127.0.0.1:{attack_port}\"");
    common::wait_until(
        20,
        100,
        || {
            let log = d.log_text();
            log.lines()
                .any(|l| l.contains("path=/api/domains/example.org/pause") && l.contains(&origin))
                && log
                    .lines()
                    .any(|l| l.contains("path=/api/finish") && l.contains(&origin))
        },
        || d.log_text(),
    );
    // Nothing changed.
    let (code, body) = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("{base}/api/status"),
    ]);
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["domains"][0]["paused"], false, "{body}");
    assert!(!d.log_text().contains("finish ran"), "{}", d.log_text());
}
