//! check-config as an admin meets it: every problem of a file in one run,
//! each at its file:line:column (type errors included, which used to hide
//! everything else), no duplicates; risky but valid settings as warnings
//! (exit 0); and a SIGHUP with a broken file that logs just the real problem.

mod common;

use common::{run_cli, wait_until, Daemon, TestConfig};

fn check(cfg: &TestConfig) -> (i32, String) {
    let (code, out, err) = run_cli(
        &["check-config", "--config", cfg.path().to_str().unwrap()],
        "",
    );
    (code, format!("{out}{err}"))
}

/// The problems of the transcript, with the temporary folder taken out.
fn lines(cfg: &TestConfig, out: &str) -> Vec<String> {
    let dir = format!("{}/", cfg.dir.path().display());
    out.lines().map(|l| l.replace(&dir, "")).collect()
}

#[test]
fn every_problem_at_once_with_line_and_column() {
    // TestConfig writes hostname, data_dir and domains_dir on lines 1-3.
    let cfg = TestConfig::new(
        "colour = \"blue\"\n\
         [imap]\n\
         listen = [\"127.0.0.1:0\"]\n\
         max_connections = \"lots\"\n\
         timeout_secs = \"soon\"\n\
         [smtp]\n\
         listen = \"127.0.0.1:0\"\n\
         [auth]\n\
         allow_plaintext = \"yes\"\n",
        &[(
            "example.test",
            "domain = \"example.test\"\n[migration]\nenabled = true\n[migration.imap]\nport = 993\n[migration.smtp]\nhost = \"legacy.example.test\"\n",
        )],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        lines(&cfg, &out),
        [
            "ferrymail.toml:7:19: invalid type: string \"lots\", expected usize",
            "ferrymail.toml:8:16: invalid type: string \"soon\", expected u64",
            "ferrymail.toml:10:10: invalid type: string \"127.0.0.1:0\", expected a sequence",
            "ferrymail.toml:12:19: invalid type: string \"yes\", expected a boolean",
            "ferrymail.toml:4:1: unknown key `colour`",
            "domains/example.test.toml: [migration.imap] has no host",
            "ferrymail: 6 problem(s) in the configuration",
        ],
        "{out}"
    );
}

#[test]
fn syntax_errors_have_a_position_and_a_broken_domain_file_hides_nothing_else() {
    let cfg = TestConfig::new(
        "default_domain = \"example.test\"\n",
        &[("example.test", "domain = \"example.test\"\n[migration\n")],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1, "{out}");
    let l = lines(&cfg, &out);
    assert!(
        l[0].starts_with("domains/example.test.toml:2:11: not valid TOML: "),
        "{out}"
    );
    // Not also "default_domain has no file": its file was reported.
    assert!(!out.contains("default_domain"), "{out}");
    assert_eq!(l.len(), 2, "{out}");
}

#[test]
fn risky_settings_are_warnings_and_exit_0() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\n[imap]\nlisten = [\"0.0.0.0:0\"]\n[admin]\nlisten = \"0.0.0.0:0\"\n",
        &[(
            "example.test",
            "domain = \"example.test\"\n[migration]\nenabled = true\n\
             [migration.imap]\nhost = \"legacy.example.test\"\ntls = \"none\"\n\
             [migration.pop3]\nhost = \"legacy.example.test\"\ntls = \"implicit\"\nverify_certificate = false\n\
             [migration.smtp]\nhost = \"legacy.example.test\"\n",
        )],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 0, "{out}");
    let l = lines(&cfg, &out);
    assert!(l[0].starts_with("configuration OK"), "{out}");
    for w in [
        "warning: domains/example.test.toml: domain example.test: the legacy IMAP connection to legacy.example.test:143 is not encrypted (tls = \"none\"): users' passwords cross the network in clear",
        "warning: domains/example.test.toml: domain example.test: the legacy POP3 server's certificate is not verified (verify_certificate = false): anyone on the path can pose as it",
        "warning: ferrymail.toml: [auth] allow_plaintext = true and imap listens on 0.0.0.0:0 (not loopback): passwords may cross the network in clear",
        "warning: ferrymail.toml: [admin] listen 0.0.0.0:0 is not a loopback address: the admin API (plain HTTP, token) is reachable from the network",
    ] {
        assert!(l.contains(&w.to_string()), "missing {w}\n{out}");
    }
    assert_eq!(l.len(), 5, "{out}");
}

#[test]
fn sighup_with_a_broken_file_logs_the_real_problem_and_keeps_serving() {
    let cfg = TestConfig::new(
        "default_domain = \"example.test\"\n[imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let imap = d.addr("imap", "plain");
    std::fs::write(
        cfg.dir.path().join("domains/example.test.toml"),
        "domain = \"example.test\"\n[migration\n",
    )
    .unwrap();
    unsafe { libc::kill(d.pid(), libc::SIGHUP) };
    wait_until(
        30,
        50,
        || d.log_text().contains("keeping the old one"),
        || d.log_text(),
    );
    let log = d.log_text();
    assert!(
        log.contains("example.test.toml:2:11: not valid TOML"),
        "{log}"
    );
    assert!(!log.contains("default_domain"), "{log}");
    // Still serving.
    let mut s = std::net::TcpStream::connect(imap).unwrap();
    let mut greeting = [0u8; 4];
    std::io::Read::read_exact(&mut s, &mut greeting).unwrap();
    assert_eq!(&greeting, b"* OK");
}

/// `--set`: a listen address moved without copying the file (the daemon
/// really listens there, and not on the file's address); an unknown key
/// given with --set is named so.
#[test]
fn set_overrides_a_value_of_the_server_file() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let file_port = taken.local_addr().unwrap().port();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let new_port = free.local_addr().unwrap().port();
    drop(free);
    let cfg = TestConfig::new(
        &format!("[imap]\nlisten = [\"127.0.0.1:{file_port}\"]\n"),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let set = format!("imap.listen=127.0.0.1:{new_port}");
    let (code, out, err) = run_cli(
        &[
            "check-config",
            "--config",
            cfg.path().to_str().unwrap(),
            "--set",
            &set,
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let d = Daemon::start_with(&cfg.path(), &cfg.data_dir(), |c| {
        c.args(["--set", &set]);
    });
    assert_eq!(d.addr("imap", "plain").port(), new_port, "{}", d.log_text());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", new_port)).unwrap();
    let mut greeting = [0u8; 4];
    std::io::Read::read_exact(&mut s, &mut greeting).unwrap();
    assert_eq!(&greeting, b"* OK");
    drop(taken);
    let (code, out, err) = run_cli(
        &[
            "check-config",
            "--config",
            cfg.path().to_str().unwrap(),
            "--set",
            "imap.colour=blue",
            "--set",
            "nonsense",
        ],
        "",
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--set nonsense: expected KEY=VALUE"), "{err}");
    let (code, out, _) = run_cli(
        &[
            "check-config",
            "--config",
            cfg.path().to_str().unwrap(),
            "--set",
            "imap.colour=blue",
        ],
        "",
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--set imap.colour: unknown key `imap.colour`"),
        "{out}"
    );
}
