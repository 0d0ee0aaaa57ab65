//! `ferrymail account add|list|passwd|delete`: passwords from stdin, hashes only.

mod common;

use std::time::Duration;

use common::ops::{cli, users_import};
use common::{Line, TestConfig};
use ferrymail::auth::{verify_password, Password};
use ferrymail::store::{AccountState, Store};

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(grep_dir(&p, needle));
        } else if let Ok(data) = std::fs::read(&p) {
            if data.windows(needle.len()).any(|w| w == needle) {
                hits.push(p);
            }
        }
    }
    hits
}

#[tokio::test]
async fn add_verify_passwd_delete() {
    let cfg = TestConfig::new("", &[("example.test", "domain = \"example.test\"\n")]);

    let (code, out, err) = cli(
        &cfg,
        &["account", "add", "Bob@Example.test"],
        "S3cret-first\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created bob@example.test"), "{out}");

    // Twice: refused, nothing changed.
    let (code, _, err) = cli(&cfg, &["account", "add", "bob@example.test"], "other\n");
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");

    // A domain we do not host.
    let (code, _, err) = cli(&cfg, &["account", "add", "eve@elsewhere.test"], "pw\n");
    assert_eq!(code, 1);
    assert!(err.contains("not hosted"), "{err}");

    // Empty password refused.
    let (code, _, err) = cli(&cfg, &["account", "add", "carol@example.test"], "\n");
    assert_eq!(code, 1);
    assert!(err.contains("empty password"), "{err}");

    let (code, out, _) = cli(&cfg, &["account", "list"], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "bob@example.test\tlocal");

    let store = Store::open(&cfg.data_dir()).unwrap();
    let a = store.account("bob@example.test").await.unwrap().unwrap();
    assert_eq!(a.state, AccountState::Local);
    assert!(a.password_hash.starts_with("$argon2id$"));
    assert!(verify_password(
        &a.password_hash,
        &Password::new("S3cret-first")
    ));
    assert!(!verify_password(
        &a.password_hash,
        &Password::new("S3cret-firsT")
    ));

    let (code, out, err) = cli(
        &cfg,
        &["account", "passwd", "bob@example.test"],
        "n3w-Pass\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let a = store.account("bob@example.test").await.unwrap().unwrap();
    assert!(verify_password(
        &a.password_hash,
        &Password::new("n3w-Pass")
    ));
    assert!(!verify_password(
        &a.password_hash,
        &Password::new("S3cret-first")
    ));

    // The cleartext is nowhere on disk.
    drop(store);
    assert!(grep_dir(&cfg.data_dir(), b"S3cret-first").is_empty());
    assert!(grep_dir(&cfg.data_dir(), b"n3w-Pass").is_empty());

    let (code, _, _) = cli(
        &cfg,
        &["account", "delete", "bob@example.test", "--yes"],
        "",
    );
    assert_eq!(code, 0);
    let store = Store::open(&cfg.data_dir()).unwrap();
    assert!(store.account("bob@example.test").await.unwrap().is_none());
    assert_eq!(
        std::fs::read_dir(cfg.data_dir().join("accounts"))
            .unwrap()
            .count(),
        0
    );
    let (code, _, err) = cli(
        &cfg,
        &["account", "delete", "bob@example.test", "--yes"],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
}

/// A hash exported from the legacy Dovecot (`doveadm pw -s SHA512-CRYPT`) is
/// imported with `--hash-stdin`, verifies at a real POP3 login, and is replaced by
/// argon2id; the password is nowhere in the data dir or the log.
#[tokio::test]
async fn imported_legacy_hash_logs_in_and_is_upgraded() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let (code, _, err) = cli(
        &cfg,
        &["account", "add", "dana@example.test", "--hash-stdin"],
        "{PLAIN}legacy-pw\n",
    );
    assert_eq!(code, 1, "cleartext must be refused as a hash");
    assert!(err.contains("unsupported password hash"), "{err}");
    let sha512 = "{SHA512-CRYPT}$6$Npt5zKhqbiCabXRa$WVF75pQdvzDqnBgOv0FI9.44z/mjwUWRJ5xMsbZjWdxcMpjDRn3FFL7i7zFAyzLHMXckuJXKig5BnI9SkfXGq0";
    let (code, out, err) = cli(
        &cfg,
        &["account", "add", "dana@example.test", "--hash-stdin"],
        &format!("{sha512}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");

    let daemon = common::Daemon::start(&cfg.path(), &cfg.data_dir());
    let port = daemon.addr("pop3", "plain").port();
    let login = |pw: &str| -> String {
        let mut c = Line::connect_timeout(([127, 0, 0, 1], port).into(), Duration::from_secs(20));
        c.line();
        c.send(format!("USER dana@example.test\r\nPASS {pw}\r\n").as_bytes());
        c.line();
        let reply = c.line();
        c.send_line("QUIT");
        reply
    };
    assert!(login("wrong-pw").starts_with("-ERR"));
    assert!(login("legacy-pw").starts_with("+OK"));
    let log = daemon.log_text();
    drop(daemon);
    assert!(log.contains("password hash upgraded to argon2id"), "{log}");
    assert!(!log.contains("legacy-pw"));

    let store = Store::open(&cfg.data_dir()).unwrap();
    let a = store.account("dana@example.test").await.unwrap().unwrap();
    assert!(
        a.password_hash.starts_with("$argon2id$"),
        "{}",
        a.password_hash
    );
    assert!(verify_password(
        &a.password_hash,
        &Password::new("legacy-pw")
    ));
    drop(store);
    assert!(grep_dir(&cfg.data_dir(), b"legacy-pw").is_empty());
}

/// A bare name gets `default_domain`, as at login; without one it is refused
/// with a message saying so.
#[test]
fn bare_names_take_the_default_domain() {
    let cfg = TestConfig::new(
        "default_domain = \"example.test\"\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let (code, out, err) = cli(&cfg, &["account", "add", "Bob"], "bob-pw\n");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created bob@example.test"), "{out}");
    let (code, out, err) = cli(&cfg, &["account", "passwd", "bob"], "bob-pw2\n");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("password changed for bob@example.test"),
        "{out}"
    );
    let (code, out, _) = cli(&cfg, &["account", "list", "--domain", "example.test"], "");
    assert_eq!((code, out.trim()), (0, "bob@example.test\tlocal"));

    // Unknown names and domains: a message and exit 1, never silence.
    let (code, _, err) = cli(&cfg, &["account", "passwd", "nobody"], "pw\n");
    assert_eq!(code, 1);
    assert!(err.contains("nobody@example.test does not exist"), "{err}");
    let (code, out, err) = cli(&cfg, &["account", "list", "--domain", "nope.test"], "");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("nope.test is not hosted here"), "{err}");

    let none = TestConfig::new("", &[("example.test", "domain = \"example.test\"\n")]);
    let (code, _, err) = cli(&none, &["account", "add", "bob"], "pw\n");
    assert_eq!(code, 1);
    assert!(err.contains("no default_domain"), "{err}");
}

