//! Property test over a real socket: mailbox names made of random Unicode
//! (1- to 4-byte characters, combining marks, emoji, `&`, `/`, `%`, `*`,
//! spaces) from a fixed-seed generator, driven through every command that takes
//! a mailbox name or pattern against `ferrymail serve`. A model of the
//! account's mailboxes, subscriptions and message counts gives the exact answer
//! to each LIST/LSUB/STATUS/SELECT. The daemon must never panic, the session
//! never drop, every command gets a tagged OK/NO/BAD, and names round-trip
//! through modified UTF-7 exactly.

mod common;
mod migrate_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::ops::add_account;
use common::{Daemon, Line, TestConfig};
use ferrymail::mutf7;

const USER: &str = "uni@example.test";
const PASS: &str = "uni-pw";
const FIXED: &[&str] = &[
    "Entwürfe",
    "Gelöschte Elemente",
    "Черновики",
    "收件箱",
    "Ελληνικά",
    "😀 emoji",
    // Byte 5 or 6 inside a character: the INBOX checks must not slice there.
    "Briefé",
    "a收件",
    "INBOé",
    "Inbo\u{301}x",
    "A&B/&-/x&y",
    "Entwürfe/Alt/收件箱",
];

/// A fixed-seed linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const ASCII: &[&str] = &[
    "\"", "\\", "a", "b", "Z", "q", "7", " ", "&", "-", "+", ",", "~", "_", ".",
];
const TWO: &[&str] = &["é", "ü", "ß", "Ж", "λ", "ñ", "ö"];
const THREE: &[&str] = &["收", "件", "€", "箱", "ア", "ह", "\u{200d}"];
const FOUR: &[&str] = &["😀", "𝄞", "🎉", "𠀋", "👩\u{200d}💻"];
const MARKS: &[&str] = &["\u{301}", "\u{308}", "\u{20dd}", "\u{fe0f}"];

/// One hierarchy level: 1 to 6 pieces, occasionally a wildcard.
fn level(r: &mut Lcg) -> String {
    let mut s = String::new();
    for _ in 0..1 + r.below(6) {
        let piece = match r.below(100) {
            0..=34 => r.pick(ASCII),
            35..=54 => r.pick(TWO),
            55..=72 => r.pick(THREE),
            73..=87 => r.pick(FOUR),
            88..=97 => r.pick(MARKS),
            _ => r.pick(&["%", "*"]),
        };
        s.push_str(piece);
    }
    s
}

/// A name of 1 to 3 levels separated by `/`.
fn name(r: &mut Lcg) -> String {
    let levels: Vec<String> = (0..1 + r.below(3)).map(|_| level(r)).collect();
    levels.join("/")
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['%', '*'])
}

/// `s` on the wire: modified UTF-7 in a quoted string.
fn q(s: &str) -> String {
    quote(&mutf7::encode(s))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The quoted string at the start of `s`, unescaped.
fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a quoted string: {s:?}"));
    let mut out = String::new();
    let mut esc = false;
    for c in inner.chars() {
        if !esc && c == '\\' {
            esc = true;
        } else {
            out.push(c);
            esc = false;
        }
    }
    out
}

/// RFC 3501 §6.3.8 matching, written independently of the server's: `*`
/// matches anything, `%` anything but `/`.
fn wild(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((&w, rest)) if w == '*' || w == '%' => (0..=n.len())
            .take_while(|&k| w == '*' || k == 0 || n[k - 1] != '/')
            .any(|k| wild(rest, &n[k..])),
        Some((&c, rest)) => n.first() == Some(&c) && wild(rest, &n[1..]),
    }
}

fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    wild(&p, &n)
}

fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

/// What the account holds: mailboxes with their message counts, subscriptions.
struct Model {
    boxes: BTreeMap<String, u32>,
    subs: BTreeSet<String>,
}

