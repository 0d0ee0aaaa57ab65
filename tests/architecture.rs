//! The shape of the source tree (docs/architecture.md): no import loop spans
//! more than two files, and no source file grows past 700 lines.
//!
//! Run alone with `cargo test --test architecture -- --nocapture`; it prints
//! every loop and every long file it finds.
//!
//! How imports are read: every `crate::a::b::...`, `super::...` and
//! `self::...` path in a file's code (comments, strings and its
//! `#[cfg(test)] mod tests` left out) is resolved to the deepest module file
//! it names (`src/a/b.rs` or `src/a/b/mod.rs`); grouped imports
//! (`use crate::{a::X, b::Y}`) are read member by member. An edge A -> B means
//! file A names something of file B. A loop is a strongly connected set of
//! files in that graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest allowed source file, in lines.
const MAX_LINES: usize = 700;
/// Largest allowed import loop, in files.
const MAX_LOOP: usize = 2;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/a/b.rs` and `src/a/b/mod.rs` -> `[a, b]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a file without comments, string contents and the trailing
/// `#[cfg(test)] mod tests { ... }`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n', '"') or a lifetime ('a).
                let rest: String = chars.clone().take(3).collect();
                let mut it = rest.chars();
                match (it.next(), it.next()) {
                    (Some('\\'), _) => {
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                    (Some(_), Some('\'')) => {
                        chars.next();
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every path (as segments) that starts with `crate`, `super`, `self` or one
/// of `children` (the modules the file declares with `mod name;`, which it may
/// name without `self::`), with `{...}` groups expanded. A path that starts
/// with a child comes back with `self` in front.
fn paths_in(code: &str, children: &[String]) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        if at_word_start {
            let child = children.iter().any(|c| {
                code[i..].starts_with(c.as_str()) && code[i + c.len()..].starts_with("::")
            });
            if child {
                let (paths, end) = parse_path(code, i);
                out.extend(paths.into_iter().map(|mut p| {
                    p.insert(0, "self".to_string());
                    p
                }));
                i = end;
            } else {
                for root in ["crate::", "super::", "self::"] {
                    if code[i..].starts_with(root) {
                        let (paths, end) = parse_path(code, i);
                        out.extend(paths);
                        i = end;
                        break;
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// Parses a path (with groups) starting at `start`; returns its expansions and
/// where it ends.
fn parse_path(code: &str, start: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut segs: Vec<String> = Vec::new();
    let mut i = start;
    loop {
        let s = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > s {
            segs.push(code[s..i].to_string());
        }
        if code[i..].starts_with("::") {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'{' {
                // A group: split its members at top-level commas.
                let mut depth = 0;
                let open = i;
                let mut close = i;
                for (j, &b) in bytes.iter().enumerate().skip(i) {
                    if b == b'{' {
                        depth += 1;
                    } else if b == b'}' {
                        depth -= 1;
                        if depth == 0 {
                            close = j;
                            break;
                        }
                    }
                }
                let inner = &code[open + 1..close];
                let mut members = Vec::new();
                let (mut d, mut from) = (0, 0);
                for (j, b) in inner.bytes().enumerate() {
                    match b {
                        b'{' => d += 1,
                        b'}' => d -= 1,
                        b',' if d == 0 => {
                            members.push(&inner[from..j]);
                            from = j + 1;
                        }
                        _ => {}
                    }
                }
                members.push(&inner[from..]);
                let mut out = Vec::new();
                for m in members {
                    let m = m.trim();
                    if m.is_empty() {
                        continue;
                    }
                    // Parse the member as a relative path.
                    let (subs, _) = parse_path(m, 0);
                    for sub in subs {
                        let mut p = segs.clone();
                        p.extend(sub.into_iter().filter(|s| s != "self"));
                        out.push(p);
                    }
                }
                return (out, close + 1);
            }
            continue;
        }
        return (vec![segs], i);
    }
}

/// The names in `mod name;` / `pub mod name;` / `pub(crate) mod name;` lines.
fn declared_modules(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_suffix(';')?;
            let name = rest.rsplit_once("mod ")?;
            let before = name.0.trim();
            let ok = before.is_empty() || before.starts_with("pub");
            (ok && name
                .1
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| name.1.to_string())
        })
        .collect()
}

#[test]
fn no_import_loop_spans_more_than_two_files_and_no_file_is_too_long() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();

    let mut long = Vec::new();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    // One path that made each edge, to explain a loop.
    let mut why: BTreeMap<(PathBuf, PathBuf), String> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            long.push(format!(
                "{} ({lines} lines)",
                f.strip_prefix(&src).unwrap().display()
            ));
        }
        let here = module_of(&src, f);
        let is_mod = f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let code = code_of(&text);
        let children = declared_modules(&code);
        for path in paths_in(&code, &children) {
            // Absolute segments.
            let mut abs: Vec<String> = Vec::new();
            let mut rest = path.as_slice();
            match rest.first().map(String::as_str) {
                Some("crate") => rest = &rest[1..],
                Some("self") | Some("super") => {
                    // `self` is the file's own module (`mod.rs`: the folder).
                    abs = here.clone();
                    if rest[0] == "self" {
                        rest = &rest[1..];
                    }
                    while rest.first().is_some_and(|s| s == "super") {
                        abs.pop();
                        rest = &rest[1..];
                    }
                    let _ = is_mod;
                }
                _ => continue,
            }
            abs.extend(rest.iter().cloned());
            // The deepest module file the path names.
            let target = (0..=abs.len())
                .rev()
                .find_map(|n| modules.get(&abs[..n]))
                .cloned();
            if let Some(t) = target {
                if &t != f {
                    why.entry((f.clone(), t.clone()))
                        .or_insert_with(|| path.join("::"));
                    edges.entry(f.clone()).or_default().insert(t);
                }
            }
        }
    }

    // Tarjan's strongly connected components.
    let nodes: Vec<PathBuf> = files.clone();
    let index_of: BTreeMap<&PathBuf, usize> =
        nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(n)
                .map(|s| s.iter().filter_map(|t| index_of.get(t).copied()).collect())
                .unwrap_or_default()
        })
        .collect();
    let sccs = tarjan(&adj);
    let mut loops = Vec::new();
    for c in sccs.iter().filter(|c| c.len() > MAX_LOOP) {
        let mut names: Vec<String> = c
            .iter()
            .map(|&i| nodes[i].strip_prefix(&src).unwrap().display().to_string())
            .collect();
        names.sort();
        loops.push(format!("{} files: {}", names.len(), names.join(", ")));
        let rel = |i: usize| nodes[i].strip_prefix(&src).unwrap().display().to_string();
        for &a in c {
            for &b in c.iter().filter(|&&b| adj[a].contains(&b)) {
                let path = &why[&(nodes[a].clone(), nodes[b].clone())];
                println!("  edge {} -> {} ({path})", rel(a), rel(b));
            }
        }
    }
    for l in &loops {
        println!("import loop: {l}");
    }
    for l in &long {
        println!("long file: {l}");
    }
    assert!(
        loops.is_empty() && long.is_empty(),
        "{} import loop(s) over {MAX_LOOP} files, {} file(s) over {MAX_LINES} lines:\n{}\n{}",
        loops.len(),
        long.len(),
        loops.join("\n"),
        long.join("\n")
    );
}

fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct S<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut S, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for &w in &s.adj[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(c);
        }
    }
    let n = adj.len();
    let mut s = S {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_reader_understands_groups_and_relative_paths() {
    let code = code_of(
        "use crate::{a::X, b::{c::Y, self}};\n// crate::z::W\nlet s = \"crate::q\"; super::super::r::f();",
    );
    let p = paths_in(&code, &[]);
    let flat: Vec<String> = p.iter().map(|s| s.join("::")).collect();
    assert!(flat.contains(&"crate::a::X".to_string()), "{flat:?}");
    assert!(flat.contains(&"crate::b::c::Y".to_string()), "{flat:?}");
    assert!(flat.contains(&"crate::b".to_string()), "{flat:?}");
    assert!(flat.contains(&"super::super::r::f".to_string()), "{flat:?}");
    assert!(
        !flat.iter().any(|s| s.contains('z') || s.contains('q')),
        "{flat:?}"
    );
    let code = code_of("mod conn;\npub use conn::{Conn, ConnError};\nfn f() { xconn::y(); }");
    let flat: Vec<String> = paths_in(&code, &declared_modules(&code))
        .iter()
        .map(|s| s.join("::"))
        .collect();
    assert_eq!(flat, ["self::conn::Conn", "self::conn::ConnError"]);
}
