//! Where the responses of a relayed session begin and end, so that the relay
//! can end the session with a goodbye the client understands (DESIGN §1, the
//! switch): IMAP gets an untagged `* BYE` (RFC 3501 §7.1.5), POP3 a
//! `-ERR [SYS/TEMP]` (RFC 3206) when a command of the client is still
//! unanswered. Either is written only between two responses of the legacy
//! server, never inside a line, an IMAP literal or a POP3 multi-line answer.
//!
//! A few bytes of state per direction, whatever the input. A stream that cannot
//! be followed (IMAP COMPRESS, a flood of pipelined POP3 commands) is given up
//! on: that session is then closed without a goodbye.

use std::collections::VecDeque;

/// How the relay says goodbye when it ends a session itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goodbye {
    /// An untagged `* BYE [UNAVAILABLE] ...`, also in IDLE or while a command runs.
    Imap,
    /// `-ERR [SYS/TEMP] ...` when the client waits for an answer; else a bare close
    /// (a POP3 server may close an idle session).
    Pop3,
}

/// Why the relay ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The user's mailbox is switching to local service.
    Switch,
    /// The daemon is shutting down.
    Shutdown,
}

/// Where the legacy server's side of the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Between two responses: a goodbye may be written.
    At,
    /// Inside a response (a line, a literal, a multi-line answer).
    Inside,
    /// The stream cannot be followed: close without a goodbye.
    Lost,
}

const IMAP_SWITCH: &[u8] =
    b"* BYE [UNAVAILABLE] Your mailbox has been moved to the new mail server; please reconnect\r\n";
const IMAP_SHUTDOWN: &[u8] = b"* BYE [UNAVAILABLE] Server shutting down\r\n";
const POP3_SWITCH: &[u8] =
    b"-ERR [SYS/TEMP] Your mailbox has been moved to the new mail server; please reconnect\r\n";
const POP3_SHUTDOWN: &[u8] = b"-ERR [SYS/TEMP] Server shutting down, try again later\r\n";

/// POP3 commands sent and not yet answered that are followed; more is a flood.
const MAX_OWED: usize = 128;
/// Bytes kept of the start of each client command line.
const HEAD: usize = 64;

/// Both directions of one relayed session, as far as its goodbye needs them.
pub struct Framing {
    proto: Proto,
}

enum Proto {
    Imap {
        up: Lines,
        head: Head,
        down: Lines,
        lost: bool,
    },
    Pop3 {
        head: Head,
        /// Answers the client waits for, oldest first: whether each is
        /// multi-line when it is `+OK`.
        owed: VecDeque<bool>,
        down: Pop3Down,
        lost: bool,
    },
}

impl Framing {
    /// A session just logged in: both sides between two commands/responses.
    pub fn new(goodbye: Goodbye) -> Framing {
        let proto = match goodbye {
            Goodbye::Imap => Proto::Imap {
                up: Lines::new(),
                head: Head::default(),
                down: Lines::new(),
                lost: false,
            },
            Goodbye::Pop3 => Proto::Pop3 {
                head: Head::default(),
                owed: VecDeque::new(),
                down: Pop3Down::Start,
                lost: false,
            },
        };
        Framing { proto }
    }

    /// Bytes the client sent (they are on their way to the legacy server).
    pub fn client(&mut self, bytes: &[u8]) {
        match &mut self.proto {
            Proto::Imap { up, head, lost, .. } => {
                let mut i = 0;
                while i < bytes.len() {
                    if up.literal > 0 {
                        i += up.skip(&bytes[i..]);
                        continue;
                    }
                    let b = bytes[i];
                    i += 1;
                    if !head.done {
                        head.push(b);
                    }
                    match up.byte(b) {
                        Event::Text => {}
                        Event::Literal => head.done = true,
                        Event::LineEnd => {
                            // After `tag COMPRESS DEFLATE` the stream is deflated.
                            if head.word(1).eq_ignore_ascii_case(b"COMPRESS") {
                                *lost = true;
                            }
                            *head = Head::default();
                        }
                    }
                }
            }
            Proto::Pop3 {
                head, owed, lost, ..
            } => {
                for &b in bytes {
                    if b != b'\n' {
                        head.push(b);
                        continue;
                    }
                    if owed.len() >= MAX_OWED {
                        *lost = true;
                    } else {
                        owed.push_back(pop3_multi(head));
                    }
                    *head = Head::default();
                }
            }
        }
    }

