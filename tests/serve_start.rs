//! `ferrymail serve` starting up: every listener is bound before anything is
//! made in the data dir, and one daemon holds a data dir at a time.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, Daemon, Line, TestConfig};

/// Runs a second `serve` to its end (it must not keep running): (exit code, stderr).
fn serve_once(cfg: &TestConfig) -> (i32, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(cfg.path())
        .env_remove("FERRYMAIL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two busy addresses: one message names both with their config keys and
/// what to change; no data dir, certificate or database is made.
#[test]
fn busy_ports_are_all_named_and_nothing_is_created() {
    let imap = TcpListener::bind("127.0.0.1:0").unwrap();
    let pop3 = TcpListener::bind("127.0.0.1:0").unwrap();
    let (imap_addr, pop3_addr) = (imap.local_addr().unwrap(), pop3.local_addr().unwrap());
    let cfg = TestConfig::new(
        &format!(
            "[imap]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"{imap_addr}\"]\n[pop3]\nlisten = [\"{pop3_addr}\"]\n[smtp]\nlisten = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        ),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let (code, err) = serve_once(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{imap_addr} ([imap] listen_tls) is in use")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{pop3_addr} ([pop3] listen) is in use")),
        "{err}"
    );
    assert!(err.contains("--set imap.listen_tls="), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("in use")).count(),
        1,
        "one message: {err}"
    );
    assert!(!cfg.data_dir().exists(), "the data dir was created: {err}");
    drop((imap, pop3));
}

/// A second `serve` on the same data dir exits 1 naming the first one's PID,
/// and changes nothing: the first keeps serving, `data/listeners` is its own.
#[test]
fn second_daemon_on_one_data_dir_is_refused() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let first = Daemon::start(&cfg.path(), &cfg.data_dir());
    let listeners = std::fs::read_to_string(cfg.data_dir().join("listeners")).unwrap();
    let lock = std::fs::read_to_string(cfg.data_dir().join("lock")).unwrap();
    assert_eq!(lock, format!("{} serve\n", first.pid()));

    let (code, err) = serve_once(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("PID {}", first.pid())), "{err}");
    assert!(err.contains("one daemon per data dir"), "{err}");

    assert_eq!(
        std::fs::read_to_string(cfg.data_dir().join("listeners")).unwrap(),
        listeners
    );
    assert_eq!(
        std::fs::read_to_string(cfg.data_dir().join("lock")).unwrap(),
        lock
    );
    // The same with the first one's own addresses (all busy, by it): the
    // message is still about the daemon, not the ports.
    let imap = first.addr("imap", "plain");
    let admin = first.addr("admin", "plain");
    std::fs::write(
        cfg.dir.path().join("ferrymail.toml"),
        format!(
            "hostname = \"mail.test\"\ndata_dir = \"data\"\ndomains_dir = \"domains\"\n[imap]\nlisten = [\"{imap}\"]\n[admin]\nlisten = \"{admin}\"\n"
        ),
    )
    .unwrap();
    let (code, err) = serve_once(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("PID {}", first.pid())), "{err}");
    assert!(!err.contains("in use"), "{err}");

    let mut c = Line::connect_timeout(imap, Duration::from_secs(10));
    assert!(c.line().starts_with("* OK"));
    c.transact("z", "LOGOUT");
    let log = first.log_text();
    assert!(!log.contains("ERROR"), "{log}");
}

/// Once the daemon has stopped, the data dir is free again: a new daemon starts.
#[test]
fn data_dir_is_free_after_the_daemon_stops() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let mut first = Daemon::start(&cfg.path(), &cfg.data_dir());
    assert!(first.terminate().success());
    let second = Daemon::start(&cfg.path(), &cfg.data_dir());
    assert_eq!(
        std::fs::read_to_string(cfg.data_dir().join("lock")).unwrap(),
        format!("{} serve\n", second.pid())
    );
}
