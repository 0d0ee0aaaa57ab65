//! IMAP transcripts: STORE (+/-FLAGS, .SILENT, keywords), SEARCH (keys, nested
//! OR/NOT, sets with `*`, CHARSET), CONDSTORE (ENABLE, MODSEQ, CHANGEDSINCE,
//! UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, HIGHESTMODSEQ).

mod common;
mod imap_support;

use ferrymail::store::Flags;
use imap_support::*;

fn modseq_of(line: &str) -> u64 {
    let i = line.find("MODSEQ (").expect("MODSEQ") + 8;
    line[i..].split(')').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn store_flags_and_keywords() {
    let t = start(PLAIN, "", 3).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let l = c.ok("STORE 1:2 +FLAGS (\\Seen $Work)").await;
    // $Work is new to the mailbox: FLAGS and PERMANENTFLAGS first.
    assert!(
        l[0].starts_with("* FLAGS (") && l[0].ends_with(" $Work)"),
        "{l:?}"
    );
    assert!(l[1].starts_with("* OK [PERMANENTFLAGS ("), "{l:?}");
    // The first SELECT of the delivered messages: \Recent in this session.
    assert_eq!(l[2], "* 1 FETCH (FLAGS ($Work \\Seen \\Recent))");
    assert_eq!(l[3], "* 2 FETCH (FLAGS ($Work \\Seen \\Recent))");
    let l = c.ok("STORE 2 -FLAGS.SILENT ($work)").await;
    assert_eq!(l.len(), 1, "silent: {l:?}");
    let l = c.ok("UID STORE 3 FLAGS (\\Flagged \\Answered)").await;
    assert_eq!(
        l[0],
        "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Recent) UID 3)"
    );
    let l = c.ok("STORE * FLAGS.SILENT (\\Draft)").await;
    assert_eq!(l.len(), 1);
    let f = c.ok("FETCH 1:* FLAGS").await;
    assert_eq!(
        f[..3],
        [
            "* 1 FETCH (FLAGS ($Work \\Seen \\Recent))",
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "* 3 FETCH (FLAGS (\\Draft \\Recent))"
        ]
    );
    assert!(c
        .bad("STORE 1 +FLAGS (\\Bogus)")
        .await
        .contains("Invalid flag"));
    assert!(c.bad("STORE 4 +FLAGS (\\Seen)").await.contains("sequence"));
    // \Recent cannot be stored or removed; it is ignored.
    c.ok("STORE 1 +FLAGS (\\Recent)").await;
    let l = c.ok("STORE 1 FLAGS ($Work)").await;
    assert_eq!(l[0], "* 1 FETCH (FLAGS ($Work \\Recent))");
    // The new keyword is announced in FLAGS at the next SELECT; the messages
    // were shown to this session already: not \Recent any more.
    let l = c.ok("SELECT INBOX").await;
    assert!(l[0].contains("$Work"), "{l:?}");
    assert!(l.contains(&"* 0 RECENT".to_string()), "{l:?}");
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(f[0], "* 1 FETCH (FLAGS ($Work))");
    t.stop().await;
}

#[tokio::test]
async fn search_keys() {
    let t = start(PLAIN, "", 0).await;
    let bodies = [
        "From: Alice <alice@example.net>\r\nTo: pat@example.test\r\nSubject: Lunch plans\r\nDate: Mon, 6 Nov 2023 10:00:00 +0000\r\n\r\nShall we meet at noon?\r\n",
        "From: Bob <bob@example.org>\r\nTo: pat@example.test\r\nCc: carol@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nDate: Wed, 10 Jan 2024 08:00:00 +0100\r\nX-Tag: blue\r\n\r\nA longer body with the word elephant in it.\r\n",
        "From: Alice <alice@example.net>\r\nTo: someone@example.test\r\nSubject: Re: Lunch plans\r\nDate: Fri, 1 Mar 2024 12:00:00 +0000\r\n\r\nYes.\r\n",
    ];
    t.deliver("INBOX", bodies[0].as_bytes(), Flags::parse("\\Seen"))
        .await;
    t.deliver(
        "INBOX",
        bodies[1].as_bytes(),
        Flags::parse("\\Flagged $Blue"),
    )
    .await;
    t.deliver(
        "INBOX",
        bodies[2].as_bytes(),
        Flags::parse("\\Seen \\Answered \\Deleted"),
    )
    .await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let cases: &[(&str, &str)] = &[
        ("ALL", "1 2 3"),
        ("SEEN", "1 3"),
        ("UNSEEN", "2"),
        ("FLAGGED", "2"),
        ("UNFLAGGED", "1 3"),
        ("ANSWERED", "3"),
        ("UNANSWERED", "1 2"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2"),
        ("DRAFT", ""),
        ("UNDRAFT", "1 2 3"),
        ("KEYWORD $Blue", "2"),
        ("UNKEYWORD $blue", "1 3"),
        // All three are \Recent in this session (its SELECT was the first).
        ("NEW", "2"),
        ("OLD", ""),
        ("RECENT", "1 2 3"),
        ("FROM alice", "1 3"),
        ("TO someone", "3"),
        ("CC carol", "2"),
        ("BCC x", ""),
        ("SUBJECT lunch", "1 3"),
        ("SUBJECT LUNCH", "1 3"),
        ("CHARSET UTF-8 SUBJECT {7+}\r\nGrüße", "2"),
        ("CHARSET UTF-8 SUBJECT {7+}\r\nGRÜßE", "2"),
        ("CHARSET UTF-8 BODY {6+}\r\nGrüß", ""),
        ("HEADER X-Tag blue", "2"),
        ("HEADER X-Tag \"\"", "2"),
        ("BODY elephant", "2"),
        ("TEXT elephant", "2"),
        ("TEXT \"Lunch plans\"", "1 3"),
        ("LARGER 200", "2"),
        ("SMALLER 200", "1 3"),
        ("SENTBEFORE 1-Jan-2024", "1"),
        ("SENTON 10-Jan-2024", "2"),
        ("SENTSINCE 10-Jan-2024", "2 3"),
        ("BEFORE 14-Nov-2023", ""),
        ("ON 14-Nov-2023", "1 2 3"),
        ("SINCE 15-Nov-2023", ""),
        ("2:*", "2 3"),
        ("*", "3"),
        ("1,3", "1 3"),
        ("UID 2:*", "2 3"),
        ("NOT SEEN", "2"),
        ("OR FLAGGED ANSWERED", "2 3"),
        ("OR (FROM bob) (NOT OR SEEN FLAGGED)", "2"),
        ("NOT (OR FROM alice FROM bob)", ""),
        ("SEEN FROM alice NOT DELETED", "1"),
        ("(SEEN (FROM alice (NOT DELETED)))", "1"),
    ];
    for (q, want) in cases {
        let l = c.ok(&format!("SEARCH {q}")).await;
        let got = l[0].strip_prefix("* SEARCH").unwrap().trim();
        assert_eq!(got, *want, "SEARCH {q}");
    }
    let l = c.ok("UID SEARCH FROM alice").await;
    assert_eq!(l[0], "* SEARCH 1 3");
    // Selected again, nothing is \Recent.
    c.ok("SELECT INBOX").await;
    for (q, want) in [("NEW", ""), ("OLD", "1 2 3"), ("RECENT", "")] {
        let l = c.ok(&format!("SEARCH {q}")).await;
        assert_eq!(l[0].strip_prefix("* SEARCH").unwrap().trim(), want, "{q}");
    }
    let l = c.no("SEARCH CHARSET KOI8-R ALL").await;
    assert!(l.contains("[BADCHARSET (UTF-8 US-ASCII)]"), "{l}");
    c.bad("SEARCH").await;
    c.bad("SEARCH FROB").await;
    c.bad("SEARCH OR SEEN").await;
    t.stop().await;
}

#[tokio::test]
async fn condstore() {
    let t = start(PLAIN, "", 3).await;
    let mut c = t.login().await;
    let l = c.ok("SELECT INBOX (CONDSTORE)").await;
    let hms: u64 = l
        .iter()
        .find_map(|x| x.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|x| x.split(']').next())
        .unwrap()
        .parse()
        .unwrap();
    let f = c.ok("FETCH 1:* (MODSEQ)").await;
    assert_eq!(f.len(), 4);
    let m1 = modseq_of(&f[0]);
    // STORE reports MODSEQ once CONDSTORE is on.
    let l = c.ok("STORE 1 +FLAGS (\\Seen)").await;
    let m1b = modseq_of(&l[0]);
    assert!(m1b > m1 && m1b > hms, "{l:?}");
    assert!(
        l[0].starts_with("* 1 FETCH (FLAGS (\\Seen \\Recent) UID 1 MODSEQ ("),
        "{l:?}"
    );
    // CHANGEDSINCE returns only what changed.
    let f = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].starts_with("* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ("),
        "{f:?}"
    );
    let f = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m1b})"))
        .await;
    assert_eq!(f.len(), 1, "{f:?}");
    // UNCHANGEDSINCE: message 1 changed after hms, so only 2 and 3 are stored.
    let l = c
        .ok(&format!(
            "STORE 1:3 (UNCHANGEDSINCE {hms}) +FLAGS.SILENT (\\Flagged)"
        ))
        .await;
    let tagged = l.last().unwrap();
    assert!(tagged.contains("OK [MODIFIED 1]"), "{l:?}");
    assert_eq!(
        l.len(),
        3,
        "silent still reports MODSEQ of changed messages: {l:?}"
    );
    assert!(l[0].starts_with("* 2 FETCH (UID 2 MODSEQ ("), "{l:?}");
    let l = c
        .ok("UID STORE 1:3 (UNCHANGEDSINCE 1) -FLAGS (\\Flagged)")
        .await;
    assert!(l.last().unwrap().contains("[MODIFIED 1:3]"), "{l:?}");
    // A FETCH that sets \Seen reports UID and MODSEQ with the new flags.
    let r = c.run_lit("FETCH 3 BODY[HEADER.FIELDS (Subject)]").await;
    assert!(
        r[0].text
            .contains(" FLAGS (\\Flagged \\Seen \\Recent) UID 3 MODSEQ ("),
        "{:?}",
        r[0].text
    );
    // SEARCH MODSEQ.
    let l = c.ok(&format!("SEARCH MODSEQ {}", m1b + 1)).await;
    assert!(l[0].starts_with("* SEARCH 2 3 (MODSEQ "), "{l:?}");
    // STATUS and a second session see the new HIGHESTMODSEQ.
    let s = c.ok("STATUS INBOX (HIGHESTMODSEQ)").await;
    let h2: u64 = s[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    assert!(h2 > m1b);
    let mut d = t.login().await;
    d.ok("ENABLE CONDSTORE").await;
    let l = d.ok("EXAMINE INBOX").await;
    assert!(has(&l, &format!("[HIGHESTMODSEQ {h2}]")), "{l:?}");
    t.stop().await;
}

