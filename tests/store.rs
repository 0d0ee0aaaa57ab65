//! The mail store: explicit UIDVALIDITY/UID, duplicate UIDs, the change feed, flag
//! updates, expunge, copy/move, and durability across `kill -9` of the writer.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ferrymail::store::mailstore::LegacyRef;
use ferrymail::store::{
    AccountState, Change, FlagOp, Flags, IngestSource, Mailstore, NewMailbox, NewMessage, Store,
    StoreError,
};

async fn store_with_account() -> (tempfile::TempDir, Arc<Store>, Arc<Mailstore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let a = store
        .create_account(
            "Alice@Example.test",
            "$argon2id$x",
            AccountState::Local,
            true,
        )
        .await
        .unwrap();
    assert_eq!(a.address, "alice@example.test");
    let ms = store.mailstore(a.id).await.unwrap();
    (dir, store, ms)
}

async fn add(
    ms: &Mailstore,
    mailbox_id: i64,
    uid: Option<u32>,
    body: &[u8],
) -> Result<u32, StoreError> {
    let blob = ms.stage_bytes(body).await?;
    let stored = ms
        .ingest(
            IngestSource::Append,
            vec![NewMessage {
                mailbox_id,
                uid,
                flags: Flags::parse("\\Seen"),
                internaldate: 1_700_000_000,
                tz_minutes: 60,
                blob,
                legacy: None,
                legacy_uidl: None,
            }],
        )
        .await?;
    Ok(stored[0].uid)
}

#[tokio::test]
async fn new_account_has_special_use_folders() {
    let (_d, _s, ms) = store_with_account().await;
    let names: Vec<(String, Option<String>)> = ms
        .mailboxes()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.special_use))
        .collect();
    for (name, role) in [
        ("INBOX", None),
        ("Drafts", Some("\\Drafts")),
        ("Sent", Some("\\Sent")),
        ("Trash", Some("\\Trash")),
        ("Junk", Some("\\Junk")),
        ("Archive", Some("\\Archive")),
    ] {
        assert!(
            names.contains(&(name.to_string(), role.map(str::to_string))),
            "{name} missing in {names:?}"
        );
    }
    assert!(ms
        .subscriptions()
        .await
        .unwrap()
        .contains(&"Sent".to_string()));
}

