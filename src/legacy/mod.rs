//! Clients of the legacy server: IMAP (login check, proxied sessions, the copy)
//! and POP3 (login check, proxied sessions, the copy), the per-host bandwidth
//! limiter of the copies ([`bandwidth`]) and the byte relay of proxied sessions
//! ([`relay`], which ends them with a goodbye at a response boundary:
//! [`framing`]). TLS modes `none | starttls | implicit`; the password is never
//! sent in clear when TLS was asked for.

pub mod bandwidth;
pub mod framing;
pub mod imap;
pub mod managesieve;
pub mod pop3;
pub mod relay;

use std::time::Duration;

use crate::auth::Password;
use crate::config::{AdminCredential, AdminMethod, Endpoint, TlsMode};
use crate::server::{Conn, ConnError};

/// Why talking to the legacy server failed.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The legacy server said no to these credentials.
    #[error("credentials refused by the legacy server")]
    Refused,
    /// Cannot decide now: unreachable, timed out, TLS failed, temporary NO.
    #[error("legacy server unavailable: {0}")]
    Unavailable(String),
    /// The server answered something we cannot use.
    #[error("legacy protocol error: {0}")]
    Protocol(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl From<ConnError> for LegacyError {
    fn from(e: ConnError) -> Self {
        LegacyError::Unavailable(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LegacyError>;

/// Who logs in to a legacy server: the user with their own password, or the
/// domain's admin credential acting for the user (`[migration.admin]`).
#[derive(Clone)]
pub struct Login {
    /// The name that authenticates: `alice`, `alice*migrator` (master
    /// method) or `migrator` (authzid method).
    pub authcid: String,
    /// The user acted for, sent as the SASL PLAIN authorization identity
    /// (authzid method); a login with one needs AUTHENTICATE PLAIN / AUTH PLAIN.
    pub authzid: Option<String>,
    pub password: Password,
    /// The address of the client whose login this is, told to an IMAP server
    /// that offers ID (`x-originating-ip`, RFC 2971): with ferrymail in its
    /// `login_trusted_networks`, Dovecot applies its brute-force penalty and
    /// logs per real client instead of per ferrymail.
    pub client: Option<std::net::IpAddr>,
}

impl Login {
    /// The user's own login.
    pub fn user(user: &str, password: &Password) -> Login {
        Login {
            authcid: user.to_string(),
            authzid: None,
            password: password.clone(),
            client: None,
        }
    }

    /// The same login, made on behalf of a client at `ip`.
    pub fn from(self, ip: std::net::IpAddr) -> Login {
        Login {
            client: Some(ip),
            ..self
        }
    }

    /// The admin credential acting for `user` (the legacy login name).
    pub fn admin(user: &str, admin: &AdminCredential) -> Login {
        match &admin.method {
            AdminMethod::Master { separator } => Login {
                authcid: format!("{user}{separator}{}", admin.user),
                authzid: None,
                password: admin.password.clone(),
                client: None,
            },
            AdminMethod::Authzid => Login {
                authcid: admin.user.clone(),
                authzid: Some(user.to_string()),
                password: admin.password.clone(),
                client: None,
            },
        }
    }

    /// The SASL PLAIN message (RFC 4616), base64-encoded, itself a secret.
    pub fn plain_b64(&self) -> Password {
        use base64::Engine;
        let mut raw = Vec::new();
        raw.extend_from_slice(self.authzid.as_deref().unwrap_or("").as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.authcid.as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.password.expose().as_bytes());
        let b64 = Password::new(base64::engine::general_purpose::STANDARD.encode(&raw));
        raw.iter_mut().for_each(|b| *b = 0);
        b64
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("authcid", &self.authcid)
            .field("authzid", &self.authzid)
            .field("client", &self.client)
            .field("password", &"***")
            .finish()
    }
}

/// Opens a TCP connection to `ep`, with TLS right away for `tls = "implicit"`.
/// STARTTLS is the protocol client's job (it must read the capabilities first).
pub async fn connect(ep: &Endpoint, timeout: Duration) -> Result<Conn> {
    let mut conn = Conn::connect(&ep.host, ep.port, timeout)
        .await
        .map_err(|e| LegacyError::Unavailable(format!("{}:{}: {e}", ep.host, ep.port)))?;
    if ep.tls == TlsMode::Implicit {
        start_tls(&mut conn, ep).await?;
    }
    Ok(conn)
}

/// The TLS handshake with certificate checks as the endpoint asks. Bytes the
/// server sent before it are discarded by [`Conn::starttls_client`].
pub async fn start_tls(conn: &mut Conn, ep: &Endpoint) -> Result<()> {
    let cfg = crate::server::tls::client_config(ep.verify_certificate, ep.ca_file.as_deref())
        .map_err(LegacyError::Unavailable)?;
    conn.starttls_client(cfg, &ep.host)
        .await
        .map_err(|e| LegacyError::Unavailable(format!("TLS with {}: {e}", ep.host)))
}

/// `host:port`, the key of the per-host connection cap.
pub fn host_key(ep: &Endpoint) -> String {
    format!("{}:{}", ep.host.to_ascii_lowercase(), ep.port)
}
