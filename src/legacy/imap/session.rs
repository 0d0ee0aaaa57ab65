//! An authenticated session on the legacy IMAP server: login (with STARTTLS,
//! LOGIN or AUTHENTICATE PLAIN), sending commands and reading their responses,
//! logout. The folder commands and the fetch streaming add `impl Session`
//! blocks in `folders.rs` and `fetch.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::command::{quoted, Arg};
use super::reader::Reader;
use super::response::{caps_from_code, temporary_code, Response, Status, Value};
use crate::auth::Password;
use crate::config::{Endpoint, TlsMode};
use crate::legacy::bandwidth::Bandwidth;
use crate::legacy::{connect, start_tls, LegacyError, Login, Result};
use crate::server::Conn;
use crate::store::{Mailstore, StagedBlob};

/// An authenticated session on the legacy IMAP server.
pub struct Session {
    conn: Conn,
    tag: u32,
    /// Upper-cased capability atoms after login.
    caps: Vec<String>,
    /// The capabilities as the server spelled them, for proxied clients.
    pub capability_line: String,
    /// The server's greeting (after `* `), for `migrate test`.
    pub greeting: String,
    /// The legacy host's bandwidth cap, charged for each fetched message body.
    pub(super) bandwidth: Option<Arc<Bandwidth>>,
}

impl Session {
    /// Logs in to the legacy server as `user` over the endpoint's TLS mode. A
    /// refused password gives [`LegacyError::Refused`]; anything else that stops
    /// us (no STARTTLS, PREAUTH, bad certificate, timeout) a temporary error, and
    /// the password is then not sent.
    pub async fn login(ep: &Endpoint, timeout: Duration, login: &Login) -> Result<Session> {
        let conn = connect(ep, timeout).await?;
        let mut s = Session::greet(conn).await?;
        if ep.tls == TlsMode::StartTls {
            s.starttls(ep).await?;
        }
        s.authenticate(login).await?;
        Ok(s)
    }

    /// Reads the greeting of a fresh connection (after implicit TLS, if any)
    /// and the capabilities: the greeting's `[CAPABILITY ...]`, else a
    /// `CAPABILITY` command. Refuses PREAUTH: a password could not be checked.
    pub async fn greet(mut conn: Conn) -> Result<Session> {
        let mut r = Reader { conn: &mut conn };
        let (greeting, _) = r.read(None).await?;
        let (caps, greeting) = match greeting {
            Response::Untagged { text, .. } => {
                let up = text.to_ascii_uppercase();
                if up.starts_with("PREAUTH") {
                    return Err(LegacyError::Unavailable(
                        "the legacy server sent PREAUTH; the password cannot be checked".into(),
                    ));
                }
                if !up.starts_with("OK") {
                    return Err(LegacyError::Unavailable(format!(
                        "legacy greeting: {}",
                        text.chars().take(100).collect::<String>()
                    )));
                }
                (
                    caps_from_code(text.get(2..).unwrap_or_default().trim_start()),
                    text,
                )
            }
            _ => return Err(LegacyError::Protocol("no IMAP greeting".into())),
        };
        let mut s = Session {
            conn,
            tag: 0,
            caps: vec![],
            capability_line: String::new(),
            greeting,
            bandwidth: None,
        };
        let caps = match caps {
            Some(c) => c,
            None => s.capability().await?,
        };
        s.set_caps(caps);
        Ok(s)
    }

    /// `STARTTLS` and the TLS handshake with the endpoint's certificate checks,
    /// then the capabilities again. Fails when the server does not offer it.
    pub async fn starttls(&mut self, ep: &Endpoint) -> Result<()> {
        if !self.has("STARTTLS") {
            return Err(LegacyError::Unavailable(
                "the legacy server does not offer STARTTLS (tls = \"starttls\")".into(),
            ));
        }
        let (status, text) = self.simple(&[Arg::Raw("STARTTLS")]).await?;
        if status != Status::Ok {
            return Err(LegacyError::Unavailable(format!(
                "STARTTLS refused: {text}"
            )));
        }
        start_tls(&mut self.conn, ep).await?;
        let c = self.capability().await?;
        self.set_caps(c);
        Ok(())
    }

    /// Authenticates: `LOGIN`, or `AUTHENTICATE PLAIN` when LOGIN is disabled or
    /// an authzid must be sent. [`LegacyError::Refused`] when the server says no.
    pub async fn authenticate(&mut self, login: &Login) -> Result<()> {
        // The real client, for the legacy server's logs and brute-force
        // penalty (honoured from its login_trusted_networks only); a refusal
        // changes nothing.
        if let (Some(ip), true) = (login.client, self.has("ID")) {
            let id = format!("(\"x-originating-ip\" \"{ip}\")");
            self.simple(&[Arg::Raw("ID"), Arg::Raw(&id)]).await?;
        }
        let (status, text) = if self.has("LOGINDISABLED") || login.authzid.is_some() {
            if !self.has("AUTH=PLAIN") {
                return Err(LegacyError::Unavailable(if login.authzid.is_some() {
                    "the legacy server does not offer AUTHENTICATE PLAIN, needed for migration.admin.method = \"authzid\"".into()
                } else {
                    "the legacy server allows neither LOGIN nor AUTHENTICATE PLAIN".into()
                }));
            }
            self.authenticate_plain(&login.plain_b64()).await?
        } else {
            self.simple(&[
                Arg::Raw("LOGIN"),
                Arg::Str(login.authcid.as_bytes()),
                Arg::Str(login.password.expose().as_bytes()),
            ])
            .await?
        };
        match status {
            Status::Ok => {}
            Status::No if temporary_code(&text) => {
                return Err(LegacyError::Unavailable(format!("legacy login: {text}")))
            }
            Status::No | Status::Bad => return Err(LegacyError::Refused),
        }
        let caps = match caps_from_code(&text) {
            Some(c) => c,
            None => self.capability().await?,
        };
        self.set_caps(caps);
        Ok(())
    }

