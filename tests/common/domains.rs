//! Server and domain files for the tests' configurations: the usual listeners,
//! and a domain migrating from the test legacy server.

use super::legacy::Legacy;

/// `[auth]` line letting clients log in without TLS, as the tests do.
pub const PLAINTEXT: &str = "allow_plaintext = true";

/// A server file: `[auth]` with the lines `auth`, then one listener on port 0 of
/// 127.0.0.1 for each of `listeners` (`imap`, `pop3`, `smtp`, `submission`, or
/// `admin` for the admin API).
pub fn server(auth: &str, listeners: &[&str]) -> String {
    let mut s = format!("[auth]\n{auth}\n");
    for l in listeners {
        if *l == "admin" {
            s.push_str("[admin]\nlisten = \"127.0.0.1:0\"\n");
        } else {
            s.push_str(&format!("[{l}]\nlisten = [\"127.0.0.1:0\"]\n"));
        }
    }
    s
}

/// What a migrating domain's file says beyond its legacy server's address.
pub struct MigratingDomain<'a> {
    /// `[migration] enabled`.
    pub enabled: bool,
    /// More `[migration]` lines: `source = "pop3"`, `timeout_secs = 20`, ...
    pub migration: &'a str,
    /// A `[migration.imap]` section for the legacy IMAP server.
    pub imap: bool,
    /// A `[migration.pop3]` section for the legacy POP3 server.
    pub pop3: bool,
    /// Where IMAP is reached instead of the legacy server's own port (a relay
    /// in front of it).
    pub imap_port: Option<u16>,
    /// `tls` for IMAP and POP3: `starttls` (the certificate not verified, as
    /// Dovecot's is self-signed) or `none`.
    pub tls: &'a str,
    /// `[migration.smtp]` at the legacy Postfix instead of port 25 (nothing
    /// listens there: the tests that do not send mail).
    pub postfix: bool,
}

impl Default for MigratingDomain<'_> {
    fn default() -> Self {
        MigratingDomain {
            enabled: true,
            migration: "",
            imap: true,
            pop3: false,
            imap_port: None,
            tls: "starttls",
            postfix: false,
        }
    }
}

/// The domain file of the legacy server's domain (`example.org`) migrating from
/// `legacy`.
pub fn migrating(legacy: &Legacy, d: MigratingDomain) -> String {
    let endpoint = |name: &str, port: u16| {
        let verify = if d.tls == "starttls" {
            "verify_certificate = false\n"
        } else {
            ""
        };
        format!(
            "\n[migration.{name}]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{}\"\n{verify}",
            d.tls
        )
    };
    let mut s = format!(
        "domain = \"{}\"\n\n[migration]\nenabled = {}\n{}\n",
        legacy.opts.domain, d.enabled, d.migration
    );
    if d.imap {
        s.push_str(&endpoint("imap", d.imap_port.unwrap_or(legacy.imap_port)));
    }
    if d.pop3 {
        s.push_str(&endpoint("pop3", legacy.pop3_port));
    }
    let smtp = if d.postfix {
        legacy.smtp_port.expect("Postfix started")
    } else {
        25
    };
    s.push_str(&format!(
        "\n[migration.smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\n"
    ));
    s
}

/// A `[migration.admin]` section for the legacy Dovecot's master user, its
/// password written to an owner-only file in `dir`. `method`: `master` or
/// `authzid`.
pub fn admin_section(dir: &std::path::Path, method: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("legacy-admin");
    std::fs::write(&file, format!("{}\n", super::legacy::MASTER_PASSWORD)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "\n[migration.admin]\nuser = \"{}\"\npassword_file = \"{}\"\nmethod = \"{method}\"\nseparator = \"*\"\n",
        super::legacy::MASTER_USER,
        file.display()
    )
}
