//! A small IMAP4rev1 client for the legacy server (RFC 3501), written for two
//! jobs: the login check (whose connection may become a proxied session) and the
//! copy. Our own reader rather than async-imap, so that message literals are
//! streamed straight into message files (bounded memory whatever the size) and
//! one `UID FETCH` can stream a whole folder.

use std::time::Duration;

use base64::Engine;

use super::{connect, start_tls, LegacyError, Result};
use crate::auth::Password;
use crate::config::{Endpoint, TlsMode};
use crate::server::conn::trim_eol;
use crate::server::Conn;
use crate::store::blob::{self, Durability};
use crate::store::{Mailstore, StagedBlob};

/// Longest response line we accept (text between literals).
const MAX_LINE: usize = 256 * 1024;
/// Largest literal held in memory (anything but a message body).
const MAX_MEM_LITERAL: usize = 1024 * 1024;
/// Largest total of one response held in memory.
const MAX_RESPONSE: usize = 8 * 1024 * 1024;
/// Chunk size when streaming a message body to disk.
const STREAM_CHUNK: usize = 64 * 1024;

/// A parsed value of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Atom(String),
    Str(Vec<u8>),
    List(Vec<Value>),
    Nil,
    /// A message body streamed to a file (index into the response's blobs).
    Blob(usize),
}

impl Value {
    /// Atom or string as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    fn number(&self) -> Option<u64> {
        match self {
            Value::Atom(a) => a.parse().ok(),
            _ => None,
        }
    }
}

/// A server response.
#[derive(Debug)]
pub enum Response {
    /// `* ...`: the text (literals replaced by markers) and its values.
    Untagged { text: String, values: Vec<Value> },
    /// `tag OK|NO|BAD text`.
    Tagged {
        tag: String,
        status: Status,
        text: String,
    },
    /// `+ ...`
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// One message of a `FETCH` response.
#[derive(Debug, Default)]
pub struct Fetched {
    pub uid: u32,
    pub flags: Option<Vec<String>>,
    pub internaldate: Option<String>,
    pub size: Option<u64>,
    pub modseq: Option<u64>,
    pub body: Option<StagedBlob>,
}

/// What `EXAMINE` said about a folder.
#[derive(Debug, Clone, Default)]
pub struct FolderStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: Option<u64>,
    pub exists: u32,
}

/// A folder from `LIST`.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The name exactly as the server sent it (modified UTF-7), used in commands
    /// and as the folder key of the legacy UID map.
    pub raw: String,
    pub separator: Option<char>,
    pub attributes: Vec<String>,
}

impl ListEntry {
    pub fn has(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }
}

/// An authenticated session on the legacy IMAP server.
pub struct Session {
    conn: Conn,
    tag: u32,
    /// Upper-cased capability atoms after login.
    caps: Vec<String>,
    /// The capabilities as the server spelled them, for proxied clients.
    pub capability_line: String,
    /// The legacy host's bandwidth cap, charged for each fetched message body.
    bandwidth: Option<std::sync::Arc<super::bandwidth::Bandwidth>>,
}

fn is_atom_char(b: u8) -> bool {
    !matches!(b, b' ' | b'(' | b')' | b'"' | b'\r' | b'\n' | 0)
}

