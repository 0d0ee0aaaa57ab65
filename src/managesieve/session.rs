//! One ManageSieve session: the greeting, reading commands (with their
//! literals), the non-authenticated state (CAPABILITY, STARTTLS, AUTHENTICATE)
//! and the dispatch of the authenticated commands to `commands.rs`.

use std::sync::Arc;

use super::parse::{quote, split_line, Arg};
use crate::app::App;
use crate::auth::sasl::{self, SaslError};
use crate::config::ListenerSpec;
use crate::login::{login, LoginOutcome, LoginRequest, Proto};
use crate::server::conn::trim_eol;
use crate::server::{Conn, ConnError};
use crate::store::Account;

/// Longest command line (without literals), bytes.
const MAX_LINE: usize = 8192;
/// Largest literal once logged in: the largest script (Sieve's own limit).
pub(super) const MAX_SCRIPT: u64 = 1 << 20;
/// Largest literal before login (a SASL response).
const MAX_LITERAL_ANON: u64 = 8192;
/// Failed logins in one session before it is closed.
const MAX_AUTH_FAILURES: u32 = 5;
/// Malformed or unknown commands in one session before it is closed.
const MAX_ERRORS: u32 = 10;

pub(super) struct Session {
    pub(super) app: Arc<App>,
    pub(super) conn: Conn,
    /// Set once logged in.
    pub(super) account: Option<Account>,
    auth_failures: u32,
    errors: u32,
}

/// What the command loop does after a command.
pub(super) enum Next {
    Continue,
    Close,
}

/// Why no command could be read.
enum ReadError {
    /// Malformed: answered with NO, the session goes on.
    Syntax(String),
    /// A literal over the limit: its bytes follow, so the session ends.
    TooBig(u64),
    Conn(ConnError),
}

pub async fn run(app: Arc<App>, conn: Conn, _listener: ListenerSpec) {
    let mut s = Session {
        app,
        conn,
        account: None,
        auth_failures: 0,
        errors: 0,
    };
    s.capabilities();
    s.respond("OK", None, "ferrymail ManageSieve ready");
    if s.conn.flush().await.is_err() {
        return;
    }
    let login_by = crate::server::conn::login_deadline(s.conn.timeout());
    loop {
        let deadline = s.account.is_none().then_some(login_by);
        s.conn.set_deadline(deadline);
        let max_literal = if s.account.is_some() {
            MAX_SCRIPT
        } else {
            MAX_LITERAL_ANON
        };
        let next = match s.read_command(max_literal).await {
            Ok(args) => s.command(args).await,
            Err(ReadError::Syntax(why)) => {
                s.respond("NO", None, &why);
                s.count_error()
            }
            Err(ReadError::TooBig(n)) => {
                let text = format!("Literal of {n} octets is over the limit of {max_literal}");
                s.respond("NO", Some("QUOTA/MAXSIZE"), &text);
                Next::Close
            }
            Err(ReadError::Conn(ConnError::Shutdown)) => {
                s.respond("BYE", None, "Server shutting down");
                Next::Close
            }
            Err(ReadError::Conn(ConnError::Timeout)) => {
                s.respond("BYE", None, "Autologout timer expired");
                Next::Close
            }
            Err(ReadError::Conn(_)) => return,
        };
        match next {
            Next::Continue => {
                if s.conn.flush().await.is_err() {
                    return;
                }
            }
            Next::Close => break,
        }
    }
    s.conn.close().await;
}

impl Session {
    /// `OK`, `NO` or `BYE`, with a response code and a text.
    pub(super) fn respond(&mut self, kind: &str, code: Option<&str>, text: &str) {
        let line = match code {
            Some(c) => format!("{kind} ({c}) {}\r\n", quote(text)),
            None => format!("{kind} {}\r\n", quote(text)),
        };
        self.conn.write(line.as_bytes());
    }

