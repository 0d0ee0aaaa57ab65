//! The checks of the configuration, which collect every problem instead of
//! stopping at the first one ([`Checker`]), and the typing of `[migration]`.
//!
//! Leaf of `config/`: it knows the file structs (`file.rs`) and the domain types
//! (`domain.rs`), not the `Config` that `load.rs` assembles.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::domain::{
    AdminCredential, AdminMethod, Endpoint, LegacyLogin, Migration, Source, TlsMode, WhileCopying,
};
use super::file::{
    AuthSection, LegacyEndpoint, LogSection, MigrationAdminSection, MigrationSection, ServerFile,
};

/// One problem found in the configuration, tied to the file it is in and,
/// when known, the line and column (1-based) of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The 1-based line and column of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `text` with the lines that `span` touches blanked (spaces, newlines
/// kept): the key is gone, every other offset stays where it was.
fn blank_lines(text: &str, span: std::ops::Range<usize>) -> String {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| span.end.min(text.len()) + i);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.extend(
        text[start..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' }),
    );
    out.push_str(&text[end..]);
    out
}

/// Where key `path` (`a.b.c`) is written: the line of its last part, first
/// found below the table of the others (a good guess, not a parser).
fn key_position(text: &str, path: &str) -> Option<(usize, usize)> {
    let (table, key) = match path.rsplit_once('.') {
        Some((t, k)) => (Some(t), k),
        None => (None, path),
    };
    let from = table
        .and_then(|t| text.find(&format!("[{t}]")))
        .unwrap_or(0);
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        let name = trimmed
            .split(['=', ' ', '\t'])
            .next()
            .unwrap_or("")
            .trim_matches('"');
        if name == key && trimmed[name.len()..].trim_start().starts_with('=')
            || trimmed.starts_with(&format!("\"{key}\"")) && trimmed.contains('=')
        {
            return Some(line_col(text, offset + (line.len() - trimmed.len())));
        }
        offset += line.len();
    }
    None
}

/// Collects problems while reading one file.
pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
    file: PathBuf,
}

impl Checker {
    /// A checker whose problems are tied to `file` until [`Checker::switch_to`].
    pub(super) fn new(file: &Path) -> Checker {
        Checker {
            problems: vec![],
            file: file.to_path_buf(),
        }
    }

    pub(super) fn problem(&mut self, message: impl Into<String>) {
        self.problem_at(None, message);
    }

