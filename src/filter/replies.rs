//! The messages a script makes the server send: vacation replies (RFC 5230,
//! with the rules of RFC 3834 for automatic responses) and the notice of a
//! `reject` (RFC 5429, as a message disposition notification, RFC 8098).
//! Pure: this decides and composes; delivery queues what comes out with the
//! null sender.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::message::Message;
use crate::sieve::Vacation;

/// `:days` when the script gives none (RFC 5230 §4.1 recommends 7).
pub const DEFAULT_DAYS: u64 = 7;
/// Most senders remembered per user; the oldest go first.
const MAX_TRACKED: usize = 10_000;

/// Why no vacation reply goes out, or `None`: reply.
pub fn refuse_reason(
    raw: &[u8],
    envelope_from: &str,
    user: &str,
    v: &Vacation,
) -> Option<&'static str> {
    if envelope_from.is_empty() {
        return Some("null sender");
    }
    let from_l = envelope_from.to_ascii_lowercase();
    let local = from_l.split('@').next().unwrap_or_default();
    if local == "mailer-daemon"
        || local == "listserv"
        || local == "majordomo"
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("bounce")
        || local.starts_with("noreply")
        || local.starts_with("no-reply")
    {
        return Some("automated sender");
    }
    let mine: Vec<String> = std::iter::once(user.to_ascii_lowercase())
        .chain(v.addresses.iter().map(|a| a.to_ascii_lowercase()))
        .collect();
    if mine.contains(&from_l) {
        return Some("sent by the user");
    }
    let msg = Message::parse(raw);
    let field = |n: &str| {
        msg.header(n)
            .map(|v| String::from_utf8_lossy(&v).trim().to_ascii_lowercase())
    };
    if field("auto-submitted")
        .is_some_and(|v| v != "no" && !v.starts_with("no;") && !v.starts_with("no "))
    {
        return Some("Auto-Submitted");
    }
    if field("precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "list" | "junk")) {
        return Some("Precedence");
    }
    if ["list-id", "list-unsubscribe", "list-post", "x-loop"]
        .iter()
        .any(|h| msg.header(h).is_some())
    {
        return Some("mailing list");
    }
    // The user must be a visible recipient (RFC 5230 §4.5).
    let visible = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .flat_map(|h| msg.addresses(h))
        .filter_map(|a| {
            let m = String::from_utf8_lossy(a.mailbox.as_deref()?).to_ascii_lowercase();
            let h = String::from_utf8_lossy(a.host.as_deref()?).to_ascii_lowercase();
            Some(format!("{m}@{h}"))
        })
        .any(|a| mine.contains(&a) || plus_less(&a).is_some_and(|b| mine.contains(&b)));
    if !visible {
        return Some("the user is not in To or Cc");
    }
    None
}

/// `anna+tag@d` → `anna@d`.
fn plus_less(a: &str) -> Option<String> {
    let (l, d) = a.split_once('@')?;
    let (base, _) = l.split_once('+')?;
    Some(format!("{base}@{d}"))
}

/// The seconds a reply to one sender holds (`:seconds`, else `:days`).
pub fn period_secs(v: &Vacation) -> i64 {
    match (v.seconds, v.days) {
        (Some(s), _) => s.min(u64::from(u32::MAX)) as i64,
        (None, Some(d)) => d.clamp(1, 365) as i64 * 86_400,
        (None, None) => DEFAULT_DAYS as i64 * 86_400,
    }
}

/// The handle of a reply (RFC 5230 §4.2: without `:handle`, the reply's own
/// arguments identify it).
pub fn handle(v: &Vacation) -> String {
    v.handle.clone().unwrap_or_else(|| {
        format!(
            "{}\0{}\0{}\0{}\0{}",
            v.reason,
            v.subject.as_deref().unwrap_or(""),
            v.from.as_deref().unwrap_or(""),
            v.mime,
            v.addresses.join(",")
        )
    })
}

