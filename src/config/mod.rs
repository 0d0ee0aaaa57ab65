//! Configuration: the server file plus one file per hosted domain.
//!
//! [`load`] reads everything and returns either a fully typed [`Config`] or every
//! problem found, so `check-config` and `serve` report the same list in one run.

pub mod file;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{AuthSection, ImapSection, LogSection, Pop3Section, SmtpSection, SubmissionSection};

/// One problem found in the configuration, tied to the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

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
}

/// One hosted domain.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub file: PathBuf,
    pub migration: Migration,
}

impl Domain {
    /// True when users of this domain may still be moved from the legacy server.
    pub fn migrating(&self) -> bool {
        self.migration.enabled
    }
}

/// The protocol served on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
    Submission,
    Admin,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
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
    pub smtp: SmtpSection,
    pub submission: SubmissionSection,
    /// `[submission] relay_host`, parsed.
    pub relay_host: Option<(String, u16)>,
    pub admin_listen: Option<SocketAddr>,
    pub domains: BTreeMap<String, Domain>,
    pub listeners: Vec<ListenerSpec>,
}

impl Config {
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.get(&name.to_ascii_lowercase())
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

/// Collects problems while reading one file.
struct Checker {
    problems: Vec<Problem>,
    file: PathBuf,
}

impl Checker {
    fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            message: message.into(),
        });
    }

    fn switch_to(&mut self, file: &Path) {
        self.file = file.to_path_buf();
    }

    /// Parses a TOML document into `T`, reporting every unknown key.
    fn parse<T: serde::de::DeserializeOwned>(&mut self, text: &str) -> Option<T> {
        // Syntax first, so that a broken file gives one clear message.
        if let Err(e) = text.parse::<toml::Table>() {
            self.problem(format!("not valid TOML: {}", one_line(&e.to_string())));
            return None;
        }
        let de = toml::Deserializer::new(text);
        let mut unknown = Vec::new();
        let result: Result<T, _> =
            serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
        for key in unknown {
            self.problem(format!("unknown key `{key}`"));
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(one_line(&e.to_string()));
                None
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `p` against `base`, with `.` and `..` folded lexically.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Reads the server file at `path` and every domain file, and validates them.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let mut ck = Checker {
        problems: vec![],
        file: path.to_path_buf(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            ck.problem(format!("cannot read: {e}"));
            return Err(ck.problems);
        }
    };
    let Some(server) = ck.parse::<file::ServerFile>(&text) else {
        return Err(ck.problems);
    };
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };

    let hostname = match &server.hostname {
        Some(h) => {
            if !valid_domain(h) {
                ck.problem(format!("hostname `{h}` is not a valid host name"));
            }
            h.to_ascii_lowercase()
        }
        None => system_hostname(),
    };

    match server.log.format.as_str() {
        "text" | "json" => {}
        other => ck.problem(format!("log.format `{other}` is not one of: text, json")),
    }
    if tracing_subscriber::EnvFilter::try_new(&server.log.level).is_err() {
        ck.problem(format!(
            "log.level `{}` is not a valid filter",
            server.log.level
        ));
    }

    let tls = server.tls.as_ref().map(|t| TlsFiles {
        cert: resolve(&base, &t.cert),
        key: resolve(&base, &t.key),
    });
    if let Some(t) = &tls {
        let mut ok = true;
        for (what, p) in [("certificate", &t.cert), ("key", &t.key)] {
            if !p.is_file() {
                ck.problem(format!("tls: {what} file {} does not exist", p.display()));
                ok = false;
            }
        }
        if ok {
            if let Err(e) = crate::server::tls::load_files(&t.cert, &t.key) {
                ck.problem(format!("tls: {e}"));
            }
        }
    }

    if server.auth.max_username_length == 0 || server.auth.max_username_length > 1024 {
        ck.problem("auth.max_username_length must be between 1 and 1024");
    }

    // Listeners.
    let mut listeners = Vec::new();
    let mut add = |ck: &mut Checker,
                   protocol: Protocol,
                   key: &str,
                   addrs: &[String],
                   implicit_tls: bool,
                   max: usize,
                   per_ip: usize| {
        if max == 0 {
            ck.problem(format!(
                "{}.max_connections must be at least 1",
                protocol.name()
            ));
        }
        for a in addrs {
            match a.parse::<SocketAddr>() {
                Ok(addr) => listeners.push(ListenerSpec {
                    protocol,
                    addr,
                    implicit_tls,
                    max_connections: max.max(1),
                    max_connections_per_ip: per_ip.max(1),
                }),
                Err(_) => ck.problem(format!(
                    "{}.{key}: `{a}` is not an address (expected IP:port, like 0.0.0.0:143 or [::]:143)",
                    protocol.name()
                )),
            }
        }
    };
    let s = &server;
    add(
        &mut ck,
        Protocol::Imap,
        "listen",
        &s.imap.listen,
        false,
        s.imap.max_connections,
        s.imap.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Imap,
        "listen_tls",
        &s.imap.listen_tls,
        true,
        s.imap.max_connections,
        s.imap.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Pop3,
        "listen",
        &s.pop3.listen,
        false,
        s.pop3.max_connections,
        s.pop3.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Pop3,
        "listen_tls",
        &s.pop3.listen_tls,
        true,
        s.pop3.max_connections,
        s.pop3.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Smtp,
        "listen",
        &s.smtp.listen,
        false,
        s.smtp.max_connections,
        s.smtp.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Submission,
        "listen",
        &s.submission.listen,
        false,
        s.submission.max_connections,
        s.submission.max_connections_per_ip,
    );
    add(
        &mut ck,
        Protocol::Submission,
        "listen_tls",
        &s.submission.listen_tls,
        true,
        s.submission.max_connections,
        s.submission.max_connections_per_ip,
    );

    let admin_listen = match &server.admin.listen {
        Some(a) => match a.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                ck.problem(format!(
                    "admin.listen: `{a}` is not an address (expected IP:port, like 127.0.0.1:8025)"
                ));
                None
            }
        },
        None => None,
    };

    // Ports used twice: same port on the same address, or on a wildcard address.
    let mut bound: Vec<(SocketAddr, String)> = listeners
        .iter()
        .map(|l| (l.addr, l.protocol.name().to_string()))
        .collect();
    if let Some(a) = admin_listen {
        bound.push((a, "admin".into()));
    }
    for i in 0..bound.len() {
        for j in 0..i {
            let (a, b) = (&bound[i], &bound[j]);
            if a.0.port() != 0
                && a.0.port() == b.0.port()
                && (a.0.ip() == b.0.ip() || a.0.ip().is_unspecified() || b.0.ip().is_unspecified())
            {
                ck.problem(format!(
                    "port {} is used twice ({} {} and {} {})",
                    a.0.port(),
                    b.1,
                    b.0,
                    a.1,
                    a.0
                ));
            }
        }
    }

    if server.imap.append_limit == 0 || server.imap.append_limit > u32::MAX as u64 {
        ck.problem("imap.append_limit must be between 1 and 4294967295");
    }
    if server.imap.max_line_length < 1024 {
        ck.problem("imap.max_line_length must be at least 1024");
    }
    if server.smtp.max_message_size == 0 {
        ck.problem("smtp.max_message_size must be at least 1");
    }

    let relay_host = match &server.submission.relay_host {
        Some(h) => match parse_host_port(h) {
            Some(hp) => Some(hp),
            None => {
                ck.problem(format!("submission.relay_host: `{h}` is not host:port"));
                None
            }
        },
        None => None,
    };

    let data_dir = resolve(&base, &server.data_dir);
    let domains_dir = resolve(&base, &server.domains_dir);
    let domains = load_domains(&mut ck, &domains_dir);

    let default_domain = server
        .default_domain
        .as_ref()
        .map(|d| d.to_ascii_lowercase());
    if let Some(d) = &default_domain {
        ck.switch_to(path);
        if !domains.contains_key(d) {
            ck.problem(format!(
                "default_domain `{d}` has no file in {}",
                domains_dir.display()
            ));
        }
    }

    if !ck.problems.is_empty() {
        return Err(ck.problems);
    }
    Ok(Config {
        file: path.to_path_buf(),
        hostname,
        data_dir,
        domains_dir,
        default_domain,
        log: server.log,
        tls,
        auth: server.auth,
        imap: server.imap,
        pop3: server.pop3,
        smtp: server.smtp,
        submission: server.submission,
        relay_host,
        admin_listen,
        domains,
        listeners,
    })
}

