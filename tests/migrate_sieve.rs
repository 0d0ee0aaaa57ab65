//! Sieve scripts carried over in the move (issue 19 item 4), against a real
//! Dovecot with Pigeonhole's ManageSieve as the legacy server: after a user's
//! first login and copy, every script is on ferrymail under its name with the
//! same one active, byte for byte; mail through ferrymail's MX is filtered by
//! it (a folder, a vacation reply that reaches the sender through the legacy
//! Postfix); a legacy script needing an extension ferrymail lacks is stored
//! inactive and `status` says so.

mod common;
mod migrate_support;

use common::domains::{migrating, server, MigratingDomain, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{account_id, cli, imap_login, mx_send, wait_state};
use common::{wait_until, Daemon, Line, TestConfig};
use ferrymail::filter::Scripts;

const FILTER: &str = "require [\"fileinto\", \"imap4flags\", \"vacation\"];\r\n\
# Vom Chef: eigener Ordner, markiert.\r\n\
if address :contains \"from\" \"chef\" {\r\n\
    fileinto :flags \"\\\\Flagged\" \"Chef\";\r\n\
}\r\n\
vacation :days 3 :subject \"Abwesend\" \"Ich bin bis Montag nicht im Büro.\";\r\n";

const OLD: &str = "# alt\r\nkeep;\r\n";

const DUPLICATE: &str =
    "require [\"fileinto\", \"vnd.dovecot.duplicate\"];\r\nif duplicate { discard; }\r\n";

#[test]
fn scripts_move_with_the_user_and_filter_from_the_first_message() {
    let legacy = Legacy::start(LegacyOptions {
        managesieve: true,
        postfix: true,
        ..LegacyOptions::with_users(&["alice", "bob"])
    });
    // alice: a folder for the boss's mail, the active filter, an old script.
    let mut c = legacy.imap("alice", "alice-pw");
    c.ok("CREATE Chef");
    c.logout();
    legacy.put_sieve("alice", "Filter", FILTER, true);
    legacy.put_sieve("alice", "Alt", OLD, false);
    // bob: an active script ferrymail cannot run.
    legacy.put_sieve("bob", "Doppelte", DUPLICATE, true);

    let mut domain = migrating(
        &legacy,
        MigratingDomain {
            migration: "timeout_secs = 20\nserve_locally_within_ms = 5000",
            postfix: true,
            ..Default::default()
        },
    );
    domain.push_str(&format!(
        "\n[migration.managesieve]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nverify_certificate = false\n",
        legacy.sieve_port
    ));
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["imap", "smtp", "admin"]),
        &[("example.org", &domain)],
    );
    let (code, out, err) = cli(&cfg, &["check-config"], "");
    assert_eq!(code, 0, "{out}{err}");
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());

    // alice moves; her scripts come along, the same one active.
    let r = imap_login(&d, "alice@example.org", "alice-pw");
    assert!(r.starts_with("a OK"), "{r}\n{}", d.log_text());
    wait_state(&cfg, &d, "alice@example.org", "migrated");
    let scripts = Scripts::of(&cfg.data_dir(), account_id(&cfg, "alice@example.org"));
    assert_eq!(
        scripts.list().unwrap(),
        vec![("Alt".to_string(), false), ("Filter".to_string(), true)]
    );
    assert_eq!(scripts.get("Filter").unwrap(), FILTER.as_bytes());
    assert_eq!(scripts.get("Alt").unwrap(), OLD.as_bytes());
    assert!(d.log_text().contains("Sieve scripts carried over"));

    // The first message from the boss after the move is filtered; the
    // sender gets the vacation reply once (through the legacy Postfix to
    // the outside world).
    mx_send(&d, "chef@example.net", "alice@example.org", "Termin morgen");
    mx_send(
        &d,
        "chef@example.net",
        "alice@example.org",
        "Noch ein Termin",
    );
    let mut c = Line::connect(d.addr("imap", "plain"));
    c.expect("* OK");
    c.send_line("a LOGIN alice@example.org alice-pw");
    let mut tagged = c.line();
    while !tagged.starts_with("a ") {
        tagged = c.line();
    }
    assert!(tagged.starts_with("a OK"), "{tagged}");
    c.send_line("b STATUS Chef (MESSAGES)");
    let status = c.line();
    assert!(status.contains("MESSAGES 2"), "{status}\n{}", d.log_text());
    c.line();
    c.send_line("z LOGOUT");
    wait_until(
        60,
        200,
        || {
            legacy
                .sink_texts()
                .iter()
                .any(|t| t.contains("Subject: Abwesend"))
        },
        || {
            format!(
                "no vacation reply in the sink:\n{}\n{}",
                d.log_text(),
                legacy.postfix_log()
            )
        },
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let replies: Vec<String> = legacy
        .sink_texts()
        .into_iter()
        .filter(|t| t.contains("Subject: Abwesend"))
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("Auto-Submitted: auto-replied"),
        "{}",
        replies[0]
    );

    // bob's active script needs an extension ferrymail lacks: stored, not
    // active, and the admin is told.
    let r = imap_login(&d, "bob@example.org", "bob-pw");
    assert!(r.starts_with("a OK"), "{r}");
    wait_state(&cfg, &d, "bob@example.org", "migrated");
    let scripts = Scripts::of(&cfg.data_dir(), account_id(&cfg, "bob@example.org"));
    assert_eq!(
        scripts.list().unwrap(),
        vec![("Doppelte".to_string(), false)]
    );
    assert_eq!(scripts.get("Doppelte").unwrap(), DUPLICATE.as_bytes());
    let (code, out, err) = cli(&cfg, &["status", "--user", "bob@example.org"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("stored inactive") && out.contains("vnd.dovecot.duplicate"),
        "{out}"
    );
}
