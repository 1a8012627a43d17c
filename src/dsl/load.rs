//! Loading a pipeline: picks the front end by file extension, resolves `import`s
//! recursively and merges everything into one [`ast::File`].
//!
//! Invariants:
//! - every file read (the root and each import) is registered in the [`SourceMap`]
//!   before it is parsed, so every diagnostic renders with file:line:col;
//! - an import path is relative to the directory of the importing file; either syntax may
//!   import either (`.sieve` → DSL, `.yaml` / `.yml` → YAML);
//! - every import passes the pipeline's [`Confinement`] (it must lead inside the project
//!   folder, the store or an allowed folder) before it is read, and the resolved path is
//!   what is read;
//! - the merged file holds, in order, the items of each import (recursively merged, at the
//!   place of its `import`) followed by the file's own items; `Item::Import`s are resolved
//!   and removed; the name and span are the root file's (an imported file's own
//!   `pipeline` name is ignored);
//! - each file is merged once: importing a file that is already part of the pipeline
//!   (a diamond) adds nothing; importing a file that is still being loaded is a cycle and
//!   is reported with the whole chain;
//! - problems accumulate: a missing import does not stop the other imports from loading;
//! - only regular files of at most [`MAX_FILE_BYTES`] are read (a FIFO, device or directory
//!   is refused by name without being read, so nothing can make loading hang), and only
//!   UTF-8 text is parsed (a file that is not is registered with its invalid bytes
//!   replaced, so the diagnostic points at the first one).

use super::ast::{self, Item};
use super::{parser, yaml};
use crate::confine::{Access, Confinement};
use crate::diag::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Longest chain of nested imports accepted.
pub const MAX_IMPORT_DEPTH: usize = 64;
/// Largest pipeline file read (the root or an import), in bytes: 16 MiB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The two syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// The `.sieve` DSL.
    Dsl,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl Syntax {
    /// The syntax of a path, from its extension.
    pub fn of_path(path: &Path) -> Option<Syntax> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("sieve") => Some(Syntax::Dsl),
            Some("yaml" | "yml") => Some(Syntax::Yaml),
            _ => None,
        }
    }
}

/// Parses text in the given syntax (no import resolution).
pub fn parse(text: &str, file: FileId, syntax: Syntax) -> Result<ast::File, Diagnostics> {
    match syntax {
        Syntax::Dsl => parser::parse_file(text, file),
        Syntax::Yaml => yaml::parse_file(text, file),
    }
}

/// Loads the pipeline file at `path` (`.sieve`, `.yaml` or `.yml`) and everything it
/// imports, as one merged file; imports are confined to `files`.
pub fn load_pipeline(
    path: &Path,
    files: &Confinement,
    sources: &mut SourceMap,
) -> Result<ast::File, Diagnostics> {
    let display = path.display().to_string();
    let Some(syntax) = Syntax::of_path(path) else {
        return Err(unknown_syntax(&display, None).into());
    };
    let text = match read_source(path) {
        Ok(text) => text,
        Err(ReadError::NotUtf8 { text, at }) => {
            return Err(not_utf8(sources, &display, path, text, at).into());
        }
        Err(ReadError::Io(e)) => {
            return Err(Diagnostic::error(format!("cannot read `{display}`: {e}")).into());
        }
        Err(other) => return Err(Diagnostic::error(format!("`{display}` {other}")).into()),
    };
    let mut loader = Loader::new(sources, files);
    loader.root(&display, path, text, syntax)
}

/// Loads a pipeline given as text (tests, `sieve check -`). `name` is shown in diagnostics
/// and, read as a path, anchors relative imports.
pub fn load_str(
    name: &str,
    text: &str,
    is_yaml: bool,
    files: &Confinement,
    sources: &mut SourceMap,
) -> Result<ast::File, Diagnostics> {
    let syntax = if is_yaml { Syntax::Yaml } else { Syntax::Dsl };
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::error(format!("`{name}` {}", ReadError::TooLarge(text.len() as u64))).into());
    }
    let mut loader = Loader::new(sources, files);
    loader.root(name, Path::new(name), text.to_string(), syntax)
}

