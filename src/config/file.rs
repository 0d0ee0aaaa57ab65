//! The TOML files as serde sees them: the server file and one file per hosted domain.
//!
//! Every struct has documented defaults (see `config/ferrymail.toml` and
//! `config/domains/example.org.toml`, which list every key). Unknown keys are not
//! rejected by serde here: `super::load` collects all of them at once with
//! `serde_ignored`, so one run of `check-config` reports every problem.

use serde::Deserialize;
use std::path::PathBuf;

/// The server file (`ferrymail.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerFile {
    /// Name used in greetings, Received headers and the self-signed certificate.
    pub hostname: Option<String>,
    /// Where all state lives. Relative paths are resolved against the file's folder.
    pub data_dir: PathBuf,
    /// Folder holding one `<domain>.toml` per hosted domain.
    pub domains_dir: PathBuf,
    /// Domain appended to bare user names at login (`alice` -> `alice@default_domain`).
    pub default_domain: Option<String>,
    pub log: LogSection,
    pub tls: Option<TlsSection>,
    pub auth: AuthSection,
    pub imap: ImapSection,
    pub pop3: Pop3Section,
    pub managesieve: ManageSieveSection,
    pub smtp: SmtpSection,
    pub submission: SubmissionSection,
    pub admin: AdminSection,
    /// `[quota]`: the default limits of every user.
    pub quota: QuotaSection,
}

impl Default for ServerFile {
    fn default() -> Self {
        ServerFile {
            hostname: None,
            data_dir: PathBuf::from("/var/lib/ferrymail"),
            domains_dir: PathBuf::from("domains"),
            default_domain: None,
            log: LogSection::default(),
            tls: None,
            auth: AuthSection::default(),
            imap: ImapSection::default(),
            pop3: Pop3Section::default(),
            managesieve: ManageSieveSection::default(),
            smtp: SmtpSection::default(),
            submission: SubmissionSection::default(),
            admin: AdminSection::default(),
            quota: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogSection {
    /// `text` (default) or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `ferrymail=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthSection {
    /// Allow LOGIN / USER+PASS / AUTH on plain connections before STARTTLS.
    pub allow_plaintext: bool,
    /// Longest accepted user name, in bytes.
    pub max_username_length: usize,
    /// Delay after a failed login, doubled per further failure from one client address.
    pub failure_delay_ms: u64,
    /// Cap of that delay.
    pub max_failure_delay_ms: u64,
    /// How long a successful password verification is remembered (as a keyed
    /// hash, in memory) so the user's next logins skip the argon2id check;
    /// 0 turns this off.
    pub credential_cache_secs: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            allow_plaintext: false,
            max_username_length: 255,
            failure_delay_ms: 500,
            max_failure_delay_ms: 15_000,
            credential_cache_secs: 300,
        }
    }
}

/// `[imap]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ImapSection {
    pub listen: Vec<String>,
    pub listen_tls: Vec<String>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_connections_per_user: usize,
    /// Idle timeout between commands, seconds (RFC 3501 §5.4: at least 30 minutes).
    pub timeout_secs: u64,
    /// How long an IDLE may last before the server ends it, seconds.
    pub idle_timeout_secs: u64,
    /// Longest command line (without literals), bytes.
    pub max_line_length: usize,
    /// Largest message accepted by APPEND (advertised as APPENDLIMIT), bytes.
    pub append_limit: u64,
}

impl Default for ImapSection {
    fn default() -> Self {
        ImapSection {
            listen: vec![],
            listen_tls: vec![],
            max_connections: 2000,
            max_connections_per_ip: 50,
            max_connections_per_user: 20,
            timeout_secs: 1800,
            idle_timeout_secs: 1800,
            max_line_length: 64 * 1024,
            append_limit: 50 * 1024 * 1024,
        }
    }
}

/// `[pop3]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Pop3Section {
    pub listen: Vec<String>,
    pub listen_tls: Vec<String>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Inactivity timeout, seconds (RFC 1939 §3: at least 10 minutes).
    pub timeout_secs: u64,
}

impl Default for Pop3Section {
    fn default() -> Self {
        Pop3Section {
            listen: vec![],
            listen_tls: vec![],
            max_connections: 1000,
            max_connections_per_ip: 20,
            timeout_secs: 600,
        }
    }
}

/// `[managesieve]`: RFC 5804, for users to install their Sieve scripts (port 4190).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ManageSieveSection {
    pub listen: Vec<String>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Inactivity timeout, seconds.
    pub timeout_secs: u64,
}

impl Default for ManageSieveSection {
    fn default() -> Self {
        ManageSieveSection {
            listen: vec![],
            max_connections: 200,
            max_connections_per_ip: 10,
            timeout_secs: 600,
        }
    }
}

/// `[smtp]`: the MX role (port 25).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSection {
    pub listen: Vec<String>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Inactivity timeout, seconds (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    pub timeout_secs: u64,
    /// Largest message accepted (advertised as SIZE), bytes.
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// More Received headers than this and the message is refused as a loop.
    pub max_received_headers: usize,
    /// How long a relayed message may wait in the queue before it bounces, seconds.
    pub queue_lifetime_secs: u64,
    /// First retry delay of a relayed message after a temporary failure, seconds;
    /// doubled per attempt up to an hour.
    pub retry_secs: u64,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            listen: vec![],
            max_connections: 500,
            max_connections_per_ip: 20,
            timeout_secs: 300,
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_received_headers: 50,
            queue_lifetime_secs: 5 * 24 * 3600,
            retry_secs: 60,
        }
    }
}