impl Model {
    fn create(&mut self, name: &str) {
        for a in ancestors(name).chain([name]) {
            self.boxes.entry(a.to_string()).or_insert(0);
        }
    }

    /// What LIST shows: mailboxes, subscriptions and every ancestor of them.
    fn listed(&self) -> BTreeSet<String> {
        let names = self.boxes.keys().chain(&self.subs);
        let mut all: BTreeSet<String> = names.clone().cloned().collect();
        all.extend(names.flat_map(|n| ancestors(n)).map(str::to_string));
        all
    }

    fn list(&self, pattern: &str) -> BTreeSet<String> {
        let all = self.listed();
        all.into_iter().filter(|n| matches(pattern, n)).collect()
    }

    /// RFC 3501 §6.3.9: subscribed names, and for `%` the parents of
    /// subscribed names.
    fn lsub(&self, pattern: &str) -> BTreeSet<String> {
        let percent = pattern.contains('%');
        self.list(pattern)
            .into_iter()
            .filter(|n| {
                self.subs.contains(n)
                    || (percent && self.subs.iter().any(|s| s.starts_with(&format!("{n}/"))))
            })
            .collect()
    }

    /// A RENAME target: no mailbox of that name or under it.
    fn free(&self, name: &str) -> bool {
        !self.boxes.contains_key(name)
            && !self
                .boxes
                .keys()
                .any(|b| b.starts_with(&format!("{name}/")))
    }
}

/// One logged-in IMAP session.
struct Session {
    line: Line,
    n: u32,
    log: PathBuf,
}

impl Session {
    fn login(d: &Daemon) -> Session {
        Session::login_as(d, USER, PASS)
    }

    fn login_as(d: &Daemon, user: &str, pass: &str) -> Session {
        let mut line = Line::connect(d.addr("imap", "plain"));
        line.expect("* OK");
        let mut s = Session {
            line,
            n: 0,
            log: d.log.clone(),
        };
        s.ok(&format!("LOGIN {user} {pass}"));
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `raw` (the command after the tag, CRLF included); returns the
    /// untagged lines and the tagged line, which must be OK, NO or BAD.
    fn raw(&mut self, raw: &[u8]) -> (Vec<String>, String) {
        self.n += 1;
        let tag = format!("u{}", self.n);
        let mut msg = format!("{tag} ").into_bytes();
        msg.extend_from_slice(raw);
        self.line.send(&msg);
        let mut untagged = Vec::new();
        loop {
            let Some(l) = self.line.try_line() else {
                panic!(
                    "session dropped after {}:\n{}",
                    String::from_utf8_lossy(raw),
                    self.log()
                );
            };
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                assert!(
                    ["OK", "NO", "BAD"].iter().any(|k| rest.starts_with(k)),
                    "{}: {l}",
                    String::from_utf8_lossy(raw)
                );
                return (untagged, rest.to_string());
            }
            untagged.push(l);
        }
    }

    fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        self.raw(format!("{command}\r\n").as_bytes())
    }

    fn ok(&mut self, command: &str) -> Vec<String> {
        let (u, t) = self.cmd(command);
        assert!(t.starts_with("OK"), "{command} -> {t}");
        u
    }

    fn no(&mut self, command: &str) -> String {
        let (_, t) = self.cmd(command);
        assert!(t.starts_with("NO"), "{command} -> {t}");
        t
    }

    /// The names of a LIST or LSUB answer, as sent (modified UTF-7) and
    /// decoded; every one must be canonical modified UTF-7.
    fn names(&mut self, verb: &str, reference: &str, pattern: &str) -> BTreeSet<String> {
        self.listed(verb, &format!("{verb} {} {}", q(reference), q(pattern)))
    }

    /// The names of the answer to `command`, a LIST or LSUB command.
    fn listed(&mut self, verb: &str, command: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for l in self.ok(command) {
            let rest = l
                .strip_prefix(&format!("* {verb} ("))
                .unwrap_or_else(|| panic!("{command}: unexpected {l:?}"));
            let (_, wire) = rest
                .split_once(") \"/\" ")
                .unwrap_or_else(|| panic!("{command}: {l:?}"));
            let wire = unquote(wire);
            let name = mutf7::decode(&wire).unwrap_or_else(|_| panic!("{command}: {l:?}"));
            assert_eq!(mutf7::encode(&name), wire, "not canonical: {l:?}");
            assert!(out.insert(name), "{command}: listed twice: {l:?}");
        }
        out
    }

    fn status_messages(&mut self, name: &str) -> u32 {
        let u = self.ok(&format!("STATUS {} (MESSAGES UIDNEXT)", q(name)));
        let want = format!("* STATUS {} (MESSAGES ", q(name));
        assert_eq!(u.len(), 1, "{u:?}");
        let rest = u[0]
            .strip_prefix(&want)
            .unwrap_or_else(|| panic!("wanted {want:?}, got {:?}", u[0]));
        rest.split(' ').next().unwrap().parse().unwrap()
    }

    fn append(&mut self, name: &str, body: &str) -> String {
        let (_, t) =
            self.raw(format!("APPEND {} {{{}+}}\r\n{body}\r\n", q(name), body.len()).as_bytes());
        t
    }
}

/// A pattern from `name`: its first characters up to a random char boundary,
/// a wildcard, sometimes more of the name after it; sometimes a reference of
/// its leading levels.
fn pattern_from(r: &mut Lcg, name: &str) -> (String, String) {
    let chars: Vec<char> = name.chars().collect();
    let cut = r.below(chars.len() + 1);
    let head: String = chars[..cut].iter().collect();
    let wildcard = if r.below(2) == 0 { "%" } else { "*" };
    let tail: String = match r.below(3) {
        0 if cut < chars.len() => chars[chars.len() - 1..].iter().collect(),
        _ => String::new(),
    };
    let pattern = format!("{head}{wildcard}{tail}");
    // A reference made of whole leading levels, ending with the separator.
    match head.rfind('/') {
        Some(i) if r.below(2) == 0 => (head[..=i].to_string(), pattern[i + 1..].to_string()),
        _ => (String::new(), pattern),
    }
}

