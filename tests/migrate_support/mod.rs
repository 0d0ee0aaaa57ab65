//! Shared by the migration tests (tests/migrate_*.rs). Seeds a realistic legacy mailbox, runs the
//! daemon with a migrating domain, and compares the two sides folder by folder.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::common::domains::{migrating, server, MigratingDomain};
use crate::common::legacy::{quote, Legacy};
use crate::common::{wait_until, Daemon, Line, TestConfig};

/// A server with POP3 and IMAP, and a domain file migrating `example.org` from
/// `legacy` (IMAP and POP3).
pub fn config(legacy: &Legacy, migration_extra: &str) -> TestConfig {
    let domain = migrating(
        legacy,
        MigratingDomain {
            migration: &format!("timeout_secs = 20\n{migration_extra}"),
            pop3: true,
            ..Default::default()
        },
    );
    TestConfig::new(
        &server(
            "allow_plaintext = true\nfailure_delay_ms = 10\nmax_failure_delay_ms = 20",
            &["pop3", "imap"],
        ),
        &[("example.org", &domain)],
    )
}

/// Starts `ferrymail serve`, with the test-only copy slow-down when asked.
pub fn start_daemon(cfg: &TestConfig, copy_delay_ms: Option<u64>) -> Daemon {
    Daemon::start_with(&cfg.path(), &cfg.data_dir(), |cmd| {
        cmd.env_remove("FERRYMAIL_TEST_COPY_DELAY_MS");
        if let Some(ms) = copy_delay_ms {
            cmd.env("FERRYMAIL_TEST_COPY_DELAY_MS", ms.to_string());
        }
    })
}

/// A blocking POP3 client (the way a mail client talks to ferrymail).
pub struct Pop {
    c: Line,
    pub greeting: String,
}

impl Pop {
    pub fn connect(addr: SocketAddr) -> Pop {
        let mut c = Line::connect(addr);
        let greeting = c.try_line().expect("POP3 greeting");
        Pop { c, greeting }
    }

    /// One line, `None` once the server closed the connection.
    pub fn line(&mut self) -> Option<String> {
        self.c.try_line()
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.c.send_line(line);
        self.line().unwrap_or_default()
    }

    /// USER + PASS; returns the reply to PASS.
    pub fn login(&mut self, user: &str, pass: &str) -> String {
        let r = self.cmd(&format!("USER {user}"));
        assert!(r.starts_with("+OK"), "USER: {r}");
        self.cmd(&format!("PASS {pass}"))
    }

    /// The lines of a multi-line answer, up to the final dot.
    pub fn multiline(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.line() {
            if l == "." {
                return out;
            }
            out.push(l);
        }
        panic!("connection closed in a multi-line answer: {out:?}")
    }
}

/// The state column of an account, read from the database while the daemon runs.
pub fn account_state(data_dir: &Path, address: &str) -> Option<String> {
    let db = data_dir.join("ferrymail.sqlite");
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()?;
    c.busy_timeout(Duration::from_secs(5)).ok()?;
    c.query_row(
        "SELECT state FROM accounts WHERE address = ?1",
        [address],
        |r| r.get(0),
    )
    .ok()
}

/// Number of messages committed for the account with id 1 so far.
pub fn committed_messages(data_dir: &Path) -> i64 {
    let db = data_dir.join("accounts/1/index.sqlite");
    let Ok(c) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let _ = c.busy_timeout(Duration::from_secs(5));
    c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap_or(0)
}

/// Waits up to `secs` until at least `n` messages are committed for the
/// account with id 1.
pub fn wait_committed(d: &Daemon, n: i64, secs: u64) {
    wait_until(
        secs,
        50,
        || committed_messages(&d.data_dir) >= n,
        || d.log_text(),
    );
}

pub fn wait_state(d: &Daemon, address: &str, state: &str, secs: u64) {
    wait_until(
        secs,
        100,
        || account_state(&d.data_dir, address).as_deref() == Some(state),
        || {
            let s = account_state(&d.data_dir, address);
            format!(
                "{address} never reached {state} (now {s:?}):\n{}",
                d.log_text()
            )
        },
    );
}

/// One message as both sides must agree on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub uid: u32,
    pub flags: String,
    pub date: (i64, i32),
    pub sha256: String,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub uidvalidity: u32,
    pub messages: Vec<Msg>,
    /// UIDNEXT and HIGHESTMODSEQ (the local side must be at least the legacy's).
    pub uidnext: u32,
    pub highestmodseq: u64,
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn canonical_flags(list: &str) -> String {
    ferrymail::store::Flags::from_names(list.split_ascii_whitespace()).to_stored()
}

