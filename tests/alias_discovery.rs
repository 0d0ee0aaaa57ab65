//! Alias discovery from the legacy side (issue 18 item 5), against a real
//! Dovecot: two users' mail carries the envelope recipients the legacy
//! delivery recorded (`X-Original-To`, `Delivered-To`, `Envelope-To`); after
//! `migrate bulk`, `ferrymail aliases discover` suggests alias lines with
//! their evidence, marks a possible list and an address that is an account,
//! ignores foreign and own addresses, `--write` refuses to overwrite, and
//! `status --json` counts the discovered addresses.

mod common;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{add_account, cli, wait_state};
use common::{Daemon, TestConfig};

const DATE: &str = "30-Nov-2026 10:00:00 +0000";
const OLDER: &str = "06-Jan-2020 10:00:00 +0100";

fn append(legacy: &Legacy, user: &str, messages: &[(&str, &str)]) {
    let mut c = legacy.imap(user, &format!("{user}-pw"));
    for (i, (headers, date)) in messages.iter().enumerate() {
        let body = format!(
            "Return-Path: <s{i}@example.net>\r\n{headers}From: s{i}@example.net\r\n\
             To: {user}@example.org\r\nSubject: m{i}\r\n\r\nX-Original-To: body@example.org\r\n"
        );
        c.append("INBOX", "", date, body.as_bytes());
    }
    c.logout();
}

#[test]
fn discover_suggests_lines_marks_conflicts_and_writes_a_file() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice", "bob"]));
    append(
        &legacy,
        "alice",
        &[
            ("X-Original-To: info@example.org\r\nDelivered-To: alice@example.org\r\n", OLDER),
            ("X-Original-To: <Info@Example.org>\r\n", DATE),
            ("Delivered-To: sales@example.org\r\n", DATE),
            (
                "Envelope-To: \"Bo\u{e4}rd (all)\" <board@example.org>,\r\n\tsomeone@other.example (not hosted)\r\n",
                DATE,
            ),
            ("X-Original-To: carol@example.org\r\n", DATE),
            ("X-Original-To: alice+news@example.org\r\n", DATE),
        ],
    );
    append(
        &legacy,
        "bob",
        &[
            ("Delivered-To:\r\n sales@example.org\r\n", OLDER),
            (
                "Delivered-To: bob@example.org\r\nX-Original-To: x@other.example\r\n",
                DATE,
            ),
        ],
    );
    let mut domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "timeout_secs = 20\nserve_locally_within_ms = 0",
            ..Default::default()
        },
    );
    domain.push_str("\n[aliases]\npostmaster = [\"alice\"]\n");
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "admin"]),
        &[("example.org", &domain)],
    );
    let mut d = Daemon::start(&cfg.path(), &cfg.data_dir());
    // carol is a local account: an address that must not become an alias.
    add_account(&cfg, "carol@example.org", "carol-local-pw");

    let (code, out, _) = cli(
        &cfg,
        &["aliases", "discover", "--domain", "example.org"],
        "",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("No address of example.org discovered yet"),
        "{out}"
    );

    let users = cfg.dir.path().join("users.txt");
    std::fs::write(
        &users,
        "alice@example.org:alice-pw\nbob@example.org:bob-pw\n",
    )
    .unwrap();
    let (code, out, err) = cli(&cfg, &["migrate", "bulk", users.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    wait_state(&cfg, &d, "bob@example.org", "migrated");

    let (code, out, err) = cli(
        &cfg,
        &["aliases", "discover", "--domain", "example.org"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let expect = [
        "# board@example.org: alice (1 message, last 2026-11-30)\nboard  alice\n",
        "# carol@example.org: CONFLICT: is an account; alice (1 message, last 2026-11-30)\n# carol  alice\n",
        // INTERNALDATE: the newer of alice's two messages.
        "# info@example.org: alice (2 messages, last 2026-11-30)\ninfo  alice\n",
        "# sales@example.org: list? seen in 2 mailboxes: alice (1 message, last 2026-11-30), \
         bob (1 message, last 2020-01-06)\nsales  alice, bob\n",
    ];
    for e in expect {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    for absent in ["other.example", "alice@", "bob@", "alice+news", "body@"] {
        assert!(!out.contains(absent), "{absent} in:\n{out}");
    }
    // An unknown domain is an error.
    let (code, _, err) = cli(
        &cfg,
        &["aliases", "discover", "--domain", "nope.example"],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("not hosted"), "{err}");

    // status counts the discovered addresses (board, carol, info, sales).
    let (code, json, err) = cli(&cfg, &["status", "--json"], "");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dom = &v["domains"][0];
    assert_eq!(dom["domain"], "example.org");
    assert_eq!(dom["aliases_discovered"], 4, "{json}");
    assert_eq!(dom["aliases_configured"], 1, "{json}");
    let (_, text, _) = cli(&cfg, &["status"], "");
    assert!(
        text.contains("aliases: 1 configured, 4 discovered"),
        "{text}"
    );

    // --write: the same text in FILE; an existing FILE is kept unless --force.
    d.terminate();
    let file = cfg.dir.path().join("example.org.aliases");
    let path = file.to_str().unwrap();
    let args = [
        "aliases",
        "discover",
        "--domain",
        "example.org",
        "--write",
        path,
    ];
    let (code, msg, err) = cli(&cfg, &args, "");
    assert_eq!(code, 0, "{err}");
    assert!(msg.contains("3 suggested alias line(s) written"), "{msg}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);
    std::fs::write(&file, "mine\n").unwrap();
    let (code, _, err) = cli(&cfg, &args, "");
    assert_ne!(code, 0);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    let mut forced = args.to_vec();
    forced.push("--force");
    let (code, _, err) = cli(&cfg, &forced, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);
}
