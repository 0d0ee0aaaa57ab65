//! The login gate (DESIGN §2): the one login path used by IMAP
//! LOGIN/AUTHENTICATE, POP3 USER/PASS/AUTH and SMTP AUTH alike. It decides:
//! a local account is checked against its stored hash; a user of a migrating
//! domain without one is checked against the legacy server ([`legacy`]), which
//! starts the migration engine's copy; everyone else is refused. The engine
//! (`crate::migrate`) never calls back up here.

mod legacy;

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::App;
use crate::auth::password::{verify_password_async, Password};
use crate::config::Config;
use crate::server::Conn;
use crate::store::{Account, AccountState};

/// The protocol a login arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Imap,
    Pop3,
    Smtp,
    /// RFC 5804: never proxied; while the copy runs, a temporary failure.
    ManageSieve,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Imap => "imap",
            Proto::Pop3 => "pop3",
            Proto::Smtp => "smtp",
            Proto::ManageSieve => "managesieve",
        }
    }
}

/// A login attempt.
#[derive(Debug)]
pub struct LoginRequest {
    /// The name exactly as the client sent it.
    pub username: String,
    pub password: Password,
    pub protocol: Proto,
    pub client: IpAddr,
}

/// A session on the legacy server, already logged in as the user, for proxying.
pub struct LegacySession {
    pub conn: Conn,
    /// IMAP: the legacy server's capabilities after login (`IMAP4rev1 IDLE ...`),
    /// announced to the client in the tagged OK.
    pub capabilities: Option<String>,
    /// Cancelled when the user's switch to local service needs this proxied
    /// session ended (DESIGN §1: "end their proxied sessions").
    pub end: tokio_util::sync::CancellationToken,
}

/// What the login path decided.
pub enum LoginOutcome {
    /// Authenticated: serve from the local store.
    Local(Account),
    /// Authenticated, and the user's mailbox is being copied: relay the session to
    /// the legacy server (IMAP and POP3 only; SMTP AUTH never gets this).
    Proxy(Account, Box<LegacySession>),
    /// Wrong name or password. The failure delay has already been waited out.
    Refused,
    /// Cannot decide now (legacy server unreachable, copy running with
    /// `while_copying = "reject"`): a temporary failure, with a text for the client.
    Unavailable(String),
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginOutcome::Local(a) => write!(f, "Local({})", a.address),
            LoginOutcome::Proxy(a, _) => write!(f, "Proxy({})", a.address),
            LoginOutcome::Refused => f.write_str("Refused"),
            LoginOutcome::Unavailable(s) => write!(f, "Unavailable({s})"),
        }
    }
}

/// Why a user name is refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty user name")]
    Empty,
    #[error("user name too long")]
    TooLong,
    #[error("forbidden character in user name")]
    Forbidden,
    #[error("no domain in user name and no default_domain")]
    NoDomain,
    #[error("domain not hosted here")]
    NotHosted,
}

/// Turns a login name into a hosted address (`local@domain`, lower-cased), or says
/// why not. The name is data: control characters, spaces, IMAP wildcards, path
/// separators and over-long names are refused before any store or legacy lookup.
pub fn normalize_username(raw: &str, config: &Config) -> Result<String, NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.len() > config.auth.max_username_length {
        return Err(NameError::TooLong);
    }
    if raw.chars().any(|c| {
        c.is_control()
            || c.is_whitespace()
            || matches!(
                c,
                '%' | '*' | '/' | '\\' | '"' | '\'' | '<' | '>' | ',' | ';'
            )
    }) || raw.contains("..")
        || raw.starts_with('.')
    {
        return Err(NameError::Forbidden);
    }
    let (local, domain) = match raw.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), d.to_string()),
        None => (
            raw.to_string(),
            config.default_domain.clone().ok_or(NameError::NoDomain)?,
        ),
    };
    if local.is_empty() || local.contains('@') || local.ends_with('.') {
        return Err(NameError::Forbidden);
    }
    let domain = domain.to_ascii_lowercase();
    if config.domain(&domain).is_none() {
        return Err(NameError::NotHosted);
    }
    Ok(format!("{}@{domain}", local.to_lowercase()))
}

/// One stable log line per failed login, for fail2ban (see docs/security.md):
/// `auth failed: proto=imap client=192.0.2.7 user="alice@example.org" reason=password`
pub fn log_failure(protocol: Proto, client: IpAddr, user: &str, reason: &str) {
    let shown: String = user
        .chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .to_string();
    tracing::warn!(
        "auth failed: proto={} client={} user=\"{}\" reason={}",
        protocol.name(),
        client,
        shown,
        reason
    );
}

/// Answers a failed attempt: logs it and waits out the growing delay. A name
/// that was not checked against a password hash (unknown user or domain) is
/// checked against a dummy one first: every refusal costs one verification.
pub async fn refuse(app: &App, req: &LoginRequest, reason: &str) -> LoginOutcome {
    if matches!(
        reason,
        "unknown-user"
            | "unknown-domain"
            | "no-domain"
            | "bad-name"
            | "no-local-password"
            | "legacy-throttled"
    ) {
        crate::auth::password::verify_nothing(&req.password).await;
    }
    log_failure(req.protocol, req.client, &req.username, reason);
    app.metrics
        .login_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let delay = app.throttle.failure(req.client);
    tokio::time::sleep(delay).await;
    LoginOutcome::Refused
}

