//! SMTP: the MX (port 25) and submission (587 with STARTTLS, 465 with implicit
//! TLS), with the migration-aware routing of DESIGN §4 and a durable relay queue.
//!
//! - `session`: one connection, ESMTP commands (RFC 5321, 3207, 4954, 6152,
//!   6531, 1870, 2920, 2034).
//! - `address`: paths and parameters, refused relay tricks.
//! - `data`: the DATA phase (dot-stuffing, smuggling, size, loops).
//! - `command`: the verb and argument of a command line.
//! - `service`: what the sessions of one listener share.
//! - `route`: the routing table per recipient and the cached legacy RCPT probe;
//!   `hop`: the next hop of a relayed message.
//! - `aliases`: aliases, delimiter, catch-all and forwards expanded at RCPT;
//!   `srs`: the sender rewriting of forwarded mail; `alias_check`: the checks of
//!   the alias tables against the accounts (`check-config`).
//! - `deliver`: spool, local delivery through the store's ingest path, queueing.
//! - `queue`: the durable relay queue; `claim`: one owner per queue entry;
//!   `relay`: its runner; `dsn`: bounces.

pub mod address;
pub mod alias_check;
pub mod aliases;
mod claim;
mod command;
pub mod data;
pub mod deliver;
mod dsn;
pub mod hop;
pub mod queue;
mod quota_warn;
pub mod relay;
pub mod route;
mod service;
mod session;
pub mod srs;

pub use command::split_command;
pub use service::SmtpService;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::app::App;
use crate::config::ListenerSpec;
use crate::server::{Conn, Service};

impl Service for SmtpService {
    fn serve(self: Arc<Self>, conn: Conn, listener: ListenerSpec) -> BoxFuture<'static, ()> {
        Box::pin(session::run(self, conn, listener))
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"421 4.7.0 Too many connections, try again later\r\n"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.app.config().smtp.timeout_secs.max(1))
    }
}

/// Starts the relay queue runner of the daemon (called once by `daemon::start`).
pub fn start_queue(app: &Arc<App>) {
    deliver::clean_spool(&app.config().data_dir);
    relay::spawn(app);
}