/// A keyword new to the mailbox changes its FLAGS list: the session that
/// stores it, and another that has the mailbox selected, get `* FLAGS` and
/// `* OK [PERMANENTFLAGS ...]` before the FETCH that shows it (RFC 3501
/// §7.2.6); a keyword already announced is not announced again.
#[tokio::test]
async fn a_new_keyword_is_announced_with_flags_and_permanentflags() {
    let t = start(PLAIN, "", 2).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("SELECT INBOX").await;
    let l = b.ok("SELECT INBOX").await;
    assert!(!l.iter().any(|l| l.contains("$hello")), "{l:?}");
    let l = a.ok("STORE 1 +FLAGS ($hello)").await;
    let flags = l
        .iter()
        .position(|l| l.starts_with("* FLAGS (") && l.contains("$hello"));
    let perm = l
        .iter()
        .position(|l| l.starts_with("* OK [PERMANENTFLAGS (") && l.contains("$hello \\*)"));
    let fetch = l
        .iter()
        .position(|l| l.starts_with("* 1 FETCH") && l.contains("$hello"));
    assert!(
        matches!((flags, perm, fetch), (Some(f), Some(p), Some(x)) if f < p && p < x),
        "{l:?}"
    );
    // Not again for the same keyword.
    let l = a.ok("STORE 2 +FLAGS ($hello)").await;
    assert!(!l.iter().any(|l| l.starts_with("* FLAGS")), "{l:?}");
    // The other session learns it at its next command.
    let l = b.ok("NOOP").await;
    let flags = l
        .iter()
        .position(|l| l.starts_with("* FLAGS (") && l.contains("$hello"));
    let fetch = l
        .iter()
        .position(|l| l.contains("FETCH") && l.contains("$hello"));
    assert!(
        matches!((flags, fetch), (Some(f), Some(x)) if f < x),
        "{l:?}"
    );
    t.stop().await;
}

