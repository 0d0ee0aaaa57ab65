//! LOGIN and AUTHENTICATE PLAIN (with SASL-IR, RFC 4959). State: not
//! authenticated. RFC 3501 §6.2.2, §6.2.3.

use crate::auth::sasl::{self, SaslError};
use crate::auth::Password;
use crate::imap::session::{Done, Session, State, User, MAX_AUTH_FAILURES};
use crate::login::{login, LoginOutcome, LoginRequest, Proto};
use crate::server::conn::trim_eol;

impl Session {
    /// LOGIN. RFC 3501 §6.2.3.
    pub(crate) async fn cmd_login(&mut self, tag: &str, user: String, password: Password) -> Done {
        if !self.plaintext_allowed() {
            return Done::No("[PRIVACYREQUIRED] Use STARTTLS first (LOGINDISABLED)".into());
        }
        self.log_in(tag, user, password).await
    }

    /// AUTHENTICATE. RFC 3501 §6.2.2; PLAIN only (RFC 4616), initial response
    /// allowed (SASL-IR).
    pub(crate) async fn cmd_authenticate(
        &mut self,
        tag: &str,
        mechanism: String,
        initial: Option<Vec<u8>>,
    ) -> Done {
        if mechanism != "PLAIN" {
            return Done::No("[CANNOT] Unsupported authentication mechanism".into());
        }
        if !self.plaintext_allowed() {
            return Done::No("[PRIVACYREQUIRED] Use STARTTLS first".into());
        }
        let creds = match initial {
            // imap-codec has already base64-decoded the initial response; `=` is empty.
            Some(raw) => sasl::parse_plain(&raw),
            None => {
                self.conn.write(b"+ \r\n");
                if self.conn.flush().await.is_err() {
                    return Done::Close;
                }
                let max = self.app.config().imap.max_line_length;
                let line = match self.conn.read_line(max).await {
                    Ok(l) => l,
                    Err(crate::server::ConnError::TooLong) => {
                        return Done::Bad("Response too long".into())
                    }
                    Err(_) => return Done::Close,
                };
                sasl::parse_plain_b64(trim_eol(&line))
            }
        };
        match creds {
            Ok(c) => self.log_in(tag, c.username, c.password).await,
            Err(SaslError::Cancelled) => Done::Bad("Authentication cancelled".into()),
            Err(_) => {
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.untagged("BYE Too many authentication failures");
                    return Done::Close;
                }
                Done::Bad("Malformed PLAIN response".into())
            }
        }
    }

    async fn log_in(&mut self, tag: &str, username: String, password: Password) -> Done {
        let req = LoginRequest {
            username,
            password,
            protocol: Proto::Imap,
            client: self.conn.peer.ip(),
        };
        match login(&self.app, req).await {
            LoginOutcome::Local(account) => {
                let max = self.app.config().imap.max_connections_per_user;
                let Some(slot) = self.svc.user_slot(account.id, max) else {
                    tracing::warn!(user = %account.address, "imap: per-user connection limit reached");
                    return Done::No("[LIMIT] Too many connections for this user".into());
                };
                let ms = match self.app.store.mailstore_or_create(account.id).await {
                    Ok(ms) => ms,
                    Err(e) => {
                        tracing::error!(user = %account.address, error = %e, "imap: cannot open the mail store");
                        return Done::No(
                            "[UNAVAILABLE] Mailbox unavailable, try again later".into(),
                        );
                    }
                };
                tracing::info!(user = %account.address, peer = %self.conn.peer, "imap login");
                let rx = ms.subscribe();
                self.state = State::Authenticated(User {
                    account,
                    ms,
                    rx,
                    _slot: slot,
                });
                let caps = self.capabilities();
                Done::Ok(format!("[CAPABILITY {caps}] Logged in"))
            }
            LoginOutcome::Proxy(account, legacy) => {
                tracing::info!(user = %account.address, "imap login proxied to the legacy server while the copy runs");
                let caps = legacy
                    .capabilities
                    .clone()
                    .unwrap_or_else(|| "IMAP4rev1".into());
                self.conn
                    .write(format!("{tag} OK [CAPABILITY {caps}] Logged in\r\n").as_bytes());
                Done::Proxy(legacy)
            }
            LoginOutcome::Refused => {
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.conn.write(
                        format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n* BYE Too many authentication failures\r\n")
                            .as_bytes(),
                    );
                    return Done::Close;
                }
                Done::No("[AUTHENTICATIONFAILED] Authentication failed".into())
            }
            LoginOutcome::Unavailable(text) => Done::No(format!("[UNAVAILABLE] {text}")),
        }
    }
}
