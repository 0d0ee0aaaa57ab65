//! IMAP transcripts: LIST/LSUB (wildcards, CHILDREN, SPECIAL-USE, RETURN options),
//! CREATE, DELETE, RENAME (INBOX too), SUBSCRIBE, STATUS, SELECT/EXAMINE,
//! modified UTF-7 names.

mod common;
mod imap_support;

use imap_support::*;

#[tokio::test]
async fn list_special_use_and_children() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let l = c.ok("LIST \"\" \"\"").await;
    assert_eq!(l[0], "* LIST (\\Noselect) \"/\" \"\"");
    let l = c.ok("LIST \"\" *").await;
    for want in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
        "* LIST (\\Drafts \\HasNoChildren) \"/\" \"Drafts\"",
        "* LIST (\\Sent \\HasNoChildren) \"/\" \"Sent\"",
        "* LIST (\\Trash \\HasNoChildren) \"/\" \"Trash\"",
        "* LIST (\\Junk \\HasNoChildren) \"/\" \"Junk\"",
        "* LIST (\\Archive \\HasNoChildren) \"/\" \"Archive\"",
    ] {
        assert!(l.contains(&want.to_string()), "{want} not in {l:?}");
    }
    c.ok("CREATE Projects/2024/Q1").await;
    c.ok("CREATE &AMk-t&AOk-/Notes").await;
    assert!(
        t.ms.mailbox("Été/Notes").await.unwrap().is_some(),
        "stored as UTF-8"
    );
    c.ok("CREATE &AMk-t&AOk-/Drafts2/").await; // trailing separator dropped
    let l = c.ok("LIST \"\" %").await;
    assert!(has(&l, "(\\HasChildren) \"/\" \"Projects\""), "{l:?}");
    assert!(has(&l, "(\\HasChildren) \"/\" \"&AMk-t&AOk-\""), "{l:?}");
    assert!(!has(&l, "Projects/2024"), "{l:?}");
    let l = c.ok("LIST Projects/ %").await;
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(has(&l, "\"Projects/2024\""));
    let l = c.ok("LIST \"\" Projects/*").await;
    assert_eq!(l.len(), 3, "{l:?}");
    let l = c.ok("LIST \"\" inbox").await;
    assert!(has(&l, "\"INBOX\""), "{l:?}");
    // RFC 5258/6154 forms.
    let l = c.ok("LIST (SPECIAL-USE) \"\" *").await;
    assert_eq!(l.len(), 6, "{l:?}");
    assert!(l.iter().take(5).all(|x| x.contains("\\Drafts")
        || x.contains("\\Sent")
        || x.contains("\\Trash")
        || x.contains("\\Junk")
        || x.contains("\\Archive")));
    let l = c.ok("LIST \"\" * RETURN (SPECIAL-USE SUBSCRIBED)").await;
    assert!(
        has(&l, "(\\Subscribed \\Sent \\HasNoChildren) \"/\" \"Sent\""),
        "{l:?}"
    );
    assert!(c
        .bad("LIST (BOGUS) \"\" *")
        .await
        .contains("Unknown selection option"));
    // Thunderbird's start-up form.
    c.ok("UNSUBSCRIBE Junk").await;
    let l = c
        .ok("LIST (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE)")
        .await;
    assert!(
        has(
            &l,
            "* LIST (\\Subscribed \\Trash \\HasNoChildren) \"/\" \"Trash\""
        ),
        "{l:?}"
    );
    assert!(!has(&l, "Junk") && !has(&l, "Projects"), "{l:?}");
    // A parent deleted while its child stays shows as \Noselect.
    c.ok("DELETE Projects").await;
    let l = c.ok("LIST \"\" Projects*").await;
    assert!(
        has(&l, "(\\Noselect \\HasChildren) \"/\" \"Projects\""),
        "{l:?}"
    );
    c.no("SELECT Projects").await;
    t.stop().await;
}

