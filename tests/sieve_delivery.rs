//! Sieve at delivery, against `ferrymail serve`: mail sent over SMTP to a
//! local account is filed as the account's active script says — into
//! existing and newly created folders with non-ASCII names, with flags,
//! discarded, redirected through the relay (a real Postfix delivering into a
//! real Dovecot) — and a script that is broken or asks for a folder that does
//! not exist never loses the message: it lands in INBOX and the reason is
//! recorded; a vacation reply goes once per sender, a rejected message is
//! not stored and its sender gets a notice. The mailbox is read back with
//! Python's imaplib.

mod common;

use common::domains::PLAINTEXT;
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{account_id, add_account, mx_send, mx_send_message};
use common::{wait_until, Daemon, TestConfig};
use ferrymail::filter::Scripts;

const USER: &str = "anna@example.org";

/// Every folder's messages as `folder: subject [flags]` lines, via imaplib.
fn folders(d: &Daemon) -> Vec<String> {
    let script = r#"
import imaplib, sys, re
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], "anna-pw")
typ, boxes = m.list()
names = []
for b in boxes:
    name = b.decode().rsplit(' "/" ', 1)[1].strip('"')
    names.append(name)
for name in sorted(names):
    m.select('"' + name + '"', readonly=True)
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            flags = " ".join(f for f in flags.split() if f != "\\Recent")
            subj = item[1].decode().strip().replace("Subject: ", "")
            print(f"{name}: {subj} [{flags}]")
m.logout()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(d.addr("imap", "plain").port().to_string())
        .arg(USER)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn script() -> String {
    r#"require ["fileinto", "imap4flags", "mailbox", "envelope", "subaddress", "copy"];
# Rechnungen: read, into a folder that is created on first use.
if header :contains "subject" "Rechnung" {
    fileinto :create :flags "\\Seen" "Entwürfe";
    stop;
}
if address :is "from" "chef@example.net" {
    addflag "\\Flagged";
    keep;
    stop;
}
if envelope :detail "to" "listen" {
    fileinto :create "Listen/Черновики";
    stop;
}
if header :contains "subject" "Werbung" {
    discard;
    stop;
}
if header :contains "subject" "nirgends" {
    fileinto "gibt-es-nicht";
    stop;
}
if header :contains "subject" "weiter" {
    redirect :copy "alice@legacy.test";
}
"#
    .to_string()
}

