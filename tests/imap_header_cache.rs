//! The header cache (docs/storage.md): FETCH of ENVELOPE, BODY, BODYSTRUCTURE,
//! RFC822.SIZE and header sections, and SEARCH/SORT/THREAD on header fields,
//! answer the same bytes from the cache as from the message files, without
//! opening the files; an index without cache rows (a data dir of an earlier
//! release, rows of an older version) is served from the files and cached on
//! the way; COPY, MOVE and EXPUNGE leave no row that disagrees or outlives its
//! file.

mod common;
mod imap_support;

use std::path::PathBuf;

use common::golden;
use ferrymail::store::Flags;
use imap_support::*;

/// A corpus of awkward messages: the golden ones (multipart, digest,
/// message/rfc822, encoded words, 8-bit, LF-only, broken MIME) and more.
fn corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = golden::messages().into_iter().map(|(_, m)| m).collect();
    // Raw UTF-8 in the header.
    v.push(
        "From: J\u{fc}rgen M\u{fc}ller <jm@example.net>\r\nTo: pat@example.test\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\nDate: Tue, 7 Nov 2023 09:00:00 +0100\r\n\r\nHallo\r\n"
            .as_bytes()
            .to_vec(),
    );
    // Encoded words, a group, Cc and Bcc.
    v.push(b"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\nTo: friends: a@example.net, b@example.net;\r\nCc: \"Carol (c)\" <carol@example.org>\r\nBcc: hidden@example.org\r\nSubject: =?UTF-8?B?w4Rwc2lsb24gdW5kIFplZA==?=\r\nDate: 1 Jan 2001 00:00:00 GMT\r\nIn-Reply-To: <a@b>\r\nReferences: <x@y> <a@b>\r\nX-Priority: 1\r\n\r\nbody\r\n".to_vec());
    // A header and no body, with and without the empty line.
    v.push(b"From: only@example.net\r\nSubject: header only\r\n".to_vec());
    v.push(b"From: only@example.net\r\nSubject: header and empty line\r\n\r\n".to_vec());
    // No header at all.
    v.push(b"\r\njust a body\r\n".to_vec());
    // Mixed line ends, folded fields.
    v.push(b"From: mixed@example.net\nSubject: mixed\r\n  ends folded\n\r\nbody\n".to_vec());
    // A header block too big for the cache (over 64 KiB).
    let mut big = String::new();
    for i in 0..1500 {
        big.push_str(&format!(
            "X-Filler-{i}: value value value value value value {i}\r\n"
        ));
    }
    big.push_str("From: Big Header <big@example.net>\r\nSubject: the big one\r\nDate: Mon, 6 Nov 2023 11:00:00 +0000\r\n\r\nbody of the big one\r\n");
    v.push(big.into_bytes());
    // A multipart with an attachment.
    v.push(b"From: Multi <multi@example.net>\r\nTo: pat@example.test\r\nSubject: parts\r\nDate: Wed, 8 Nov 2023 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSch=C3=B6n\r\n--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n".to_vec());
    v
}

/// FETCH and SEARCH commands every client's folder sync sends, and more.
fn commands(set: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "UID FETCH {} (UID FLAGS RFC822.SIZE ENVELOPE)",
        "UID FETCH {} (BODYSTRUCTURE BODY INTERNALDATE)",
        "UID FETCH {} (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        "UID FETCH {} (BODY.PEEK[HEADER.FIELDS.NOT (Received Subject X-Filler-7)])",
        "UID FETCH {} (RFC822.HEADER)",
        "UID FETCH {} (BODY.PEEK[HEADER]<5.40> ENVELOPE)",
        "UID FETCH {} (BODY.PEEK[HEADER.FIELDS (X-Filler-1499 From)]<0.20>)",
    ]
    .iter()
    .map(|c| c.replace("{}", set))
    .collect();
    for key in [
        "FROM sender",
        "FROM pirard",
        "FROM example.net",
        "TO friends",
        "TO pat@example.test",
        "CC carol",
        "BCC hidden",
        "SUBJECT message",
        "SUBJECT psilon",
        "SUBJECT \"\"",
        "HEADER X-Filler-1499 1499",
        "HEADER X-Priority \"\"",
        "HEADER Message-ID example",
        "SENTBEFORE 1-Jan-2020",
        "SENTON 6-Nov-2023",
        "SENTSINCE 7-Nov-2023",
        "OR FROM big SUBJECT parts",
        "NOT FROM sender",
    ] {
        v.push(format!("UID SEARCH UID {set} {key}"));
    }
    for (field, text) in [("SUBJECT", "gr\u{fc}\u{df}"), ("FROM", "m\u{fc}ller")] {
        v.push(format!(
            "UID SEARCH CHARSET UTF-8 UID {set} {field} {{{}+}}\r\n{text}",
            text.len()
        ));
    }
    v.push(format!("UID SORT (SUBJECT FROM DATE) UTF-8 UID {set}"));
    v.push(format!("UID THREAD REFERENCES UTF-8 UID {set}"));
    v
}

