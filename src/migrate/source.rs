//! What a kind of legacy server must offer to be migrated from. The one
//! sequence ([`super::sequence`]) runs any [`Source`]: IMAP
//! ([`super::imap_source`]) and POP3 ([`super::pop3_source`]) today. A new
//! kind is one new file implementing these two traits plus one arm in
//! [`super::sources::open`].

use std::sync::Arc;

use futures::future::BoxFuture;

use super::copy::{Mode, PassReport};
use super::error::Result;
use super::progress::Progress;
use crate::legacy::bandwidth::Bandwidth;
use crate::legacy::Login;
use crate::server::Conn;
use crate::store::Mailstore;

/// A legacy server of one kind, as a domain configures it.
pub trait Source: Send + Sync {
    /// The kind, for logs (`imap`, `pop3`).
    fn kind(&self) -> &'static str;

    /// `host:port` of the server this source reads: the key of its connection
    /// cap, its backoff and its bandwidth budget.
    fn host_key(&self) -> String;

    /// Logs in (as the user, or as the admin acting for the user).
    /// [`super::error::MigrateError::Refused`] when the server says no to the
    /// credentials. Message bodies fetched through the session are charged to
    /// `bandwidth` where the source supports it.
    fn login<'a>(
        &'a self,
        login: &'a Login,
        bandwidth: Option<Arc<Bandwidth>>,
    ) -> BoxFuture<'a, Result<Box<dyn SourceSession>>>;
}

/// A logged-in session on a source, for one migration attempt or pass.
pub trait SourceSession: Send {
    /// Whether the legacy mailbox holds at most `limit` messages (cheaply:
    /// a first login asks it to decide whether to wait for the copy).
    fn at_most(&mut self, limit: u64) -> BoxFuture<'_, Result<bool>>;

    /// One copy pass: `Mirror` before the flip (full copy, delta; legacy UIDs
    /// kept, legacy flag changes and deletions mirrored), `CatchUp` after it
    /// (only new messages, fresh local UIDs). Idempotent: what an earlier pass
    /// committed is skipped. Each committed batch is recorded through `progress`.
    fn pass<'a>(
        &'a mut self,
        ms: &'a Arc<Mailstore>,
        mode: Mode,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<PassReport>>;

    /// During the switch, after the delta pass and before the check: what the
    /// source carries besides messages (IMAP: the legacy POP3 UIDLs). Returns a
    /// note for the job when part of it could not be carried; never fails the
    /// switch.
    fn carry_extras<'a>(
        &'a mut self,
        ms: &'a Arc<Mailstore>,
        address: &'a str,
    ) -> BoxFuture<'a, Option<String>>;

    /// The switch's check that the local store holds what the legacy server
    /// holds. [`super::error::MigrateError::Verification`] names the first
    /// difference.
    fn verify<'a>(&'a mut self, ms: &'a Arc<Mailstore>) -> BoxFuture<'a, Result<()>>;

    /// Whether [`Self::take_imap_connection`] can hand this session over.
    fn is_imap(&self) -> bool {
        false
    }

    /// The logged-in connection with the capabilities after login, for an IMAP
    /// client's session to be relayed on, when this is an IMAP session (the
    /// session is used up then). `None` for other kinds.
    fn take_imap_connection(&mut self) -> Option<(Conn, String)> {
        None
    }

    /// Logs out.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