#[test]
fn the_active_script_files_flags_discards_and_redirects_and_never_loses_mail() {
    let legacy = Legacy::start(LegacyOptions {
        domain: "legacy.test".into(),
        postfix: true,
        ..LegacyOptions::with_users(&["alice", "bob"])
    });
    let server = format!(
        "[auth]\n{PLAINTEXT}\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[smtp]\nlisten = [\"127.0.0.1:0\"]\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n[submission]\nrelay_host = \"127.0.0.1:{}\"\n",
        legacy.smtp_port.unwrap()
    );
    let cfg = TestConfig::new(&server, &[("example.org", "domain = \"example.org\"\n")]);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    add_account(&cfg, USER, "anna-pw");

    // No script: INBOX.
    mx_send(&d, "someone@example.net", USER, "ohne Filter");
    assert_eq!(folders(&d), vec!["INBOX: ohne Filter []"]);

    let scripts = Scripts::of(&cfg.data_dir(), account_id(&cfg, USER));
    scripts.put("Regeln", script().as_bytes()).unwrap();
    scripts.set_active(Some("Regeln")).unwrap();

    // An encoded-word subject, matched decoded; the folder is created.
    mx_send(
        &d,
        "shop@example.net",
        USER,
        "=?UTF-8?B?SWhyZSBSZWNobnVuZyBOci4gNw==?=",
    );
    mx_send(&d, "chef@example.net", USER, "Termin");
    mx_send(&d, "list@example.net", "anna+listen@example.org", "Digest");
    mx_send(&d, "spam@example.net", USER, "Werbung!");
    mx_send(&d, "x@example.net", USER, "weiter bitte");
    // imaplib shows folder names in modified UTF-7.
    let mut want: Vec<String> = [
        (
            "Entwürfe",
            "=?UTF-8?B?SWhyZSBSZWNobnVuZyBOci4gNw==?= [\\Seen]",
        ),
        ("INBOX", "Termin [\\Flagged]"),
        ("INBOX", "ohne Filter []"),
        ("INBOX", "weiter bitte []"),
        ("Listen/Черновики", "Digest []"),
    ]
    .iter()
    .map(|(f, m)| format!("{}: {m}", ferrymail::mutf7::encode(f)))
    .collect();
    want.sort();
    assert_eq!(folders(&d), want, "{}", d.log_text());
    assert!(scripts.last_error().is_none(), "{:?}", scripts.last_error());

    // The redirect went out through the relay with an SRS sender and reached
    // the legacy Dovecot.
    wait_until(
        60,
        200,
        || {
            let mut c = legacy.imap("alice", "alice-pw");
            let lines = c.ok("SELECT INBOX");
            c.logout();
            lines.iter().any(|l| l.text == "* 1 EXISTS")
        },
        || {
            format!(
                "redirect never arrived:\n{}\n{}",
                d.log_text(),
                legacy.postfix_log()
            )
        },
    );
    let mut c = legacy.imap("alice", "alice-pw");
    c.ok("SELECT INBOX");
    let lines = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT RETURN-PATH)])");
    c.logout();
    let text: String = lines
        .iter()
        .flat_map(|l| l.literals.iter())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(text.contains("weiter bitte"), "{text}");
    let lines = {
        let mut c = legacy.imap("alice", "alice-pw");
        c.ok("SELECT INBOX");
        let l = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-FERRYMAIL-REDIRECTED)])");
        c.logout();
        l
    };
    let mark: String = lines
        .iter()
        .flat_map(|l| l.literals.iter())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        mark.contains("X-Ferrymail-Redirected: anna@example.org"),
        "{mark}"
    );
    assert!(text.contains("SRS0="), "{text}");

    // A message this account redirected before comes back: no second round
    // (a loop), it stays here and the reason is recorded.
    mx_send_message(
        &d,
        "x@example.net",
        USER,
        "X-Ferrymail-Redirected: anna@example.org\r\nSubject: weiter im Kreis\r\n\r\nHallo.\r\n",
    );
    assert!(folders(&d).contains(&"INBOX: weiter im Kreis []".to_string()));
    let (_, err) = scripts.last_error().expect("the loop is recorded");
    assert!(err.contains("a loop"), "{err}");

    // A folder that does not exist, without :create: INBOX, and the reason.
    mx_send(&d, "y@example.net", USER, "nirgends hin");
    assert!(folders(&d).contains(&"INBOX: nirgends hin []".to_string()));
    let (_, err) = scripts.last_error().expect("the reason is recorded");
    assert!(err.contains("gibt-es-nicht"), "{err}");

    // A broken active script: every message to INBOX, the reason recorded.
    scripts
        .put("Regeln", b"require \"fileinto\";\nfileinto \"x\"\nkeep;")
        .unwrap();
    mx_send(&d, "shop@example.net", USER, "Rechnung 8");
    assert!(folders(&d).contains(&"INBOX: Rechnung 8 []".to_string()));
    let (_, err) = scripts.last_error().unwrap();
    assert!(
        err.contains("does not compile") && err.contains("line 3"),
        "{err}"
    );
    assert!(d.log_text().contains("sieve: the message is kept in INBOX"));

    // Out of office and reject. The replies go from the null sender through
    // the relay to the sender's (legacy) mailbox: one vacation reply per
    // sender per period, a notice for the rejected message, which is not
    // stored.
    scripts
        .put(
            "Regeln",
            "require [\"vacation\", \"reject\"];\n\
             if header :contains \"subject\" \"weg damit\" { reject \"Bitte nicht mehr schreiben.\"; stop; }\n\
             vacation :days 1 :subject \"Im Urlaub\" \"Ich bin bis Montag weg. Grüße, Anna\";\n"
                .as_bytes(),
        )
        .unwrap();
    mx_send(&d, "alice@legacy.test", USER, "Frage eins");
    mx_send(&d, "alice@legacy.test", USER, "Frage zwei");
    mx_send(&d, "alice@legacy.test", USER, "weg damit");
    // No vacation reply to list mail, to a bounce (null sender), nor to mail
    // the user is not a visible recipient of (a different handle each time
    // would not help: these are never answered).
    mx_send_message(
        &d,
        "alice@legacy.test",
        USER,
        "From: alice@legacy.test\r\nTo: anna@example.org\r\nList-Id: <team.legacy.test>\r\nSubject: Liste\r\n\r\nHallo.\r\n",
    );
    mx_send_message(
        &d,
        "",
        USER,
        "From: MAILER-DAEMON@legacy.test\r\nTo: anna@example.org\r\nSubject: Unzustellbar\r\n\r\nHallo.\r\n",
    );
    mx_send_message(
        &d,
        "bob@legacy.test",
        USER,
        "From: bob@legacy.test\r\nTo: team@example.org\r\nSubject: Bcc\r\n\r\nHallo.\r\n",
    );
    let inbox = folders(&d);
    assert!(
        inbox.contains(&"INBOX: Frage eins []".to_string()),
        "{inbox:?}"
    );
    assert!(
        inbox.contains(&"INBOX: Frage zwei []".to_string()),
        "{inbox:?}"
    );
    assert!(!inbox.iter().any(|l| l.contains("weg damit")), "{inbox:?}");
    let legacy_subjects = || {
        let mut c = legacy.imap("alice", "alice-pw");
        c.ok("SELECT INBOX");
        let lines = c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT AUTO-SUBMITTED)])");
        c.logout();
        lines
            .iter()
            .flat_map(|l| l.literals.iter())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    };
    wait_until(
        60,
        200,
        || legacy_subjects().len() >= 3,
        || {
            format!(
                "replies never arrived: {:?}\n{}",
                legacy_subjects(),
                d.log_text()
            )
        },
    );
    // Time for a wrong second vacation reply to show up, too.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let got = legacy_subjects();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter().any(|h| h.contains("Subject: Im Urlaub")
            && h.contains("Auto-Submitted: auto-replied")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|h| h.contains("Subject: Rejected: weg damit")),
        "{got:?}"
    );
    let mut c = legacy.imap("bob", "bob-pw");
    let lines = c.ok("SELECT INBOX");
    c.logout();
    assert!(lines.iter().any(|l| l.text == "* 0 EXISTS"), "{lines:?}");
    let log = d.log_text();
    for why in ["mailing list", "null sender", "not in To or Cc"] {
        assert!(log.contains(why), "no vacation reply because {why}:\n{log}");
    }
}
