//! ManageSieve (RFC 5804) against `ferrymail serve`, over real sockets: every
//! command with its response codes (script names in German and Russian), a
//! script uploaded and activated here then filtering mail sent over SMTP,
//! hostile input (overlong lines, huge literals, garbage, error floods), and
//! Debian's `sieve-connect` uploading and activating a script over STARTTLS;
//! a first login of a user of a migrating domain starts their move and is
//! told to try later until the copy is done.

mod common;

use common::domains::{server, PLAINTEXT};
use common::legacy::{Legacy, LegacyOptions};
use common::ops::{add_account, wait_state};
use common::transcript::sasl_plain;
use common::{Daemon, Line, TestConfig};

const USER: &str = "anna@example.org";
const PASSWORD: &str = "anna-pw";

fn setup(auth: &str, listeners: &[&str]) -> (TestConfig, Daemon) {
    let cfg = TestConfig::new(
        &server(auth, listeners),
        &[("example.org", "domain = \"example.org\"\n")],
    );
    add_account(&cfg, USER, PASSWORD);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    (cfg, d)
}

/// Lines up to and including the one starting with OK, NO or BYE.
fn response(c: &mut Line) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let l = c.line();
        let end = l.is_empty() || ["OK", "NO", "BYE"].iter().any(|k| l.starts_with(k));
        out.push(l);
        if end {
            return out;
        }
    }
}

/// Sends a command; its last response line.
fn cmd(c: &mut Line, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes());
    response(c).pop().unwrap()
}

fn greeted(d: &Daemon) -> (Line, Vec<String>) {
    let mut c = Line::connect(d.addr("managesieve", "plain"));
    let caps = response(&mut c);
    assert_eq!(caps.last().unwrap(), "OK \"ferrymail ManageSieve ready\"");
    (c, caps)
}

fn logged_in(d: &Daemon) -> Line {
    let (mut c, _) = greeted(d);
    let r = cmd(
        &mut c,
        &format!(
            "AUTHENTICATE \"PLAIN\" \"{}\"",
            sasl_plain(USER.as_bytes(), PASSWORD)
        ),
    );
    assert_eq!(r, "OK \"Logged in\"");
    c
}

/// PUTSCRIPT with a non-synchronizing literal.
fn put(c: &mut Line, name: &str, script: &str) -> String {
    cmd(
        c,
        &format!("PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}", script.len()),
    )
}

const VACATION_FREE: &str = "require \"fileinto\";\r\nif header :contains \"subject\" \"Urlaub\" {\r\n  fileinto \"INBOX\";\r\n}\r\n";

