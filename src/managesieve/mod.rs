//! ManageSieve server (RFC 5804): users list, upload, check, activate, rename
//! and delete their Sieve scripts (the store is [`crate::filter::Scripts`];
//! delivery runs the active one). Logins go through the shared login path, so
//! a first login of a user of a migrating domain starts their move; while
//! their mailbox is copied the answer is a temporary failure (there is no
//! legacy ManageSieve session to relay to).

mod commands;
mod parse;
mod session;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::app::App;
use crate::config::ListenerSpec;
use crate::server::{Conn, Service};

pub use parse::{quote, split_line, Arg, LinePart, SyntaxError};

/// The ManageSieve service plugged into the listeners.
pub struct ManageSieveService {
    app: Arc<App>,
}

impl ManageSieveService {
    pub fn new(app: Arc<App>) -> Arc<ManageSieveService> {
        Arc::new(ManageSieveService { app })
    }
}

impl Service for ManageSieveService {
    fn serve(self: Arc<Self>, conn: Conn, listener: ListenerSpec) -> BoxFuture<'static, ()> {
        Box::pin(session::run(self.app.clone(), conn, listener))
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"BYE (TRYLATER) \"Too many connections, try again later\"\r\n"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.app.config().managesieve.timeout_secs.max(1))
    }
}