/// Why a pipeline file could not be read.
#[derive(Debug)]
enum ReadError {
    /// Not a regular file: what it is instead.
    NotAFile(&'static str),
    /// Its size in bytes, over [`MAX_FILE_BYTES`].
    TooLarge(u64),
    /// Not UTF-8: the text with each invalid sequence replaced by U+FFFD, and the byte
    /// offset of the first one (the same in the replaced text: only what follows moves).
    NotUtf8 {
        text: String,
        at: usize,
    },
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotAFile(what) => write!(f, "is {what}, not a pipeline file"),
            ReadError::TooLarge(n) => write!(
                f,
                "is {n} bytes long; pipeline files are at most {} MiB ({MAX_FILE_BYTES} bytes)",
                MAX_FILE_BYTES >> 20
            ),
            ReadError::NotUtf8 { .. } => write!(f, "is not UTF-8 text"),
            ReadError::Io(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

/// What a non-regular file is, in words.
fn file_type_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Reads a pipeline file: a regular file of at most [`MAX_FILE_BYTES`], as UTF-8. The
/// type is checked before opening, and again on the open file (opened non-blocking, so a
/// FIFO swapped in meanwhile cannot block the open either).
fn read_source(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let check = |meta: std::fs::Metadata| {
        if !meta.file_type().is_file() {
            return Err(ReadError::NotAFile(file_type_name(meta.file_type())));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge(meta.len()));
        }
        Ok(())
    };
    check(std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    check(file.metadata().map_err(ReadError::Io)?)?;
    let mut bytes = Vec::new();
    // A file growing while it is read still stops at the bound.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        at: e.utf8_error().valid_up_to(),
        text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })?;
    Ok(text)
}

/// The diagnostic of a file that is not UTF-8, at its first invalid byte: the file is
/// registered (invalid sequences shown as U+FFFD) so it renders with file:line:col.
fn not_utf8(sources: &mut SourceMap, display: &str, path: &Path, text: String, at: usize) -> Diagnostic {
    let id = sources.add(display, Some(path), text);
    Diagnostic::error(format!("`{display}` is not UTF-8 text"))
        .at(
            Span::new(id, at, at + '\u{FFFD}'.len_utf8()),
            "this byte is not UTF-8",
        )
        .with_note("pipeline files are UTF-8 text")
}

fn unknown_syntax(display: &str, at: Option<Span>) -> Diagnostic {
    let d = Diagnostic::error(format!("cannot tell the syntax of `{display}`"))
        .with_note("pipeline files end in `.sieve` (DSL), `.yaml` or `.yml` (YAML)");
    match at {
        Some(span) => d.at(span, "unknown file extension"),
        None => d,
    }
}

/// A file's identity for cycle and diamond detection: its canonical path when it exists.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The state of one load: files being loaded (the chain) and files already merged.
struct Loader<'s> {
    sources: &'s mut SourceMap,
    files: &'s Confinement,
    /// The import chain being loaded (root first): identity and display name.
    chain: Vec<(PathBuf, String)>,
    merged: HashSet<PathBuf>,
    diags: Diagnostics,
}

impl<'s> Loader<'s> {
    fn new(sources: &'s mut SourceMap, files: &'s Confinement) -> Self {
        Loader {
            sources,
            files,
            chain: Vec::new(),
            merged: HashSet::new(),
            diags: Diagnostics::new(),
        }
    }

    fn root(
        &mut self,
        display: &str,
        path: &Path,
        text: String,
        syntax: Syntax,
    ) -> Result<ast::File, Diagnostics> {
        let file = self.file(display, path, text, syntax);
        match file {
            Some(f) if !self.diags.has_errors() => Ok(f),
            _ => Err(std::mem::take(&mut self.diags)),
        }
    }

    /// Registers, parses and merges one file (its imports resolved recursively).
    fn file(&mut self, display: &str, path: &Path, text: String, syntax: Syntax) -> Option<ast::File> {
        let id = self.sources.add(display, Some(path), text);
        let parsed = parse(&self.sources.get(id).text, id, syntax);
        let parsed = match parsed {
            Ok(f) => f,
            Err(d) => {
                self.diags.extend(d);
                return None;
            }
        };
        let me = identity(path);
        self.merged.insert(me.clone());
        self.chain.push((me, display.to_string()));
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let display_base = Path::new(display)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut items = Vec::new();
        let mut own = Vec::new();
        for item in parsed.items {
            match item {
                Item::Import(imp) => items.extend(self.import(&imp, &base, &display_base)),
                other => own.push(other),
            }
        }
        self.chain.pop();
        items.extend(own);
        Some(ast::File {
            name: parsed.name,
            items,
            span: parsed.span,
        })
    }

