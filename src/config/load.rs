//! Reading the server file and the domain files, resolving their paths against
//! the folder of the file they are in, and assembling the [`Config`]. Every
//! problem is collected (see `validate.rs`), so one run reports them all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::domain::Domain;
use super::file::{DomainFile, ServerFile, TlsSection};
use super::types::{Config, ListenerSpec, Protocol, TlsFiles};
use super::validate::Problem;
use super::validate::{self, check_migration, parse_host_port, resolve, valid_domain, Checker};

/// How the certificate and key files of `[tls]` are checked: an error text when
/// they do not load.
pub(super) type TlsCheck<'a> = &'a dyn Fn(&Path, &Path) -> Result<(), String>;

/// Reads the server file at `path` and every domain file, and validates them.
pub(super) fn read(path: &Path, check_tls: TlsCheck<'_>) -> Result<Config, Vec<Problem>> {
    let mut ck = Checker::new(path);
    let Some(server) = read_server_file(&mut ck, path) else {
        return Err(ck.problems);
    };
    let base = folder_of(path);
    let hostname = hostname(&mut ck, server.hostname.as_deref());
    validate::check_log(&mut ck, &server.log);
    let tls = tls_files(&mut ck, &base, server.tls.as_ref(), check_tls);
    validate::check_auth(&mut ck, &server.auth);
    let listeners = listeners(&mut ck, &server);
    let admin_listen = admin_listen(&mut ck, server.admin.listen.as_deref());
    let mut bound: Vec<(SocketAddr, String)> = listeners
        .iter()
        .map(|l| (l.addr, l.protocol.name().to_string()))
        .collect();
    if let Some(a) = admin_listen {
        bound.push((a, "admin".into()));
    }
    validate::check_ports(&mut ck, &bound);
    validate::check_sizes(&mut ck, &server);
    let quota = super::validate::server_quota(&mut ck, &server.quota);
    let relay_host = relay_host(&mut ck, server.submission.relay_host.as_deref());

    let data_dir = resolve(&base, &server.data_dir);
    let domains_dir = resolve(&base, &server.domains_dir);
    let domains = load_domains(&mut ck, &domains_dir);
    super::addresses::check_alias_graph(&mut ck, &domains, relay_host.is_some());
    let default_domain = default_domain(
        &mut ck,
        path,
        server.default_domain.as_deref(),
        &domains,
        &domains_dir,
    );

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
        managesieve: server.managesieve,
        smtp: server.smtp,
        submission: server.submission,
        relay_host,
        admin_listen,
        domains,
        listeners,
        quota,
    })
}

/// The server file, parsed; None (with the problems noted) when unusable.
fn read_server_file(ck: &mut Checker, path: &Path) -> Option<ServerFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            ck.problem(format!("cannot read: {e}"));
            return None;
        }
    };
    // `--set` overrides (none in most runs).
    let text = match super::overrides::apply(&text) {
        Ok(t) => t,
        Err(e) => {
            ck.problem(e);
            return None;
        }
    };
    // An easy mistake: a domain file given as the server file.
    if let Ok(t) = text.parse::<toml::Table>() {
        if let Some(domain) = t.get("domain").filter(|_| !t.contains_key("domains_dir")) {
            ck.problem(format!(
                "this is a domain file (domain = {domain}), not the server file: pass the server file \
                 (the one with data_dir and domains_dir, e.g. /etc/ferrymail/ferrymail.toml) with --config"
            ));
            return None;
        }
    }
    ck.parse::<ServerFile>(&text)
}

/// The folder relative paths of the file at `path` are resolved against.
fn folder_of(path: &Path) -> PathBuf {
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    }
}

/// `hostname`, lower-cased; the system's host name when it is not set.
fn hostname(ck: &mut Checker, configured: Option<&str>) -> String {
    match configured {
        Some(h) => {
            if !valid_domain(h) {
                ck.problem(format!("hostname `{h}` is not a valid host name"));
            }
            h.to_ascii_lowercase()
        }
        None => system_hostname(),
    }
}

/// `[tls]`, resolved; both files must exist and load.
fn tls_files(
    ck: &mut Checker,
    base: &Path,
    section: Option<&TlsSection>,
    check_tls: TlsCheck<'_>,
) -> Option<TlsFiles> {
    let t = section.map(|t| TlsFiles {
        cert: resolve(base, &t.cert),
        key: resolve(base, &t.key),
    })?;
    let mut ok = true;
    for (what, p) in [("certificate", &t.cert), ("key", &t.key)] {
        if !p.is_file() {
            ck.problem(format!("tls: {what} file {} does not exist", p.display()));
            ok = false;
        }
    }
    if ok {
        if let Err(e) = check_tls(&t.cert, &t.key) {
            ck.problem(format!("tls: {e}"));
        }
    }
    Some(t)
}