/// Comments inside an address (`<user-from (comment)@ (comment) domain.org>`)
/// are white space: SEARCH FROM finds the address, and ENVELOPE has no name
/// for it (as Dovecot answers; imaptest checks both).
#[tokio::test]
async fn comments_inside_an_address_are_not_a_name() {
    let t = start(PLAIN, "", 0).await;
    let msg = "From: <user-from (comment)@ (comment) domain.org>\r\nTo: Ann (the boss) <ann@example.org>\r\nSubject: comments\r\n\r\nbody\r\n";
    t.deliver("INBOX", msg.as_bytes(), Flags::new()).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let l = c.ok("SEARCH FROM user-from@domain.org").await;
    assert_eq!(l[0], "* SEARCH 1", "{l:?}");
    let l = c.ok("SEARCH TO ann@example.org").await;
    assert_eq!(l[0], "* SEARCH 1", "{l:?}");
    let l = c.ok("SEARCH FROM nobody@domain.org").await;
    assert_eq!(l[0], "* SEARCH", "{l:?}");
    let l = c.ok("FETCH 1 ENVELOPE").await;
    assert!(
        l[0].contains(r#"((NIL NIL "user-from" "domain.org"))"#),
        "{l:?}"
    );
    assert!(
        l[0].contains(r#"(("Ann" NIL "ann" "example.org"))"#),
        "{l:?}"
    );
    t.stop().await;
}

/// ESEARCH (RFC 4731): `SEARCH RETURN (...)` answered like a real Dovecot
/// for the same mailbox (tags aside), empty results, UID, BAD for return
/// options not served; with CONDSTORE, MODSEQ; and the first
/// CONDSTORE-enabling command reports HIGHESTMODSEQ (RFC 7162 §3.1).
#[tokio::test]
async fn esearch_answers_like_dovecot() {
    use common::legacy::{Legacy, LegacyOptions};
    const CMDS: &[&str] = &[
        "SEARCH RETURN (ALL) ALL",
        "SEARCH RETURN () ALL",
        "SEARCH RETURN (MIN MAX COUNT) ALL",
        "UID SEARCH RETURN (ALL) SEEN",
        "UID SEARCH RETURN (MIN COUNT) UNSEEN",
        "SEARCH RETURN (COUNT) 1000",
        "SEARCH RETURN (MIN MAX ALL) 1000",
        "UID SEARCH RETURN () 1000",
        "SEARCH RETURN (all count) SUBJECT m",
        "SEARCH RETURN (ALL) 2:4,7",
    ];
    let tagless = |l: &str| -> String {
        let s = l.to_ascii_uppercase();
        match s.find(")") {
            Some(i) if s.starts_with("* ESEARCH (TAG ") => format!("* ESEARCH{}", &s[i + 1..]),
            _ => s,
        }
    };
    let bodies: Vec<Vec<u8>> = (1..=8).map(message).collect();
    // Dovecot first.
    let legacy = Legacy::start(LegacyOptions::default());
    let mut d = legacy.imap("alice", "alice-pw");
    for b in &bodies {
        d.append("INBOX", "", "01-Jan-2024 10:00:00 +0000", b);
    }
    d.ok("SELECT INBOX");
    d.ok("STORE 2,4,5 +FLAGS (\\Seen)");
    d.ok("STORE 3 +FLAGS (\\Deleted)");
    d.ok("EXPUNGE");
    let theirs: Vec<String> = CMDS
        .iter()
        .map(|c| {
            let l = d.ok(c);
            let e = l.iter().find(|l| l.text.starts_with("* ESEARCH")).unwrap();
            tagless(&e.text)
        })
        .collect();
    // Ours.
    let t = start(PLAIN, "", 0).await;
    for b in &bodies {
        t.deliver("INBOX", b, Flags::new()).await;
    }
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" ESEARCH"), "{caps:?}");
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2,4,5 +FLAGS.SILENT (\\Seen)").await;
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    for (cmd, want) in CMDS.iter().zip(&theirs) {
        let tag = c.next_tag();
        c.c.send(&format!("{tag} {cmd}")).await;
        let l = c.c.until(&format!("{tag} ")).await;
        assert_eq!(l.len(), 2, "{cmd}: {l:?}");
        assert!(
            l[0].starts_with(&format!("* ESEARCH (TAG \"{tag}\")")),
            "{l:?}"
        );
        assert_eq!(&tagless(&l[0]), want, "{cmd}");
    }
    assert!(c
        .bad("SEARCH RETURN (PARTIAL 1:2) ALL")
        .await
        .contains("PARTIAL"));
    c.bad("SEARCH RETURN (MIN ALL").await;
    // CONDSTORE: the first enabling command reports HIGHESTMODSEQ; ESEARCH
    // carries MODSEQ (of MIN/MAX only, or of every match with ALL/COUNT).
    let f = c.ok("FETCH 1:3 (MODSEQ)").await;
    assert!(has(&f, "* OK [HIGHESTMODSEQ "), "{f:?}");
    let m: Vec<u64> = f
        .iter()
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| modseq_of(l))
        .collect();
    let l = c.ok("SEARCH RETURN (MIN) 1:3 MODSEQ 1").await;
    assert!(
        l[0].starts_with("* ESEARCH (TAG ") && l[0].ends_with(&format!(") MIN 1 MODSEQ {}", m[0])),
        "{l:?}"
    );
    let l = c.ok("SEARCH RETURN (COUNT) 1:3 MODSEQ 1").await;
    assert!(
        l[0].ends_with(&format!("COUNT 3 MODSEQ {}", m.iter().max().unwrap())),
        "{l:?}"
    );
    // No second HIGHESTMODSEQ once CONDSTORE is on.
    let f = c.ok("FETCH 1 (MODSEQ)").await;
    assert!(!has(&f, "HIGHESTMODSEQ"), "{f:?}");
    t.stop().await;
}

