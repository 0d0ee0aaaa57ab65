//! The voice of `migrate test`: information lines as the checks go, notes
//! (worth knowing, not in the way of a migration) and problems, one line each
//! saying what to fix. The secrets of the run are masked in every line. Also
//! what opening a legacy connection can stop at, and the fix for each.

use std::time::Duration;

use crate::auth::Password;
use crate::config::{Endpoint, TlsMode};
use crate::legacy::LegacyError;
use crate::server::ConnError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Info,
    Note,
    Problem,
}

/// Where each line goes.
type Sink<'a> = Box<dyn FnMut(Kind, &str) + 'a>;

/// Where the lines go, counting the problems.
pub struct Out<'a> {
    sink: Sink<'a>,
    secrets: Vec<Password>,
    problems: usize,
}

impl<'a> Out<'a> {
    pub fn new(sink: impl FnMut(Kind, &str) + 'a) -> Out<'a> {
        Out {
            sink: Box::new(sink),
            secrets: Vec::new(),
            problems: 0,
        }
    }

    /// A secret that must never be shown: masked as `***` wherever it appears.
    pub fn secret(&mut self, p: &Password) {
        // Shorter ones would mask ordinary words; they are never printed anyway.
        if p.expose().chars().count() >= 3 {
            self.secrets.push(p.clone());
        }
    }

    fn emit(&mut self, kind: Kind, line: &str) {
        let mut line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for s in &self.secrets {
            if line.contains(s.expose()) {
                line = line.replace(s.expose(), "***");
            }
        }
        (self.sink)(kind, &line);
    }

    pub fn info(&mut self, line: impl AsRef<str>) {
        self.emit(Kind::Info, line.as_ref());
    }

    pub fn note(&mut self, line: impl AsRef<str>) {
        self.emit(Kind::Note, line.as_ref());
    }

    /// One problem: what is wrong `->` what to fix.
    pub fn problem(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.problems += 1;
        let line = format!("{} -> {}", what.as_ref(), fix.as_ref());
        self.emit(Kind::Problem, &line);
    }

    pub fn problems(&self) -> usize {
        self.problems
    }
}

/// One legacy server as the configuration names it.
#[derive(Clone, Copy)]
pub struct Server<'e> {
    /// `IMAP`, `POP3`, `SMTP`.
    pub proto: &'static str,
    pub ep: &'e Endpoint,
}

impl Server<'_> {
    /// `legacy IMAP host:port`.
    pub fn name(&self) -> String {
        format!("legacy {} {}:{}", self.proto, self.ep.host, self.ep.port)
    }

    /// `[migration.imap]`.
    pub fn table(&self) -> String {
        format!("[migration.{}]", self.proto.to_ascii_lowercase())
    }

    fn ports(&self) -> (u16, u16) {
        match self.proto {
            "IMAP" => (993, 143),
            "POP3" => (995, 110),
            _ => (465, 25),
        }
    }

    /// What crosses the network without TLS.
    fn in_clear(&self) -> &'static str {
        match self.proto {
            "SMTP" => "relayed mail crosses the network",
            _ => "passwords and mail cross the network",
        }
    }

    /// How the connection is protected, and how its certificate is judged.
    pub fn tls_words(&self) -> String {
        let mode = match self.ep.tls {
            TlsMode::None => {
                return format!("tls = \"none\": no TLS, {} in clear", self.in_clear())
            }
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
        };
        let check = match (&self.ep.ca_file, self.ep.verify_certificate) {
            (_, false) => "certificate not verified".to_string(),
            (Some(ca), true) => format!("certificate verified against {}", ca.display()),
            (None, true) => "certificate verified against the public CAs".to_string(),
        };
        format!("tls = \"{mode}\", {check}")
    }

    /// The problem line for a connection that could not be opened.
    pub fn failed(&self, out: &mut Out<'_>, f: &Failed) {
        let name = self.name();
        let table = self.table();
        let (host, port) = (&self.ep.host, self.ep.port);
        let tls_fix = format!(
            "set tls = \"none\" in {table} ({} in clear then) or enable TLS on the legacy server",
            self.in_clear()
        );
        match f {
            Failed::Connect(d) => out.problem(
                format!("cannot resolve/connect {host}:{port} ({name}): {d}"),
                format!("check host and port in {table}, the DNS, and that the legacy server is reachable from this machine"),
            ),
            Failed::NoStartTls => out.problem(
                format!("{name}: STARTTLS not offered (tls = \"starttls\")"),
                tls_fix,
            ),
            Failed::StartTlsRefused(d) => {
                out.problem(format!("{name}: STARTTLS refused: {d}"), tls_fix)
            }
            Failed::Tls(d) if d.contains("certificate") && self.ep.verify_certificate => {
                out.problem(
                    format!("{name}: TLS certificate not accepted: {d}"),
                    format!("set ca_file to the legacy server's CA in {table} (or verify_certificate = false), or give the legacy server a certificate valid for {host}"),
                )
            }
            Failed::Tls(d) => {
                let (implicit, plain) = self.ports();
                out.problem(
                    format!("{name}: TLS handshake failed: {d}"),
                    format!("check tls in {table}: \"implicit\" for a port that starts with TLS (like {implicit}), \"starttls\" or \"none\" for a plain port (like {plain})"),
                )
            }
            Failed::Protocol(d) => out.problem(
                format!("{name}: {d}"),
                format!("check that {host}:{port} is the legacy {} server ({table})", self.proto),
            ),
        }
    }
}