/// Replaces an imported legacy hash (SHA512-CRYPT, BLF-CRYPT, ...) with an
/// argon2id one once the password has verified. A failure only leaves the old
/// hash in place.
async fn upgrade_hash(app: &App, account: &Account, password: &Password) {
    if !crate::auth::password::needs_rehash(&account.password_hash) {
        return;
    }
    let hash = crate::auth::password::hash_password_async(password).await;
    match app.store.set_password_hash(account.id, &hash).await {
        Ok(()) => tracing::info!(user = %account.address, "password hash upgraded to argon2id"),
        Err(e) => {
            tracing::warn!(user = %account.address, error = %e, "cannot upgrade the password hash")
        }
    }
}

/// The login path.
pub async fn login(app: &Arc<App>, req: LoginRequest) -> LoginOutcome {
    let config = app.config();
    let address = match normalize_username(&req.username, &config) {
        Ok(a) => a,
        Err(e) => {
            let reason = match e {
                NameError::NotHosted => "unknown-domain",
                NameError::NoDomain => "no-domain",
                _ => "bad-name",
            };
            return refuse(app, &req, reason).await;
        }
    };
    let account = match app.store.account(&address).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(user = %address, error = %e, "account lookup failed");
            return LoginOutcome::Unavailable("internal error, try again later".into());
        }
    };
    match account {
        // Imported, not moved: checked with the legacy server like a user
        // without an account; the login starts the move.
        Some(account) if account.state == AccountState::Pending => {
            match config.domain(&account.domain).filter(|d| d.migrating()) {
                Some(d) => legacy::first_login(app, &req, &address, d).await,
                None => refuse(app, &req, "unknown-user").await,
            }
        }
        Some(account) => {
            let cache_ttl = std::time::Duration::from_secs(config.auth.credential_cache_secs);
            if account.password_hash.is_empty() {
                // Moved by the admin, no local password yet: the legacy server
                // checks this one, which becomes the local password.
                if let Err(outcome) = legacy::adopt_password(app, &req, &account).await {
                    return outcome;
                }
            } else if app.credentials.verified(
                &account.address,
                &account.password_hash,
                &req.password,
                cache_ttl,
            ) {
                app.metrics
                    .credential_cache_hits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else if !verify_password_async(&account.password_hash, &req.password).await {
                return refuse(app, &req, "password").await;
            } else if crate::auth::password::needs_rehash(&account.password_hash) {
                upgrade_hash(app, &account, &req.password).await;
            } else {
                app.credentials.remember(
                    &account.address,
                    &account.password_hash,
                    &req.password,
                    cache_ttl,
                );
            }
            app.throttle.success(req.client);
            match account.state {
                AccountState::Migrated => {
                    // `continuous = true`: bring over what still reaches the legacy
                    // server, on every login until the domain is finished.
                    let continuous = config
                        .domain(&account.domain)
                        .is_some_and(|d| d.migrating() && d.migration.continuous);
                    if continuous {
                        app.migrations.catch_up(&account, &req.password);
                    }
                    LoginOutcome::Local(account)
                }
                AccountState::Local | AccountState::Finished => LoginOutcome::Local(account),
                // Still copying (or given up on): the copy runs (or is restarted)
                // with this password, and the session is proxied, held or refused
                // per `while_copying`; SMTP AUTH gets Local.
                AccountState::Pending | AccountState::Copying | AccountState::Failed => {
                    legacy::copying_login(app, &req, account).await
                }
            }
        }
        None => {
            let domain = address
                .rsplit_once('@')
                .and_then(|(_, d)| config.domain(d))
                .filter(|d| d.migrating());
            match domain {
                Some(d) => legacy::first_login(app, &req, &address, d).await,
                None => refuse(app, &req, "unknown-user").await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(default_domain: Option<&str>) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("domains")).unwrap();
        std::fs::write(
            dir.path().join("domains/a.toml"),
            "domain = \"example.org\"\n",
        )
        .unwrap();
        let dd = default_domain
            .map(|d| format!("default_domain = \"{d}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.path().join("f.toml"),
            format!("data_dir = \"data\"\n{dd}"),
        )
        .unwrap();
        crate::config::load(&dir.path().join("f.toml")).unwrap()
    }

    #[test]
    fn names_are_normalised_or_refused() {
        let c = config(Some("example.org"));
        assert_eq!(
            normalize_username("Alice@Example.ORG", &c).unwrap(),
            "alice@example.org"
        );
        assert_eq!(normalize_username("bob", &c).unwrap(), "bob@example.org");
        for bad in [
            "a\rb",
            "a\nb",
            "a\0b",
            "a b",
            "a%b",
            "a*b",
            "a/b",
            "..",
            "a..b@example.org",
            "\"a\"",
        ] {
            assert_eq!(
                normalize_username(bad, &c),
                Err(NameError::Forbidden),
                "{bad:?}"
            );
        }
        assert_eq!(
            normalize_username(&"x".repeat(256), &c),
            Err(NameError::TooLong)
        );
        assert_eq!(normalize_username("", &c), Err(NameError::Empty));
        assert_eq!(
            normalize_username("a@other.org", &c),
            Err(NameError::NotHosted)
        );
        let c = config(None);
        assert_eq!(normalize_username("bob", &c), Err(NameError::NoDomain));
    }
}
