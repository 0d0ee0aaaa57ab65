//! ferrymail: a mail server that moves an organisation off its legacy mail server
//! one user at a time, on each user's first login, keeping UIDs and UIDLs.
//!
//! See `docs/` for the admin guide and DESIGN notes.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod cli_docs;
pub mod config;
pub mod daemon;
pub mod filter;
pub mod imap;
pub mod legacy;
pub mod logging;
pub mod login;
pub mod managesieve;
pub mod message;
pub mod metrics;
pub mod migrate;
pub mod mutf7;
pub mod pop3;
pub mod server;
pub mod shared;
pub mod sieve;
pub mod smtp;
pub mod store;
