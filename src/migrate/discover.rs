//! Alias discovery from the legacy side (issue 18 item 5): while a user's mail
//! is copied, the envelope recipients the legacy server's delivery recorded in
//! each message (`Delivered-To`, `X-Original-To`, `Envelope-To`) tell which
//! other addresses of the hosted domains brought mail into this mailbox: the
//! legacy server's aliases and lists. `ferrymail aliases discover` turns the
//! evidence into suggested alias lines for the admin; nothing is created here.
//!
//! Cost: only the header block the blob writer kept while the message
//! streamed ([`crate::store::StagedBlob::head`]) is parsed, as the message
//! joins its batch; the evidence of a batch is a small map (address ->
//! messages, last date) written in one transaction after the batch committed
//! (table `discovered_addresses` in `ferrymail.sqlite`, module schema
//! "discover"). Every pass records evidence: the copy, the delta of the
//! switch and the catch-up passes (each message counts once: a pass copies
//! only what is not copied yet). `last_seen` is the message's INTERNALDATE
//! (POP3: the date of its first `Received:`, else `Date:`).

use std::collections::{HashMap, HashSet};

use rusqlite::params;

use crate::store::{Db, StoreError};

const SCHEMA: &[crate::store::db::Migration] = &[r#"
CREATE TABLE discovered_addresses (
    address     TEXT NOT NULL,
    account_id  INTEGER NOT NULL,
    domain      TEXT NOT NULL,
    messages    INTEGER NOT NULL DEFAULT 0,
    last_seen   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (address, account_id)
);
CREATE INDEX discovered_addresses_domain ON discovered_addresses(domain);
"#];

/// The header fields a delivery records the envelope recipient in.
const FIELDS: [&str; 3] = ["delivered-to", "x-original-to", "envelope-to"];
/// Addresses kept from one field (an `Envelope-To` may list several).
const MAX_PER_FIELD: usize = 50;
/// Longest address kept (RFC 5321 path limit).
const MAX_ADDRESS: usize = 254;

/// Brings the table up to date.
pub fn init(db: &Db) -> Result<(), StoreError> {
    db.migrate_module("discover", SCHEMA)
}

/// What one user's passes look for: addresses of `hosted` domains other than
/// the user's own.
#[derive(Debug)]
pub struct Discovery {
    db: Db,
    account_id: i64,
    own: String,
    hosted: HashSet<String>,
    /// The own domain's `recipient_delimiter` characters ("" for none).
    delimiters: String,
}

/// Evidence gathered since the last write: address -> (messages, last seen).
#[derive(Debug, Default)]
pub struct Found(HashMap<String, (u64, i64)>);

impl Found {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Discovery {
    pub fn new<'a>(
        db: &Db,
        account_id: i64,
        own: &str,
        hosted: impl IntoIterator<Item = &'a String>,
    ) -> Discovery {
        Discovery {
            db: db.clone(),
            account_id,
            own: own.to_lowercase(),
            hosted: hosted.into_iter().map(|d| d.to_ascii_lowercase()).collect(),
            delimiters: "+".into(),
        }
    }

    /// The own domain's `recipient_delimiter` (default `+`; "" for none).
    pub fn with_delimiters(mut self, delimiters: &str) -> Discovery {
        self.delimiters = delimiters.to_string();
        self
    }

    /// Adds the evidence of one message (its header block, its date).
    pub fn note(&self, found: &mut Found, head: &[u8], when: i64) {
        let mut seen: HashSet<String> = HashSet::new();
        for address in envelope_recipients(head) {
            if self.is_own(&address) || !seen.insert(address.clone()) {
                continue;
            }
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            if !self.hosted.contains(domain) {
                continue;
            }
            let e = found.0.entry(address).or_insert((0, when));
            e.0 += 1;
            e.1 = e.1.max(when);
        }
    }

    /// The user's own address, also with an extension after the domain's
    /// recipient delimiter (`alice+news@`, delivered to alice, is no alias).
    fn is_own(&self, address: &str) -> bool {
        if address == self.own {
            return true;
        }
        let (Some((local, domain)), Some((own_local, own_domain))) =
            (address.rsplit_once('@'), self.own.rsplit_once('@'))
        else {
            return false;
        };
        domain == own_domain
            && local
                .split_once(|c| self.delimiters.contains(c))
                .is_some_and(|(base, _)| base == own_local)
    }

    /// Writes the evidence of a committed batch (one transaction). A failure
    /// is logged: discovery never fails a copy.
    pub async fn record(&self, found: Found) {
        if found.is_empty() {
            return;
        }
        let account_id = self.account_id;
        let r = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO discovered_addresses (address, account_id, domain, messages, last_seen)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(address, account_id) DO UPDATE SET
                           messages = messages + excluded.messages,
                           last_seen = max(last_seen, excluded.last_seen)",
                    )?;
                    for (address, (messages, last)) in found.0 {
                        let domain = address.rsplit_once('@').map(|(_, d)| d.to_string());
                        let domain = domain.unwrap_or_default();
                        st.execute(params![address, account_id, domain, messages as i64, last])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::error!(account_id, error = %e, "cannot record discovered addresses");
        }
    }
}