    /// The merged items of one `import`, or nothing (with a diagnostic) when it fails.
    fn import(&mut self, imp: &ast::Import, base: &Path, display_base: &Path) -> Vec<Item> {
        let target = base.join(&imp.path);
        let display = display_base.join(&imp.path).display().to_string();
        let Some(syntax) = Syntax::of_path(&target) else {
            self.diags.push(unknown_syntax(&imp.path, Some(imp.span)));
            return Vec::new();
        };
        let id = identity(&target);
        if let Some(pos) = self.chain.iter().position(|(p, _)| *p == id) {
            let mut names: Vec<&str> = self.chain[pos..].iter().map(|(_, d)| d.as_str()).collect();
            names.push(&self.chain[pos].1);
            let cycle = names.join(" → ");
            self.diags.push(
                Diagnostic::error(format!("import cycle: {cycle}"))
                    .at(imp.span, "this import closes the cycle")
                    .with_note("move the shared definitions into a file that imports nothing from the cycle"),
            );
            return Vec::new();
        }
        if self.merged.contains(&id) {
            // Already part of the pipeline through another import: merged once.
            return Vec::new();
        }
        if self.chain.len() >= MAX_IMPORT_DEPTH {
            self.diags.push(
                Diagnostic::error(format!("imports nested more than {MAX_IMPORT_DEPTH} files deep"))
                    .at(imp.span, "too deep"),
            );
            return Vec::new();
        }
        let resolved = match self.files.check(&target, Access::Read) {
            Ok(r) => r,
            Err(refusal) => {
                let mut d = Diagnostic::error(format!("import `{}`: {refusal}", imp.path))
                    .at(imp.span, refusal.label());
                if let Some(hint) = refusal.hint() {
                    d = d.with_note(hint);
                }
                self.diags.push(d);
                return Vec::new();
            }
        };
        let text = match read_source(&resolved) {
            Ok(t) => t,
            Err(ReadError::NotUtf8 { text, at }) => {
                let d = not_utf8(self.sources, &display, &resolved, text, at)
                    .with_secondary(imp.span, "imported here");
                self.diags.push(d);
                return Vec::new();
            }
            Err(e) => {
                let what = match e {
                    ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        format!("imported file `{display}` does not exist")
                    }
                    ReadError::Io(e) => format!("cannot read imported file `{display}`: {e}"),
                    other => format!("imported file `{display}` {other}"),
                };
                self.diags.push(
                    Diagnostic::error(what)
                        .at(imp.span, "imported here")
                        .with_note("import paths are relative to the importing file"),
                );
                return Vec::new();
            }
        };
        self.file(&display, &target, text, syntax)
            .map(|f| f.items)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A project in a fresh temporary folder holding `files` (name, text); returns the
    /// folder's guard and the path of the first file, the pipeline.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            write(dir.path(), name, text);
        }
        let root = dir.path().join(files[0].0);
        (dir, root)
    }

    /// The confinement of a pipeline file with its default store.
    fn confined(root: &Path) -> Confinement {
        Confinement::of_pipeline(root).expect("confinement")
    }

    /// Loads the pipeline file `root`, confined to its own project.
    fn load(root: &Path, sm: &mut SourceMap) -> Result<ast::File, Diagnostics> {
        load_pipeline(root, &confined(root), sm)
    }

    /// Loads `text` as the file `name` (YAML when the name ends in `.yaml`).
    fn load_inline(name: &str, text: &str, sm: &mut SourceMap) -> Result<ast::File, Diagnostics> {
        load_str(
            name,
            text,
            name.ends_with(".yaml"),
            &confined(Path::new(name)),
            sm,
        )
    }

    fn names(f: &ast::File) -> Vec<String> {
        f.items
            .iter()
            .map(|i| match i {
                Item::Import(i) => format!("import {}", i.path),
                Item::Let(l) => format!("let {}", l.name.name),
                Item::Stage(s) => format!("stage {}", s.name.name),
                Item::Sweep(s) => format!("sweep {}", s.vars[0].name.name),
            })
            .collect()
    }

    #[test]
    fn merges_imports_across_syntaxes_in_order() {
        let (_dir, root) = project(&[
            (
                "main.sieve",
                "import \"lib/shared.yaml\"\npipeline p {\n  import \"lib/more.sieve\"\n  stage own = sft(a, b)\n}\n",
            ),
            (
                "lib/shared.yaml",
                "pipeline: ignored\nimports: [base.sieve]\nlet: {seed: 7}\n",
            ),
            ("lib/base.sieve", "let device = \"cpu\"\n"),
            (
                "lib/more.sieve",
                "stage a = load(path = \"x\")\nsweep v in [1] { stage b = load() }\n",
            ),
        ]);
        let mut sm = SourceMap::new();
        let f = load(&root, &mut sm).expect("loads");
        assert_eq!(f.name.as_ref().map(|n| n.name.as_str()), Some("p"));
        assert_eq!(
            names(&f),
            ["let device", "let seed", "stage a", "sweep v", "stage own"]
        );
        assert_eq!(sm.files().len(), 4);
        // Every span points into the file it came from.
        let Item::Let(device) = &f.items[0] else { panic!() };
        assert_eq!(sm.snippet(device.name.span), "device");
        assert!(sm.get(device.span.file).name.ends_with("base.sieve"));
        let Item::Let(seed) = &f.items[1] else { panic!() };
        assert_eq!(sm.snippet(seed.span), "seed: 7");
        assert_eq!(f.span.file, 0);
    }

    #[test]
    fn diamond_imports_merge_once() {
        let (_dir, root) = project(&[
            ("main.yaml", "pipeline: p\nimports: [a.sieve, b.sieve]\n"),
            ("a.sieve", "import \"common.sieve\"\nlet a = 1\n"),
            ("b.sieve", "import \"common.sieve\"\nlet b = 2\n"),
            ("common.sieve", "let c = 0\n"),
        ]);
        let f = load(&root, &mut SourceMap::new()).expect("loads");
        assert_eq!(names(&f), ["let c", "let a", "let b"]);
    }

    #[test]
    fn cycles_are_reported_with_the_chain() {
        let (dir, root) = project(&[
            ("a.sieve", "import \"b.yaml\"\npipeline p { }\n"),
            ("b.yaml", "imports: [c.sieve]\n"),
            ("c.sieve", "import \"a.sieve\"\n"),
        ]);
        let mut sm = SourceMap::new();
        let d = load(&root, &mut sm).expect_err("cycle");
        assert_eq!(d.len(), 1);
        let msg = &d.0[0].message;
        assert!(msg.starts_with("import cycle: "), "{msg}");
        assert!(
            msg.contains("a.sieve → ") && msg.contains("b.yaml → ") && msg.contains("c.sieve → "),
            "{msg}"
        );
        let (span, _) = d.0[0].primary.clone().expect("span");
        assert_eq!(sm.snippet(span), "import \"a.sieve\"");
        let rendered = d.render(&sm);
        assert!(rendered.contains("c.sieve:1:1"), "{rendered}");
        // A file importing itself.
        let me = write(dir.path(), "self.sieve", "import \"self.sieve\"\n");
        assert!(load(&me, &mut SourceMap::new()).is_err());
    }

    #[test]
    fn missing_and_unknown_files() {
        let (dir, root) = project(&[(
            "main.sieve",
            "pipeline p {\n  import \"nope.sieve\"\n  import \"x.txt\"\n}\n",
        )]);
        let mut sm = SourceMap::new();
        let d = load(&root, &mut sm).expect_err("missing");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.0[0].message.contains("nope.sieve` does not exist"),
            "{}",
            d.0[0].message
        );
        assert_eq!(
            sm.snippet(d.0[0].primary.clone().expect("span").0),
            "import \"nope.sieve\""
        );
        assert!(
            d.0[1].message.contains("cannot tell the syntax"),
            "{}",
            d.0[1].message
        );
        for absent_or_unknown in ["absent.sieve", "main.toml"] {
            assert!(load(&dir.path().join(absent_or_unknown), &mut sm).is_err());
        }
    }

    #[test]
    fn imports_stay_inside_the_project() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "elsewhere/lib.sieve", "let x = 1\n");
        write(dir.path(), "project/lib/ok.sieve", "let y = 2\n");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("project/lib/link"))
            .expect("symlink");
        let outside = dir.path().join("elsewhere/lib.sieve").display().to_string();
        let root = write(
            dir.path(),
            "project/main.sieve",
            &format!(
                "import \"lib/ok.sieve\"\nimport \"../elsewhere/lib.sieve\"\nimport \"{outside}\"\nimport \"lib/link/lib.sieve\"\npipeline p {{ }}\n"
            ),
        );
        let mut sm = SourceMap::new();
        let d = load(&root, &mut sm).expect_err("outside");
        assert_eq!(d.len(), 3, "{}", d.render(&sm));
        let out = d.render(&sm);
        for line in ["main.sieve:2:1", "main.sieve:3:1", "main.sieve:4:1"] {
            assert!(out.contains(line), "{out}");
        }
        assert!(out.contains("is outside the project folder"), "{out}");
        assert!(out.contains("--allow-path"), "{out}");
        // Allowing the folder lets all three in (the same file, merged once).
        let mut files = confined(&root);
        files
            .allow(&dir.path().join("elsewhere"), crate::confine::Origin::Flag)
            .expect("allow");
        let f = load_pipeline(&root, &files, &mut SourceMap::new()).expect("allowed");
        assert_eq!(names(&f), ["let y", "let x"]);
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        mkfifo(&dir.path().join("pipe.sieve"));
        std::fs::create_dir(dir.path().join("folder.yaml")).expect("mkdir");
        // Sparse: its size is over the bound without writing 17 MiB.
        let big = std::fs::File::create(dir.path().join("big.sieve")).expect("create");
        big.set_len(MAX_FILE_BYTES + 1).expect("set_len");
        let root = write(
            dir.path(),
            "main.sieve",
            "pipeline p {\n  import \"pipe.sieve\"\n  import \"folder.yaml\"\n  import \"big.sieve\"\n}\n",
        );
        let mut sm = SourceMap::new();
        // Returns (never blocks on the FIFO) with one error per import, at the import.
        let d = load(&root, &mut sm).expect_err("not files");
        let messages: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        // The confinement refuses a named pipe as it refuses any special file.
        assert!(
            messages[0].starts_with("import `pipe.sieve`: reading")
                && messages[0].ends_with("is a named pipe, not a regular file or folder"),
            "{}",
            messages[0]
        );
        for (m, end) in messages[1..].iter().zip([
            "folder.yaml` is a directory, not a pipeline file",
            "big.sieve` is 16777217 bytes long; pipeline files are at most 16 MiB (16777216 bytes)",
        ]) {
            assert!(m.starts_with("imported file `") && m.ends_with(end), "{m}");
        }
        assert_eq!(
            sm.snippet(d.0[0].primary.clone().expect("span").0),
            "import \"pipe.sieve\""
        );
        for root in ["pipe.sieve", "folder.yaml", "big.sieve"] {
            let path = dir.path().join(root);
            let d = load_pipeline(&path, &confined(&dir.path().join("main.sieve")), &mut sm).expect_err(root);
            assert!(d.0[0].message.contains(root), "{}", d.0[0].message);
        }
        let huge = "#".repeat(MAX_FILE_BYTES as usize + 1);
        let d = load_str("huge.sieve", &huge, false, &confined(&root), &mut sm).expect_err("too large");
        assert!(d.0[0].message.contains("at most 16 MiB"), "{}", d.0[0].message);
        assert!(
            sm.files().iter().all(|f| f.text.len() < 1000),
            "nothing big was read"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_where_they_are() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("main.sieve");
        std::fs::write(
            &root,
            b"import \"lib.yaml\"\npipeline p {\n  let s = \"\xff\xfe\"\n}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("lib.yaml"), b"let:\n  x: caf\xe9\n").expect("write");
        let mut sm = SourceMap::new();
        let out = load(&root, &mut sm).expect_err("not UTF-8").render(&sm);
        assert!(out.contains("main.sieve` is not UTF-8 text"), "{out}");
        assert!(out.contains("main.sieve:3:12"), "{out}");
        let (dir2, root) = project(&[("main.sieve", "import \"lib.yaml\"\npipeline p { }\n")]);
        std::fs::copy(dir.path().join("lib.yaml"), dir2.path().join("lib.yaml")).expect("copy");
        let out = load(&root, &mut sm).expect_err("import not UTF-8").render(&sm);
        assert!(out.contains("lib.yaml` is not UTF-8 text"), "{out}");
        assert!(
            out.contains("lib.yaml:2:9") && out.contains("main.sieve:1:1"),
            "{out}"
        );
    }

    #[test]
    fn errors_in_imported_files_render_with_their_name() {
        let (_dir, root) = project(&[
            ("main.sieve", "import \"bad.yaml\"\npipeline p { }\n"),
            ("bad.yaml", "let:\n  a: '${1 +}'\n"),
        ]);
        let mut sm = SourceMap::new();
        let d = load(&root, &mut sm).expect_err("bad import");
        let out = d.render(&sm);
        assert!(out.contains("bad.yaml:2:"), "{out}");
    }

    #[test]
    fn load_str_parses_both_syntaxes() {
        let mut sm = SourceMap::new();
        let f = load_inline("inline.sieve", "pipeline p { let x = 1 }", &mut sm).expect("dsl");
        assert_eq!(names(&f), ["let x"]);
        let f = load_inline("inline.yaml", "pipeline: p\nlet: {x: 1}\n", &mut sm).expect("yaml");
        assert_eq!(names(&f), ["let x"]);
        assert_eq!(sm.files().len(), 2);
        assert!(load_inline("bad.sieve", "pipeline p {", &mut sm).is_err());
    }
}