    /// Bytes of the legacy server written to the client.
    pub fn legacy(&mut self, bytes: &[u8]) {
        self.advance(bytes, false);
    }

    /// Follows `bytes` of the legacy server up to the first boundary between
    /// two responses (none when already at one); returns how many it took: the
    /// ones to write to the client before a goodbye.
    pub fn legacy_to_boundary(&mut self, bytes: &[u8]) -> usize {
        self.advance(bytes, true)
    }

    pub fn boundary(&self) -> Boundary {
        match &self.proto {
            Proto::Imap { lost: true, .. } | Proto::Pop3 { lost: true, .. } => Boundary::Lost,
            Proto::Imap { down, .. } if down.at_start() => Boundary::At,
            Proto::Pop3 {
                down: Pop3Down::Start,
                ..
            } => Boundary::At,
            _ => Boundary::Inside,
        }
    }

    /// What to write at a boundary before closing, if anything.
    pub fn farewell(&self, why: Why) -> Option<&'static [u8]> {
        if self.boundary() != Boundary::At {
            return None;
        }
        match (&self.proto, why) {
            (Proto::Imap { .. }, Why::Switch) => Some(IMAP_SWITCH),
            (Proto::Imap { .. }, Why::Shutdown) => Some(IMAP_SHUTDOWN),
            (Proto::Pop3 { owed, .. }, _) if owed.is_empty() => None,
            (Proto::Pop3 { .. }, Why::Switch) => Some(POP3_SWITCH),
            (Proto::Pop3 { .. }, Why::Shutdown) => Some(POP3_SHUTDOWN),
        }
    }

    fn advance(&mut self, bytes: &[u8], stop: bool) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            if stop && self.boundary() == Boundary::At {
                return i;
            }
            match &mut self.proto {
                Proto::Imap { down, .. } => {
                    if down.literal > 0 {
                        i += down.skip(&bytes[i..]);
                        continue;
                    }
                    down.byte(bytes[i]);
                }
                Proto::Pop3 { owed, down, .. } => {
                    *down = down.next(bytes[i], owed);
                }
            }
            i += 1;
        }
        i
    }
}

/// What one byte outside a literal did to an IMAP line.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Text,
    /// The line ended with `{n}` (or `~{n}`, `{n+}`): n bytes of literal follow,
    /// then the rest of the line.
    Literal,
    LineEnd,
}

/// One direction of IMAP: lines, and the literals that end a line.
struct Lines {
    /// Literal bytes still to come.
    literal: u64,
    /// At the start of a line, outside a literal.
    start: bool,
    scan: Scan,
}

/// How much of a `{digits[+]}` CRLF line ending has been seen.
#[derive(Clone, Copy)]
enum Scan {
    Nothing,
    Open,
    Digits(u64),
    Close(u64),
    Cr(u64),
}

impl Lines {
    fn new() -> Lines {
        Lines {
            literal: 0,
            start: true,
            scan: Scan::Nothing,
        }
    }

    fn at_start(&self) -> bool {
        self.start && self.literal == 0
    }

    /// Passes over literal bytes at the start of `bytes`; how many.
    fn skip(&mut self, bytes: &[u8]) -> usize {
        let n = usize::try_from(self.literal)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        self.literal -= n as u64;
        n
    }

    fn byte(&mut self, b: u8) -> Event {
        self.start = false;
        if b == b'\n' {
            let scan = std::mem::replace(&mut self.scan, Scan::Nothing);
            return match scan {
                Scan::Close(n) | Scan::Cr(n) => {
                    self.literal = n;
                    Event::Literal
                }
                _ => {
                    self.start = true;
                    Event::LineEnd
                }
            };
        }
        self.scan = match (self.scan, b) {
            (_, b'{') => Scan::Open,
            (Scan::Open, b'0'..=b'9') => Scan::Digits(u64::from(b - b'0')),
            (Scan::Digits(n), b'0'..=b'9') => n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .map_or(Scan::Nothing, Scan::Digits),
            // `{n+}`: a non-synchronizing literal (LITERAL+), from a client.
            (Scan::Digits(n), b'+') => Scan::Digits(n),
            (Scan::Digits(n), b'}') => Scan::Close(n),
            (Scan::Close(n), b'\r') => Scan::Cr(n),
            _ => Scan::Nothing,
        };
        Event::Text
    }
}

