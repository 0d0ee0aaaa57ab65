//! Many sessions on one mailbox: updates reach other sessions as EXISTS,
//! EXPUNGE and FETCH FLAGS at the allowed moments (RFC 3501 §5.2, §7.4.1), and
//! at once during IDLE (RFC 2177).

mod common;
mod imap_support;

use std::time::Duration;

use ferrymail::store::Flags;
use imap_support::*;

#[tokio::test]
async fn expunge_reaches_the_other_session_only_when_allowed() {
    let t = start(PLAIN, "", 4).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let l = a.ok("EXPUNGE").await;
    assert_eq!(l[0], "* 2 EXPUNGE");
    // B: FETCH, STORE and SEARCH must not send EXPUNGE; numbers stay as B knows them.
    let f = b.ok("FETCH 3 UID").await;
    assert!(!has(&f, "EXPUNGE"), "{f:?}");
    assert!(has(&f, "* 3 FETCH (UID 3)"), "{f:?}");
    // (B's view still has the \Deleted flag change of message 2 to hear about.)
    let s = b.ok("SEARCH ALL").await;
    assert!(!has(&s, "EXPUNGE"), "{s:?}");
    assert!(
        has(&s, "* SEARCH 1 3 4"),
        "the expunged message is gone from results: {s:?}"
    );
    let st = b.ok("STORE 4 +FLAGS (\\Flagged)").await;
    assert!(!has(&st, "EXPUNGE"), "{st:?}");
    assert!(has(&st, "* 4 FETCH (FLAGS (\\Flagged))"), "{st:?}");
    // NOOP delivers it.
    let n = b.ok("NOOP").await;
    assert!(n.contains(&"* 2 EXPUNGE".to_string()), "{n:?}");
    let f = b.ok("FETCH 2:3 UID").await;
    assert_eq!(f[..2], ["* 2 FETCH (UID 3)", "* 3 FETCH (UID 4)"]);
    // And A hears of B's flag change at its next command.
    let n = a.ok("NOOP").await;
    assert!(
        n.contains(&"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent))".to_string()),
        "{n:?}"
    );
    // A new delivery is EXISTS for both.
    t.deliver("INBOX", &message(5), Flags::new()).await;
    let n = a.ok("NOOP").await;
    assert!(n.contains(&"* 4 EXISTS".to_string()), "{n:?}");
    // ... and \Recent in the session that saw it first only.
    assert!(n.contains(&"* 4 RECENT".to_string()), "{n:?}");
    let n = b.ok("CHECK").await;
    assert!(n.contains(&"* 4 EXISTS".to_string()), "{n:?}");
    assert!(!has(&n, "RECENT"), "{n:?}");
    // A session on another mailbox hears nothing.
    let mut c = t.login().await;
    c.ok("SELECT Sent").await;
    a.ok("STORE 1 +FLAGS (\\Seen)").await;
    let n = c.ok("NOOP").await;
    assert_eq!(n.len(), 1, "{n:?}");
    t.stop().await;
}

#[tokio::test]
async fn own_changes_are_not_echoed() {
    let t = start(PLAIN, "", 2).await;
    let mut a = t.login().await;
    a.ok("SELECT INBOX").await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let n = a.ok("NOOP").await;
    assert_eq!(n.len(), 1, "{n:?}");
    t.stop().await;
}

