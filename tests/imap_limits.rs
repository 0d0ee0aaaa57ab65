//! Limits and bad input: line length, literal sizes (APPENDLIMIT, TOOBIG before
//! any continuation, BAD + BYE for an over-limit LITERAL+), nesting depth,
//! garbage, too many bad commands, autologout. The session goes on after BAD/NO.

mod common;
mod imap_support;

use imap_support::*;

#[tokio::test]
async fn line_and_literal_limits() {
    let t = start(PLAIN, "max_line_length = 1024\nappend_limit = 1000\n", 0).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains("APPENDLIMIT=1000"), "{caps:?}");
    // Over-long line: BAD, and the session goes on.
    c.c.send(&format!("a1 NOOP {}", "x".repeat(5000))).await;
    let l = c.line().await;
    assert!(l.contains("BAD Command line too long"), "{l}");
    c.ok("NOOP").await;
    // Synchronizing literal over APPENDLIMIT: NO [TOOBIG] before any "+".
    c.c.send("a2 APPEND INBOX {1001}").await;
    assert_eq!(
        c.line().await,
        "a2 NO [TOOBIG] Literal larger than the limit of 1000 bytes"
    );
    c.ok("NOOP").await;
    // Exactly at the limit is fine.
    c.c.send("a3 APPEND INBOX {1000}").await;
    assert!(c.line().await.starts_with("+ "));
    let mut m = b"Subject: x\r\n\r\n".to_vec();
    m.resize(1000, b'a');
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    assert!(c.line().await.starts_with("a3 OK [APPENDUID"));
    // Literals of other commands are bounded by the line length.
    c.c.send("a4 LOGIN {5000}").await;
    assert!(c.line().await.starts_with("a4 NO [TOOBIG]"));
    // Over-limit LITERAL+: BAD, then BYE and close.
    c.c.send("a5 APPEND INBOX {5000+}").await;
    let l = c.line().await;
    assert!(l.starts_with("a5 BAD [TOOBIG]"), "{l}");
    assert!(c.line().await.starts_with("* BYE"));
    assert!(c.c.closed().await);
    t.stop().await;
}

#[tokio::test]
async fn append_before_login_is_bounded_like_any_literal() {
    let t = start(PLAIN, "max_line_length = 1024\n", 0).await;
    let mut c = Imap::connect(t.plain).await;
    c.c.send("a1 APPEND INBOX {100000}").await;
    assert!(c.line().await.starts_with("a1 NO [TOOBIG]"));
    c.c.send("a2 APPEND INBOX {10}").await;
    assert!(c.line().await.starts_with("+ "));
    c.send_raw(b"0123456789\r\n").await;
    assert!(c
        .line()
        .await
        .contains("BAD APPEND not allowed now: Log in first"));
    t.stop().await;
}

#[tokio::test]
async fn bad_input_gets_bad_and_the_session_goes_on() {
    let t = start(PLAIN, "", 1).await;
    let mut c = t.login().await;
    c.ok("SELECT INBOX").await;
    for junk in [
        "",
        "*",
        "a",
        "a FETCH",
        "a FETCH 1",
        "a FETCH x FLAGS",
        "a FETCH 0 FLAGS",
        "a FETCH 1 BODY[1.HEADER.FIELDS ()]",
        "a SEARCH (((((",
        "a STORE 1 FLAGS \\Seen)",
        "a LIST",
        "a LIST \"",
        "a SELECT \"INBOX",
        "a UID FROB 1",
        "a \u{1}\u{2}",
    ] {
        c.c.send(junk).await;
        let l = c.line().await;
        assert!(l.contains(" BAD "), "{junk:?} -> {l}");
    }
    // Bare LF line ends are accepted.
    c.send_raw(b"lf NOOP\n").await;
    assert_eq!(c.line().await, "lf OK NOOP completed");
    c.send_raw(b"a NOOP \xff\xfe\x00\r\n").await;
    assert!(c.line().await.contains(" BAD "));
    // Deep nesting is refused by the parser's recursion limit, not the stack.
    let deep = format!("SEARCH {}ALL{}", "(".repeat(500), ")".repeat(500));
    c.bad(&deep).await;
    let deep = format!("SEARCH {}ALL", "NOT ".repeat(500));
    c.bad(&deep).await;
    let l = c.ok("FETCH 1 UID").await;
    assert_eq!(l[0], "* 1 FETCH (UID 1)");
    t.stop().await;
}

#[tokio::test]
async fn too_many_bad_commands_end_in_bye() {
    let t = start(PLAIN, "", 0).await;
    let mut c = Imap::connect(t.plain).await;
    let mut closed = false;
    for i in 0..100 {
        c.c.send(&format!("b{i} BOGUS")).await;
        let l = c.line().await;
        if l.starts_with("* BYE") {
            closed = true;
            break;
        }
        assert!(l.contains(" BAD "), "{l}");
    }
    assert!(closed, "no BYE after 100 bad commands");
    assert!(c.c.closed().await);
    t.stop().await;
}

#[tokio::test]
async fn autologout() {
    let t = start(PLAIN, "timeout_secs = 1\n", 0).await;
    let mut c = Imap::connect(t.plain).await;
    let l = c.line().await;
    assert!(l.starts_with("* BYE Autologout"), "{l}");
    t.stop().await;
}

/// Random commands in every state: each gets a tagged or untagged answer, the
/// server stays up, and a following NOOP works.
#[tokio::test]
async fn random_input_in_every_state() {
    let t = start(PLAIN, "", 3).await;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let words = [
        "FETCH",
        "UID",
        "STORE",
        "SEARCH",
        "LIST",
        "LSUB",
        "SELECT",
        "EXAMINE",
        "APPEND",
        "COPY",
        "MOVE",
        "EXPUNGE",
        "STATUS",
        "CREATE",
        "RENAME",
        "DELETE",
        "ENABLE",
        "ID",
        "1:*",
        "*",
        "(",
        ")",
        "[",
        "]",
        "BODY[",
        "BODY.PEEK[1.2]",
        "<0.5>",
        "\"q\"",
        "INBOX",
        "FLAGS",
        "(\\Seen)",
        "+FLAGS",
        "NOT",
        "OR",
        "ALL",
        "\\",
        "%",
        "0",
        "4294967296",
        "-1",
        "CHARSET",
        "\u{0}",
        "ÿ",
        "RETURN",
        "(CONDSTORE)",
        "MODSEQ",
        "UNCHANGEDSINCE",
    ];
    for state in 0..3 {
        for _round in 0..4 {
            let mut c = Imap::connect(t.plain).await;
            if state >= 1 {
                c.ok(&format!("LOGIN {USER} {PASS}")).await;
            }
            if state == 2 {
                c.ok("SELECT INBOX").await;
            }
            for i in 0..20 {
                let n = rnd() % 6 + 1;
                let mut line = format!("r{i}");
                for _ in 0..n {
                    line.push(' ');
                    line.push_str(words[(rnd() as usize) % words.len()]);
                }
                c.send_raw(format!("{line}\r\n").as_bytes()).await;
                // Read up to this command's tagged answer.
                let lines = c.c.until(&format!("r{i} ")).await;
                let last = lines.last().unwrap();
                assert!(
                    last.starts_with(&format!("r{i} OK"))
                        || last.starts_with(&format!("r{i} NO"))
                        || last.starts_with(&format!("r{i} BAD")),
                    "{line:?} -> {lines:?}"
                );
            }
            // Whatever state the random commands left, the session still answers.
            c.ok("NOOP").await;
            c.ok("LOGOUT").await;
        }
    }
    t.stop().await;
}
