//! Migration from the legacy server (DESIGN §1–3): the login gate, the per-user
//! registry and switch, the copy engine, the job record, and the post-migrate
//! hook. The byte relay used while a copy runs and the bandwidth cap per legacy
//! host live beside the legacy client (`crate::legacy::{relay, bandwidth}`).

pub mod bulk;
pub mod copy;
pub mod entry;
pub mod hook;
pub mod jobs;
pub mod names;
pub mod ops;
pub mod pop3copy;
pub mod registry;
pub mod runtime;

pub use registry::{Phase, Registry};
