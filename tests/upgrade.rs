//! A data dir written by the previous release (0.1 at 9c29648) opens and goes
//! on: `tests/golden/datadir-0.1/` holds it as SQL dumps plus its one message
//! file, made by that release's own binary (`account add`, `serve`, an IMAP
//! APPEND and CREATE from imaplib) with copy jobs in every state it wrote
//! (`running`, `switching`, `retrying`, `paused`, `interrupted`, `done`,
//! `failed`) as a crash would leave them. The current daemon must read every
//! job state, mark the ones a crash interrupted, and serve the mail as before.

mod common;

use std::path::Path;

use common::domains::{server, PLAINTEXT};
use common::ops::cli;
use common::pyclients::run_login_script;
use common::{Daemon, TestConfig};

fn restore(sql: &Path, db: &Path) {
    let text = std::fs::read_to_string(sql).unwrap();
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(&text).unwrap();
}

/// Lays the previous release's data dir out in `data`.
fn lay_out(data: &Path) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/datadir-0.1");
    std::fs::create_dir_all(data.join("accounts")).unwrap();
    restore(
        &golden.join("ferrymail.sql"),
        &data.join("ferrymail.sqlite"),
    );
    for id in ["1", "2"] {
        let dir = data.join("accounts").join(id);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        for b in 0..=255u8 {
            std::fs::create_dir_all(dir.join("blobs").join(format!("{b:02x}"))).unwrap();
        }
        restore(
            &golden.join("accounts").join(id).join("index.sql"),
            &dir.join("index.sqlite"),
        );
    }
    let blob = "blobs/59/593f6af1c6a7abce12f9018a9e7237ff";
    std::fs::copy(
        golden.join("accounts/1").join(blob),
        data.join("accounts/1").join(blob),
    )
    .unwrap();
}

/// What imaplib sees of `user`'s INBOX and folder list.
fn imap_view(addr: std::net::SocketAddr, user: &str, pass: &str) -> String {
    let script = r#"
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
c.login(sys.argv[3], sys.stdin.readline().rstrip("\n"))
typ, data = c.select("INBOX")
print("EXISTS", data[0].decode())
print("UIDVALIDITY", c.response("UIDVALIDITY")[1][0].decode())
if int(data[0]) > 0:
    typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for part in data:
        if isinstance(part, tuple):
            print("FETCH", part[0].decode())
            print("HEADER", part[1].decode().strip())
typ, data = c.list()
for l in data:
    print("LIST", l.decode())
c.logout()
"#;
    run_login_script(script, addr, user, pass)
}

#[test]
fn a_data_dir_of_the_previous_release_opens_and_goes_on() {
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "admin"]),
        &[("example.org", "domain = \"example.org\"\n")],
    );
    lay_out(&cfg.data_dir());
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());

    // Every job state is read; those a crash left running are interrupted.
    let job = |address: &str| {
        let (code, out, err) = cli(&cfg, &["status", "--json", "--user", address], "");
        assert_eq!(code, 0, "{out}{err}\n{}", d.log_text());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["users"][0]["address"], address, "{out}");
        v["users"][0]["job"].clone()
    };
    for (user, want) in [
        ("done", "done"),
        ("failed", "failed"),
        ("interrupted", "interrupted"),
        ("running", "interrupted"),
        ("switching", "interrupted"),
        ("retrying", "interrupted"),
        ("paused", "interrupted"),
    ] {
        let j = job(&format!("{user}@example.org"));
        assert_eq!(j["state"], want, "{user}: {j}");
    }
    let done = job("done@example.org");
    assert_eq!(done["messages"], 120, "{done}");
    assert_eq!(done["hook"], "ok", "{done}");
    assert_eq!(
        job("retrying@example.org")["last_error"],
        "legacy server unavailable: timed out"
    );

    // The mail written by the previous release is served as it was.
    let view = imap_view(d.addr("imap", "plain"), "local@example.org", "local-pw");
    assert!(view.contains("EXISTS 1"), "{view}");
    assert!(view.contains("UIDVALIDITY 1796389994"), "{view}");
    assert!(
        view.contains("UID 1") && view.contains("\\Seen") && view.contains("$Important"),
        "{view}"
    );
    assert!(
        view.contains("Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?="),
        "{view}"
    );
    assert!(view.contains("Entw&APw-rfe"), "{view}");
    // That release had no header cache: the FETCH above read the file and
    // wrote the message's row, which holds the file's header block.
    let file = std::fs::read(
        cfg.data_dir()
            .join("accounts/1/blobs/59/593f6af1c6a7abce12f9018a9e7237ff"),
    )
    .unwrap();
    let index = rusqlite::Connection::open(cfg.data_dir().join("accounts/1/index.sqlite")).unwrap();
    let (header, envelope): (Vec<u8>, Vec<u8>) = index
        .query_row(
            "SELECT header, envelope FROM header_cache WHERE blob = '593f6af1c6a7abce12f9018a9e7237ff'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        !header.is_empty() && file.starts_with(&header),
        "{header:?}"
    );
    assert!(header.ends_with(b"\n\n") || header.ends_with(b"\r\n\r\n"));
    assert_eq!(
        envelope,
        ferrymail::message::Message::parse(&file).envelope()
    );
    // A migrated account of that release logs in and is served locally.
    let view = imap_view(d.addr("imap", "plain"), "done@example.org", "done-pw");
    assert!(view.contains("EXISTS 0"), "{view}");
    drop(d);
}
