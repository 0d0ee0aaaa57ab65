//! IMAP transcripts: APPEND (flags, date, synchronizing and LITERAL+ literals,
//! APPENDUID, TRYCREATE) and FETCH (every RFC 3501 item, sections, partials,
//! BODY.PEEK, implicit \Seen, ENVELOPE/BODYSTRUCTURE of a multipart message).

mod common;
mod imap_support;

use common::golden;
use imap_support::*;

#[tokio::test]
async fn append_with_literals_flags_and_date() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let uidv = t.ms.mailbox("INBOX").await.unwrap().unwrap().uidvalidity;
    let msg = message(1);
    // Synchronizing literal: the server says go ahead first.
    c.c.send(&format!(
        "a1 APPEND INBOX (\\Seen $Work) \"05-Jan-2024 10:00:00 +0100\" {{{}}}",
        msg.len()
    ))
    .await;
    let l = c.line().await;
    assert!(l.starts_with("+ "), "{l}");
    c.send_raw(&msg).await;
    c.send_raw(b"\r\n").await;
    let l = c.line().await;
    assert_eq!(l, format!("a1 OK [APPENDUID {uidv} 1] APPEND completed"));
    // LITERAL+: no continuation.
    let msg2 = message(2);
    c.send_raw(format!("a2 APPEND INBOX {{{}+}}\r\n", msg2.len()).as_bytes())
        .await;
    c.send_raw(&msg2).await;
    c.send_raw(b"\r\n").await;
    assert_eq!(
        c.line().await,
        format!("a2 OK [APPENDUID {uidv} 2] APPEND completed")
    );
    // A literal mailbox name, then the message.
    c.send_raw(format!("a3 APPEND {{4+}}\r\nSent {{{}+}}\r\n", msg2.len()).as_bytes())
        .await;
    c.send_raw(&msg2).await;
    c.send_raw(b"\r\n").await;
    assert!(c.line().await.starts_with("a3 OK [APPENDUID"));
    // Missing mailbox: TRYCREATE.
    c.send_raw(b"a4 APPEND Nowhere {3+}\r\nabc\r\n").await;
    assert_eq!(c.line().await, "a4 NO [TRYCREATE] No such mailbox");
    c.send_raw(b"a5 APPEND INBOX (\\Bogus) {3+}\r\nabc\r\n")
        .await;
    assert!(c.line().await.starts_with("a5 BAD"));
    // What was stored.
    let msgs =
        t.ms.messages(t.ms.mailbox("INBOX").await.unwrap().unwrap().id)
            .await
            .unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].flags.to_stored(), "$Work \\Seen");
    assert_eq!((msgs[0].internaldate, msgs[0].tz_minutes), (1704445200, 60));
    assert_eq!(std::fs::read(t.ms.blob_path(&msgs[0].blob)).unwrap(), msg);
    let l = c.ok("SELECT INBOX").await;
    assert!(l.contains(&"* 2 EXISTS".to_string()));
    let f = c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)").await;
    assert_eq!(
        f[0],
        format!("* 1 FETCH (FLAGS ($Work \\Seen \\Recent) INTERNALDATE \"05-Jan-2024 10:00:00 +0100\" RFC822.SIZE {} UID 1)", msg.len())
    );
    // APPEND to the selected mailbox shows up as EXISTS.
    c.send_raw(format!("a6 APPEND INBOX {{{}+}}\r\n", msg2.len()).as_bytes())
        .await;
    c.send_raw(&msg2).await;
    c.send_raw(b"\r\n").await;
    assert_eq!(c.line().await, "* 3 EXISTS");
    // The only session with INBOX selected: the new message is \Recent here.
    assert_eq!(c.line().await, "* 3 RECENT");
    assert!(c.line().await.starts_with("a6 OK"));
    let f = c.ok("FETCH 3 FLAGS").await;
    assert_eq!(f[0], "* 3 FETCH (FLAGS (\\Recent))");
    t.stop().await;
}