    fn set_caps(&mut self, line: String) {
        self.caps = line
            .split_ascii_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        self.capability_line = line;
    }

    /// True when the server advertised `cap`.
    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// Gives up the connection (for a proxied session).
    pub fn into_conn(self) -> Conn {
        self.conn
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("F{}", self.tag)
    }

    /// Sends a command (with literals as needed); returns its tag.
    pub async fn send(&mut self, args: &[Arg<'_>]) -> Result<String> {
        let tag = self.next_tag();
        let mut out: Vec<u8> = tag.as_bytes().to_vec();
        let literal_plus = self.has("LITERAL+");
        for a in args {
            out.push(b' ');
            match a {
                Arg::Raw(s) => out.extend_from_slice(s.as_bytes()),
                Arg::Str(s) => match quoted(s) {
                    Some(q) => out.extend_from_slice(&q),
                    None if literal_plus => {
                        out.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
                        out.extend_from_slice(s);
                    }
                    None => {
                        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
                        self.conn.send(&out).await?;
                        out.iter_mut().for_each(|b| *b = 0);
                        out.clear();
                        loop {
                            match (Reader {
                                conn: &mut self.conn,
                            })
                            .read(None)
                            .await?
                            .0
                            {
                                Response::Continue => break,
                                Response::Tagged { text, .. } => {
                                    return Err(LegacyError::Protocol(format!(
                                        "literal refused: {text}"
                                    )))
                                }
                                Response::Untagged { .. } => {}
                            }
                        }
                        out.extend_from_slice(s);
                    }
                },
            }
        }
        out.extend_from_slice(b"\r\n");
        let r = self.conn.send(&out).await;
        // The buffer may have held a password.
        out.iter_mut().for_each(|b| *b = 0);
        r?;
        Ok(tag)
    }

    /// Reads the next response.
    pub async fn read(&mut self, ms: Option<&Mailstore>) -> Result<(Response, Vec<StagedBlob>)> {
        Reader {
            conn: &mut self.conn,
        }
        .read(ms)
        .await
    }

    /// Runs a command; returns its untagged responses and its status.
    pub async fn run(
        &mut self,
        args: &[Arg<'_>],
    ) -> Result<(Vec<(String, Vec<Value>)>, Status, String)> {
        let tag = self.send(args).await?;
        let mut untagged = Vec::new();
        loop {
            match self.read(None).await?.0 {
                Response::Untagged { text, values } => {
                    if untagged.len() > 1_000_000 {
                        return Err(LegacyError::Protocol("too many responses".into()));
                    }
                    untagged.push((text, values))
                }
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => return Ok((untagged, status, text)),
                Response::Tagged { .. } | Response::Continue => {}
            }
        }
    }

    async fn simple(&mut self, args: &[Arg<'_>]) -> Result<(Status, String)> {
        let (_, status, text) = self.run(args).await?;
        Ok((status, text))
    }

    /// Runs a command that must succeed.
    pub async fn ok(&mut self, args: &[Arg<'_>]) -> Result<Vec<(String, Vec<Value>)>> {
        let (untagged, status, text) = self.run(args).await?;
        if status != Status::Ok {
            let what = match args.first() {
                Some(Arg::Raw(s)) => s.to_string(),
                _ => "command".into(),
            };
            return Err(LegacyError::Protocol(format!("{what}: {text}")));
        }
        Ok(untagged)
    }

    async fn capability(&mut self) -> Result<String> {
        let untagged = self.ok(&[Arg::Raw("CAPABILITY")]).await?;
        Ok(untagged
            .iter()
            .find_map(|(t, _)| {
                let up = t.to_ascii_uppercase();
                up.starts_with("CAPABILITY ").then(|| t[11..].to_string())
            })
            .unwrap_or_default())
    }

    async fn authenticate_plain(&mut self, b64: &Password) -> Result<(Status, String)> {
        if self.has("SASL-IR") {
            return self
                .simple(&[
                    Arg::Raw("AUTHENTICATE"),
                    Arg::Raw("PLAIN"),
                    Arg::Raw(b64.expose()),
                ])
                .await;
        }
        let tag = self
            .send(&[Arg::Raw("AUTHENTICATE"), Arg::Raw("PLAIN")])
            .await?;
        loop {
            match self.read(None).await?.0 {
                Response::Continue => break,
                Response::Tagged { status, text, .. } => return Ok((status, text)),
                Response::Untagged { .. } => {}
            }
        }
        let mut line = b64.expose().as_bytes().to_vec();
        line.extend_from_slice(b"\r\n");
        let r = self.conn.send(&line).await;
        line.iter_mut().for_each(|b| *b = 0);
        r?;
        loop {
            match self.read(None).await?.0 {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => return Ok((status, text)),
                _ => {}
            }
        }
    }

    /// `LOGOUT`, ignoring errors.
    pub async fn logout(mut self) {
        if self.send(&[Arg::Raw("LOGOUT")]).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok((r, _)) = self.read(None).await {
                    if matches!(r, Response::Tagged { .. }) {
                        break;
                    }
                }
            })
            .await;
        }
        self.conn.close().await;
    }
}
