//! CATENATE (RFC 4469): a message made of TEXT literals and IMAP URLs
//! (RFC 5092) of messages or parts of the same account:
//! `/mailbox[;UIDVALIDITY=v]/;UID=u[/;SECTION=s][/;PARTIAL=o[.l]]`.

use crate::message::{Message, Section, SectionKind};
use crate::store::Mailstore;

/// The bytes an URL names, or why not (for `NO [BADURL ...]`).
pub async fn resolve(ms: &Mailstore, url: &str) -> Result<Vec<u8>, String> {
    let u = parse(url).ok_or("not an IMAP URL of a message of this account")?;
    let info = ms
        .mailbox(&u.mailbox)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such mailbox")?;
    if u.uidvalidity.is_some_and(|v| v != info.uidvalidity) {
        return Err("UIDVALIDITY does not match".into());
    }
    let meta = ms
        .messages_between(info.id, u.uid, u.uid)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|m| m.uid == u.uid)
        .ok_or("no such message")?;
    let raw = tokio::fs::read(ms.blob_path(&meta.blob))
        .await
        .map_err(|_| "the message is gone")?;
    let data = match &u.section {
        None => raw,
        Some(s) => Message::parse(&raw).section(s),
    };
    Ok(match u.partial {
        None => data,
        Some((o, l)) => {
            let start = (o as usize).min(data.len());
            let end = l.map_or(data.len(), |l| {
                start.saturating_add(l as usize).min(data.len())
            });
            data[start..end].to_vec()
        }
    })
}

#[derive(Debug, PartialEq)]
struct Url {
    mailbox: String,
    uidvalidity: Option<u32>,
    uid: u32,
    section: Option<Section>,
    partial: Option<(u32, Option<u32>)>,
}

/// Parses a relative IMAP URL naming a message (RFC 5092 `/imessagepart`);
/// the mailbox name is percent-encoded UTF-8.
fn parse(url: &str) -> Option<Url> {
    let rest = url.strip_prefix('/')?;
    let lower = rest.to_ascii_lowercase();
    let at = lower.find("/;uid=")?;
    let (mbx, tail) = (&rest[..at], &rest[at + 6..]);
    let (mbx, uidvalidity) = match mbx.to_ascii_lowercase().find(";uidvalidity=") {
        Some(i) => (&mbx[..i], Some(mbx[i + 13..].parse().ok()?)),
        None => (mbx, None),
    };
    let mailbox = String::from_utf8(percent_decode(mbx)?).ok()?;
    let mut fields = tail.split("/;");
    let uid: u32 = fields.next()?.parse().ok()?;
    let mut section = None;
    let mut partial = None;
    for f in fields {
        let (k, v) = f.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "section" if section.is_none() && partial.is_none() => {
                section = Some(parse_section(&String::from_utf8(percent_decode(v)?).ok()?)?)
            }
            "partial" if partial.is_none() => {
                partial = Some(match v.split_once('.') {
                    Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok()?)),
                    None => (v.parse().ok()?, None),
                })
            }
            _ => return None,
        }
    }
    (uid > 0 && !mailbox.is_empty()).then_some(Url {
        mailbox,
        uidvalidity,
        uid,
        section,
        partial,
    })
}

/// `1.2`, `HEADER`, `1.TEXT`, `2.MIME`: a part number and what of it.
fn parse_section(s: &str) -> Option<Section> {
    let mut part = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next().filter(char::is_ascii_digit) {
        let _ = c;
        let (n, r) = rest.split_once('.').unwrap_or((rest, ""));
        part.push(n.parse::<u32>().ok().filter(|&n| n > 0)?);
        rest = r;
    }
    let kind = match rest.to_ascii_uppercase().as_str() {
        "" => SectionKind::All,
        "HEADER" => SectionKind::Header,
        "TEXT" => SectionKind::Text,
        "MIME" if !part.is_empty() => SectionKind::Mime,
        _ => return None,
    };
    Some(Section { part, kind })
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u =
            parse("/Entw%C3%BCrfe;UIDVALIDITY=77/;UID=3/;SECTION=1.2.MIME/;PARTIAL=5.10").unwrap();
        assert_eq!(u.mailbox, "Entwürfe");
        assert_eq!(u.uidvalidity, Some(77));
        assert_eq!(u.uid, 3);
        assert_eq!(
            u.section,
            Some(Section {
                part: vec![1, 2],
                kind: SectionKind::Mime
            })
        );
        assert_eq!(u.partial, Some((5, Some(10))));
        let u = parse("/INBOX/;uid=20/;partial=100000").unwrap();
        assert_eq!(
            (u.uid, u.partial, u.section),
            (20, Some((100000, None)), None)
        );
        let u = parse("/a/b/;UID=1/;SECTION=HEADER").unwrap();
        assert_eq!(u.mailbox, "a/b");
        assert_eq!(u.section.unwrap().kind, SectionKind::Header);
        for bad in [
            "imap://joe@example.com/INBOX/;UID=1",
            "INBOX/;UID=1",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=x/;UID=1",
            "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(FROM)",
            "/INBOX/;UID=1/;SECTION=0",
            "/INBOX/;UID=1/;URLAUTH=anonymous",
            "/INBOX%zz/;UID=1",
            "/;UID=1",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
