//! Generated documentation stays current: `docs/catalogue.md` is the stage catalogue
//! generated from the kinds' own schemas. Regenerate with
//! `SIEVE_UPDATE_DOCS=1 cargo test --test integration docs`.

use std::path::Path;

fn generated_catalogue() -> String {
    let mut out = String::from(
        "# Stage catalogue (generated)\n\n\
         Every stage kind with its inputs, parameters, defaults and output, generated from the\n\
         kinds' own schemas (`sieve stages --markdown`; `sieve stages KIND` in a terminal).\n\
         How the stages work is described in [stages.md](stages.md), [report.md](report.md)\n\
         and [language.md](language.md). Do not edit by hand: regenerate with\n\
         `SIEVE_UPDATE_DOCS=1 cargo test --test integration docs`.\n\n",
    );
    for k in sieve::stages::registry().iter() {
        out.push_str(&sieve::stages::describe_kind(k, true));
    }
    out
}

#[test]
fn stage_catalogue_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/catalogue.md");
    let want = generated_catalogue();
    if std::env::var_os("SIEVE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/catalogue.md is stale (a stage kind or parameter changed); regenerate it with \
         SIEVE_UPDATE_DOCS=1 cargo test --test integration docs"
    );
}

/// Every Markdown file a user reads: the README and everything under docs/.
fn markdown_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The targets of inline Markdown links `[text](target)` outside code spans and blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        // Drop inline code spans, whose brackets are not links.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces → `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_block = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if !in_block && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn doc_links_resolve_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root_canon = root.canonicalize().unwrap();
    let mut broken = Vec::new();
    for file in markdown_files(root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for target in link_targets(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(canon) = dest.canonicalize() else {
                broken.push(format!("{shown}: `{target}` does not exist"));
                continue;
            };
            if !canon.starts_with(&root_canon) {
                broken.push(format!("{shown}: `{target}` points outside the repository"));
                continue;
            }
            if let Some(anchor) = anchor
                && canon.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&canon).unwrap())
                    .iter()
                    .any(|a| a == anchor)
            {
                broken.push(format!("{shown}: `{target}` names no heading of that file"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken documentation links:\n{}",
        broken.join("\n")
    );
}

#[test]
fn link_checker_sees_links_and_anchors() {
    assert_eq!(
        link_targets("see [a](x.md#y) and `[no](z)` [b](../c)\n```\n[no](d)\n```"),
        ["x.md#y", "../c"]
    );
    assert_eq!(
        slug(" 10. Conventional variables: `seed` and `device`"),
        "10-conventional-variables-seed-and-device"
    );
}
