//! Layering, checked the way rust-analyzer's `tidy` checks conventions: every Rust file of
//! the library (everything under `src/` reachable from `lib.rs`, and files it includes
//! with `#[path]`) is read, each `crate::…` and `super::…` path in its code is resolved
//! to the top-level module it reaches, and an edge against [`RULES`] fails the test with
//! its `file:line`.
//!
//! The layers: `dsl → ir → plan → exec → stages → {data, model, train, eval, report}`,
//! each representation used by the next (lowering calls `stages` for the kinds'
//! schemas, `exec` runs them), and leaves (`cache`, `diag`, `value`, `confine`,
//! `config`, `device`, `testenv`) used by everyone and using nothing but each other.
//! `cli` is the top and may use anything. The `sieve-torch` crate (`torch/src/`) is
//! checked the same way: its libraries (`model`, `train`, `eval`) know nothing of its
//! stage bodies, runtime or benchmarks.
//!
//! What counts: paths in code, `use` items and `use crate::{a, b::c}` groups. Comments
//! (doc links included) and string literals do not. The binaries (`src/main.rs`,
//! `src/bin/`) are separate crates that use the library as `sieve::…` and are not
//! checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every top-level module of the library. A module added to `lib.rs` fails the test
/// until it is listed here and, where it belongs to a layer, in the rules.
const MODULES: &[&str] = &[
    "cache", "cli", "config", "confine", "data", "device", "diag", "dsl", "eval", "exec", "ir", "model",
    "plan", "report", "stages", "testenv", "value",
];

/// The leaves: used by everyone, using nothing but each other.
const LEAVES: &[&str] = &["cache", "diag", "value", "confine", "config", "device", "testenv"];

/// The plain libraries the stages call.
const LIBRARIES: &[&str] = &["data", "model", "eval", "report"];

/// One rule: modules in `from` never use modules in `never`.
struct Rule {
    from: &'static [&'static str],
    never: &'static [&'static str],
    why: &'static str,
}

/// Everything that is not a leaf.
const ABOVE_LEAVES: &[&str] = &[
    "cli", "data", "dsl", "eval", "exec", "ir", "model", "plan", "report", "stages",
];

const RULES: &[Rule] = &[
    Rule {
        from: LIBRARIES,
        never: &["stages", "exec", "plan", "ir", "dsl", "cli", "cache"],
        why: "the libraries know nothing of the engine: stages call them, not the reverse",
    },
    Rule {
        from: LEAVES,
        never: ABOVE_LEAVES,
        why: "a leaf uses nothing above it: its caller passes what it needs",
    },
    Rule {
        from: &["exec"],
        never: &["cli", "data", "model", "eval", "report"],
        why: "exec is driven by the CLI and reaches the libraries only through stages",
    },
    Rule {
        from: &["plan"],
        never: &["exec", "cli"],
        why: "a plan is built before anything runs",
    },
    Rule {
        from: &["ir"],
        never: &["exec", "plan", "cli"],
        why: "the IR is lowered before it is planned or run",
    },
    Rule {
        from: &["dsl"],
        never: &["ir", "plan", "exec", "cli"],
        why: "the front end knows only the syntax and the kinds' schemas",
    },
    Rule {
        from: &["stages"],
        never: &["exec", "cli", "plan", "ir", "dsl"],
        why: "lowering and the scheduler call stages, not the reverse",
    },
];

/// Edges the rules forbid that are still there, each with the reason it is tolerated.
/// An exception that no longer matches anything fails the test: delete it then.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// One use of a top-level module: `file:line` uses `target`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    file: String,
    line: usize,
    from: String,
    target: String,
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let declared = declared_modules(&lib);
    assert_eq!(
        declared,
        MODULES.iter().map(|m| m.to_string()).collect::<BTreeSet<_>>(),
        "lib.rs declares other top-level modules than tests/layering.rs lists: place the new \
         one in MODULES (and in a layer's rules)"
    );

    let edges = library_edges(root, "src/lib.rs", MODULES);
    let mut offending = Vec::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    for e in &edges {
        for rule in RULES {
            if !rule.from.contains(&e.from.as_str()) || !rule.never.contains(&e.target.as_str()) {
                continue;
            }
            match EXCEPTIONS
                .iter()
                .position(|(f, t, _)| *f == e.file && *t == e.target)
            {
                Some(i) => used[i] = true,
                None => offending.push(format!(
                    "{}:{}: {} uses {} ({})",
                    e.file, e.line, e.from, e.target, rule.why
                )),
            }
        }
    }
    for (i, (file, target, _)) in EXCEPTIONS.iter().enumerate() {
        if !used[i] {
            offending.push(format!(
                "exception {file} -> {target} no longer matches an edge: remove it from EXCEPTIONS"
            ));
        }
    }
    assert!(
        offending.is_empty(),
        "{} edge(s) against the layering:\n{}",
        offending.len(),
        offending.join("\n")
    );
    // The scan found the edges every build has (a guard against a scanner that finds
    // nothing and so passes everything).
    for (from, target) in [("stages", "report"), ("exec", "cache"), ("ir", "stages")] {
        assert!(
            edges.iter().any(|e| e.from == from && e.target == target),
            "the scan missed {from} -> {target}"
        );
    }
}

