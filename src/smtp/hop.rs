//! The next hop of a relayed message. A leaf: the routing (`route.rs`), the
//! queue (`queue.rs`), delivery and bounces all name it, and it names none of them.

use serde::{Deserialize, Serialize};

use crate::config::{Endpoint, TlsMode};

/// The next hop of a relayed message, stored in queue entries as it was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls`, `implicit` or `opportunistic`.
    pub tls: String,
    pub verify_certificate: bool,
    pub ca_file: Option<std::path::PathBuf>,
}

impl Hop {
    pub fn from_endpoint(e: &Endpoint) -> Hop {
        Hop {
            host: e.host.clone(),
            port: e.port,
            tls: match e.tls {
                TlsMode::None => "none",
                TlsMode::StartTls => "starttls",
                TlsMode::Implicit => "implicit",
            }
            .into(),
            verify_certificate: e.verify_certificate,
            ca_file: e.ca_file.clone(),
        }
    }

    /// `[submission] relay_host`: STARTTLS when offered, certificate verified.
    pub fn relay_host(host: &str, port: u16) -> Hop {
        Hop {
            host: host.to_string(),
            port,
            tls: "opportunistic".into(),
            verify_certificate: true,
            ca_file: None,
        }
    }
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