    /// A problem at a line and column; the same one twice is reported once.
    pub(super) fn problem_at(&mut self, at: Option<(usize, usize)>, message: impl Into<String>) {
        let p = Problem {
            file: self.file.clone(),
            at,
            message: message.into(),
        };
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    pub(super) fn switch_to(&mut self, file: &Path) {
        self.file = file.to_path_buf();
    }

    /// Parses a TOML document into `T`, reporting every unknown key and every
    /// value of the wrong type, each at its line and column: a value that
    /// does not fit is reported, then left out (its default applies) so that
    /// the rest of the file is still checked.
    pub(super) fn parse<T: serde::de::DeserializeOwned>(&mut self, text: &str) -> Option<T> {
        // Syntax first, so that a broken file gives one clear message.
        if let Err(e) = text.parse::<toml::Table>() {
            let at = e.span().map(|s| line_col(text, s.start));
            self.problem_at(at, format!("not valid TOML: {}", one_line(e.message())));
            return None;
        }
        let mut work = text.to_string();
        let mut unknown: Vec<String> = Vec::new();
        // Each round takes one bad value out; a file has few keys.
        for _ in 0..256 {
            let de = toml::Deserializer::new(&work);
            let result: Result<T, _> = serde_ignored::deserialize(de, |path| {
                let p = path.to_string();
                if !unknown.contains(&p) {
                    unknown.push(p);
                }
            });
            match result {
                // With the bad values left out: checked further, the
                // problems above make the whole load fail anyway.
                Ok(v) => {
                    for key in std::mem::take(&mut unknown) {
                        self.unknown_key(text, &key);
                    }
                    return Some(v);
                }
                Err(e) => {
                    let Some(span) = e.span() else {
                        self.problem(one_line(&e.to_string()));
                        break;
                    };
                    self.problem_at(Some(line_col(text, span.start)), one_line(e.message()));
                    let next = blank_lines(&work, span);
                    if next == work {
                        break;
                    }
                    work = next;
                }
            }
        }
        for key in unknown {
            self.unknown_key(text, &key);
        }
        None
    }

    /// An unknown key: where it is written, or the `--set` that named it.
    fn unknown_key(&mut self, text: &str, key: &str) {
        if super::overrides::keys().iter().any(|k| k == key) {
            self.problem(format!("--set {key}: unknown key `{key}`"));
        } else {
            self.problem_at(key_position(text, key), format!("unknown key `{key}`"));
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `p` against `base`, with `.` and `..` folded lexically.
pub(super) fn resolve(base: &Path, p: &Path) -> PathBuf {
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

/// `[log]`: a known format and a filter `tracing` accepts.
pub(super) fn check_log(ck: &mut Checker, log: &LogSection) {
    match log.format.as_str() {
        "text" | "json" => {}
        other => ck.problem(format!("log.format `{other}` is not one of: text, json")),
    }
    if tracing_subscriber::EnvFilter::try_new(&log.level).is_err() {
        ck.problem(format!("log.level `{}` is not a valid filter", log.level));
    }
}

/// `[auth]` limits.
pub(super) fn check_auth(ck: &mut Checker, auth: &AuthSection) {
    if auth.max_username_length == 0 || auth.max_username_length > 1024 {
        ck.problem("auth.max_username_length must be between 1 and 1024");
    }
}

/// Ports used twice among `bound` (address, protocol name): same port on the
/// same address, or on a wildcard address.
pub(super) fn check_ports(ck: &mut Checker, bound: &[(SocketAddr, String)]) {
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
}

/// Size limits of `[imap]` and `[smtp]`, and the `[managesieve]` timeout.
pub(super) fn check_sizes(ck: &mut Checker, server: &ServerFile) {
    if server.imap.append_limit == 0 || server.imap.append_limit > u32::MAX as u64 {
        ck.problem("imap.append_limit must be between 1 and 4294967295");
    }
    if server.imap.max_line_length < 1024 {
        ck.problem("imap.max_line_length must be at least 1024");
    }
    if server.smtp.max_message_size == 0 {
        ck.problem("smtp.max_message_size must be at least 1");
    }
    if server.managesieve.timeout_secs == 0 {
        ck.problem("managesieve.timeout_secs must be at least 1");
    }
}

/// Checks `[migration]` of one domain file and returns it typed, defaults applied.
pub(super) fn check_migration(
    ck: &mut Checker,
    domain: &str,
    base: &Path,
    m: &MigrationSection,
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
    let managesieve = endpoint(
        ck,
        base,
        "managesieve",
        m.managesieve.as_ref(),
        4190,
        4190,
        TlsMode::StartTls,
    );
    if m.enabled {
        // A section without a host was reported above; this is for no section.
        let (needed, have) = match source {
            Source::Imap => ("imap", imap.is_some() || m.imap.is_some()),
            Source::Pop3 => ("pop3", pop3.is_some() || m.pop3.is_some()),
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
    let admin = m.admin.as_ref().and_then(|a| admin_credential(ck, base, a));
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
        managesieve,
        admin,
    }
}

/// `[migration.admin]`: the method, and the password file (present, owner-only,
/// one non-empty line). The password is read here and never printed.
fn admin_credential(
    ck: &mut Checker,
    base: &Path,
    a: &MigrationAdminSection,
) -> Option<AdminCredential> {
    let bad_name = |s: &str| s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace());
    if bad_name(&a.user) {
        ck.problem("migration.admin.user must be a non-empty name without spaces");
    }
    let method = match a.method.as_str() {
        "master" => {
            if a.separator.is_empty() || bad_name(&a.separator) {
                ck.problem("migration.admin.separator must be non-empty, without spaces (method = \"master\")");
            }
            AdminMethod::Master {
                separator: a.separator.clone(),
            }
        }
        "authzid" => AdminMethod::Authzid,
        other => {
            ck.problem(format!(
                "migration.admin.method `{other}` is not one of: master, authzid"
            ));
            return None;
        }
    };
    let file = resolve(base, &a.password_file);
    let password = match read_secret(&file) {
        Ok(p) => p,
        Err(e) => {
            ck.problem(format!(
                "migration.admin.password_file {}: {e}",
                file.display()
            ));
            return None;
        }
    };
    Some(AdminCredential {
        user: a.user.clone(),
        password,
        password_file: file,
        method,
    })
}

/// The first line of a secret file that only its owner may read.
fn read_secret(file: &Path) -> Result<crate::auth::password::Password, String> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if !md.is_file() {
        return Err("not a file".into());
    }
    let mode = md.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets others read it; chmod 600 (owner only)",
            mode & 0o777
        ));
    }
    if md.len() > 4096 {
        return Err("too large for a password file".into());
    }
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let line = text.lines().next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err("empty: the first line must be the password".into());
    }
    if line.contains('\0') {
        return Err("the password contains a NUL byte".into());
    }
    Ok(crate::auth::password::Password::new(line))
}

fn endpoint(
    ck: &mut Checker,
    base: &Path,
    what: &str,
    e: Option<&LegacyEndpoint>,
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

// `[quota]` (crate::config::quota): sizes read, users checked.

fn size(ck: &mut Checker, what: &str, v: &super::file::SizeValue) -> Option<u64> {
    match v {
        super::file::SizeValue::Bytes(b) => Some(*b),
        super::file::SizeValue::Text(t) => match super::quota::parse_size(t) {
            Ok(b) => Some(b),
            Err(e) => {
                ck.problem(format!("{what}: {e}"));
                None
            }
        },
    }
}

/// The server file's `[quota]` (`users` has no meaning there).
pub(super) fn server_quota(ck: &mut Checker, q: &super::file::QuotaSection) -> super::quota::Quota {
    if !q.users.is_empty() {
        ck.problem("quota.users belongs in a domain file (per user of that domain)");
    }
    super::quota::Quota {
        storage: q
            .storage
            .as_ref()
            .and_then(|v| size(ck, "quota.storage", v)),
        messages: q.messages,
    }
}

/// A domain file's `[quota]`.
pub(super) fn domain_quota(
    ck: &mut Checker,
    domain: &str,
    q: &super::file::QuotaSection,
) -> super::quota::DomainQuota {
    let mut users = std::collections::BTreeMap::new();
    for (user, v) in &q.users {
        if user.is_empty() || user.contains('@') || user.chars().any(|c| c.is_whitespace()) {
            ck.problem(format!(
                "domain {domain}: quota.users: `{user}` must be a local part (no @, no spaces)"
            ));
            continue;
        }
        if let Some(b) = size(ck, &format!("domain {domain}: quota.users.{user}"), v) {
            users.insert(user.to_lowercase(), b);
        }
    }
    super::quota::DomainQuota {
        default: super::quota::Quota {
            storage: q
                .storage
                .as_ref()
                .and_then(|v| size(ck, &format!("domain {domain}: quota.storage"), v)),
            messages: q.messages,
        },
        has_storage: q.storage.is_some(),
        has_messages: q.messages.is_some(),
        users,
    }
}