/// The first bytes of a command line, the rest dropped.
struct Head {
    bytes: [u8; HEAD],
    len: usize,
    /// IMAP: a literal began; what follows is not the command line's start.
    done: bool,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            bytes: [0; HEAD],
            len: 0,
            done: false,
        }
    }
}

impl Head {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// The `n`th space-separated word (0-based), without the line end.
    fn word(&self, n: usize) -> &[u8] {
        let line = &self.bytes[..self.len];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .nth(n)
            .unwrap_or_default()
    }
}

/// Whether the answer to this POP3 command is multi-line when it is `+OK`
/// (RFC 1939, RFC 2449 CAPA).
fn pop3_multi(head: &Head) -> bool {
    let verb = head.word(0);
    let has_arg = !head.word(1).is_empty();
    let is = |v: &[u8]| verb.eq_ignore_ascii_case(v);
    is(b"RETR") || is(b"TOP") || is(b"CAPA") || ((is(b"LIST") || is(b"UIDL")) && !has_arg)
}

/// Where a POP3 server's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pop3Down {
    /// Between two answers.
    Start,
    /// In the status line (`+OK ...`, `-ERR ...`); a body follows when `multi`.
    Status {
        multi: bool,
    },
    /// In a multi-line body; `start` at the start of one of its lines.
    Body {
        start: bool,
    },
    /// A body line began with `.`: the end (`.` CRLF) or a stuffed line.
    Dot,
    DotCr,
}

