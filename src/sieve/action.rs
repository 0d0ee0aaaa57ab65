//! What running a script yields and what it needs from its caller: the
//! actions (RFC 5228 §4 and the extensions), the envelope, the limits, and
//! the `Host` trait the caller implements for mailbox and script lookups.

/// One thing to do with the message, in the order the script asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Deliver to INBOX (explicit `keep` or the implicit keep), with these
    /// IMAP flags (RFC 5232).
    Keep { flags: Vec<String> },
    /// Deliver to `mailbox` (UTF-8 name as written in the script); `create`:
    /// create it if it does not exist (RFC 5490 `:create`).
    FileInto {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
    },
    /// Forward to `address`; `copy` (RFC 3894) only tells that the implicit
    /// keep was left alone.
    Redirect { address: String, copy: bool },
    /// The message is thrown away: `discard` ran and nothing keeps it.
    Discard,
    /// Refuse the message (RFC 5429); `extended` for `ereject` (refuse in
    /// the SMTP dialogue when possible).
    Reject { reason: String, extended: bool },
    /// An auto-reply to consider (RFC 5230/6131); whether to send it is the
    /// caller's decision.
    Vacation(Vacation),
}

/// The arguments of a `vacation` action, variables expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// `:handle`; None: the caller derives one (RFC 5230 §4.2).
    pub handle: Option<String>,
    /// `:days` as written (None: the caller's default).
    pub days: Option<u64>,
    /// `:seconds` (RFC 6131) as written.
    pub seconds: Option<u64>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    /// `:mime`: `reason` is a MIME entity, not plain text.
    pub mime: bool,
    pub reason: String,
}

/// The SMTP envelope of the message being delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM; empty for the null reverse-path.
    pub from: String,
    /// The RCPT TO that caused this delivery.
    pub to: String,
}

/// Bounds on a script and on one run of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest script, in bytes.
    pub max_script_size: usize,
    /// Deepest nesting of blocks and tests.
    pub max_depth: usize,
    /// Most commands, tests and comparisons in one run.
    pub max_steps: u64,
    /// Most `redirect`s in one run.
    pub max_redirects: usize,
    /// Most `fileinto`/`keep` actions in one run.
    pub max_actions: usize,
    /// Deepest chain of `include`s.
    pub max_include_depth: usize,
    /// Most variables of one script.
    pub max_variables: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_script_size: 1 << 20,
            max_depth: 32,
            max_steps: 1_000_000,
            max_redirects: 4,
            max_actions: 64,
            max_include_depth: 10,
            max_variables: 1000,
        }
    }
}

/// What the interpreter asks the caller.
pub trait Host {
    /// Whether the user has this mailbox (`mailboxexists`, RFC 5490).
    fn mailbox_exists(&self, _name: &str) -> bool {
        false
    }

    /// The source of script `name` (`include`, RFC 6609): the user's own
    /// (`global` false) or a global one; None when there is none.
    fn load_script(&self, _name: &str, _global: bool) -> Option<Vec<u8>> {
        None
    }
}

/// A Host that knows no mailboxes and no scripts.
pub struct NoHost;

impl Host for NoHost {}

/// Everything a run needs besides the script and the message.
pub struct Context<'a> {
    pub envelope: Envelope,
    /// The current time, seconds since the epoch (`currentdate`).
    pub now: i64,
    /// The local zone, minutes east of UTC (`date` without `:zone`).
    pub zone_minutes: i32,
    /// The subaddress separator (RFC 5233), `+` by default.
    pub separator: String,
    pub host: &'a dyn Host,
    pub limits: Limits,
}

impl<'a> Context<'a> {
    /// A context with default limits, UTC, `+` as separator.
    pub fn new(envelope: Envelope, now: i64, host: &'a dyn Host) -> Context<'a> {
        Context {
            envelope,
            now,
            zone_minutes: 0,
            separator: "+".into(),
            host,
            limits: Limits::default(),
        }
    }
}