/// WITHIN (RFC 5032): OLDER and YOUNGER count seconds back from now against
/// INTERNALDATE; they complement each other.
#[tokio::test]
async fn within_older_and_younger() {
    use ferrymail::store::{IngestSource, NewMessage};
    let t = start(PLAIN, "", 0).await;
    let inbox = t.ms.mailbox("INBOX").await.unwrap().unwrap();
    let now = ferrymail::store::now();
    for (i, age) in [(1, 86_400 * 3), (2, 7_200), (3, 60)] {
        let blob = t.ms.stage_bytes(&message(i)).await.unwrap();
        t.ms.ingest(
            IngestSource::Append,
            vec![NewMessage {
                mailbox_id: inbox.id,
                uid: None,
                flags: Flags::new(),
                internaldate: now - age,
                tz_minutes: 0,
                blob,
                legacy: None,
                legacy_uidl: None,
            }],
        )
        .await
        .unwrap();
    }
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" WITHIN"), "{caps:?}");
    c.ok("SELECT INBOX").await;
    for (q, want) in [
        ("YOUNGER 3600", "3"),
        ("OLDER 3600", "1 2"),
        ("YOUNGER 86400", "2 3"),
        ("OLDER 86400", "1"),
        ("NOT OLDER 3600", "3"),
        ("OLDER 1 YOUNGER 10000", "2 3"),
    ] {
        let l = c.ok(&format!("SEARCH {q}")).await;
        assert_eq!(l[0].strip_prefix("* SEARCH").unwrap().trim(), want, "{q}");
    }
    c.bad("SEARCH OLDER 0").await;
    c.bad("SEARCH YOUNGER x").await;
    t.stop().await;
}

