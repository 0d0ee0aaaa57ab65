//! CAPABILITY, LOGOUT (RFC 3501 §6.1), ID (RFC 2971), NAMESPACE (RFC 2342),
//! ENABLE (RFC 5161). State: any (ENABLE, NAMESPACE: authenticated).

use crate::imap::session::{Done, Session, State};

impl Session {
    /// CAPABILITY. RFC 3501 §6.1.1.
    pub(crate) fn cmd_capability(&mut self) -> Done {
        let caps = self.capabilities();
        self.untagged(&format!("CAPABILITY {caps}"));
        Done::Ok("CAPABILITY completed".into())
    }

    /// LOGOUT. RFC 3501 §6.1.3.
    pub(crate) fn cmd_logout(&mut self, _tag: &str) -> Done {
        if let Some(u) = self.user() {
            tracing::debug!(user = %u.account.address, "imap logout");
        }
        self.untagged("BYE Logging out");
        self.state = State::Logout;
        Done::Ok("LOGOUT completed".into())
    }

    /// ID. RFC 2971: we say who we are, and ignore what the client says.
    pub(crate) fn cmd_id(&mut self) -> Done {
        self.untagged(&format!(
            "ID (\"name\" \"ferrymail\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        ));
        Done::Ok("ID completed".into())
    }

    /// NAMESPACE. RFC 2342: one personal namespace, no prefix, `/` separator.
    pub(crate) fn cmd_namespace(&mut self) -> Done {
        self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
        Done::Ok("NAMESPACE completed".into())
    }

    /// ENABLE. RFC 5161; CONDSTORE is the one extension that can be enabled.
    pub(crate) fn cmd_enable(&mut self, caps: Vec<String>) -> Done {
        let mut enabled = Vec::new();
        for c in caps {
            if c == "CONDSTORE" && !enabled.contains(&"CONDSTORE") {
                self.condstore = true;
                enabled.push("CONDSTORE");
            }
            // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
            if c == "QRESYNC" && !enabled.contains(&"QRESYNC") {
                self.condstore = true;
                self.qresync = true;
                enabled.push("QRESYNC");
            }
        }
        let mut line = String::from("ENABLED");
        for e in enabled {
            line.push(' ');
            line.push_str(e);
        }
        self.untagged(&line);
        Done::Ok("ENABLE completed".into())
    }
}
