//! The SMTP service of one role (MX or submission): what every session of a
//! listener shares. Sessions (`session/`) name it; it names no session, so the
//! `Service` glue that starts them is in `mod.rs`.

use std::sync::Arc;

use super::route::ProbeCache;
use crate::app::App;
use crate::config::Protocol;

/// The SMTP service of one role (MX or submission).
pub struct SmtpService {
    pub(super) app: Arc<App>,
    /// Submission: AUTH required before MAIL; mail for other domains relayed out.
    pub(super) submission: bool,
    pub(super) probes: ProbeCache,
}

impl SmtpService {
    pub fn new(app: Arc<App>, protocol: Protocol) -> Arc<SmtpService> {
        Arc::new(SmtpService {
            app,
            submission: protocol == Protocol::Submission,
            probes: ProbeCache::default(),
        })
    }
}