/// Parses response text (literals replaced by `\0<index>\0` markers) into values.
fn parse_values(text: &[u8], mem: &mut [Option<Vec<u8>>]) -> Result<Vec<Value>> {
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    let mut i = 0;
    let bad = |what: &str| LegacyError::Protocol(format!("unparsable response ({what})"));
    while i < text.len() {
        let b = text[i];
        match b {
            b' ' | b'\r' | b'\n' => i += 1,
            b'(' => {
                if stack.len() > 64 {
                    return Err(bad("nesting"));
                }
                stack.push(Vec::new());
                i += 1;
            }
            b')' => {
                let l = stack.pop().ok_or_else(|| bad("parenthesis"))?;
                stack
                    .last_mut()
                    .ok_or_else(|| bad("parenthesis"))?
                    .push(Value::List(l));
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match text.get(i) {
                        None => return Err(bad("quoted string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            s.push(*text.get(i + 1).ok_or_else(|| bad("quoted string"))?);
                            i += 2;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                stack
                    .last_mut()
                    .ok_or_else(|| bad("state"))?
                    .push(Value::Str(s));
            }
            0 => {
                let end = text[i + 1..]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| bad("marker"))?;
                let marker = std::str::from_utf8(&text[i + 1..i + 1 + end]).unwrap_or("");
                i += end + 2;
                let v = if let Some(n) = marker.strip_prefix('b') {
                    Value::Blob(n.parse().map_err(|_| bad("marker"))?)
                } else {
                    let n: usize = marker.parse().map_err(|_| bad("marker"))?;
                    Value::Str(
                        mem.get_mut(n)
                            .and_then(Option::take)
                            .ok_or_else(|| bad("marker"))?,
                    )
                };
                stack.last_mut().ok_or_else(|| bad("state"))?.push(v);
            }
            _ => {
                let start = i;
                let mut depth = 0usize;
                while i < text.len() {
                    let c = text[i];
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth = depth.saturating_sub(1);
                    } else if c == 0 || (depth == 0 && !is_atom_char(c)) {
                        break;
                    }
                    i += 1;
                }
                let a = String::from_utf8_lossy(&text[start..i]).into_owned();
                let v = if a.eq_ignore_ascii_case("NIL") {
                    Value::Nil
                } else {
                    Value::Atom(a)
                };
                stack.last_mut().ok_or_else(|| bad("state"))?.push(v);
            }
        }
    }
    if stack.len() != 1 {
        return Err(bad("unbalanced parentheses"));
    }
    Ok(stack.pop().unwrap_or_default())
}

/// `{123}` or `{123+}` at the end of a line (without CRLF): the literal's size.
fn literal_size(line: &[u8]) -> Option<usize> {
    let s = line.strip_suffix(b"}")?;
    let open = s.iter().rposition(|&b| b == b'{')?;
    let n = std::str::from_utf8(&s[open + 1..]).ok()?;
    n.trim_end_matches('+').parse().ok()
}

/// An astring for a command: quoted when it can be, else `None` (needs a literal).
fn quoted(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() > 1000
        || s.iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 0 || b >= 0x80)
    {
        return None;
    }
    let mut q = Vec::with_capacity(s.len() + 2);
    q.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            q.push(b'\\');
        }
        q.push(b);
    }
    q.push(b'"');
    Some(q)
}

/// One argument of a command.
pub enum Arg<'a> {
    /// Sent as it is (atoms, sequence sets, parenthesised lists).
    Raw(&'a str),
    /// A string: quoted, or a literal when it must be.
    Str(&'a [u8]),
}

/// Reads responses from a connection (shared by the login phase and the session).
struct Reader<'a> {
    conn: &'a mut Conn,
}

impl Reader<'_> {
    /// Reads one response; message bodies (`BODY[]` literals) go to a file in `ms`
    /// when given.
    async fn read(&mut self, ms: Option<&Mailstore>) -> Result<(Response, Vec<StagedBlob>)> {
        let mut text: Vec<u8> = Vec::new();
        let mut mem: Vec<Option<Vec<u8>>> = Vec::new();
        let mut blobs: Vec<StagedBlob> = Vec::new();
        let mut total = 0usize;
        loop {
            let line = self.conn.read_line(MAX_LINE).await?;
            let line = trim_eol(&line);
            check_line(line)?;
            total += line.len();
            if total > MAX_RESPONSE {
                return Err(LegacyError::Protocol("response too large".into()));
            }
            let Some(n) = literal_size(line) else {
                text.extend_from_slice(line);
                break;
            };
            let open = line.iter().rposition(|&b| b == b'{').unwrap_or(line.len());
            text.extend_from_slice(&line[..open]);
            let before = String::from_utf8_lossy(&text).to_ascii_uppercase();
            let before = before.trim_end();
            let is_body = before.ends_with("BODY[]") || before.ends_with("RFC822");
            match (is_body, ms) {
                (true, Some(ms)) => {
                    let mut w = ms.blob_writer().await?;
                    if n <= blob::IN_MEMORY_MAX {
                        // Small enough to sit in memory whole: read it in one go.
                        w.write_vec(self.conn.read_exact_direct(n).await?).await?;
                    } else {
                        let mut left = n;
                        while left > 0 {
                            let chunk = self.conn.read_some(left.min(STREAM_CHUNK)).await?;
                            w.write(&chunk).await?;
                            left -= chunk.len();
                        }
                    }
                    blobs.push(w.finish(Durability::Batch).await?);
                    text.extend_from_slice(format!("\0b{}\0", blobs.len() - 1).as_bytes());
                }
                _ => {
                    if n > MAX_MEM_LITERAL {
                        return Err(LegacyError::Protocol(format!(
                            "literal of {n} bytes where none was expected"
                        )));
                    }
                    total += n;
                    let bytes = self.conn.read_exact(n).await?;
                    mem.push(Some(bytes));
                    text.extend_from_slice(format!("\0{}\0", mem.len() - 1).as_bytes());
                }
            }
        }
        Ok((finish_response(text, &mut mem)?, blobs))
    }
}

