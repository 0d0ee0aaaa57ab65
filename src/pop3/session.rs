//! One POP3 session: AUTHORIZATION, TRANSACTION and UPDATE states (RFC 1939 §3).

use std::sync::Arc;

use super::maildrop::{Maildrop, SendError};
use super::{MaildropLock, Pop3Service};
use crate::auth::sasl::{self, SaslError};
use crate::auth::Password;
use crate::config::ListenerSpec;
use crate::legacy::relay::Goodbye;
use crate::login::{login, LoginOutcome, LoginRequest, Proto};
use crate::server::conn::trim_eol;
use crate::server::{Conn, ConnError};
use crate::store::Account;

/// Longest command line accepted (RFC 2449 §4 allows 255; AUTH initial
/// responses with long names and passwords need more).
const MAX_LINE: usize = 2048;
/// Failed logins in one session before it is closed.
const MAX_AUTH_FAILURES: u32 = 5;
/// Unknown or malformed commands in one session before it is closed.
const MAX_ERRORS: u32 = 20;

enum State {
    Authorization {
        user: Option<String>,
    },
    Transaction {
        account: Account,
        drop: Maildrop,
        _lock: MaildropLock,
    },
}

struct Session {
    svc: Arc<Pop3Service>,
    conn: Conn,
    state: State,
    auth_failures: u32,
    errors: u32,
}

/// What the command loop does after a command.
enum Next {
    Continue,
    Close,
    /// Hand the connection to the legacy server (the user's copy is running).
    Proxy(Box<crate::login::LegacySession>),
}

pub async fn run(svc: Arc<Pop3Service>, conn: Conn, _listener: ListenerSpec) {
    let hostname = svc.app.config().hostname.clone();
    let mut s = Session {
        svc,
        conn,
        state: State::Authorization { user: None },
        auth_failures: 0,
        errors: 0,
    };
    s.conn
        .write(format!("+OK {hostname} ferrymail POP3 ready\r\n").as_bytes());
    if s.conn.flush().await.is_err() {
        return;
    }
    let login_by = crate::server::conn::login_deadline(s.conn.timeout());
    loop {
        let pre_login = matches!(s.state, State::Authorization { .. });
        s.conn.set_deadline(pre_login.then_some(login_by));
        let line = match s.conn.read_line(MAX_LINE).await {
            Ok(l) => l,
            Err(ConnError::TooLong) => {
                s.reply("-ERR Command line too long").await;
                if s.count_error() {
                    break;
                }
                continue;
            }
            Err(ConnError::Shutdown) => {
                // No UPDATE: deletions are applied only after QUIT.
                s.conn
                    .write(b"-ERR [SYS/TEMP] Server shutting down, try again later\r\n");
                s.conn.close().await;
                return;
            }
            Err(ConnError::Timeout) => {
                s.conn.write(b"-ERR Autologout timer expired\r\n");
                s.conn.close().await;
                return;
            }
            Err(_) => return,
        };
        match s.command(trim_eol(&line)).await {
            Next::Continue => {
                if s.conn.flush().await.is_err() {
                    return;
                }
            }
            Next::Close => break,
            Next::Proxy(legacy) => {
                s.conn.set_deadline(None);
                let idle = s.conn.timeout();
                let _ = crate::legacy::relay::relay(
                    s.conn,
                    legacy.conn,
                    idle,
                    legacy.end,
                    Goodbye::Pop3,
                )
                .await;
                return;
            }
        }
    }
    s.conn.close().await;
}

/// A message number argument (RFC 1939: decimal, 1-based).
fn msg_number(arg: Option<&str>) -> Option<usize> {
    let a = arg?;
    if a.is_empty() || a.len() > 9 || !a.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    a.parse().ok()
}

/// One POP3 command line (without its CRLF), split into its keyword and the rest
/// (RFC 1939 §3). Pure, so the fuzz target `pop3_command` can drive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The keyword, upper-cased.
    pub keyword: String,
    /// Everything after the first space, as sent.
    pub arg: Option<&'a str>,
}

/// Why a command line is refused before dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("NUL in command")]
    Nul,
    #[error("command is not UTF-8")]
    NotUtf8,
}

impl CommandError {
    /// The reply for a refused line.
    pub fn reply(self) -> &'static str {
        match self {
            CommandError::Nul => "-ERR Invalid character in command",
            CommandError::NotUtf8 => "-ERR Command is not valid UTF-8",
        }
    }
}

