//! Migration from the legacy server (DESIGN §1–3): the login gate, the per-user
//! registry and switch, the copy engine, the job record, proxying while a copy
//! runs, and the post-migrate hook.

pub mod bandwidth;
pub mod bulk;
pub mod copy;
pub mod entry;
pub mod hook;
pub mod jobs;
pub mod names;
pub mod ops;
pub mod pop3copy;
pub mod proxy;
pub mod registry;
pub mod runtime;

pub use registry::{Phase, Registry};
