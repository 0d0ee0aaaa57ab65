//! Helpers shared by the integration tests: temporary configurations and the
//! daemon as a child process here; in the submodules the transcript clients,
//! domain files, the daemon in process, /proc and the log, tmpfs mounts, real
//! client programs, the legacy server and the admin command line.

#![allow(dead_code)]

pub mod capture;
pub mod domains;
pub mod golden;
pub mod inproc;
pub mod legacy;
pub mod ops;
pub mod proc;
pub mod pyclients;
pub mod tmpfs;
pub mod transcript;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Not every test file uses each of them.
#[allow(unused_imports)]
pub use transcript::{Client, Line};

/// A temporary folder with a server file and a domains folder.
pub struct TestConfig {
    pub dir: tempfile::TempDir,
}

impl TestConfig {
    /// `server_extra` is appended to a base server file (data_dir and domains_dir
    /// set); each `(name, text)` of `domains` becomes `domains/<name>.toml`.
    pub fn new(server_extra: &str, domains: &[(&str, &str)]) -> TestConfig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("domains")).unwrap();
        let base = "hostname = \"mail.test\"\ndata_dir = \"data\"\ndomains_dir = \"domains\"\n";
        std::fs::write(
            dir.path().join("ferrymail.toml"),
            format!("{base}{server_extra}\n"),
        )
        .unwrap();
        for (name, text) in domains {
            std::fs::write(
                dir.path().join("domains").join(format!("{name}.toml")),
                text,
            )
            .unwrap();
        }
        TestConfig { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ferrymail.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn load(&self) -> ferrymail::config::Config {
        ferrymail::config::load(&self.path()).unwrap_or_else(|p| panic!("config problems: {p:?}"))
    }
}

/// The ferrymail binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrymail"))
}

/// Runs `cmd` with `stdin` on its standard input, collecting its output.
pub fn output_with_stdin(cmd: &mut Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // A command that does not read its input (or exits before) closes the
    // pipe: that is its answer, not a test failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// Runs `ferrymail ARGS` with `stdin` and returns (status, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = output_with_stdin(
        Command::new(bin())
            .args(args)
            .env_remove("FERRYMAIL_CONFIG"),
        stdin,
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks `done` every `poll_ms` until it holds; panics with `why()` once `secs`
/// have passed without.
pub fn wait_until(
    secs: u64,
    poll_ms: u64,
    mut done: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{}", why());
        std::thread::sleep(Duration::from_millis(poll_ms));
    }
}

/// The daemon running as a child process.
pub struct Daemon {
    pub child: Child,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `ferrymail serve` and waits until its listeners file appears.
    pub fn start(config: &Path, data_dir: &Path) -> Daemon {
        Daemon::start_with(config, data_dir, |_| {})
    }

    /// Like [`Daemon::start`], with `setup` adjusting the command (its
    /// environment) before it is spawned.
    pub fn start_with(config: &Path, data_dir: &Path, setup: impl FnOnce(&mut Command)) -> Daemon {
        let _ = std::fs::remove_file(data_dir.join("listeners"));
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("log");
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,ferrymail=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile);
        setup(&mut cmd);
        let child = cmd.spawn().expect("spawn ferrymail serve");
        let mut d = Daemon {
            child,
            data_dir: data_dir.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !data_dir.join("listeners").exists() {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("daemon exited with {status}:\n{}", d.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not start:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Address of the first listener of `protocol` (`imap`, `pop3`, ...), `tls` or `plain`.
    pub fn addr(&self, protocol: &str, kind: &str) -> std::net::SocketAddr {
        let text = std::fs::read_to_string(self.data_dir.join("listeners")).unwrap();
        text.lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                Some((it.next()?, it.next()?, it.next()?))
            })
            .find(|(p, k, _)| *p == protocol && *k == kind)
            .map(|(_, _, a)| a.parse().unwrap())
            .unwrap_or_else(|| panic!("no {protocol} {kind} listener in {text}"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.pid(), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