/// Turns one assembled response (literals replaced by markers) into a [`Response`].
fn finish_response(text: Vec<u8>, mem: &mut [Option<Vec<u8>>]) -> Result<Response> {
    if let Some(rest) = text.strip_prefix(b"* ") {
        // Free text (`* OK ...`) need not parse; its values are then empty.
        let values = parse_values(rest, mem).unwrap_or_default();
        let shown = String::from_utf8_lossy(rest).into_owned();
        return Ok(Response::Untagged {
            text: shown,
            values,
        });
    }
    if text.starts_with(b"+") {
        return Ok(Response::Continue);
    }
    let s = String::from_utf8_lossy(&text).into_owned();
    let mut it = s.splitn(3, ' ');
    let tag = it.next().unwrap_or("").to_string();
    let status = match it.next().map(str::to_ascii_uppercase).as_deref() {
        Some("OK") => Status::Ok,
        Some("NO") => Status::No,
        Some("BAD") => Status::Bad,
        _ => {
            return Err(LegacyError::Protocol(format!(
                "unexpected response `{}`",
                s.chars().take(80).collect::<String>()
            )))
        }
    };
    Ok(Response::Tagged {
        tag,
        status,
        text: it.next().unwrap_or("").to_string(),
    })
}

/// The response framing and parsing of [`Reader`] on a buffer instead of a
/// connection, every literal held in memory: for the fuzz target
/// (`tests/fuzz/fuzz_targets/legacy_response.rs`). Returns the responses read
/// until the buffer ends or the first error.
pub fn parse_responses(mut buf: &[u8]) -> Vec<Result<Response>> {
    let mut out = Vec::new();
    'responses: while !buf.is_empty() {
        let mut text: Vec<u8> = Vec::new();
        let mut mem: Vec<Option<Vec<u8>>> = Vec::new();
        let mut total = 0usize;
        loop {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                break 'responses;
            };
            if end + 1 > MAX_LINE {
                out.push(Err(LegacyError::Protocol("line too long".into())));
                break 'responses;
            }
            let line = trim_eol(&buf[..end + 1]);
            buf = &buf[end + 1..];
            if let Err(e) = check_line(line) {
                out.push(Err(e));
                break 'responses;
            }
            total += line.len();
            if total > MAX_RESPONSE {
                out.push(Err(LegacyError::Protocol("response too large".into())));
                break 'responses;
            }
            let Some(n) = literal_size(line) else {
                text.extend_from_slice(line);
                break;
            };
            let open = line.iter().rposition(|&b| b == b'{').unwrap_or(line.len());
            text.extend_from_slice(&line[..open]);
            if n > MAX_MEM_LITERAL || n > buf.len() {
                out.push(Err(LegacyError::Protocol("literal".into())));
                break 'responses;
            }
            total += n;
            mem.push(Some(buf[..n].to_vec()));
            buf = &buf[n..];
            text.extend_from_slice(format!("\0{}\0", mem.len() - 1).as_bytes());
        }
        let r = finish_response(text, &mut mem);
        let failed = r.is_err();
        out.push(r);
        if failed {
            break;
        }
    }
    out
}

