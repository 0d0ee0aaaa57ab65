//! IMAP transcripts: SORT (RFC 5256) with SORT=DISPLAY (RFC 5957), THREAD
//! ORDEREDSUBJECT and REFERENCES, over a real socket: every sort key, REVERSE,
//! UID variants, search criteria, non-ASCII subjects and names, CHARSET, bad
//! commands; and the same commands against a real Dovecot, answers compared.

mod common;
mod imap_support;

use common::legacy::{Legacy, LegacyOptions};
use imap_support::*;

/// INTERNALDATE and message. Sent dates (Date, else INTERNALDATE) in order:
/// 2, 1, 4, 3, 5, 6, 7; arrival: 5, 4, 3, 2, 1, 6, 7.
const MSGS: &[(&str, &str)] = &[
    (
        "05-Jan-2024 12:00:00 +0000",
        "From: =?UTF-8?Q?J=C3=BCrgen_Gro=C3=9F?= <jg@example.de>\r\nTo: Anna <anna@example.org>\r\nCc: zed@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=\r\nDate: Tue, 2 Jan 2024 10:00:00 +0100\r\nMessage-ID: <g1@example.de>\r\n\r\nHallo!\r\n",
    ),
    (
        "04-Jan-2024 12:00:00 +0000",
        "From: =?UTF-8?B?0JjQstCw0L0=?= <ivan@example.ru>\r\nTo: bob@example.org\r\nSubject: =?UTF-8?B?0KfQtdGA0L3QvtCy0LjQutC4?=\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\nMessage-ID: <r1@example.ru>\r\n\r\nПривет, как дела?\r\n",
    ),
    (
        "03-Jan-2024 12:00:00 +0000",
        "From: 王伟 <wang@example.cn>\r\nTo: \"Zoe Adams\" <zoe@example.org>\r\nSubject: Re: Grüße aus Berlin\r\nIn-Reply-To: <g1@example.de>\r\nDate: Wed, 3 Jan 2024 08:00:00 +0000\r\nMessage-ID: <g2@example.cn>\r\n\r\n好的\r\n",
    ),
    (
        "02-Jan-2024 12:00:00 +0000",
        "From: amy@example.org\r\nTo: Anna <anna@example.org>\r\nSubject: 收件箱\r\nMessage-ID: <c1@example.cn>\r\n\r\ninbox\r\n",
    ),
    (
        "01-Jan-2024 12:00:00 +0000",
        "From: Bob <bob@example.org>\r\nTo: amy@example.org\r\nCc: Anna <anna@example.org>\r\nSubject: Fwd: [list] Re: 收件箱 (fwd)\r\nReferences: <c1@example.cn>\r\nDate: Thu, 4 Jan 2024 10:00:00 +0000\r\nMessage-ID: <c2@example.org>\r\n\r\nforwarded, with a longer body than the others\r\n",
    ),
    (
        "06-Jan-2024 12:00:00 +0000",
        "To: undisclosed-recipients:;\r\nReferences: <missing@example.net> <r1@example.ru>\r\nDate: Fri, 5 Jan 2024 10:00:00 +0000\r\nMessage-ID: <x1@example.net>\r\n\r\nx\r\n",
    ),
    (
        "07-Jan-2024 12:00:00 +0000",
        "From: \"Zoë\" <zoe@example.org>\r\nSubject: Re: =?UTF-8?B?0KfQtdGA0L3QvtCy0LjQutC4?=\r\nReferences: <gone@example.net>\r\nDate: Sat, 6 Jan 2024 10:00:00 +0000\r\nMessage-ID: <r3@example.ru>\r\n\r\nОтвет\r\n",
    ),
];

/// A string argument as a LITERAL+ literal (for non-ASCII text).
fn lit(s: &str) -> String {
    format!("{{{}+}}\r\n{s}", s.len())
}