/// The `sieve-torch` crate's top-level modules.
const TORCH_MODULES: &[&str] = &[
    "bench", "device", "eval", "model", "rl", "runtime", "stages", "testenv", "train",
];

#[test]
fn the_torch_crates_libraries_know_nothing_of_its_stage_bodies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("torch/src/lib.rs")).unwrap();
    assert_eq!(
        declared_modules(&lib),
        TORCH_MODULES
            .iter()
            .map(|m| m.to_string())
            .collect::<BTreeSet<_>>(),
        "torch/src/lib.rs declares other top-level modules than tests/layering.rs lists"
    );
    let edges = library_edges(root, "torch/src/lib.rs", TORCH_MODULES);
    let libraries = ["model", "train", "eval", "rl", "device", "testenv"];
    let offending: Vec<String> = edges
        .iter()
        .filter(|e| libraries.contains(&e.from.as_str()))
        // `rl` sits above `train` and `model`: it drives them, never the other way.
        .filter(|e| ["stages", "runtime", "bench", "rl"].contains(&e.target.as_str()))
        .map(|e| format!("{}:{}: {} uses {}", e.file, e.line, e.from, e.target))
        .collect();
    assert!(
        offending.is_empty(),
        "the libraries of sieve-torch use its stage bodies, runtime, benchmarks or the RL library:\n{}",
        offending.join("\n")
    );
    for (from, target) in [("stages", "train"), ("train", "model")] {
        assert!(
            edges.iter().any(|e| e.from == from && e.target == target),
            "the scan missed {from} -> {target}"
        );
    }
}

/// `mod NAME;` declarations of `lib.rs` (whatever their visibility or attributes).
fn declared_modules(lib: &str) -> BTreeSet<String> {
    let code = strip_comments_and_strings(lib);
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("pub ").unwrap_or(l);
            let name = rest.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Every edge out of the library's files, starting at `lib.rs` and following `mod`
/// declarations (and their `#[path]`s) the way rustc does.
fn library_edges(root: &Path, lib: &str, modules: &[&str]) -> Vec<Edge> {
    let mut edges = Vec::new();
    let root = root.canonicalize().unwrap();
    let mut queue: Vec<(PathBuf, Vec<String>, bool)> = vec![(root.join(lib), Vec::new(), true)];
    while let Some((path, module, owns_dir)) = queue.pop() {
        let path = path.canonicalize().unwrap_or(path);
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let scan = scan(&source, &module, modules);
        for (line, target) in scan.edges {
            let from = module.first().cloned().unwrap_or_default();
            if !from.is_empty() && from != target {
                edges.push(Edge {
                    file: rel.clone(),
                    line,
                    from,
                    target,
                });
            }
        }
        // Child files: `mod x;` in a mod.rs / lib.rs lives beside it, in foo.rs under foo/.
        let dir = path.parent().unwrap().to_path_buf();
        let child_dir = if owns_dir {
            dir.clone()
        } else {
            dir.join(path.file_stem().unwrap())
        };
        for child in scan.children {
            let mut m = module.clone();
            m.push(child.name.clone());
            let (file, owns) = match child.path {
                Some(p) => (dir.join(p), false),
                None if child_dir.join(format!("{}.rs", child.name)).is_file() => {
                    (child_dir.join(format!("{}.rs", child.name)), false)
                }
                None => (child_dir.join(&child.name).join("mod.rs"), true),
            };
            queue.push((file, m, owns));
        }
    }
    edges.sort();
    edges
}

/// A `mod NAME;` of a file: its name and `#[path]`, if any.
struct Child {
    name: String,
    path: Option<String>,
}

struct Scan {
    /// `(line, top-level module)` for each path leaving the file's own module tree.
    edges: Vec<(usize, String)>,
    children: Vec<Child>,
}

/// Resolves the `crate::` and `super::` paths of one file whose module path is `module`
/// (`["stages", "report"]` for `src/stages/report.rs`), tracking inline `mod x { … }`
/// blocks for `super`.
fn scan(source: &str, module: &[String], modules: &[&str]) -> Scan {
    let code = strip_comments_and_strings(source);
    let bytes = code.as_bytes();
    let path_attrs = path_attributes(source);
    let mut edges = Vec::new();
    let mut children = Vec::new();
    // Inline modules open at a brace depth; `super` from inside climbs them first.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == b'}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == b';' {
            if let Some(name) = pending_mod.take()
                && inline.is_empty()
            {
                let path = path_attrs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, p)| p.clone());
                children.push(Child { name, path });
            }
            i += 1;
            continue;
        }
        if !is_ident_start(c) || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let word = ident_at(&code, i);
        let after = i + word.len();
        if word == "mod" {
            let name = ident_at(&code, skip_space(&code, after));
            if !name.is_empty() {
                pending_mod = Some(name.to_string());
            }
            i = after;
            continue;
        }
        if word != "crate" && word != "super" {
            i = after;
            continue;
        }
        // A path: `crate` or `super`s, then segments and maybe a `{…}` group.
        let start = i;
        let mut base: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        let mut j = i;
        if word == "crate" {
            base.clear();
            j = after;
        } else {
            while ident_at(&code, j) == "super" {
                base.pop();
                j += "super".len();
                match code[j..].strip_prefix("::") {
                    Some(_) if ident_at(&code, j + 2) == "super" => j += 2,
                    _ => break,
                }
            }
        }
        let Some(rest) = code[j..].strip_prefix("::") else {
            i = j.max(after);
            continue;
        };
        let seg_at = j + 2 + (rest.len() - rest.trim_start().len());
        let firsts: Vec<String> = if base.is_empty() {
            if code[seg_at..].starts_with('{') {
                group_firsts(&code[seg_at..])
            } else {
                vec![ident_at(&code, seg_at).to_string()]
            }
        } else {
            vec![base[0].clone()]
        };
        for target in firsts {
            if modules.contains(&target.as_str()) {
                edges.push((line_of(start), target));
            }
        }
        i = seg_at.max(after);
    }
    Scan { edges, children }
}

