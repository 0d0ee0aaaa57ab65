//! THREAD and UID THREAD (RFC 5256 §2): ORDEREDSUBJECT and REFERENCES.
//! State: selected. The search criteria are evaluated by SEARCH's code. Every
//! tree walk is iterative, so a long reference chain cannot exhaust the stack.

use std::collections::HashMap;

use super::search::check_charset;
use super::sort::{load, sent_date, Loaded};
use crate::imap::base_subject::{self, BaseSubject};
use crate::imap::proto::{SearchKey, ThreadAlgorithm};
use crate::imap::session::{Done, Session};
use crate::message::Message;

/// At most this many of a message's last references are linked (a hostile
/// References field of a megabyte would otherwise cost quadratic time).
const MAX_REFS: usize = 256;

/// What threading knows of one message.
struct Item {
    /// The number written in the answer (sequence number or UID).
    out: u32,
    /// Tie-breaker after the sent date (UIDs ascend with sequence numbers).
    seq: u32,
    sent: i64,
    id: Option<String>,
    /// References, else In-Reply-To (the last at most [`MAX_REFS`]).
    refs: Vec<String>,
    subject: BaseSubject,
}

/// The message ids (`<...>`) of a header value, in order, without the brackets
/// and white space.
fn msg_ids(v: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(open) = v[i..].iter().position(|&b| b == b'<') {
        let start = i + open + 1;
        let Some(len) = v[start..].iter().position(|&b| b == b'>') else {
            break;
        };
        let id: Vec<u8> = v[start..start + len]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if !id.is_empty() && !id.contains(&b'<') {
            out.push(String::from_utf8_lossy(&id).into_owned());
        }
        i = start + len + 1;
    }
    out
}

fn item(l: &Loaded, uid: bool) -> Item {
    let msg = Message::parse_header(&l.header);
    let f = &l.found;
    let mut refs = msg
        .header("references")
        .map(|v| msg_ids(&v))
        .unwrap_or_default();
    if refs.is_empty() {
        refs = msg
            .header("in-reply-to")
            .and_then(|v| msg_ids(&v).into_iter().next())
            .into_iter()
            .collect();
    }
    if refs.len() > MAX_REFS {
        refs.drain(..refs.len() - MAX_REFS);
    }
    Item {
        out: if uid { f.meta.uid } else { f.seq },
        seq: f.seq,
        sent: sent_date(&msg, f.meta.internaldate),
        id: msg
            .header("message-id")
            .and_then(|v| msg_ids(&v).into_iter().next()),
        refs,
        subject: base_subject::extract(&msg.header("subject").unwrap_or_default()),
    }
}

/// A node of the thread forest: a message (index into the items) or a dummy.
#[derive(Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest {
    cs: Vec<Container>,
    roots: Vec<usize>,
}

impl Forest {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.cs.push(Container {
            msg,
            ..Default::default()
        });
        self.cs.len() - 1
    }

    /// Every container reachable from the roots, parents before children.
    fn preorder(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(c) = stack.pop() {
            out.push(c);
            stack.extend(self.cs[c].children.iter().rev());
        }
        out
    }

    /// The first message at or under `c` (a dummy's subject and date are its
    /// first child's).
    fn first_msg(&self, mut c: usize) -> Option<usize> {
        loop {
            if let Some(m) = self.cs[c].msg {
                return Some(m);
            }
            c = *self.cs[c].children.first()?;
        }
    }

    /// Sorts every set of siblings and the roots by sent date, then sequence
    /// number; a dummy counts as its first child after its children are sorted.
    fn sort(&mut self, items: &[Item]) {
        let key = |f: &Forest, c: usize| {
            f.first_msg(c)
                .map(|m| (items[m].sent, items[m].seq))
                .unwrap_or((i64::MAX, u32::MAX))
        };
        for c in self.preorder().into_iter().rev() {
            let mut kids = std::mem::take(&mut self.cs[c].children);
            kids.sort_by_cached_key(|&k| key(self, k));
            self.cs[c].children = kids;
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.sort_by_cached_key(|&k| key(self, k));
        self.roots = roots;
    }

    /// The answer's thread list: `(1 (2 3)(4))(5)`.
    fn render(&self, items: &[Item], out: &mut String) {
        enum Step {
            Node(usize),
            Text(&'static str),
        }
        for &r in &self.roots {
            out.push('(');
            let mut stack = vec![Step::Node(r)];
            while let Some(s) = stack.pop() {
                let c = match s {
                    Step::Text(t) => {
                        out.push_str(t);
                        continue;
                    }
                    Step::Node(c) => c,
                };
                let node = &self.cs[c];
                if let Some(m) = node.msg {
                    out.push_str(&items[m].out.to_string());
                    if !node.children.is_empty() {
                        out.push(' ');
                    }
                }
                match node.children.as_slice() {
                    [] => {}
                    [one] => stack.push(Step::Node(*one)),
                    many => {
                        for &k in many.iter().rev() {
                            stack.push(Step::Text(")"));
                            stack.push(Step::Node(k));
                            stack.push(Step::Text("("));
                        }
                    }
                }
            }
            out.push(')');
        }
    }
}

/// ORDEREDSUBJECT (RFC 5256 §2.1): messages grouped by base subject; the
/// earliest of each group is the parent of the others.
fn ordered_subject(items: &[Item]) -> Forest {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&i| (items[i].subject.key(), items[i].sent, items[i].seq));
    let mut f = Forest {
        cs: Vec::new(),
        roots: Vec::new(),
    };
    let mut current: Option<(Vec<u8>, usize)> = None;
    for i in order {
        let key = items[i].subject.key();
        let c = f.add(Some(i));
        match &current {
            Some((k, parent)) if *k == key => f.cs[*parent].children.push(c),
            _ => {
                f.roots.push(c);
                current = Some((key, c));
            }
        }
    }
    f.sort(items);
    f
}