/// Commands and ferrymail's expected answers for MSGS, worked out by hand from
/// RFC 5256 / RFC 5957.
fn queries() -> Vec<(String, &'static str)> {
    let q = |c: &str, a: &'static str| (c.to_string(), a);
    vec![
        q("SORT (ARRIVAL) UTF-8 ALL", "* SORT 5 4 3 2 1 6 7"),
        q("SORT (DATE) UTF-8 ALL", "* SORT 2 1 4 3 5 6 7"),
        q("SORT (REVERSE DATE) US-ASCII ALL", "* SORT 7 6 5 3 4 1 2"),
        // Base subjects: "", Grüße aus Berlin (1, 3), Черновики (2, 7), 收件箱 (4, 5).
        q("SORT (SUBJECT) UTF-8 ALL", "* SORT 6 1 3 2 7 4 5"),
        q(
            "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            "* SORT 6 3 1 7 2 5 4",
        ),
        q("SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 4 5 2 7 1 3 6"),
        // Local parts of the first address, missing ones as "".
        q("SORT (FROM) UTF-8 ALL", "* SORT 6 4 5 2 1 3 7"),
        q("SORT (TO) UTF-8 ALL", "* SORT 7 5 1 4 2 6 3"),
        q("SORT (CC) UTF-8 ALL", "* SORT 2 3 4 6 7 5 1"),
        // Display names (decoded), else the address.
        q("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 6 4 5 1 7 2 3"),
        q("SORT (DISPLAYTO) UTF-8 ALL", "* SORT 7 5 1 4 2 6 3"),
        q(
            "SORT (REVERSE DISPLAYFROM) UTF-8 ALL",
            "* SORT 3 2 7 1 5 4 6",
        ),
        q("UID SORT (DATE) UTF-8 2:6", "* SORT 2 4 3 5 6"),
        q(
            &format!("SORT (DATE) UTF-8 SUBJECT {}", lit("Grüße")),
            "* SORT 1 3",
        ),
        q(
            &format!("SORT (ARRIVAL) UTF-8 OR BODY {} FROM bob", lit("Привет")),
            "* SORT 5 2",
        ),
        q("SORT (DATE) UTF-8 SUBJECT nothing-like-this", "* SORT"),
        q(
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            "* THREAD (2 7)(1 3)(4 5)(6)",
        ),
        q(
            "THREAD REFERENCES UTF-8 ALL",
            "* THREAD (2 (6)(7))(1 3)(4 5)",
        ),
        q(
            "UID THREAD REFERENCES US-ASCII ALL",
            "* THREAD (2 (6)(7))(1 3)(4 5)",
        ),
        q(
            "THREAD REFERENCES UTF-8 NOT FROM bob",
            "* THREAD (2 (6)(7))(1 3)(4)",
        ),
        q(
            "THREAD REFERENCES UTF-8 SUBJECT nothing-like-this",
            "* THREAD",
        ),
    ]
}

fn append_cmd(date: &str, raw: &str) -> String {
    format!("APPEND INBOX \"{date}\" {}", lit(raw))
}

/// The one untagged line of `lines` that starts with `prefix`.
fn answer(lines: &[String], prefix: &str) -> String {
    let found: Vec<&String> = lines
        .iter()
        .filter(|l| *l == prefix || l.starts_with(&format!("{prefix} ")))
        .collect();
    assert_eq!(found.len(), 1, "{prefix} in {lines:?}");
    found[0].clone()
}

fn prefix_of(cmd: &str) -> &'static str {
    if cmd.contains("THREAD ") {
        "* THREAD"
    } else {
        "* SORT"
    }
}

async fn seeded() -> (ImapTest, Imap) {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    for (date, raw) in MSGS {
        c.ok(&append_cmd(date, raw)).await;
    }
    c.ok("SELECT INBOX").await;
    (t, c)
}

