//! The plain data types of a mail store: what goes in, what comes out, and
//! the events of the change feed.

use crate::store::blob::StagedBlob;
use crate::store::flags::Flags;

/// Where a message came from; logged, and kept for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestSource {
    Smtp,
    Append,
    Migration,
    Copy,
}

/// Options for a new mailbox. `None` means "choose": a fresh UIDVALIDITY, UIDNEXT 1,
/// HIGHESTMODSEQ 1.
#[derive(Debug, Clone, Default)]
pub struct NewMailbox {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub special_use: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: i64,
    /// UTF-8, `/` as hierarchy separator, `INBOX` for the inbox.
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub special_use: Option<String>,
    /// Number of messages.
    pub exists: u32,
    /// Number of messages without `\Seen`.
    pub unseen: u32,
}

/// The identity of a message on the legacy server, recorded with the copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegacyRef {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// A message to commit with [`super::Mailstore::ingest`].
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub mailbox_id: i64,
    /// A UID chosen by the caller (the copy keeps legacy UIDs); `None`: UIDNEXT.
    pub uid: Option<u32>,
    pub flags: Flags,
    /// INTERNALDATE: seconds since the epoch and the zone offset in minutes.
    pub internaldate: i64,
    pub tz_minutes: i32,
    pub blob: StagedBlob,
    pub legacy: Option<LegacyRef>,
    pub legacy_uidl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub mailbox_id: i64,
    pub uid: u32,
    pub modseq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub id: i64,
    pub uid: u32,
    pub blob: String,
    pub size: u64,
    pub internaldate: i64,
    pub tz_minutes: i32,
    pub flags: Flags,
    pub modseq: u64,
    pub legacy_uidl: Option<String>,
}

/// What changed in a mailbox since a modseq.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Messages added or whose flags changed, by UID.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged.
    pub expunged: Vec<u32>,
    pub highestmodseq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// Result of [`super::Mailstore::store_flags`].
#[derive(Debug, Clone, Default)]
pub struct FlagsResult {
    /// Every message addressed that still exists, with its flags after the change.
    pub messages: Vec<MessageMeta>,
    /// UIDs whose flags really changed.
    pub changed: Vec<u32>,
    /// UIDs not changed because their modseq was above UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// An event of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    Flags {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    Expunged {
        mailbox_id: i64,
        uid: u32,
        modseq: u64,
    },
    /// Mailboxes were created, deleted or renamed.
    Mailboxes,
}

impl Change {
    pub fn mailbox_id(&self) -> Option<i64> {
        match self {
            Change::Added { mailbox_id, .. }
            | Change::Flags { mailbox_id, .. }
            | Change::Expunged { mailbox_id, .. } => Some(*mailbox_id),
            Change::Mailboxes => None,
        }
    }
}