#[test]
fn random_unicode_names_over_a_real_socket() {
    let cfg = TestConfig::new(
        "[auth]\nallow_plaintext = true\nfailure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
         [imap]\nlisten = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    add_account(&cfg, USER, PASS);
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let mut s = Session::login(&d);

    let defaults = ["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"];
    let mut m = Model {
        boxes: defaults.iter().map(|n| (n.to_string(), 0)).collect(),
        subs: defaults.iter().map(|n| n.to_string()).collect(),
    };
    let mut r = Lcg(0x0016_5eed);
    let mut names: Vec<String> = FIXED.iter().map(|n| n.to_string()).collect();
    names.extend((0..400).map(|_| name(&mut r)));

    // CREATE: wildcards refused, existing names refused, the rest created
    // with their parents.
    let mut created = Vec::new();
    for n in &names {
        let (_, t) = s.cmd(&format!("CREATE {}", q(n)));
        if has_wildcard(n) {
            assert!(t.starts_with("NO") || t.starts_with("BAD"), "{n:?}: {t}");
            s.no(&format!("SELECT {}", q(n)));
            s.no(&format!("STATUS {} (MESSAGES)", q(n)));
        } else if m.boxes.contains_key(n) {
            assert!(t.starts_with("NO [ALREADYEXISTS]"), "{n:?}: {t}");
        } else {
            assert!(t.starts_with("OK"), "{n:?}: {t}");
            m.create(n);
            created.push(n.clone());
        }
    }
    assert!(created.len() > 300, "only {} names created", created.len());
    assert!(FIXED.iter().all(|f| created.iter().any(|c| c == f)));
    assert_eq!(s.names("LIST", "", "*"), m.list("*"));
    assert_eq!(s.names("LIST", "", "%"), m.list("%"));

    // SUBSCRIBE every other name; UNSUBSCRIBE every fourth again.
    for (i, n) in created.iter().enumerate() {
        if i % 2 == 0 {
            s.ok(&format!("SUBSCRIBE {}", q(n)));
            m.subs.insert(n.clone());
        }
        if i % 4 == 0 {
            s.ok(&format!("UNSUBSCRIBE {}", q(n)));
            m.subs.remove(n);
        }
    }
    assert_eq!(s.names("LSUB", "", "*"), m.lsub("*"));
    assert_eq!(s.names("LSUB", "", "%"), m.lsub("%"));

    // Patterns cut from the names at random character boundaries.
    let (mut hits, mut lsub_hits, mut with_reference) = (0, 0, 0);
    for _ in 0..300 {
        let n = created[r.below(created.len())].clone();
        let (reference, pattern) = pattern_from(&mut r, &n);
        let full = format!("{reference}{pattern}");
        let listed = s.names("LIST", &reference, &pattern);
        assert_eq!(listed, m.list(&full), "LIST {reference:?} {pattern:?}");
        hits += usize::from(listed.contains(&n));
        lsub_hits += usize::from(!m.lsub(&full).is_empty());
        with_reference += usize::from(!reference.is_empty());
        assert_eq!(
            s.names("LSUB", &reference, &pattern),
            m.lsub(&full),
            "LSUB {reference:?} {pattern:?}"
        );
    }
    // The patterns are no straw men: most find the name they were cut from.
    assert!(
        hits > 200 && lsub_hits > 50 && with_reference > 30,
        "{hits} {lsub_hits} {with_reference}"
    );

    // RFC 5258 forms: several patterns at once, only subscribed names.
    for _ in 0..40 {
        let a = created[r.below(created.len())].clone();
        let b = created[r.below(created.len())].clone();
        let (_, pa) = pattern_from(&mut r, &a);
        let (_, pb) = pattern_from(&mut r, &b);
        let mut want = m.list(&pa);
        want.extend(m.list(&pb));
        let command = format!("LIST \"\" ({} {}) RETURN (CHILDREN)", q(&pa), q(&pb));
        assert_eq!(s.listed("LIST", &command), want, "{command}");
        let command = format!("LIST (SUBSCRIBED) \"\" {}", q(&pa));
        let want: BTreeSet<String> = m.list(&pa).intersection(&m.subs).cloned().collect();
        assert_eq!(s.listed("LIST", &command), want, "{command}");
    }

    // APPEND one message to each; STATUS, EXAMINE and SELECT name it back.
    for n in &created {
        let t = s.append(n, &format!("Subject: {}\r\n\r\nhi\r\n", n.len()));
        assert!(t.starts_with("OK [APPENDUID"), "{n:?}: {t}");
        *m.boxes.get_mut(n).unwrap() += 1;
    }
    for (i, n) in created.iter().enumerate() {
        assert_eq!(s.status_messages(n), m.boxes[n], "{n:?}");
        let verb = if i % 2 == 0 { "EXAMINE" } else { "SELECT" };
        let u = s.ok(&format!("{verb} {}", q(n)));
        let exists = format!("* {} EXISTS", m.boxes[n]);
        assert!(u.contains(&exists), "{verb} {n:?}: {u:?}");
    }

    // COPY and MOVE message 1 between random pairs.
    for i in 0..60 {
        let from = created[r.below(created.len())].clone();
        let to = created[r.below(created.len())].clone();
        if from == to || m.boxes[&from] == 0 {
            continue;
        }
        s.ok(&format!("SELECT {}", q(&from)));
        let verb = if i % 2 == 0 { "COPY" } else { "MOVE" };
        let (_, t) = s.cmd(&format!("{verb} 1 {}", q(&to)));
        assert!(t.starts_with("OK"), "{verb} {from:?} -> {to:?}: {t}");
        *m.boxes.get_mut(&to).unwrap() += 1;
        if verb == "MOVE" {
            *m.boxes.get_mut(&from).unwrap() -= 1;
        }
    }
    s.ok("UNSELECT");

    // RENAME to fresh random names (children move along), then DELETE some.
    let mut renamed = 0;
    while renamed < 40 {
        let from = created[r.below(created.len())].clone();
        let to = name(&mut r);
        if !m.boxes.contains_key(&from) {
            continue;
        }
        let (_, t) = s.cmd(&format!("RENAME {} {}", q(&from), q(&to)));
        if has_wildcard(&to) {
            assert!(t.starts_with("NO"), "RENAME {from:?} {to:?}: {t}");
            continue;
        }
        if !m.free(&to) || to.starts_with(&format!("{from}/")) {
            assert!(t.starts_with("NO"), "RENAME {from:?} {to:?}: {t}");
            continue;
        }
        assert!(t.starts_with("OK"), "RENAME {from:?} {to:?}: {t}");
        let moving: Vec<String> = m
            .boxes
            .keys()
            .filter(|b| *b == &from || b.starts_with(&format!("{from}/")))
            .cloned()
            .collect();
        m.create(&to);
        for b in moving {
            let count = m.boxes.remove(&b).unwrap();
            m.boxes.insert(format!("{to}{}", &b[from.len()..]), count);
        }
        created.push(to);
        renamed += 1;
    }
    // RENAME INBOX: its messages move to the new name, INBOX stays, empty.
    let t = s.append("INBOX", "Subject: inbox\r\n\r\nhi\r\n");
    assert!(t.starts_with("OK"), "{t}");
    let to = loop {
        let to = name(&mut r);
        if !has_wildcard(&to) && m.free(&to) {
            break to;
        }
    };
    s.ok(&format!("RENAME INBOX {}", q(&to)));
    m.create(&to);
    *m.boxes.get_mut(&to).unwrap() = 1;
    for _ in 0..40 {
        let n = created[r.below(created.len())].clone();
        let (_, t) = s.cmd(&format!("DELETE {}", q(&n)));
        if m.boxes.remove(&n).is_some() {
            assert!(t.starts_with("OK"), "DELETE {n:?}: {t}");
        } else {
            assert!(t.starts_with("NO"), "DELETE {n:?}: {t}");
        }
    }
    assert_eq!(s.names("LIST", "", "*"), m.list("*"));
    assert_eq!(s.names("LSUB", "", "*"), m.lsub("*"));
    let now: Vec<(String, u32)> = m.boxes.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for (n, count) in now {
        assert_eq!(s.status_messages(&n), count, "{n:?}");
    }

    // Names that are not modified UTF-7 get a clean NO or BAD; raw UTF-8 in
    // a literal is taken as it is and listed encoded. (A session is closed
    // after 30 BADs, so each name gets its own.)
    for bad in [
        "&",
        "&Jjo",
        "&AGE-",
        "&2D0-",
        "&-&",
        "A&B",
        "&U,BTFw",
        "&ZeVnLIqe",
    ] {
        let mut b = Session::login(&d);
        for verb in [
            "CREATE",
            "DELETE",
            "SUBSCRIBE",
            "UNSUBSCRIBE",
            "EXAMINE",
            "SELECT",
        ] {
            let (_, t) = b.cmd(&format!("{verb} {}", quote(bad)));
            assert!(
                t.starts_with("NO") || t.starts_with("BAD"),
                "{verb} {bad:?}: {t}"
            );
        }
        b.ok("SELECT INBOX");
        for command in [
            format!("RENAME Drafts {}", quote(bad)),
            format!("STATUS {} (MESSAGES)", quote(bad)),
            format!("COPY 1 {}", quote(bad)),
            format!("MOVE 1 {}", quote(bad)),
            format!("APPEND {} {{3+}}\r\nx\r\n", quote(bad)),
        ] {
            b.cmd(&command);
        }
        b.cmd(&format!("LIST \"\" {}", quote(bad)));
        b.cmd(&format!("LSUB {} *", quote(bad)));
        b.ok("LOGOUT");
    }
    let raw = "Ärger/Ü 😀";
    let (_, t) = s.raw(format!("CREATE {{{}+}}\r\n{raw}\r\n", raw.len()).as_bytes());
    assert!(t.starts_with("OK"), "{t}");
    m.create(raw);
    assert_eq!(s.names("LIST", "", "*"), m.list("*"));
    s.ok("LOGOUT");

    let log = d.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

/// The same names created on a real Dovecot (separator `/`) arrive through the
/// copy of a first login: LIST shows each exactly as created, encoded the same,
/// with its messages; patterns work on them as on names created locally.
#[test]
fn unicode_folders_from_a_legacy_server_arrive_intact() {
    use common::legacy::{Legacy, LegacyOptions};
    use migrate_support::{config, start_daemon, wait_state, Pop};

    let legacy = Legacy::start(LegacyOptions::default());
    let mut c = legacy.imap("alice", "alice-pw");
    let mut r = Lcg(0x00de_c0de);
    let mut names: Vec<String> = FIXED.iter().map(|n| n.to_string()).collect();
    names.extend((0..80).map(|_| name(&mut r)));
    // What Dovecot accepts (it may refuse some names, `%` and `*` among them).
    let mut accepted = Vec::new();
    for n in &names {
        let (_, t) = c.cmd(&format!("CREATE {}", q(n)));
        if t.starts_with("OK") {
            accepted.push(n.clone());
        }
    }
    assert!(accepted.len() > 60, "Dovecot took only {accepted:?}");
    for (i, n) in accepted.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let body = format!("Subject: {i}\r\n\r\nhi\r\n");
        c.append(
            &mutf7::encode(n),
            "",
            "01-Jan-2024 10:00:00 +0100",
            body.as_bytes(),
        );
    }
    c.logout();

    let cfg = config(&legacy, "");
    let d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    let reply = p.login("alice@example.org", "alice-pw");
    assert!(reply.starts_with("+OK"), "{reply}");
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);

    let mut s = Session::login_as(&d, "alice@example.org", "alice-pw");
    let listed = s.names("LIST", "", "*");
    let mut m = Model {
        boxes: listed.iter().map(|n| (n.clone(), 0)).collect(),
        subs: s.names("LSUB", "", "*"),
    };
    for n in &accepted {
        assert!(listed.contains(n), "{n:?} not in {listed:?}");
        for a in ancestors(n) {
            assert!(listed.contains(a), "{a:?} not in {listed:?}");
        }
    }
    let defaults = ["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"];
    for n in &listed {
        assert!(
            defaults.contains(&n.as_str())
                || accepted
                    .iter()
                    .any(|a| a == n || a.starts_with(&format!("{n}/"))),
            "{n:?} was never created"
        );
    }
    for (i, n) in accepted.iter().enumerate() {
        let want = u32::from(i % 3 == 0);
        assert_eq!(s.status_messages(n), want, "{n:?}");
        *m.boxes.get_mut(n).unwrap() = want;
    }
    for _ in 0..100 {
        let n = accepted[r.below(accepted.len())].clone();
        let (reference, pattern) = pattern_from(&mut r, &n);
        let full = format!("{reference}{pattern}");
        assert_eq!(s.names("LIST", &reference, &pattern), m.list(&full));
        assert_eq!(s.names("LSUB", &reference, &pattern), m.lsub(&full));
    }
    s.ok("LOGOUT");
    let log = d.log_text();
    assert!(!log.contains("panicked"), "{log}");
}