#[tokio::test]
async fn fetch_items_sections_and_implicit_seen() {
    let t = start(PLAIN, "", 2).await;
    let raw = message(1);
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let r = c.run_lit("FETCH 1 (BODY.PEEK[] FLAGS)").await;
    assert_eq!(
        r[0].text,
        format!("* 1 FETCH (BODY[] {{{}}} FLAGS (\\Recent))", raw.len())
    );
    assert_eq!(r[0].literals[0], raw);
    let r = c
        .run_lit("FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject FROM)]")
        .await;
    assert_eq!(
        r[0].text,
        "* 1 FETCH (BODY[HEADER.FIELDS (Subject FROM)] {60})"
    );
    assert_eq!(
        r[0].literals[0],
        b"From: Sender 1 <sender1@example.net>\r\nSubject: message 1\r\n\r\n"
    );
    let r = c.run_lit("FETCH 1 BODY.PEEK[TEXT]<5.9>").await;
    assert_eq!(r[0].text, "* 1 FETCH (BODY[TEXT]<5> {9})");
    assert_eq!(r[0].literals[0], b"line of m");
    let r = c.run_lit("UID FETCH 2 (RFC822.HEADER RFC822.SIZE)").await;
    assert!(
        r[0].text.starts_with("* 2 FETCH (UID 2 RFC822.HEADER {"),
        "{:?}",
        r[0]
    );
    // Nothing so far set \Seen.
    let f = c.ok("FETCH 1:2 FLAGS").await;
    assert_eq!(f[0], "* 1 FETCH (FLAGS (\\Recent))");
    // BODY[TEXT] (not PEEK) sets \Seen and reports it.
    let r = c.run_lit("FETCH 1 BODY[TEXT]").await;
    assert_eq!(
        r[0].text,
        "* 1 FETCH (BODY[TEXT] {37} FLAGS (\\Seen \\Recent))"
    );
    assert_eq!(
        r[0].literals[0],
        b"body line of message 1\r\nsecond line\r\n"
    );
    let r = c.run_lit("FETCH 2 RFC822").await;
    assert!(
        r[0].text.ends_with("FLAGS (\\Seen \\Recent))"),
        "{:?}",
        r[0].text
    );
    assert_eq!(r[0].literals[0], message(2));
    // Partial beyond the end, ENVELOPE of a simple message, FAST/ALL macros.
    let r = c.run_lit("FETCH 1 BODY.PEEK[]<1000.10>").await;
    assert_eq!(r[0].text, "* 1 FETCH (BODY[]<1000> {0})");
    let r = c.run_lit("FETCH 1 ENVELOPE").await;
    assert_eq!(
        r[0].text,
        "* 1 FETCH (ENVELOPE (\"Mon, 6 Nov 2023 10:00:00 +0000\" \"message 1\" ((\"Sender 1\" NIL \"sender1\" \"example.net\")) ((\"Sender 1\" NIL \"sender1\" \"example.net\")) ((\"Sender 1\" NIL \"sender1\" \"example.net\")) ((NIL NIL \"pat\" \"example.test\")) NIL NIL NIL \"<m1@example.net>\"))"
    );
    let f = c.ok("FETCH 1 FAST").await;
    assert!(
        f[0].starts_with(
            "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \"14-Nov-2023 23:13:20 +0100\" RFC822.SIZE "
        ),
        "{f:?}"
    );
    // Errors.
    assert!(c
        .bad("FETCH 3 FLAGS")
        .await
        .contains("Invalid message sequence number"));
    c.ok("UID FETCH 99 FLAGS").await;
    assert!(c.bad("FETCH 1 BINARY[1.x]").await.contains("Invalid"));
    assert!(c.bad("FETCH 1 (FLAGS").await.contains("Invalid"));
    // EXAMINE never sets \Seen.
    t.deliver("INBOX", &message(3), ferrymail::store::Flags::new())
        .await;
    c.ok("EXAMINE INBOX").await;
    let r = c.run_lit("FETCH 3 BODY[]").await;
    assert!(!r[0].text.contains("\\Seen"));
    let f = c.ok("FETCH 3 FLAGS").await;
    // EXAMINE shows message 3 as \Recent (no session was shown it) but does
    // not take it: the next SELECT still gets it.
    assert_eq!(f[0], "* 3 FETCH (FLAGS (\\Recent))");
    let l = c.ok("SELECT INBOX").await;
    assert!(l.contains(&"* 1 RECENT".to_string()), "{l:?}");
    let l = c.ok("SELECT INBOX").await;
    assert!(l.contains(&"* 0 RECENT".to_string()), "{l:?}");
    t.stop().await;
}

