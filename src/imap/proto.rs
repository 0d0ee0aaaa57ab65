//! The commands of our IMAP server as our own types. The parser's types
//! (imap-codec/imap-types) are turned into these in [`super::convert`] and go no
//! further.

use crate::auth::Password;

/// One end of a sequence-set range: a number or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound {
    Num(u32),
    Star,
}

/// A sequence set (`1:3,7,10:*`), of message numbers or UIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(SeqBound, SeqBound)>);

impl SeqSet {
    /// True when `n` is in the set, `*` standing for `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        self.0.iter().any(|(a, b)| {
            let a = match a {
                SeqBound::Num(x) => *x,
                SeqBound::Star => max,
            };
            let b = match b {
                SeqBound::Num(x) => *x,
                SeqBound::Star => max,
            };
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            lo <= n && n <= hi
        })
    }
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    HighestModSeq,
    /// STATUS=SIZE (RFC 8438): the octets of every message in the mailbox.
    Size,
    /// Items we do not serve (DELETED...): ignored.
    Other,
}

/// The section of `BODY[...]`.
pub use crate::message::{Section, SectionKind};

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Flags,
    InternalDate,
    Rfc822Size,
    Uid,
    Envelope,
    /// BODY (non-extensible BODYSTRUCTURE).
    Body,
    BodyStructure,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// `BODY[section]<partial>` and `BODY.PEEK[...]`.
    BodySection {
        section: Section,
        /// The text of the section as the client wrote it, echoed in the response.
        label: String,
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    ModSeq,
    /// `BINARY[part]<partial>`, `BINARY.PEEK[...]` (RFC 3516): the part with
    /// its Content-Transfer-Encoding undone.
    Binary {
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    /// `BINARY.SIZE[part]`: the size of that.
    BinarySize {
        part: Vec<u32>,
    },
    /// Items not served.
    Unsupported(&'static str),
}

/// The QRESYNC parameter of SELECT/EXAMINE: what the client knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SeqSet>,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    /// Seconds since the epoch and zone offset in minutes.
    pub date: Option<(i64, i32)>,
    pub message: Vec<u8>,
    /// Sent as a literal8 (RFC 3516): may hold NULs.
    pub binary: bool,
    /// CATENATE (RFC 4469): the message is made of these parts.
    pub catenate: Option<Vec<CatPart>>,
}

/// A part of a CATENATE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    /// An IMAP URL (RFC 5092) of a message or part of this account.
    Url(String),
}

/// The ESEARCH result options of `SEARCH RETURN (...)` (RFC 4731).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// SEARCHRES (RFC 5182): keep the result for `$`.
    pub save: bool,
}

/// What SORT orders by (RFC 5256 §3, RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// One SORT criterion: a key, possibly REVERSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub by: SortBy,
}

/// A THREAD algorithm (RFC 5256 §2.1, §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// A SEARCH key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SeqSet(SeqSet),
    Uid(SeqSet),
    All,
    /// A flag that must be set (`ANSWERED`, `KEYWORD x`...).
    Flag(String),
    /// A flag that must not be set (`UNSEEN`, `UNKEYWORD x`...).
    NoFlag(String),
    New,
    Old,
    Recent,
    /// WITHIN (RFC 5032): INTERNALDATE at least this many seconds ago.
    Older(u32),
    /// WITHIN: INTERNALDATE at most this many seconds ago.
    Younger(u32),
    /// Days since the epoch (internal date, in the message's own zone).
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    /// A header field (lower-case name) containing a string.
    Header(String, String),
    Body(String),
    Text(String),
    ModSeq(u64),
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Add,
    Remove,
    Replace,
}

/// LIST and LSUB, with the RFC 5258 / RFC 6154 options we understand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListArgs {
    pub reference: String,
    pub patterns: Vec<String>,
    pub lsub: bool,
    /// Selection options.
    pub select_subscribed: bool,
    pub select_special_use: bool,
    pub recursive_match: bool,
    /// Return options.
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    /// LIST-STATUS (RFC 5819): `RETURN (STATUS (...))`.
    pub return_status: Option<Vec<StatusItem>>,
    /// The extended syntax was used (RFC 5258): answers may carry more attributes.
    pub extended: bool,
}