#[tokio::test]
async fn create_delete_rename_subscribe() {
    let t = start(PLAIN, "", 2).await;
    let mut c = t.login().await;
    assert!(c.no("CREATE INBOX").await.contains("[ALREADYEXISTS]"));
    c.ok("CREATE Work").await;
    assert!(c.no("CREATE \"a*b\"").await.contains("[CANNOT]"));
    assert!(c.no("CREATE \"a/%\"").await.contains("[CANNOT]"));
    assert!(c.no("CREATE Work").await.contains("[ALREADYEXISTS]"));
    assert!(c.no("DELETE Nothing").await.contains("[NONEXISTENT]"));
    assert!(c.no("DELETE INBOX").await.contains("INBOX"));
    c.ok("RENAME Work Job").await;
    assert!(c.no("RENAME Work Other").await.contains("[NONEXISTENT]"));
    assert!(c.no("RENAME Job Sent").await.contains("[ALREADYEXISTS]"));
    let l = c.ok("LIST \"\" Job").await;
    assert_eq!(l.len(), 2);
    // INBOX rename moves its messages and leaves INBOX empty.
    c.ok("RENAME INBOX Old-Inbox").await;
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s[0], "* STATUS \"INBOX\" (MESSAGES 0)");
    let s = c
        .ok("STATUS Old-Inbox (MESSAGES UIDNEXT UNSEEN RECENT)")
        .await;
    assert_eq!(
        s[0],
        "* STATUS \"Old-Inbox\" (MESSAGES 2 UIDNEXT 3 UNSEEN 2 RECENT 2)"
    );
    // Subscriptions.
    c.ok("SUBSCRIBE Job").await;
    assert!(c.no("SUBSCRIBE Missing").await.contains("[NONEXISTENT]"));
    let l = c.ok("LSUB \"\" *").await;
    assert!(has(&l, "* LSUB () \"/\" \"Job\""), "{l:?}");
    assert!(has(&l, "\"Sent\""), "default folders are subscribed: {l:?}");
    c.ok("UNSUBSCRIBE Job").await;
    let l = c.ok("LSUB \"\" Job").await;
    assert_eq!(l.len(), 1, "{l:?}");
    // LSUB % shows an unsubscribed parent of a subscribed child as \Noselect.
    c.ok("CREATE A/B").await;
    c.ok("SUBSCRIBE A/B").await;
    let l = c.ok("LSUB \"\" %").await;
    assert!(has(&l, "* LSUB (\\Noselect) \"/\" \"A\""), "{l:?}");
    t.stop().await;
}

#[tokio::test]
async fn select_examine_status() {
    let t = start(PLAIN, "", 3).await;
    t.deliver(
        "INBOX",
        &message(4),
        ferrymail::store::Flags::parse("\\Seen $Work"),
    )
    .await;
    let mut c = t.login().await;
    let uidv = t.ms.mailbox("INBOX").await.unwrap().unwrap().uidvalidity;
    let l = c.ok("SELECT INBOX").await;
    assert_eq!(
        l[0],
        "* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Work)"
    );
    assert_eq!(l[1], "* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Work \\*)] Flags permitted");
    assert!(l.contains(&"* 4 EXISTS".to_string()));
    // No session was shown them yet: all four are \Recent, in this session.
    assert!(l.contains(&"* 4 RECENT".to_string()), "{l:?}");
    assert!(has(&l, "* OK [UNSEEN 1]"));
    assert!(has(&l, &format!("* OK [UIDVALIDITY {uidv}]")));
    assert!(has(&l, "* OK [UIDNEXT 5]"));
    assert!(has(&l, "* OK [HIGHESTMODSEQ "));
    assert!(l.last().unwrap().contains("[READ-WRITE]"));
    let l = c.ok("EXAMINE INBOX").await;
    assert!(has(&l, "[PERMANENTFLAGS ()]"));
    assert!(l.contains(&"* 0 RECENT".to_string()), "{l:?}");
    assert!(l.last().unwrap().contains("[READ-ONLY]"));
    assert!(c.no("STORE 1 +FLAGS (\\Seen)").await.contains("read-only"));
    let s = c
        .ok("STATUS INBOX (MESSAGES UNSEEN UIDVALIDITY RECENT HIGHESTMODSEQ)")
        .await;
    assert!(
        s[0].starts_with(&format!(
            "* STATUS \"INBOX\" (MESSAGES 4 UNSEEN 3 UIDVALIDITY {uidv} RECENT 0 HIGHESTMODSEQ "
        )),
        "{s:?}"
    );
    // A failed SELECT leaves the authenticated state.
    assert!(c.no("SELECT Nope").await.contains("[NONEXISTENT]"));
    assert!(c.bad("FETCH 1 FLAGS").await.contains("No mailbox selected"));
    c.ok("SELECT INBOX").await;
    c.ok("UNSELECT").await;
    c.bad("UNSELECT").await;
    t.stop().await;
}

