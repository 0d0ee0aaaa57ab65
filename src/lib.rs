//! ferrymail: a mail server that moves an organisation off its legacy mail server
//! one user at a time, on each user's first login, keeping UIDs and UIDLs.
//!
//! See `docs/` for the admin guide and DESIGN notes.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod imap;
pub mod legacy;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod migrate;
pub mod mutf7;
pub mod pop3;
pub mod server;
pub mod smtp;
pub mod store;

use std::sync::Arc;

use config::Protocol;
use server::{App, Service};

/// The protocol services of this build.
pub fn services(app: &Arc<App>, protocol: Protocol) -> Option<Arc<dyn Service>> {
    match protocol {
        Protocol::Pop3 => Some(pop3::Pop3Service::new(app.clone())),
        Protocol::Imap => Some(imap::ImapService::new(app.clone())),
        Protocol::Smtp | Protocol::Submission => {
            Some(smtp::SmtpService::new(app.clone(), protocol))
        }
        Protocol::Admin => None,
    }
}