    /// Counts a protocol error; after too many the session ends.
    pub(super) fn count_error(&mut self) -> Next {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.respond("BYE", None, "Too many errors; closing");
            return Next::Close;
        }
        Next::Continue
    }

    fn plaintext_allowed(&self) -> bool {
        self.conn.is_tls() || self.app.config().auth.allow_plaintext
    }

    /// One command: its words and literals, up to the CRLF that ends it.
    async fn read_command(&mut self, max_literal: u64) -> Result<Vec<Arg>, ReadError> {
        let mut args = Vec::new();
        loop {
            let line = match self.conn.read_line(MAX_LINE).await {
                Ok(l) => l,
                Err(ConnError::TooLong) => return Err(ReadError::Syntax("Line too long".into())),
                Err(e) => return Err(ReadError::Conn(e)),
            };
            let part = split_line(trim_eol(&line), args.len())
                .map_err(|e| ReadError::Syntax(format!("Syntax error: {e}")))?;
            args.extend(part.args);
            let Some(n) = part.literal else {
                return Ok(args);
            };
            if n > max_literal {
                return Err(ReadError::TooBig(n));
            }
            let data = self
                .conn
                .read_exact_direct(n as usize)
                .await
                .map_err(ReadError::Conn)?;
            args.push(Arg::Str(data));
        }
    }

    /// The capability lines (RFC 5804 §1.7), without the OK.
    fn capabilities(&mut self) {
        let mut lines = vec![
            format!("{} {}", quote("IMPLEMENTATION"), quote("ferrymail")),
            format!(
                "{} {}",
                quote("SASL"),
                quote(if self.plaintext_allowed() {
                    "PLAIN"
                } else {
                    ""
                })
            ),
            format!(
                "{} {}",
                quote("SIEVE"),
                quote(&crate::sieve::EXTENSIONS.join(" "))
            ),
        ];
        if !self.conn.is_tls() && self.account.is_none() {
            lines.push(quote("STARTTLS"));
        }
        lines.push(format!("{} {}", quote("MAXREDIRECTS"), quote("4")));
        lines.push(format!("{} {}", quote("VERSION"), quote("1.0")));
        lines.push(quote("UNAUTHENTICATE"));
        for l in lines {
            self.conn.write(l.as_bytes());
            self.conn.write(b"\r\n");
        }
    }

    async fn command(&mut self, args: Vec<Arg>) -> Next {
        let mut args = args.into_iter();
        let keyword = match args.next() {
            Some(Arg::Atom(k)) => k.to_ascii_uppercase(),
            Some(Arg::Str(_)) => {
                self.respond("NO", None, "Syntax error: a command starts with its name");
                return self.count_error();
            }
            None => {
                self.respond("NO", None, "Empty command");
                return self.count_error();
            }
        };
        let args: Vec<Arg> = args.collect();
        match keyword.as_str() {
            "CAPABILITY" if args.is_empty() => {
                self.capabilities();
                self.respond("OK", None, "Capability completed");
                Next::Continue
            }
            "LOGOUT" if args.is_empty() => {
                self.respond("OK", None, "Logout completed");
                let _ = self.conn.flush().await;
                Next::Close
            }
            "NOOP" => self.noop(&args),
            "STARTTLS" if args.is_empty() => self.starttls().await,
            "AUTHENTICATE" => self.authenticate(args).await,
            "UNAUTHENTICATE" if args.is_empty() => {
                if self.account.take().is_some() {
                    self.respond("OK", None, "Unauthenticate completed");
                    Next::Continue
                } else {
                    self.respond("NO", None, "Not authenticated");
                    self.count_error()
                }
            }
            "CAPABILITY" | "LOGOUT" | "STARTTLS" | "UNAUTHENTICATE" => {
                self.respond("NO", None, &format!("{keyword} takes no arguments"));
                self.count_error()
            }
            k if super::commands::is_script_command(k) => {
                if self.account.is_none() {
                    self.respond("NO", None, "Authenticate first");
                    return self.count_error();
                }
                self.script_command(k, args).await
            }
            _ => {
                self.respond("NO", None, "Unknown command");
                self.count_error()
            }
        }
    }

    /// NOOP with an optional tag echoed back (RFC 5804 §2.13).
    fn noop(&mut self, args: &[Arg]) -> Next {
        match args {
            [] => self.respond("OK", None, "NOOP completed"),
            [Arg::Str(tag)] => {
                let code = format!("TAG {}", quote(&String::from_utf8_lossy(tag)));
                self.respond("OK", Some(&code), "Done");
            }
            _ => {
                self.respond("NO", None, "Syntax: NOOP [tag]");
                return self.count_error();
            }
        }
        Next::Continue
    }

    /// STARTTLS (RFC 5804 §2.2). Plaintext pipelined after it closes the
    /// connection (CVE-2011-0411); after the handshake the capabilities are
    /// sent again.
    async fn starttls(&mut self) -> Next {
        if self.conn.is_tls() {
            self.respond("NO", None, "TLS is already active");
            return Next::Continue;
        }
        if self.account.is_some() {
            self.respond("NO", None, "STARTTLS is not allowed after login");
            return Next::Continue;
        }
        if self.conn.buffered() > 0 {
            tracing::warn!(peer = %self.conn.peer, "ManageSieve: data pipelined after STARTTLS; closing");
            self.respond("BYE", None, "Data pipelined after STARTTLS; closing");
            return Next::Close;
        }
        self.respond("OK", None, "Begin TLS negotiation now");
        if self.conn.flush().await.is_err() {
            return Next::Close;
        }
        let tls = self.app.tls.clone();
        match self.conn.starttls_server(&tls).await {
            Ok(()) => {
                self.capabilities();
                self.respond("OK", None, "TLS negotiation successful");
                Next::Continue
            }
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, error = %e, "ManageSieve: STARTTLS failed");
                Next::Close
            }
        }
    }

    /// AUTHENTICATE "PLAIN" with or without an initial response (RFC 5804
    /// §2.1). The response is never logged.
    async fn authenticate(&mut self, args: Vec<Arg>) -> Next {
        if self.account.is_some() {
            self.respond("NO", None, "Already authenticated");
            return Next::Continue;
        }
        let mut args = args.into_iter();
        let (mech, initial) = match (args.next(), args.next(), args.next()) {
            // The mechanism is a string (RFC 5804); an atom is taken too.
            (Some(Arg::Str(m)), i @ (None | Some(Arg::Str(_))), None) => (m, i),
            (Some(Arg::Atom(m)), i @ (None | Some(Arg::Str(_))), None) => (m.into_bytes(), i),
            _ => {
                self.respond(
                    "NO",
                    None,
                    "Syntax: AUTHENTICATE \"PLAIN\" [initial-response]",
                );
                return self.count_error();
            }
        };
        if !mech.eq_ignore_ascii_case(b"PLAIN") {
            self.respond("NO", None, "Unsupported authentication mechanism");
            return Next::Continue;
        }
        if !self.plaintext_allowed() {
            self.respond(
                "NO",
                Some("ENCRYPT-NEEDED"),
                "Plaintext authentication is disallowed on non-secure connections; use STARTTLS",
            );
            return Next::Continue;
        }
        let response = match initial {
            Some(Arg::Str(i)) => i,
            _ => {
                self.conn.write(b"\"\"\r\n");
                if self.conn.flush().await.is_err() {
                    return Next::Close;
                }
                match self.read_command(MAX_LITERAL_ANON).await {
                    Ok(r) => match <[Arg; 1]>::try_from(r) {
                        Ok([Arg::Str(r)]) => r,
                        _ => {
                            self.respond("NO", None, "Invalid SASL response");
                            return self.count_error();
                        }
                    },
                    Err(ReadError::Conn(_)) => return Next::Close,
                    Err(ReadError::TooBig(_)) => {
                        self.respond("NO", None, "SASL response too long");
                        return Next::Close;
                    }
                    Err(ReadError::Syntax(_)) => {
                        self.respond("NO", None, "Invalid SASL response");
                        return self.count_error();
                    }
                }
            }
        };
        let creds = match sasl::parse_plain_b64(&response) {
            Ok(c) => c,
            Err(SaslError::Cancelled) => {
                self.respond("NO", None, "Authentication cancelled");
                return Next::Continue;
            }
            Err(e) => {
                self.respond("NO", None, &format!("Invalid SASL response: {e}"));
                return self.count_error();
            }
        };
        let req = LoginRequest {
            username: creds.username,
            password: creds.password,
            protocol: Proto::ManageSieve,
            client: self.conn.peer.ip(),
        };
        match login(&self.app, req).await {
            LoginOutcome::Local(account) => {
                tracing::info!(user = %account.address, "ManageSieve login");
                self.account = Some(account);
                self.respond("OK", None, "Logged in");
                Next::Continue
            }
            LoginOutcome::Proxy(account, legacy) => {
                // No legacy ManageSieve to relay to: the session is dropped.
                drop(legacy);
                tracing::info!(user = %account.address, "ManageSieve login while the mailbox is copied: try later");
                self.respond(
                    "NO",
                    Some("TRYLATER"),
                    "your mailbox is being moved; try again in a few minutes",
                );
                Next::Continue
            }
            LoginOutcome::Refused => {
                self.auth_failures += 1;
                self.respond("NO", None, "Authentication failed");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.respond("BYE", None, "Too many failed logins; closing");
                    return Next::Close;
                }
                Next::Continue
            }
            LoginOutcome::Unavailable(text) => {
                self.respond("NO", Some("TRYLATER"), &text);
                Next::Continue
            }
        }
    }
}