/// A parsed command.
#[derive(Debug)]
pub enum Cmd {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Login {
        user: String,
        password: Password,
    },
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        /// `(QRESYNC (...))` (RFC 7162 §3.2.5).
        qresync: Option<Qresync>,
    },
    Unselect,
    Create(String),
    Delete(String),
    Rename(String, String),
    Subscribe(String),
    Unsubscribe(String),
    List(ListArgs),
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// APPEND of one message, or several (MULTIAPPEND, RFC 3502).
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    Check,
    Close,
    Expunge {
        uids: Option<SeqSet>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        key: SearchKey,
        /// `RETURN (...)`: answer with ESEARCH (RFC 4731).
        ret: Option<SearchReturn>,
    },
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: String,
        key: SearchKey,
        /// `RETURN (...)`: answer with ESEARCH (ESORT, RFC 5267).
        ret: Option<SearchReturn>,
    },
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        /// `(CHANGEDSINCE m VANISHED)` (QRESYNC, RFC 7162 §3.2.6).
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SeqSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
        is_move: bool,
    },
    Idle,
    /// COMPRESS DEFLATE (RFC 4978).
    Compress,
    Enable(Vec<String>),
    Namespace,
    Id,
    /// GETQUOTA root (RFC 9208): the one root is "".
    GetQuota(String),
    /// GETQUOTAROOT mailbox.
    GetQuotaRoot(String),
    /// SETQUOTA: limits are the administrator's.
    SetQuota,
    /// A command the parser knows but we do not serve.
    Unsupported(&'static str),
}

impl Cmd {
    /// The command's name, for logs and for the state check.
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Capability => "CAPABILITY",
            Cmd::Noop => "NOOP",
            Cmd::Logout => "LOGOUT",
            Cmd::StartTls => "STARTTLS",
            Cmd::Authenticate { .. } => "AUTHENTICATE",
            Cmd::Login { .. } => "LOGIN",
            Cmd::Select {
                read_only: false, ..
            } => "SELECT",
            Cmd::Select {
                read_only: true, ..
            } => "EXAMINE",
            Cmd::Unselect => "UNSELECT",
            Cmd::Create(_) => "CREATE",
            Cmd::Delete(_) => "DELETE",
            Cmd::Rename(..) => "RENAME",
            Cmd::Subscribe(_) => "SUBSCRIBE",
            Cmd::Unsubscribe(_) => "UNSUBSCRIBE",
            Cmd::List(a) if a.lsub => "LSUB",
            Cmd::List(_) => "LIST",
            Cmd::Status { .. } => "STATUS",
            Cmd::Append { .. } => "APPEND",
            Cmd::Check => "CHECK",
            Cmd::Close => "CLOSE",
            Cmd::Expunge { .. } => "EXPUNGE",
            Cmd::Search { .. } => "SEARCH",
            Cmd::Sort { .. } => "SORT",
            Cmd::Thread { .. } => "THREAD",
            Cmd::Fetch { .. } => "FETCH",
            Cmd::Store { .. } => "STORE",
            Cmd::Copy { is_move: false, .. } => "COPY",
            Cmd::Copy { is_move: true, .. } => "MOVE",
            Cmd::Idle => "IDLE",
            Cmd::Compress => "COMPRESS",
            Cmd::Enable(_) => "ENABLE",
            Cmd::Namespace => "NAMESPACE",
            Cmd::Id => "ID",
            Cmd::GetQuota(_) => "GETQUOTA",
            Cmd::GetQuotaRoot(_) => "GETQUOTAROOT",
            Cmd::SetQuota => "SETQUOTA",
            Cmd::Unsupported(n) => n,
        }
    }
}