/// `[submission]`: ports 587 (STARTTLS) and 465 (implicit TLS), AUTH required.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SubmissionSection {
    pub listen: Vec<String>,
    pub listen_tls: Vec<String>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Where mail for other domains goes, `host:port`; absent: the sender domain's
    /// legacy SMTP server (`[migration.smtp]`).
    pub relay_host: Option<String>,
}

impl Default for SubmissionSection {
    fn default() -> Self {
        SubmissionSection {
            listen: vec![],
            listen_tls: vec![],
            max_connections: 500,
            max_connections_per_ip: 20,
            relay_host: None,
        }
    }
}

/// `[admin]`: the HTTP status API, metrics and dashboard.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AdminSection {
    pub listen: Option<String>,
}

/// A domain file (`domains/<domain>.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct DomainFile {
    pub domain: String,
    #[serde(default)]
    pub migration: MigrationSection,
    #[serde(default)]
    pub addresses: AddressesSection,
    /// `[aliases]`: local part -> targets (local parts of this domain or addresses).
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, Vec<String>>,
    /// `[quota]`: this domain's limits, per user too.
    #[serde(default)]
    pub quota: QuotaSection,
}

/// `[addresses]`: what happens to local parts that are not accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AddressesSection {
    /// Where mail for unknown local parts goes instead of `550`.
    pub catch_all: Option<String>,
    /// `alice+news@` goes to `alice@` (each character is a delimiter); "" disables.
    pub recipient_delimiter: String,
    /// A Postfix-virtual-like file of more aliases, relative to the domain file.
    pub aliases_file: Option<PathBuf>,
}

impl Default for AddressesSection {
    fn default() -> Self {
        AddressesSection {
            catch_all: None,
            recipient_delimiter: "+".into(),
            aliases_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MigrationSection {
    pub enabled: bool,
    /// `imap` or `pop3`.
    pub source: String,
    /// `proxy`, `wait` or `reject`.
    pub while_copying: String,
    /// How long `wait` holds a login before proxying, seconds.
    pub wait_secs: u64,
    /// How long any first login waits for a small mailbox's copy to finish before
    /// falling back to `while_copying`, milliseconds.
    pub serve_locally_within_ms: u64,
    pub continuous: bool,
    /// `localpart` or `address`.
    pub legacy_login: String,
    /// Concurrent connections ferrymail opens to each legacy host.
    pub max_connections: usize,
    /// Bandwidth cap for copies from each legacy host, bytes per second (0: none).
    pub max_bytes_per_sec: u64,
    /// Timeout of every read from the legacy server, seconds.
    pub timeout_secs: u64,
    /// POP3 source: mark copied messages \Seen.
    pub mark_seen: bool,
    pub post_migrate_hook: Option<String>,
    pub hook_timeout_secs: u64,
    pub imap: Option<LegacyEndpoint>,
    pub pop3: Option<LegacyEndpoint>,
    pub smtp: Option<LegacyEndpoint>,
    /// `[migration.managesieve]`: the legacy ManageSieve server (RFC 5804) the
    /// copy reads the user's Sieve scripts from.
    pub managesieve: Option<LegacyEndpoint>,
    /// `[migration.admin]`: the legacy server's master/admin credential, for
    /// copies without the user's password.
    pub admin: Option<MigrationAdminSection>,
}

/// `[migration.admin]`.
#[derive(Debug, Clone, Deserialize)]
pub struct MigrationAdminSection {
    /// The legacy server's master/admin account.
    pub user: String,
    /// File holding its password (first line), relative to the domain file.
    pub password_file: PathBuf,
    /// `master` (LOGIN "user<separator>admin") or `authzid` (AUTHENTICATE PLAIN
    /// with the user as authorization identity).
    #[serde(default = "master")]
    pub method: String,
    /// For `method = "master"`.
    #[serde(default = "star")]
    pub separator: String,
}

fn master() -> String {
    "master".into()
}

fn star() -> String {
    "*".into()
}

impl Default for MigrationSection {
    fn default() -> Self {
        MigrationSection {
            enabled: false,
            source: "imap".into(),
            while_copying: "proxy".into(),
            wait_secs: 30,
            serve_locally_within_ms: 2000,
            continuous: false,
            legacy_login: "localpart".into(),
            max_connections: 4,
            max_bytes_per_sec: 0,
            timeout_secs: 60,
            mark_seen: false,
            post_migrate_hook: None,
            hook_timeout_secs: 60,
            imap: None,
            pop3: None,
            smtp: None,
            managesieve: None,
            admin: None,
        }
    }
}

/// `[migration.imap]`, `[migration.pop3]`, `[migration.smtp]`, `[migration.managesieve]`.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyEndpoint {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `none`, `starttls` or `implicit`. Default: `starttls` (`none` for SMTP).
    pub tls: Option<String>,
    #[serde(default = "yes")]
    pub verify_certificate: bool,
    /// PEM file of extra trust anchors for the legacy server's certificate.
    pub ca_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// A size as written: bytes, or a text with a unit.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// `[quota]` as serde sees it (server file and domain files).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuotaSection {
    /// Storage per user.
    pub storage: Option<SizeValue>,
    /// Messages per user.
    pub messages: Option<u64>,
    /// Domain file only: storage per user, by local part.
    pub users: std::collections::BTreeMap<String, SizeValue>,
}
