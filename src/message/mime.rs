//! The MIME tree of a message, built once by `Message::parse`: for every part the
//! byte ranges of its header and body, its header fields, its content type, and
//! its children (multipart) or the encapsulated message (message/rfc822).
//!
//! Lenient by design: LF-only line ends, a missing final boundary, a multipart
//! without its boundary parameter, header lines without a colon. Nesting deeper
//! than `MAX_DEPTH` and parts beyond `MAX_PARTS` are not split further.

use std::ops::Range;

use super::value::{default_type, memchr, parse_content_type, ContentType};

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
    /// The raw values of all fields named `name`, in order.
    pub fn all<'r, 's>(
        &'s self,
        raw: &'r [u8],
        name: &'s str,
    ) -> impl Iterator<Item = &'r [u8]> + 's
    where
        'r: 's,
    {
        self.fields
            .iter()
            .filter(move |f| raw[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |f| &raw[f.value.clone()])
    }

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

/// Where the header starting at `start` ends.
enum HeaderEnd {
    /// After the blank line at this offset.
    Blank(usize),
    /// At the end of the input, without a blank line.
    Eof,
    /// Cut by a delimiter line of an enclosing multipart.
    Cut(Hit),
}

/// Parses the header block starting at `start`: its fields and how it ends.
/// `stop` recognises delimiter lines of enclosing multiparts.
fn parse_header(
    raw: &[u8],
    start: usize,
    stop: impl Fn(usize, usize) -> Option<Hit>,
) -> (Vec<Field>, HeaderEnd) {
    let end = raw.len();
    let mut fields: Vec<Field> = Vec::new();
    let mut i = start;
    let mut open = false; // whether the last line belongs to a field that may continue
    while i < end {
        let le = line_end(raw, i, end);
        let line = &raw[i..le];
        if line == b"\r\n" || line == b"\n" {
            return (fields, HeaderEnd::Blank(i));
        }
        if line[0] == b'-' {
            if let Some(hit) = stop(i, le) {
                return (fields, HeaderEnd::Cut(hit));
            }
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
    (fields, HeaderEnd::Eof)
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

/// A delimiter line of an enclosing multipart: where it starts, where the next
/// line starts, the multipart's index in the boundary stack, and whether it is
/// the close delimiter.
#[derive(Debug, Clone, Copy)]
struct Hit {
    line: usize,
    next: usize,
    level: usize,
    close: bool,
}

/// A one-pass parser: each part is read until a delimiter line of any enclosing
/// multipart (innermost first, boundaries matched as prefixes like Dovecot), so
/// a part with a missing close delimiter ends where its parent's next part
/// starts.
struct Builder<'r> {
    raw: &'r [u8],
    parts: usize,
    stack: Vec<Vec<u8>>,
}

/// Parses the message `raw` into its MIME tree.
pub fn parse(raw: &[u8]) -> Part {
    let mut b = Builder {
        raw,
        parts: 0,
        stack: Vec::new(),
    };
    b.part(0, 0, false).0
}

/// The fields of a header block alone, without MIME analysis (the content
/// type is left at its default): what SEARCH, SORT and THREAD of header fields
/// read. The fields are those [`parse`] finds for the message.
pub fn header_only(raw: &[u8]) -> Part {
    let (fields, _) = parse_header(raw, 0, |_, _| None);
    Part {
        header: 0..raw.len(),
        fields,
        body: raw.len()..raw.len(),
        ctype: default_type(),
        kind: Kind::Leaf,
    }
}

impl Builder<'_> {
    /// Whether the line `i..le` is a delimiter line of an enclosing multipart.
    fn boundary(&self, i: usize, le: usize) -> Option<Hit> {
        let rest = self.raw[i..le].strip_prefix(b"--")?;
        for (level, b) in self.stack.iter().enumerate().rev() {
            if let Some(after) = rest.strip_prefix(b.as_slice()) {
                return Some(Hit {
                    line: i,
                    next: le,
                    level,
                    close: after.starts_with(b"--"),
                });
            }
        }
        None
    }

    /// The first delimiter line at or after `i`.
    fn scan(&self, mut i: usize) -> Option<Hit> {
        if self.stack.is_empty() {
            return None;
        }
        let end = self.raw.len();
        while i < end {
            let le = line_end(self.raw, i, end);
            if self.raw[i] == b'-' {
                if let Some(h) = self.boundary(i, le) {
                    return Some(h);
                }
            }
            i = le;
        }
        None
    }

    /// An empty text/plain part at `at`.
    fn empty(&mut self, at: usize) -> Part {
        self.parts += 1;
        Part {
            header: at..at,
            fields: Vec::new(),
            body: at..at,
            ctype: default_type(),
            kind: Kind::Leaf,
        }
    }

    /// The part (or message) starting at `start`, and the delimiter line that
    /// ended it (None at the end of the input). `digest` makes message/rfc822
    /// the default type.
    fn part(&mut self, start: usize, depth: usize, digest: bool) -> (Part, Option<Hit>) {
        self.parts += 1;
        let raw = self.raw;
        let (fields, hend) = parse_header(raw, start, |i, le| self.boundary(i, le));
        let ctype = fields
            .iter()
            .find(|f| raw[f.name.clone()].eq_ignore_ascii_case(b"content-type"))
            .and_then(|f| parse_content_type(&raw[f.value.clone()]));
        let ctype = match ctype {
            Some(ct) => ct,
            None if digest => ContentType {
                main: b"message".to_vec(),
                sub: b"rfc822".to_vec(),
                params: Vec::new(),
            },
            None => default_type(),
        };
        let multipart = ctype.main.eq_ignore_ascii_case(b"multipart");
        let message = ctype.is("message", "rfc822");
        let container = (multipart || message) && depth < MAX_DEPTH && self.parts < MAX_PARTS;
        // A part without a body: its header cut by a delimiter line (like
        // Dovecot, the line end before it stays with the part but not with the
        // header), or a blank line right before a delimiter line (the blank
        // line's line end is the delimiter's).
        let boundary = ctype
            .param("boundary")
            .filter(|b| !b.is_empty())
            .map(<[u8]>::to_vec);
        let cut = match hend {
            HeaderEnd::Cut(h) => Some((strip_eol(raw, start, h.line), h.line, h)),
            HeaderEnd::Blank(bl) => {
                let body_start = line_end(raw, bl, raw.len());
                let le = line_end(raw, body_start, raw.len());
                let own = container
                    && multipart
                    && boundary.as_ref().is_some_and(|b| {
                        raw[body_start..le]
                            .strip_prefix(b"--")
                            .is_some_and(|r| r.starts_with(b))
                    });
                match self.boundary(body_start, le) {
                    Some(h) if !own && body_start < raw.len() => Some((bl, bl, h)),
                    _ => None,
                }
            }
            HeaderEnd::Eof => None,
        };
        if let Some((header_end, end, hit)) = cut {
            let kind = match container {
                true if multipart => Kind::Multipart(vec![self.empty(end)]),
                true => Kind::Message(Box::new(self.empty(end))),
                false => Kind::Leaf,
            };
            let part = Part {
                header: start..header_end,
                fields,
                body: end..end,
                ctype,
                kind,
            };
            return (part, Some(hit));
        }
        let body_start = match hend {
            HeaderEnd::Blank(bl) => line_end(raw, bl, raw.len()),
            _ => raw.len(),
        };
        let (kind, end, hit) = if container && multipart {
            match boundary {
                Some(b) => {
                    let sub_digest = ctype.sub.eq_ignore_ascii_case(b"digest");
                    self.multipart(body_start, b, depth, sub_digest)
                }
                None => {
                    let (end, hit) = self.leaf(body_start);
                    (Kind::Multipart(vec![self.empty(end)]), end, hit)
                }
            }
        } else if container {
            let (inner, hit) = self.part(body_start, depth + 1, false);
            let end = inner.body.end;
            (Kind::Message(Box::new(inner)), end, hit)
        } else {
            let (end, hit) = self.leaf(body_start);
            (Kind::Leaf, end, hit)
        };
        let part = Part {
            header: start..body_start,
            fields,
            body: body_start..end,
            ctype,
            kind,
        };
        (part, hit)
    }

    /// A body read up to the next delimiter line: its end and that line.
    fn leaf(&self, start: usize) -> (usize, Option<Hit>) {
        match self.scan(start) {
            Some(h) => (part_end(self.raw, start, h.line), Some(h)),
            None => (self.raw.len(), None),
        }
    }

    /// The body of a multipart with `boundary` starting at `start`: its parts,
    /// where it ends, and the delimiter line of an enclosing multipart that ended
    /// it. Like Dovecot, after a close delimiter directly followed by the
    /// parent's delimiter, the close line's line end stays in this body; a
    /// multipart without parts gets one empty part.
    fn multipart(
        &mut self,
        start: usize,
        boundary: Vec<u8>,
        depth: usize,
        digest: bool,
    ) -> (Kind, usize, Option<Hit>) {
        let raw = self.raw;
        self.stack.push(boundary);
        let me = self.stack.len() - 1;
        let mut children = Vec::new();
        // The segment the next hit ends: its start, or the end of the child.
        let mut from = start;
        let mut child_end: Option<usize> = None;
        let mut hit = self.scan(start);
        let (end, out) = loop {
            match hit {
                None => break (raw.len(), None),
                Some(h) if h.level < me => {
                    // The parent's delimiter: the close delimiter is missing.
                    let end = child_end.unwrap_or_else(|| part_end(raw, from, h.line));
                    break (end, Some(h));
                }
                Some(h) if h.close => {
                    let epilogue = self.scan(h.next);
                    let end = match epilogue {
                        None => raw.len(),
                        Some(e) if e.line == h.next => h.next,
                        Some(e) => part_end(raw, h.next, e.line),
                    };
                    break (end, epilogue);
                }
                Some(h) => {
                    if self.parts >= MAX_PARTS {
                        // Too many parts: the rest is not split any further.
                        from = h.next;
                        child_end = None;
                        hit = self.scan(h.next);
                        continue;
                    }
                    let (child, next) = self.part(h.next, depth + 1, digest);
                    child_end = Some(child.body.end);
                    children.push(child);
                    hit = next;
                }
            }
        };
        self.stack.pop();
        if children.is_empty() {
            children.push(self.empty(end));
        }
        (Kind::Multipart(children), end, out)
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
