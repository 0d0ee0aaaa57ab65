//! Message analysis for IMAP FETCH and SEARCH (and small helpers for POP3 TOP and
//! SMTP loop detection): ENVELOPE and BODYSTRUCTURE in IMAP syntax, BODY[section]
//! extraction, decoded header/body search, the Date header.
//!
//! Everything here works on the raw bytes of one message, never panics on any
//! input, and bounds its recursion (nested multiparts and message/rfc822).
//! No imap-codec types: the IMAP layer writes the returned bytes as they are.
//! What is parsed, the limits and the deviations: docs/message.md.

use std::borrow::Cow;

pub use binary::encode_nul_parts;

mod binary;
mod bodystructure;
mod date;
pub mod decode;
mod envelope;
mod imapstr;
mod mime;
mod search;
mod value;

pub use envelope::Address;

/// A section of BODY[...] (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Part numbers (`1.2.3`); empty for the whole message.
    pub part: Vec<u32>,
    pub kind: SectionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `BODY[]`, `BODY[1.2]`: the whole message or part (a part's body, without its
    /// MIME header; for a message/rfc822 part, the encapsulated message).
    All,
    /// `HEADER`: the header block including the blank line.
    Header,
    /// `HEADER.FIELDS (A B)`: those fields (case-insensitive), then the blank line.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (A B)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`: the body after the header block.
    Text,
    /// `MIME`: the MIME header of a part (only with a non-empty part number).
    Mime,
}

/// Where SEARCH looks for a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchField<'a> {
    /// One header field by name (FROM, TO, CC, BCC, SUBJECT, HEADER x), decoded
    /// (RFC 2047); an empty needle matches any message that has the field.
    Header(&'a str),
    /// The body (all text parts, transfer-decoded and charset-decoded).
    Body,
    /// All headers (the message's, the parts' MIME headers, encapsulated
    /// messages') and the body.
    Text,
}

/// A parsed message, borrowing its bytes. `parse` builds the MIME tree once; the
/// other methods render from it.
pub struct Message<'a> {
    raw: &'a [u8],
    root: mime::Part,
}

impl<'a> Message<'a> {
    /// Analyses the MIME structure of `raw`. Never fails: broken MIME gives the
    /// structure a lenient reader sees (docs/message.md).
    pub fn parse(raw: &'a [u8]) -> Message<'a> {
        Message {
            raw,
            root: mime::parse(raw),
        }
    }

    /// Reads only the header fields of `raw` (a header block), for
    /// [`Self::contains`] of a header field, [`Self::header`],
    /// [`Self::addresses`] and [`Self::date`]; nothing else is meaningful.
    pub fn parse_header(raw: &'a [u8]) -> Message<'a> {
        Message {
            raw,
            root: mime::header_only(raw),
        }
    }

    /// The ENVELOPE structure in IMAP syntax: `("date" "subject" ((...)) ... "message-id")`.
    pub fn envelope(&self) -> Vec<u8> {
        let mut out = Vec::new();
        envelope::render(self.raw, &self.root, &mut out);
        out
    }

    /// BODY (`extended = false`) or BODYSTRUCTURE (`true`, with extension data) in
    /// IMAP syntax.
    pub fn body_structure(&self, extended: bool) -> Vec<u8> {
        let mut out = Vec::new();
        bodystructure::render(self.raw, &self.root, extended, &mut out);
        out
    }

    /// The bytes of a section (without `<partial>`, which the caller applies).
    /// A part that does not exist gives an empty result.
    pub fn section(&self, section: &Section) -> Vec<u8> {
        self.section_ref(section).into_owned()
    }

    /// `section` without copying: borrowed from the message except for
    /// HEADER.FIELDS and HEADER.FIELDS.NOT, which are assembled.
    pub fn section_ref(&self, section: &Section) -> Cow<'a, [u8]> {
        let raw: &'a [u8] = self.raw;
        let Some(part) = self.find(&section.part) else {
            return Cow::Borrowed(&[]);
        };
        let top = section.part.is_empty();
        // HEADER, TEXT and HEADER.FIELDS of a part number refer to the message
        // encapsulated in a message/rfc822 part.
        let message = if top {
            Some(part)
        } else if let mime::Kind::Message(inner) = &part.kind {
            Some(&**inner)
        } else {
            None
        };
        let empty = Cow::Borrowed(&raw[..0]);
        match &section.kind {
            SectionKind::All if top => Cow::Borrowed(raw),
            SectionKind::All => Cow::Borrowed(&raw[part.body.clone()]),
            SectionKind::Mime if top => empty,
            SectionKind::Mime => Cow::Borrowed(&raw[part.header.clone()]),
            SectionKind::Header => message.map_or(empty, |m| Cow::Borrowed(&raw[m.header.clone()])),
            SectionKind::Text => message.map_or(empty, |m| Cow::Borrowed(&raw[m.body.clone()])),
            SectionKind::HeaderFields(names) => {
                message.map_or(empty, |m| Cow::Owned(header_fields(raw, m, names, true)))
            }
            SectionKind::HeaderFieldsNot(names) => {
                message.map_or(empty, |m| Cow::Owned(header_fields(raw, m, names, false)))
            }
        }
    }

    /// `BINARY[part]` (RFC 3516): the whole message for an empty part number;
    /// else the part's body with its Content-Transfer-Encoding undone (a
    /// multipart or message/rfc822 part as it is). `Err` names an encoding
    /// this server cannot undo (`UNKNOWN-CTE`). A part that does not exist
    /// gives an empty result.
    pub fn binary(&self, path: &[u32]) -> Result<Cow<'a, [u8]>, String> {
        let raw: &'a [u8] = self.raw;
        if path.is_empty() {
            return Ok(Cow::Borrowed(raw));
        }
        let Some(part) = self.find(path) else {
            return Ok(Cow::Borrowed(&raw[..0]));
        };
        let body = &raw[part.body.clone()];
        if !matches!(part.kind, mime::Kind::Leaf) {
            return Ok(Cow::Borrowed(body));
        }
        let cte = bodystructure::encoding(raw, part);
        match cte.as_slice() {
            b"7bit" | b"8bit" | b"binary" => Ok(Cow::Borrowed(body)),
            b"base64" => Ok(Cow::Owned(decode::base64(body))),
            b"quoted-printable" => Ok(Cow::Owned(decode::quoted_printable(body))),
            other => Err(String::from_utf8_lossy(other).into_owned()),
        }
    }

