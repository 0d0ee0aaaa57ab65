//! Every file in the data dir is readable by its owner only (the databases hold
//! password hashes, the message files everyone's mail), even when the data dir
//! was created beforehand with an open mode; the daemon warns about such a dir.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::ops::add_account;
use common::{Client, Daemon, TestConfig};

/// Every regular file below `dir` whose mode lets group or others in.
fn open_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            open_files(&e.path(), out);
        } else if meta.permissions().mode() & 0o077 != 0 {
            out.push(format!(
                "{} {:o}",
                e.path().display(),
                meta.permissions().mode() & 0o777
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_owner_only_even_in_an_open_data_dir() {
    let cfg = TestConfig::new(
        "[smtp]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let data = cfg.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    add_account(&cfg, "pat@example.test", "pat-pw");
    let d = Daemon::start(&cfg.path(), &data);
    let mut c = Client::greeted(d.addr("smtp", "plain"), "220 ").await;
    c.expect_code("EHLO client.example", "250").await;
    c.expect_code("MAIL FROM:<a@example.net>", "250").await;
    c.expect_code("RCPT TO:<pat@example.test>", "250").await;
    c.expect_code("DATA", "354").await;
    c.send_raw(b"Subject: modes\r\n\r\nfor pat only\r\n.\r\n")
        .await;
    assert!(c.smtp_reply().await.starts_with("250"));
    c.expect_code("QUIT", "221").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log_text().contains("is open to other users (mode 755)") {
        assert!(Instant::now() < deadline, "no warning:\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // check-config says it too, as a warning (exit 0).
    let (code, out, _) = common::ops::cli(&cfg, &["check-config"], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: the data dir") && out.contains("(mode 755); chmod 700 it"),
        "{out}"
    );
    let mut open = Vec::new();
    open_files(&data, &mut open);
    assert!(open.is_empty(), "files open to others: {open:#?}");
    // The delivered message is among the files checked.
    let mut blobs = 0;
    for e in walk(&data.join("accounts")) {
        if e.parent()
            .is_some_and(|p| p.parent().is_some_and(|p| p.ends_with("blobs")))
        {
            blobs += 1;
        }
    }
    assert!(blobs >= 1, "no message file found");
    drop(d);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