impl Pop3Down {
    fn next(self, b: u8, owed: &mut VecDeque<bool>) -> Pop3Down {
        match self {
            Pop3Down::Start => {
                // A line nobody asked for (an autologout notice) is one line.
                let multi = owed.pop_front().unwrap_or(false) && b == b'+';
                if b == b'\n' {
                    Pop3Down::Start
                } else {
                    Pop3Down::Status { multi }
                }
            }
            Pop3Down::Status { multi } => match b {
                b'\n' if multi => Pop3Down::Body { start: true },
                b'\n' => Pop3Down::Start,
                _ => self,
            },
            Pop3Down::Body { start: true } if b == b'.' => Pop3Down::Dot,
            Pop3Down::Body { .. } => Pop3Down::Body { start: b == b'\n' },
            Pop3Down::Dot if b == b'\r' => Pop3Down::DotCr,
            Pop3Down::Dot | Pop3Down::DotCr if b == b'\n' => Pop3Down::Start,
            Pop3Down::Dot | Pop3Down::DotCr => Pop3Down::Body { start: false },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap() -> Framing {
        Framing::new(Goodbye::Imap)
    }

    #[test]
    fn imap_lines_and_literals() {
        let mut f = imap();
        assert_eq!(f.boundary(), Boundary::At);
        f.legacy(b"* 1 FETCH (BODY[] {5}\r\n");
        assert_eq!(f.boundary(), Boundary::Inside);
        // The literal's bytes look like a line end and a literal: they are not.
        f.legacy(b"a\r\n{1");
        assert_eq!(f.boundary(), Boundary::Inside);
        f.legacy(b")\r");
        assert_eq!(f.boundary(), Boundary::Inside);
        f.legacy(b"\n");
        assert_eq!(f.boundary(), Boundary::At);
        assert_eq!(f.farewell(Why::Switch), Some(IMAP_SWITCH));
        // The `{n}` split across reads; literal8 `~{n}`; `{0}`.
        for chunk in [&b"* 2 FETCH (BINARY[] ~{"[..], b"1", b"2}", b"\r", b"\n"] {
            f.legacy(chunk);
        }
        f.legacy(b"0123456789");
        assert_eq!(f.boundary(), Boundary::Inside, "2 bytes of literal left");
        f.legacy(b"ab BODY[1] {0}\r\n");
        assert_eq!(f.boundary(), Boundary::Inside);
        f.legacy(b")\r\n");
        assert_eq!(f.boundary(), Boundary::At);
    }

    #[test]
    fn imap_up_to_the_boundary() {
        let mut f = imap();
        f.legacy(b"* OK [ALERT] half a li");
        let rest = b"ne\r\n* 3 EXISTS\r\n";
        assert_eq!(f.legacy_to_boundary(rest), 4);
        assert_eq!(f.boundary(), Boundary::At);
        assert_eq!(f.legacy_to_boundary(&rest[4..]), 0);
        let mut f = imap();
        f.legacy(b"* 1 FETCH (BODY[] {3}\r\n");
        assert_eq!(f.legacy_to_boundary(b"xy"), 2);
        assert_eq!(f.legacy_to_boundary(b"z)\r\n+ idling\r\n"), 4);
        // A literal too large to count is no literal; no panic.
        let mut f = imap();
        f.legacy(b"* x {99999999999999999999999}\r\n");
        assert_eq!(f.boundary(), Boundary::At);
        f.legacy(b"* x {18446744073709551615}\r\n");
        assert_eq!(f.boundary(), Boundary::Inside);
        assert_eq!(f.farewell(Why::Switch), None);
    }

    #[test]
    fn imap_compress_is_not_followed() {
        let mut f = imap();
        // An APPEND whose literal mentions COMPRESS is still followed.
        f.client(b"a1 APPEND INBOX {20}\r\nx COMPRESS DEFLATE\r\n\r\n");
        assert_eq!(f.boundary(), Boundary::At);
        f.client(b"a2 compress DEFLATE\r\n");
        assert_eq!(f.boundary(), Boundary::Lost);
        assert_eq!(f.farewell(Why::Shutdown), None);
    }

    #[test]
    fn pop3_owed_answers_and_multi_line_ones() {
        let mut f = Framing::new(Goodbye::Pop3);
        assert_eq!(f.farewell(Why::Switch), None, "idle: a bare close");
        f.client(b"LIST\r\nRETR 1\r\nLIST 1\r\nSTAT\r\n");
        assert_eq!(f.farewell(Why::Switch), Some(POP3_SWITCH));
        f.legacy(b"+OK 2 messages\r\n1 120\r\n");
        assert_eq!(f.boundary(), Boundary::Inside);
        f.legacy(b".\r\n");
        assert_eq!(f.boundary(), Boundary::At);
        // A stuffed line and a dot inside a line do not end the body.
        f.legacy(b"+OK\r\n..\r\nx.\r\n.x\r\n");
        let end = b".\r\n+OK 1 120\r\n";
        assert_eq!(f.legacy_to_boundary(end), 3);
        f.legacy(&end[3..]);
        assert_eq!(f.boundary(), Boundary::At);
        assert_eq!(f.farewell(Why::Shutdown), Some(POP3_SHUTDOWN));
        f.legacy(b"+OK 1 120\r\n");
        assert_eq!(f.farewell(Why::Switch), None, "all answered");
        // -ERR to a multi-line command is one line; an unasked line too.
        f.client(b"retr 9\r\n");
        f.legacy(b"-ERR no such message\r\n-ERR Disconnected for inactivity.\r\n");
        assert_eq!(f.boundary(), Boundary::At);
        assert_eq!(f.farewell(Why::Switch), None);
    }

    #[test]
    fn pop3_flood_is_not_followed() {
        let mut f = Framing::new(Goodbye::Pop3);
        for _ in 0..=MAX_OWED {
            f.client(b"NOOP\r\n");
        }
        assert_eq!(f.boundary(), Boundary::Lost);
        assert_eq!(f.farewell(Why::Switch), None);
    }

    #[test]
    fn any_bytes_no_panic() {
        let mut x: u32 = 0x2545_f491;
        for goodbye in [Goodbye::Imap, Goodbye::Pop3] {
            let mut f = Framing::new(goodbye);
            for _ in 0..2000 {
                let mut chunk = Vec::new();
                for _ in 0..(x % 40) {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    chunk.push(b"{}0123456789+~\r\n.-+ OKAPPENDCOMPRESS"[(x % 36) as usize]);
                }
                if x % 2 == 0 {
                    f.client(&chunk);
                } else {
                    let n = f.legacy_to_boundary(&chunk);
                    assert!(n <= chunk.len());
                    f.legacy(&chunk[n..]);
                }
                let _ = f.farewell(Why::Switch);
            }
        }
    }
}