fn between<'a>(s: &'a str, start: &str, end: char) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// Raw LIST names of the legacy account (selectable ones), with their attributes.
pub fn legacy_list(legacy: &Legacy, user: &str, pw: &str, cmd: &str) -> Vec<(String, String)> {
    let mut c = legacy.imap(user, pw);
    let lines = c.ok(cmd);
    c.logout();
    lines
        .iter()
        .filter(|l| l.text.starts_with("* LIST") || l.text.starts_with("* LSUB"))
        .map(|l| {
            let t = l.text.as_str();
            let attrs = between(t, "(", ')').unwrap_or("").to_string();
            let name = if let Some(lit) = l.literals.first() {
                String::from_utf8_lossy(lit).into_owned()
            } else if let Some(stripped) = t.strip_suffix('"') {
                let open = stripped.rfind('"').unwrap();
                stripped[open + 1..].to_string()
            } else {
                t.rsplit(' ').next().unwrap().to_string()
            };
            (name, attrs)
        })
        .collect()
}

/// Every selectable legacy folder, by raw name.
pub fn legacy_snapshot(legacy: &Legacy, user: &str, pw: &str) -> BTreeMap<String, Folder> {
    let mut out = BTreeMap::new();
    for (name, attrs) in legacy_list(legacy, user, pw, "LIST \"\" \"*\"") {
        if attrs.contains("\\Noselect") || attrs.contains("\\NonExistent") {
            continue;
        }
        let mut c = legacy.imap(user, pw);
        let lines = c.ok(&format!("EXAMINE {} (CONDSTORE)", quote(&name)));
        let all: String = lines.iter().map(|l| l.text.clone() + "\n").collect();
        let uidvalidity: u32 = between(&all, "[UIDVALIDITY ", ']')
            .unwrap()
            .parse()
            .unwrap();
        let uidnext: u32 = between(&all, "[UIDNEXT ", ']').unwrap().parse().unwrap();
        let highestmodseq: u64 = between(&all, "[HIGHESTMODSEQ ", ']')
            .unwrap()
            .parse()
            .unwrap();
        let exists: u32 = lines
            .iter()
            .find(|l| l.text.ends_with(" EXISTS"))
            .map(|l| l.text.split(' ').nth(1).unwrap().parse().unwrap())
            .unwrap_or(0);
        let mut messages = Vec::new();
        if exists > 0 {
            for l in c.ok("UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])") {
                if !l.text.contains(" FETCH ") {
                    continue;
                }
                let uid: u32 = between(&l.text, "UID ", ' ')
                    .or_else(|| between(&l.text, "UID ", ')'))
                    .unwrap()
                    .parse()
                    .unwrap();
                let flags = canonical_flags(between(&l.text, "FLAGS (", ')').unwrap_or(""));
                let date = between(&l.text, "INTERNALDATE \"", '"').unwrap();
                let body = &l.literals[0];
                messages.push(Msg {
                    uid,
                    flags,
                    date: ferrymail::legacy::imap::parse_internaldate(date).unwrap(),
                    sha256: sha(body),
                    size: body.len(),
                });
            }
        }
        messages.sort_by_key(|m| m.uid);
        c.logout();
        out.insert(
            name,
            Folder {
                uidvalidity,
                messages,
                uidnext,
                highestmodseq,
            },
        );
    }
    out
}

/// The local side, read through the store API (the daemon must be stopped).
pub struct LocalSide {
    pub folders: BTreeMap<String, Folder>,
    pub special_use: BTreeMap<String, Option<String>>,
    pub uidnext: BTreeMap<String, u32>,
    pub subscriptions: Vec<String>,
    pub legacy_map_rows: i64,
}

pub fn local_snapshot(data_dir: &Path, address: &str) -> LocalSide {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = ferrymail::store::Store::open(data_dir).unwrap();
        let account = store.account(address).await.unwrap().expect("account");
        let ms = store.mailstore(account.id).await.unwrap();
        let mut folders = BTreeMap::new();
        let mut special_use = BTreeMap::new();
        let mut uidnext = BTreeMap::new();
        for mbx in ms.mailboxes().await.unwrap() {
            let mut messages = Vec::new();
            for m in ms.messages(mbx.id).await.unwrap() {
                let body = std::fs::read(ms.blob_path(&m.blob)).unwrap();
                messages.push(Msg {
                    uid: m.uid,
                    flags: m.flags.to_stored(),
                    date: (m.internaldate, m.tz_minutes),
                    sha256: sha(&body),
                    size: body.len(),
                });
            }
            special_use.insert(mbx.name.clone(), mbx.special_use.clone());
            uidnext.insert(mbx.name.clone(), mbx.uidnext);
            folders.insert(
                mbx.name.clone(),
                Folder {
                    uidvalidity: mbx.uidvalidity,
                    messages,
                    uidnext: mbx.uidnext,
                    highestmodseq: mbx.highestmodseq,
                },
            );
        }
        let subscriptions = ms.subscriptions().await.unwrap();
        let idx = data_dir.join(format!("accounts/{}/index.sqlite", account.id));
        let c = rusqlite::Connection::open(idx).unwrap();
        let legacy_map_rows = c
            .query_row("SELECT count(*) FROM legacy_map", [], |r| r.get(0))
            .unwrap();
        LocalSide {
            folders,
            special_use,
            uidnext,
            subscriptions,
            legacy_map_rows,
        }
    })
}

