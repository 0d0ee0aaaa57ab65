//! Real clients against the IMAP server: Python imaplib, curl, and an mbsync
//! (isync) round trip to a local Maildir and back.

mod common;
mod imap_support;

use std::path::Path;

use common::pyclients::run_blocking;
use ferrymail::store::Flags;
use imap_support::*;

#[tokio::test]
async fn python_imaplib_session() {
    let t = start(PLAIN, "", 2).await;
    let script = format!(
        r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", {port})
assert "IDLE" in M.capabilities and "UIDPLUS" in M.capabilities, M.capabilities
M.starttls()
typ, data = M.login("{USER}", "{PASS}")
assert typ == "OK", data
typ, data = M.list()
names = [l.decode() for l in data]
assert any('"Sent"' in n and "\\Sent" in n for n in names), names
typ, data = M.create("Python/Sub")
assert typ == "OK"
typ, data = M.select("INBOX")
assert data == [b"2"], data
typ, data = M.fetch("1", "(RFC822)")
assert data[0][1].startswith(b"From: Sender 1"), data
typ, data = M.fetch("1", "(FLAGS)")
assert b"\\Seen" in data[0], data
typ, data = M.store("2", "+FLAGS", "(\\Flagged)")
assert typ == "OK", data
typ, data = M.search(None, "FLAGGED")
assert data == [b"2"], data
typ, data = M.append("INBOX", "(\\Draft)", imaplib.Time2Internaldate(1700000000), b"Subject: from python\r\n\r\nhello\r\n")
assert typ == "OK", data
code = M.response("APPENDUID")[1][0]
assert code is not None and code.endswith(b" 3"), code
typ, data = M.uid("COPY", "1:*", "Python/Sub")
assert typ == "OK", data
code = M.response("COPYUID")[1][0]
assert code is not None and code.endswith(b" 1:3 1:3"), code
typ, data = M.status("Python/Sub", "(MESSAGES)")
assert b"MESSAGES 3" in data[0], data
M.store("1:*", "+FLAGS", "(\\Deleted)")
typ, data = M.expunge()
assert data in ([b"3", b"2", b"1"], [b"1", b"1", b"1"]), data
M.close()
M.logout()
print("python ok")
"#,
        port = t.plain.port()
    );
    let out = run_blocking(std::process::Command::new("python3").arg("-c").arg(&script)).await;
    assert!(
        out.status.success(),
        "python: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "python ok");
    let sub = t.ms.mailbox("Python/Sub").await.unwrap().unwrap();
    assert_eq!(sub.exists, 3);
    t.stop().await;
}

/// What curl (with `flags`, logged in as pat) fetches from `url`.
async fn curl(url: &str, flags: &str) -> Vec<u8> {
    let out = run_blocking(
        std::process::Command::new("curl")
            .arg(flags)
            .arg("--max-time")
            .arg("30")
            .arg("-u")
            .arg(format!("{USER}:{PASS}"))
            .arg(url),
    )
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn curl_fetches_one_message() {
    let t = start(PLAIN, "", 2).await;
    let got = curl(
        &format!("imap://127.0.0.1:{}/INBOX;UID=2", t.plain.port()),
        "-sS",
    )
    .await;
    assert_eq!(got, message(2));
    // Over implicit TLS too (self-signed: -k).
    let got = curl(
        &format!("imaps://localhost:{}/INBOX;UID=1", t.tls.port()),
        "-sSk",
    )
    .await;
    assert_eq!(got, message(1));
    t.stop().await;
}

/// Maildir flags (`:2,FRS`) as IMAP flags.
fn maildir_flags(name: &str) -> String {
    let info = name.rsplit_once(":2,").map(|x| x.1).unwrap_or("");
    let mut f = Flags::new();
    for c in info.chars() {
        match c {
            'D' => f.insert("\\Draft"),
            'F' => f.insert("\\Flagged"),
            'R' => f.insert("\\Answered"),
            'S' => f.insert("\\Seen"),
            'T' => f.insert("\\Deleted"),
            _ => true,
        };
    }
    f.to_stored()
}

fn lf(b: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(b)
        .replace("\r\n", "\n")
        .into_bytes()
}

/// Without the X-TUID header mbsync adds to the messages it copies (its
/// transaction journal; it does so towards any server).
fn strip_tuid(b: Vec<u8>) -> Vec<u8> {
    let s = String::from_utf8_lossy(&b).into_owned();
    s.split_inclusive('\n')
        .filter(|l| !l.starts_with("X-TUID: "))
        .collect::<String>()
        .into_bytes()
}

/// Sorted (body with LF line ends, flags) of a Maildir folder.
fn maildir_folder(dir: &Path) -> Vec<(Vec<u8>, String)> {
    let mut v = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            v.push((
                strip_tuid(lf(&std::fs::read(e.path()).unwrap())),
                maildir_flags(&name),
            ));
        }
    }
    v.sort();
    v
}