/// A response line from the server may not hold NUL (RFC 3501 §9: CHAR8 excludes
/// it; NUL is only allowed inside literals): it would be taken for our literal
/// markers.
fn check_line(line: &[u8]) -> Result<()> {
    if line.contains(&0) {
        return Err(LegacyError::Protocol("NUL in a response line".into()));
    }
    Ok(())
}

/// The response code of a status text: `[UNAVAILABLE] ...` -> `UNAVAILABLE`.
fn code_of(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].to_ascii_uppercase())
}

/// A `NO` to LOGIN/AUTHENTICATE that does not mean "wrong password" (RFC 5530).
fn temporary_code(text: &str) -> bool {
    matches!(
        code_of(text)
            .as_deref()
            .and_then(|c| c.split(' ').next())
            .unwrap_or(""),
        "UNAVAILABLE" | "SERVERBUG" | "INUSE" | "LIMIT" | "CONTACTADMIN" | "OVERQUOTA"
    )
}

/// Capabilities from `[CAPABILITY ...]` in a status text, or `* CAPABILITY ...`.
fn caps_from_code(text: &str) -> Option<String> {
    let code = text.strip_prefix('[')?;
    let end = code.find(']')?;
    let code = &code[..end];
    let (name, rest) = code.split_once(' ')?;
    name.eq_ignore_ascii_case("CAPABILITY")
        .then(|| rest.to_string())
}

impl Session {
    /// Logs in to the legacy server as `user` over the endpoint's TLS mode. A
    /// refused password gives [`LegacyError::Refused`]; anything else that stops
    /// us (no STARTTLS, PREAUTH, bad certificate, timeout) a temporary error, and
    /// the password is then not sent.
    pub async fn login(
        ep: &Endpoint,
        timeout: Duration,
        user: &str,
        password: &Password,
    ) -> Result<Session> {
        let mut conn = connect(ep, timeout).await?;
        let mut r = Reader { conn: &mut conn };
        let (greeting, _) = r.read(None).await?;
        let mut caps = match greeting {
            Response::Untagged { text, .. } => {
                let up = text.to_ascii_uppercase();
                if up.starts_with("PREAUTH") {
                    return Err(LegacyError::Unavailable(
                        "the legacy server sent PREAUTH; the password cannot be checked".into(),
                    ));
                }
                if !up.starts_with("OK") {
                    return Err(LegacyError::Unavailable(format!(
                        "legacy greeting: {}",
                        text.chars().take(100).collect::<String>()
                    )));
                }
                caps_from_code(text[2..].trim_start())
            }
            _ => return Err(LegacyError::Protocol("no IMAP greeting".into())),
        };
        let mut s = Session {
            conn,
            tag: 0,
            caps: vec![],
            capability_line: String::new(),
            bandwidth: None,
        };
        if caps.is_none() {
            caps = Some(s.capability().await?);
        }
        s.set_caps(caps.unwrap_or_default());
        if ep.tls == TlsMode::StartTls {
            if !s.has("STARTTLS") {
                return Err(LegacyError::Unavailable(
                    "the legacy server does not offer STARTTLS (tls = \"starttls\")".into(),
                ));
            }
            let (status, text) = s.simple(&[Arg::Raw("STARTTLS")]).await?;
            if status != Status::Ok {
                return Err(LegacyError::Unavailable(format!(
                    "STARTTLS refused: {text}"
                )));
            }
            start_tls(&mut s.conn, ep).await?;
            let c = s.capability().await?;
            s.set_caps(c);
        }
        let (status, text) = if s.has("LOGINDISABLED") {
            if !s.has("AUTH=PLAIN") {
                return Err(LegacyError::Unavailable(
                    "the legacy server allows neither LOGIN nor AUTHENTICATE PLAIN".into(),
                ));
            }
            let mut plain = Vec::new();
            plain.push(0);
            plain.extend_from_slice(user.as_bytes());
            plain.push(0);
            plain.extend_from_slice(password.expose().as_bytes());
            let b64 = Password::new(base64::engine::general_purpose::STANDARD.encode(&plain));
            plain.iter_mut().for_each(|b| *b = 0);
            s.authenticate_plain(&b64).await?
        } else {
            s.simple(&[
                Arg::Raw("LOGIN"),
                Arg::Str(user.as_bytes()),
                Arg::Str(password.expose().as_bytes()),
            ])
            .await?
        };
        match status {
            Status::Ok => {}
            Status::No if temporary_code(&text) => {
                return Err(LegacyError::Unavailable(format!("legacy login: {text}")))
            }
            Status::No | Status::Bad => return Err(LegacyError::Refused),
        }
        let caps = match caps_from_code(&text) {
            Some(c) => c,
            None => s.capability().await?,
        };
        s.set_caps(caps);
        Ok(s)
    }

