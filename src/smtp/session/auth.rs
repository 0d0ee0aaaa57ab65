//! AUTH PLAIN and AUTH LOGIN of an SMTP session (RFC 4954, RFC 4616), offered
//! on submission only.

use super::{Next, Session, MAX_AUTH_LINE};
use crate::auth::sasl::{self, SaslError};
use crate::auth::Password;
use crate::login::{login, LoginOutcome, LoginRequest, Proto};
use crate::server::conn::trim_eol;
use crate::server::ConnError;

const MAX_AUTH_FAILURES: u32 = 3;

impl Session {
    /// Reads one line of an AUTH exchange after a `334` challenge.
    async fn auth_line(&mut self, challenge: &str) -> Result<Vec<u8>, Next> {
        self.reply(&format!("334 {challenge}"));
        if self.conn.flush().await.is_err() {
            return Err(Next::Close);
        }
        match self.conn.read_line(MAX_AUTH_LINE).await {
            Ok(l) => Ok(trim_eol(&l).to_vec()),
            Err(ConnError::TooLong) => {
                self.reply("500 5.5.6 Authentication exchange line is too long");
                Err(Next::Continue)
            }
            Err(e) => {
                self.conn_error(e).await;
                Err(Next::Close)
            }
        }
    }

    /// AUTH PLAIN, AUTH LOGIN. RFC 4954, RFC 4616. Submission only.
    pub(super) async fn auth(&mut self, arg: &str) -> Next {
        if !self.submission() {
            self.reply("503 5.5.1 Error: authentication not enabled");
            return self.error_next();
        }
        if self.helo.is_none() || !self.esmtp {
            self.reply("503 5.5.1 Error: send EHLO first");
            return Next::Continue;
        }
        if self.user.is_some() {
            self.reply("503 5.5.1 Error: already authenticated");
            return Next::Continue;
        }
        if self.tx.is_some() {
            self.reply("503 5.5.1 Error: AUTH not permitted during a mail transaction");
            return Next::Continue;
        }
        if !self.auth_offered() {
            self.reply("530 5.7.0 Must issue a STARTTLS command first");
            return Next::Continue;
        }
        let mut parts = arg.split(' ');
        let mech = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next().map(|s| s.as_bytes().to_vec());
        let creds = match mech.as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(r) => r,
                    None => match self.auth_line("").await {
                        Ok(r) => r,
                        Err(n) => return n,
                    },
                };
                sasl::parse_plain_b64(&resp).map(|c| (c.username, c.password))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(r) => sasl::parse_login_step(&r),
                    None => match self.auth_line("VXNlcm5hbWU6").await {
                        Ok(r) => sasl::parse_login_step(&r),
                        Err(n) => return n,
                    },
                };
                match user {
                    Ok(user) => match self.auth_line("UGFzc3dvcmQ6").await {
                        Ok(r) => sasl::parse_login_step(&r).map(|p| (user, Password::new(&p))),
                        Err(n) => return n,
                    },
                    Err(e) => Err(e),
                }
            }
            _ => {
                self.reply("504 5.5.4 Unrecognized authentication type");
                return Next::Continue;
            }
        };
        let (username, password) = match creds {
            Ok(c) => c,
            Err(SaslError::Cancelled) => {
                self.reply("501 5.7.0 Authentication cancelled");
                return Next::Continue;
            }
            Err(_) => {
                self.reply("501 5.5.2 Cannot decode response");
                return self.error_next();
            }
        };
        let req = LoginRequest {
            username,
            password,
            protocol: Proto::Smtp,
            client: self.conn.peer.ip(),
        };
        match login(&self.svc.app, req).await {
            LoginOutcome::Local(account) | LoginOutcome::Proxy(account, _) => {
                tracing::info!(user = %account.address, peer = %self.conn.peer, "SMTP AUTH");
                self.user = Some(account);
                self.reply("235 2.7.0 Authentication successful");
                Next::Continue
            }
            LoginOutcome::Refused => {
                self.auth_failures += 1;
                self.reply("535 5.7.8 Authentication credentials invalid");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.reply("421 4.7.0 Too many failed authentications, closing");
                    return Next::Close;
                }
                Next::Continue
            }
            LoginOutcome::Unavailable(_) => {
                self.reply("454 4.7.0 Temporary authentication failure, try again later");
                Next::Continue
            }
        }
    }
}
