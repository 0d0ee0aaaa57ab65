//! A real IMAP client's cache survives the move: mbsync (isync) syncs a Maildir
//! from the legacy Dovecot, the user is migrated, mbsync is re-pointed at
//! ferrymail's IMAP listener and finds nothing to download, with its sync state
//! (UIDVALIDITY, UIDs) still valid.
//!
//! Needs ferrymail's IMAP server (branch `imap`): ignored until it is merged;
//! run with `cargo test --test migrate_mbsync -- --ignored`.

mod common;
mod migrate_support;

use std::path::Path;
use std::process::Command;

use common::legacy::{Legacy, LegacyOptions};
use migrate_support::*;

fn mbsync_config(dir: &Path, port: u16, user: &str) -> std::path::PathBuf {
    let text = format!(
        r#"IMAPAccount acct
Host 127.0.0.1
Port {port}
User {user}
PassCmd "cat {pw}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account acct

MaildirStore local
Path {dir}/mail/
Inbox {dir}/mail/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
"#,
        dir = dir.display(),
        pw = dir.join("pw").display(),
    );
    std::fs::write(dir.join("pw"), "alice-pw\n").unwrap();
    let path = dir.join("mbsyncrc");
    std::fs::write(&path, text).unwrap();
    path
}

fn mbsync(rc: &Path) -> String {
    let out = Command::new("mbsync")
        .arg("-c")
        .arg(rc)
        .args(["-V", "-a"])
        .output()
        .expect("mbsync (package isync)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mbsync failed: {text}");
    text
}

fn maildir_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in walk(dir) {
        if e.parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "cur" || n == "new")
        {
            n += 1;
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
#[ignore = "needs ferrymail's IMAP server (branch imap)"]
fn mbsync_finds_nothing_to_download_after_the_move() {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut c = legacy.imap("alice", "alice-pw");
    c.ok("CREATE \"Archive/2023\"");
    for folder in ["INBOX", "Sent", "Archive/2023"] {
        for (flags, date, body) in sample_messages() {
            c.append(folder, flags, date, &body);
        }
    }
    c.logout();
    let client = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(client.path().join("mail")).unwrap();

    // 1. The client syncs against the legacy server.
    let rc = mbsync_config(client.path(), legacy.imap_port, "alice");
    mbsync(&rc);
    let files = maildir_files(&client.path().join("mail"));
    assert_eq!(files, 15);

    // 2. The user moves (first login over POP3 here; IMAP works the same).
    let cfg = config(&legacy, "serve_locally_within_ms = 10000");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);

    // 3. The client is re-pointed at ferrymail: nothing to download, no
    //    UIDVALIDITY change, the same files.
    let imap = d.addr("imap", "plain");
    let rc = mbsync_config(client.path(), imap.port(), "alice@example.org");
    let out = mbsync(&rc);
    assert!(!out.to_ascii_lowercase().contains("uidvalidity"), "{out}");
    assert!(
        out.contains("near side: +0 *0 #0 -0") || out.contains("Near: +0 *0 #0 -0"),
        "{out}"
    );
    assert_eq!(maildir_files(&client.path().join("mail")), files);
    d.terminate();
}