/// Asserts that every legacy folder landed under its expected local name with
/// the same UIDVALIDITY, UIDs, flags, INTERNALDATEs and bytes; other local
/// folders (the defaults ferrymail adds) must be empty.
pub fn assert_same(
    legacy: &BTreeMap<String, Folder>,
    local: &LocalSide,
    expected_name: &dyn Fn(&str) -> String,
) {
    let mut seen = Vec::new();
    for (raw, lf) in legacy {
        let name = expected_name(raw);
        let Some(mine) = local.folders.get(&name) else {
            panic!(
                "legacy folder {raw:?} missing locally as {name:?}; local: {:?}",
                local.folders.keys().collect::<Vec<_>>()
            );
        };
        assert_eq!(mine.uidvalidity, lf.uidvalidity, "UIDVALIDITY of {name}");
        assert_eq!(
            mine.messages.len(),
            lf.messages.len(),
            "message count of {name}"
        );
        for (a, b) in mine.messages.iter().zip(&lf.messages) {
            assert_eq!(a, b, "message in {name}");
        }
        assert!(mine.uidnext >= lf.uidnext, "UIDNEXT of {name}");
        assert!(
            mine.highestmodseq >= lf.highestmodseq,
            "HIGHESTMODSEQ of {name}: {} < {}",
            mine.highestmodseq,
            lf.highestmodseq
        );
        seen.push(name);
    }
    for (name, f) in &local.folders {
        if !seen.contains(name) {
            assert!(
                f.messages.is_empty(),
                "local folder {name} has messages the legacy server does not"
            );
        }
    }
}

/// A realistic mixed mailbox.
pub fn sample_messages() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let plain = b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: plain text\r\nDate: Mon, 6 Jan 2020 10:00:00 +0100\r\nMessage-ID: <p1@example.net>\r\n\r\nHello Alice,\r\n\r\njust text.\r\n".to_vec();
    let html = b"From: news@example.net\r\nTo: alice@example.org\r\nSubject: HTML news\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><h1>News</h1><p>Caf\xc3\xa9 &amp; cr\xc3\xa8me</p></body></html>\r\n".to_vec();
    let multipart = b"From: Dan <dan@example.net>\r\nTo: alice@example.org\r\nSubject: =?UTF-8?B?UmVjaG51bmcgZsO8ciBKw6RubmVy?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nAnbei die Rechnung f\xc3\xbcr J\xc3\xa4nner.\r\n--XYZ\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\neJwr5HIK4TI2UzA0MjFQMEhRSC4qzdNLzs8rSc0rAQBRtwbXCmVuZHN0cmVhbQpl\r\n--XYZ--\r\n".to_vec();
    let latin1 = b"From: =?ISO-8859-1?Q?Ren=E9_M=FCller?= <rene@example.net>\r\nTo: alice@example.org\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nViele Gr\xfc\xdfe, Ren\xe9\r\n".to_vec();
    let utf8_raw = "From: Jürgen <j@example.net>\r\nTo: alice@example.org\r\nSubject: Grüße – 日本語\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nこんにちは\r\n".as_bytes().to_vec();
    vec![
        ("\\Seen", "06-Jan-2020 10:00:00 +0100", plain),
        ("\\Seen \\Flagged", "07-Feb-2021 23:59:59 -0500", html),
        (
            "\\Answered \\Seen $Label1",
            "15-Mar-2022 08:30:00 +0000",
            multipart,
        ),
        ("", "01-Dec-2023 12:00:00 +0530", latin1),
        (
            "\\Draft Work $Important",
            "29-Feb-2024 06:07:08 +0200",
            utf8_raw,
        ),
    ]
}

/// Writes `n` small messages straight into the legacy user's INBOX Maildir
/// (APPEND of thousands of messages would take minutes), then lets Dovecot
/// index them.
pub fn seed_maildir(legacy: &Legacy, user: &str, pw: &str, n: usize) {
    let mut c = legacy.imap(user, pw);
    c.ok("SELECT INBOX");
    c.logout();
    let cur = legacy.path().join(format!("mail/{user}/cur"));
    for i in 0..n {
        let body = format!(
            "From: s{i}@example.net\r\nTo: {user}@example.org\r\nSubject: message {i}\r\nMessage-ID: <{i}@example.net>\r\n\r\nbody of message {i}\r\n"
        );
        let flags = if i % 3 == 0 { "S" } else { "" };
        std::fs::write(
            cur.join(format!(
                "{}.M{i}P1.legacy,S={}:2,{flags}",
                1_600_000_000 + i,
                body.len()
            )),
            body,
        )
        .unwrap();
    }
    let out = Command::new("chown")
        .args(["-R", "vmail:vmail"])
        .arg(legacy.path().join(format!("mail/{user}")))
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut c = legacy.imap(user, pw);
    let lines = c.ok("SELECT INBOX");
    assert!(
        lines.iter().any(|l| l.text == format!("* {n} EXISTS")),
        "{lines:?}"
    );
    c.logout();
}
