//! Confinement: the folders a pipeline's stages may read and write, and the one check
//! every path a pipeline names goes through (imports, stage file parameters — at
//! lowering time, when keys are computed, and when a stage receives its parameters).
//!
//! A stage may **read** inside the project folder (the folder of the top-level pipeline
//! file, and below), the store, and the folders the user allows (`--allow-path`,
//! `allow_paths` in `sieve.toml`); it may **write** inside the project folder and the
//! allowed folders, but never into the store and never over a pipeline file (`*.sieve`,
//! `*.yaml`, `*.yml`), a lock file (`*.lock`) or `sieve.toml`.
//!
//! Invariants: a path is judged by where it really leads ([`resolve`]: links followed,
//! `..` applied, as the kernel does), and the roots are resolved the same way, so no
//! spelling (`../`, an absolute path, a link inside the project) gets out. A folder that
//! is read is also searched for links leading out of the confinement (a model folder's
//! `tokenizer.json` that links to a file elsewhere). What [`Confinement::check`] returns
//! is the resolved path, and that is what the caller opens.

mod resolve;

pub use resolve::{MAX_LINKS, resolve};

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What a stage does with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Where an allowed folder comes from (named in messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--allow-path` on the command line.
    Flag,
    /// `allow_paths` in the project's `sieve.toml`.
    Config,
}

/// File extensions stages never write to: pipeline files and lock files.
const PROTECTED_EXTENSIONS: [&str; 4] = ["sieve", "yaml", "yml", "lock"];

/// The folders of one pipeline's confinement, each resolved.
#[derive(Debug, Clone)]
pub struct Confinement {
    project: PathBuf,
    store: PathBuf,
    allowed: Vec<(PathBuf, Origin)>,
}

impl Confinement {
    /// The confinement of a project folder (where the top-level pipeline file lives) and
    /// its store, with nothing else allowed yet.
    pub fn new(project: &Path, store: &Path) -> io::Result<Confinement> {
        Ok(Confinement {
            project: resolve(project)?,
            store: resolve(store)?,
            allowed: Vec::new(),
        })
    }

    /// The confinement of a pipeline file with its store at the default place
    /// (`.sieve/` beside it).
    pub fn of_pipeline(file: &Path) -> io::Result<Confinement> {
        let project = project_folder(file);
        Confinement::new(&project, &project.join(".sieve"))
    }

    /// Also allows `dir` (and everything below it), for reading and writing.
    pub fn allow(&mut self, dir: &Path, origin: Origin) -> io::Result<()> {
        let dir = resolve(dir)?;
        if !self.allowed.iter().any(|(d, _)| *d == dir) {
            self.allowed.push((dir, origin));
        }
        Ok(())
    }

    /// The project folder (resolved): relative stage file parameters start here.
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The store (resolved).
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The allowed folders (resolved) and where each comes from.
    pub fn allowed(&self) -> &[(PathBuf, Origin)] {
        &self.allowed
    }

    /// Resolves a path a stage parameter names (relative to the project folder) and checks
    /// it; returns the resolved path, which is what the stage must open.
    pub fn stage_file(&self, written: &str, access: Access) -> Result<PathBuf, Refusal> {
        self.check(&self.project.join(written), access)
    }

    /// Resolves `path` (relative: to the current folder) and checks that `access` to it
    /// stays inside the confinement; returns the resolved path. The single check for every
    /// path a pipeline names.
    pub fn check(&self, path: &Path, access: Access) -> Result<PathBuf, Refusal> {
        let refuse = |resolved: Option<PathBuf>, why: Why| Refusal {
            path: path.to_path_buf(),
            resolved,
            access,
            why,
        };
        let resolved = resolve(path).map_err(|e| refuse(None, Why::Unresolvable(e.to_string())))?;
        // A named pipe, socket or device would block a reader or swallow a writer: stages
        // read and write only files and folders.
        if let Some(what) = special_file(&resolved) {
            return Err(refuse(Some(resolved), Why::NotAFile(what)));
        }
        match access {
            Access::Read if !self.readable(&resolved) => {
                Err(refuse(Some(resolved), Why::Outside(self.summary(access))))
            }
            Access::Read => match resolved.is_dir().then(|| self.link_out_of(&resolved)).flatten() {
                Some((link, target)) => Err(refuse(Some(resolved), Why::LinkOut { link, target })),
                None => Ok(resolved),
            },
            // The store first: it may lie inside the project or an allowed folder.
            Access::Write if resolved.starts_with(&self.store) => {
                Err(refuse(Some(resolved), Why::InStore(self.store.clone())))
            }
            Access::Write if !self.in_project_or_allowed(&resolved) => {
                Err(refuse(Some(resolved), Why::Outside(self.summary(access))))
            }
            Access::Write => match protected(&resolved) {
                Some(what) => Err(refuse(Some(resolved), Why::Protected(what))),
                None => Ok(resolved),
            },
        }
    }

    /// Whether a resolved path lies in the project folder or an allowed folder.
    fn in_project_or_allowed(&self, resolved: &Path) -> bool {
        resolved.starts_with(&self.project) || self.allowed.iter().any(|(d, _)| resolved.starts_with(d))
    }

    /// Whether a resolved path lies in a folder stages may read (links inside folders
    /// not searched).
    fn readable(&self, resolved: &Path) -> bool {
        self.in_project_or_allowed(resolved) || resolved.starts_with(&self.store)
    }

    /// The first link under a folder (searched through, following links that stay
    /// inside) that leads out of the confinement, or cannot be resolved: (link, target).
    fn link_out_of(&self, dir: &Path) -> Option<(PathBuf, String)> {
        let mut seen: HashSet<PathBuf> = HashSet::from([dir.to_path_buf()]);
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            // A folder that cannot be listed cannot be read through either.
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(ty) = entry.file_type() else { continue };
                let path = entry.path();
                let target = if ty.is_symlink() {
                    match resolve(&path) {
                        Ok(t) if self.readable(&t) => t,
                        Ok(t) => return Some((path, t.display().to_string())),
                        Err(e) => return Some((path, format!("nowhere ({e})"))),
                    }
                } else {
                    path
                };
                if target.is_dir() && seen.insert(target.clone()) {
                    todo.push(target);
                }
            }
        }
        None
    }

    /// The folders `access` may reach, for messages.
    fn summary(&self, access: Access) -> String {
        let mut parts = vec![format!("the project folder {}", self.project.display())];
        if access == Access::Read {
            parts.push(format!("the store {}", self.store.display()));
        }
        for (d, origin) in &self.allowed {
            let from = match origin {
                Origin::Flag => "--allow-path",
                Origin::Config => "sieve.toml",
            };
            parts.push(format!("{} (allowed by {from})", d.display()));
        }
        match parts.len() {
            1 => parts.remove(0),
            _ => {
                let last = parts.pop().unwrap_or_default();
                format!("{} and {last}", parts.join(", "))
            }
        }
    }
}

/// The project folder of a pipeline file: its folder (`.` for a bare file name).
pub fn project_folder(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What kind of protected file a path is, if it is one.
fn protected(path: &Path) -> Option<&'static str> {
    if path.file_name().is_some_and(|n| n == crate::config::FILE) {
        return Some("the project's configuration");
    }
    let ext = path.extension().and_then(|e| e.to_str())?;
    if !PROTECTED_EXTENSIONS.contains(&ext) {
        return None;
    }
    Some(if ext == "lock" {
        "a lock file"
    } else {
        "a pipeline file"
    })
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// Outside every folder this access may reach (listed).
    Outside(String),
    /// A write into the store (its root given).
    InStore(PathBuf),
    /// A write over a pipeline file, a lock file or `sieve.toml`.
    Protected(&'static str),
    /// A folder holding a link that leads out of the confinement.
    LinkOut { link: PathBuf, target: String },
    /// The path cannot be resolved (a link loop, a folder that cannot be searched).
    Unresolvable(String),
    /// A named pipe, socket or device, not a regular file or folder.
    NotAFile(&'static str),
}

/// A path the confinement refuses, with the reason and how to allow it (when it can be).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The path as it was checked (before resolution).
    pub path: PathBuf,
    /// Where it leads, when that could be found out.
    pub resolved: Option<PathBuf>,
    pub access: Access,
    pub why: Why,
}

impl Refusal {
    /// A short label for the place in the pipeline file that named the path.
    pub fn label(&self) -> String {
        match &self.why {
            Why::Outside(_) => "outside the project folder".into(),
            Why::InStore(_) => "inside the store".into(),
            Why::Protected(what) => what.to_string(),
            Why::LinkOut { .. } => "holds a link that leads outside".into(),
            Why::Unresolvable(_) => "cannot be resolved".into(),
            Why::NotAFile(what) => format!("a {what}, not a file"),
        }
    }

    /// The folder to allow to accept this path, when allowing one would.
    pub fn folder_to_allow(&self) -> Option<PathBuf> {
        let target = match &self.why {
            Why::Outside(_) => self.resolved.clone()?,
            // A link that resolves nowhere (a loop) has no folder to allow.
            Why::LinkOut { target, .. } if Path::new(target).is_absolute() => PathBuf::from(target),
            _ => return None,
        };
        if target.is_dir() {
            Some(target)
        } else {
            target.parent().map(Path::to_path_buf)
        }
    }

    /// How to allow it, when it can be allowed.
    pub fn hint(&self) -> Option<String> {
        let dir = self.folder_to_allow()?;
        Some(format!(
            "to allow it, run with `--allow-path {d}` or add `allow_paths = [\"{d}\"]` to sieve.toml in the project folder",
            d = dir.display()
        ))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.access {
            Access::Read => "reading",
            Access::Write => "writing",
        };
        let shown = self.path.display();
        let leads = match &self.resolved {
            Some(r) if r != &self.path => format!(" (which leads to {})", r.display()),
            _ => String::new(),
        };
        match &self.why {
            Why::Outside(folders) => write!(f, "{verb} {shown}{leads} is refused: it is outside {folders}"),
            Why::InStore(store) => write!(
                f,
                "{verb} {shown}{leads} is refused: it is inside the store {}, which only sieve writes",
                store.display()
            ),
            Why::Protected(what) => write!(
                f,
                "{verb} {shown}{leads} is refused: it is {what}, which stages never write"
            ),
            Why::LinkOut { link, target } => write!(
                f,
                "{verb} {shown} is refused: {} inside it is a link to {target}, outside the folders stages may read",
                link.display()
            ),
            Why::Unresolvable(e) => write!(f, "{verb} {shown} is refused: it cannot be resolved: {e}"),
            Why::NotAFile(what) => write!(
                f,
                "{verb} {shown}{leads} is refused: it is a {what}, not a regular file or folder"
            ),
        }
    }
}

