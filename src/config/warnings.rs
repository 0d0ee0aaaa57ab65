//! Settings that are valid but risky: `check-config` prints them (and exits 0
//! when they are all there is), `serve` logs them at start and on reload.

use super::domain::{Endpoint, TlsMode};
use super::types::Config;

impl Config {
    /// Every warning about this configuration, one line each.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(d) = self.data_dir_warning() {
            w.push(d);
        }
        for d in self.domains.values() {
            let m = &d.migration;
            let legs: [(&str, Option<&Endpoint>); 3] = [
                ("IMAP", m.imap.as_ref()),
                ("POP3", m.pop3.as_ref()),
                ("SMTP", m.smtp.as_ref()),
            ];
            for (what, e) in legs {
                let Some(e) = e else { continue };
                let file = d.file.display();
                if e.tls == TlsMode::None && what != "SMTP" && !is_loopback_host(&e.host) {
                    w.push(format!(
                        "{file}: domain {}: the legacy {what} connection to {}:{} is not encrypted (tls = \"none\"): users' passwords cross the network in clear",
                        d.name, e.host, e.port
                    ));
                }
                if e.tls != TlsMode::None && !e.verify_certificate {
                    w.push(format!(
                        "{file}: domain {}: the legacy {what} server's certificate is not verified (verify_certificate = false): anyone on the path can pose as it",
                        d.name
                    ));
                }
            }
        }
        let file = self.file.display();
        if self.auth.allow_plaintext {
            for l in self.listeners.iter().filter(|l| !l.addr.ip().is_loopback()) {
                if !l.implicit_tls {
                    w.push(format!(
                        "{file}: [auth] allow_plaintext = true and {} listens on {} (not loopback): passwords may cross the network in clear",
                        l.protocol.name(),
                        l.addr
                    ));
                }
            }
        }
        if let Some(a) = self.admin_listen.filter(|a| !a.ip().is_loopback()) {
            w.push(format!(
                "{file}: [admin] listen {a} is not a loopback address: the admin API (plain HTTP, token) is reachable from the network"
            ));
        }
        w
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
