//! The Sieve interpreter (src/sieve) over its public API: the examples of
//! RFC 5228 §9 and of the extension RFCs, extensions, limits and hostile
//! scripts. Pure library: no daemon, no sockets (nothing is wired into
//! delivery yet).

use ferrymail::sieve::{self, Action, Context, Envelope, Host, Limits, NoHost};

const MSG: &str = "Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\n\
From: coyote@desert.example.org\r\n\
To: roadrunner@acme.example.com\r\n\
Subject: I have a present for you\r\n\
Received: from a by b; Tue, 1 Apr 1997 09:06:35 -0800\r\n\
Received: from c by a; Tue, 1 Apr 1997 09:06:33 -0800\r\n\
X-Spam-Score: 12\r\n\
\r\n\
Look, I'm sorry about the whole anvil thing, and I really\r\n\
didn't mean to try and drop it on you from the top of the\r\n\
cliff.  I want to try to make it up to you.\r\n";

/// 2026-12-04 12:00:00 UTC.
const NOW: i64 = 1_796_385_600;

fn ctx(host: &dyn Host) -> Context<'_> {
    Context::new(
        Envelope {
            from: "coyote@desert.example.org".into(),
            to: "ken+sieve@acme.example.com".into(),
        },
        NOW,
        host,
    )
}

fn try_run_host(script: &str, msg: &str, host: &dyn Host) -> Result<Vec<Action>, sieve::Error> {
    let s = sieve::parse(script.as_bytes())?;
    sieve::run(&s, msg.as_bytes(), &ctx(host))
}

fn try_run(script: &str, msg: &str) -> Result<Vec<Action>, sieve::Error> {
    try_run_host(script, msg, &NoHost)
}

fn run(script: &str) -> Vec<Action> {
    try_run(script, MSG).unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

fn into(m: &str) -> Action {
    Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
        create: false,
    }
}

fn err(script: &str) -> String {
    match sieve::parse(script.as_bytes()) {
        Ok(_) => panic!("accepted: {script}"),
        Err(e) => e.to_string(),
    }
}

const RFC5228_9_1: &str = r#"# Example Sieve Filter
# Declare any optional features or extension used by the script
require ["fileinto"];

# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"#;