#[tokio::test]
async fn multipart_bodystructure_envelope_and_parts_over_the_wire() {
    let t = start(PLAIN, "", 0).await;
    let eml = golden::file("mixed-attach.eml");
    t.deliver("INBOX", &eml, ferrymail::store::Flags::new())
        .await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let bs = String::from_utf8(golden::file("mixed-attach.bodystructure")).unwrap();
    let env = String::from_utf8(golden::file("mixed-attach.envelope")).unwrap();
    let r = c.run_lit("FETCH 1 (BODYSTRUCTURE ENVELOPE)").await;
    assert_eq!(
        r[0].text,
        format!(
            "* 1 FETCH (BODYSTRUCTURE {} ENVELOPE {})",
            bs.trim_end(),
            env.trim_end()
        )
    );
    let body = String::from_utf8(golden::file("mixed-attach.body")).unwrap();
    let r = c.run_lit("FETCH 1 BODY").await;
    assert_eq!(r[0].text, format!("* 1 FETCH (BODY {})", body.trim_end()));
    let r = c
        .run_lit("FETCH 1 (BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[1.2]<0.4>)")
        .await;
    assert_eq!(r[0].literals[0], b"Gr=FC=DFe aus M=FCnchen!");
    let mime = String::from_utf8_lossy(&r[0].literals[1]).to_string();
    assert!(mime.starts_with("Content-Type: text/html"), "{mime}");
    assert!(mime.ends_with("\r\n\r\n"), "{mime:?}");
    assert_eq!(r[0].literals[2], b"<p>G");
    assert!(
        r[0].text
            .starts_with("* 1 FETCH (BODY[1.1] {24} BODY[1.2.MIME] {"),
        "{}",
        r[0].text
    );
    // A part that does not exist is empty.
    let r = c.run_lit("FETCH 1 BODY.PEEK[9]").await;
    assert_eq!(r[0].text, "* 1 FETCH (BODY[9] {0})");
    t.stop().await;
}

#[tokio::test]
async fn large_append_is_streamed_and_fetched_back() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let mut m = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    while m.len() < 3 * 1024 * 1024 {
        m.extend_from_slice(format!("line {} of a large message\r\n", m.len()).as_bytes());
    }
    c.c.send(&format!("a1 APPEND Archive (\\Seen) {{{}}}", m.len()))
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    let l = c.line().await;
    assert!(l.starts_with("a1 OK [APPENDUID "), "{l}");
    // Nothing is left in tmp/.
    let tmp = t.ms.dir().join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    c.ok("SELECT Archive").await;
    let r = c.run_lit("UID FETCH 1 (RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(
        r[0].text,
        format!(
            "* 1 FETCH (UID 1 RFC822.SIZE {} BODY[] {{{}}})",
            m.len(),
            m.len()
        )
    );
    assert_eq!(r[0].literals[0], m);
    // A streamed message refused afterwards (no such mailbox) leaves no file.
    c.send_raw(format!("a2 APPEND Nowhere {{{}+}}\r\n", m.len()).as_bytes())
        .await;
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    assert_eq!(c.line().await, "a2 NO [TRYCREATE] No such mailbox");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    t.stop().await;
}

/// Every golden message of the message module, FETCHed over the wire, gives the
/// golden BODY, BODYSTRUCTURE and ENVELOPE byte for byte.
#[tokio::test]
async fn golden_structures_over_the_wire() {
    let t = start(PLAIN, "", 0).await;
    let messages = golden::messages();
    let names: Vec<&String> = messages.iter().map(|(n, _)| n).collect();
    assert!(names.len() >= 8, "{names:?}");
    for (_, eml) in &messages {
        t.deliver("INBOX", eml, ferrymail::store::Flags::new())
            .await;
    }
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let trim = |mut v: Vec<u8>| {
        while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            v.pop();
        }
        v
    };
    for (i, n) in names.iter().enumerate() {
        let r = c
            .run_lit(&format!("FETCH {} (BODY BODYSTRUCTURE ENVELOPE)", i + 1))
            .await;
        let mut want = format!("* {} FETCH (BODY ", i + 1).into_bytes();
        want.extend(trim(golden::file(&format!("{n}.body"))));
        want.extend_from_slice(b" BODYSTRUCTURE ");
        want.extend(trim(golden::file(&format!("{n}.bodystructure"))));
        want.extend_from_slice(b" ENVELOPE ");
        want.extend(trim(golden::file(&format!("{n}.envelope"))));
        want.push(b')');
        assert_eq!(
            String::from_utf8_lossy(&r[0].raw),
            String::from_utf8_lossy(&want),
            "{n}"
        );
    }
    t.stop().await;
}