#[test]
fn every_command_with_its_response_codes() {
    let (_cfg, d) = setup(PLAINTEXT, &["managesieve"]);
    let (mut c, caps) = greeted(&d);
    assert!(
        caps.contains(&"\"IMPLEMENTATION\" \"ferrymail\"".to_string()),
        "{caps:?}"
    );
    assert!(caps.contains(&"\"SASL\" \"PLAIN\"".to_string()), "{caps:?}");
    assert!(caps.contains(&"\"STARTTLS\"".to_string()), "{caps:?}");
    assert!(
        caps.contains(&"\"VERSION\" \"1.0\"".to_string()),
        "{caps:?}"
    );
    assert!(
        caps.contains(&"\"MAXREDIRECTS\" \"4\"".to_string()),
        "{caps:?}"
    );
    let sieve = caps.iter().find(|l| l.starts_with("\"SIEVE\"")).unwrap();
    assert!(
        sieve.contains("fileinto") && sieve.contains("imap4flags"),
        "{sieve}"
    );
    assert!(!caps.iter().any(|l| l.contains("NOTIFY")));

    // Before login.
    assert_eq!(cmd(&mut c, "LISTSCRIPTS"), "NO \"Authenticate first\"");
    let again = {
        c.send(b"CAPABILITY\r\n");
        response(&mut c)
    };
    assert_eq!(again.last().unwrap(), "OK \"Capability completed\"");
    assert_eq!(cmd(&mut c, "NOOP \"t1\""), "OK (TAG \"t1\") \"Done\"");
    let bad = sasl_plain(USER.as_bytes(), "wrong");
    assert_eq!(
        cmd(&mut c, &format!("AUTHENTICATE \"PLAIN\" \"{bad}\"")),
        "NO \"Authentication failed\""
    );
    assert_eq!(
        cmd(&mut c, "AUTHENTICATE \"DIGEST-MD5\""),
        "NO \"Unsupported authentication mechanism\""
    );
    // Cancelled, then with the response as a continuation (a literal).
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n");
    assert_eq!(c.line(), "\"\"");
    assert_eq!(cmd(&mut c, "\"*\""), "NO \"Authentication cancelled\"");
    c.send(b"Authenticate PLAIN\r\n");
    assert_eq!(c.line(), "\"\"");
    let good = sasl_plain(USER.as_bytes(), PASSWORD);
    assert_eq!(
        cmd(&mut c, &format!("{{{}+}}\r\n{good}", good.len())),
        "OK \"Logged in\""
    );
    assert_eq!(
        cmd(&mut c, "AUTHENTICATE \"PLAIN\""),
        "NO \"Already authenticated\""
    );

    // Scripts.
    assert_eq!(cmd(&mut c, "LISTSCRIPTS"), "OK \"Listscripts completed\"");
    assert_eq!(
        cmd(&mut c, "HAVESPACE \"Urlaub\" 1000"),
        "OK \"Putscript would succeed\""
    );
    assert!(cmd(&mut c, "HAVESPACE \"Urlaub\" 2000000").starts_with("NO (QUOTA/MAXSIZE)"));
    assert_eq!(put(&mut c, "Urlaub", VACATION_FREE), "OK \"Script stored\"");
    let broken = "require \"fileinto\";\r\n\r\nfrobnicate;\r\n";
    let r = put(&mut c, "Kaputt", broken);
    assert!(r.starts_with("NO \"line 3:1: "), "{r}");
    let r = cmd(&mut c, "CHECKSCRIPT \"keep;\"");
    assert_eq!(r, "OK \"Script is valid\"");
    let r = cmd(&mut c, "CHECKSCRIPT {9+}\r\nif tru {}");
    assert!(r.starts_with("NO \"line "), "{r}");
    // A quoted script, and a synchronizing-style literal.
    assert_eq!(
        cmd(&mut c, "PUTSCRIPT \"Фильтры\" \"discard;\""),
        "OK \"Script stored\""
    );
    assert_eq!(
        cmd(&mut c, "PUTSCRIPT \"Leer\" {5}\r\nkeep;"),
        "OK \"Script stored\""
    );
    assert_eq!(
        cmd(&mut c, "SETACTIVE \"Urlaub\""),
        "OK \"Script activated\""
    );
    c.send(b"LISTSCRIPTS\r\n");
    let mut list = response(&mut c);
    assert_eq!(list.pop().unwrap(), "OK \"Listscripts completed\"");
    list.sort();
    assert_eq!(list, vec!["\"Leer\"", "\"Urlaub\" ACTIVE", "\"Фильтры\""]);
    c.send(b"GETSCRIPT \"Urlaub\"\r\n");
    assert_eq!(c.line(), format!("{{{}}}", VACATION_FREE.len()));
    let mut body = String::new();
    while body.len() < VACATION_FREE.len() {
        body.push_str(&String::from_utf8(c.raw_line()).unwrap());
    }
    assert_eq!(body, VACATION_FREE);
    assert_eq!(c.line(), "");
    assert_eq!(c.line(), "OK \"Getscript completed\"");
    assert!(cmd(&mut c, "GETSCRIPT \"Ferien\"").starts_with("NO (NONEXISTENT)"));
    assert!(cmd(&mut c, "DELETESCRIPT \"Urlaub\"").starts_with("NO (ACTIVE)"));
    assert!(cmd(&mut c, "RENAMESCRIPT \"Urlaub\" \"Фильтры\"").starts_with("NO (ALREADYEXISTS)"));
    assert!(cmd(&mut c, "RENAMESCRIPT \"Nix\" \"Neu\"").starts_with("NO (NONEXISTENT)"));
    assert_eq!(
        cmd(&mut c, "RENAMESCRIPT \"Urlaub\" \"Ferien\""),
        "OK \"Script renamed\""
    );
    c.send(b"LISTSCRIPTS\r\n");
    let list = response(&mut c);
    assert!(list.contains(&"\"Ferien\" ACTIVE".to_string()), "{list:?}");
    assert!(cmd(&mut c, "SETACTIVE \"nope\"").starts_with("NO (NONEXISTENT)"));
    assert_eq!(cmd(&mut c, "SETACTIVE \"\""), "OK \"No script is active\"");
    assert_eq!(
        cmd(&mut c, "DELETESCRIPT \"Ferien\""),
        "OK \"Script deleted\""
    );
    assert!(cmd(&mut c, "DELETESCRIPT \"Ferien\"").starts_with("NO (NONEXISTENT)"));
    assert_eq!(
        cmd(&mut c, "PUTSCRIPT \"a\u{7}b\" \"keep;\""),
        "NO \"Invalid script name\""
    );
    assert_eq!(
        cmd(&mut c, "PUTSCRIPT \"\" \"keep;\""),
        "NO \"Invalid script name\""
    );
    assert!(cmd(&mut c, "PUTSCRIPT \"x\"").starts_with("NO \"Syntax error in the arguments"));

    // At most 32 scripts.
    for i in 0..30 {
        assert_eq!(
            put(&mut c, &format!("s{i}"), "keep;"),
            "OK \"Script stored\""
        );
    }
    assert!(put(&mut c, "eins-zu-viel", "keep;").starts_with("NO (QUOTA/MAXSCRIPTS)"));
    assert!(cmd(&mut c, "HAVESPACE \"eins-zu-viel\" 10").starts_with("NO (QUOTA/MAXSCRIPTS)"));
    assert_eq!(put(&mut c, "s0", "discard;"), "OK \"Script stored\"");

    assert_eq!(
        cmd(&mut c, "UNAUTHENTICATE"),
        "OK \"Unauthenticate completed\""
    );
    assert_eq!(cmd(&mut c, "LISTSCRIPTS"), "NO \"Authenticate first\"");
    let metrics = ferrymail::metrics::Metrics::default();
    let guard = metrics.session(ferrymail::config::Protocol::ManageSieve);
    assert_eq!(
        metrics.open_sessions(ferrymail::config::Protocol::ManageSieve),
        1
    );
    assert!(metrics
        .render("")
        .contains("ferrymail_sessions{protocol=\"managesieve\"} 1"));
    drop(guard);
    assert_eq!(cmd(&mut c, "LOGOUT"), "OK \"Logout completed\"");
    assert_eq!(c.try_line(), None);

    // The password never reaches the log.
    let log = d.log_text();
    assert!(log.contains("ManageSieve login"), "{log}");
    assert!(!log.contains(PASSWORD) && !log.contains(&good), "{log}");
}

