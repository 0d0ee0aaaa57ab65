//! The message analysis module: golden ENVELOPE / BODY / BODYSTRUCTURE outputs for
//! real-world message shapes, BODY[section] extraction, SEARCH matching, Date
//! parsing, and robustness against truncated, mangled and hostile input.
//!
//! The golden outputs of every CRLF message equal what Dovecot 2.3 returns (see
//! tests/message_dovecot.rs, which checks that against a running Dovecot).
//! Set FERRYMAIL_BLESS=1 to rewrite the golden files from the current output.

mod common;

use common::golden::{self, eml};
use ferrymail::message::{Message, SearchField, Section, SectionKind};

#[test]
fn golden_envelope_and_bodystructure() {
    let bless = std::env::var_os("FERRYMAIL_BLESS").is_some();
    let msgs = golden::messages();
    assert!(msgs.len() >= 10, "golden messages missing");
    let mut failures = Vec::new();
    for (name, raw) in &msgs {
        let m = Message::parse(raw);
        for (ext, got) in [
            ("envelope", m.envelope()),
            ("body", m.body_structure(false)),
            ("bodystructure", m.body_structure(true)),
        ] {
            let path = golden::dir().join(format!("{name}.{ext}"));
            if bless {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read(&path).unwrap_or_else(|_| panic!("{path:?} missing"));
            if got != want {
                failures.push(format!(
                    "{name}.{ext}\n  want: {}\n  got:  {}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got)
                ));
            }
            check_syntax(&got).unwrap_or_else(|e| panic!("{name}.{ext}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks that `v` is exactly one parenthesised IMAP list made of atoms (NIL,
/// numbers), quoted strings, literals and lists.
fn check_syntax(v: &[u8]) -> Result<(), String> {
    fn item(v: &[u8], mut i: usize) -> Result<usize, String> {
        match v.get(i) {
            Some(b'(') => {
                i += 1;
                let mut first = true;
                loop {
                    match v.get(i) {
                        Some(b')') => return Ok(i + 1),
                        None => return Err("unclosed list".into()),
                        _ => {}
                    }
                    if !first && v.get(i - 1) != Some(&b'(') && v.get(i - 1) != Some(&b')') {
                        if v[i] != b' ' {
                            return Err(format!("no space at {i}"));
                        }
                        i += 1;
                    } else if v[i] == b' ' {
                        i += 1;
                    }
                    first = false;
                    i = item(v, i)?;
                }
            }
            Some(b'"') => {
                i += 1;
                loop {
                    match v.get(i) {
                        Some(b'\\') => {
                            if !matches!(v.get(i + 1), Some(b'\\' | b'"')) {
                                return Err(format!("bad escape at {i}"));
                            }
                            i += 2
                        }
                        Some(b'"') => return Ok(i + 1),
                        Some(b'\r' | b'\n' | 0) => {
                            return Err(format!("CR/LF/NUL in quoted at {i}"))
                        }
                        Some(b) if *b >= 0x80 => return Err(format!("8-bit in quoted at {i}")),
                        Some(_) => i += 1,
                        None => return Err("unterminated quoted".into()),
                    }
                }
            }
            Some(b'{') => {
                let close = v[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("bad literal")?
                    + i;
                let n: usize = std::str::from_utf8(&v[i + 1..close])
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|_| "bad literal length")?;
                if v.get(close + 1..close + 3) != Some(b"\r\n") {
                    return Err("literal without CRLF".into());
                }
                let end = close + 3 + n;
                if end > v.len() {
                    return Err("literal too long".into());
                }
                Ok(end)
            }
            Some(b) if b.is_ascii_alphanumeric() => {
                let s = i;
                while v.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
                    i += 1;
                }
                let atom = &v[s..i];
                if atom == b"NIL" || atom.iter().all(u8::is_ascii_digit) {
                    Ok(i)
                } else {
                    Err(format!("unexpected atom {}", String::from_utf8_lossy(atom)))
                }
            }
            other => Err(format!("unexpected {other:?} at {i}")),
        }
    }
    if v.first() != Some(&b'(') {
        return Err("not a list".into());
    }
    let end = item(v, 0)?;
    if end != v.len() {
        return Err(format!("trailing bytes at {end}"));
    }
    Ok(())
}

fn sec(part: &[u32], kind: SectionKind) -> Section {
    Section {
        part: part.to_vec(),
        kind,
    }
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sections() {
    use SectionKind::*;
    let rfc822 = eml("rfc822");
    let plain = eml("plain");
    let mixed = eml("mixed-attach");
    let lf = eml("lf-only");
    let nobound = eml("nobound");
    let odd = eml("oddities");
    let edge = eml("edge");
    let inner_msg_start = "From: Original Sender";
    let s = |raw: &[u8], needle: &str| {
        let t = String::from_utf8_lossy(raw);
        t[t.find(needle).unwrap()..].to_string()
    };
    let table: Vec<(&[u8], Section, String)> = vec![
        // The whole message and its header / text.
        (&plain, sec(&[], All), String::from_utf8(plain.clone()).unwrap()),
        (
            &plain,
            sec(&[], Text),
            "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n-- \r\nFred\r\n".into(),
        ),
        (
            &plain,
            sec(&[], HeaderFields(fields(&["subject", "FROM", "X-Absent"]))),
            "From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\n"
                .into(),
        ),
        (
            &plain,
            sec(&[], HeaderFieldsNot(fields(&["Return-Path", "date", "from", "subject", "to"]))),
            "Message-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n".into(),
        ),
        (&plain, sec(&[], HeaderFields(fields(&["X-None"]))), "\r\n".into()),
        // Part 1 of a non-multipart message is its body; 1.MIME its header.
        (&plain, sec(&[1], All), "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n-- \r\nFred\r\n".into()),
        (&plain, sec(&[2], All), String::new()),
        (&plain, sec(&[1, 1], All), String::new()),
        (&plain, sec(&[], Mime), String::new()),
        // Parts of a multipart.
        (&rfc822, sec(&[1], All), "See below.\r\n".into()),
        (&rfc822, sec(&[1], Mime), "Content-Type: text/plain\r\n\r\n".into()),
        (
            &rfc822,
            sec(&[2], Mime),
            "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n".into(),
        ),
        (&rfc822, sec(&[3], All), String::new()),
        (&rfc822, sec(&[0], All), String::new()),
        // A message/rfc822 part: the whole encapsulated message, its HEADER, TEXT,
        // HEADER.FIELDS, and its sub-parts.
        (&rfc822, sec(&[2], All), {
            let t = s(&rfc822, inner_msg_start);
            t[..t.find("\r\n--b1--").unwrap()].to_string()
        }),
        (&rfc822, sec(&[2], Header), {
            let t = s(&rfc822, inner_msg_start);
            t[..t.find("\r\n\r\n").unwrap() + 4].to_string()
        }),
        (&rfc822, sec(&[2], Text), {
            let t = s(&rfc822, "--b2\r\nContent-Type: text/plain");
            t[..t.find("\r\n--b1--").unwrap()].to_string()
        }),
        (
            &rfc822,
            sec(&[2], HeaderFields(fields(&["Subject"]))),
            "Subject: lunch?\r\n\r\n".into(),
        ),
        (&rfc822, sec(&[2, 1], All), "Pizza at noon?".into()),
        (&rfc822, sec(&[2, 2], All), "<b>Pizza</b> at noon?".into()),
        (
            &rfc822,
            sec(&[2, 2], Mime),
            "Content-Type: text/html; charset=us-ascii\r\n\r\n".into(),
        ),
        (&rfc822, sec(&[2, 3], All), String::new()),
        // Like Dovecot: part 1 of a single part inside a multipart is that part.
        (&rfc822, sec(&[1, 1], All), "See below.\r\n".into()),
        (&rfc822, sec(&[1, 2], All), String::new()),
        (&rfc822, sec(&[2, 1, 1], All), "Pizza at noon?".into()),
        // HEADER / TEXT of a part that is not a message: nothing.
        (&rfc822, sec(&[1], Header), String::new()),
        (&rfc822, sec(&[1], Text), String::new()),
        // Nested multiparts; folded MIME header fields are kept whole.
        (&mixed, sec(&[1, 1], All), "Gr=FC=DFe aus M=FCnchen!".into()),
        (&mixed, sec(&[1, 2], All), "<p>Gr=FC=DFe aus M=FCnchen!</p>".into()),
        (
            &mixed,
            sec(&[3], Mime),
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n filename*0=\"a very long file name that was split \";\r\n filename*1=\"into two pieces.pdf\"; size=1234\r\nContent-Language: en, de\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\n".into(),
        ),
        (&mixed, sec(&[1], Mime), "Content-Type: multipart/alternative; boundary=inner\r\n\r\n".into()),
        (&mixed, sec(&[1, 1, 1], All), "Gr=FC=DFe aus M=FCnchen!".into()),
        (&mixed, sec(&[1, 1, 2], All), String::new()),
        (&mixed, sec(&[1, 1, 1, 1], All), String::new()),
        // LF-only line ends.
        (&lf, sec(&[1], All), "line one\nline two".into()),
        (&lf, sec(&[2], All), "AAECAwQF".into()),
        (&lf, sec(&[2], Mime), "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n".into()),
        (&lf, sec(&[], HeaderFields(fields(&["to"]))), "To: you@example.org\n\r\n".into()),
        // Like Dovecot: a part that ends inside a header line, or with a nested
        // close delimiter, keeps the line end before the next delimiter; the
        // header cut short does not include it.
        (&odd, sec(&[3], All), "Subject: inner without body\r\nFrom: Inner <inner@example.com>\r\n".into()),
        (&odd, sec(&[3], Header), "Subject: inner without body\r\nFrom: Inner <inner@example.com>".into()),
        (&odd, sec(&[3], Text), String::new()),
        (&edge, sec(&[2], All), "--e2\r\n\r\nSubject: digest entry\r\n\r\nentry body\r\n--e2--\r\n".into()),
        (&edge, sec(&[2, 1], All), "Subject: digest entry\r\n\r\nentry body".into()),
        (&edge, sec(&[2, 1], Header), "Subject: digest entry\r\n\r\n".into()),
        (&edge, sec(&[3], Mime), "Content-Type: message/rfc822\r\n".into()),
        (&edge, sec(&[3], All), String::new()),
        // A multipart without delimiters has one empty part.
        (&nobound, sec(&[1], All), String::new()),
    ];
    for (i, (raw, section, want)) in table.iter().enumerate() {
        let m = Message::parse(raw);
        let got = m.section(section);
        assert_eq!(m.section_ref(section).as_ref(), &got[..], "row {i}");
        assert_eq!(String::from_utf8_lossy(&got), *want, "row {i}: {section:?}");
    }
}

#[test]
fn sections_without_body_or_header() {
    use SectionKind::*;
    let only_header = b"Subject: no body\r\nFrom: a@b";
    let m = Message::parse(only_header);
    assert_eq!(m.section(&sec(&[], Header)), only_header);
    assert_eq!(m.section(&sec(&[], Text)), b"");
    assert_eq!(
        m.section(&sec(&[], HeaderFields(fields(&["from"])))),
        b"From: a@b\r\n\r\n"
    );
    let no_header = b"\r\njust a body\r\n";
    let m = Message::parse(no_header);
    assert_eq!(m.section(&sec(&[], Header)), b"\r\n");
    assert_eq!(m.section(&sec(&[], Text)), b"just a body\r\n");
    assert_eq!(
        m.body_structure(false),
        b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1)"
    );
    let empty = Message::parse(b"");
    assert_eq!(empty.section(&sec(&[], All)), b"");
    assert_eq!(
        empty.envelope(),
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}

#[test]
fn search_matching() {
    use SearchField::*;
    let alt = eml("alternative");
    let mixed = eml("mixed-attach");
    let enc = eml("encoded-headers");
    let rfc822 = eml("rfc822");
    let broken = eml("broken");
    let eight = eml("eightbit");
    let table: Vec<(&[u8], SearchField, &str, bool)> = vec![
        // Quoted-printable UTF-8 text part, soft line break joined.
        (&alt, Body, "café numbers", true),
        (&alt, Body, "CAFÉ NUMBERS ARE UP: 12% — SEE", true),
        (&alt, Body, "attached graphs", true),
        // Base64 HTML part.
        (&alt, Body, "<b>12%</b>", true),
        (&alt, Body, "PGh0bWw", false),
        (&alt, Body, "quarterly", false),
        (&alt, Text, "quarterly", true),
        (&alt, Header("subject"), "QUARTERLY", true),
        (&alt, Header("from"), "doe, jane", true),
        (&alt, Header("to"), "carol \\\"c\\\" smith", true),
        (&alt, Header("X-Missing"), "", false),
        (&alt, Header("cc"), "", true),
        (&alt, Header("bcc"), "", false),
        // ISO-8859-1 quoted-printable in a nested multipart.
        (&mixed, Body, "grüße aus münchen", true),
        (&mixed, Body, "GRÜSSE", false),
        (&mixed, Header("Subject"), "ausflug – teil", true),
        (&mixed, Header("Subject"), "=E2=80=93", true),
        // A base64 JPEG is not text and not searched.
        (&mixed, Body, "JFIF", false),
        // Encoded-words: ISO-8859-1 Q, UTF-8 B, two adjacent words joined.
        (&enc, Header("from"), "andré pirard", true),
        (&enc, Header("to"), "jürgen müller", true),
        (&enc, Header("subject"), "read this you understand", true),
        (&enc, Header("Subject"), "", true),
        (&enc, Body, "schöne grüße", true),
        (&enc, Text, "andré", true),
        (&enc, Text, "schöne", true),
        // Like Dovecot: BODY is the text of the parts; TEXT adds all headers (the
        // message's, the parts' MIME headers, encapsulated messages').
        (&rfc822, Body, "pizza at noon", true),
        (&rfc822, Body, "original sender", false),
        (&rfc822, Text, "original sender", true),
        (&rfc822, Text, "content-disposition: inline", true),
        (&rfc822, Body, "content-disposition", false),
        (&rfc822, Header("subject"), "lunch?", false),
        (&rfc822, Header("subject"), "fwd: lunch", true),
        // Unknown charset and encoding: read as they are; broken base64 decodes
        // as far as it goes.
        (&broken, Body, "unknown charset", true),
        (&broken, Body, "hello world", true),
        // Raw 8-bit UTF-8 header.
        (&eight, Header("subject"), "grüße", true),
        (&eight, Header("from"), "jörg", true),
        (&eight, Body, "", true),
        (&eight, Body, "no mime", true),
    ];
    for (i, (raw, field, needle, want)) in table.iter().enumerate() {
        assert_eq!(
            Message::parse(raw).contains(*field, needle),
            *want,
            "row {i}: {field:?} {needle:?}"
        );
    }
}

#[test]
fn date_parsing() {
    let table: &[(&str, Option<(i64, i32)>)] = &[
        ("Fri, 21 Nov 1997 09:55:06 -0600", Some((880127706, -360))),
        (
            "Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
            Some((760686745, -480)),
        ),
        ("Thu, 13 Feb 1969 23:32:54 -0330", Some((-27723426, -210))),
        // Obsolete forms: no day name, no seconds, named zone, comments.
        ("2 Jan 2020 09:00 GMT", Some((1577955600, 0))),
        (
            "Thu,\r\n 2 Jan 2020 (a comment) 04:00:00 EST",
            Some((1577955600, -300)),
        ),
        ("Thu, 02 Jan 2020 01:00:00 PST", Some((1577955600, -480))),
        ("2 Jan 20 09:00:00 +0000", Some((1577955600, 0))),
        ("2 Jan 120 09:00:00 +0000", Some((1577955600, 0))),
        ("31 Dec 99 23:59:00 UT", Some((946684740, 0))),
        ("2 January 2020 09:00:00 Z", Some((1577955600, 0))),
        ("2 Jan 2020 09:00:00", Some((1577955600, 0))),
        ("2 Jan 2020 09:00:00 A", Some((1577955600, 0))),
        (
            "Thu, 2 Jan 2020 10:00:00 +0100 (CET)",
            Some((1577955600, 60)),
        ),
        ("not a date at all", None),
        ("32 Jan 2020 09:00:00 +0000", None),
        ("2 Foo 2020 09:00:00 +0000", None),
        ("2 Jan 2020 25:00:00 +0000", None),
        ("2 Jan 2020 09:00:00 +01", None),
        ("", None),
    ];
    for (value, want) in table {
        let raw = format!("Date: {value}\r\n\r\nbody\r\n");
        assert_eq!(Message::parse(raw.as_bytes()).date(), *want, "{value:?}");
    }
    assert_eq!(Message::parse(b"Subject: x\r\n\r\n").date(), None);
}

#[test]
fn envelope_strings_quoting_and_literals() {
    let m = Message::parse(b"Subject: a \"quoted\" \\ word\r\nMessage-ID: <x@y>\r\n\r\n");
    assert_eq!(
        m.envelope(),
        b"(NIL \"a \\\"quoted\\\" \\\\ word\" NIL NIL NIL NIL NIL NIL NIL \"<x@y>\")"
    );
    let m = Message::parse("Subject: Grüße\r\n\r\n".as_bytes());
    assert_eq!(
        m.envelope(),
        "(NIL {7}\r\nGrüße NIL NIL NIL NIL NIL NIL NIL NIL)".as_bytes()
    );
    // Folded values are unfolded (CRLF removed, the white space kept).
    let m = Message::parse(b"Subject: one\r\n\ttwo\r\n\r\n");
    assert_eq!(
        m.envelope(),
        b"(NIL \"one\ttwo\" NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}

/// Every entry point on one input; panics are the failure.
fn exercise(raw: &[u8]) {
    use SectionKind::*;
    let m = Message::parse(raw);
    for out in [
        m.envelope(),
        m.body_structure(false),
        m.body_structure(true),
    ] {
        check_syntax(&out).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\ninput: {:?}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(raw)
            )
        });
    }
    for part in [&[][..], &[1], &[2], &[1, 1], &[2, 1], &[2, 2, 1], &[3]] {
        for kind in [
            All,
            Header,
            Text,
            Mime,
            HeaderFields(fields(&["subject", "from"])),
            HeaderFieldsNot(fields(&["subject"])),
        ] {
            let section = sec(part, kind);
            let s = m.section(&section);
            assert!(s.len() <= raw.len() + 4, "{section:?}");
        }
    }
    for field in [
        SearchField::Body,
        SearchField::Text,
        SearchField::Header("subject"),
    ] {
        m.contains(field, "grüße");
        m.contains(field, "");
    }
    m.date();
}

#[test]
fn no_panic_on_every_prefix() {
    for (_, raw) in golden::messages() {
        for n in 0..=raw.len() {
            exercise(&raw[..n]);
        }
    }
}

#[test]
fn no_panic_on_mangled_messages() {
    // xorshift64 with a fixed seed: the same bytes every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = b"\r\n\0\x80\xff-=?:;\"\\()<>@,. \t*'%";
    for (_, raw) in golden::messages() {
        for _ in 0..300 {
            let mut m = raw.clone();
            let flips = 1 + next() % 8;
            for _ in 0..flips {
                let pos = (next() % m.len() as u64) as usize;
                match next() % 4 {
                    0 => m[pos] = next() as u8,
                    1 => m[pos] = interesting[(next() % interesting.len() as u64) as usize],
                    2 => {
                        m.remove(pos);
                    }
                    _ => m.insert(
                        pos,
                        interesting[(next() % interesting.len() as u64) as usize],
                    ),
                }
                if m.is_empty() {
                    break;
                }
            }
            exercise(&m);
        }
    }
}

#[test]
fn deep_nesting_is_bounded() {
    // 500 nested multiparts and 500 nested message/rfc822 parts.
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}=\"\r\n\r\n--b{i}=\r\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep text\r\n");
    exercise(&raw);
    let m = Message::parse(&raw);
    let bs = m.body_structure(true);
    let depth = bs.iter().filter(|&&b| b == b'(').count();
    assert!(depth < 200, "nesting not bounded: {depth}");
    assert!(String::from_utf8_lossy(&bs).contains("\"application\" \"octet-stream\""));

    let mut raw = Vec::new();
    for _ in 0..500 {
        raw.extend_from_slice(b"Subject: level\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    raw.extend_from_slice(b"Subject: bottom\r\n\r\nbottom text\r\n");
    exercise(&raw);
    let bs = Message::parse(&raw).body_structure(false);
    assert!(bs.iter().filter(|&&b| b == b'(').count() < 400);
}

#[test]
fn many_parts_are_bounded() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
    for _ in 0..30_000 {
        raw.extend_from_slice(b"--x\r\n\r\na\r\n");
    }
    raw.extend_from_slice(b"--x--\r\n");
    let m = Message::parse(&raw);
    let bs = m.body_structure(false);
    let parts = bs.windows(6).filter(|w| w == b"\"text\"").count();
    assert!((1..=10_000).contains(&parts), "{parts} parts");
    check_syntax(&bs).unwrap();
    assert_eq!(m.section(&sec(&[5], SectionKind::All)), b"a");
}

#[test]
fn large_message_is_handled() {
    // A 20 MB message with a 10 MB base64 attachment and a 10 MB text part.
    let mut raw = b"Subject: big\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    let line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n";
    while raw.len() < 10_000_000 {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"needle in the haystack\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    while raw.len() < 20_000_000 {
        raw.extend_from_slice(
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5\r\n",
        );
    }
    raw.extend_from_slice(b"--B--\r\n");
    let m = Message::parse(&raw);
    let part1 = m.section_ref(&sec(&[1], SectionKind::All));
    assert!(matches!(part1, std::borrow::Cow::Borrowed(_)));
    assert!(part1.ends_with(b"needle in the haystack"));
    assert!(m.contains(SearchField::Body, "NEEDLE IN THE"));
    assert!(!m.contains(SearchField::Body, "needle in a"));
    let bs = String::from_utf8(m.body_structure(true)).unwrap();
    assert!(bs.contains("\"application\" \"octet-stream\""), "{bs}");
    assert_eq!(
        m.section(&sec(&[2], SectionKind::Mime)),
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
}

/// `Message::parse_header` (the fields of a header block, without MIME
/// analysis; what FETCH header sections and SEARCH/SORT/THREAD of header
/// fields use) answers like the whole message's analysis.
#[test]
fn header_only_analysis_answers_like_the_whole_message() {
    let mut msgs = golden::messages();
    msgs.push((
        "multipart-no-body".into(),
        b"Content-Type: multipart/mixed; boundary=x\r\nFrom: a@b\r\n\r\n".to_vec(),
    ));
    msgs.push(("no-blank".into(), b"From: a@b\r\nSubject: s".to_vec()));
    for (name, raw) in &msgs {
        let head = &raw[..ferrymail::message::header_end(raw)];
        let whole = Message::parse(raw);
        let fields = Message::parse_header(head);
        let names = vec!["From".to_string(), "Subject".into(), "Content-Type".into()];
        for kind in [
            SectionKind::Header,
            SectionKind::HeaderFields(names.clone()),
            SectionKind::HeaderFieldsNot(names),
        ] {
            let s = Section { part: vec![], kind };
            assert_eq!(whole.section(&s), fields.section(&s), "{name} {s:?}");
        }
        for f in ["from", "to", "subject", "date", "references", "message-id"] {
            assert_eq!(whole.header(f), fields.header(f), "{name} {f}");
            assert_eq!(
                format!("{:?}", whole.addresses(f)),
                format!("{:?}", fields.addresses(f)),
                "{name} {f}"
            );
            for needle in ["", "a", "example", "=?", "grüße"] {
                assert_eq!(
                    whole.contains(SearchField::Header(f), needle),
                    fields.contains(SearchField::Header(f), needle),
                    "{name} {f} {needle}"
                );
            }
        }
        assert_eq!(whole.date(), fields.date(), "{name}");
    }
}
