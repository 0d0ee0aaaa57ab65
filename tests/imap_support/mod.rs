//! Shared by the tests/imap_*.rs files: a daemon on port 0 with a temporary data
//! dir and one account, and an IMAP transcript client.

#![allow(dead_code)]

use std::sync::Arc;

use crate::common::{inproc, Client, TestConfig};
use ferrymail::app::App;
use ferrymail::config::Protocol;
use ferrymail::daemon;
use ferrymail::store::{AccountState, Flags, IngestSource, Mailstore, NewMessage};

pub const USER: &str = "pat@example.test";
pub const PASS: &str = "pat-pw";
/// Plaintext login allowed, no failure delay.
pub const PLAIN: &str =
    "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n";

pub struct ImapTest {
    pub cfg: TestConfig,
    pub running: Option<daemon::Running>,
    pub app: Arc<App>,
    pub plain: std::net::SocketAddr,
    pub tls: std::net::SocketAddr,
    pub ms: Arc<Mailstore>,
}

/// A small plain-text message.
pub fn message(i: usize) -> Vec<u8> {
    format!(
        "From: Sender {i} <sender{i}@example.net>\r\nTo: pat@example.test\r\nSubject: message {i}\r\nDate: Mon, 6 Nov 2023 10:00:00 +0000\r\nMessage-ID: <m{i}@example.net>\r\n\r\nbody line of message {i}\r\nsecond line\r\n"
    )
    .into_bytes()
}

/// Starts a daemon with `[imap]` on port 0 (plus `extra` server config) and an
/// account `pat@example.test` with the default folders and `messages` in INBOX.
pub async fn start(extra: &str, imap_extra: &str, messages: usize) -> ImapTest {
    let cfg = TestConfig::new(
        &format!("{extra}\n[imap]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n{imap_extra}\n"),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let (app, running) = inproc::start(&cfg).await;
    let ms = inproc::mailstore(&app, USER, PASS, AccountState::Local).await;
    let t = ImapTest {
        plain: running.addr(Protocol::Imap, false).unwrap(),
        tls: running.addr(Protocol::Imap, true).unwrap(),
        running: Some(running),
        app,
        cfg,
        ms,
    };
    for i in 1..=messages {
        t.deliver("INBOX", &message(i), Flags::new()).await;
    }
    t
}

impl ImapTest {
    /// Stores a message as SMTP delivery would.
    pub async fn deliver(&self, mailbox: &str, body: &[u8], flags: Flags) -> u32 {
        let mbx = self.ms.mailbox(mailbox).await.unwrap().unwrap();
        let blob = self.ms.stage_bytes(body).await.unwrap();
        let s = self
            .ms
            .ingest(
                IngestSource::Smtp,
                vec![NewMessage {
                    mailbox_id: mbx.id,
                    uid: None,
                    flags,
                    internaldate: 1_700_000_000,
                    tz_minutes: 60,
                    blob,
                    legacy: None,
                    legacy_uidl: None,
                }],
            )
            .await
            .unwrap();
        s[0].uid
    }

    /// A logged-in client on the plain port.
    pub async fn login(&self) -> Imap {
        let mut c = Imap::connect(self.plain).await;
        c.ok(&format!("LOGIN {USER} {PASS}")).await;
        c
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop(std::time::Duration::from_secs(5)).await;
        }
    }
}

/// An IMAP transcript client.
pub struct Imap {
    pub c: Client,
    n: u32,
}

impl Imap {
    pub async fn connect(addr: std::net::SocketAddr) -> Imap {
        let mut c = Client::connect(addr).await;
        let greeting = c.line().await.unwrap();
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{greeting}"
        );
        Imap { c, n: 0 }
    }

    pub async fn connect_tls(addr: std::net::SocketAddr) -> Imap {
        let mut c = Client::connect_tls(addr).await;
        let greeting = c.line().await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        Imap { c, n: 0 }
    }

    pub fn from_client(c: Client) -> Imap {
        Imap { c, n: 100 }
    }

    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    /// Sends `cmd` with a fresh tag; returns every line up to and including the
    /// tagged one (the last element).
    pub async fn run(&mut self, cmd: &str) -> Vec<String> {
        let tag = self.next_tag();
        self.c.send(&format!("{tag} {cmd}")).await;
        self.c.until(&format!("{tag} ")).await
    }

    /// Like [`Self::run`], asserting a tagged OK; returns the untagged lines.
    pub async fn ok(&mut self, cmd: &str) -> Vec<String> {
        let mut lines = self.run(cmd).await;
        let last = lines.pop().unwrap();
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{cmd} -> {last} after {lines:?}"
        );
        lines.push(last);
        lines
    }

    /// Asserts a tagged NO and returns the tagged line.
    pub async fn no(&mut self, cmd: &str) -> String {
        let lines = self.run(cmd).await;
        let last = lines.last().unwrap().clone();
        assert!(last.split(' ').nth(1) == Some("NO"), "{cmd} -> {lines:?}");
        last
    }

    /// Asserts a tagged BAD and returns the tagged line.
    pub async fn bad(&mut self, cmd: &str) -> String {
        let lines = self.run(cmd).await;
        let last = lines.last().unwrap().clone();
        assert!(last.split(' ').nth(1) == Some("BAD"), "{cmd} -> {lines:?}");
        last
    }

    pub async fn send_raw(&mut self, data: &[u8]) {
        self.c.send_raw(data).await;
    }

    pub async fn line(&mut self) -> String {
        self.c.line().await.expect("connection closed")
    }

    /// The next line that is not `* N RECENT`: which of two sessions gets
    /// a new message's \Recent depends on which sees it first.
    pub async fn line_past_recent(&mut self) -> String {
        loop {
            let l = self.line().await;
            let n = l.strip_prefix("* ").and_then(|r| r.strip_suffix(" RECENT"));
            if !n.is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                return l;
            }
        }
    }
}

/// True when some line contains `needle`.
pub fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// One response read with its literals: the text (literals left as `{n}`) and
/// the literal data in order.
#[derive(Debug, Clone)]
pub struct Response {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
    /// The response exactly as received, without the final CRLF.
    pub raw: Vec<u8>,
}

impl Imap {
    /// Sends `cmd` and reads responses, literals included, up to the tagged one.
    pub async fn run_lit(&mut self, cmd: &str) -> Vec<Response> {
        let tag = self.next_tag();
        self.c.send(&format!("{tag} {cmd}")).await;
        let mut out = Vec::new();
        loop {
            let mut r = Response {
                text: String::new(),
                literals: vec![],
                raw: vec![],
            };
            loop {
                let l = self.line().await;
                r.text.push_str(&l);
                r.raw.extend_from_slice(l.as_bytes());
                match ferrymail::imap::reader::literal_at_end(l.as_bytes()) {
                    Some((n, _)) => {
                        let lit = self.c.bytes(n as usize).await;
                        r.raw.extend_from_slice(b"\r\n");
                        r.raw.extend_from_slice(&lit);
                        r.literals.push(lit);
                    }
                    None => break,
                }
            }
            let done = r.text.starts_with(&format!("{tag} "));
            out.push(r);
            if done {
                let last = &out.last().unwrap().text;
                assert!(last.starts_with(&format!("{tag} OK")), "{cmd} -> {out:?}");
                return out;
            }
        }
    }
}