#[test]
fn without_tls_plain_is_refused_and_starttls_refuses_pipelined_bytes() {
    let (_cfg, d) = setup("", &["managesieve"]);
    let (mut c, caps) = greeted(&d);
    assert!(caps.contains(&"\"SASL\" \"\"".to_string()), "{caps:?}");
    let r = cmd(
        &mut c,
        &format!(
            "AUTHENTICATE \"PLAIN\" \"{}\"",
            sasl_plain(USER.as_bytes(), PASSWORD)
        ),
    );
    assert!(r.starts_with("NO (ENCRYPT-NEEDED)"), "{r}");
    c.send(b"STARTTLS\r\nLISTSCRIPTS\r\n");
    assert!(c.line().starts_with("BYE"));
    assert_eq!(c.try_line(), None);
}

#[test]
fn a_script_uploaded_and_activated_filters_mail_sent_over_smtp() {
    let (_cfg, d) = setup(PLAINTEXT, &["managesieve", "smtp", "imap"]);
    let mut c = logged_in(&d);
    let script = "require [\"fileinto\", \"mailbox\"];\r\nif header :contains \"subject\" \"Ferien\" {\r\n  fileinto :create \"Urlaub\";\r\n}\r\n";
    assert_eq!(put(&mut c, "Фильтры", script), "OK \"Script stored\"");
    assert_eq!(
        cmd(&mut c, "SETACTIVE \"Фильтры\""),
        "OK \"Script activated\""
    );
    assert_eq!(cmd(&mut c, "LOGOUT"), "OK \"Logout completed\"");

    for subject in ["Ferien im Mai", "Rechnung"] {
        let mut s = Line::connect(d.addr("smtp", "plain"));
        s.expect("220");
        s.expect_code("EHLO sender.test", "250");
        s.expect_code("MAIL FROM:<bob@example.net>", "250");
        s.expect_code(&format!("RCPT TO:<{USER}>"), "250");
        s.expect_code("DATA", "354");
        s.send(
            format!(
                "From: bob@example.net\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\nHallo.\r\n.\r\n"
            )
            .as_bytes(),
        );
        assert!(s.reply().starts_with("250"));
        s.send_line("QUIT");
    }

    let mut i = Line::connect(d.addr("imap", "plain"));
    i.expect("* OK");
    i.send_line(&format!("a LOGIN {USER} {PASSWORD}"));
    i.expect("a OK");
    for (folder, subject) in [("Urlaub", "Ferien im Mai"), ("INBOX", "Rechnung")] {
        i.send_line(&format!("b SELECT {folder}"));
        let mut exists = String::new();
        loop {
            let l = i.line();
            if l.ends_with(" EXISTS") {
                exists = l.clone();
            }
            if l.starts_with("b ") {
                assert!(l.starts_with("b OK"), "{l}");
                break;
            }
        }
        assert_eq!(exists, "* 1 EXISTS", "{folder}");
        i.send_line("c FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
        let mut found = false;
        loop {
            let l = i.line();
            found |= l == format!("Subject: {subject}");
            if l.starts_with("c ") {
                break;
            }
        }
        assert!(found, "{folder} lacks {subject}");
    }
}

#[test]
fn hostile_input_is_answered_and_bounded() {
    let (_cfg, d) = setup(PLAINTEXT, &["managesieve"]);
    // An overlong line: answered, the session goes on.
    let (mut c, _) = greeted(&d);
    c.send(&vec![b'A'; 20_000]);
    c.send(b"\r\n");
    assert_eq!(response(&mut c).pop().unwrap(), "NO \"Line too long\"");
    assert_eq!(cmd(&mut c, "NOOP"), "OK \"NOOP completed\"");
    // Garbage.
    assert!(cmd(&mut c, "\u{1}\u{2}\u{ff}").starts_with("NO \"Syntax error"));
    c.send(b"\xff\xfe\0\r\n");
    assert!(response(&mut c).pop().unwrap().starts_with("NO"));
    assert!(cmd(&mut c, "PUTSCRIPT \"x").starts_with("NO \"Syntax error"));
    // A literal larger than a SASL response, before login: closed.
    assert!(cmd(&mut c, "AUTHENTICATE \"PLAIN\" {100000+}").starts_with("NO (QUOTA/MAXSIZE)"));
    assert_eq!(c.try_line(), None);

    // Logged in: a literal over the largest script.
    let mut c = logged_in(&d);
    let r = cmd(&mut c, "PUTSCRIPT \"gross\" {2000000+}");
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert_eq!(c.try_line(), None);
    let mut c = logged_in(&d);
    let r = cmd(&mut c, "PUTSCRIPT \"gross\" {99999999999+}");
    assert!(r.starts_with("NO \"Syntax error"), "{r}");

    // Many bad commands: closed.
    let (mut c, _) = greeted(&d);
    for _ in 0..11 {
        assert_eq!(cmd(&mut c, "FROBNICATE"), "NO \"Unknown command\"");
    }
    assert_eq!(c.line(), "BYE \"Too many errors; closing\"");
    assert_eq!(c.try_line(), None);

    // Five wrong passwords: closed.
    let (mut c, _) = greeted(&d);
    let bad = sasl_plain(USER.as_bytes(), "falsch");
    for _ in 0..4 {
        assert_eq!(
            cmd(&mut c, &format!("AUTHENTICATE \"PLAIN\" \"{bad}\"")),
            "NO \"Authentication failed\""
        );
    }
    c.send(format!("AUTHENTICATE \"PLAIN\" \"{bad}\"\r\n").as_bytes());
    assert_eq!(c.line(), "NO \"Authentication failed\"");
    assert!(c.line().starts_with("BYE"));
    assert_eq!(c.try_line(), None);
    // The daemon is still there.
    let mut c = logged_in(&d);
    assert_eq!(cmd(&mut c, "LOGOUT"), "OK \"Logout completed\"");
}

#[test]
fn sieve_connect_uploads_and_activates_a_script_over_starttls() {
    let (cfg, d) = setup("", &["managesieve"]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("regeln.siv");
    std::fs::write(&local, "require \"fileinto\";\nfileinto \"Archiv\";\n").unwrap();
    let port = d.addr("managesieve", "plain").port().to_string();
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new("sieve-connect");
        c.args(["--server", "127.0.0.1", "--port", &port, "--user", USER])
            .args(["--passwordfd", "0", "--notlsverify", "--noclearchan"])
            .args(extra)
            .env("HOME", dir.path());
        common::output_with_stdin(&mut c, &format!("{PASSWORD}\n"))
    };
    let out = run(&[
        "--localsieve",
        local.to_str().unwrap(),
        "--remotesieve",
        "Regeln",
        "--upload",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--remotesieve", "Regeln", "--activate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("Regeln"), "{listed}");

    // On disk, as delivery sees it.
    let id = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = ferrymail::store::Store::open(&cfg.data_dir()).unwrap();
        store.account(USER).await.unwrap().unwrap().id
    });
    let scripts = ferrymail::filter::Scripts::of(&cfg.data_dir(), id);
    assert_eq!(scripts.active_name().unwrap().as_deref(), Some("Regeln"));
    assert_eq!(
        scripts.get("Regeln").unwrap(),
        b"require \"fileinto\";\nfileinto \"Archiv\";\n"
    );
}