#[tokio::test]
async fn sort_and_thread_answers() {
    let (t, mut c) = seeded().await;
    let caps = c.ok("CAPABILITY").await;
    for cap in [
        " SORT ",
        " SORT=DISPLAY ",
        " THREAD=ORDEREDSUBJECT ",
        " THREAD=REFERENCES ",
    ] {
        assert!(caps[0].contains(cap), "{cap} in {caps:?}");
    }
    for (cmd, expected) in queries() {
        let lines = c.ok(&cmd).await;
        assert_eq!(answer(&lines, prefix_of(&cmd)), expected, "{cmd}");
    }
    // SIZE against the sizes FETCH reports.
    let f = c.ok("FETCH 1:* RFC822.SIZE").await;
    let mut sizes: Vec<(u64, u32)> = f[..f.len() - 1]
        .iter()
        .map(|l| {
            let seq = l.split(' ').nth(1).unwrap().parse().unwrap();
            let size = l.rsplit(' ').next().unwrap().trim_end_matches(')');
            (size.parse().unwrap(), seq)
        })
        .collect();
    sizes.sort();
    let want: Vec<String> = sizes.iter().map(|(_, s)| s.to_string()).collect();
    let lines = c.ok("SORT (SIZE) UTF-8 ALL").await;
    assert_eq!(
        answer(&lines, "* SORT"),
        format!("* SORT {}", want.join(" "))
    );
    t.stop().await;
}