/// One address seen in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub address: String,
    pub account_id: i64,
    pub messages: u64,
    pub last_seen: i64,
}

/// The evidence for `domain`, by address then most messages first.
pub fn evidence(db: &Db, domain: &str) -> Result<Vec<Evidence>, StoreError> {
    let domain = domain.to_ascii_lowercase();
    db.call_blocking(move |c| {
        let mut st = c.prepare(
            "SELECT address, account_id, messages, last_seen FROM discovered_addresses
             WHERE domain = ?1 ORDER BY address, messages DESC, account_id",
        )?;
        let rows = st.query_map([domain], |r| {
            Ok(Evidence {
                address: r.get(0)?,
                account_id: r.get(1)?,
                messages: r.get::<_, i64>(2)?.max(0) as u64,
                last_seen: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
}

/// Distinct discovered addresses per domain (for `status`).
pub async fn counts(db: &Db) -> Result<HashMap<String, u64>, StoreError> {
    db.call(|c| {
        let mut st = c.prepare(
            "SELECT domain, count(DISTINCT address) FROM discovered_addresses GROUP BY domain",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
    })
    .await
}

// ----- parsing -----

/// The addresses in the envelope-recipient fields of a header block, lower
/// case, in order (duplicates kept). Reads at most the block (up to the first
/// empty line); anything that does not parse as an address is skipped.
pub fn envelope_recipients(head: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for value in values(head) {
        let value = String::from_utf8_lossy(&value);
        out.extend(addresses(&value).into_iter().take(MAX_PER_FIELD));
    }
    out
}

/// The unfolded values of the [`FIELDS`] in a header block, up to its end
/// (other fields are only skipped over, without copying). A block cut short
/// (no empty line: longer than the writer keeps) loses its last, incomplete
/// line.
fn values(head: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut lines: Vec<&[u8]> = head.split(|&b| b == b'\n').collect();
    let ended = lines.iter().any(|l| l.is_empty() || *l == b"\r".as_slice());
    if !ended {
        lines.pop();
    }
    // Whether the field being read is one of FIELDS (its value is the last).
    let mut wanted = false;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(value) = out.last_mut().filter(|_| wanted) {
                value.push(b' ');
                value.extend_from_slice(line);
            }
            continue;
        }
        // A line without a colon is no field (garbage, an mbox `From ` line):
        // it ends any folding.
        let field = line
            .iter()
            .position(|&b| b == b':')
            .map(|colon| (line[..colon].trim_ascii(), &line[colon + 1..]));
        wanted = false;
        if let Some((name, value)) = field {
            if FIELDS
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
            {
                wanted = true;
                out.push(value.to_vec());
            }
        }
    }
    out
}

/// The addresses of a field value: comments removed, split at commas outside
/// quotes and angle brackets, the part in `<...>` when there is one.
fn addresses(value: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut angle, mut escaped) = (0u32, false, false, false);
    for ch in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                cur.push(ch);
            }
            continue;
        }
        match ch {
            '\\' if quoted || depth > 0 => escaped = true,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            '<' if !quoted => {
                angle = true;
                cur.push(ch);
            }
            '>' if !quoted => {
                angle = false;
                cur.push(ch);
            }
            ',' | ';' if !quoted && !angle => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts.iter().filter_map(|p| address(p)).collect()
}

/// The address of one mailbox (`addr`, `<addr>`, `Name <addr>`), lower case,
/// when it is a plain `local@domain` that an aliases file can name.
fn address(part: &str) -> Option<String> {
    let part = part.trim();
    let inner = match (part.rfind('<'), part.rfind('>')) {
        (Some(open), Some(close)) if open < close => part.get(open + 1..close)?,
        (None, None) => part,
        _ => return None,
    };
    let inner = inner.trim();
    let (local, domain) = inner.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || ".!$%&'*+-/=?^_`{|}~".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    (local_ok && domain_ok && inner.len() <= MAX_ADDRESS).then(|| inner.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(h: &str) -> Vec<String> {
        envelope_recipients(h.as_bytes())
    }

    #[test]
    fn the_three_fields_and_nothing_else() {
        let h = "Return-Path: <x@y.z>\r\nDelivered-To: Alice@Example.org\r\nX-Original-To: info@example.org\r\n\
                 To: sales@example.org\r\nEnvelope-To: board@example.org\r\n\r\nDelivered-To: body@example.org\r\n";
        assert_eq!(
            parse(h),
            ["alice@example.org", "info@example.org", "board@example.org"]
        );
    }

    #[test]
    fn folded_commented_bracketed_and_several() {
        let h = "envelope-to: <a@example.org>, \"Sales, Team\" <Sales@example.org>,\r\n\t(a comment, with <x@evil.org>) c@example.org\r\n\
                 X-Original-To:\r\n info@example.org (the (nested) list)\r\nDELIVERED-TO: <d@example.org>; e@example.org\n\n";
        assert_eq!(
            parse(h),
            [
                "a@example.org",
                "sales@example.org",
                "c@example.org",
                "info@example.org",
                "d@example.org",
                "e@example.org"
            ]
        );
    }

    #[test]
    fn utf8_display_names_and_local_parts() {
        let h =
            "Envelope-To: \"Jürgen Müller\" <Jürgen@example.org>, Zoë <zoe@example.org>\r\n\r\n";
        assert_eq!(parse(h), ["jürgen@example.org", "zoe@example.org"]);
    }

    #[test]
    fn garbage_is_skipped_without_panicking() {
        let bad: &[&[u8]] = &[
            b"Delivered-To: \xff\xfe@\xc3\r\n\r\n",
            b"Delivered-To: <unclosed@example.org\r\n\r\n",
            b"Delivered-To: no-at-sign\r\nX-Original-To: @example.org\r\nEnvelope-To: a@\r\n\r\n",
            b"X-Original-To: a b@example.org\r\nX-Original-To: \"q\"@example.org\r\nX-Original-To: a#b@example.org\r\n\r\n",
            b"X-Original-To: a@exa_mple.org\r\nX-Original-To: a@-x.org\r\nX-Original-To: (((\r\n\r\n",
            b"\r\nDelivered-To: after-the-end@example.org\r\n",
            b"Delivered-To",
            b"",
            b" folded first line\r\nnot a field\r\n info@example.org\r\n\r\n",
        ];
        for h in bad {
            assert!(
                envelope_recipients(h).is_empty(),
                "{:?}",
                String::from_utf8_lossy(h)
            );
        }
        // A non-UTF-8 byte in a display name does not hide the address.
        assert_eq!(
            envelope_recipients(b"Envelope-To: Caf\xe9 <cafe@example.org>\r\n\r\n"),
            ["cafe@example.org"]
        );
        // A header cut at HEAD_MAX (no empty line) still yields its whole fields.
        assert_eq!(
            envelope_recipients(b"X-Original-To: info@example.org\r\nX-Original-To: sales@exam"),
            ["info@example.org"]
        );
        let long = format!(
            "Envelope-To: {}\r\n\r\n",
            vec!["a@example.org"; 500].join(",")
        );
        assert_eq!(parse(&long).len(), MAX_PER_FIELD);
    }

    #[test]
    fn own_foreign_and_duplicate_addresses_are_not_evidence() {
        let db = Db::open(std::path::Path::new(":memory:"), &[]).unwrap();
        let hosted = ["example.org".to_string(), "example.net".to_string()];
        let d = Discovery::new(&db, 7, "Alice@example.org", &hosted);
        let mut found = Found::default();
        let h = "Delivered-To: alice@example.org\r\nX-Original-To: alice+news@example.org\r\n\
                 Envelope-To: info@example.org, info@example.org, x@other.example, alice@example.net\r\n\r\n";
        d.note(&mut found, h.as_bytes(), 100);
        d.note(&mut found, b"X-Original-To: info@example.org\r\n\r\n", 50);
        let mut got: Vec<_> = found.0.into_iter().collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("alice@example.net".to_string(), (1, 100)),
                ("info@example.org".to_string(), (2, 100))
            ]
        );
    }

    #[test]
    fn recorded_evidence_adds_up() {
        let db = Db::open(std::path::Path::new(":memory:"), &[]).unwrap();
        init(&db).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hosted = ["example.org".to_string()];
        let (a, b) = (
            Discovery::new(&db, 1, "alice@example.org", &hosted),
            Discovery::new(&db, 2, "bob@example.org", &hosted),
        );
        let head = b"X-Original-To: sales@example.org\r\n\r\n";
        rt.block_on(async {
            for (d, when) in [(&a, 10), (&a, 30), (&b, 20)] {
                let mut f = Found::default();
                d.note(&mut f, head, when);
                d.record(f).await;
            }
            assert_eq!(counts(&db).await.unwrap()["example.org"], 1);
        });
        let ev = evidence(&db, "Example.org").unwrap();
        assert_eq!(
            ev.iter()
                .map(|e| (e.account_id, e.messages, e.last_seen))
                .collect::<Vec<_>>(),
            [(1, 2, 30), (2, 1, 20)]
        );
    }
}