#[tokio::test]
async fn explicit_uidvalidity_and_uids_are_honoured_and_duplicates_refused() {
    let (_d, _s, ms) = store_with_account().await;
    let mbx = ms
        .create_mailbox(
            "Archive/2023",
            NewMailbox {
                uidvalidity: Some(1234567),
                uidnext: Some(50),
                highestmodseq: Some(900),
                special_use: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (mbx.uidvalidity, mbx.uidnext, mbx.highestmodseq),
        (1234567, 50, 900)
    );
    assert_eq!(
        add(&ms, mbx.id, Some(7), b"Subject: a\r\n\r\nx\r\n")
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        add(&ms, mbx.id, Some(60), b"Subject: b\r\n\r\ny\r\n")
            .await
            .unwrap(),
        60
    );
    // Next automatic UID follows the highest.
    assert_eq!(
        add(&ms, mbx.id, None, b"Subject: c\r\n\r\nz\r\n")
            .await
            .unwrap(),
        61
    );
    match add(&ms, mbx.id, Some(7), b"dup").await {
        Err(StoreError::DuplicateUid { uid: 7 }) => {}
        other => panic!("expected duplicate UID error, got {other:?}"),
    }
    let info = ms.mailbox("Archive/2023").await.unwrap().unwrap();
    assert_eq!((info.exists, info.uidnext), (3, 62));
    assert!(info.highestmodseq > 900);
    // The refused message left no file behind.
    let files = walk(&ms.dir().join("blobs"));
    assert_eq!(files, 3, "one file per stored message");
    // UIDVALIDITY can be replaced only while empty.
    assert!(ms
        .update_mailbox(info.id, Some(99), None, None, None)
        .await
        .is_err());
    let empty = ms.mailbox("Drafts").await.unwrap().unwrap();
    let upd = ms
        .update_mailbox(empty.id, Some(99), Some(10), Some(5000), None)
        .await
        .unwrap();
    assert_eq!(
        (upd.uidvalidity, upd.uidnext, upd.highestmodseq),
        (99, 10, 5000)
    );
}

fn walk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            n += walk(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn message_bytes_round_trip() {
    let (_d, _s, ms) = store_with_account().await;
    let inbox = ms.mailbox("inbox").await.unwrap().unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = ms.blob_writer().await.unwrap();
    for chunk in body.chunks(7000) {
        w.write(chunk).await.unwrap();
    }
    let blob = w
        .finish(ferrymail::store::blob::Durability::Now)
        .await
        .unwrap();
    assert_eq!(blob.size, body.len() as u64);
    ms.ingest(
        IngestSource::Smtp,
        vec![NewMessage {
            mailbox_id: inbox.id,
            uid: None,
            flags: Flags::new(),
            internaldate: 1,
            tz_minutes: 0,
            blob,
            legacy: Some(LegacyRef {
                folder: "INBOX".into(),
                uidvalidity: 5,
                uid: 9,
            }),
            legacy_uidl: Some("0000000900000005".into()),
        }],
    )
    .await
    .unwrap();
    let msgs = ms.messages(inbox.id).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(std::fs::read(ms.blob_path(&msgs[0].blob)).unwrap(), body);
    assert_eq!(msgs[0].legacy_uidl.as_deref(), Some("0000000900000005"));
    let mapped = ms
        .legacy_lookup(&LegacyRef {
            folder: "INBOX".into(),
            uidvalidity: 5,
            uid: 9,
        })
        .await
        .unwrap();
    assert_eq!(mapped, Some(msgs[0].id));
}

#[tokio::test]
async fn change_feed_reaches_two_subscribers() {
    let (_d, _s, ms) = store_with_account().await;
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut a = ms.subscribe();
    let mut b = ms.subscribe();
    let uid = add(&ms, inbox.id, None, b"Subject: hi\r\n\r\nx\r\n")
        .await
        .unwrap();
    ms.store_flags(
        inbox.id,
        vec![uid],
        FlagOp::Add,
        Flags::parse("\\Flagged \\Deleted"),
        None,
    )
    .await
    .unwrap();
    ms.expunge(inbox.id, None).await.unwrap();
    for rx in [&mut a, &mut b] {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(
                tokio::time::timeout(Duration::from_secs(2), rx.recv())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert!(
            matches!(got[0], Change::Added { uid: u, .. } if u == uid),
            "{got:?}"
        );
        assert!(
            matches!(got[1], Change::Flags { uid: u, .. } if u == uid),
            "{got:?}"
        );
        assert!(
            matches!(got[2], Change::Expunged { uid: u, .. } if u == uid),
            "{got:?}"
        );
    }
    // The changes are also queryable by modseq.
    let ch = ms.changes_since(inbox.id, 0).await.unwrap();
    assert_eq!(ch.expunged, vec![uid]);
    assert!(ch.changed.is_empty());
}

#[tokio::test]
async fn flags_unchangedsince_expunge_copy_move() {
    let (_d, _s, ms) = store_with_account().await;
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let trash = ms.mailbox("Trash").await.unwrap().unwrap();
    let u1 = add(&ms, inbox.id, None, b"one").await.unwrap();
    let u2 = add(&ms, inbox.id, None, b"two").await.unwrap();
    let u3 = add(&ms, inbox.id, None, b"three").await.unwrap();
    let before = ms.messages(inbox.id).await.unwrap();
    let m1 = before[0].modseq;
    // UNCHANGEDSINCE below u2's modseq refuses u2 but changes u1.
    let r = ms
        .store_flags(
            inbox.id,
            vec![u1, u2],
            FlagOp::Add,
            Flags::parse("$Work"),
            Some(m1),
        )
        .await
        .unwrap();
    assert_eq!(r.changed, vec![u1]);
    assert_eq!(r.modified, vec![u2]);
    let r = ms
        .store_flags(
            inbox.id,
            vec![u1],
            FlagOp::Replace,
            Flags::parse("\\Deleted"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.messages[0].flags.to_stored(), "\\Deleted");
    // Copy shares the file; expunging the original keeps the copy readable.
    let pairs = ms.copy(inbox.id, vec![u1, u2], trash.id).await.unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(ms.expunge(inbox.id, None).await.unwrap(), vec![u1]);
    let copies = ms.messages(trash.id).await.unwrap();
    assert_eq!(
        std::fs::read(ms.blob_path(&copies[0].blob)).unwrap(),
        b"one"
    );
    // Move removes from the source atomically.
    let moved = ms
        .move_messages(inbox.id, vec![u3], trash.id)
        .await
        .unwrap();
    assert_eq!(moved.len(), 1);
    let left: Vec<u32> = ms
        .messages(inbox.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![u2]);
    assert_eq!(ms.messages(trash.id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn rename_inbox_moves_messages_and_keeps_inbox() {
    let (_d, _s, ms) = store_with_account().await;
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    add(&ms, inbox.id, None, b"a").await.unwrap();
    ms.create_mailbox("Work/Projects", NewMailbox::default())
        .await
        .unwrap();
    ms.rename_mailbox("INBOX", "Old/Inbox").await.unwrap();
    assert_eq!(ms.mailbox("INBOX").await.unwrap().unwrap().exists, 0);
    assert_eq!(ms.mailbox("Old/Inbox").await.unwrap().unwrap().exists, 1);
    assert!(ms.mailbox("Old").await.unwrap().is_some());
    ms.rename_mailbox("Work", "Jobs").await.unwrap();
    assert!(ms.mailbox("Jobs/Projects").await.unwrap().is_some());
    assert!(ms.mailbox("Work/Projects").await.unwrap().is_none());
    assert!(ms.delete_mailbox("INBOX").await.is_err());
}

/// Child side of the crash test: stores messages forever, printing each UID once
/// `ingest` has returned.
#[tokio::test]
async fn crash_writer_child() {
    let Ok(dir) = std::env::var("FERRYMAIL_CRASH_DIR") else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let account = store.account("crash@example.test").await.unwrap().unwrap();
    let ms = store.mailstore(account.id).await.unwrap();
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    for i in 0u32.. {
        let body = format!(
            "Subject: message {i}\r\n\r\n{}\r\n",
            "x".repeat((i as usize * 37) % 5000)
        );
        let uid = add(&ms, inbox.id, None, body.as_bytes()).await.unwrap();
        println!("stored {uid} {i}");
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9_of_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data).unwrap();
        store
            .create_account("crash@example.test", "h", AccountState::Local, false)
            .await
            .unwrap();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERRYMAIL_CRASH_DIR", &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: Vec<(u32, u32)> = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("stored ") {
            let mut it = rest.split(' ');
            acked.push((
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            ));
            if acked.len() == 150 {
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 150);
    let store = Store::open(&data).unwrap();
    let account = store.account("crash@example.test").await.unwrap().unwrap();
    let ms = store.mailstore(account.id).await.unwrap();
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let msgs = ms.messages(inbox.id).await.unwrap();
    for (uid, i) in &acked {
        let m = msgs
            .iter()
            .find(|m| m.uid == *uid)
            .unwrap_or_else(|| panic!("acknowledged UID {uid} lost"));
        let want = format!(
            "Subject: message {i}\r\n\r\n{}\r\n",
            "x".repeat((*i as usize * 37) % 5000)
        );
        assert_eq!(
            std::fs::read(ms.blob_path(&m.blob)).unwrap(),
            want.as_bytes(),
            "UID {uid}"
        );
    }
    // Every file left is referenced: the reopen cleared anything half-written.
    assert_eq!(walk(&ms.dir().join("blobs")), msgs.len());
    assert_eq!(walk(&ms.dir().join("tmp")), 0);
}

/// Batch writes run in the background; the batch barrier waits for all of them,
/// leaves the bytes in place, and reports a write that failed (once).
#[tokio::test]
async fn batch_writes_are_complete_at_the_barrier_and_failures_reported() {
    use ferrymail::store::blob::Durability;
    let (_d, _s, ms) = store_with_account().await;
    let mut staged = Vec::new();
    for i in 0..300u32 {
        let body: Vec<u8> = (0..(i * 37 % 5000 + 1)).map(|b| (b ^ i) as u8).collect();
        let mut w = ms.blob_writer().await.unwrap();
        w.write_vec(body.clone()).await.unwrap();
        staged.push((w.finish(Durability::Batch).await.unwrap(), body));
    }
    ms.sync_batch().await.unwrap();
    for (blob, body) in &staged {
        assert_eq!(blob.size, body.len() as u64);
        assert_eq!(&std::fs::read(ms.blob_path(&blob.id)).unwrap(), body);
    }

    // Take the blob folders away: the next background write cannot land.
    let blobs = ms.dir().join("blobs");
    std::fs::rename(&blobs, ms.dir().join("blobs.away")).unwrap();
    std::fs::create_dir(&blobs).unwrap();
    let mut w = ms.blob_writer().await.unwrap();
    w.write(b"Subject: lost\r\n\r\nx\r\n").await.unwrap();
    let lost = w.finish(Durability::Batch).await.unwrap();
    assert!(
        ms.sync_batch().await.is_err(),
        "a failed write must fail the barrier"
    );
    assert!(!ms.blob_path(&lost.id).exists());
    // The failure is reported to the batch it belonged to, not to later ones.
    ms.sync_batch().await.unwrap();
}

/// A `copying` account gets its mail store when the copy (or a delivery) first
/// needs it; the missing store of an account served locally is never recreated
/// empty (that would hide lost mail).
#[tokio::test]
async fn copying_accounts_get_their_store_on_first_use_local_ones_never_silently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let a = store
        .create_copying_account("bob@example.test", "$argon2id$x")
        .await
        .unwrap();
    assert_eq!(a.state, AccountState::Copying);
    assert!(matches!(
        store.mailstore(a.id).await,
        Err(StoreError::NotFound(_))
    ));
    let (one, two) = tokio::join!(
        store.mailstore_or_create(a.id),
        store.mailstore_or_create(a.id)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert!(Arc::ptr_eq(&one, &two), "one store, however many callers");
    let names: Vec<String> = one
        .mailboxes()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec!["INBOX".to_string()]);

    let (_d, store, ms) = store_with_account().await;
    let id = ms.account_id;
    drop(ms);
    std::fs::remove_file(store.data_dir().join(format!("accounts/{id}/index.sqlite"))).unwrap();
    // A fresh start: the store just used stays open a while in this one.
    let store = Store::open(store.data_dir()).unwrap();
    assert!(matches!(
        store.mailstore_or_create(id).await,
        Err(StoreError::NotFound(_))
    ));
}

/// One open store per account, however many callers ask at once; it stays open
/// after its last user dropped it (a delivery to a user without a session does
/// not reopen it); accounts open side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_stores_are_shared_and_stay_open_while_idle() {
    let (_d, store, ms) = store_with_account().await;
    let a = ms.account_id;
    drop(ms);
    let b = store
        .create_account("bob@example.test", "h", AccountState::Local, true)
        .await
        .unwrap()
        .id;
    let fresh = Store::open(store.data_dir()).unwrap();
    let (one, two, other) =
        tokio::join!(fresh.mailstore(a), fresh.mailstore(a), fresh.mailstore(b));
    let (one, two, other) = (one.unwrap(), two.unwrap(), other.unwrap());
    assert!(Arc::ptr_eq(&one, &two), "one open for concurrent callers");
    assert_eq!(other.account_id, b);
    let kept = Arc::downgrade(&one);
    drop((one, two, other));
    assert!(kept.upgrade().is_some(), "kept open by the store");
    let again = fresh.mailstore(a).await.unwrap();
    assert!(Arc::ptr_eq(&again, &kept.upgrade().unwrap()));
}
