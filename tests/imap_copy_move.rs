//! IMAP transcripts: COPY and MOVE (COPYUID, TRYCREATE), EXPUNGE, UID EXPUNGE,
//! CLOSE, CHECK.

mod common;
mod imap_support;

use ferrymail::store::Flags;
use imap_support::*;

#[tokio::test]
async fn copy_move_and_expunge() {
    let t = start(PLAIN, "", 5).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let trash_v = t.ms.mailbox("Trash").await.unwrap().unwrap().uidvalidity;
    let archive_v = t.ms.mailbox("Archive").await.unwrap().unwrap().uidvalidity;
    c.ok("STORE 2 +FLAGS (\\Flagged)").await;
    let l = c.ok("COPY 2:3 Trash").await;
    assert_eq!(
        l[0].split_once(' ').unwrap().1,
        format!("OK [COPYUID {trash_v} 2:3 1:2] COPY completed")
    );
    assert!(c.no("COPY 1 Nowhere").await.contains("[TRYCREATE]"));
    let l = c.ok("UID COPY 5,1 Trash").await;
    assert_eq!(
        l[0].split_once(' ').unwrap().1,
        format!("OK [COPYUID {trash_v} 1,5 3:4] COPY completed")
    );
    // Flags and internal date travel with the copy.
    let s = c.ok("STATUS Trash (MESSAGES UIDNEXT)").await;
    assert_eq!(s[0], "* STATUS \"Trash\" (MESSAGES 4 UIDNEXT 5)");
    let trash = t.ms.mailbox("Trash").await.unwrap().unwrap();
    let msgs = t.ms.messages(trash.id).await.unwrap();
    assert_eq!(msgs[0].flags.to_stored(), "\\Flagged");
    assert_eq!(msgs[0].internaldate, 1_700_000_000);
    // MOVE: COPYUID untagged, then EXPUNGEs, then OK.
    let l = c.ok("MOVE 4:5 Archive").await;
    assert_eq!(
        l[..3],
        [
            format!("* OK [COPYUID {archive_v} 4:5 1:2] Moved"),
            "* 5 EXPUNGE".to_string(),
            "* 4 EXPUNGE".to_string(),
        ]
    );
    assert!(l[3].ends_with(" OK MOVE completed"));
    let l = c.ok("UID MOVE 1 Archive").await;
    assert_eq!(l[1], "* 1 EXPUNGE");
    // Now INBOX has UIDs 2 and 3 as messages 1 and 2.
    let f = c.ok("FETCH 1:* UID").await;
    assert_eq!(f[..2], ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]);
    // EXPUNGE removes \Deleted only.
    c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    t.deliver("INBOX", &message(9), Flags::parse("\\Deleted"))
        .await;
    let l = c.ok("UID EXPUNGE 3").await;
    // The new message's EXISTS comes with the expunge of UID 3.
    assert!(l.contains(&"* 2 EXPUNGE".to_string()), "{l:?}");
    let l = c.ok("EXPUNGE").await;
    assert!(l.contains(&"* 1 EXPUNGE".to_string()), "{l:?}");
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s[0], "* STATUS \"INBOX\" (MESSAGES 0)");
    c.ok("CHECK").await;
    t.stop().await;
}

#[tokio::test]
async fn close_expunges_silently_unselect_does_not() {
    let t = start(PLAIN, "", 3).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("UNSELECT").await;
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s[0], "* STATUS \"INBOX\" (MESSAGES 3)");
    c.ok("EXAMINE INBOX").await;
    assert!(c.no("EXPUNGE").await.contains("read-only"));
    c.ok("CLOSE").await; // read-only: nothing removed
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s[0], "* STATUS \"INBOX\" (MESSAGES 3)");
    c.ok("SELECT INBOX").await;
    let l = c.ok("CLOSE").await;
    assert_eq!(l.len(), 1, "CLOSE sends no EXPUNGE: {l:?}");
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s[0], "* STATUS \"INBOX\" (MESSAGES 2)");
    c.bad("CLOSE").await;
    t.stop().await;
}

/// MOVE into the selected mailbox itself (RFC 6851 allows it; imaptest does
/// it): the message gets a new UID at the end, the old one is expunged, and
/// the session learns of both: COPYUID, EXPUNGE, EXISTS, OK.
#[tokio::test]
async fn move_into_the_selected_mailbox() {
    let t = start(PLAIN, "", 2).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    let v = t.ms.mailbox("INBOX").await.unwrap().unwrap().uidvalidity;
    c.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let l = c.ok("MOVE 1 INBOX").await;
    assert_eq!(l[0], format!("* OK [COPYUID {v} 1 3] Moved"), "{l:?}");
    assert!(l.contains(&"* 1 EXPUNGE".to_string()), "{l:?}");
    assert!(l.contains(&"* 2 EXISTS".to_string()), "{l:?}");
    assert!(l.last().unwrap().ends_with(" OK MOVE completed"), "{l:?}");
    let l = c.ok("FETCH 1:* (UID FLAGS)").await;
    assert!(l[0].contains("UID 2"), "{l:?}");
    assert!(
        l[1].contains("UID 3") && l[1].contains("\\Flagged"),
        "{l:?}"
    );
    t.stop().await;
}
