//! A validated script: every command, test and tag known, arguments typed.
//! Built by validate.rs from the syntax tree, run by interp.rs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `i;octet`: exact, byte for byte.
    Octet,
    /// `i;ascii-casemap` (the default): ASCII letters compared without case.
    AsciiCasemap,
    /// `i;ascii-numeric` (RFC 4790 §9.1): the leading digits as a number; a
    /// string without leading digits is larger than every number.
    AsciiNumeric,
}

/// A relation of RFC 5231 `:count` / `:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Is,
    Contains,
    Matches,
    Regex,
    Count(Rel),
    Value(Rel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub cmp: Comparator,
    pub kind: MatchKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrPart {
    All,
    Local,
    Domain,
    /// RFC 5233: the local part before the separator.
    User,
    /// RFC 5233: the local part after the separator.
    Detail,
}

/// RFC 5260 §6 `:index n [:last]`: which occurrence of a header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub n: u64,
    pub last: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// No `:zone`: the zone the caller gives as local.
    Local,
    /// `:zone "+0100"`, in minutes east of UTC.
    Given(i32),
    /// `:originalzone`: the zone written in the header.
    Original,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyTransform {
    Raw,
    Text,
    /// `:content` with its list of MIME types (`text`, `text/html`, `""` for all).
    Content(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Address {
        m: Match,
        part: AddrPart,
        index: Option<Index>,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    Envelope {
        m: Match,
        part: AddrPart,
        fields: Vec<String>,
        keys: Vec<String>,
    },
    Header {
        m: Match,
        index: Option<Index>,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    Exists(Vec<String>),
    Size {
        over: bool,
        limit: u64,
    },
    HasFlag {
        m: Match,
        vars: Vec<String>,
        keys: Vec<String>,
    },
    MailboxExists(Vec<String>),
    String {
        m: Match,
        sources: Vec<String>,
        keys: Vec<String>,
    },
    Body {
        m: Match,
        transform: BodyTransform,
        keys: Vec<String>,
    },
    Date {
        m: Match,
        zone: Zone,
        index: Option<Index>,
        header: String,
        part: String,
        keys: Vec<String>,
    },
    CurrentDate {
        m: Match,
        zone: Zone,
        part: String,
        keys: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

/// RFC 5229 §4.1 modifiers, kept in the order they apply (highest precedence first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    QuoteRegex,
    Length,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacationArgs {
    pub days: Option<u64>,
    pub seconds: Option<u64>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    pub mime: bool,
    pub handle: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `if` / `elsif` branches in order, then the `else` block.
    If(Vec<(Test, Vec<Stmt>)>, Option<Vec<Stmt>>),
    Stop,
    Keep {
        flags: Option<Vec<String>>,
    },
    Discard,
    FileInto {
        mailbox: String,
        flags: Option<Vec<String>>,
        copy: bool,
        create: bool,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    Reject {
        reason: String,
        extended: bool,
    },
    Flags {
        op: FlagOp,
        var: Option<String>,
        flags: Vec<String>,
    },
    Set {
        name: String,
        value: String,
        mods: Vec<Modifier>,
    },
    Vacation(Box<VacationArgs>),
    Include {
        name: String,
        global: bool,
        once: bool,
        optional: bool,
    },
    Return,
    Global(Vec<String>),
}

/// A command and where it is in the script (for runtime errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub line: u32,
    pub col: u32,
    pub cmd: Cmd,
}

/// A compiled script: the checked commands and the extensions it requires.
#[derive(Debug, Clone)]
pub struct Script {
    pub(super) cmds: Vec<Stmt>,
    pub(super) extensions: Vec<String>,
}

impl Script {
    /// The extensions the script requires (lower-cased, in `require` order).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}