    /// The part a part number refers to; the message itself for an empty one.
    /// Matches Dovecot: part 1 of a non-multipart message is its body, part 1 of
    /// a single part inside a multipart is that part; neither has parts itself.
    fn find(&self, path: &[u32]) -> Option<&mime::Part> {
        let mut cur = &self.root;
        let mut at_message = true;
        let mut message_body = false;
        for &n in path {
            let idx = usize::try_from(n).ok()?.checked_sub(1)?;
            // The parts of a message/rfc822 part are those of the message inside.
            let message = match &cur.kind {
                _ if at_message => Some(cur),
                mime::Kind::Message(inner) => Some(&**inner),
                _ => None,
            };
            let mut next_is_body = false;
            cur = match message {
                Some(m) => match &m.kind {
                    mime::Kind::Multipart(children) => children.get(idx)?,
                    _ if idx == 0 => {
                        next_is_body = true;
                        m
                    }
                    _ => return None,
                },
                None => match &cur.kind {
                    mime::Kind::Multipart(children) => children.get(idx)?,
                    _ if idx == 0 && !message_body => {
                        next_is_body = true;
                        cur
                    }
                    _ => return None,
                },
            };
            at_message = false;
            message_body = next_is_body;
        }
        Some(cur)
    }

    /// Case-insensitive substring search in decoded text (RFC 3501 §6.4.4).
    pub fn contains(&self, field: SearchField<'_>, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        match field {
            SearchField::Header(name) => search::header_field(self.raw, &self.root, name, &needle),
            SearchField::Body => {
                needle.is_empty() || search::body(self.raw, &self.root, &needle, false)
            }
            SearchField::Text => {
                needle.is_empty()
                    || search::any_header(self.raw, &self.root, &needle)
                    || search::body(self.raw, &self.root, &needle, true)
            }
        }
    }

    /// The last field `name` of the message header, unfolded, encoded-words
    /// kept (SORT, THREAD).
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.root.all(self.raw, name).last().map(value::unfold)
    }

    /// The addresses of every field `name` of the message header, as in
    /// ENVELOPE (group syntax gives a start marker with the group's name as
    /// mailbox and no host). Display names are not decoded.
    pub fn addresses(&self, name: &str) -> Vec<Address> {
        self.root
            .all(self.raw, name)
            .flat_map(|v| envelope::parse_addresses(&value::unfold(v)))
            .collect()
    }

    /// The Date header: seconds since the epoch and the zone offset in minutes.
    /// With several Date fields the last counts (as in ENVELOPE); None when
    /// there is none or it cannot be parsed.
    pub fn date(&self) -> Option<(i64, i32)> {
        self.root
            .all(self.raw, "date")
            .last()
            .and_then(|v| date::parse(&value::unfold(v)))
    }
}

/// HEADER.FIELDS (`keep = true`) or HEADER.FIELDS.NOT: the matching fields as
/// written (folded lines included), then the blank line.
fn header_fields(raw: &[u8], part: &mime::Part, names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in &part.fields {
        let name = &raw[f.name.clone()];
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed == keep {
            out.extend_from_slice(&raw[f.full.clone()]);
            if !raw[f.full.clone()].ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses an RFC 5322 date-time (a Date field's value, or the part of a
/// Received field after its last `;`): seconds since the epoch and the zone
/// offset in minutes.
pub fn parse_date(value: &[u8]) -> Option<(i64, i32)> {
    date::parse(&value::unfold(value))
}

/// A header value with its RFC 2047 encoded-words decoded (text outside them
/// read as UTF-8).
pub fn decode_words(value: &[u8]) -> String {
    decode::rfc2047(value)
}

/// Offset just after the header block (after the empty line), or the whole length
/// when there is no body.
pub fn header_end(raw: &[u8]) -> usize {
    header_block_end(raw).unwrap_or(raw.len())
}

/// Offset just after the empty line that ends the header block, `None` when
/// `raw` has none (yet: a reader may need more of the message).
pub fn header_block_end(raw: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return Some(line_end);
        }
        i = line_end;
    }
    None
}

/// How many header fields named `name` (case-insensitive) the header block has.
pub fn header_count(raw: &[u8], name: &str) -> usize {
    let head = &raw[..header_end(raw)];
    head.split(|&b| b == b'\n')
        .filter(|l| {
            l.len() > name.len()
                && l[name.len()] == b':'
                && l[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        })
        .count()
}
