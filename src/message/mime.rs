//! The MIME tree of a message, built once by `Message::parse`: for every part the
//! byte ranges of its header and body, its header fields, its content type, and
//! its children (multipart) or the encapsulated message (message/rfc822).
//!
//! Lenient by design: LF-only line ends, a missing final boundary, a multipart
//! without its boundary parameter, header lines without a colon. Nesting deeper
//! than `MAX_DEPTH` and parts beyond `MAX_PARTS` are not split further.

use std::ops::Range;

/// Deepest nesting of multiparts and message/rfc822 that is analysed; deeper
/// parts are opaque leaves.
pub const MAX_DEPTH: usize = 20;
/// Most parts analysed in one message; the rest stays inside the last part found.
pub const MAX_PARTS: usize = 10_000;

/// One header field: `full` covers the name through the line end (folded lines
/// included), `value` the text after the colon without the final line end.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
    pub full: Range<usize>,
}

/// Parameters: lower-cased names and their values.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone)]
pub struct ContentType {
    /// As written (case kept), or `text` by default.
    pub main: Vec<u8>,
    pub sub: Vec<u8>,
    /// Parameter names lower-cased, values unquoted (RFC 2231 merged).
    pub params: Params,
}

impl ContentType {
    pub fn is(&self, main: &str, sub: &str) -> bool {
        self.main.eq_ignore_ascii_case(main.as_bytes())
            && (sub.is_empty() || self.sub.eq_ignore_ascii_case(sub.as_bytes()))
    }

    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug)]
pub enum Kind {
    Leaf,
    Multipart(Vec<Part>),
    /// message/rfc822: the encapsulated message (its header is the message header).
    Message(Box<Part>),
}

#[derive(Debug)]
pub struct Part {
    /// The part's header including the blank line that ends it.
    pub header: Range<usize>,
    pub fields: Vec<Field>,
    pub body: Range<usize>,
    pub ctype: ContentType,
    pub kind: Kind,
}

impl Part {
    /// The raw value of the first field named `name`.
    pub fn field<'r>(&self, raw: &'r [u8], name: &str) -> Option<&'r [u8]> {
        self.fields
            .iter()
            .find(|f| raw[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| &raw[f.value.clone()])
    }
}

/// The end of the line starting at `i` (after its `\n`), bounded by `end`.
pub fn line_end(raw: &[u8], i: usize, end: usize) -> usize {
    match memchr(b'\n', &raw[i..end]) {
        Some(p) => i + p + 1,
        None => end,
    }
}

pub fn memchr(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == b)
}

/// Parses the header block at `start..end`: the fields and the offset just after
/// the blank line (or `end` when there is none).
pub fn parse_header(raw: &[u8], start: usize, end: usize) -> (Vec<Field>, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut i = start;
    let mut open = false; // whether the last line belongs to a field that may continue
    while i < end {
        let le = line_end(raw, i, end);
        let line = &raw[i..le];
        if line == b"\r\n" || line == b"\n" {
            return (fields, le);
        }
        let content_end = strip_eol(raw, i, le);
        if (line[0] == b' ' || line[0] == b'\t') && open {
            if let Some(f) = fields.last_mut() {
                f.value.end = content_end;
                f.full.end = le;
            }
        } else if let Some(colon) = memchr(b':', &raw[i..content_end]) {
            let mut name_end = i + colon;
            while name_end > i && (raw[name_end - 1] == b' ' || raw[name_end - 1] == b'\t') {
                name_end -= 1;
            }
            if name_end > i {
                fields.push(Field {
                    name: i..name_end,
                    value: i + colon + 1..content_end,
                    full: i..le,
                });
                open = true;
            } else {
                open = false;
            }
        } else {
            open = false;
        }
        i = le;
    }
    (fields, end)
}

fn strip_eol(raw: &[u8], start: usize, mut end: usize) -> usize {
    if end > start && raw[end - 1] == b'\n' {
        end -= 1;
    }
    if end > start && raw[end - 1] == b'\r' {
        end -= 1;
    }
    end
}

/// A header value unfolded (CR and LF removed) and trimmed.
pub fn unfold(v: &[u8]) -> Vec<u8> {
    let out: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    trim(&out).to_vec()
}

pub fn trim(v: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let s = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let e = v.iter().rposition(|b| !is_ws(b)).map_or(s, |p| p + 1);
    &v[s..e]
}