/// The first identifier of each item of a `{a, b::c, d::{e}}` group.
fn group_firsts(group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    for (k, ch) in group.char_indices() {
        match ch {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if expect && depth == 1 && is_ident_start(c as u8) && c.is_ascii() => {
                out.push(ident_at(group, k).to_string());
                expect = false;
            }
            c if c.is_whitespace() => {}
            _ if depth == 1 => expect = false,
            _ => {}
        }
    }
    out
}

/// `#[path = "…"] mod name;` pairs of a file (read from the raw source, whose strings
/// the scan blanks).
fn path_attributes(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    for line in source.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#[path = \"") {
            path = rest.split('"').next().map(str::to_string);
        } else if let Some(p) = &path
            && let Some(m) = t.split("mod ").nth(1).and_then(|m| m.strip_suffix(';'))
        {
            out.push((m.trim().to_string(), p.clone()));
            path = None;
        }
    }
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn ident_at(s: &str, at: usize) -> &str {
    let b = s.as_bytes();
    let mut end = at;
    while end < b.len() && is_ident(b[end]) {
        end += 1;
    }
    &s[at..end]
}

fn skip_space(s: &str, mut at: usize) -> usize {
    while at < s.len() && s.as_bytes()[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

/// The source with comments and the contents of string and character literals replaced
/// by spaces (newlines kept, so lines still count right).
fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            // Block comments nest.
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(b, i) {
            // r#"…"# (and br"…"): no escapes; ends at `"` plus as many `#`.
            let open = 1 + hashes + 1 + usize::from(b[i] == b'b');
            out.extend(std::iter::repeat_n(b' ', open));
            i += open;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while i < b.len() && !b[i..].starts_with(&close) {
                blank(&mut out, b[i]);
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
            i += close.len();
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                blank(&mut out, b[i]);
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '\u{..}', '"') or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                // The escaped character itself may be a quote: `'\''`.
                b[i + 3..].iter().position(|&c| c == b'\'').map(|p| i + 3 + p)
            } else {
                let len = std::str::from_utf8(&b[i + 1..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 1 + len)
            };
            match end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(b' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out.truncate(src.len());
    String::from_utf8(out).unwrap_or_default()
}

/// The number of `#`s of a raw string literal starting at `i` (`r"`, `r#"`, `br"`).
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident(b[i - 1]) {
        return None;
    }
    let at = if b[i] == b'b' { i + 1 } else { i };
    if b.get(at) != Some(&b'r') {
        return None;
    }
    let hashes = b[at + 1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(at + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

#[test]
fn the_scan_resolves_groups_supers_and_inline_modules_and_skips_comments() {
    let src = r##"
//! Uses [`crate::exec`] in a doc comment only.
use crate::{cache::Store, value::Value};
use super::super::plan::Plan;
use super::Sibling;
fn f() -> &'static str {
    let _ = "crate::cli in a string";
    let _ = r#"crate::dsl in a raw string"#;
    let _c = '"';
    crate::report::render(); /* crate::ir */
    "ok"
}
#[cfg(test)]
mod tests {
    use super::super::super::ir::Lowered;
    use super::super::Other;
}
"##;
    let module = vec!["stages".to_string(), "report".to_string()];
    let got: Vec<(usize, String)> = scan(src, &module, MODULES).edges;
    let want = [
        (3, "cache"),
        (3, "value"),
        (4, "plan"),
        (5, "stages"),
        (10, "report"),
        (15, "ir"),
        (16, "stages"),
    ];
    let want: Vec<(usize, String)> = want.iter().map(|(l, m)| (*l, m.to_string())).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "{got:?}");
    assert!(strip_comments_and_strings("let s = \"a // b\"; // c\nx").ends_with("\nx"));
}
