//! IMAP transcripts: greeting, CAPABILITY, STARTTLS, LOGINDISABLED, LOGIN,
//! AUTHENTICATE PLAIN (SASL-IR and continuation), failures, state checks,
//! per-user connection limit, LOGOUT.

mod common;
mod imap_support;

use base64::Engine;
use imap_support::*;

fn plain_b64(user: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"))
}

#[tokio::test]
async fn capabilities_and_logindisabled_until_starttls() {
    let t = start("[auth]\nfailure_delay_ms = 0\n", "", 0).await;
    let mut c = Imap::connect(t.plain).await;
    let caps = c.ok("CAPABILITY").await;
    let line = &caps[0];
    for cap in [
        "IMAP4rev1",
        "LITERAL+",
        "SASL-IR",
        "ID",
        "ENABLE",
        "IDLE",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "UNSELECT",
        "CHILDREN",
        "SPECIAL-USE",
        "CONDSTORE",
        "APPENDLIMIT=",
        "STARTTLS",
        "LOGINDISABLED",
    ] {
        assert!(line.contains(cap), "{cap} missing in {line}");
    }
    assert!(!line.contains("AUTH=PLAIN"));
    let no = c.no(&format!("LOGIN {USER} {PASS}")).await;
    assert!(no.contains("[PRIVACYREQUIRED]"), "{no}");
    // Commands before login are refused by state.
    assert!(c.bad("SELECT INBOX").await.contains("Log in first"));
    assert!(c.bad("FETCH 1 FLAGS").await.contains("not allowed"));
    // STARTTLS, then LOGIN works and the capabilities change.
    c.c.send("s1 STARTTLS").await;
    assert_eq!(c.line().await, "s1 OK Begin TLS negotiation now");
    let mut c = upgrade(c).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps[0].contains("AUTH=PLAIN")
            && !caps[0].contains("STARTTLS")
            && !caps[0].contains("LOGINDISABLED"),
        "{caps:?}"
    );
    let ok = c.ok(&format!("LOGIN {USER} {PASS}")).await;
    assert!(
        ok.last().unwrap().contains("[CAPABILITY IMAP4rev1"),
        "{ok:?}"
    );
    assert!(c
        .bad(&format!("LOGIN {USER} {PASS}"))
        .await
        .contains("Already authenticated"));
    let bye = c.ok("LOGOUT").await;
    assert!(bye[0].starts_with("* BYE"));
    assert!(c.c.closed().await);
    t.stop().await;
}

async fn upgrade(c: Imap) -> Imap {
    let client = c.c.starttls().await;
    imap_support::Imap::from_client(client)
}

#[tokio::test]
async fn starttls_refuses_pipelined_commands() {
    let t = start("", "", 0).await;
    let mut c = Imap::connect(t.plain).await;
    c.send_raw(b"a STARTTLS\r\nb CAPABILITY\r\n").await;
    let l = c.line().await;
    assert!(l.starts_with("a BAD"), "{l}");
    assert!(c.c.until("* BYE").await.len() == 1);
    assert!(c.c.closed().await);
    t.stop().await;
}

#[tokio::test]
async fn implicit_tls_and_authenticate_plain() {
    let t = start("[auth]\nfailure_delay_ms = 0\n", "", 0).await;
    let mut c = Imap::connect_tls(t.tls).await;
    // SASL-IR.
    c.ok(&format!("AUTHENTICATE PLAIN {}", plain_b64(USER, PASS)))
        .await;
    c.ok("LOGOUT").await;
    // Continuation.
    let mut c = Imap::connect_tls(t.tls).await;
    c.c.send("a AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await, "+ ");
    c.c.send(&plain_b64(USER, PASS)).await;
    let l = c.line().await;
    assert!(l.starts_with("a OK"), "{l}");
    // Cancelled exchange and unknown mechanisms.
    let mut c = Imap::connect_tls(t.tls).await;
    c.c.send("a AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await, "+ ");
    c.c.send("*").await;
    assert!(c.line().await.starts_with("a BAD"));
    assert!(c.no("AUTHENTICATE CRAM-MD5").await.contains("Unsupported"));
    let no = c
        .no(&format!("AUTHENTICATE PLAIN {}", plain_b64(USER, "wrong")))
        .await;
    assert!(no.contains("[AUTHENTICATIONFAILED]"), "{no}");
    t.stop().await;
}

#[tokio::test]
async fn failures_end_in_bye_and_unknown_users_look_the_same() {
    let t = start(PLAIN, "", 0).await;
    let mut c = Imap::connect(t.plain).await;
    let a = c.no("LOGIN nobody@example.test pw").await;
    let b = c.no(&format!("LOGIN {USER} wrong")).await;
    assert_eq!(a.split_once(' ').unwrap().1, b.split_once(' ').unwrap().1);
    c.no("LOGIN \"x y\" pw").await;
    c.no(&format!("LOGIN {USER} wrong")).await;
    let lines = c.run(&format!("LOGIN {USER} wrong")).await;
    assert!(lines[0].contains("NO [AUTHENTICATIONFAILED]"), "{lines:?}");
    assert!(c
        .c
        .until("* BYE")
        .await
        .last()
        .unwrap()
        .contains("Too many"));
    assert!(c.c.closed().await);
    t.stop().await;
}

#[tokio::test]
async fn per_user_connection_limit() {
    let t = start(PLAIN, "max_connections_per_user = 2\n", 0).await;
    let a = t.login().await;
    let b = t.login().await;
    let mut c = Imap::connect(t.plain).await;
    let no = c.no(&format!("LOGIN {USER} {PASS}")).await;
    assert!(no.contains("[LIMIT]"), "{no}");
    drop(a);
    // The slot is released when the first session ends.
    let mut ok = false;
    for _ in 0..100 {
        let lines = c.run(&format!("LOGIN {USER} {PASS}")).await;
        if lines.last().unwrap().contains(" OK ") {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ok, "login never succeeded after a session ended");
    drop(b);
    t.stop().await;
}

#[tokio::test]
async fn noop_id_namespace_enable() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    c.ok("NOOP").await;
    let id = c.ok("ID (\"name\" \"test\")").await;
    assert!(id[0].starts_with("* ID (\"name\" \"ferrymail\""), "{id:?}");
    let ns = c.ok("NAMESPACE").await;
    assert_eq!(ns[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL");
    let en = c.ok("ENABLE CONDSTORE X-UNKNOWN").await;
    assert_eq!(en[0], "* ENABLED CONDSTORE");
    assert!(c.bad("FROBNICATE").await.contains("Unknown command"));
    t.stop().await;
}