#[test]
fn a_first_login_of_a_legacy_user_starts_the_move_and_is_told_to_try_later() {
    let legacy = Legacy::start(LegacyOptions::with_users(&["alice"]));
    let mut c = legacy.imap("alice", "alice-pw");
    for i in 0..20 {
        let body = format!("From: x@example.net\r\nSubject: m{i}\r\n\r\nHallo {i}.\r\n");
        c.append("INBOX", "", "01-Jan-2020 10:00:00 +0100", body.as_bytes());
    }
    c.logout();
    let domain = common::domains::migrating(
        &legacy,
        common::domains::MigratingDomain {
            migration: "serve_locally_within_ms = 0",
            ..Default::default()
        },
    );
    let cfg = TestConfig::new(
        &server(PLAINTEXT, &["managesieve"]),
        &[("example.org", &domain)],
    );
    let d = Daemon::start_with(&cfg.path(), &cfg.data_dir(), |cmd| {
        cmd.env("FERRYMAIL_TEST_COPY_DELAY_MS", "100");
    });
    let alice = "alice@example.org";
    let auth = format!(
        "AUTHENTICATE \"PLAIN\" \"{}\"",
        sasl_plain(alice.as_bytes(), "alice-pw")
    );
    let (mut c, _) = greeted(&d);
    let r = cmd(&mut c, &auth);
    assert!(
        r.starts_with("NO (TRYLATER) \"your mailbox is being moved"),
        "{r}"
    );
    // Still usable: a wrong password is refused, not told to wait.
    let bad = sasl_plain(alice.as_bytes(), "falsch");
    assert_eq!(
        cmd(&mut c, &format!("AUTHENTICATE \"PLAIN\" \"{bad}\"")),
        "NO \"Authentication failed\""
    );
    wait_state(&cfg, &d, alice, "migrated");
    let r = cmd(&mut c, &auth);
    assert_eq!(r, "OK \"Logged in\"", "{}", d.log_text());
    assert_eq!(put(&mut c, "Urlaub", "keep;"), "OK \"Script stored\"");
}

#[test]
fn check_config_knows_the_section_and_idle_sessions_time_out() {
    let cfg = TestConfig::new(
        "[managesieve]\nlisten = [\"nowhere\"]\nlisten_tls = [\"127.0.0.1:5190\"]\ntimeout_secs = 0\n",
        &[("example.org", "domain = \"example.org\"\n")],
    );
    let path = cfg.path();
    let (code, out, err) =
        common::run_cli(&["check-config", "--config", path.to_str().unwrap()], "");
    assert_eq!(code, 1, "{out}{err}");
    let err = format!("{out}{err}");
    assert!(
        err.contains("managesieve.listen: `nowhere` is not an address"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `managesieve.listen_tls`"),
        "{err}"
    );
    assert!(
        err.contains("managesieve.timeout_secs must be at least 1"),
        "{err}"
    );

    let (_cfg, d) = setup(
        &format!("{PLAINTEXT}\n[managesieve]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 1"),
        &[],
    );
    let mut c = logged_in(&d);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(c.line(), "BYE \"Autologout timer expired\"");
    assert_eq!(c.try_line(), None);
}