#[tokio::test]
async fn idle_gets_updates_at_once() {
    let t = start(PLAIN, "", 2).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    a.c.timeout = Duration::from_secs(30);
    a.c.send("i1 IDLE").await;
    assert_eq!(a.line().await, "+ idling");
    // An APPEND from the other session.
    let m = message(3);
    b.send_raw(format!("x APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes())
        .await;
    b.send_raw(&m).await;
    b.send_raw(b"\r\n").await;
    let l = b.c.until("x ").await;
    assert!(l.last().unwrap().starts_with("x OK"), "{l:?}");
    assert_eq!(a.line().await, "* 3 EXISTS");
    // A flag change and an expunge from the other session. (A selected
    // first: messages 1 and 2 are \Recent in A.)
    b.ok("STORE 1 +FLAGS (\\Deleted)").await;
    assert_eq!(
        a.line_past_recent().await,
        "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))"
    );
    b.ok("EXPUNGE").await;
    assert_eq!(a.line().await, "* 1 EXPUNGE");
    // A delivery (as SMTP does it).
    t.deliver("INBOX", &message(4), Flags::new()).await;
    assert_eq!(a.line().await, "* 3 EXISTS");
    // UID 2 and 4 are \Recent in A; UID 3 (B's APPEND) if A saw it before B.
    let l = a.line().await;
    assert!(l == "* 2 RECENT" || l == "* 3 RECENT", "{l}");
    a.c.send("DONE").await;
    assert_eq!(a.line().await, "i1 OK IDLE terminated");
    let f = a.ok("FETCH 1:* UID").await;
    assert_eq!(
        f[..3],
        [
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)"
        ]
    );
    // IDLE in the authenticated state just waits for DONE.
    a.ok("UNSELECT").await;
    a.c.send("i2 IDLE").await;
    assert_eq!(a.line().await, "+ idling");
    a.c.send("DONE").await;
    assert_eq!(a.line().await, "i2 OK IDLE terminated");
    // Something else than DONE ends IDLE with BAD.
    a.c.send("i3 IDLE").await;
    assert_eq!(a.line().await, "+ idling");
    a.c.send("NOOP").await;
    assert!(a.line().await.starts_with("i3 BAD"));
    t.stop().await;
}

#[tokio::test]
async fn idle_timeout_ends_the_session() {
    let t = start(PLAIN, "idle_timeout_secs = 1\n", 0).await;
    let mut a = t.login().await;
    a.ok("SELECT INBOX").await;
    a.c.send("i IDLE").await;
    assert_eq!(a.line().await, "+ idling");
    let l = a.line().await;
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(a.c.closed().await);
    t.stop().await;
}

#[tokio::test]
async fn shutdown_says_bye() {
    let t = start(PLAIN, "", 0).await;
    let mut a = t.login().await;
    a.c.send("i IDLE").await;
    assert_eq!(a.line().await, "+ idling");
    let mut b = t.login().await;
    t.stop().await;
    assert!(a.line().await.starts_with("* BYE"));
    assert!(b.line().await.starts_with("* BYE"));
}

#[tokio::test]
async fn selected_mailbox_deleted_by_another_session() {
    let t = start(PLAIN, "", 0).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("CREATE Doomed").await;
    a.ok("SELECT Doomed").await;
    b.ok("DELETE Doomed").await;
    let n = a.ok("NOOP").await;
    assert!(has(&n, "* OK [CLOSED]"), "{n:?}");
    assert!(a.bad("FETCH 1 FLAGS").await.contains("No mailbox selected"));
    t.stop().await;
}

/// A message sent over SMTP to a local account reaches its running IDLE session
/// as EXISTS, and the bytes served by FETCH are the ones sent (plus Received).
#[tokio::test]
async fn smtp_delivery_reaches_a_running_idle_session() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let t = start(
        &format!("{PLAIN}[smtp]\nlisten = [\"127.0.0.1:0\"]\n"),
        "",
        1,
    )
    .await;
    let smtp = t
        .running
        .as_ref()
        .unwrap()
        .addr(ferrymail::config::Protocol::Smtp, false)
        .unwrap();
    let mut a = t.login().await;
    a.ok("SELECT INBOX").await;
    a.c.timeout = Duration::from_secs(30);
    a.c.send("i1 IDLE").await;
    assert_eq!(a.line().await, "+ idling");

    let s = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    let mut reply = String::new();
    let mut read_reply = async |r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>| loop {
        reply.clear();
        r.read_line(&mut reply).await.unwrap();
        if reply.as_bytes().get(3) != Some(&b'-') {
            return reply.clone();
        }
    };
    assert!(read_reply(&mut r).await.starts_with("220"));
    for (cmd, code) in [
        ("EHLO client.test", "250"),
        ("MAIL FROM:<kim@outside.test>", "250"),
        (&format!("RCPT TO:<{USER}>"), "250"),
        ("DATA", "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        let got = read_reply(&mut r).await;
        assert!(got.starts_with(code), "{cmd}: {got}");
    }
    w.write_all(b"Subject: over smtp\r\n\r\nhello idle\r\n.\r\n")
        .await
        .unwrap();
    assert!(read_reply(&mut r).await.starts_with("250"));
    w.write_all(b"QUIT\r\n").await.unwrap();

    assert_eq!(a.line().await, "* 2 EXISTS");
    assert_eq!(a.line().await, "* 2 RECENT");
    a.c.send("DONE").await;
    assert_eq!(a.line().await, "i1 OK IDLE terminated");
    let f = a
        .ok("FETCH 2 (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    let all = f.join("\n");
    assert!(all.contains("hello idle"), "{all}");
    assert!(all.contains("Subject: over smtp"), "{all}");
    t.stop().await;
}

/// RFC 2180 §4.1.1, as Dovecot does: a message another session expunged is
/// still readable (body and flags) in a session that was not told yet; its
/// file goes once every session that had it was told. (imaptest's stress
/// mode counts a NO [EXPUNGEISSUED] here as an error.)
#[tokio::test]
async fn an_expunged_message_stays_readable_until_the_session_is_told() {
    let t = start(PLAIN, "", 3).await;
    let inbox = t.ms.mailbox("INBOX").await.unwrap().unwrap().id;
    let blob = t.ms.messages(inbox).await.unwrap()[1].blob.clone();
    let path = t.ms.blob_path(&blob);
    let mut a = t.login().await;
    let mut b = t.login().await;
    let mut c = t.login().await;
    a.ok("SELECT INBOX").await;
    c.ok("EXAMINE INBOX").await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let l = b.ok("EXPUNGE").await;
    assert_eq!(l[0], "* 2 EXPUNGE");
    // A still has message 2: FETCH gives its body, no EXPUNGE in between.
    let r = a.run_lit("FETCH 2 (FLAGS BODY.PEEK[])").await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].text
            .starts_with("* 2 FETCH (FLAGS (\\Deleted \\Recent) BODY[] {"),
        "{:?}",
        r[0].text
    );
    assert_eq!(r[0].literals[0], message(2));
    assert!(r[1].text.ends_with("OK FETCH completed"), "{:?}", r[1].text);
    // UID FETCH too.
    let r = a
        .run_lit("UID FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        .await;
    assert!(r[0].text.starts_with("* 2 FETCH (UID 2 BODY["), "{r:?}");
    // Told at NOOP; C (read-only) still has it, so the file stays.
    let n = a.ok("NOOP").await;
    assert!(n.contains(&"* 2 EXPUNGE".to_string()), "{n:?}");
    assert!(path.exists());
    let r = c.run_lit("FETCH 2 BODY.PEEK[TEXT]").await;
    assert!(r[0].text.starts_with("* 2 FETCH (BODY[TEXT] {"), "{r:?}");
    // C logs out without being told: the file goes with its view.
    c.ok("LOGOUT").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while path.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!path.exists(), "the expunged message's file is still there");
    t.stop().await;
}

/// A keyword another session added appears in FLAGS before a FETCH shows it
/// (RFC 3501 §7.2.6; imaptest's stress mode checks it).
#[tokio::test]
async fn a_keyword_from_another_session_is_announced_before_fetch_shows_it() {
    let t = start(PLAIN, "", 2).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS.SILENT ($Label2)").await;
    let f = a.ok("FETCH 1 FLAGS").await;
    let flags_at = f.iter().position(|l| l.starts_with("* FLAGS ("));
    let fetch_at = f
        .iter()
        .position(|l| l.starts_with("* 1 FETCH") && l.contains("$Label2"));
    assert!(
        flags_at.is_some_and(|i| f[i].contains("$Label2")) && flags_at < fetch_at,
        "{f:?}"
    );
    // Shown once: no second FETCH for the same change.
    assert_eq!(
        f.iter().filter(|l| l.contains(" FETCH (")).count(),
        1,
        "{f:?}"
    );
    t.stop().await;
}