/// What kind of special file a resolved path is, if it exists and is neither a regular
/// file nor a folder.
fn special_file(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let ty = std::fs::metadata(path).ok()?.file_type();
    if ty.is_fifo() {
        Some("named pipe")
    } else if ty.is_socket() {
        Some("socket")
    } else if ty.is_char_device() || ty.is_block_device() {
        Some("device")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        conf: Confinement,
    }

    /// root/project (with its store root/project/.sieve) and root/outside.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in ["project/data", "project/.sieve", "outside/shared"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("project/data/a.jsonl"), "{}\n").unwrap();
        std::fs::write(root.join("outside/shared/b.jsonl"), "{}\n").unwrap();
        let conf = Confinement::of_pipeline(&root.join("project/p.sieve")).unwrap();
        Fixture {
            _dir: dir,
            root,
            conf,
        }
    }

    #[test]
    fn named_pipes_and_devices_are_neither_read_nor_written() {
        let f = fixture();
        let fifo = f.root.join("project/data/in.parquet");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for access in [Access::Read, Access::Write] {
            let e = f.conf.stage_file("data/in.parquet", access).unwrap_err();
            assert_eq!(e.why, Why::NotAFile("named pipe"));
            assert!(e.to_string().contains("not a regular file or folder"), "{e}");
        }
        let conf = Confinement::of_pipeline(Path::new("/dev/p.sieve")).unwrap();
        assert_eq!(
            conf.stage_file("null", Access::Read).unwrap_err().why,
            Why::NotAFile("device")
        );
    }

    #[test]
    fn reads_stay_in_the_project_and_the_store() {
        let f = fixture();
        let ok = |p: &str| f.conf.stage_file(p, Access::Read);
        assert_eq!(ok("data/a.jsonl").unwrap(), f.root.join("project/data/a.jsonl"));
        assert!(ok("data/../data/a.jsonl").is_ok());
        assert!(ok(".sieve/entries/x/out/dataset.parquet").is_ok());
        assert!(
            ok("missing.parquet").is_ok(),
            "a missing file is the stage's error, not a refusal"
        );
        for bad in ["../outside/shared/b.jsonl", "/etc/passwd", "data/../../outside"] {
            let r = ok(bad).unwrap_err();
            assert!(matches!(r.why, Why::Outside(_)), "{bad}: {r}");
            let msg = r.to_string();
            assert!(
                msg.contains(&format!("the project folder {}", f.conf.project().display())),
                "{msg}"
            );
        }
        let r = ok("/etc/passwd").unwrap_err();
        assert_eq!(r.folder_to_allow(), Some(PathBuf::from("/etc")));
        assert!(r.hint().unwrap().contains("--allow-path /etc"), "{:?}", r.hint());
    }

    #[test]
    fn links_inside_the_project_are_judged_by_their_target() {
        let f = fixture();
        let p = f.root.join("project");
        symlink(f.root.join("outside/shared/b.jsonl"), p.join("data/link.jsonl")).unwrap();
        symlink(p.join("data/a.jsonl"), p.join("inner.jsonl")).unwrap();
        let r = f.conf.stage_file("data/link.jsonl", Access::Read).unwrap_err();
        assert_eq!(
            r.resolved.as_deref(),
            Some(f.root.join("outside/shared/b.jsonl").as_path())
        );
        assert!(r.to_string().contains("which leads to"), "{r}");
        assert_eq!(
            f.conf.stage_file("inner.jsonl", Access::Read).unwrap(),
            p.join("data/a.jsonl")
        );
        // A folder that is read may not hold a link out (e.g. a tokenizer file).
        std::fs::create_dir_all(p.join("model/sub")).unwrap();
        std::fs::write(p.join("model/config.json"), "{}").unwrap();
        assert!(f.conf.stage_file("model", Access::Read).is_ok());
        symlink(p.join("model"), p.join("model/sub/loop")).unwrap();
        assert!(
            f.conf.stage_file("model", Access::Read).is_ok(),
            "links within are fine"
        );
        symlink("looping", p.join("model/looping")).unwrap();
        let r = f.conf.stage_file("model", Access::Read).unwrap_err();
        assert!(r.to_string().contains("is a link to nowhere"), "{r}");
        assert_eq!(r.hint(), None);
        std::fs::remove_file(p.join("model/looping")).unwrap();
        symlink(
            f.root.join("outside/shared/b.jsonl"),
            p.join("model/sub/tokenizer.json"),
        )
        .unwrap();
        let r = f.conf.stage_file("model", Access::Read).unwrap_err();
        assert!(
            matches!(&r.why, Why::LinkOut { link, .. } if link.ends_with("sub/tokenizer.json")),
            "{r}"
        );
        assert_eq!(r.folder_to_allow(), Some(f.root.join("outside/shared")));
    }

    #[test]
    fn writes_never_reach_the_store_or_protected_files() {
        let f = fixture();
        let w = |p: &str| f.conf.stage_file(p, Access::Write);
        assert_eq!(
            w("out/new.parquet").unwrap(),
            f.root.join("project/out/new.parquet")
        );
        assert!(matches!(w(".sieve/entries/x").unwrap_err().why, Why::InStore(_)));
        assert!(matches!(w("../x.parquet").unwrap_err().why, Why::Outside(_)));
        for (p, what) in [
            ("p.sieve", "a pipeline file"),
            ("other.yaml", "a pipeline file"),
            ("sub/twin.yml", "a pipeline file"),
            ("p.lock", "a lock file"),
            ("sieve.toml", "the project's configuration"),
        ] {
            assert_eq!(w(p).unwrap_err().why, Why::Protected(what), "{p}");
        }
        // A link to a protected file is protected too.
        symlink(
            f.root.join("project/p.lock"),
            f.root.join("project/innocent.parquet"),
        )
        .unwrap();
        assert_eq!(
            w("innocent.parquet").unwrap_err().why,
            Why::Protected("a lock file")
        );
    }

    #[test]
    fn allowed_folders_open_reads_and_writes() {
        let mut f = fixture();
        let shared = f.root.join("outside/shared");
        assert!(
            f.conf
                .stage_file("../outside/shared/b.jsonl", Access::Read)
                .is_err()
        );
        f.conf.allow(&shared, Origin::Flag).unwrap();
        assert!(
            f.conf
                .stage_file("../outside/shared/b.jsonl", Access::Read)
                .is_ok()
        );
        assert!(
            f.conf
                .stage_file("../outside/shared/new.jsonl", Access::Write)
                .is_ok()
        );
        // Only that folder: its parent stays out, and the message names what is allowed.
        let r = f.conf.stage_file("../outside/other", Access::Read).unwrap_err();
        assert!(r.to_string().contains("(allowed by --allow-path)"), "{r}");
        // An allowed store is still never written.
        let mut g = fixture();
        g.conf
            .allow(&g.root.join("project/.sieve"), Origin::Config)
            .unwrap();
        assert!(matches!(
            g.conf.stage_file(".sieve/x", Access::Write).unwrap_err().why,
            Why::InStore(_)
        ));
    }

    #[test]
    fn unresolvable_paths_are_refused() {
        let f = fixture();
        let p = f.root.join("project");
        symlink(p.join("b"), p.join("a")).unwrap();
        symlink(p.join("a"), p.join("b")).unwrap();
        let r = f.conf.stage_file("a", Access::Read).unwrap_err();
        assert!(matches!(r.why, Why::Unresolvable(_)), "{r}");
        assert_eq!(r.hint(), None);
    }
}