/// A name that is not valid modified UTF-7 (here `&` not followed by a base64
/// run and `-`) makes a valid command that cannot be carried out: `NO`, not
/// `BAD` (a client or tester may drop a connection on BAD), and the session
/// goes on. imaptest's name, `!#$&'+,-.0123456789:;<=>?@^_`|[}`, among them.
#[tokio::test]
async fn an_invalid_modified_utf7_name_gets_no_not_bad() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    for cmd in [
        "SELECT \"!#$&'+,-.0123456789:;<=>?@^_`|[}\"",
        "EXAMINE \"a&Jjo\"",
        "CREATE \"b&Jjo\"",
        "STATUS \"c&\" (MESSAGES)",
        "DELETE \"d&-&\"",
    ] {
        let no = c.no(cmd).await;
        assert!(no.contains("not valid modified UTF-7"), "{cmd}: {no}");
    }
    // The same names, well-formed, are just names.
    c.ok("CREATE \"b&-Jjo\"").await;
    let l = c.ok("LIST \"\" \"b*\"").await;
    assert!(has(&l, "\"b&-Jjo\""), "{l:?}");
    c.ok("NOOP").await;
    t.stop().await;
}

/// LIST-EXTENDED (RFC 5258): several patterns, SUBSCRIBED with
/// RECURSIVEMATCH and CHILDINFO (a parent shown for a subscribed descendant
/// the patterns do not show), `\NonExistent`, RETURN (CHILDREN SUBSCRIBED),
/// and BAD for options that make no sense. The cases of imaptest's `listext`.
#[tokio::test]
async fn list_extended_recursivematch_and_childinfo() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" LIST-EXTENDED"), "{caps:?}");
    for m in [
        "t/a",
        "t/b/",
        "t/b/a",
        "t/c",
        "t/d/e",
        "t/g/g",
        "t/h/h",
        "t/h/i",
        "t/Entw&APw-rfe/x",
        "t/f",
    ] {
        c.ok(&format!("CREATE \"{m}\"")).await;
    }
    for m in [
        "t/a",
        "t/b/a",
        "t/f",
        "t/g/g",
        "t/h/h",
        "t/h/i",
        "t/Entw&APw-rfe/x",
    ] {
        c.ok(&format!("SUBSCRIBE \"{m}\"")).await;
    }
    // Subscribed, then deleted: \NonExistent.
    c.ok("DELETE t/f").await;
    let list = |l: Vec<String>| -> Vec<String> {
        l.into_iter().filter(|x| x.starts_with("* LIST")).collect()
    };
    // Two patterns.
    let l = list(c.ok("LIST \"\" (t/*a t/c)").await);
    assert_eq!(
        l,
        [
            "* LIST (\\HasNoChildren) \"/\" \"t/a\"",
            "* LIST (\\HasNoChildren) \"/\" \"t/b/a\"",
            "* LIST (\\HasNoChildren) \"/\" \"t/c\""
        ]
    );
    // t/b is not subscribed; its subscribed child t/b/a is not shown by `t/b%`.
    let l = list(
        c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t/b% RETURN (CHILDREN)")
            .await,
    );
    assert_eq!(
        l,
        ["* LIST (\\HasChildren) \"/\" \"t/b\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]
    );
    // ... but when a pattern shows t/b/a itself, t/b is not listed.
    let l = list(
        c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (t/b t/b/a)")
            .await,
    );
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(
        l[0].ends_with("\"t/b/a\"") && l[0].contains("\\Subscribed"),
        "{l:?}"
    );
    // t/g/g is shown by `*g`: nothing more; t/h/i is not shown by `*h`: t/h is.
    let l = list(c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t*g").await);
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(l[0].ends_with("\"t/g/g\""), "{l:?}");
    let l = list(c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t*h").await);
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(
        l[0].ends_with("\"t/h\" (\"CHILDINFO\" (\"SUBSCRIBED\"))")
            && !l[0].contains("\\Subscribed"),
        "{l:?}"
    );
    assert!(l[1].ends_with("\"t/h/h\""), "{l:?}");
    // A subscribed name that does not exist.
    let l = list(c.ok("LIST (SUBSCRIBED) \"\" t/f").await);
    assert_eq!(
        l,
        ["* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" \"t/f\""]
    );
    // Non-ASCII names in CHILDINFO answers.
    let l = list(c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t/Entw%").await);
    assert_eq!(
        l,
        ["* LIST (\\HasChildren) \"/\" \"t/Entw&APw-rfe\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]
    );
    // RETURN (CHILDREN SUBSCRIBED) on a plain selection.
    let l = list(c.ok("LIST \"\" t/% RETURN (CHILDREN SUBSCRIBED)").await);
    assert!(
        l.contains(&"* LIST (\\Subscribed \\HasNoChildren) \"/\" \"t/a\"".to_string()),
        "{l:?}"
    );
    assert!(
        l.contains(&"* LIST (\\HasChildren) \"/\" \"t/b\"".to_string()),
        "{l:?}"
    );
    for bad in [
        "LIST (IMAPTEST) \"\" \"\"",
        "LIST (RECURSIVEMATCH) \"\" \"\"",
        "LIST (RECURSIVEMATCH REMOTE) \"\" \"\"",
        "LIST \"\" \"\" RETURN (IMAPTEST)",
    ] {
        c.bad(bad).await;
    }
    t.stop().await;
}

/// LIST-STATUS (RFC 5819) and STATUS=SIZE (RFC 8438): `LIST ... RETURN
/// (STATUS (...))` gives a STATUS line after each selectable mailbox's LIST
/// line (none for a `\Noselect` parent or a `\NonExistent` one), SIZE the
/// octets of the mailbox's messages.
#[tokio::test]
async fn list_status_and_status_size() {
    let t = start(PLAIN, "", 0).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" LIST-STATUS STATUS=SIZE"), "{caps:?}");
    c.ok("CREATE \"&BCcENQRABD0EPgQyBDgEOgQ4-/a\"").await; // Черновики/a
                                                           // The parent goes \Noselect.
    c.ok("DELETE \"&BCcENQRABD0EPgQyBDgEOgQ4-\"").await;
    let (m1, m2) = (message(1), message(22));
    t.deliver("Черновики/a", &m1, ferrymail::store::Flags::new())
        .await;
    t.deliver("Черновики/a", &m2, ferrymail::store::Flags::parse("\\Seen"))
        .await;
    let size = m1.len() + m2.len();
    let s = c
        .ok("STATUS \"&BCcENQRABD0EPgQyBDgEOgQ4-/a\" (SIZE MESSAGES UNSEEN)")
        .await;
    assert_eq!(
        s[0],
        format!("* STATUS \"&BCcENQRABD0EPgQyBDgEOgQ4-/a\" (SIZE {size} MESSAGES 2 UNSEEN 1)")
    );
    let l = c
        .ok("LIST \"\" \"&BCcENQRABD0EPgQyBDgEOgQ4-*\" RETURN (STATUS (MESSAGES SIZE))")
        .await;
    let l: Vec<&String> = l.iter().filter(|x| x.starts_with("* ")).collect();
    assert_eq!(l.len(), 3, "{l:?}");
    assert!(
        l[0].starts_with("* LIST (\\Noselect") && l[0].ends_with("\"&BCcENQRABD0EPgQyBDgEOgQ4-\""),
        "{l:?}"
    );
    assert!(
        l[1].starts_with("* LIST (") && l[1].ends_with("\"&BCcENQRABD0EPgQyBDgEOgQ4-/a\""),
        "{l:?}"
    );
    assert_eq!(
        l[2],
        &format!("* STATUS \"&BCcENQRABD0EPgQyBDgEOgQ4-/a\" (MESSAGES 2 SIZE {size})")
    );
    // An empty mailbox has SIZE 0; unknown items are BAD.
    let s = c.ok("STATUS Trash (SIZE)").await;
    assert_eq!(s[0], "* STATUS \"Trash\" (SIZE 0)");
    c.bad("LIST \"\" * RETURN (STATUS (BOGUS))").await;
    c.bad("LIST \"\" * RETURN (STATUS ())").await;
    t.stop().await;
}