/// SEARCHRES (RFC 5182): `SEARCH RETURN (SAVE)` keeps the result for `$`
/// (answering nothing by itself), `$` works as a set in FETCH, STORE, COPY,
/// MOVE and in search keys, as message numbers or UIDs, shrinks with
/// expunges, and is empty again after another SELECT.
#[tokio::test]
async fn searchres_saves_results_for_dollar() {
    let t = start(PLAIN, "", 6).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" SEARCHRES"), "{caps:?}");
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2,4,5 +FLAGS.SILENT ($Work)").await;
    let l = c.ok("SEARCH RETURN (SAVE) KEYWORD $Work").await;
    assert_eq!(l.len(), 1, "SAVE alone answers nothing: {l:?}");
    let f = c.ok("FETCH $ (UID)").await;
    assert_eq!(
        f[..3],
        [
            "* 2 FETCH (UID 2)",
            "* 4 FETCH (UID 4)",
            "* 5 FETCH (UID 5)"
        ]
    );
    let l = c.ok("SEARCH NOT $").await;
    assert_eq!(l[0], "* SEARCH 1 3 6");
    let l = c.ok("UID SEARCH UID $ UNSEEN").await;
    assert_eq!(l[0], "* SEARCH 2 4 5");
    c.ok("STORE $ +FLAGS.SILENT (\\Seen)").await;
    // MIN/MAX with SAVE keep only those.
    let l = c.ok("SEARCH RETURN (SAVE MIN MAX) SEEN").await;
    assert!(l[0].ends_with(") MIN 2 MAX 5"), "{l:?}");
    let l = c.ok("UID COPY $ Trash").await;
    assert!(
        l.last().unwrap().contains("[COPYUID ") && l.last().unwrap().contains(" 2,5 "),
        "{l:?}"
    );
    // An expunge shrinks it; message numbers follow.
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let f = c.ok("FETCH $ (UID)").await;
    assert_eq!(f[0], "* 4 FETCH (UID 5)", "{f:?}");
    c.ok("MOVE $ Trash").await;
    // A failed SAVE and another SELECT empty it: `$` matches nothing.
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    c.bad("SEARCH RETURN (SAVE) FROB").await;
    let f = c.ok("FETCH $ (UID)").await;
    assert_eq!(f.len(), 1, "{f:?}");
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    c.ok("SELECT INBOX").await;
    let l = c.ok("SEARCH $").await;
    assert_eq!(l[0], "* SEARCH");
    t.stop().await;
}
