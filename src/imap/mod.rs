//! IMAP4rev1 server (RFC 3501) on the local store, with IDLE, UIDPLUS, MOVE,
//! NAMESPACE, ID, ENABLE, UNSELECT, LITERAL+, SPECIAL-USE, CHILDREN, CONDSTORE,
//! APPENDLIMIT and SASL-IR. See docs/imap.md.
//!
//! Layout: [`reader`] frames a command (line plus literals), [`convert`] parses it
//! with imap-codec into our [`proto::Cmd`] (the only module that sees the parser's
//! types), [`session`] holds the state machine and dispatch, [`selected`] the view
//! of the selected mailbox and its updates, `cmd/` one file per command group,
//! [`write`] the response syntax.

pub mod base_subject;
mod cmd;
pub mod convert;
pub mod proto;
pub mod reader;
mod searchres;
mod selected;
mod session;
pub mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::app::App;
use crate::config::ListenerSpec;
use crate::server::{Conn, Service};

/// The IMAP service plugged into the listeners.
pub struct ImapService {
    app: Arc<App>,
    /// Authenticated sessions per account (`max_connections_per_user`).
    users: Arc<Mutex<HashMap<i64, usize>>>,
}

impl ImapService {
    pub fn new(app: Arc<App>) -> Arc<ImapService> {
        Arc::new(ImapService {
            app,
            users: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Takes a place for one more session of `account`, unless it has `max`.
    fn user_slot(&self, account: i64, max: usize) -> Option<UserSlot> {
        let mut m = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(account).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            users: self.users.clone(),
            account,
        })
    }
}

/// One authenticated session's place in the per-user count; released on drop.
pub(crate) struct UserSlot {
    users: Arc<Mutex<HashMap<i64, usize>>>,
    account: i64,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut m = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.account);
            }
        }
    }
}

impl Service for ImapService {
    fn serve(self: Arc<Self>, conn: Conn, listener: ListenerSpec) -> BoxFuture<'static, ()> {
        Box::pin(session::run(self, conn, listener))
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
    }

    fn timeout(&self) -> Duration {
        // RFC 3501 §5.4 asks for at least 30 minutes (the default); a shorter
        // configured value is the admin's choice (see docs/quirks.md).
        Duration::from_secs(self.app.config().imap.timeout_secs.max(1))
    }
}
