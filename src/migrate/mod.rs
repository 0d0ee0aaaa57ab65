//! Migration from the legacy server: proxying while a copy runs (and, in later
//! modules, the copy engine, delta passes and the switch).

pub mod hook;
pub mod proxy;
