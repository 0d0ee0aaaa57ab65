//! Transcript clients: [`Client`], the async line client (plain, implicit TLS,
//! STARTTLS) with small SMTP and IMAP helpers, and [`Line`], a blocking line
//! client for code that runs outside a runtime (loops that restart the daemon,
//! blocking tasks).

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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

    /// Sends `data` to a server that may have closed the connection already.
    pub async fn try_send_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.io.get_mut().write_all(data).await?;
        self.io.get_mut().flush().await
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

impl Client {
    /// Connects from `source`, a loopback address such as `127.0.0.2`.
    pub async fn connect_from(source: &str, addr: SocketAddr) -> Client {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let tcp = sock.connect(addr).await.expect("connect");
        Client {
            io: BufReader::new(Box::new(tcp)),
            timeout: Duration::from_secs(10),
        }
    }

    /// Sends `bytes` (anything, a NUL or a lone CR included) and CRLF; returns
    /// the one-line answer.
    pub async fn cmd_bytes(&mut self, bytes: &[u8]) -> String {
        self.send_raw(bytes).await;
        self.send_raw(b"\r\n").await;
        self.line().await.expect("connection closed")
    }

    /// Connects and reads the greeting, which must start with `prefix`.
    pub async fn greeted(addr: SocketAddr, prefix: &str) -> Client {
        let mut c = Client::connect(addr).await;
        let g = c.line().await.expect("greeting");
        assert!(g.starts_with(prefix), "{g}");
        c
    }

    /// IMAP: sends `{tag} {command}`; returns every line up to and including the
    /// tagged one.
    pub async fn tagged(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}")).await;
        self.until(&format!("{tag} ")).await
    }

    /// SMTP: one reply, all its lines.
    pub async fn smtp_reply_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self
                .line()
                .await
                .unwrap_or_else(|| panic!("closed; got {lines:?}"));
            let last = l.len() < 4 || l.as_bytes()[3] == b' ';
            lines.push(l);
            if last {
                return lines;
            }
        }
    }

    /// SMTP: one reply, its lines joined with `\n`.
    pub async fn smtp_reply(&mut self) -> String {
        self.smtp_reply_lines().await.join("\n")
    }

    /// SMTP: sends `line`; returns the reply.
    pub async fn smtp_cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.smtp_reply().await
    }

    /// SMTP: sends `line`; the reply must start with `code`. Returns the reply.
    pub async fn expect_code(&mut self, line: &str, code: &str) -> String {
        let r = self.smtp_cmd(line).await;
        assert!(r.starts_with(code), "{line:.80} -> {r}");
        r
    }
}

/// The SASL PLAIN message (base64) logging in as `name` (any bytes) with `password`.
pub fn sasl_plain(name: &[u8], password: &str) -> String {
    use base64::Engine;
    let mut m = vec![0u8];
    m.extend_from_slice(name);
    m.push(0);
    m.extend_from_slice(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m)
}

/// A blocking line client. Lines are returned without their trailing white space.
pub struct Line {
    r: std::io::BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Line {
    /// Connects with a read timeout of 60 s.
    pub fn connect(addr: SocketAddr) -> Line {
        Line::connect_timeout(addr, Duration::from_secs(60))
    }

    pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> Line {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(timeout)).unwrap();
        Line {
            r: std::io::BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Sends `bytes` to a server that may have closed the connection already.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Sends `line` followed by CRLF.
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    /// One line as received, line end included; empty at end of stream.
    pub fn raw_line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        l
    }

    /// One line; empty at end of stream.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }

    /// One line; `None` at end of stream or on a read error (a timeout).
    pub fn try_line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.r.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l.trim_end().to_string()),
        }
    }

    /// One line, which must start with `prefix`.
    pub fn expect(&mut self, prefix: &str) -> String {
        let l = self.line();
        assert!(l.starts_with(prefix), "wanted {prefix:?}, got {l:?}");
        l
    }

    /// POP3: sends `line`; returns the one-line answer.
    pub fn pop(&mut self, line: &str) -> String {
        self.send_line(line);
        self.line()
    }

    /// SMTP: one (multi-line) reply; its last line.
    pub fn reply(&mut self) -> String {
        loop {
            let l = self.line();
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return l;
            }
        }
    }

    /// SMTP: sends `line`; returns the last line of the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_line(line);
        self.reply()
    }

    /// SMTP: sends `line`; the reply must start with `code`. Returns its last line.
    pub fn expect_code(&mut self, line: &str, code: &str) -> String {
        let r = self.cmd(line);
        assert!(r.starts_with(code), "{line:.80} -> {r}");
        r
    }

    /// IMAP: reads up to the line tagged `tag`; returns it, or `(closed)` when
    /// the server closed the connection first.
    pub fn tagged_reply(&mut self, tag: &str) -> String {
        let prefix = format!("{tag} ");
        loop {
            match self.try_line() {
                None => return "(closed)".into(),
                Some(l) if l.starts_with(&prefix) => return l,
                Some(_) => {}
            }
        }
    }

    /// IMAP: sends `{tag} {command}`; returns the tagged reply (see [`Self::tagged_reply`]).
    pub fn transact(&mut self, tag: &str, command: &str) -> String {
        self.send_line(&format!("{tag} {command}"));
        self.tagged_reply(tag)
    }

    /// IMAP: APPENDs `body` to INBOX under `tag`, with `flags` such as `(\Seen) `
    /// before the literal; returns the tagged reply, or the answer to the command
    /// line when it was not a continuation.
    pub fn append(&mut self, tag: &str, flags: &str, body: &[u8]) -> String {
        self.send_line(&format!("{tag} APPEND INBOX {flags}{{{}}}", body.len()));
        let l = self.line();
        if !l.starts_with('+') {
            return l;
        }
        self.send(body);
        self.send(b"\r\n");
        self.tagged_reply(tag)
    }
}