    fn set_caps(&mut self, line: String) {
        self.caps = line
            .split_ascii_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        self.capability_line = line;
    }

    /// True when the server advertised `cap`.
    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// Gives up the connection (for a proxied session).
    pub fn into_conn(self) -> Conn {
        self.conn
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("F{}", self.tag)
    }

    /// Sends a command (with literals as needed); returns its tag.
    pub async fn send(&mut self, args: &[Arg<'_>]) -> Result<String> {
        let tag = self.next_tag();
        let mut out: Vec<u8> = tag.as_bytes().to_vec();
        let literal_plus = self.has("LITERAL+");
        for a in args {
            out.push(b' ');
            match a {
                Arg::Raw(s) => out.extend_from_slice(s.as_bytes()),
                Arg::Str(s) => match quoted(s) {
                    Some(q) => out.extend_from_slice(&q),
                    None if literal_plus => {
                        out.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
                        out.extend_from_slice(s);
                    }
                    None => {
                        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
                        self.conn.send(&out).await?;
                        out.iter_mut().for_each(|b| *b = 0);
                        out.clear();
                        loop {
                            match (Reader {
                                conn: &mut self.conn,
                            })
                            .read(None)
                            .await?
                            .0
                            {
                                Response::Continue => break,
                                Response::Tagged { text, .. } => {
                                    return Err(LegacyError::Protocol(format!(
                                        "literal refused: {text}"
                                    )))
                                }
                                Response::Untagged { .. } => {}
                            }
                        }
                        out.extend_from_slice(s);
                    }
                },
            }
        }
        out.extend_from_slice(b"\r\n");
        let r = self.conn.send(&out).await;
        // The buffer may have held a password.
        out.iter_mut().for_each(|b| *b = 0);
        r?;
        Ok(tag)
    }

    /// Reads the next response.
    pub async fn read(&mut self, ms: Option<&Mailstore>) -> Result<(Response, Vec<StagedBlob>)> {
        Reader {
            conn: &mut self.conn,
        }
        .read(ms)
        .await
    }

    /// Runs a command; returns its untagged responses and its status.
    pub async fn run(
        &mut self,
        args: &[Arg<'_>],
    ) -> Result<(Vec<(String, Vec<Value>)>, Status, String)> {
        let tag = self.send(args).await?;
        let mut untagged = Vec::new();
        loop {
            match self.read(None).await?.0 {
                Response::Untagged { text, values } => {
                    if untagged.len() > 1_000_000 {
                        return Err(LegacyError::Protocol("too many responses".into()));
                    }
                    untagged.push((text, values))
                }
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => return Ok((untagged, status, text)),
                Response::Tagged { .. } | Response::Continue => {}
            }
        }
    }

    async fn simple(&mut self, args: &[Arg<'_>]) -> Result<(Status, String)> {
        let (_, status, text) = self.run(args).await?;
        Ok((status, text))
    }

    /// Runs a command that must succeed.
    pub async fn ok(&mut self, args: &[Arg<'_>]) -> Result<Vec<(String, Vec<Value>)>> {
        let (untagged, status, text) = self.run(args).await?;
        if status != Status::Ok {
            let what = match args.first() {
                Some(Arg::Raw(s)) => s.to_string(),
                _ => "command".into(),
            };
            return Err(LegacyError::Protocol(format!("{what}: {text}")));
        }
        Ok(untagged)
    }

    async fn capability(&mut self) -> Result<String> {
        let untagged = self.ok(&[Arg::Raw("CAPABILITY")]).await?;
        Ok(untagged
            .iter()
            .find_map(|(t, _)| {
                let up = t.to_ascii_uppercase();
                up.starts_with("CAPABILITY ").then(|| t[11..].to_string())
            })
            .unwrap_or_default())
    }

    async fn authenticate_plain(&mut self, b64: &Password) -> Result<(Status, String)> {
        if self.has("SASL-IR") {
            return self
                .simple(&[
                    Arg::Raw("AUTHENTICATE"),
                    Arg::Raw("PLAIN"),
                    Arg::Raw(b64.expose()),
                ])
                .await;
        }
        let tag = self
            .send(&[Arg::Raw("AUTHENTICATE"), Arg::Raw("PLAIN")])
            .await?;
        loop {
            match self.read(None).await?.0 {
                Response::Continue => break,
                Response::Tagged { status, text, .. } => return Ok((status, text)),
                Response::Untagged { .. } => {}
            }
        }
        let mut line = b64.expose().as_bytes().to_vec();
        line.extend_from_slice(b"\r\n");
        let r = self.conn.send(&line).await;
        line.iter_mut().for_each(|b| *b = 0);
        r?;
        loop {
            match self.read(None).await?.0 {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => return Ok((status, text)),
                _ => {}
            }
        }
    }

    /// `NAMESPACE` (RFC 2342): the personal prefix and separator, if advertised.
    pub async fn personal_namespace(&mut self) -> Result<Option<(String, Option<char>)>> {
        if !self.has("NAMESPACE") {
            return Ok(None);
        }
        let untagged = self.ok(&[Arg::Raw("NAMESPACE")]).await?;
        for (_, values) in untagged {
            let is_ns = values
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("NAMESPACE"));
            if !is_ns {
                continue;
            }
            let first = values
                .get(1)
                .and_then(Value::list)
                .and_then(|l| l.first())
                .and_then(Value::list);
            if let Some(ns) = first {
                let prefix = ns.first().and_then(Value::text).unwrap_or_default();
                let sep = ns
                    .get(1)
                    .and_then(Value::text)
                    .and_then(|s| s.chars().next());
                return Ok(Some((prefix, sep)));
            }
        }
        Ok(None)
    }

    /// `LIST "" "*"` (with special-use attributes when advertised), or `LSUB`.
    pub async fn list(&mut self, lsub: bool) -> Result<Vec<ListEntry>> {
        let untagged = if lsub {
            self.ok(&[Arg::Raw("LSUB"), Arg::Raw("\"\""), Arg::Raw("\"*\"")])
                .await?
        } else if self.has("SPECIAL-USE") && self.has("LIST-EXTENDED") {
            self.ok(&[
                Arg::Raw("LIST"),
                Arg::Raw("\"\""),
                Arg::Raw("\"*\""),
                Arg::Raw("RETURN (SPECIAL-USE)"),
            ])
            .await?
        } else {
            self.ok(&[Arg::Raw("LIST"), Arg::Raw("\"\""), Arg::Raw("\"*\"")])
                .await?
        };
        let want = if lsub { "LSUB" } else { "LIST" };
        let mut out = Vec::new();
        for (_, v) in untagged {
            if !v
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case(want))
            {
                continue;
            }
            let attributes: Vec<String> = v
                .get(1)
                .and_then(Value::list)
                .map(|l| l.iter().filter_map(Value::text).collect())
                .unwrap_or_default();
            let separator = v
                .get(2)
                .and_then(Value::text)
                .and_then(|s| s.chars().next());
            let Some(raw) = v.get(3).and_then(Value::text) else {
                continue;
            };
            out.push(ListEntry {
                raw,
                separator,
                attributes,
            });
        }
        Ok(out)
    }

    /// `STATUS folder (MESSAGES)`: the message count without selecting.
    pub async fn message_count(&mut self, raw: &str) -> Result<u32> {
        let untagged = self
            .ok(&[
                Arg::Raw("STATUS"),
                Arg::Str(raw.as_bytes()),
                Arg::Raw("(MESSAGES)"),
            ])
            .await?;
        for (_, v) in untagged {
            let is_status = v
                .first()
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("STATUS"));
            let Some(items) = v.get(2).and_then(Value::list).filter(|_| is_status) else {
                continue;
            };
            for pair in items.chunks(2) {
                if let [k, n] = pair {
                    if k.text().is_some_and(|k| k.eq_ignore_ascii_case("MESSAGES")) {
                        return Ok(n.number().unwrap_or(0) as u32);
                    }
                }
            }
        }
        Err(LegacyError::Protocol(format!("STATUS {raw}: no MESSAGES")))
    }

    /// `EXAMINE` (read-only; with CONDSTORE when advertised).
    pub async fn examine(&mut self, raw: &str) -> Result<FolderStatus> {
        let condstore = self.has("CONDSTORE");
        let args = [
            Arg::Raw("EXAMINE"),
            Arg::Str(raw.as_bytes()),
            Arg::Raw(if condstore { "(CONDSTORE)" } else { "" }),
        ];
        let args = if condstore { &args[..] } else { &args[..2] };
        let untagged = self.ok(args).await?;
        let mut st = FolderStatus::default();
        for (text, values) in untagged {
            if values
                .get(1)
                .and_then(Value::text)
                .is_some_and(|t| t.eq_ignore_ascii_case("EXISTS"))
            {
                st.exists = values.first().and_then(Value::number).unwrap_or(0) as u32;
            }
            if let Some(code) = text.get(2..).map(str::trim_start).and_then(code_of) {
                let mut it = code.split(' ');
                let (k, v) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                match k {
                    "UIDVALIDITY" => st.uidvalidity = v.parse().unwrap_or(0),
                    "UIDNEXT" => st.uidnext = v.parse().unwrap_or(0),
                    "HIGHESTMODSEQ" => st.highestmodseq = v.parse().ok(),
                    _ => {}
                }
            }
        }
        if st.uidvalidity == 0 {
            return Err(LegacyError::Protocol(format!(
                "EXAMINE {raw}: no UIDVALIDITY"
            )));
        }
        Ok(st)
    }

    /// Caps the rate at which message bodies are read (shared per legacy host).
    pub fn set_bandwidth(
        &mut self,
        bandwidth: Option<std::sync::Arc<super::bandwidth::Bandwidth>>,
    ) {
        self.bandwidth = bandwidth;
    }

    /// Starts `UID FETCH set (items)`; read its messages with [`Self::next_fetch`].
    pub async fn start_fetch(&mut self, set: &str, items: &str) -> Result<String> {
        self.send(&[Arg::Raw("UID FETCH"), Arg::Raw(set), Arg::Raw(items)])
            .await
    }

    /// The next message of the fetch `tag`; `None` once it completed. Bodies are
    /// streamed into message files of `ms`.
    pub async fn next_fetch(
        &mut self,
        tag: &str,
        ms: Option<&Mailstore>,
    ) -> Result<Option<Fetched>> {
        loop {
            let (resp, mut blobs) = self.read(ms).await?;
            if let Some(bw) = &self.bandwidth {
                bw.charge(blobs.iter().map(|b| b.size).sum()).await;
            }
            match resp {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => {
                    match status {
                        Status::Ok => {}
                        // Some messages could not be fetched (expunged meanwhile,
                        // or broken on the server): keep what came; verification
                        // decides whether anything is missing.
                        Status::No => tracing::warn!(
                            response = %text.chars().take(200).collect::<String>(),
                            "legacy UID FETCH answered NO; keeping the messages that came"
                        ),
                        Status::Bad => {
                            return Err(LegacyError::Protocol(format!("UID FETCH: {text}")))
                        }
                    }
                    return Ok(None);
                }
                Response::Untagged { values, .. } => {
                    let is_fetch = values
                        .get(1)
                        .and_then(Value::text)
                        .is_some_and(|t| t.eq_ignore_ascii_case("FETCH"));
                    if !is_fetch {
                        continue;
                    }
                    let Some(items) = values.get(2).and_then(Value::list) else {
                        continue;
                    };
                    let mut f = Fetched::default();
                    for pair in items.chunks(2) {
                        let [k, v] = pair else { break };
                        let k = k.text().unwrap_or_default().to_ascii_uppercase();
                        match k.as_str() {
                            "UID" => f.uid = v.number().unwrap_or(0) as u32,
                            "FLAGS" => {
                                f.flags =
                                    v.list().map(|l| l.iter().filter_map(Value::text).collect())
                            }
                            "INTERNALDATE" => f.internaldate = v.text(),
                            "RFC822.SIZE" => f.size = v.number(),
                            "MODSEQ" => {
                                f.modseq = v.list().and_then(|l| l.first()).and_then(Value::number)
                            }
                            "BODY[]" | "RFC822" => match v {
                                Value::Blob(i) if *i < blobs.len() => {
                                    f.body = Some(blobs.swap_remove(*i));
                                }
                                Value::Str(bytes) => {
                                    if let Some(ms) = ms {
                                        let mut w = ms.blob_writer().await?;
                                        w.write(bytes).await?;
                                        f.body = Some(w.finish(Durability::Batch).await?);
                                    }
                                }
                                _ => {}
                            },
                            _ => {}
                        }
                    }
                    if f.uid == 0 {
                        continue;
                    }
                    return Ok(Some(f));
                }
                _ => {}
            }
        }
    }

    /// `LOGOUT`, ignoring errors.
    pub async fn logout(mut self) {
        if self.send(&[Arg::Raw("LOGOUT")]).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok((r, _)) = self.read(None).await {
                    if matches!(r, Response::Tagged { .. }) {
                        break;
                    }
                }
            })
            .await;
        }
        self.conn.close().await;
    }
}