/// FETCH answers header sections of a message from its header block alone; that
/// must give what the whole message gives (every golden message).
#[test]
fn header_sections_from_the_header_block_alone() {
    use ferrymail::message::{header_end, Message, Section, SectionKind};
    for (name, raw) in golden::messages() {
        let head = &raw[..header_end(&raw)];
        for kind in [
            SectionKind::Header,
            SectionKind::HeaderFields(vec!["Subject".into(), "from".into(), "X-None".into()]),
            SectionKind::HeaderFieldsNot(vec!["Subject".into(), "Content-Type".into()]),
        ] {
            let s = Section { part: vec![], kind };
            assert_eq!(
                Message::parse(&raw).section(&s),
                Message::parse(head).section(&s),
                "{name} {s:?}"
            );
        }
    }
}

/// MULTIAPPEND (RFC 3502): several messages in one APPEND, each with its own
/// flags and date, large ones streamed to files; all stored or none;
/// APPENDUID names the UIDs as a set.
#[tokio::test]
async fn multiappend_stores_all_or_nothing() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" MULTIAPPEND"), "{caps:?}");
    c.ok("CREATE \"Entw&APw-rfe\"").await;
    let mbx = t.ms.mailbox("Entwürfe").await.unwrap().unwrap();
    let small = message(1);
    // Two messages over 64 KiB: both streamed to files while they arrive.
    let big = |n: usize| -> Vec<u8> {
        let mut m = format!("Subject: big {n}\r\n\r\n").into_bytes();
        while m.len() < 200 * 1024 {
            m.extend_from_slice(format!("line {n} of a big message\r\n").as_bytes());
        }
        m
    };
    let (b1, b2) = (big(1), big(2));
    c.send_raw(
        format!(
            "m1 APPEND \"Entw&APw-rfe\" (\\Seen) \"05-Jan-2024 10:00:00 +0100\" {{{}+}}\r\n",
            b1.len()
        )
        .as_bytes(),
    )
    .await;
    c.send_raw(&b1).await;
    c.send_raw(format!(" {{{}+}}\r\n", small.len()).as_bytes())
        .await;
    c.send_raw(&small).await;
    c.send_raw(format!(" (\\Flagged $Work) {{{}+}}\r\n", b2.len()).as_bytes())
        .await;
    c.send_raw(&b2).await;
    c.send_raw(b"\r\n").await;
    let l = c.line().await;
    assert_eq!(
        l,
        format!("m1 OK [APPENDUID {} 1:3] APPEND completed", mbx.uidvalidity)
    );
    let msgs = t.ms.messages(mbx.id).await.unwrap();
    assert_eq!(msgs.len(), 3);
    for (m, (body, flags)) in
        msgs.iter()
            .zip([(&b1, "\\Seen"), (&small, ""), (&b2, "$Work \\Flagged")])
    {
        assert_eq!(&std::fs::read(t.ms.blob_path(&m.blob)).unwrap(), body);
        assert_eq!(m.flags.to_stored(), flags);
    }
    assert_eq!((msgs[0].internaldate, msgs[0].tz_minutes), (1704445200, 60));
    // An invalid flag on the second message: nothing of the command is stored.
    c.send_raw(b"m2 APPEND INBOX {3+}\r\nabc (\\Bogus) {3+}\r\ndef\r\n")
        .await;
    assert!(c.line().await.starts_with("m2 BAD"));
    let inbox = t.ms.mailbox("INBOX").await.unwrap().unwrap();
    assert!(t.ms.messages(inbox.id).await.unwrap().is_empty());
    // The same, with a large first message already in a file.
    c.send_raw(format!("m3 APPEND INBOX {{{}+}}\r\n", b1.len()).as_bytes())
        .await;
    c.send_raw(&b1).await;
    c.send_raw(b" {0+}\r\n\r\n").await;
    let l = c.line().await;
    assert!(l.starts_with("m3 NO [CANNOT]"), "{l}");
    assert!(t.ms.messages(inbox.id).await.unwrap().is_empty());
    let files = walk(&t.ms.dir().join("blobs"));
    assert_eq!(files, 3, "only the three stored messages have files");
    c.ok("NOOP").await;
    t.stop().await;
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// CATENATE (RFC 4469): a message made of TEXT literals and IMAP URLs of
/// messages or parts of the account (mailbox names percent-encoded UTF-8),
/// with MULTIAPPEND; an URL that names nothing is `NO [BADURL]` and nothing
/// of the command is stored; a missing target is `NO [TRYCREATE]`.
#[tokio::test]
async fn catenate_builds_messages_from_text_and_urls() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" CATENATE"), "{caps:?}");
    c.ok("CREATE \"Entw&APw-rfe\"").await;
    let src = t.ms.mailbox("Entwürfe").await.unwrap().unwrap();
    t.deliver(
        "Entwürfe",
        b"From: a@example.net\r\nSubject: source\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst part\r\n--b\r\n\r\nsecond part\r\n--b--\r\n",
        ferrymail::store::Flags::new(),
    )
    .await;
    let url = |rest: &str| {
        format!(
            "\"/Entw%C3%BCrfe;UIDVALIDITY={}/;UID=1{rest}\"",
            src.uidvalidity
        )
    };
    let cmd = format!(
        "c1 APPEND INBOX (\\Seen) CATENATE (URL {} TEXT {{12+}}\r\nnew body\r\n\r\n URL {} URL {}) CATENATE (TEXT {{20+}}\r\nSubject: second\r\n\r\nx URL {})\r\n",
        url("/;SECTION=HEADER"),
        url("/;SECTION=2"),
        url("/;SECTION=1/;PARTIAL=0.5"),
        url("/;SECTION=1"),
    );
    c.send_raw(cmd.as_bytes()).await;
    let l = c.line().await;
    assert!(l.starts_with("c1 OK [APPENDUID "), "{l}");
    let inbox = t.ms.mailbox("INBOX").await.unwrap().unwrap();
    let msgs = t.ms.messages(inbox.id).await.unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        std::fs::read(t.ms.blob_path(&msgs[0].blob)).unwrap(),
        b"From: a@example.net\r\nSubject: source\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nnew body\r\n\r\nsecond partfirst"
    );
    assert_eq!(msgs[0].flags.to_stored(), "\\Seen");
    assert_eq!(
        std::fs::read(t.ms.blob_path(&msgs[1].blob)).unwrap(),
        b"Subject: second\r\n\r\nxfirst part"
    );
    // A wrong UIDVALIDITY, after a good message: nothing stored.
    let bad = "c2 APPEND INBOX {3+}\r\nabc CATENATE (TEXT {3+}\r\nhi\n URL \"/Entw%C3%BCrfe;UIDVALIDITY=1/;UID=1\")\r\n";
    c.send_raw(bad.as_bytes()).await;
    let l = c.line().await;
    assert!(
        l.starts_with("c2 NO [BADURL \"/Entw%C3%BCrfe;UIDVALIDITY=1/;UID=1\"]"),
        "{l}"
    );
    assert_eq!(t.ms.messages(inbox.id).await.unwrap().len(), 2);
    for (tag, u) in [
        ("c3", "\"/INBOX/;UID=99\""),
        ("c4", "\"imap://x@y/INBOX/;UID=1\""),
    ] {
        c.send_raw(format!("{tag} APPEND INBOX CATENATE (URL {u})\r\n").as_bytes())
            .await;
        let l = c.line().await;
        assert!(l.starts_with(&format!("{tag} NO [BADURL")), "{l}");
    }
    c.send_raw(format!("c5 APPEND Nowhere CATENATE (URL {})\r\n", url("")).as_bytes())
        .await;
    assert_eq!(c.line().await, "c5 NO [TRYCREATE] No such mailbox");
    assert!(c.bad("APPEND INBOX CATENATE ()").await.contains("Invalid"));
    assert_eq!(t.ms.messages(inbox.id).await.unwrap().len(), 2);
    t.stop().await;
}