fn load_domains(ck: &mut Checker, dir: &Path) -> BTreeMap<String, Domain> {
    let mut domains: BTreeMap<String, Domain> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            ck.problem(format!("domains_dir {}: {e}", dir.display()));
            return domains;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        ck.switch_to(&f);
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                ck.problem(format!("cannot read: {e}"));
                continue;
            }
        };
        let Some(df) = ck.parse::<file::DomainFile>(&text) else {
            continue;
        };
        let name = df.domain.to_ascii_lowercase();
        if !valid_domain(&name) {
            ck.problem(format!("domain `{}` is not a valid domain name", df.domain));
            continue;
        }
        let base = f.parent().unwrap_or(dir).to_path_buf();
        let migration = check_migration(ck, &name, &base, &df.migration);
        if let Some(prev) = domains.get(&name) {
            ck.problem(format!(
                "domain {name} is already defined in {}",
                prev.file.display()
            ));
            continue;
        }
        domains.insert(
            name.clone(),
            Domain {
                name,
                file: f.clone(),
                migration,
            },
        );
    }
    domains
}

fn check_migration(
    ck: &mut Checker,
    domain: &str,
    base: &Path,
    m: &file::MigrationSection,
) -> Migration {
    let source = match m.source.as_str() {
        "imap" => Source::Imap,
        "pop3" => Source::Pop3,
        other => {
            ck.problem(format!(
                "migration.source `{other}` is not one of: imap, pop3"
            ));
            Source::Imap
        }
    };
    let while_copying = match m.while_copying.as_str() {
        "proxy" => WhileCopying::Proxy,
        "wait" => WhileCopying::Wait,
        "reject" => WhileCopying::Reject,
        other => {
            ck.problem(format!(
                "migration.while_copying `{other}` is not one of: proxy, wait, reject"
            ));
            WhileCopying::Proxy
        }
    };
    let legacy_login = match m.legacy_login.as_str() {
        "localpart" => LegacyLogin::LocalPart,
        "address" => LegacyLogin::Address,
        other => {
            ck.problem(format!(
                "migration.legacy_login `{other}` is not one of: localpart, address"
            ));
            LegacyLogin::LocalPart
        }
    };
    if m.max_connections == 0 {
        ck.problem("migration.max_connections must be at least 1");
    }
    if m.timeout_secs == 0 {
        ck.problem("migration.timeout_secs must be at least 1");
    }
    let imap = endpoint(
        ck,
        base,
        "imap",
        m.imap.as_ref(),
        143,
        993,
        TlsMode::StartTls,
    );
    let pop3 = endpoint(
        ck,
        base,
        "pop3",
        m.pop3.as_ref(),
        110,
        995,
        TlsMode::StartTls,
    );
    let smtp = endpoint(ck, base, "smtp", m.smtp.as_ref(), 25, 465, TlsMode::None);
    if m.enabled {
        let (needed, have) = match source {
            Source::Imap => ("imap", imap.is_some()),
            Source::Pop3 => ("pop3", pop3.is_some()),
        };
        if !have {
            ck.problem(format!(
                "domain {domain} is migrating (migration.enabled = true) but has no legacy host: set [migration.{needed}] host"
            ));
        }
        if smtp.is_none() {
            ck.problem(format!(
                "domain {domain} is migrating but has no legacy SMTP host for mail to users not yet moved: set [migration.smtp] host"
            ));
        }
    }
    let post_migrate_hook = m
        .post_migrate_hook
        .as_ref()
        .map(|h| resolve(base, Path::new(h)));
    if let Some(h) = &post_migrate_hook {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(h) {
            Ok(md) if md.is_file() && md.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => ck.problem(format!(
                "migration.post_migrate_hook {} is not an executable file",
                h.display()
            )),
            Err(e) => ck.problem(format!("migration.post_migrate_hook {}: {e}", h.display())),
        }
    }
    Migration {
        enabled: m.enabled,
        source,
        while_copying,
        wait: Duration::from_secs(m.wait_secs),
        serve_locally_within: Duration::from_millis(m.serve_locally_within_ms),
        continuous: m.continuous,
        legacy_login,
        max_connections: m.max_connections.max(1),
        max_bytes_per_sec: (m.max_bytes_per_sec > 0).then_some(m.max_bytes_per_sec),
        timeout: Duration::from_secs(m.timeout_secs.max(1)),
        mark_seen: m.mark_seen,
        post_migrate_hook,
        hook_timeout: Duration::from_secs(m.hook_timeout_secs),
        imap,
        pop3,
        smtp,
    }
}