/// Records that `sender` got the reply `handle` now, unless it got it within
/// `period` seconds: true when a reply is due. The record is
/// `sieve/vacation` (one line per sender and handle: a hash and the time).
pub fn due(dir: &Path, sender: &str, handle: &str, period: i64, now: i64) -> bool {
    let key = {
        let mut h = Sha256::new();
        h.update(sender.to_ascii_lowercase().as_bytes());
        h.update([0]);
        h.update(handle.as_bytes());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let path = dir.join("vacation");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut entries: Vec<(String, i64)> = text
        .lines()
        .filter_map(|l| {
            let (k, t) = l.split_once(' ')?;
            Some((k.to_string(), t.parse().ok()?))
        })
        // A year at most: no :days is longer.
        .filter(|(_, t)| now - t < 366 * 86_400)
        .collect();
    if let Some((_, t)) = entries.iter().find(|(k, _)| *k == key) {
        if period > 0 && now - t < period {
            return false;
        }
    }
    entries.retain(|(k, _)| *k != key);
    entries.push((key, now));
    if entries.len() > MAX_TRACKED {
        entries.sort_by_key(|(_, t)| *t);
        let cut = entries.len() - MAX_TRACKED;
        entries.drain(..cut);
    }
    let mut out = String::with_capacity(entries.len() * 80);
    for (k, t) in &entries {
        out.push_str(&format!("{k} {t}\n"));
    }
    let tmp = dir.join(format!(".vacation-{}", std::process::id()));
    if std::fs::create_dir_all(dir).is_ok()
        && std::fs::write(&tmp, out).is_ok()
        && std::fs::rename(&tmp, &path).is_ok()
    {
        return true;
    }
    let _ = std::fs::remove_file(&tmp);
    // Unrecorded, the reply could repeat: better none.
    false
}

/// A header value safe to write: no CR/LF, non-ASCII as an RFC 2047 word.
fn header_text(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.is_ascii() {
        return s;
    }
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!("=?UTF-8?B?{b}?=")
}

fn date_now(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

fn message_id(hostname: &str, now: i64) -> String {
    format!(
        "<{}.{now}.vacation@{hostname}>",
        crate::store::blob::new_blob_id()
    )
}

/// The vacation reply to the message `raw` (RFC 5230 §5): from the user (or
/// `:from`), to the envelope sender, `Auto-Submitted: auto-replied`,
/// In-Reply-To/References, the subject `:subject` or "Auto: " and the
/// original's.
pub fn vacation_reply(
    raw: &[u8],
    envelope_from: &str,
    user: &str,
    v: &Vacation,
    hostname: &str,
    now: i64,
) -> Vec<u8> {
    let msg = Message::parse(raw);
    let original_subject = msg
        .header("subject")
        .map(|s| crate::message::decode::rfc2047(&s))
        .unwrap_or_default();
    let subject = v
        .subject
        .clone()
        .unwrap_or_else(|| format!("Auto: {}", original_subject.trim()));
    let from = v.from.clone().unwrap_or_else(|| user.to_string());
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", header_text(&from)));
    out.push_str(&format!("To: <{}>\r\n", header_text(envelope_from)));
    out.push_str(&format!("Subject: {}\r\n", header_text(&subject)));
    out.push_str(&format!("Date: {}\r\n", date_now(now)));
    out.push_str(&format!("Message-ID: {}\r\n", message_id(hostname, now)));
    if let Some(id) = msg.header("message-id") {
        let id = header_text(String::from_utf8_lossy(&id).trim());
        out.push_str(&format!("In-Reply-To: {id}\r\n"));
        let refs = msg
            .header("references")
            .map(|r| header_text(String::from_utf8_lossy(&r).trim()))
            .filter(|r| !r.is_empty());
        match refs {
            Some(r) => out.push_str(&format!("References: {r} {id}\r\n")),
            None => out.push_str(&format!("References: {id}\r\n")),
        }
    }
    out.push_str("Auto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\n");
    if v.mime {
        // The reason is a MIME entity: its own header follows.
        out.push_str(&v.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
        if !out.ends_with("\r\n") {
            out.push_str("\r\n");
        }
    } else {
        out.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        out.push_str(&v.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
        if !out.ends_with("\r\n") {
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}

/// The notice of a `reject` (RFC 5429 §2.1.1): a message disposition
/// notification to the envelope sender with the reason and the original
/// header.
pub fn reject_notice(
    raw: &[u8],
    envelope_from: &str,
    user: &str,
    reason: &str,
    hostname: &str,
    now: i64,
) -> Vec<u8> {
    let header_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 1))
        .unwrap_or(raw.len())
        .min(64 * 1024);
    let boundary = format!("reject-{}", crate::store::blob::new_blob_id());
    let msg = Message::parse(raw);
    let subject = msg
        .header("subject")
        .map(|s| crate::message::decode::rfc2047(&s))
        .unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
    ));
    out.push_str(&format!("To: <{}>\r\n", header_text(envelope_from)));
    out.push_str(&format!(
        "Subject: {}\r\n",
        header_text(&format!("Rejected: {}", subject.trim()))
    ));
    out.push_str(&format!("Date: {}\r\n", date_now(now)));
    out.push_str(&format!("Message-ID: {}\r\n", message_id(hostname, now)));
    out.push_str("Auto-Submitted: auto-replied (rejected)\r\nMIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Your message to <{}> was rejected by the recipient's filter:\r\n\r\n{}\r\n\r\n",
        header_text(user),
        reason.replace("\r\n", "\n").replace('\n', "\r\n")
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n\
         Reporting-UA: {hostname}; ferrymail\r\nFinal-Recipient: rfc822; {}\r\n\
         Disposition: automatic-action/MDN-sent-automatically; deleted\r\n\r\n",
        header_text(user)
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&raw[..header_end]);
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Vacation {
        Vacation {
            handle: None,
            days: None,
            seconds: None,
            subject: None,
            from: None,
            addresses: vec![],
            mime: false,
            reason: "Ich bin im Urlaub.".into(),
        }
    }

    const MSG: &[u8] = b"From: Bob <bob@example.net>\r\nTo: Anna <anna@example.org>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <1@example.net>\r\n\r\nHallo\r\n";

    #[test]
    fn automatic_and_list_mail_and_bcc_only_get_no_reply() {
        let user = "anna@example.org";
        assert_eq!(refuse_reason(MSG, "bob@example.net", user, &v()), None);
        assert!(refuse_reason(MSG, "", user, &v()).is_some());
        assert!(refuse_reason(MSG, "MAILER-DAEMON@example.net", user, &v()).is_some());
        assert!(refuse_reason(MSG, "owner-list@example.net", user, &v()).is_some());
        assert!(refuse_reason(MSG, "anna@example.org", user, &v()).is_some());
        for extra in [
            "Auto-Submitted: auto-replied\r\n",
            "Precedence: bulk\r\n",
            "List-Id: <l.example.net>\r\n",
        ] {
            let m = [extra.as_bytes(), MSG].concat();
            assert!(
                refuse_reason(&m, "bob@example.net", user, &v()).is_some(),
                "{extra}"
            );
        }
        let m = [b"Auto-Submitted: no\r\n".as_slice(), MSG].concat();
        assert_eq!(refuse_reason(&m, "bob@example.net", user, &v()), None);
        let hidden = MSG.to_vec();
        let hidden = String::from_utf8(hidden)
            .unwrap()
            .replace("anna@example.org", "team@example.org");
        assert!(refuse_reason(hidden.as_bytes(), "bob@example.net", user, &v()).is_some());
        let mut with = v();
        with.addresses = vec!["team@example.org".into()];
        assert_eq!(
            refuse_reason(hidden.as_bytes(), "bob@example.net", user, &with),
            None
        );
    }

    #[test]
    fn one_reply_per_sender_per_period() {
        let dir = tempfile::tempdir().unwrap();
        let p = period_secs(&v());
        assert_eq!(p, 7 * 86_400);
        assert!(due(dir.path(), "bob@example.net", "h", p, 1000));
        assert!(!due(dir.path(), "Bob@example.net", "h", p, 2000));
        assert!(due(dir.path(), "bob@example.net", "other", p, 2000));
        assert!(due(dir.path(), "carol@example.net", "h", p, 2000));
        assert!(due(dir.path(), "bob@example.net", "h", p, 1000 + p));
        // :seconds 0: every time.
        assert!(due(dir.path(), "bob@example.net", "z", 0, 5000));
        assert!(due(dir.path(), "bob@example.net", "z", 0, 5001));
    }

    #[test]
    fn the_reply_is_a_proper_auto_reply() {
        let r = vacation_reply(
            MSG,
            "bob@example.net",
            "anna@example.org",
            &v(),
            "mx.example.org",
            0,
        );
        let t = String::from_utf8(r).unwrap();
        assert!(t.contains("From: anna@example.org\r\n"), "{t}");
        assert!(t.contains("To: <bob@example.net>\r\n"), "{t}");
        assert!(t.contains("Subject: =?UTF-8?B?"), "{t}");
        assert!(t.contains("In-Reply-To: <1@example.net>\r\n"), "{t}");
        assert!(t.contains("Auto-Submitted: auto-replied"), "{t}");
        assert!(t.ends_with("Ich bin im Urlaub.\r\n"), "{t}");
        let n = reject_notice(
            MSG,
            "bob@example.net",
            "anna@example.org",
            "Nein\ndanke",
            "mx",
            0,
        );
        let t = String::from_utf8(n).unwrap();
        assert!(t.contains("report-type=disposition-notification"), "{t}");
        assert!(t.contains("Nein\r\ndanke"), "{t}");
        assert!(t.contains("Message-ID: <1@example.net>"), "{t}");
    }
}