struct Builder<'r> {
    raw: &'r [u8],
    parts: usize,
}

/// Parses the message `raw` into its MIME tree.
pub fn parse(raw: &[u8]) -> Part {
    let mut b = Builder { raw, parts: 0 };
    b.part(0, raw.len(), 0, false)
}

impl Builder<'_> {
    /// A part (or message) occupying `start..end`; `digest` makes message/rfc822
    /// the default type.
    fn part(&mut self, start: usize, end: usize, depth: usize, digest: bool) -> Part {
        self.parts += 1;
        let raw = self.raw;
        let (fields, body_start) = parse_header(raw, start, end);
        let ct_value = fields
            .iter()
            .find(|f| raw[f.name.clone()].eq_ignore_ascii_case(b"content-type"))
            .map(|f| &raw[f.value.clone()]);
        let ctype = match ct_value.and_then(parse_content_type) {
            Some(ct) => ct,
            None if digest => ContentType {
                main: b"message".to_vec(),
                sub: b"rfc822".to_vec(),
                params: Vec::new(),
            },
            None => default_type(),
        };
        let mut part = Part {
            header: start..body_start,
            fields,
            body: body_start..end,
            ctype,
            kind: Kind::Leaf,
        };
        if depth >= MAX_DEPTH || self.parts >= MAX_PARTS {
            return part;
        }
        if part.ctype.main.eq_ignore_ascii_case(b"multipart") {
            let boundary = part.ctype.param("boundary").map(|b| b.to_vec());
            let digest = part.ctype.sub.eq_ignore_ascii_case(b"digest");
            let mut ranges = match boundary.filter(|b| !b.is_empty()) {
                Some(boundary) => self.split(body_start, end, &boundary),
                None => Vec::new(),
            };
            // Like Dovecot: a multipart without parts has one empty part at its end.
            if ranges.is_empty() {
                ranges.push(end..end);
            }
            {
                let mut children = Vec::with_capacity(ranges.len());
                for r in ranges {
                    children.push(self.part(r.start, r.end, depth + 1, digest));
                }
                part.kind = Kind::Multipart(children);
            }
        } else if part.ctype.is("message", "rfc822") {
            let inner = self.part(body_start, end, depth + 1, false);
            part.kind = Kind::Message(Box::new(inner));
        }
        part
    }

    /// The ranges of the parts of a multipart body `start..end`. The line end
    /// before a delimiter belongs to the delimiter; a missing close delimiter
    /// ends the last part at `end`.
    fn split(&mut self, start: usize, end: usize, boundary: &[u8]) -> Vec<Range<usize>> {
        let raw = self.raw;
        let mut out = Vec::new();
        let mut current: Option<usize> = None;
        let mut i = start;
        while i < end {
            let le = line_end(raw, i, end);
            if let Some(close) = delimiter(&raw[i..le], boundary) {
                if let Some(s) = current.take() {
                    out.push(s..part_end(raw, s, i));
                }
                if close || self.parts + out.len() >= MAX_PARTS {
                    if !close {
                        // Too many parts: the rest goes into one last part.
                        out.push(le..end);
                    }
                    return out;
                }
                current = Some(le);
            }
            i = le;
        }
        if let Some(s) = current {
            out.push(s..end);
        }
        out
    }
}

/// Where a part that is followed by a delimiter line at `delim` ends: before the
/// line end preceding the delimiter.
fn part_end(raw: &[u8], start: usize, delim: usize) -> usize {
    let mut e = delim;
    if e > start && raw[e - 1] == b'\n' {
        e -= 1;
        if e > start && raw[e - 1] == b'\r' {
            e -= 1;
        }
    }
    e
}

/// `Some(is_close)` when `line` is a delimiter line for `boundary`.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    if rest.starts_with(b"--") {
        return Some(true);
    }
    if rest
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        Some(false)
    } else {
        None
    }
}

pub fn default_type() -> ContentType {
    ContentType {
        main: b"text".to_vec(),
        sub: b"plain".to_vec(),
        params: vec![(b"charset".to_vec(), b"us-ascii".to_vec())],
    }
}