/// Where opening a connection to a legacy server stopped.
#[derive(Debug)]
pub enum Failed {
    /// Name resolution or TCP connection.
    Connect(String),
    NoStartTls,
    StartTlsRefused(String),
    /// The TLS handshake (certificate checks included).
    Tls(String),
    /// The server's greeting or answers.
    Protocol(String),
}

impl Failed {
    pub fn connect(e: ConnError) -> Failed {
        Failed::Connect(e.to_string())
    }
}

/// The message of a legacy error without the variant's prefix.
pub fn detail(e: &LegacyError) -> String {
    match e {
        LegacyError::Unavailable(m) | LegacyError::Protocol(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A TLS failure from `legacy::start_tls` (`TLS with host: ...`), or what
/// else stopped the upgrade.
pub fn tls_failed(e: &LegacyError) -> Failed {
    let d = detail(e);
    if d.starts_with("STARTTLS refused") {
        return Failed::StartTlsRefused(d.trim_start_matches("STARTTLS refused: ").to_string());
    }
    if d.starts_with("TLS with") || d.starts_with("TLS:") {
        return Failed::Tls(d);
    }
    Failed::Protocol(d)
}

/// What a server said, for display: at most 200 characters.
pub fn said(text: &str) -> String {
    shortened(text, 200)
}

/// A capability list, for display: at most 2000 characters.
pub fn caps(text: &str) -> String {
    shortened(text, 2000)
}

fn shortened(text: &str, max: usize) -> String {
    let t: String = text.trim().chars().take(max).collect();
    if t.len() < text.trim().len() {
        format!("{t}...")
    } else {
        t
    }
}

/// `1234 B`, `12.3 KB`, `4.5 MB`, `1.2 GB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `<1s`, `42s`, `3m 10s`, `2h 05m`, `3d 4h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "<1s".into(),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_formats() {
        let mut lines = Vec::new();
        {
            let mut out = Out::new(|k, l: &str| lines.push((k, l.to_string())));
            out.secret(&Password::new("hunter22"));
            out.secret(&Password::new("ab"));
            out.info("said hunter22\r\nagain");
            out.problem("x", "y");
            assert_eq!(out.problems(), 1);
        }
        assert_eq!(lines[0], (Kind::Info, "said ***  again".to_string()));
        assert_eq!(lines[1], (Kind::Problem, "x -> y".to_string()));
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        assert_eq!(duration(Duration::from_secs(190)), "3m 10s");
        assert_eq!(duration(Duration::from_millis(10)), "<1s");
        assert_eq!(said("é".repeat(300).as_str()).chars().count(), 203);
    }
}
