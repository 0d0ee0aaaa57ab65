//! Real IMAP clients across the move. mbsync (isync) syncs a Maildir from the
//! legacy Dovecot, the user is migrated, mbsync is re-pointed at ferrymail's IMAP
//! listener and downloads nothing, its sync state (UIDVALIDITY, UIDs) still
//! valid. Python imaplib's first login is relayed to the legacy server (its
//! capabilities, its mailbox) until the switch ends the session, then served
//! locally with the same UIDVALIDITY.

mod common;
mod migrate_support;

use std::path::Path;
use std::process::Command;

use common::legacy::{Legacy, LegacyOptions};
use common::pyclients::run_python;
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

/// Names of the message files of a Maildir tree (mbsync puts the UID in them:
/// `...,U=<uid>:2,<flags>`), sorted.
fn maildir_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .into_iter()
        .filter(|e| {
            e.parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "cur" || n == "new")
        })
        .map(|e| e.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
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
    assert_eq!(files.len(), 15, "{files:?}");

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
    // (A box ferrymail adds, such as Archive, is created empty on the client: the
    // only "no UIDVALIDITY, creating new" notice allowed.)
    assert!(
        !out.contains("UIDVALIDITY changed") && !out.contains("changed UIDVALIDITY"),
        "{out}"
    );
    assert!(!out.contains("rror"), "{out}");
    // The very same files: nothing downloaded again, nothing renamed (UIDs and
    // flags unchanged), nothing deleted.
    assert_eq!(maildir_files(&client.path().join("mail")), files, "{out}");
    // And the sync state stays valid: a further run changes nothing either.
    mbsync(&rc);
    assert_eq!(maildir_files(&client.path().join("mail")), files);
    d.terminate();
}

const IMAP_SESSION: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
m = imaplib.IMAP4('127.0.0.1', port)
typ, data = m.login('alice@example.org', 'alice-pw')
print('LOGIN', typ, data[0].decode())
typ, data = m.select('INBOX', readonly=True)
print('EXISTS', data[0].decode())
print('UIDVALIDITY', m.response('UIDVALIDITY')[1][0].decode())
print('RECENT', m.response('RECENT')[1][0].decode())
if sys.argv[2] == 'hold':
    # Stay in the session until the switch ends it.
    try:
        while True:
            m.noop()
            import time; time.sleep(0.2)
    except Exception as e:
        print('ENDED', type(e).__name__)
else:
    m.logout()
"#;

#[test]
fn imap_first_login_is_proxied_then_served_locally() {
    let legacy = Legacy::start(LegacyOptions::default());
    let mut c = legacy.imap("alice", "alice-pw");
    for (flags, date, body) in sample_messages().into_iter().cycle().take(25) {
        c.append("INBOX", flags, date, &body);
    }
    let uidvalidity = c
        .ok("EXAMINE INBOX")
        .iter()
        .find_map(|l| {
            l.text
                .split("[UIDVALIDITY ")
                .nth(1)
                .and_then(|r| r.split(']').next())
                .map(str::to_string)
        })
        .unwrap();
    c.logout();
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, Some(200));
    let port = d.addr("imap", "plain").port().to_string();

    // The first session is the legacy server's: its capabilities in the tagged
    // OK of LOGIN (Dovecot's own THREAD=REFS), its mailbox; the switch ends it.
    let out = run_python(IMAP_SESSION, &[&port, "hold"], "");
    assert!(
        out.contains("LOGIN OK") && out.contains("THREAD=REFS"),
        "{out}"
    );
    assert!(out.contains("EXISTS 25"), "{out}");
    assert!(out.contains(&format!("UIDVALIDITY {uidvalidity}")), "{out}");
    assert!(out.contains("ENDED"), "{out}");
    wait_state(&d, "alice@example.org", "migrated", 120);

    // Then ferrymail's own session: same mailbox, same UIDVALIDITY.
    let out = run_python(IMAP_SESSION, &[&port, "once"], "");
    assert!(
        out.contains("LOGIN OK") && !out.contains("THREAD=REFS"),
        "{out}"
    );
    assert!(out.contains("EXISTS 25"), "{out}");
    assert!(out.contains(&format!("UIDVALIDITY {uidvalidity}")), "{out}");
    // Copied mail is not new mail: nothing \Recent after the move.
    assert!(out.contains("RECENT 0"), "{out}");
    d.terminate();
}
