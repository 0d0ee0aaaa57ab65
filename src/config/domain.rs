//! The typed form of a domain file (`domains/<domain>.toml`): the domain, its
//! `[migration]` settings and the legacy endpoints, with defaults applied.
//! Built by `super::validate::check_migration`; nothing here reads files.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::password::Password;

/// How a connection to a legacy server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Imap,
    Pop3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhileCopying {
    Proxy,
    Wait,
    Reject,
}

/// Which name is sent to the legacy server at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyLogin {
    LocalPart,
    Address,
}

/// A legacy server endpoint (`[migration.imap]` and friends), with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub verify_certificate: bool,
    pub ca_file: Option<PathBuf>,
}

/// How the admin credential acts as a user on the legacy server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminMethod {
    /// `LOGIN "alice<separator>migrator"` (Dovecot, Courier master users).
    Master { separator: String },
    /// `AUTHENTICATE PLAIN` with authzid = the user (Cyrus, Zimbra, Dovecot).
    Authzid,
}

/// `[migration.admin]`: the legacy server's master/admin account, for copies
/// without the user's password. Never for checking a user's own login.
#[derive(Debug, Clone)]
pub struct AdminCredential {
    pub user: String,
    /// Read from `password_file` when the configuration is loaded.
    pub password: Password,
    pub password_file: PathBuf,
    pub method: AdminMethod,
}

/// `[migration]` of one domain, typed.
#[derive(Debug, Clone)]
pub struct Migration {
    pub enabled: bool,
    pub source: Source,
    pub while_copying: WhileCopying,
    pub wait: Duration,
    pub serve_locally_within: Duration,
    pub continuous: bool,
    pub legacy_login: LegacyLogin,
    pub max_connections: usize,
    /// Bytes per second for copies from each legacy host; `None`: unlimited.
    pub max_bytes_per_sec: Option<u64>,
    pub timeout: Duration,
    pub mark_seen: bool,
    pub post_migrate_hook: Option<PathBuf>,
    pub hook_timeout: Duration,
    pub imap: Option<Endpoint>,
    pub pop3: Option<Endpoint>,
    pub smtp: Option<Endpoint>,
    /// The legacy ManageSieve server: the copy carries the user's scripts over.
    pub managesieve: Option<Endpoint>,
    pub admin: Option<AdminCredential>,
}

/// One hosted domain.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub file: PathBuf,
    pub migration: Migration,
    /// Aliases, catch-all, recipient delimiter (shared: it may be large).
    pub addresses: std::sync::Arc<super::address_table::Addresses>,
    /// `[quota]` of the domain file.
    pub quota: super::quota::DomainQuota,
}

impl Domain {
    /// True when users of this domain may still be moved from the legacy server.
    pub fn migrating(&self) -> bool {
        self.migration.enabled
    }
}