async fn server_folder(t: &ImapTest, name: &str) -> Vec<(Vec<u8>, String)> {
    let mbx = t.ms.mailbox(name).await.unwrap().unwrap();
    let mut v: Vec<(Vec<u8>, String)> =
        t.ms.messages(mbx.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| {
                (
                    strip_tuid(lf(&std::fs::read(t.ms.blob_path(&m.blob)).unwrap())),
                    m.flags.to_stored(),
                )
            })
            .collect();
    v.sort();
    v
}

#[tokio::test]
async fn mbsync_round_trip() {
    let t = start(PLAIN, "", 0).await;
    t.deliver("INBOX", &message(1), Flags::parse("\\Seen"))
        .await;
    t.deliver("INBOX", &message(2), Flags::parse("\\Flagged \\Answered"))
        .await;
    t.deliver("INBOX", &message(3), Flags::new()).await;
    t.deliver("Sent", &message(4), Flags::parse("\\Seen")).await;
    t.ms.create_mailbox("Projects/Alpha", Default::default())
        .await
        .unwrap();
    t.deliver(
        "Projects/Alpha",
        &message(5),
        Flags::parse("\\Seen \\Draft"),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let mail = work.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let rc = work.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount ferry\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass {PASS}\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount ferry\n\n\
             MaildirStore local\nPath {m}/\nInbox {m}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nSyncState *\nSync All\nExpunge Both\n",
            port = t.plain.port(),
            m = mail.display()
        ),
    )
    .unwrap();
    let mbsync = |rc: &Path| {
        let mut c = std::process::Command::new("mbsync");
        c.arg("-c").arg(rc).arg("-a").env("HOME", work.path());
        c
    };
    let out = run_blocking(&mut mbsync(&rc)).await;
    assert!(
        out.status.success(),
        "mbsync: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (folder, dir) in [
        ("INBOX", "INBOX"),
        ("Sent", "Sent"),
        ("Projects/Alpha", "Projects/Alpha"),
        ("Trash", "Trash"),
    ] {
        assert_eq!(
            maildir_folder(&mail.join(dir)),
            server_folder(&t, folder).await,
            "after the first sync: {folder}"
        );
    }
    assert_eq!(maildir_folder(&mail.join("INBOX")).len(), 3);
    // Maildir side: a new message, a flag change, and a new folder.
    let new_msg = b"From: local@example.test\nSubject: written offline\nMessage-ID: <offline@example.test>\n\nhello from the maildir\n";
    let cur = mail.join("INBOX/cur");
    let unseen = std::fs::read_dir(&cur)
        .unwrap()
        .chain(std::fs::read_dir(mail.join("INBOX/new")).unwrap())
        .flatten()
        .find(|e| maildir_flags(&e.file_name().to_string_lossy()).is_empty())
        .expect("an unseen message");
    let name = unseen.file_name().to_string_lossy().into_owned();
    let base = name.rsplit_once(":2,").map(|x| x.0).unwrap_or(&name);
    std::fs::rename(unseen.path(), cur.join(format!("{base}:2,FS"))).unwrap();
    // Written after picking the message to flag, so that it is not the one picked.
    std::fs::write(mail.join("INBOX/new/1700000000.offline.host"), new_msg).unwrap();
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mail.join("Local").join(d)).unwrap();
    }
    std::fs::write(
        mail.join("Local/cur/1700000001.local.host:2,S"),
        b"Subject: kept locally\n\nbody\n",
    )
    .unwrap();
    let out = run_blocking(&mut mbsync(&rc)).await;
    assert!(
        out.status.success(),
        "mbsync: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let inbox = server_folder(&t, "INBOX").await;
    assert_eq!(inbox.len(), 4);
    let show: Vec<(String, String)> = inbox
        .iter()
        .map(|(b, f)| (String::from_utf8_lossy(b).into_owned(), f.clone()))
        .collect();
    assert!(
        inbox
            .iter()
            .any(|(b, f)| b == &new_msg.to_vec() && f.is_empty()),
        "{show:#?}"
    );
    assert_eq!(
        inbox
            .iter()
            .filter(|(_, f)| f == "\\Flagged \\Seen")
            .count(),
        1,
        "{show:#?}"
    );
    assert_eq!(server_folder(&t, "Local").await.len(), 1);
    for folder in ["INBOX", "Sent", "Projects/Alpha", "Local"] {
        assert_eq!(
            maildir_folder(&mail.join(folder)),
            server_folder(&t, folder).await,
            "after the round trip: {folder}"
        );
    }
    // A third run changes nothing.
    let out = run_blocking(&mut mbsync(&rc)).await;
    assert!(out.status.success());
    assert_eq!(server_folder(&t, "INBOX").await.len(), 4);
    t.stop().await;
}