/// Parses an IMAP date-time (`"17-Jul-1996 02:44:25 -0700"`) into seconds since
/// the epoch and the zone offset in minutes.
pub fn parse_internaldate(s: &str) -> Option<(i64, i32)> {
    let d = chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()?;
    Some((d.timestamp(), d.offset().local_minus_utc() / 60))
}

/// A compact UID set (`1:5,9,12:14`) from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_lists_strings_and_markers() {
        let mut mem = vec![Some(b"lit".to_vec())];
        let v = parse_values(
            b"1 FETCH (UID 7 FLAGS (\\Seen $Work) INTERNALDATE \" 1-Jan-2020 10:00:00 +0100\" BODY[] \0b0\0 X \x000\x00)",
            &mut mem,
        )
        .unwrap();
        assert_eq!(v[0], Value::Atom("1".into()));
        let items = v[2].list().unwrap();
        assert_eq!(items[1], Value::Atom("7".into()));
        assert_eq!(
            items[3],
            Value::List(vec![
                Value::Atom("\\Seen".into()),
                Value::Atom("$Work".into())
            ])
        );
        assert_eq!(items[6], Value::Atom("BODY[]".into()));
        assert_eq!(items[7], Value::Blob(0));
        assert_eq!(items[9], Value::Str(b"lit".to_vec()));
        let v = parse_values(b"LIST (\\HasNoChildren) \"/\" NIL", &mut []).unwrap();
        assert_eq!(v[3], Value::Nil);
        assert!(parse_values(b"(((", &mut []).is_err());
        assert!(parse_values(b"\"open", &mut []).is_err());
    }

    #[test]
    fn dates_and_sets() {
        assert_eq!(
            parse_internaldate(" 1-Jan-2020 10:00:00 +0100"),
            Some((1577869200, 60))
        );
        assert_eq!(parse_internaldate("garbage"), None);
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_size(b"abc"), None);
        assert!(temporary_code("[UNAVAILABLE] try later"));
        assert!(!temporary_code("[AUTHENTICATIONFAILED] no"));
        assert_eq!(
            caps_from_code("[CAPABILITY IMAP4rev1 IDLE] Logged in").as_deref(),
            Some("IMAP4rev1 IDLE")
        );
    }
}