/// True when making `parent` the parent of `child` would close a loop.
fn would_loop(f: &Forest, parent: usize, child: usize) -> bool {
    let mut p = Some(parent);
    while let Some(x) = p {
        if x == child {
            return true;
        }
        p = f.cs[x].parent;
    }
    false
}

fn link(f: &mut Forest, parent: usize, child: usize) {
    f.cs[child].parent = Some(parent);
    f.cs[parent].children.push(child);
}

fn unlink(f: &mut Forest, child: usize) {
    if let Some(p) = f.cs[child].parent.take() {
        f.cs[p].children.retain(|&k| k != child);
    }
}

/// REFERENCES (RFC 5256 §2.2).
fn references(items: &[Item]) -> Forest {
    let mut f = Forest {
        cs: Vec::new(),
        roots: Vec::new(),
    };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    // Step 1: containers and links, in sequence order.
    for (i, it) in items.iter().enumerate() {
        // 1.A: a duplicate Message-ID (or none) gets a container of its own.
        let me = match it.id.as_deref().map(|id| (id, by_id.get(id).copied())) {
            Some((_, Some(c))) if f.cs[c].msg.is_none() => {
                f.cs[c].msg = Some(i);
                c
            }
            Some((id, None)) => {
                let c = f.add(Some(i));
                by_id.insert(id, c);
                c
            }
            _ => f.add(Some(i)),
        };
        // 1.B: chain the references, keeping links that exist.
        let mut refs = Vec::with_capacity(it.refs.len());
        for r in &it.refs {
            let c = match by_id.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = f.add(None);
                    by_id.insert(r.as_str(), c);
                    c
                }
            };
            refs.push(c);
        }
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if f.cs[c].parent.is_none() && !would_loop(&f, p, c) {
                link(&mut f, p, c);
            }
        }
        // 1.C: the last reference is the parent.
        unlink(&mut f, me);
        if let Some(&last) = refs.last() {
            if !would_loop(&f, last, me) {
                link(&mut f, last, me);
            }
        }
    }
    // Step 2: the root set.
    f.roots = (0..f.cs.len())
        .filter(|&c| f.cs[c].parent.is_none())
        .collect();
    // Step 3: dummies without children go; dummies with children give way to
    // them, except at the root with more than one child.
    for c in f.preorder().into_iter().rev() {
        let kids = std::mem::take(&mut f.cs[c].children);
        f.cs[c].children = prune(&mut f, kids, false);
    }
    let roots = std::mem::take(&mut f.roots);
    f.roots = prune(&mut f, roots, true);
    // Step 4.
    f.sort(items);
    // Step 5: roots with the same base subject are gathered.
    merge_subjects(&mut f, items);
    // Step 6.
    f.sort(items);
    f
}

/// Step 3 for one list of siblings whose own children are already pruned.
fn prune(f: &mut Forest, list: Vec<usize>, root: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        if f.cs[c].msg.is_some() {
            out.push(c);
            continue;
        }
        let kids = &f.cs[c].children;
        if kids.is_empty() {
            continue;
        }
        if !root || kids.len() == 1 {
            out.extend(std::mem::take(&mut f.cs[c].children));
        } else {
            out.push(c);
        }
    }
    out
}