#[tokio::test]
async fn thread_after_expunge_and_with_uids() {
    let (t, mut c) = seeded().await;
    // Message 1 (<g1@example.de>) goes: its reply (now 2) loses its parent.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let l = c.ok("THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(answer(&l, "* THREAD"), "* THREAD (1 (5)(6))(3 4)(2)");
    let l = c.ok("UID THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(answer(&l, "* THREAD"), "* THREAD (2 (6)(7))(4 5)(3)");
    let l = c.ok("UID THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(answer(&l, "* THREAD"), "* THREAD (2 7)(4 5)(3)(6)");
    let l = c.ok("UID SORT (REVERSE ARRIVAL) UTF-8 UNDELETED").await;
    assert_eq!(answer(&l, "* SORT"), "* SORT 7 6 2 3 4 5");
    // CONDSTORE: a MODSEQ criterion adds the highest mod-sequence of the hits.
    let l = c.ok("STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(l.len(), 1, "{l:?}");
    let f = c.ok("FETCH 3 (MODSEQ)").await;
    let modseq: u64 = f[0]
        .split("MODSEQ (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .parse()
        .unwrap();
    let l = c.ok(&format!("SORT (DATE) UTF-8 MODSEQ {modseq}")).await;
    assert_eq!(answer(&l, "* SORT"), format!("* SORT 3 (MODSEQ {modseq})"));
    let l = c
        .ok(&format!("SORT (DATE) UTF-8 MODSEQ {}", modseq + 1))
        .await;
    assert_eq!(answer(&l, "* SORT"), "* SORT");
    t.stop().await;
}

#[tokio::test]
async fn bad_commands_and_charsets() {
    let (t, mut c) = seeded().await;
    for cmd in [
        "SORT (SUBJECT) KOI8-R ALL",
        "UID SORT (DATE) ISO-8859-1 ALL",
        "THREAD REFERENCES X-UNKNOWN ALL",
        "THREAD ORDEREDSUBJECT KOI8-R ALL",
    ] {
        let no = c.no(cmd).await;
        assert!(no.contains("[BADCHARSET (UTF-8 US-ASCII)]"), "{cmd}: {no}");
    }
    for cmd in [
        "SORT SUBJECT UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (SUBJECT) UTF-8",
        "SORT (BOGUS) UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT (SUBJECT) UTF-8 NOSUCHKEY",
        "THREAD BOGUS UTF-8 ALL",
        "THREAD REFERENCES",
        "UID THREAD",
        "SORT",
    ] {
        c.bad(cmd).await;
    }
    // The session is still fine.
    let l = c.ok("SORT (DATE) UTF-8 ALL").await;
    assert_eq!(answer(&l, "* SORT"), "* SORT 2 1 4 3 5 6 7");
    // Not before SELECT.
    let mut d = t.login().await;
    assert!(d
        .bad("SORT (DATE) UTF-8 ALL")
        .await
        .contains("No mailbox selected"));
    d.bad("THREAD REFERENCES UTF-8 ALL").await;
    t.stop().await;
}

/// The same messages and commands against Dovecot 2.3: the same answers.
#[tokio::test]
async fn answers_match_dovecot() {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut theirs = Vec::new();
    {
        let mut imap = legacy.imap("alice", "alice-pw");
        for (date, raw) in MSGS {
            imap.append("INBOX", "", date, raw.as_bytes());
        }
        imap.ok("SELECT INBOX");
        for (cmd, _) in queries() {
            let lines: Vec<String> = imap.ok(&cmd).into_iter().map(|l| l.text).collect();
            theirs.push(answer(&lines, prefix_of(&cmd)));
        }
        imap.logout();
    }
    let (t, mut c) = seeded().await;
    let mut diffs = Vec::new();
    for ((cmd, _), dovecot) in queries().into_iter().zip(theirs) {
        let lines = c.ok(&cmd).await;
        let ours = answer(&lines, prefix_of(&cmd));
        // Dovecot writes an empty THREAD answer as "* THREAD " (trailing
        // space); RFC 5256's grammar has no space there, ferrymail writes none.
        if ours != dovecot.trim_end() {
            diffs.push(format!("{cmd}: ferrymail {ours:?}, Dovecot {dovecot:?}"));
        }
    }
    assert!(diffs.is_empty(), "{diffs:#?}");
    t.stop().await;
}

/// Odd messages: comments as names, groups, bad and missing dates, duplicate
/// and missing Message-IDs, reference loops, ISO-8859-1 words, `Re[2]:`.
const EDGE: &[(&str, &str)] = &[
    (
        "10-Feb-2024 09:00:00 +0100",
        "From: ann@example.org (Ann Example)\r\nTo: <bea@example.org>\r\nSubject: Re[2]: =?ISO-8859-1?Q?K=E4se?=\r\nDate: not a date at all\r\nMessage-ID: <e1@x>\r\nReferences: <e3@x>\r\n\r\n1\r\n",
    ),
    (
        "09-Feb-2024 09:00:00 +0100",
        "From: \"\" <zz@example.org>\r\nTo: team: carl@example.org, dora@example.org;\r\nCc: =?ISO-8859-1?Q?=C9mile?= <emile@example.org>\r\nSubject: =?ISO-8859-1?Q?k=E4se?=\r\nDate: Sat, 10 Feb 2024 08:00:00 -0500\r\nMessage-ID: <e2@x>\r\nReferences: <e1@x>\r\n\r\n22\r\n",
    ),
    (
        "08-Feb-2024 09:00:00 +0100",
        "From: Carl <carl@example.org>\r\nSubject: [Fwd: Re: status]\r\nDate: Sat, 10 Feb 2024 08:00:00 -0500\r\nMessage-ID: <e3@x>\r\nReferences: <e2@x>\r\n\r\n333\r\n",
    ),
    (
        "07-Feb-2024 09:00:00 +0100",
        "From: Carl <carl@example.org>\r\nSubject: status\r\nMessage-ID: <e3@x>\r\n\r\n4444\r\n",
    ),
    (
        "11-Feb-2024 09:00:00 +0100",
        "From: <bea@example.org>\r\nTo: ann@example.org (Ann Example)\r\nSubject: RE: status (fwd)\r\nIn-Reply-To: <nowhere@x> <e3@x>\r\nDate: Fri, 9 Feb 2024 23:59:59 +0000\r\n\r\n55555\r\n",
    ),
    (
        "11-Feb-2024 09:00:00 +0100",
        "From: undisclosed:;\r\nSubject: [list]\r\nReferences: <a1@x> <a2@x> <a1@x>\r\nDate: Fri, 9 Feb 2024 23:59:59 +0000\r\n\r\n666666\r\n",
    ),
    (
        "12-Feb-2024 09:00:00 +0100",
        "Subject: Fw: [list]\r\nReferences: <a2@x>\r\nMessage-ID: <a1@x>\r\n\r\n7777777\r\n",
    ),
];

#[tokio::test]
async fn edge_cases_match_dovecot() {
    let mut cmds = Vec::new();
    for key in [
        "ARRIVAL",
        "DATE",
        "SIZE",
        "SUBJECT",
        "FROM",
        "TO",
        "CC",
        "DISPLAYFROM",
        "DISPLAYTO",
    ] {
        cmds.push(format!("SORT ({key}) UTF-8 ALL"));
        cmds.push(format!("UID SORT (REVERSE {key} SUBJECT) UTF-8 ALL"));
    }
    cmds.push("THREAD ORDEREDSUBJECT UTF-8 ALL".into());
    cmds.push("THREAD REFERENCES UTF-8 ALL".into());
    cmds.push("UID THREAD REFERENCES UTF-8 NOT SUBJECT list".into());
    let legacy = Legacy::start(LegacyOptions::default());
    let mut theirs = Vec::new();
    {
        let mut imap = legacy.imap("alice", "alice-pw");
        for (date, raw) in EDGE {
            imap.append("INBOX", "", date, raw.as_bytes());
        }
        imap.ok("SELECT INBOX");
        for cmd in &cmds {
            let lines: Vec<String> = imap.ok(cmd).into_iter().map(|l| l.text).collect();
            theirs.push(answer(&lines, prefix_of(cmd)));
        }
        imap.logout();
    }
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    for (date, raw) in EDGE {
        c.ok(&append_cmd(date, raw)).await;
    }
    c.ok("SELECT INBOX").await;
    let mut diffs = Vec::new();
    for (cmd, dovecot) in cmds.iter().zip(theirs) {
        let lines = c.ok(cmd).await;
        let ours = answer(&lines, prefix_of(cmd));
        if ours != dovecot.trim_end() {
            diffs.push(format!("{cmd}: ferrymail {ours:?}, Dovecot {dovecot:?}"));
        }
    }
    assert!(diffs.is_empty(), "{diffs:#?}");
    t.stop().await;
}

/// ESORT (RFC 5267 §3.2): `SORT RETURN (...)` answers ESEARCH with MIN and
/// MAX the first and last in the sort order and ALL in that order, as a real
/// Dovecot does for the same mailbox (tags aside).
#[tokio::test]
async fn esort_answers_match_dovecot() {
    const CMDS: &[&str] = &[
        "SORT RETURN (MIN MAX COUNT) (REVERSE DATE) UTF-8 ALL",
        "SORT RETURN (ALL) (SUBJECT) UTF-8 ALL",
        "UID SORT RETURN (MIN ALL) (FROM) UTF-8 NOT 1",
        "SORT RETURN () (ARRIVAL) UTF-8 ALL",
        "SORT RETURN (COUNT MAX) (SIZE) UTF-8 1000",
    ];
    let tagless = |l: &str| -> String {
        let s = l.to_ascii_uppercase();
        match s.find(')') {
            Some(i) if s.starts_with("* ESEARCH (TAG ") => format!("* ESEARCH{}", &s[i + 1..]),
            _ => s,
        }
    };
    let legacy = Legacy::start(LegacyOptions::default());
    let mut theirs = Vec::new();
    {
        let mut imap = legacy.imap("alice", "alice-pw");
        for (date, raw) in MSGS {
            imap.append("INBOX", "", date, raw.as_bytes());
        }
        imap.ok("SELECT INBOX");
        for cmd in CMDS {
            let lines: Vec<String> = imap.ok(cmd).into_iter().map(|l| l.text).collect();
            theirs.push(tagless(&answer(&lines, "* ESEARCH")));
        }
        imap.logout();
    }
    let (t, mut c) = seeded().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" ESORT"), "{caps:?}");
    for (cmd, dovecot) in CMDS.iter().zip(theirs) {
        let lines = c.ok(cmd).await;
        assert_eq!(tagless(&answer(&lines, "* ESEARCH")), dovecot, "{cmd}");
    }
    assert!(c
        .bad("SORT RETURN (PARTIAL 1:2) (ARRIVAL) UTF-8 ALL")
        .await
        .contains("PARTIAL"));
    t.stop().await;
}
