//! Configuration: the server file plus one file per hosted domain.
//!
//! [`load`] reads everything and returns either a fully typed [`Config`] or every
//! problem found, so `check-config` and `serve` report the same list in one run.
//!
//! - `file`: the TOML files as serde sees them.
//! - `load`: reading the files, resolving their paths, assembling [`Config`].
//! - `types`: [`Config`] and its parts.
//! - `validate`: the checks, which report every problem at once ([`Problem`]).
//! - `addresses`: aliases, catch-all, recipient delimiter ([`Addresses`]) and their checks.
//! - `domain`: the typed domain file ([`Domain`], [`Migration`], [`Endpoint`]...).

mod address_table;
pub mod addresses;
mod domain;
pub mod file;
mod load;
pub mod overrides;
pub mod quota;
mod types;
mod validate;
mod warnings;

use std::path::Path;

pub use addresses::Addresses;
pub use domain::{
    AdminCredential, AdminMethod, Domain, Endpoint, LegacyLogin, Migration, Source, TlsMode,
    WhileCopying,
};
pub use file::{
    AuthSection, ImapSection, LogSection, ManageSieveSection, Pop3Section, SmtpSection,
    SubmissionSection,
};
pub use quota::Quota;
pub use types::{Config, ListenerSpec, Protocol, TlsFiles};
pub use validate::{parse_host_port, valid_domain, Problem};

/// Reads the server file at `path` and every domain file, and validates them.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    // The certificate check is handed to the loader from here, so that the
    // loader itself does not name the TLS code (which names `Config`).
    load::read(path, &|cert, key| {
        crate::server::tls::load_files(cert, key).map(drop)
    })
}