/// `account delete` asks on a terminal; with no terminal to ask on it needs
/// `--yes`, and without it deletes nothing.
#[test]
fn delete_without_a_terminal_needs_yes() {
    let cfg = TestConfig::new("", &[("example.test", "domain = \"example.test\"\n")]);
    let (code, out, err) = cli(&cfg, &["account", "add", "pat@example.test"], "pat-pw\n");
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&cfg, &["account", "delete", "pat@example.test"], "y\n");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("--yes"), "{err}");
    assert!(err.contains("not a terminal"), "{err}");
    let (_, out, _) = cli(&cfg, &["account", "list"], "");
    assert_eq!(out.trim(), "pat@example.test\tlocal");
    let (code, out, err) = cli(&cfg, &["account", "delete", "pat", "--yes"], "");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("no default_domain"), "{err}");
    let (code, out, err) = cli(
        &cfg,
        &["account", "delete", "pat@example.test", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted pat@example.test"), "{out}");
}

/// While the daemon runs it holds the data dir: `account add|passwd|list|
/// delete` and `users import` go through its admin API, and the new account
/// logs in over IMAP at once. The password is in no request line, log or file.
#[test]
fn account_commands_go_through_the_running_daemon() {
    let cfg = TestConfig::new(
        "default_domain = \"example.test\"\n[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let d = common::Daemon::start(&cfg.path(), &cfg.data_dir());
    let imap = d.addr("imap", "plain");
    let login = |user: &str, pw: &str| -> String {
        let mut c = Line::connect_timeout(imap, Duration::from_secs(20));
        c.line();
        let r = c.transact("a", &format!("LOGIN {user} {pw}"));
        c.transact("z", "LOGOUT");
        r
    };

    let (code, out, err) = cli(&cfg, &["account", "add", "carol"], "Carol-Pw-1\n");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created carol@example.test"), "{out}");
    assert!(login("carol@example.test", "Carol-Pw-1").starts_with("a OK"));

    let (code, _, err) = cli(&cfg, &["account", "add", "carol@example.test"], "x\n");
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");

    let (code, out, err) = cli(&cfg, &["account", "passwd", "carol"], "Carol-Pw-2\n");
    assert_eq!(code, 0, "{out}{err}");
    assert!(login("carol", "Carol-Pw-1").starts_with("a NO"));
    assert!(login("carol", "Carol-Pw-2").starts_with("a OK"));

    let (code, out, err) = users_import(
        &cfg,
        "example.test",
        "dave\n# a comment\nerin@example.test\nfrank@other.test\n",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("2 users imported as pending"), "{out}");
    assert!(
        err.contains("line 4: the address is not in the imported domain"),
        "{err}"
    );

    let (code, out, err) = cli(&cfg, &["account", "list", "--domain", "example.test"], "");
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "carol@example.test\tlocal",
            "dave@example.test\tpending",
            "erin@example.test\tpending"
        ]
    );
    let (code, _, err) = cli(&cfg, &["account", "list", "--domain", "nope.test"], "");
    assert_eq!(code, 1);
    assert!(err.contains("nope.test is not hosted here"), "{err}");

    let (code, out, err) = cli(&cfg, &["account", "delete", "carol", "--yes"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(login("carol", "Carol-Pw-2").starts_with("a NO"));
    let (code, _, err) = cli(&cfg, &["account", "delete", "carol", "--yes"], "");
    assert_eq!(code, 1);
    assert!(err.contains("carol@example.test does not exist"), "{err}");

    let log = common::proc::wait_log(&d, "through the admin API", 4, 10);
    for what in [
        "account created through the admin API",
        "password changed through the admin API",
        "users imported through the admin API",
        "account deleted through the admin API",
    ] {
        assert!(log.contains(what), "{what}:\n{log}");
    }
    assert!(!log.contains("Carol-Pw"), "{log}");
    drop(d);
    assert!(grep_dir(&cfg.data_dir(), b"Carol-Pw").is_empty());
}

/// A daemon without `[admin] listen` holds the data dir too: the account
/// commands refuse, naming it, and change nothing.
#[test]
fn without_an_admin_api_the_running_daemon_refuses_account_changes() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let mut d = common::Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(&cfg, &["account", "add", "pat@example.test"], "pat-pw\n");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains(&format!("PID {}", d.pid())), "{err}");
    assert!(err.contains("no [admin] listen"), "{err}");
    assert!(d.terminate().success());
    let (code, out, _) = cli(&cfg, &["account", "list"], "");
    assert_eq!((code, out.as_str()), (0, ""));
}
