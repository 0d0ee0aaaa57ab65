//! Helpers shared by the integration tests: temporary configurations, the daemon
//! as a child process, and a line-oriented client (plain or TLS).

#![allow(dead_code)]

pub mod legacy;
pub mod ops;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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

/// Runs `ferrymail ARGS` with `stdin` and returns (status, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("FERRYMAIL_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrymail");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        let _ = std::fs::remove_file(data_dir.join("listeners"));
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("log");
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,ferrymail=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile)
            .spawn()
            .expect("spawn ferrymail serve");
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

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A line-oriented test client over plain TCP or TLS.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    pub timeout: Duration,
}

pub fn tls_client_config() -> Arc<rustls::ClientConfig> {
    ferrymail::server::tls::client_config(false, None).unwrap()
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Client {
            io: BufReader::new(Box::new(tcp)),
            timeout: Duration::from_secs(10),
        }
    }

    /// Connects with implicit TLS.
    pub async fn connect_tls(addr: std::net::SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = tokio_rustls::TlsConnector::from(tls_client_config())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .expect("TLS handshake");
        Client {
            io: BufReader::new(Box::new(tls)),
            timeout: Duration::from_secs(10),
        }
    }

    /// Upgrades this plain connection to TLS (after the server said go ahead).
    pub async fn starttls(self) -> Client {
        let inner = self.io.into_inner();
        let tls = tokio_rustls::TlsConnector::from(tls_client_config())
            .connect("localhost".try_into().unwrap(), inner)
            .await
            .expect("TLS handshake");
        Client {
            io: BufReader::new(Box::new(tls)),
            timeout: Duration::from_secs(10),
        }
    }

    pub async fn send_raw(&mut self, data: &[u8]) {
        self.io.get_mut().write_all(data).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// Sends `line` followed by CRLF.
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Reads one line (without CRLF); `None` at end of stream.
    pub async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(self.timeout, self.io.read_until(b'\n', &mut buf))
            .await
            .expect("timed out waiting for a line")
            .ok()?;
        if n == 0 {
            return None;
        }
        Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        )
    }

    /// Reads lines up to and including the first that starts with `prefix`.
    pub async fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await.unwrap_or_else(|| {
                panic!("connection closed waiting for {prefix:?}; got {lines:?}")
            });
            let done = l.starts_with(prefix);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0; n];
        tokio::time::timeout(self.timeout, self.io.read_exact(&mut buf))
            .await
            .expect("timed out")
            .expect("read");
        buf
    }

    /// True when the server closed the connection (EOF or reset) within the timeout.
    pub async fn closed(&mut self) -> bool {
        let mut buf = Vec::new();
        match tokio::time::timeout(self.timeout, self.io.read_until(b'\n', &mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
            Err(_) => false,
        }
    }
}