/// Parses one command line (its CRLF already removed).
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, CommandError> {
    if line.contains(&0) {
        return Err(CommandError::Nul);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
    let (keyword, arg) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    Ok(Command {
        keyword: keyword.to_ascii_uppercase(),
        arg,
    })
}

impl Session {
    fn write_line(&mut self, line: &str) {
        self.conn.write(line.as_bytes());
        self.conn.write(b"\r\n");
    }

    async fn reply(&mut self, line: &str) {
        self.write_line(line);
        let _ = self.conn.flush().await;
    }

    /// Counts a protocol error; true when the session has had too many.
    fn count_error(&mut self) -> bool {
        self.errors += 1;
        self.errors > MAX_ERRORS
    }

    fn plaintext_allowed(&self) -> bool {
        self.conn.is_tls() || self.svc.app.config().auth.allow_plaintext
    }

    async fn command(&mut self, line: &[u8]) -> Next {
        let (keyword, rest) = match parse_command(line) {
            Ok(c) => (c.keyword, c.arg),
            Err(e) => {
                self.write_line(e.reply());
                return if self.count_error() {
                    Next::Close
                } else {
                    Next::Continue
                };
            }
        };
        match (&self.state, keyword.as_str()) {
            (_, "CAPA") => self.capa(),
            (_, "QUIT") => return self.quit().await,
            (State::Authorization { .. }, "STLS") => return self.stls().await,
            (State::Authorization { .. }, "USER") => self.user(rest),
            (State::Authorization { .. }, "PASS") => return self.pass(rest).await,
            (State::Authorization { .. }, "AUTH") => return self.auth(rest).await,
            (State::Transaction { .. }, cmd) => return self.transaction(cmd, rest).await,
            (
                State::Authorization { .. },
                "STAT" | "LIST" | "RETR" | "DELE" | "NOOP" | "RSET" | "TOP" | "UIDL",
            ) => {
                self.write_line("-ERR Not logged in");
            }
            _ => {
                self.write_line("-ERR Unknown command");
                if self.count_error() {
                    return Next::Close;
                }
            }
        }
        Next::Continue
    }

    /// CAPA (RFC 2449 §5).
    fn capa(&mut self) {
        let mut caps = vec![
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
            "EXPIRE NEVER",
            "IMPLEMENTATION ferrymail",
        ];
        let authorization = matches!(self.state, State::Authorization { .. });
        if authorization && self.plaintext_allowed() {
            caps.push("USER");
            caps.push("SASL PLAIN");
        }
        if authorization && !self.conn.is_tls() {
            caps.push("STLS");
        }
        self.write_line("+OK Capability list follows");
        for c in caps {
            self.write_line(c);
        }
        self.write_line(".");
    }

    /// STLS (RFC 2595 §4). Plaintext pipelined after it closes the connection.
    async fn stls(&mut self) -> Next {
        if self.conn.is_tls() {
            self.write_line("-ERR TLS is already active");
            return Next::Continue;
        }
        if self.conn.buffered() > 0 {
            tracing::warn!(peer = %self.conn.peer, "POP3: data pipelined after STLS; closing");
            self.reply("-ERR Data pipelined after STLS; closing").await;
            return Next::Close;
        }
        self.write_line("+OK Begin TLS negotiation");
        let tls = self.svc.app.tls.clone();
        match self.conn.starttls_server(&tls).await {
            Ok(()) => {
                self.state = State::Authorization { user: None };
                Next::Continue
            }
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, error = %e, "POP3: STLS failed");
                Next::Close
            }
        }
    }

    fn user(&mut self, arg: Option<&str>) {
        if !self.plaintext_allowed() {
            self.write_line(
                "-ERR Plaintext authentication is disallowed on non-secure connections; use STLS",
            );
            return;
        }
        match arg.filter(|a| !a.is_empty()) {
            Some(name) => {
                self.state = State::Authorization {
                    user: Some(name.to_string()),
                };
                self.write_line("+OK");
            }
            None => self.write_line("-ERR Missing user name"),
        }
    }

    async fn pass(&mut self, arg: Option<&str>) -> Next {
        if !self.plaintext_allowed() {
            self.write_line(
                "-ERR Plaintext authentication is disallowed on non-secure connections; use STLS",
            );
            return Next::Continue;
        }
        let State::Authorization { user: Some(user) } = &self.state else {
            self.write_line("-ERR USER first");
            return Next::Continue;
        };
        let user = user.clone();
        self.state = State::Authorization { user: None };
        let password = Password::new(arg.unwrap_or(""));
        self.login(user, password).await
    }

    /// AUTH (RFC 5034): PLAIN, with or without an initial response.
    async fn auth(&mut self, arg: Option<&str>) -> Next {
        let Some(arg) = arg.filter(|a| !a.is_empty()) else {
            self.write_line("+OK Mechanisms follow");
            if self.plaintext_allowed() {
                self.write_line("PLAIN");
            }
            self.write_line(".");
            return Next::Continue;
        };
        if !self.plaintext_allowed() {
            self.write_line(
                "-ERR Plaintext authentication is disallowed on non-secure connections; use STLS",
            );
            return Next::Continue;
        }
        let (mech, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m, Some(i.to_string())),
            None => (arg, None),
        };
        if !mech.eq_ignore_ascii_case("PLAIN") {
            self.write_line("-ERR Unsupported authentication mechanism");
            return Next::Continue;
        }
        let response = match initial {
            Some(i) => i,
            None => {
                self.write_line("+ ");
                if self.conn.flush().await.is_err() {
                    return Next::Close;
                }
                match self.conn.read_line(MAX_LINE).await {
                    Ok(l) => String::from_utf8_lossy(trim_eol(&l)).into_owned(),
                    Err(_) => return Next::Close,
                }
            }
        };
        match sasl::parse_plain_b64(response.as_bytes()) {
            Ok(c) => self.login(c.username, c.password).await,
            Err(SaslError::Cancelled) => {
                self.write_line("-ERR Authentication cancelled");
                Next::Continue
            }
            Err(e) => {
                self.write_line(&format!("-ERR [AUTH] Invalid SASL response: {e}"));
                Next::Continue
            }
        }
    }

    async fn login(&mut self, username: String, password: Password) -> Next {
        let req = LoginRequest {
            username,
            password,
            protocol: Proto::Pop3,
            client: self.conn.peer.ip(),
        };
        match login(&self.svc.app, req).await {
            LoginOutcome::Local(account) => self.open_maildrop(account).await,
            LoginOutcome::Proxy(account, legacy) => {
                tracing::info!(user = %account.address, "POP3 session proxied to the legacy server while the mailbox is copied");
                self.write_line("+OK Logged in");
                if self.conn.flush().await.is_err() {
                    return Next::Close;
                }
                Next::Proxy(legacy)
            }
            LoginOutcome::Refused => {
                self.auth_failures += 1;
                self.write_line("-ERR [AUTH] Authentication failed");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.reply("-ERR Too many failed logins; closing").await;
                    return Next::Close;
                }
                Next::Continue
            }
            LoginOutcome::Unavailable(text) => {
                self.write_line(&format!("-ERR [SYS/TEMP] {text}"));
                Next::Continue
            }
        }
    }

    async fn open_maildrop(&mut self, account: Account) -> Next {
        let Some(lock) = MaildropLock::take(&self.svc.locks, account.id) else {
            self.write_line("-ERR [IN-USE] Mailbox is locked by another POP3 session");
            return Next::Continue;
        };
        let opened = match self.svc.app.store.mailstore_or_create(account.id).await {
            Ok(ms) => Maildrop::open(ms).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(drop) => {
                let (n, size) = drop.stat();
                tracing::info!(user = %account.address, messages = n, "POP3 login");
                self.write_line(&format!("+OK Logged in, {n} messages ({size} octets)"));
                self.state = State::Transaction {
                    account,
                    drop,
                    _lock: lock,
                };
            }
            Err(e) => {
                tracing::error!(user = %account.address, error = %e, "POP3: cannot open the maildrop");
                self.write_line("-ERR [SYS/TEMP] Cannot open the mailbox, try again later");
            }
        }
        Next::Continue
    }

    async fn quit(&mut self) -> Next {
        let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
        match state {
            State::Authorization { .. } => self.write_line("+OK Bye"),
            State::Transaction { account, drop, .. } => match drop.commit().await {
                Ok(n) => {
                    tracing::info!(user = %account.address, deleted = n, "POP3 logout");
                    self.write_line(&format!("+OK Logging out, {n} messages deleted"));
                }
                Err(e) => {
                    tracing::error!(user = %account.address, error = %e, "POP3: deleting messages failed");
                    self.write_line("-ERR [SYS/TEMP] Some deleted messages were not removed");
                }
            },
        }
        let _ = self.conn.flush().await;
        Next::Close
    }

    async fn transaction(&mut self, cmd: &str, arg: Option<&str>) -> Next {
        let State::Transaction { drop, .. } = &mut self.state else {
            return Next::Continue;
        };
        let mut args = arg.unwrap_or("").split(' ').filter(|a| !a.is_empty());
        let (a1, a2) = (args.next(), args.next());
        let reply: String = match cmd {
            "STAT" => {
                let (n, size) = drop.stat();
                format!("+OK {n} {size}")
            }
            "NOOP" => "+OK".into(),
            "RSET" => {
                drop.reset();
                let (n, size) = drop.stat();
                format!("+OK {n} messages ({size} octets)")
            }
            "LIST" | "UIDL" => {
                let uidl = cmd == "UIDL";
                match a1 {
                    None => {
                        let mut lines = vec!["+OK".to_string()];
                        for (i, e) in drop.entries.iter().enumerate().filter(|(_, e)| !e.deleted) {
                            lines.push(if uidl {
                                format!("{} {}", i + 1, e.uidl)
                            } else {
                                format!("{} {}", i + 1, e.size)
                            });
                        }
                        lines.push(".".into());
                        lines.join("\r\n")
                    }
                    Some(_) => match msg_number(a1).and_then(|n| drop.get(n).map(|e| (n, e))) {
                        Some((n, e)) if uidl => format!("+OK {n} {}", e.uidl),
                        Some((n, e)) => format!("+OK {n} {}", e.size),
                        None => "-ERR No such message".into(),
                    },
                }
            }
            "DELE" => match msg_number(a1) {
                Some(n) if drop.mark_deleted(n) => format!("+OK Message {n} deleted"),
                _ => "-ERR No such message".into(),
            },
            "RETR" | "TOP" => {
                let lines = if cmd == "TOP" {
                    match msg_number(a2) {
                        Some(l) => Some(l),
                        None => {
                            self.write_line("-ERR Usage: TOP msg lines");
                            return Next::Continue;
                        }
                    }
                } else {
                    None
                };
                let Some(entry) = msg_number(a1).and_then(|n| drop.get(n)).cloned() else {
                    self.write_line("-ERR No such message");
                    return Next::Continue;
                };
                return match drop.send(&mut self.conn, &entry, lines).await {
                    Ok(()) => Next::Continue,
                    Err(e @ SendError::Conn(_)) => {
                        tracing::debug!(peer = %self.conn.peer, error = %e, "POP3: sending a message failed");
                        Next::Close
                    }
                    Err(SendError::Open(e)) => {
                        tracing::error!(blob = %entry.blob, error = %e, "POP3: cannot open a message file");
                        self.write_line("-ERR [SYS/TEMP] Cannot read the message, try again later");
                        Next::Continue
                    }
                    Err(SendError::Read(e)) => {
                        // The +OK line is out: close, so the client cannot take a
                        // truncated message for a whole one.
                        tracing::error!(blob = %entry.blob, error = %e, "POP3: cannot read a message file");
                        Next::Close
                    }
                };
            }
            _ => {
                self.write_line("-ERR Unknown command");
                return if self.count_error() {
                    Next::Close
                } else {
                    Next::Continue
                };
            }
        };
        self.write_line(&reply);
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::{msg_number, parse_command, Command, CommandError};

    #[test]
    fn command_lines() {
        assert_eq!(
            parse_command(b"user Alice"),
            Ok(Command {
                keyword: "USER".into(),
                arg: Some("Alice")
            })
        );
        assert_eq!(parse_command(b"STAT").unwrap().arg, None);
        assert_eq!(parse_command(b"LIST ").unwrap().arg, Some(""));
        assert_eq!(parse_command(b"").unwrap().keyword, "");
        assert_eq!(parse_command(b"USER a\0b"), Err(CommandError::Nul));
        assert_eq!(parse_command(b"\0"), Err(CommandError::Nul));
        assert_eq!(parse_command(b"USER \xff"), Err(CommandError::NotUtf8));
    }

    #[test]
    fn message_numbers() {
        assert_eq!(msg_number(Some("1")), Some(1));
        assert_eq!(msg_number(Some("0")), Some(0));
        for bad in ["", "-1", "1a", "+2", "1234567890", " 1"] {
            assert_eq!(msg_number(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(msg_number(None), None);
    }
}