#[test]
fn rfc5228_examples() {
    assert_eq!(run(RFC5228_9_1), vec![into("spam")]);
    let to_me = MSG.replace("roadrunner@acme.example.com", "me@example.com");
    assert_eq!(try_run(RFC5228_9_1, &to_me).unwrap(), vec![keep()]);
    let other = MSG.replace("roadrunner@acme.example.com", "me@example.com.au");
    assert_eq!(
        try_run(RFC5228_9_1, &other).unwrap(),
        vec![into("personal")]
    );
    let list = format!("Sender: owner-ietf-mta-filters@imc.org\r\n{MSG}");
    assert_eq!(try_run(RFC5228_9_1, &list).unwrap(), vec![into("filter")]);

    // §2.10.2 / §4: the implicit keep, discard, stop.
    assert_eq!(run("# nothing\r\n"), vec![keep()]);
    assert_eq!(run("discard;"), vec![Action::Discard]);
    assert_eq!(run("stop; discard;"), vec![keep()]);
    assert_eq!(run("keep; keep;"), vec![keep()]);
    assert_eq!(
        run("require \"fileinto\"; fileinto \"INBOX\"; keep; fileinto \"a\"; fileinto \"a\";"),
        vec![keep(), into("a")]
    );
    assert_eq!(run("discard; keep;"), vec![keep()]);
    assert_eq!(
        run(
            r#"if header :contains "from" "coyote" { discard; } elsif header :contains ["subject"] ["$$$"] { discard; } else { keep; }"#
        ),
        vec![Action::Discard]
    );
    // §5: size, exists, true/false, not, allof.
    assert_eq!(run("if size :over 100 { discard; }"), vec![Action::Discard]);
    assert_eq!(run("if size :under 1K { discard; }"), vec![Action::Discard]);
    assert_eq!(run("if size :over 1M { discard; }"), vec![keep()]);
    assert_eq!(
        run(r#"if exists ["From", "Date"] { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        run(r#"if exists ["From", "X-Nope"] { discard; }"#),
        vec![keep()]
    );
    assert_eq!(
        run("if allof (true, not false) { discard; }"),
        vec![Action::Discard]
    );
    assert_eq!(run("if anyof (false, not true) { discard; }"), vec![keep()]);
    // Comparators and address parts.
    assert_eq!(
        run(
            r#"if header :is :comparator "i;octet" "subject" "i have a present for you" { discard; }"#
        ),
        vec![keep()]
    );
    assert_eq!(
        run(r#"if header :is "subject" "i have a PRESENT for you" { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        run(r#"if address :localpart :is "from" "coyote" { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        run(r#"if header :matches "subject" "I ?ave*" { discard; }"#),
        vec![Action::Discard]
    );
    // Multi-line strings with dot-stuffing, redirect.
    assert_eq!(
        run("redirect text:\r\nroadrunner@example.org\r\n.\r\n;"),
        vec![Action::Redirect {
            address: "roadrunner@example.org".into(),
            copy: false
        }]
    );
}

#[test]
fn errors_have_places_and_reasons() {
    assert_eq!(
        err("keep;\nfileinto \"x\";"),
        "line 2:1: fileinto requires require \"fileinto\""
    );
    assert_eq!(
        err("frobnicate;"),
        "line 1:1: unknown command \"frobnicate\""
    );
    assert_eq!(err("if frob { keep; }"), "line 1:4: unknown test \"frob\"");
    assert_eq!(
        err("if header :bogus \"a\" \"b\" { keep; }"),
        "line 1:11: unknown tag :bogus for header"
    );
    assert!(err("require \"x-unknown\";").contains("unsupported extension \"x-unknown\""));
    assert_eq!(
        sieve::unsupported_extensions(
            b"require [\"fileinto\", \"vnd.dovecot.pipe\"]; require \"Notify\"; keep;"
        ),
        vec!["vnd.dovecot.pipe".to_string(), "notify".to_string()]
    );
    assert!(sieve::unsupported_extensions(b"require \"fileinto\"; fileinto \"x\";").is_empty());
    assert!(err("keep; require \"fileinto\";").contains("require must come before"));
    assert!(err("if true { require \"fileinto\"; }").contains("require must come before"));
    assert!(err("else { keep; }").contains("else without a preceding if"));
    assert!(err("keep \"x\";").contains("keep takes 0 positional arguments"));
    assert!(err("require \"fileinto\"; fileinto;").contains("takes 1 positional argument"));
    assert!(err("if size 100 { keep; }").contains(":over or :under"));
    assert!(err("if header :is :contains \"a\" \"b\" {}").contains("cannot be used together"));
    assert!(err("if header :comparator \"i;foo\" \"a\" \"b\" {}").contains("unknown comparator"));
    assert!(err("if header :count \"ge\" \"a\" \"b\" {}")
        .contains(":count requires require \"relational\""));
    assert!(
        err("require \"copy\"; redirect :copy \"not an address\";").contains("not a valid address")
    );
    assert!(err("if true keep;").contains("if needs a block"));
    assert!(err("if true { keep; ").contains("'}'"));
    assert!(err("keep").contains("end of script"));
    assert!(err("if header \"a\" { }").contains("takes 2 positional"));
    assert!(err("if not (true, false) { }").contains("not takes exactly one test"));
    assert!(err("if true, false { }").contains("expected"));
    assert!(err("keep :flags \"a\";").contains(":flags requires require \"imap4flags\""));
    assert!(err("require \"regex\"; if header :regex \"a\" \"(\" {}").contains("invalid regex"));
    assert!(
        err("require \"date\"; if date \"date\" \"century\" \"1\" {}")
            .contains("unknown date part")
    );
}

#[test]
fn hostile_scripts() {
    // Deep nesting of blocks and of tests: an error, not a stack overflow.
    let deep = "if true {".repeat(100_000) + &"}".repeat(100_000);
    assert!(err(&deep).contains("nesting deeper than 32"));
    let nots = "if ".to_string() + &"not ".repeat(200_000) + "true {}";
    assert!(err(&nots).contains("nesting"));
    let parens = "if ".to_string() + &"anyof(".repeat(100_000) + "true";
    assert!(err(&parens).contains("nesting"));
    // Huge strings and scripts.
    let big = format!(
        "require \"fileinto\"; fileinto \"{}\";",
        "a".repeat(2 << 20)
    );
    assert!(err(&big).contains("larger than"));
    let ok = format!(
        "if header :contains \"subject\" \"{}\" {{ discard; }}",
        "é".repeat(300_000)
    );
    assert_eq!(run(&ok), vec![keep()]);
    // Unterminated things.
    assert!(err("vacation text:\r\nI am away\r\n").contains("unterminated text:"));
    assert!(err("keep; \"abc").contains("line 1:7: unterminated quoted string"));
    assert!(err("/* never closed").contains("unterminated /* comment"));
    // Invalid UTF-8.
    assert_eq!(
        sieve::parse(b"keep;\r\nif header :is \"a\" \"\xc3\x28\" {}")
            .unwrap_err()
            .to_string(),
        "line 2:20: the script is not valid UTF-8"
    );
    // 100,000 tests in one script: runs within the default step limit.
    let many = format!(
        "if anyof ({}false) {{ discard; }}",
        "false, ".repeat(99_999)
    );
    let s = sieve::parse(many.as_bytes()).unwrap();
    assert_eq!(
        sieve::run(&s, MSG.as_bytes(), &ctx(&NoHost)).unwrap(),
        vec![keep()]
    );
    // ... and a step limit stops a long run with an error.
    let tests = "if header :contains \"subject\" \"zzz\" { discard; }\n".repeat(20_000);
    let s = sieve::parse(tests.as_bytes()).unwrap();
    let mut c = ctx(&NoHost);
    c.limits = Limits {
        max_steps: 10_000,
        ..Limits::default()
    };
    let e = sieve::run(&s, MSG.as_bytes(), &c).unwrap_err();
    assert!(e.to_string().contains("more than 10000 steps"), "{e}");
    // Redirect limit.
    let r = (0..6)
        .map(|i| format!("redirect \"u{i}@example.org\";"))
        .collect::<String>();
    assert!(try_run(&r, MSG)
        .unwrap_err()
        .to_string()
        .contains("more than 4 redirects"));
    // A pathological :matches pattern on a long header is quick.
    let long = format!("Subject: {}\r\n\r\nx", "a".repeat(50_000));
    assert_eq!(
        try_run(
            r#"if header :matches "subject" "*a*a*a*a*a*a*a*b" { discard; }"#,
            &long
        )
        .unwrap(),
        vec![keep()]
    );
    // A huge header read by many tests is decoded once; size costs steps.
    let huge = format!(
        "Subject: {}\r\nTo: {}\r\n\r\nx",
        "=?UTF-8?Q?=C3=A9?= ".repeat(50_000),
        "a@b.c, ".repeat(50_000)
    );
    let tests = "if header :count \"eq\" \"subject\" \"1\" { }\nif address :count \"eq\" \"to\" \"1\" { }\n";
    let s = format!("require \"relational\";\n{}", tests.repeat(10_000));
    let started = std::time::Instant::now();
    let r = try_run(&s, &huge);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(r.unwrap_err().to_string().contains("steps"));
    // Expanding big variables costs steps.
    let s = format!(
        "require \"variables\"; set \"a\" \"{}\";\n{}",
        "x".repeat(4000),
        format!("set \"b\" \"{}\";\n", "${a}".repeat(64)).repeat(3000)
    );
    let script = sieve::parse(s.as_bytes()).unwrap();
    let mut c = ctx(&NoHost);
    c.limits.max_steps = 100_000;
    let e = sieve::run(&script, MSG.as_bytes(), &c).unwrap_err();
    assert!(e.to_string().contains("more than 100000 steps"), "{e}");
    // Distinct regexes built at runtime: compiling costs steps.
    let s = format!(
        "require [\"regex\", \"variables\"];\n{}",
        "set \"n\" \"${n}x\"; if string :regex \"zz\" \"(${n})+q\" { }\n".repeat(15_000)
    );
    let started = std::time::Instant::now();
    let r = try_run(&s, MSG);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(r.unwrap_err().to_string().contains("steps"));
    // Error messages quoting the script stay short.
    let long_name = format!("{};", "x".repeat(100_000));
    assert!(err(&long_name).len() < 500);
    let long_addr = format!("redirect \"{}\";", "ü".repeat(100_000));
    assert!(err(&long_addr).len() < 500);
    // Garbage never panics.
    for junk in [
        &b"\0\0\0"[..],
        b"if",
        b"if (",
        b"[\"a\",",
        b"text:",
        b":",
        b"}",
        b"{{{{",
        b"\"\\",
    ] {
        assert!(sieve::parse(junk).is_err());
    }
    // A message without a header, or not a message at all.
    for m in ["", "\r\n\r\n", "no colon here\r\n", "\u{0}\u{1}"] {
        assert_eq!(try_run(RFC5228_9_1, m).unwrap(), vec![into("spam")]);
    }
}

#[test]
fn non_ascii_folders_and_encoded_headers() {
    let s = r#"require ["fileinto", "variables"];
if header :contains "subject" "Черновики" { fileinto "Черновики"; }
if header :is "x-folder" "Entwürfe" { fileinto "Entwürfe"; }
if header :matches "x-cn" "*件箱" { fileinto "${1}件箱"; }"#;
    let msg = "Subject: =?UTF-8?B?0KfQtdGA0L3QvtCy0LjQutC4INC+0YLRh9GR0YI=?=\r\n\
X-Folder: =?ISO-8859-1?Q?Entw=FCrfe?=\r\n\
X-CN: 收件箱\r\n\r\nbody\r\n";
    assert_eq!(
        try_run(s, msg).unwrap(),
        vec![into("Черновики"), into("Entwürfe"), into("收件箱")]
    );
    // encoded-character (RFC 5228 §2.4.2.4).
    let s = r#"require ["encoded-character", "fileinto"];
if header :contains "subject" "${unicode:50}resent" { fileinto "${hex:45 6E 74 77 C3 BC 72 66 65}"; }"#;
    assert_eq!(run(s), vec![into("Entwürfe")]);
    assert!(err(
        "require [\"encoded-character\", \"imap4flags\"]; keep :flags \"${unicode:D800}\";"
    )
    .contains("Unicode"));
}

#[test]
fn envelope_subaddress_copy_mailbox() {
    assert_eq!(
        run(
            r#"require "envelope"; if envelope :domain :is "from" "desert.example.org" { discard; }"#
        ),
        vec![Action::Discard]
    );
    assert_eq!(
        run(r#"require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "sieve" { fileinto "sieve"; }
if envelope :user "to" "ken" { fileinto "ken"; }"#),
        vec![into("sieve"), into("ken")]
    );
    let mut c = ctx(&NoHost);
    c.envelope.from = String::new();
    let s =
        sieve::parse(br#"require "envelope"; if envelope :localpart :is "from" "" { discard; }"#)
            .unwrap();
    assert_eq!(
        sieve::run(&s, MSG.as_bytes(), &c).unwrap(),
        vec![Action::Discard]
    );
    assert_eq!(
        run(
            r#"require ["copy", "fileinto"]; redirect :copy "a@example.org"; fileinto :copy "Archive";"#
        ),
        vec![
            Action::Redirect {
                address: "a@example.org".into(),
                copy: true
            },
            into("Archive"),
            keep()
        ]
    );
    struct Boxes;
    impl Host for Boxes {
        fn mailbox_exists(&self, name: &str) -> bool {
            name == "Lists"
        }
    }
    let s = r#"require ["mailbox", "fileinto"];
if mailboxexists "Lists" { fileinto :create "Lists/ietf"; }
if mailboxexists ["Lists", "Nope"] { discard; }"#;
    assert_eq!(
        try_run_host(s, MSG, &Boxes).unwrap(),
        vec![Action::FileInto {
            mailbox: "Lists/ietf".into(),
            flags: vec![],
            create: true
        }]
    );
}

#[test]
fn imap4flags_rfc5232() {
    let s = r#"require ["imap4flags", "fileinto"];
if header :contains "from" "coyote" {
    addflag "\\Flagged";
    addflag ["\\Seen", "\\flagged"];
    fileinto "INBOX.From Coyote";
}
if hasflag :contains "flag" { removeflag "\\Seen"; }
"#;
    assert_eq!(
        run(s),
        vec![Action::FileInto {
            mailbox: "INBOX.From Coyote".into(),
            flags: vec!["\\Flagged".into(), "\\Seen".into()],
            create: false
        },]
    );
    let s = r#"require ["imap4flags", "fileinto", "variables"];
setflag "\\Seen $Label1";
keep :flags "\\Deleted";
setflag "myflags" "A B";
addflag "myflags" "C";
if hasflag "myflags" "b" { fileinto :flags "${myflags}" "X"; }
if hasflag :count "eq" :comparator "i;ascii-numeric" "myflags" "3" { addflag "Three"; }
"#;
    let s = format!("require \"relational\"; require \"comparator-i;ascii-numeric\";\n{s}");
    // Two require commands in a row are fine.
    assert_eq!(
        run(&s),
        vec![
            Action::Keep {
                flags: vec!["\\Deleted".into()]
            },
            Action::FileInto {
                mailbox: "X".into(),
                flags: vec!["A".into(), "B".into(), "C".into()],
                create: false
            },
        ]
    );
    // The implicit keep carries the internal flags.
    assert_eq!(
        run("require \"imap4flags\"; setflag \"\\\\Seen\";"),
        vec![Action::Keep {
            flags: vec!["\\Seen".into()]
        }]
    );
}

#[test]
fn variables_rfc5229() {
    let s = r#"require ["variables", "vacation"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
vacation :subject "Gone ${first_name}" "${vacation}";"#;
    let a = run(s);
    let Action::Vacation(v) = &a[0] else {
        panic!("{a:?}")
    };
    assert_eq!(
        v.reason,
        "Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n"
    );
    assert_eq!(v.subject.as_deref(), Some("Gone Wile"));
    assert_eq!(a[1], keep());

    let mods = r#"require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "${a}"; fileinto "${b}";
set :lower "b" "${a}"; fileinto "${b}";
set :upperfirst "b" "${a}"; fileinto "${b}";
set :upperfirst :lower "b" "${a}"; fileinto "${b}";
set :quotewildcard "b" "Rock*"; fileinto "${b}";
fileinto "${unknown}x${}${1}$";"#;
    assert_eq!(
        run(mods),
        vec![
            into("15"),
            into("jumbled letters"),
            into("JuMBlEd lETteRS"),
            into("Jumbled letters"),
            into("Rock\\*"),
            into("x${}$"),
        ]
    );

    let m = r#"require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
if header :matches "Subject" "[*] *" {
    fileinto "INBOX.lists.${1}"; stop;
}
if address :matches ["To", "Cc"] ["coyote@**.com", "wile@**.com"] {
    fileinto "INBOX.business.${2}"; stop;
}"#;
    let msg = "List-ID: Sieve <sieve@ietf.example.org>\r\n\r\n";
    assert_eq!(try_run(m, msg).unwrap(), vec![into("INBOX.lists.sieve")]);
    let msg = "Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n";
    assert_eq!(
        try_run(m, msg).unwrap(),
        vec![into("INBOX.lists.acme-users")]
    );
    let msg = "To: coyote@ACME.Example.COM\r\n\r\n";
    assert_eq!(
        try_run(m, msg).unwrap(),
        vec![into("INBOX.business.ACME.Example")]
    );

    // string test, :count ignores empty strings.
    let s = r#"require ["variables", "relational", "comparator-i;ascii-numeric"];
set "a" "x"; set "b" "";
if string :count "eq" :comparator "i;ascii-numeric" ["${a}", "${b}"] "1" { discard; }"#;
    assert_eq!(run(s), vec![Action::Discard]);
    assert!(err("require \"variables\"; set \"1\" \"x\";").contains("invalid variable name"));
    assert!(err("require \"variables\"; set :lower :upper \"a\" \"x\";").contains("together"));
}

#[test]
fn relational_rfc5231() {
    let pre = "require [\"relational\", \"comparator-i;ascii-numeric\"];\n";
    let t = |s: &str| run(&format!("{pre}{s}"));
    assert_eq!(
        t(r#"if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5" { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        t(r#"if header :value "gt" "x-spam-score" "5" { discard; }"#),
        vec![keep()],
        "\"12\" < \"5\" as strings"
    );
    assert_eq!(
        t(r#"if header :count "ge" :comparator "i;ascii-numeric" "received" "2" { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        t(r#"if address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "1" { discard; }"#),
        vec![Action::Discard]
    );
    assert!(err(&format!(
        "{pre}if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" {{}}"
    ))
    .contains("only supports"));
    assert!(
        err(&format!("{pre}if header :value \"xx\" \"a\" \"1\" {{}}")).contains("unknown relation")
    );
}

#[test]
fn reject_and_vacation() {
    assert_eq!(
        run(r#"require "reject"; reject "I don't want it";"#),
        vec![Action::Reject {
            reason: "I don't want it".into(),
            extended: false
        }]
    );
    assert_eq!(
        run(r#"require "ereject"; ereject "no";"#),
        vec![Action::Reject {
            reason: "no".into(),
            extended: true
        }]
    );
    let e = try_run(r#"require "reject"; keep; reject "x";"#, MSG).unwrap_err();
    assert!(e.to_string().contains("cannot be combined"), "{e}");
    let e = try_run(
        r#"require ["reject", "vacation"]; vacation "a"; reject "x";"#,
        MSG,
    )
    .unwrap_err();
    assert_eq!(e.line, 1);
    let s = r#"require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"] :handle "h1" :from "me@example.edu" :mime text:
Content-Type: text/plain

I'm away until October 19.
.
;
}"#;
    let a = run(s);
    assert_eq!(
        a[0],
        Action::Vacation(sieve::Vacation {
            handle: Some("h1".into()),
            days: Some(23),
            seconds: None,
            subject: None,
            from: Some("me@example.edu".into()),
            addresses: vec!["tjs@example.edu".into(), "ts4z@landru.example.edu".into()],
            mime: true,
            reason: "Content-Type: text/plain\r\n\r\nI'm away until October 19.\r\n".into(),
        })
    );
    assert_eq!(a[1], keep());
    let a = run(r#"require "vacation-seconds"; vacation :seconds 1800 "back soon";"#);
    assert!(matches!(&a[0], Action::Vacation(v) if v.seconds == Some(1800)));
    assert!(err(r#"require "vacation"; vacation :seconds 5 "x";"#).contains("vacation-seconds"));
    assert!(
        err(r#"require "vacation-seconds"; vacation :days 1 :seconds 5 "x";"#).contains("together")
    );
}

#[test]
fn body_date_index_regex() {
    assert_eq!(
        run(r#"require "body"; if body :contains "anvil" { discard; }"#),
        vec![Action::Discard]
    );
    assert_eq!(
        run(r#"require "body"; if body :raw :contains "ANVIL THING" { discard; }"#),
        vec![Action::Discard]
    );
    let mime = "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<b>html part</b>\r\n--b--\r\n";
    let s = r#"require ["body", "fileinto"];
if body :text :contains "grüße" { fileinto "a"; }
if body :content "text/html" :contains "html part" { fileinto "b"; }
if body :content "text/plain" :contains "html part" { fileinto "c"; }"#;
    assert_eq!(try_run(s, mime).unwrap(), vec![into("a"), into("b")]);

    let d = r#"require ["date", "relational", "fileinto", "index"];
if date :is "date" "year" "1997" { fileinto "y"; }
if date :originalzone :is "date" "hour" "09" { fileinto "h9"; }
if date :zone "+0000" :is "date" "hour" "17" { fileinto "h17"; }
if date :is "date" "weekday" "2" { fileinto "tue"; }
if date :index 1 :last :is "received" "second" "33" { fileinto "last"; }
if date :index 1 :is "received" "second" "35" { fileinto "first"; }
if currentdate :zone "+0100" :is "iso8601" "2026-12-04T13:00:00+01:00" { fileinto "now"; }
if currentdate :value "ge" "date" "2026-01-01" { fileinto "after"; }"#;
    assert_eq!(
        run(d),
        vec![
            into("y"),
            into("h9"),
            into("h17"),
            into("tue"),
            into("last"),
            into("first"),
            into("now"),
            into("after")
        ]
    );
    let r = r#"require ["regex", "variables", "fileinto"];
if header :regex "subject" "^I have a (.*) for" { fileinto "got-${1}"; }
set :quoteregex "q" "a.b"; if string :regex "axb" "${q}" { discard; }"#;
    assert_eq!(run(r), vec![into("got-present")]);
    assert_eq!(
        run(r#"require "index"; if header :index 2 :contains "received" "from c" { discard; }"#),
        vec![Action::Discard]
    );
}

struct Scripts;

impl Host for Scripts {
    fn load_script(&self, name: &str, global: bool) -> Option<Vec<u8>> {
        let s: &str = match (name, global) {
            ("spam", false) => {
                "require [\"fileinto\", \"include\"]; if header :contains \"subject\" \"present\" { fileinto \"Junk\"; return; } fileinto \"never\";"
            }
            ("loop", false) => "require \"include\"; include \"loop\";",
            ("broken", false) => "keep",
            ("stopper", true) => "stop;",
            ("setter", false) => {
                "require [\"include\", \"variables\"]; global \"who\"; set \"who\" \"coyote\";"
            }
            _ => return None,
        };
        Some(s.as_bytes().to_vec())
    }
}

#[test]
fn include_rfc6609() {
    let t = |s: &str| try_run_host(s, MSG, &Scripts);
    assert_eq!(
        t(r#"require "include"; include "spam"; include :once "spam"; include :once "spam";"#)
            .unwrap(),
        vec![Action::FileInto {
            mailbox: "Junk".into(),
            flags: vec![],
            create: false
        }]
    );
    assert!(t(r#"require "include"; include "loop";"#)
        .unwrap_err()
        .to_string()
        .contains("include loop"));
    let e = t(r#"require "include";
include "loop";"#)
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2:1: in included script \"loop\": line 1:20: include loop: \"loop\" includes itself"
    );
    // The same script included many times is compiled once.
    let many = format!(
        "require \"include\";\n{}",
        "include \"spam\";\n".repeat(20_000)
    );
    assert_eq!(t(&many).unwrap().len(), 1);
    assert!(t(r#"require "include"; include "missing";"#)
        .unwrap_err()
        .to_string()
        .contains("not found"));
    assert_eq!(
        t(r#"require "include"; include :optional "missing"; discard;"#).unwrap(),
        vec![Action::Discard]
    );
    let e = t(r#"require "include"; include "broken";"#).unwrap_err();
    assert!(
        e.to_string().contains("in included script \"broken\""),
        "{e}"
    );
    assert_eq!(
        t(r#"require "include"; include :global "stopper"; discard;"#).unwrap(),
        vec![keep()]
    );
    assert_eq!(
        t(r#"require ["include", "variables", "fileinto"]; global "who"; include "setter"; fileinto "${who}";"#)
            .unwrap(),
        vec![into("coyote")]
    );
}

/// Random scripts made of Sieve fragments: parse and run never panic.
#[test]
fn random_fragments_never_panic() {
    const FRAGMENTS: &[&str] = &[
        "require", "[\"fileinto\", \"variables\", \"imap4flags\", \"relational\", \"regex\", \"body\", \"date\", \"index\", \"include\", \"vacation\", \"envelope\", \"subaddress\", \"copy\", \"mailbox\", \"encoded-character\", \"comparator-i;ascii-numeric\"]",
        ";", "{", "}", "(", ")", "[", "]", ",", "if", "elsif", "else", "keep", "discard",
        "stop", "fileinto", "redirect", "set", "setflag", "addflag", "hasflag", "string",
        "header", "address", "envelope", "exists", "size", "body", "date", "currentdate",
        "anyof", "allof", "not", "true", "false", "vacation", "include", "return", ":is",
        ":contains", ":matches", ":regex", ":count", ":value", ":over", ":under", ":copy",
        ":flags", ":create", ":comparator", ":index", ":last", ":lower", ":length", ":days",
        ":zone", ":raw", ":content", ":domain", ":detail", "\"i;ascii-numeric\"", "\"gt\"",
        "\"subject\"", "\"*${1}*\"", "\"${a}\"", "\"a\"", "\"date\"", "\"year\"", "\"+0100\"",
        "\"(a|b)*\"", "\"x@example.org\"", "\"${hex:41}\"", "\"${unicode:110000}\"", "10",
        "1K", "0", "text:\r\nx\r\n.\r\n", "#c\n", "/*c*/", "\"\\\\\"", "\"é收\"",
    ];
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compiled = 0;
    for _ in 0..20_000 {
        let n = (next() % 40) as usize;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
            s.push(' ');
        }
        if let Ok(script) = sieve::parse(s.as_bytes()) {
            compiled += 1;
            let _ = sieve::run(&script, MSG.as_bytes(), &ctx(&NoHost));
        }
    }
    assert!(compiled > 100, "only {compiled} random scripts compiled");
}

#[test]
fn rfc5260_and_rfc5233_examples() {
    let boss = MSG.replace("coyote@desert.example.org", "boss@example.com");
    let s = r#"require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }"#;
    assert_eq!(try_run(s, &boss).unwrap(), vec![into("urgent")]);
    assert_eq!(run(s), vec![keep()]);
    let s = r#"require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2026-11-30",
         currentdate :value "le" "date" "2026-12-07")
{ vacation :days 7  "I'm away during the first week in December."; }"#;
    assert!(matches!(&run(s)[0], Action::Vacation(v) if v.days == Some(7)));
    let s = r#"require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year" "${1}"; }
fileinto "${month}-${year}";"#;
    assert_eq!(run(s), vec![into("12-2026")]);

    let s = r#"require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
if envelope :detail :is "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; stop; }
if address :user :is ["from", "sender"] "owner-ietf-mta-filters" { fileinto "inbox.owner"; stop; }"#;
    let script = sieve::parse(s.as_bytes()).unwrap();
    let mut c = ctx(&NoHost);
    for (to, want) in [
        ("postmaster+x@example.org", into("inbox.postmaster")),
        (
            "ken+mta-filters@example.org",
            into("inbox.ietf-mta-filters"),
        ),
        ("ken@example.org", keep()),
    ] {
        c.envelope.to = to.into();
        assert_eq!(sieve::run(&script, MSG.as_bytes(), &c).unwrap(), vec![want]);
    }
    let owner = format!("Sender: owner-ietf-mta-filters+bounces@imc.org\r\n{MSG}");
    c.envelope.to = "ken@example.org".into();
    assert_eq!(
        sieve::run(&script, owner.as_bytes(), &c).unwrap(),
        vec![into("inbox.owner")]
    );
    // A configured separator.
    c.separator = "-".into();
    c.envelope.to = "ken-mta-filters@example.org".into();
    assert_eq!(
        sieve::run(&script, MSG.as_bytes(), &c).unwrap(),
        vec![into("inbox.ietf-mta-filters")]
    );
}