/// Every response to `cmds` in a new read-only session of `mailbox`, byte
/// for byte (the tags are the same in every session).
async fn transcript(t: &ImapTest, mailbox: &str, cmds: &[String]) -> Vec<u8> {
    let mut c = t.login().await;
    c.ok(&format!("EXAMINE {mailbox}")).await;
    let mut out = Vec::new();
    for cmd in cmds {
        for r in c.run_lit(cmd).await {
            out.extend_from_slice(&r.raw);
            out.extend_from_slice(b"\r\n");
        }
    }
    c.ok("LOGOUT").await;
    out
}

/// Asserts two transcripts are the same bytes, showing the first line that
/// differs.
fn same(got: &[u8], want: &[u8]) {
    if got != want {
        let g: Vec<&[u8]> = got.split(|&b| b == b'\n').collect();
        let w: Vec<&[u8]> = want.split(|&b| b == b'\n').collect();
        let i = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "transcripts differ at line {i}:\n got: {}\nwant: {}",
            String::from_utf8_lossy(g.get(i).copied().unwrap_or_default()),
            String::from_utf8_lossy(w.get(i).copied().unwrap_or_default())
        );
    }
}

fn index(t: &ImapTest) -> rusqlite::Connection {
    rusqlite::Connection::open(t.ms.dir().join("index.sqlite")).unwrap()
}

fn count(t: &ImapTest, sql: &str) -> i64 {
    index(t).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Rows of the cache, and rows that are right: of a file some message uses.
fn rows(t: &ImapTest) -> (i64, i64) {
    (
        count(t, "SELECT count(*) FROM header_cache"),
        count(
            t,
            "SELECT count(*) FROM header_cache WHERE blob IN (SELECT blob FROM messages)",
        ),
    )
}

fn distinct_blobs(t: &ImapTest) -> i64 {
    count(t, "SELECT count(DISTINCT blob) FROM messages")
}

/// Moves every message file away (so nothing can be read from one) and
/// returns a guard that puts them back.
struct Hidden(Vec<(PathBuf, PathBuf)>);

impl Hidden {
    fn all(t: &ImapTest) -> Hidden {
        let aside = t.ms.dir().join("aside");
        std::fs::create_dir_all(&aside).unwrap();
        let mut moved = Vec::new();
        for sub in std::fs::read_dir(t.ms.dir().join("blobs")).unwrap() {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                let to = aside.join(p.file_name().unwrap());
                std::fs::rename(&p, &to).unwrap();
                moved.push((p, to));
            }
        }
        assert!(!moved.is_empty());
        Hidden(moved)
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        for (p, to) in &self.0 {
            let _ = std::fs::rename(to, p);
        }
    }
}

