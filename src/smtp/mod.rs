//! SMTP: the MX (port 25) and submission (587 with STARTTLS, 465 with implicit
//! TLS), with the migration-aware routing of DESIGN §4 and a durable relay queue.
//!
//! - `session`: one connection, ESMTP commands (RFC 5321, 3207, 4954, 6152,
//!   6531, 1870, 2920, 2034).
//! - `address`: paths and parameters, refused relay tricks.
//! - `data`: the DATA phase (dot-stuffing, smuggling, size, loops).
//! - `route`: the routing table per recipient and the cached legacy RCPT probe.
//! - `deliver`: spool, local delivery through the store's ingest path, queueing.
//! - `queue`: the durable relay queue and its runner; `dsn`: bounces.

pub mod address;
pub mod data;
pub mod deliver;
mod dsn;
pub mod queue;
pub mod route;
mod session;

pub use session::split_command;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::app::App;
use crate::config::{ListenerSpec, Protocol};
use crate::server::{Conn, Service};

/// The SMTP service of one role (MX or submission).
pub struct SmtpService {
    app: Arc<App>,
    /// Submission: AUTH required before MAIL; mail for other domains relayed out.
    submission: bool,
    probes: route::ProbeCache,
}

impl SmtpService {
    pub fn new(app: Arc<App>, protocol: Protocol) -> Arc<SmtpService> {
        Arc::new(SmtpService {
            app,
            submission: protocol == Protocol::Submission,
            probes: route::ProbeCache::default(),
        })
    }
}

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
    queue::spawn(app);
}