/// Step 5 of REFERENCES.
fn merge_subjects(f: &mut Forest, items: &[Item]) {
    let subject = |f: &Forest, c: usize| f.first_msg(c).map(|m| &items[m].subject);
    let dummy = |f: &Forest, c: usize| f.cs[c].msg.is_none();
    let reply = |f: &Forest, c: usize| subject(f, c).is_some_and(|s| s.reply);
    // 5.A/B: which root holds each subject.
    let mut table: HashMap<Vec<u8>, usize> = HashMap::new();
    for &r in &f.roots {
        let Some(s) = subject(f, r) else { continue };
        let key = s.key();
        if key.is_empty() {
            continue;
        }
        match table.get(&key) {
            None => {
                table.insert(key, r);
            }
            Some(&t) => {
                let take = (dummy(f, r) && !dummy(f, t))
                    || (!dummy(f, t) && reply(f, t) && !dummy(f, r) && !reply(f, r));
                if take {
                    table.insert(key, r);
                }
            }
        }
    }
    // 5.C: every other root of a subject is merged with the table's.
    let roots = f.roots.clone();
    let mut gone = std::collections::HashSet::new();
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    for r in roots.iter().copied() {
        let Some(key) = subject(f, r).map(|s| s.key()) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let Some(&t) = table.get(&key) else { continue };
        if t == r {
            continue;
        }
        if dummy(f, t) && dummy(f, r) {
            let kids = std::mem::take(&mut f.cs[r].children);
            f.cs[t].children.extend(kids);
        } else if dummy(f, t) || (reply(f, r) && !reply(f, t)) {
            f.cs[t].children.push(r);
        } else {
            let d = f.add(None);
            f.cs[d].children = vec![t, r];
            replaced.insert(t, d);
            table.insert(key, d);
        }
        gone.insert(r);
    }
    f.roots = roots
        .into_iter()
        .filter(|r| !gone.contains(r))
        .map(|r| replaced.get(&r).copied().unwrap_or(r))
        .collect();
}

impl Session {
    pub(crate) async fn cmd_thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        key: SearchKey,
    ) -> Done {
        if let Err(done) = check_charset(&charset) {
            return done;
        }
        let found = match self.search_matches(&key).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let loaded = load(self, found, true).await;
        let items: Vec<Item> = loaded.iter().map(|l| item(l, uid)).collect();
        let forest = match algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(&items),
            ThreadAlgorithm::References => references(&items),
        };
        let mut line = String::from("* THREAD ");
        forest.render(&items, &mut line);
        let line = line.trim_end();
        self.conn.write(line.as_bytes());
        self.conn.write(b"\r\n");
        Done::Ok("THREAD completed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(seq: u32, sent: i64, id: Option<&str>, refs: &[&str], subject: &str) -> Item {
        Item {
            out: seq,
            seq,
            sent,
            id: id.map(str::to_string),
            refs: refs.iter().map(|s| s.to_string()).collect(),
            subject: base_subject::extract(subject.as_bytes()),
        }
    }

    fn show(f: &Forest, items: &[Item]) -> String {
        let mut s = String::new();
        f.render(items, &mut s);
        s
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            msg_ids(b"<a@b> (c) <c @d>\r\n <e@f"),
            vec!["a@b".to_string(), "c@d".to_string()]
        );
        assert!(msg_ids(b"no ids").is_empty());
        assert!(msg_ids("<ü".as_bytes()).is_empty());
    }

    #[test]
    fn references_loops_and_dummies() {
        // 2 says a -> c -> b; 3 (c) says b is its parent: a loop, so c is a root.
        let items = vec![
            it(1, 30, Some("a@b"), &[], ""),
            it(2, 10, Some("b@b"), &["a@b", "c@b"], ""),
            it(3, 20, Some("c@b"), &["b@b"], ""),
        ];
        assert_eq!(show(&references(&items), &items), "(3 2)(1)");
        // Two replies to a message that is gone: a dummy at the root.
        let items = vec![
            it(1, 10, None, &["x@y"], "a"),
            it(2, 11, None, &["x@y"], "b"),
        ];
        assert_eq!(show(&references(&items), &items), "((1)(2))");
    }

    #[test]
    fn references_subjects_are_gathered() {
        let items = vec![
            it(1, 10, Some("1@x"), &[], "Grüße"),
            it(2, 11, Some("2@x"), &["gone@x"], "Re: Grüße"),
            it(3, 12, Some("3@x"), &[], "收件箱"),
            it(4, 13, Some("4@x"), &[], "收件箱"),
        ];
        assert_eq!(show(&references(&items), &items), "(1 2)((3)(4))");
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let n = 20_000u32;
        let items: Vec<Item> = (1..=n)
            .map(|i| {
                let prev = format!("{}@x", i - 1);
                let refs: Vec<&str> = if i > 1 { vec![prev.as_str()] } else { vec![] };
                it(i, i as i64, Some(&format!("{i}@x")), &refs, "")
            })
            .collect();
        let s = show(&references(&items), &items);
        assert!(s.starts_with("(1 2 3 ") && s.ends_with(&format!(" {n})")));
    }
}