fn endpoint(
    ck: &mut Checker,
    base: &Path,
    what: &str,
    e: Option<&file::LegacyEndpoint>,
    plain_port: u16,
    tls_port: u16,
    default_tls: TlsMode,
) -> Option<Endpoint> {
    let e = e?;
    let tls = match e.tls.as_deref() {
        None => default_tls,
        Some("none") => TlsMode::None,
        Some("starttls") => TlsMode::StartTls,
        Some("implicit") => TlsMode::Implicit,
        Some(other) => {
            ck.problem(format!(
                "migration.{what}.tls `{other}` is not one of: none, starttls, implicit"
            ));
            default_tls
        }
    };
    let Some(host) = e.host.clone().filter(|h| !h.trim().is_empty()) else {
        ck.problem(format!("[migration.{what}] has no host"));
        return None;
    };
    if host.parse::<std::net::IpAddr>().is_err() && !valid_domain(&host) {
        ck.problem(format!(
            "migration.{what}.host `{host}` is not a host name or IP address"
        ));
    }
    let ca_file = e.ca_file.as_ref().map(|p| resolve(base, p));
    if let Some(p) = &ca_file {
        if !p.is_file() {
            ck.problem(format!(
                "migration.{what}.ca_file {} does not exist",
                p.display()
            ));
        }
    }
    Some(Endpoint {
        host,
        port: e.port.unwrap_or(if tls == TlsMode::Implicit {
            tls_port
        } else {
            plain_port
        }),
        tls,
        verify_certificate: e.verify_certificate,
        ca_file,
    })
}

/// `host:port`, with `[v6]:port` accepted.
pub fn parse_host_port(s: &str) -> Option<(String, u16)> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some((sa.ip().to_string(), sa.port()));
    }
    let (h, p) = s.rsplit_once(':')?;
    let port = p.parse().ok()?;
    if !valid_domain(h) {
        return None;
    }
    Some((h.to_string(), port))
}

/// A DNS name: labels of letters, digits and hyphens, dots between, no empty label.
pub fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
