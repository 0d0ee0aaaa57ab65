//! What tests read from the message: header fields (unfolded, RFC 2047
//! decoded), the addresses of a field, the size, and body text for the
//! `body` test (RFC 5173, decoded by mail-parser).

use std::cell::OnceCell;
use std::rc::Rc;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::message::{decode_words, header_end, Message};

/// Most header fields looked at; the rest of a hostile header is ignored.
const MAX_FIELDS: usize = 10_000;

/// One header field: its name and its unfolded raw value.
struct Field {
    name: String,
    value: Vec<u8>,
    /// The value RFC 2047 decoded and trimmed, on first use.
    decoded: OnceCell<Rc<str>>,
    /// The addresses of the value, on first use.
    addrs: OnceCell<Rc<[Addr]>>,
}

/// The message as the tests see it, parsed once per run.
pub struct MsgView<'a> {
    raw: &'a [u8],
    fields: Vec<Field>,
    /// The decoded leaf parts (type, subtype, text), computed on first use.
    parts: OnceCell<Vec<(String, String, String)>>,
    raw_body: OnceCell<String>,
}

/// An address of a header or the envelope: local part and domain.
pub struct Addr {
    pub local: String,
    pub domain: String,
}

impl<'a> MsgView<'a> {
    pub fn new(raw: &'a [u8]) -> MsgView<'a> {
        let head = &raw[..header_end(raw)];
        let mut fields: Vec<Field> = Vec::new();
        for line in head.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if matches!(line[0], b' ' | b'\t') {
                if let Some(f) = fields.last_mut() {
                    f.value.extend_from_slice(line);
                }
                continue;
            }
            if fields.len() >= MAX_FIELDS {
                break;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
                fields.push(Field {
                    name,
                    value: line[colon + 1..].to_vec(),
                    decoded: OnceCell::new(),
                    addrs: OnceCell::new(),
                });
            }
        }
        MsgView {
            raw,
            fields,
            parts: OnceCell::new(),
            raw_body: OnceCell::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.raw.len() as u64
    }

    /// The raw values of the fields named `name`, in order.
    pub fn raw_values(&self, name: &str) -> Vec<&[u8]> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_slice())
            .collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The decoded values (RFC 2047) of the fields named `name`, trimmed.
    pub fn values(&self, name: &str) -> Vec<Rc<str>> {
        self.named(name)
            .map(|f| {
                let d = f
                    .decoded
                    .get_or_init(|| Rc::from(decode_words(&f.value).trim()));
                Rc::clone(d)
            })
            .collect()
    }

    /// The addresses of each field named `name`, one list per field.
    pub fn address_lists(&self, name: &str) -> Vec<Rc<[Addr]>> {
        self.named(name)
            .map(|f| Rc::clone(f.addrs.get_or_init(|| addresses(&f.value).into())))
            .collect()
    }

    fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Field> + 's {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }

    /// The body (after the header block), undecoded (`body :raw`).
    pub fn raw_body(&self) -> &str {
        self.raw_body
            .get_or_init(|| String::from_utf8_lossy(&self.raw[header_end(self.raw)..]).into_owned())
    }

    fn parts(&self) -> &[(String, String, String)] {
        self.parts.get_or_init(|| {
            let Some(m) = MessageParser::default().parse(self.raw) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for p in &m.parts {
                let (main, sub) = match p.content_type() {
                    Some(ct) => (
                        ct.ctype().to_ascii_lowercase(),
                        ct.subtype().unwrap_or("").to_ascii_lowercase(),
                    ),
                    None => ("text".to_string(), "plain".to_string()),
                };
                let text = match &p.body {
                    PartType::Text(t) | PartType::Html(t) => t.to_string(),
                    PartType::Binary(b) | PartType::InlineBinary(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    _ => continue,
                };
                out.push((main, sub, text));
            }
            out
        })
    }

    /// The decoded texts of the parts whose type matches one of `types`
    /// (`text`, `text/plain`, or `""` for every part; RFC 5173 §5.2).
    pub fn body_parts(&self, types: &[String]) -> Vec<String> {
        self.parts()
            .iter()
            .filter(|(main, sub, _)| {
                types.iter().any(|t| match t.split_once('/') {
                    _ if t.is_empty() => true,
                    Some((a, b)) => a == main && b == sub,
                    None => t == main,
                })
            })
            .map(|p| p.2.clone())
            .collect()
    }
}

/// The addresses of one header value (group names and display names left out).
pub fn addresses(value: &[u8]) -> Vec<Addr> {
    let mut fake = b"X: ".to_vec();
    fake.extend_from_slice(value);
    fake.extend_from_slice(b"\r\n\r\n");
    let m = Message::parse(&fake);
    m.addresses("x")
        .into_iter()
        .filter_map(|a| {
            let local = a.mailbox?;
            let domain = a.host?;
            Some(Addr {
                local: decode_words(&local),
                domain: String::from_utf8_lossy(&domain).into_owned(),
            })
        })
        .collect()
}

/// Splits an envelope address (`local@domain`, maybe in `<>`).
pub fn split_address(a: &str) -> Addr {
    let a = a.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rsplit_once('@') {
        Some((l, d)) => Addr {
            local: l.to_string(),
            domain: d.to_string(),
        },
        None => Addr {
            local: a.to_string(),
            domain: String::new(),
        },
    }
}
