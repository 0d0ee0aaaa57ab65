//! Message analysis for IMAP FETCH and SEARCH (and small helpers for POP3 TOP and
//! SMTP loop detection): ENVELOPE and BODYSTRUCTURE in IMAP syntax, BODY[section]
//! extraction, decoded header/body search, the Date header.
//!
//! Everything here works on the raw bytes of one message, never panics on any
//! input, and bounds its recursion (nested multiparts and message/rfc822).
//! No imap-codec types: the IMAP layer writes the returned bytes as they are.

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
    /// Header and body.
    Text,
}

/// A parsed message, borrowing its bytes.
pub struct Message<'a> {
    raw: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(raw: &'a [u8]) -> Message<'a> {
        Message { raw }
    }

    /// The ENVELOPE structure in IMAP syntax: `("date" "subject" ((...)) ... "message-id")`.
    pub fn envelope(&self) -> Vec<u8> {
        todo!("ENVELOPE rendering (message module)")
    }

    /// BODY (`extended = false`) or BODYSTRUCTURE (`true`, with extension data) in
    /// IMAP syntax.
    pub fn body_structure(&self, _extended: bool) -> Vec<u8> {
        todo!("BODYSTRUCTURE rendering (message module)")
    }

    /// The bytes of a section (without `<partial>`, which the caller applies).
    /// A part that does not exist gives an empty result.
    pub fn section(&self, section: &Section) -> Vec<u8> {
        let end = header_end(self.raw);
        match (&section.kind, section.part.is_empty()) {
            (SectionKind::All, true) => self.raw.to_vec(),
            (SectionKind::Header, true) => self.raw[..end].to_vec(),
            (SectionKind::Text, true) => self.raw[end..].to_vec(),
            _ => todo!("part sections (message module)"),
        }
    }

    /// Case-insensitive substring search in decoded text (RFC 3501 §6.4.4).
    pub fn contains(&self, _field: SearchField<'_>, _needle: &str) -> bool {
        todo!("SEARCH text matching (message module)")
    }

    /// The Date header: seconds since the epoch and the zone offset in minutes.
    pub fn date(&self) -> Option<(i64, i32)> {
        todo!("Date header parsing (message module)")
    }
}

/// Offset just after the header block (after the empty line), or the whole length
/// when there is no body.
pub fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end;
        }
        i = line_end;
    }
    raw.len()
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