/// Removes RFC 5322 comments outside quoted strings.
pub fn strip_comments(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        if c == b'\\' && (quoted || depth > 0) && i + 1 < v.len() {
            if depth == 0 {
                out.extend_from_slice(&v[i..i + 2]);
            }
            i += 2;
            continue;
        }
        if depth > 0 {
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        } else if quoted {
            if c == b'"' {
                quoted = false;
            }
            out.push(c);
        } else {
            match c {
                b'(' => depth = 1,
                b'"' => {
                    quoted = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

fn is_token_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// `type/subtype; params` (RFC 2045) with RFC 2231 parameters; None when the
/// type is unusable.
pub fn parse_content_type(value: &[u8]) -> Option<ContentType> {
    let v = strip_comments(&unfold(value));
    let (head, rest) = match memchr(b';', &v) {
        Some(p) => (&v[..p], &v[p..]),
        None => (&v[..], &v[v.len()..]),
    };
    let head = trim(head);
    let slash = memchr(b'/', head)?;
    let main = trim(&head[..slash]);
    let sub = trim(&head[slash + 1..]);
    if main.is_empty()
        || sub.is_empty()
        || !main.iter().all(|&c| is_token_char(c))
        || !sub.iter().all(|&c| is_token_char(c))
    {
        return None;
    }
    Some(ContentType {
        main: main.to_vec(),
        sub: sub.to_vec(),
        params: parse_params(rest),
    })
}

/// A value with a leading token (Content-Disposition, Content-Transfer-Encoding)
/// and its parameters.
pub fn parse_token_params(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let v = strip_comments(&unfold(value));
    let (head, rest) = match memchr(b';', &v) {
        Some(p) => (&v[..p], &v[p..]),
        None => (&v[..], &v[v.len()..]),
    };
    let head = trim(head);
    if head.is_empty() {
        return None;
    }
    Some((head.to_vec(), parse_params(rest)))
}

/// `; name=value; name="quoted"`. Names are lower-cased. RFC 2231 continuations
/// (`name*0`, `name*1*`) are merged into one value, but like Dovecot the
/// charset'language'%XX form is passed through, under the name `name*`.
pub fn parse_params(s: &[u8]) -> Params {
    let mut plain: Params = Vec::new();
    // (name, section, extended, value)
    let mut continued: Vec<(Vec<u8>, u32, bool, Vec<u8>)> = Vec::new();
    let mut i = 0;
    let n = s.len();
    while i < n {
        while i < n && matches!(s[i], b';' | b' ' | b'\t') {
            i += 1;
        }
        let ns = i;
        while i < n && s[i] != b'=' && s[i] != b';' {
            i += 1;
        }
        let name = trim(&s[ns..i]).to_ascii_lowercase();
        if i >= n || s[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < n && matches!(s[i], b' ' | b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if i < n && s[i] == b'"' {
            i += 1;
            while i < n && s[i] != b'"' {
                if s[i] == b'\\' && i + 1 < n {
                    i += 1;
                }
                value.push(s[i]);
                i += 1;
            }
            while i < n && s[i] != b';' {
                i += 1;
            }
        } else {
            let vs = i;
            while i < n && s[i] != b';' {
                i += 1;
            }
            value = trim(&s[vs..i]).to_vec();
        }
        if name.is_empty() || name.iter().any(|&c| !is_token_char(c) && c != b'*') {
            continue;
        }
        match split_2231_name(&name) {
            Some((base, section, extended)) => continued.push((base, section, extended, value)),
            None => plain.push((name, value)),
        }
    }
    let mut names: Vec<&Vec<u8>> = Vec::new();
    for (name, ..) in &continued {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let mut segs: Vec<&(Vec<u8>, u32, bool, Vec<u8>)> =
            continued.iter().filter(|(n, ..)| n == name).collect();
        segs.sort_by_key(|(_, sec, ..)| *sec);
        let extended = segs.iter().any(|(_, _, e, _)| *e);
        let mut value = Vec::new();
        for (.., v) in segs {
            value.extend_from_slice(v);
        }
        let mut key = name.clone();
        if extended {
            key.push(b'*');
        }
        plain.push((key, value));
    }
    plain
}

/// `name*N` or `name*N*` (a continuation): the base name, N and whether the
/// segment is extended. `name*` alone is not a continuation.
fn split_2231_name(name: &[u8]) -> Option<(Vec<u8>, u32, bool)> {
    let star = memchr(b'*', name)?;
    let rest = &name[star + 1..];
    let (digits, extended) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    Some((name[..star].to_vec(), n, extended))
}

pub fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
