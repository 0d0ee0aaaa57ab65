//! The validated configuration as the rest of the daemon sees it: [`Config`],
//! its listeners and TLS files. A leaf of `config/` (it names the file structs
//! and the domain types only), so that the loader and the checks can build it
//! without leading back into `config/mod.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::domain::Domain;
use super::file::{
    AuthSection, ImapSection, LogSection, ManageSieveSection, Pop3Section, SmtpSection,
    SubmissionSection,
};

/// The protocol served on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Pop3,
    ManageSieve,
    Smtp,
    Submission,
    Admin,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::ManageSieve => "managesieve",
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Admin => "admin",
        }
    }
}

/// One socket to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub protocol: Protocol,
    pub addr: SocketAddr,
    /// TLS from the first byte (993, 995, 465); otherwise plain with STARTTLS.
    pub implicit_tls: bool,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

/// Certificate and key files, resolved against the config folder.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub hostname: String,
    pub data_dir: PathBuf,
    pub domains_dir: PathBuf,
    pub default_domain: Option<String>,
    pub log: LogSection,
    pub tls: Option<TlsFiles>,
    pub auth: AuthSection,
    pub imap: ImapSection,
    pub pop3: Pop3Section,
    pub managesieve: ManageSieveSection,
    pub smtp: SmtpSection,
    pub submission: SubmissionSection,
    /// `[submission] relay_host`, parsed.
    pub relay_host: Option<(String, u16)>,
    pub admin_listen: Option<SocketAddr>,
    pub domains: BTreeMap<String, Domain>,
    pub listeners: Vec<ListenerSpec>,
    /// `[quota]` of the server file: every user's default limits.
    pub quota: super::quota::Quota,
}

impl Config {
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.get(&name.to_ascii_lowercase())
    }

    /// The quota of the account `address` (`local@domain`).
    pub fn quota_for(&self, address: &str) -> super::quota::Quota {
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        super::quota::resolve(&self.quota, self.domain(domain).map(|d| &d.quota), local)
    }

    /// A warning when the data dir exists and other users may enter or read it
    /// (its files are owner-only anyway; `check-config` and `serve` say it).
    pub fn data_dir_warning(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&self.data_dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the data dir {} is open to other users (mode {mode:o}); chmod 700 it",
                self.data_dir.display()
            )
        })
    }

    /// One line for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        let migrating = self.domains.values().filter(|d| d.migrating()).count();
        format!(
            "configuration OK: {} domain(s) ({} migrating), {} listener(s), data in {}",
            self.domains.len(),
            migrating,
            self.listeners.len(),
            self.data_dir.display()
        )
    }
}