/// Stores the corpus: every other message by SMTP delivery, the rest by
/// APPEND over IMAP. Returns the UID of the big-header message.
async fn fill(t: &ImapTest) -> u32 {
    let msgs = corpus();
    for i in 1..=3 {
        t.deliver("INBOX", &message(i), Flags::new()).await;
    }
    let mut c = t.login().await;
    let mut big = 0;
    for (i, m) in msgs.iter().enumerate() {
        let uid = if i % 2 == 0 {
            t.deliver("INBOX", m, Flags::new()).await
        } else {
            c.send_raw(format!("a{i} APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes())
                .await;
            c.send_raw(m).await;
            c.send_raw(b"\r\n").await;
            let l = c.line().await;
            assert!(l.starts_with(&format!("a{i} OK [APPENDUID")), "{l}");
            l.split(' ')
                .nth(4)
                .unwrap()
                .trim_end_matches(']')
                .parse()
                .unwrap()
        };
        if String::from_utf8_lossy(m).contains("X-Filler-1499") {
            big = uid;
        }
    }
    c.ok("LOGOUT").await;
    // The first session takes \Recent, so the transcripts do not differ by it.
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    c.ok("LOGOUT").await;
    assert!(big > 0);
    big
}

#[tokio::test]
async fn cached_and_uncached_answers_are_byte_identical() {
    let t = start(PLAIN, "", 0).await;
    let big = fill(&t).await;
    let n = distinct_blobs(&t);
    // Every message got its row when it was stored; the big header is not
    // kept, its ENVELOPE and BODYSTRUCTURE are.
    assert_eq!(rows(&t), (n, n));
    assert_eq!(
        count(&t, "SELECT count(*) FROM header_cache WHERE header IS NULL"),
        1
    );
    let cmds = commands("1:*");
    let cached = transcript(&t, "INBOX", &cmds).await;
    let text = String::from_utf8_lossy(&cached);
    assert!(text.contains("ENVELOPE (\"Mon, 6 Nov 2023 10:00:00 +0000\" \"message 1\""));
    assert!(
        text.contains("BODYSTRUCTURE ((\"text\" \"plain\""),
        "{text}"
    );
    assert!(text.contains("X-Filler-1499: value"), "{text}");

    // Without the rows: the same bytes, read from the files, and the rows
    // are written again.
    index(&t).execute("DELETE FROM header_cache", []).unwrap();
    assert_eq!(rows(&t), (0, 0));
    let uncached = transcript(&t, "INBOX", &cmds).await;
    same(&uncached, &cached);
    assert_eq!(rows(&t), (n, n));

    // Rows of another version count as missing, and are replaced.
    index(&t)
        .execute("UPDATE header_cache SET version = 0, envelope = 'NIL'", [])
        .unwrap();
    same(&transcript(&t, "INBOX", &cmds).await, &cached);
    assert_eq!(
        count(&t, "SELECT count(*) FROM header_cache WHERE version = 1"),
        n
    );

    // With the cache, the files are not opened: with every file moved away
    // the answers do not change (but for the big header's header sections,
    // which need its file).
    let others = format!("1:{},{}:*", big - 1, big + 1);
    let want = transcript(&t, "INBOX", &commands(&others)).await;
    let hidden = Hidden::all(&t);
    same(&transcript(&t, "INBOX", &commands(&others)).await, &want);
    drop(hidden);
    let structure = vec![
        "UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY)".to_string(),
        "UID SEARCH FROM sender".to_string(),
    ];
    let want = transcript(&t, "INBOX", &structure).await;
    assert!(String::from_utf8_lossy(&want).contains("\"the big one\""));
    let hidden = Hidden::all(&t);
    same(&transcript(&t, "INBOX", &structure).await, &want);
    drop(hidden);
    t.stop().await;
}

#[tokio::test]
async fn copy_move_and_expunge_keep_the_cache_true() {
    let t = start(PLAIN, "", 0).await;
    fill(&t).await;
    let mut c = t.login().await;
    c.ok("CREATE Kept").await;
    c.ok("CREATE Other").await;
    c.ok("SELECT INBOX").await;
    c.ok("UID COPY 1:* Kept").await;
    c.ok("UID MOVE 1:6 Other").await;
    c.ok("UID STORE 7:12 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("UID EXPUNGE 7:9").await;
    c.ok("SELECT Kept").await;
    c.ok("UID STORE 10:14 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    c.ok("SELECT Other").await;
    c.ok("LOGOUT").await;
    // A file shared by copies has one row; a file no message uses has none.
    let n = distinct_blobs(&t);
    assert_eq!(rows(&t), (n, n));
    let cmds = commands("1:*");
    let mut cached = Vec::new();
    for mbx in ["INBOX", "Kept", "Other"] {
        cached.push(transcript(&t, mbx, &cmds).await);
    }
    index(&t).execute("DELETE FROM header_cache", []).unwrap();
    for (i, mbx) in ["INBOX", "Kept", "Other"].iter().enumerate() {
        same(&transcript(&t, mbx, &cmds).await, &cached[i]);
    }
    assert_eq!(rows(&t), (n, n));
    // Removing every message of a file removes its row.
    let mut c = t.login().await;
    for mbx in ["INBOX", "Kept", "Other"] {
        c.ok(&format!("SELECT {mbx}")).await;
        c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)").await;
        c.ok("EXPUNGE").await;
    }
    c.ok("LOGOUT").await;
    assert_eq!(rows(&t), (0, 0));
    t.stop().await;
}
