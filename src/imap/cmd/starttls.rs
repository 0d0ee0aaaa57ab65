//! STARTTLS. State: not authenticated. RFC 3501 §6.2.1, RFC 2595.

use crate::imap::session::{Done, Session};
use crate::server::ConnError;

impl Session {
    pub(crate) async fn cmd_starttls(&mut self, tag: &str) -> Done {
        if self.conn.is_tls() {
            return Done::Bad("TLS is already active".into());
        }
        if self.conn.buffered() > 0 {
            // Commands pipelined after STARTTLS would be taken as if they came over
            // TLS (CVE-2011-0411): refuse and close.
            self.conn
                .write(format!("{tag} BAD STARTTLS must be the last command sent in clear\r\n* BYE Closing\r\n").as_bytes());
            return Done::Close;
        }
        self.conn
            .write(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes());
        let tls = self.app.tls.clone();
        match self.conn.starttls_server(&tls).await {
            Ok(()) => Done::Written,
            Err(ConnError::Pipelined) => Done::Close,
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, error = %e, "STARTTLS failed");
                Done::Close
            }
        }
    }
}
