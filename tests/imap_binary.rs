//! IMAP BINARY (RFC 3516): FETCH BINARY[part], BINARY.PEEK, BINARY.SIZE,
//! partials, UNKNOWN-CTE, and APPEND of a literal8 with NUL bytes. The
//! decoded parts are compared with a real Dovecot's answers for the same
//! message.

mod common;
mod imap_support;

use common::legacy::{Legacy, LegacyOptions};
use ferrymail::store::Flags;
use imap_support::*;

/// Parts: quoted-printable (soft breaks, trailing white space, `=XX`),
/// base64 of text with bare LFs and of bytes with a NUL, 7bit, and a
/// message/rfc822.
fn sample() -> Vec<u8> {
    let mut m = String::from(
        "From: Jörg <joerg@example.net>\r\nTo: pat@example.test\r\nSubject: binary parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n",
    );
    m.push_str("--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe  \r\nsoft=\r\nbreak and tab\t=\r\n=62\r\nend\r\n");
    m.push_str("--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJjZGVmZ2hpamtsCm1ubwpwcXJzdHV2cXh5eg==\r\n");
    m.push_str("--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\nAAEC/wBoaQ==\r\n");
    m.push_str("--b1\r\nContent-Type: text/plain\r\n\r\nplain 7bit\r\n");
    m.push_str("--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n");
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

const FETCHES: &[&str] = &[
    "FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[3] BINARY.SIZE[4])",
    "FETCH 1 BINARY.PEEK[1]",
    "FETCH 1 BINARY.PEEK[2]",
    "FETCH 1 BINARY.PEEK[3]",
    "FETCH 1 BINARY.PEEK[4]",
    "FETCH 1 BINARY.PEEK[2]<3.5>",
    "FETCH 1 BINARY.PEEK[1]<100.5>",
];

/// The response's text without literal markers (`{n}` / `~{n}`) and its
/// literals: what a client reads, whichever literal form carried it.
fn normalize(text: &str, literals: &[Vec<u8>]) -> (String, Vec<Vec<u8>>) {
    let mut t = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c + 1)
            .unwrap_or(rest.len());
        t.push_str(rest[..open].trim_end_matches('~'));
        t.push_str("{}");
        rest = &rest[close..];
    }
    t.push_str(rest);
    (t.to_uppercase(), literals.to_vec())
}

#[tokio::test]
async fn binary_sections_match_dovecot() {
    // Dovecot's answers first (a blocking client; our daemon is not involved).
    let legacy = Legacy::start(LegacyOptions::default());
    let mut d = legacy.imap("alice", "alice-pw");
    d.append("INBOX", "", "01-Jan-2024 10:00:00 +0000", &sample());
    d.ok("SELECT INBOX");
    let theirs: Vec<_> = FETCHES
        .iter()
        .map(|f| {
            let l = d.ok(f);
            normalize(&l[0].text, &l[0].literals)
        })
        .collect();

    let t = start(PLAIN, "", 0).await;
    t.deliver("INBOX", &sample(), Flags::new()).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    for (f, want) in FETCHES.iter().zip(&theirs) {
        let r = c.run_lit(f).await;
        assert_eq!(&normalize(&r[0].text, &r[0].literals), want, "{f}");
    }
    // What the parts decode to, spelled out.
    let r = c.run_lit("FETCH 1 BINARY.PEEK[1]").await;
    assert_eq!(
        r[0].literals[0],
        "Grüße\r\nsoftbreak and tab\tb\r\nend".as_bytes()
    );
    // BINARY.SIZE is the size of that. (Dovecot 2.3.19 answers 21 for this
    // quoted-printable part, whose decoded form it sends as 33 bytes.)
    let s = c.ok("FETCH 1 BINARY.SIZE[1]").await;
    assert_eq!(s[0], "* 1 FETCH (BINARY.SIZE[1] 33)");
    // A NUL: literal8.
    let r = c.run_lit("FETCH 1 BINARY.PEEK[3]").await;
    assert!(r[0].text.contains("BINARY[3] ~{7}"), "{:?}", r[0].text);
    assert_eq!(r[0].literals[0], b"\x00\x01\x02\xff\x00hi");
    // BINARY (not PEEK) sets \Seen.
    let r = c.run_lit("FETCH 1 BINARY[4]").await;
    assert!(r[0].text.contains("FLAGS (\\Seen"), "{:?}", r[0].text);
    t.stop().await;
}

#[tokio::test]
async fn an_unknown_transfer_encoding_is_unknown_cte() {
    let t = start(PLAIN, "", 0).await;
    let m = b"Subject: uu\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n";
    t.deliver("INBOX", m, Flags::new()).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let no = c.no("FETCH 1 BINARY.PEEK[1]").await;
    assert!(no.contains("[UNKNOWN-CTE]"), "{no}");
    let no = c.no("FETCH 1 BINARY.SIZE[1]").await;
    assert!(no.contains("[UNKNOWN-CTE]"), "{no}");
    // BODY still gives the raw part; the session goes on.
    let r = c.run_lit("FETCH 1 BODY.PEEK[1]").await;
    assert_eq!(r[0].literals[0], b"begin 644 x\r\nend\r\n");
    t.stop().await;
}

#[tokio::test]
async fn append_of_a_literal8_keeps_its_bytes_for_binary_and_never_sends_a_nul_in_body() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let mut msg = b"From: a@example.net\r\nSubject: with NUL\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    let payload: Vec<u8> = (0u8..=255).rev().chain([0, b'\r', b'\n']).collect();
    msg.extend_from_slice(&payload);
    c.send_raw(format!("a APPEND INBOX ~{{{}+}}\r\n", msg.len()).as_bytes())
        .await;
    c.send_raw(&msg).await;
    c.send_raw(b"\r\n").await;
    let l = c.line().await;
    assert!(l.starts_with("a OK [APPENDUID"), "{l}");
    c.ok("SELECT INBOX").await;
    // BODY: base64 now, no NUL on the wire; BODYSTRUCTURE says so.
    let r = c.run_lit("FETCH 1 (BODYSTRUCTURE BODY.PEEK[1])").await;
    assert!(
        r[0].text.to_ascii_uppercase().contains("\"BASE64\""),
        "{:?}",
        r[0].text
    );
    assert!(!r[0].raw.contains(&0));
    // BINARY: the bytes sent.
    let r = c.run_lit("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])").await;
    assert!(
        r[0].text
            .contains(&format!("BINARY.SIZE[1] {} BINARY[1] ~{{", payload.len())),
        "{:?}",
        r[0].text
    );
    assert_eq!(r[0].literals[0], payload);
    t.stop().await;
}
