//! POP3 server (RFC 1939, with CAPA and response codes of RFC 2449, AUTH of
//! RFC 5034, STLS of RFC 2595). The maildrop is the account's INBOX.

mod maildrop;
mod session;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::app::App;
use crate::config::ListenerSpec;
use crate::server::{Conn, Service};

pub use maildrop::uidl_for;
pub use session::{parse_command, Command, CommandError};

/// The POP3 service plugged into the listeners.
pub struct Pop3Service {
    app: Arc<App>,
    /// Accounts with a session in the TRANSACTION state (RFC 1939 §8: the maildrop
    /// is locked so that two sessions never see a half-deleted maildrop).
    locks: Arc<Mutex<HashSet<i64>>>,
}

impl Pop3Service {
    pub fn new(app: Arc<App>) -> Arc<Pop3Service> {
        Arc::new(Pop3Service {
            app,
            locks: Arc::new(Mutex::new(HashSet::new())),
        })
    }
}

/// Holds an account's maildrop lock; released on drop.
pub(crate) struct MaildropLock {
    locks: Arc<Mutex<HashSet<i64>>>,
    account: i64,
}

impl MaildropLock {
    fn take(locks: &Arc<Mutex<HashSet<i64>>>, account: i64) -> Option<MaildropLock> {
        let mut l = locks.lock().unwrap_or_else(|p| p.into_inner());
        if !l.insert(account) {
            return None;
        }
        Some(MaildropLock {
            locks: locks.clone(),
            account,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.account);
    }
}

impl Service for Pop3Service {
    fn serve(self: Arc<Self>, conn: Conn, listener: ListenerSpec) -> BoxFuture<'static, ()> {
        Box::pin(session::run(self, conn, listener))
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.app.config().pop3.timeout_secs.max(1))
    }
}
