//! QRESYNC (RFC 7162 §3.2): a client that cached a mailbox (UIDs, flags,
//! HIGHESTMODSEQ) resynchronises with one SELECT (QRESYNC ...) after
//! another session changed flags, expunged and delivered, and its state
//! converges to the server's; expunges are told as VANISHED once QRESYNC is
//! on; `UID FETCH ... (CHANGEDSINCE m VANISHED)`.

mod common;
mod imap_support;

use std::collections::BTreeMap;

use ferrymail::store::Flags;
use imap_support::*;

/// `1:3,7` as UIDs.
fn uid_set(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                out.extend(a.min(b)..=a.max(b));
            }
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

/// `* n FETCH (UID u FLAGS (...) ...)` → (u, flags without \Recent).
fn uid_flags(line: &str) -> Option<(u32, String)> {
    let rest = line.split(" FETCH (").nth(1)?;
    let uid = rest
        .split("UID ")
        .nth(1)?
        .split([' ', ')'])
        .next()?
        .parse()
        .ok()?;
    let flags = rest.split("FLAGS (").nth(1)?.split(')').next()?;
    let flags: Vec<&str> = flags
        .split(' ')
        .filter(|f| !f.is_empty() && *f != "\\Recent")
        .collect();
    Some((uid, flags.join(" ")))
}

fn modseq_of(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| l.split("[HIGHESTMODSEQ ").nth(1))
        .and_then(|r| r.split(']').next())
        .unwrap()
        .parse()
        .unwrap()
}

async fn full_state(c: &mut Imap) -> BTreeMap<u32, String> {
    c.ok("UID FETCH 1:* (FLAGS)")
        .await
        .iter()
        .filter_map(|l| uid_flags(l))
        .collect()
}

#[tokio::test]
async fn a_cached_client_converges_after_expunges_flag_changes_and_new_mail() {
    let t = start(PLAIN, "", 8).await;
    let uidv = t.ms.mailbox("INBOX").await.unwrap().unwrap().uidvalidity;
    // The client's first session: its cache.
    let mut a = t.login().await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].contains(" QRESYNC"), "{caps:?}");
    assert!(a
        .bad(&format!("SELECT INBOX (QRESYNC ({uidv} 1))"))
        .await
        .contains("ENABLE"));
    let e = a.ok("ENABLE QRESYNC").await;
    assert_eq!(e[0], "* ENABLED QRESYNC");
    let sel = a.ok("SELECT INBOX").await;
    let mut cache = full_state(&mut a).await;
    let mut modseq = modseq_of(&sel);
    assert_eq!(cache.len(), 8);
    a.ok("LOGOUT").await;

    // Meanwhile, elsewhere: flags, expunges, new mail, more flags.
    for round in 0..2 {
        let mut b = t.login().await;
        b.ok("SELECT INBOX").await;
        b.ok("STORE 1,3 +FLAGS.SILENT (\\Seen $Work)").await;
        b.ok("STORE 2,5 +FLAGS.SILENT (\\Deleted)").await;
        b.ok("EXPUNGE").await;
        t.deliver("INBOX", &message(20 + round), Flags::new()).await;
        t.deliver("INBOX", &message(30 + round), Flags::parse("\\Flagged"))
            .await;
        b.ok("STORE 1 -FLAGS.SILENT ($Work)").await;
        b.ok("UID STORE 8 +FLAGS.SILENT (\\Answered)").await;
        b.ok("LOGOUT").await;

        // The client comes back: one SELECT brings it up to date.
        let mut a = t.login().await;
        a.ok("ENABLE QRESYNC").await;
        let known = cache
            .keys()
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let r = a
            .ok(&format!("SELECT INBOX (QRESYNC ({uidv} {modseq} {known}))"))
            .await;
        let mut vanished = 0;
        for l in &r {
            if let Some(set) = l.strip_prefix("* VANISHED (EARLIER) ") {
                for u in uid_set(set) {
                    assert!(cache.remove(&u).is_some(), "{u} was not cached: {r:?}");
                    vanished += 1;
                }
            } else if let Some((u, f)) = uid_flags(l) {
                cache.insert(u, f);
            }
        }
        assert_eq!(vanished, 2, "{r:?}");
        // New messages: fetched by UID above the highest cached.
        let last = cache.keys().last().copied().unwrap_or(0);
        for l in a.ok(&format!("UID FETCH {}:* (FLAGS)", last + 1)).await {
            if let Some((u, f)) = uid_flags(&l) {
                if u > last {
                    cache.insert(u, f);
                }
            }
        }
        let exists: usize = r
            .iter()
            .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
            .unwrap();
        assert_eq!(cache.len(), exists);
        assert_eq!(cache, full_state(&mut a).await, "round {round}: {r:?}");
        modseq = modseq_of(&r);
        a.ok("LOGOUT").await;
    }
    t.stop().await;
}

#[tokio::test]
async fn with_qresync_on_expunges_are_vanished() {
    let t = start(PLAIN, "", 6).await;
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("ENABLE QRESYNC").await;
    let sel = a.ok("SELECT INBOX").await;
    let m0 = modseq_of(&sel);
    b.ok("SELECT INBOX").await;
    // Own EXPUNGE: VANISHED, not EXPUNGE.
    a.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)").await;
    let l = a.ok("EXPUNGE").await;
    assert_eq!(l[..l.len() - 1], ["* VANISHED 2:3"]);
    // Another session's, at NOOP: VANISHED too; B (no QRESYNC) hears EXPUNGE.
    b.ok("UID STORE 6 +FLAGS.SILENT (\\Deleted)").await;
    let l = b.ok("UID EXPUNGE 6").await;
    assert!(l.iter().any(|x| x.ends_with(" EXPUNGE")), "{l:?}");
    let n = a.ok("NOOP").await;
    assert!(n.contains(&"* VANISHED 6".to_string()), "{n:?}");
    // MOVE away: VANISHED.
    let l = a.ok("UID MOVE 1 Trash").await;
    assert!(l.contains(&"* VANISHED 1".to_string()), "{l:?}");
    // UID FETCH ... (CHANGEDSINCE m VANISHED): what went since m, in the set.
    let f = a
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0} VANISHED)"
        ))
        .await;
    assert_eq!(f[0], "* VANISHED (EARLIER) 1:3,6", "{f:?}");
    let f = a
        .ok(&format!(
            "UID FETCH 3:5 (FLAGS) (CHANGEDSINCE {m0} VANISHED)"
        ))
        .await;
    assert_eq!(f[0], "* VANISHED (EARLIER) 3", "{f:?}");
    a.bad(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {m0} VANISHED)"))
        .await;
    a.bad("UID FETCH 1:* (FLAGS) (VANISHED)").await;
    // A changed UIDVALIDITY: a plain SELECT, nothing VANISHED.
    let r = a.ok(&format!("SELECT INBOX (QRESYNC (1 {m0}))")).await;
    assert!(!r.iter().any(|l| l.contains("VANISHED")), "{r:?}");
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
    t.stop().await;
}
