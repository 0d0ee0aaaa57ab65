//! The migration engine (DESIGN §1–3): one sequence ([`sequence`]) that moves a
//! user's mailbox from any legacy source ([`source`]: [`imap_source`],
//! [`pop3_source`]; chosen in [`sources`]) — copy while the user is proxied,
//! switch, delta, verify, flip, catch-up, hook — with per-user state
//! ([`user`]), the engine's shared state and per-host limits ([`engine`],
//! [`hosts`]), the durable job record ([`jobs`]), typed errors ([`error`]) and
//! the admin's operations ([`ops`], [`bulk`], [`vault`], [`queue`]) and the
//! copy's live progress ([`progress`]), the alias evidence the copy gathers
//! ([`discover`]) and the dry run of `migrate test` ([`probe`]).
//!
//! The engine names nothing above it: the login gate (`crate::login`), the
//! admin API and the daemon call in.

pub mod bulk;
pub mod copy;
pub mod discover;
pub mod engine;
pub mod error;
pub mod hook;
pub mod hosts;
pub mod imap_source;
pub mod jobs;
pub mod names;
pub mod ops;
pub mod pop3_source;
pub mod pop3copy;
pub mod probe;
pub mod progress;
pub mod queue;
pub mod runtime;
pub mod sequence;
pub mod sieve_copy;
pub mod source;
pub mod sources;
pub mod user;
pub mod vault;