/// The sockets of one protocol section: `listen`, `listen_tls` (none for
/// `[smtp]`) and the connection limits.
struct Sockets<'a> {
    protocol: Protocol,
    listen: &'a [String],
    listen_tls: Option<&'a [String]>,
    max: usize,
    per_ip: usize,
}

/// The sockets of `[imap]`, `[pop3]`, `[managesieve]`, `[smtp]` and `[submission]`, in that order.
fn listeners(ck: &mut Checker, s: &ServerFile) -> Vec<ListenerSpec> {
    let sections = [
        Sockets {
            protocol: Protocol::Imap,
            listen: &s.imap.listen,
            listen_tls: Some(&s.imap.listen_tls),
            max: s.imap.max_connections,
            per_ip: s.imap.max_connections_per_ip,
        },
        Sockets {
            protocol: Protocol::Pop3,
            listen: &s.pop3.listen,
            listen_tls: Some(&s.pop3.listen_tls),
            max: s.pop3.max_connections,
            per_ip: s.pop3.max_connections_per_ip,
        },
        Sockets {
            protocol: Protocol::ManageSieve,
            listen: &s.managesieve.listen,
            listen_tls: None,
            max: s.managesieve.max_connections,
            per_ip: s.managesieve.max_connections_per_ip,
        },
        Sockets {
            protocol: Protocol::Smtp,
            listen: &s.smtp.listen,
            listen_tls: None,
            max: s.smtp.max_connections,
            per_ip: s.smtp.max_connections_per_ip,
        },
        Sockets {
            protocol: Protocol::Submission,
            listen: &s.submission.listen,
            listen_tls: Some(&s.submission.listen_tls),
            max: s.submission.max_connections,
            per_ip: s.submission.max_connections_per_ip,
        },
    ];
    let mut listeners = Vec::new();
    for sec in sections {
        let (protocol, max, per_ip) = (sec.protocol, sec.max, sec.per_ip);
        let keys = [
            ("listen", Some(sec.listen), false),
            ("listen_tls", sec.listen_tls, true),
        ];
        for (key, addrs, implicit_tls) in keys {
            let Some(addrs) = addrs else { continue };
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
        }
    }
    listeners
}

/// `[admin] listen`, parsed.
fn admin_listen(ck: &mut Checker, listen: Option<&str>) -> Option<SocketAddr> {
    let a = listen?;
    match a.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ck.problem(format!(
                "admin.listen: `{a}` is not an address (expected IP:port, like 127.0.0.1:8025)"
            ));
            None
        }
    }
}

/// `[submission] relay_host`, parsed.
fn relay_host(ck: &mut Checker, relay_host: Option<&str>) -> Option<(String, u16)> {
    let h = relay_host?;
    match parse_host_port(h) {
        Some(hp) => Some(hp),
        None => {
            ck.problem(format!("submission.relay_host: `{h}` is not host:port"));
            None
        }
    }
}

/// Reads every `*.toml` of `dir` (sorted) as a domain file.
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
        let Some(df) = ck.parse::<DomainFile>(&text) else {
            continue;
        };
        let name = df.domain.to_ascii_lowercase();
        if !valid_domain(&name) {
            ck.problem(format!("domain `{}` is not a valid domain name", df.domain));
            continue;
        }
        let base = f.parent().unwrap_or(dir).to_path_buf();
        let migration = check_migration(ck, &name, &base, &df.migration);
        let quota = super::validate::domain_quota(ck, &name, &df.quota);
        let addresses = super::addresses::check_addresses(
            ck,
            &name,
            &f,
            &text,
            &base,
            &df.addresses,
            &df.aliases,
        );
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
                addresses: std::sync::Arc::new(addresses),
                quota,
            },
        );
    }
    domains
}

/// `default_domain`, lower-cased; it must have a domain file.
fn default_domain(
    ck: &mut Checker,
    path: &Path,
    configured: Option<&str>,
    domains: &BTreeMap<String, Domain>,
    domains_dir: &Path,
) -> Option<String> {
    let d = configured?.to_ascii_lowercase();
    // A domain file that failed to load was reported already: its domain is
    // not "missing".
    let file = domains_dir.join(format!("{d}.toml"));
    let reported = ck.problems.iter().any(|p| p.file == file);
    ck.switch_to(path);
    if !domains.contains_key(&d) && !reported {
        ck.problem(format!(
            "default_domain `{d}` has no file in {}",
            domains_dir.display()
        ));
    }
    Some(d)
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
