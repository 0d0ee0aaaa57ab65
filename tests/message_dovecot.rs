//! Compares our ENVELOPE, BODY and BODYSTRUCTURE with what a real Dovecot (the
//! legacy server of the test harness) returns for every golden message.
//!
//! Known, deliberate differences are listed in `KNOWN_DIFFERENCES` and in
//! docs/quirks.md. With FERRYMAIL_DUMP_DOVECOT=DIR set, Dovecot's answers are
//! also written to DIR for inspection.

mod common;

use common::legacy::{ImapClient, Legacy, LegacyOptions, Line};
use ferrymail::message::{Message, SearchField, Section, SectionKind};

/// Rebuilds a response line with its literals (`{n}\r\n` + bytes).
fn rebuild(line: &Line) -> Vec<u8> {
    let text = line.text.as_bytes();
    let mut out = Vec::new();
    let mut lits = line.literals.iter();
    let mut next = lits.next();
    let mut i = 0;
    while i < text.len() {
        if let Some(lit) = next {
            let marker = format!("{{{}}}", lit.len());
            if text[i..].starts_with(marker.as_bytes()) {
                out.extend_from_slice(marker.as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(lit);
                i += marker.len();
                next = lits.next();
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// Replaces literals that a quoted string can carry by that quoted string.
fn normalize_literals(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut quoted = false;
    while i < v.len() {
        let c = v[i];
        if quoted {
            out.push(c);
            if c == b'\\' && i + 1 < v.len() {
                out.push(v[i + 1]);
                i += 1;
            } else if c == b'"' {
                quoted = false;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            quoted = true;
        }
        if c == b'{' {
            if let Some(close) = v[i..].iter().position(|&b| b == b'}') {
                let n: Option<usize> = std::str::from_utf8(&v[i + 1..i + close])
                    .ok()
                    .and_then(|d| d.parse().ok());
                let start = i + close + 3;
                if let Some(n) = n.filter(|&n| start + n <= v.len()) {
                    let lit = &v[start..start + n];
                    if lit
                        .iter()
                        .all(|&b| b != b'\r' && b != b'\n' && b != 0 && b < 0x80)
                    {
                        out.push(b'"');
                        for &b in lit {
                            if b == b'"' || b == b'\\' {
                                out.push(b'\\');
                            }
                            out.push(b);
                        }
                        out.push(b'"');
                    } else {
                        out.extend_from_slice(&v[i..start + n]);
                    }
                    i = start + n;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The value of one FETCH item from Dovecot.
fn fetch(imap: &mut common::legacy::ImapClient, seq: usize, item: &str) -> Vec<u8> {
    let lines = imap.ok(&format!("FETCH {seq} ({item})"));
    let line = lines
        .iter()
        .find(|l| l.text.starts_with(&format!("* {seq} FETCH")))
        .expect("FETCH response");
    let full = rebuild(line);
    let prefix = format!("* {seq} FETCH ({item} ");
    assert!(full.starts_with(prefix.as_bytes()), "{}", line.text);
    full[prefix.len()..full.len() - 1].to_vec()
}

/// Golden messages whose structures must equal Dovecot's byte for byte.
/// lf-only.eml is left out: Dovecot counts sizes as if lines ended in CRLF,
/// ferrymail counts the stored octets (docs/quirks.md).
fn golden_messages() -> Vec<(String, Vec<u8>)> {
    let mut v = common::golden::messages();
    v.retain(|(name, _)| name != "lf-only");
    v
}

/// A legacy Dovecot holding the golden messages in alice's INBOX, in order;
/// alice's session with INBOX selected.
fn golden_in_dovecot() -> (Legacy, ImapClient, Vec<(String, Vec<u8>)>) {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut imap = legacy.imap("alice", "alice-pw");
    let msgs = golden_messages();
    for (_, raw) in &msgs {
        imap.append("INBOX", "", "01-Jan-2020 10:00:00 +0000", raw);
    }
    imap.ok("SELECT INBOX");
    (legacy, imap, msgs)
}

#[test]
fn structures_match_dovecot() {
    let (_legacy, mut imap, msgs) = golden_in_dovecot();
    let dump = std::env::var_os("FERRYMAIL_DUMP_DOVECOT").map(std::path::PathBuf::from);
    let mut failures = Vec::new();
    for (i, (name, raw)) in msgs.iter().enumerate() {
        let m = Message::parse(raw);
        for (item, ours) in [
            ("ENVELOPE", m.envelope()),
            ("BODY", m.body_structure(false)),
            ("BODYSTRUCTURE", m.body_structure(true)),
        ] {
            let theirs = fetch(&mut imap, i + 1, item);
            if let Some(d) = &dump {
                std::fs::create_dir_all(d).unwrap();
                std::fs::write(d.join(format!("{name}.{item}")), &theirs).unwrap();
            }
            // Dovecot sends strings holding `"` or `\` or folded lines as literals;
            // we send quoted strings where they can carry the text. Same strings.
            let theirs = normalize_literals(&theirs);
            if ours != theirs && !known_difference(name, item) {
                failures.push(format!(
                    "{name} {item}\n  dovecot:   {}\n  ferrymail: {}",
                    String::from_utf8_lossy(&theirs),
                    String::from_utf8_lossy(&ours)
                ));
            }
        }
    }
    imap.logout();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// BODY[section] as IMAP text and as our `Section`.
fn sections() -> Vec<(&'static str, Section)> {
    use SectionKind::*;
    let s = |part: &[u32], kind: SectionKind| Section {
        part: part.to_vec(),
        kind,
    };
    let f = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("", s(&[], All)),
        ("HEADER", s(&[], Header)),
        ("TEXT", s(&[], Text)),
        (
            "HEADER.FIELDS (SUBJECT from)",
            s(&[], HeaderFields(f(&["SUBJECT", "from"]))),
        ),
        (
            "HEADER.FIELDS.NOT (Subject To)",
            s(&[], HeaderFieldsNot(f(&["Subject", "To"]))),
        ),
        ("1", s(&[1], All)),
        ("1.MIME", s(&[1], Mime)),
        ("2", s(&[2], All)),
        ("2.MIME", s(&[2], Mime)),
        ("2.HEADER", s(&[2], Header)),
        ("2.TEXT", s(&[2], Text)),
        (
            "2.HEADER.FIELDS (SUBJECT)",
            s(&[2], HeaderFields(f(&["SUBJECT"]))),
        ),
        ("2.1", s(&[2, 1], All)),
        ("2.1.MIME", s(&[2, 1], Mime)),
        ("2.2", s(&[2, 2], All)),
        ("1.1", s(&[1, 1], All)),
        ("1.2", s(&[1, 2], All)),
        ("1.2.MIME", s(&[1, 2], Mime)),
        ("3", s(&[3], All)),
        ("3.MIME", s(&[3], Mime)),
        ("3.HEADER", s(&[3], Header)),
        ("3.TEXT", s(&[3], Text)),
        ("4", s(&[4], All)),
        ("1.HEADER", s(&[1], Header)),
        ("1.TEXT", s(&[1], Text)),
        ("2.2.MIME", s(&[2, 2], Mime)),
        ("2.1.1", s(&[2, 1, 1], All)),
        ("2.1.2", s(&[2, 1, 2], All)),
    ]
}

/// The literal (or quoted string) of a `BODY[...]` FETCH response; NIL is empty.
fn section_value(line: &Line) -> Vec<u8> {
    if let Some(l) = line.literals.first() {
        return l.clone();
    }
    match line.text.find("] \"") {
        Some(p) => {
            let rest = &line.text[p + 3..];
            rest.as_bytes()[..rest.rfind('"').unwrap_or(0)].to_vec()
        }
        None => Vec::new(),
    }
}

#[test]
fn sections_match_dovecot() {
    let (_legacy, mut imap, msgs) = golden_in_dovecot();
    let mut failures = Vec::new();
    for (i, (name, raw)) in msgs.iter().enumerate() {
        let m = Message::parse(raw);
        for (text, section) in sections() {
            let lines = imap.ok(&format!("FETCH {} (BODY.PEEK[{text}])", i + 1));
            let line = lines
                .iter()
                .find(|l| l.text.starts_with(&format!("* {} FETCH", i + 1)))
                .expect("FETCH response");
            let theirs = section_value(line);
            let ours = m.section(&section);
            if ours != theirs && !KNOWN_SECTION_DIFFERENCES.contains(&(name.as_str(), text)) {
                failures.push(format!(
                    "{name} BODY[{text}]\n  dovecot:   {:?}\n  ferrymail: {:?}",
                    String::from_utf8_lossy(&theirs),
                    String::from_utf8_lossy(&ours)
                ));
            }
        }
    }
    imap.logout();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (message, section) pairs where ferrymail deliberately differs from Dovecot.
const KNOWN_SECTION_DIFFERENCES: &[(&str, &str)] = &[];

/// (message, item) pairs where ferrymail deliberately differs from Dovecot.
/// broken and boundaries ENVELOPE: after a syntax error in an address list
/// Dovecot drops the rest of the list; ferrymail goes on with the next address.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[("broken", "ENVELOPE"), ("boundaries", "ENVELOPE")];

fn known_difference(name: &str, item: &str) -> bool {
    KNOWN_DIFFERENCES.contains(&(name, item))
}

#[test]
fn search_matches_dovecot() {
    let (_legacy, mut imap, msgs) = golden_in_dovecot();
    let searches: &[(&str, SearchField, &str)] = &[
        ("BODY", SearchField::Body, "café"),
        ("BODY", SearchField::Body, "grüße"),
        ("BODY", SearchField::Body, "GRÜSSE"),
        ("BODY", SearchField::Body, "pizza"),
        ("BODY", SearchField::Body, "hello world"),
        ("BODY", SearchField::Body, "<b>12%</b>"),
        ("BODY", SearchField::Body, "schöne"),
        ("BODY", SearchField::Body, "quarterly"),
        ("BODY", SearchField::Body, "first message"),
        ("BODY", SearchField::Body, "JFIF"),
        ("BODY", SearchField::Body, "PGh0bWw"),
        ("BODY", SearchField::Body, "prix: 10 €"),
        ("BODY", SearchField::Body, "inner 1"),
        ("BODY", SearchField::Body, "preamble"),
        ("BODY", SearchField::Body, "inner without body"),
        ("TEXT", SearchField::Text, "content-type"),
        ("TEXT", SearchField::Text, "inner without body"),
        ("TEXT", SearchField::Text, "original sender"),
        ("TEXT", SearchField::Text, "X-Bound-inner"),
        ("TEXT", SearchField::Text, "no-space@"),
        ("SUBJECT", SearchField::Header("subject"), "=E2=80=93"),
        ("SUBJECT", SearchField::Header("subject"), "ausflug – teil"),
        ("SUBJECT", SearchField::Header("subject"), ""),
        ("HEADER X-MISSING", SearchField::Header("x-missing"), ""),
        (
            "HEADER CONTENT-DESCRIPTION",
            SearchField::Header("content-description"),
            "",
        ),
        ("BODY", SearchField::Body, "boundary never"),
        ("TEXT", SearchField::Text, "quarterly"),
        ("TEXT", SearchField::Text, "andré"),
        ("TEXT", SearchField::Text, "pizza"),
        ("SUBJECT", SearchField::Header("subject"), "teil 1"),
        (
            "SUBJECT",
            SearchField::Header("subject"),
            "understand the example",
        ),
        ("SUBJECT", SearchField::Header("subject"), "lunch"),
        ("SUBJECT", SearchField::Header("subject"), "grüße"),
        ("FROM", SearchField::Header("from"), "andré"),
        ("FROM", SearchField::Header("from"), "jörg"),
        ("TO", SearchField::Header("to"), "jürgen"),
        ("CC", SearchField::Header("cc"), "ed jones"),
        (
            "HEADER MESSAGE-ID",
            SearchField::Header("message-id"),
            "example.org",
        ),
        (
            "HEADER CONTENT-LANGUAGE",
            SearchField::Header("content-language"),
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (key, field, needle) in searches {
        let cmd = format!(
            "SEARCH CHARSET UTF-8 {key} {{{}+}}\r\n{needle}",
            needle.len()
        );
        let lines = imap.ok(&cmd);
        let theirs: Vec<usize> = lines
            .iter()
            .filter_map(|l| l.text.strip_prefix("* SEARCH"))
            .flat_map(|t| t.split_whitespace().map(|n| n.parse().unwrap()))
            .collect();
        let ours: Vec<usize> = msgs
            .iter()
            .enumerate()
            .filter(|(_, (_, raw))| Message::parse(raw).contains(*field, needle))
            .map(|(i, _)| i + 1)
            .collect();
        // ferrymail also matches header fields as written (encoded-words not
        // decoded); Dovecot only the decoded text.
        let raw_match = *needle == "=E2=80=93";
        if ours != theirs && !raw_match {
            failures.push(format!(
                "SEARCH {key} {needle:?}: dovecot {theirs:?}, ferrymail {ours:?}"
            ));
        }
    }
    imap.logout();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
