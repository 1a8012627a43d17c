//! Path resolution as the operating system does it, also for paths that do not exist yet.
//!
//! Invariants: [`resolve`] returns an absolute path without `.`, `..` or symbolic links in
//! its existing part; for a path that exists it equals `std::fs::canonicalize`. Links are
//! followed one component at a time, in order, so `link/..` is the parent of the link's
//! *target* (as the kernel reads it), not the folder holding the link. Components that do
//! not exist are kept as written with `..` applied to them lexically: that is where
//! creating them (`create_dir_all`, then the file) puts them. A dangling link is followed
//! to where its target would be created, so writing "through" it is judged by where the
//! bytes would land.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Links followed in one resolution before giving up (Linux's `MAXSYMLINKS`); more means
/// a loop, reported as the kernel reports it (`ELOOP`).
pub const MAX_LINKS: usize = 40;

/// One step of a path walk.
enum Step {
    Root,
    Up,
    Name(OsString),
}

/// The steps of a path, `.` dropped.
fn steps(path: &Path) -> impl DoubleEndedIterator<Item = Step> + '_ {
    path.components().filter_map(|c| match c {
        Component::Prefix(_) | Component::RootDir => Some(Step::Root),
        Component::CurDir => None,
        Component::ParentDir => Some(Step::Up),
        Component::Normal(name) => Some(Step::Name(name.to_owned())),
    })
}

/// The absolute path `path` leads to (relative paths start at the current folder), with
/// every symbolic link followed and `..` collapsed; see the module header.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    // Steps still to walk, the next one last.
    let mut todo: Vec<Step> = steps(&absolute).rev().collect();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(step) = todo.pop() {
        match step {
            Step::Root => out = PathBuf::from("/"),
            Step::Up => {
                out.pop();
            }
            Step::Name(name) => {
                let next = out.join(&name);
                match std::fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(io::Error::from_raw_os_error(libc::ELOOP));
                        }
                        // A relative target continues from the link's folder (`out`); an
                        // absolute one restarts at the root (its first step).
                        todo.extend(steps(&std::fs::read_link(&next)?).rev());
                    }
                    Ok(_) => out = next,
                    // Not there (yet): kept as written.
                    Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                        out = next
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        // The temp folder itself may sit behind a link (/tmp → /private/tmp elsewhere).
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("project/sub")).unwrap();
        std::fs::create_dir_all(root.join("outside/deep")).unwrap();
        std::fs::write(root.join("project/sub/data.jsonl"), "{}\n").unwrap();
        std::fs::write(root.join("outside/secret"), "s").unwrap();
        (dir, root)
    }

    /// Panics unless `path` resolves to `resolved`, both relative to `root`.
    fn assert_resolves(root: &Path, path: &str, resolved: &str) {
        assert_eq!(resolve(&root.join(path)).unwrap(), root.join(resolved), "{path}");
    }

    #[test]
    fn existing_paths_resolve_like_canonicalize() {
        let (_d, root) = tree();
        symlink(root.join("outside"), root.join("project/out_link")).unwrap();
        symlink("sub/data.jsonl", root.join("project/rel_link")).unwrap();
        for p in [
            "project/sub/data.jsonl",
            "project/./sub/../sub/data.jsonl",
            "project/out_link/secret",
            "project/rel_link",
            "project/out_link/deep/..",
        ] {
            let p = root.join(p);
            assert_eq!(
                resolve(&p).unwrap(),
                std::fs::canonicalize(&p).unwrap(),
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn dotdot_after_a_link_is_the_parent_of_its_target() {
        let (_d, root) = tree();
        // project/jump → outside/deep, so project/jump/../secret is outside/secret (as the
        // kernel reads it), although collapsing `..` on the text would say project/secret.
        symlink(root.join("outside/deep"), root.join("project/jump")).unwrap();
        assert_resolves(&root, "project/jump/../secret", "outside/secret");
        assert_eq!(
            std::fs::read_to_string(root.join("project/jump/../secret")).unwrap(),
            "s"
        );
        // The same holds for a file that does not exist yet.
        assert_resolves(&root, "project/jump/../new.parquet", "outside/new.parquet");
    }

    #[test]
    fn missing_files_resolve_through_their_existing_parent() {
        let (_d, root) = tree();
        symlink(root.join("outside"), root.join("project/out_link")).unwrap();
        assert_resolves(&root, "project/sub/new.parquet", "project/sub/new.parquet");
        // Missing folders are created where `..` says, lexically.
        assert_resolves(&root, "project/a/b/../../sub/x", "project/sub/x");
        assert_resolves(&root, "project/a/../../outside/x", "outside/x");
        // A link met after a missing part is still followed.
        assert_resolves(&root, "project/nope/../out_link/new", "outside/new");
        // A dangling link leads to where its target would be written.
        symlink(root.join("outside/not_yet"), root.join("project/dangling")).unwrap();
        assert_resolves(&root, "project/dangling", "outside/not_yet");
    }

    #[test]
    fn link_loops_are_an_error() {
        let (_d, root) = tree();
        symlink(root.join("project/b"), root.join("project/a")).unwrap();
        symlink(root.join("project/a"), root.join("project/b")).unwrap();
        symlink("self", root.join("project/self")).unwrap();
        for p in ["project/a", "project/self/x"] {
            let e = resolve(&root.join(p)).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{p}: {e}");
        }
        // A long chain that is not a loop resolves.
        let mut prev = root.join("project/sub/data.jsonl");
        for i in 0..MAX_LINKS {
            let l = root.join(format!("project/chain{i}"));
            symlink(&prev, &l).unwrap();
            prev = l;
        }
        assert_eq!(resolve(&prev).unwrap(), root.join("project/sub/data.jsonl"));
    }

    #[test]
    fn relative_paths_start_at_the_current_folder() {
        let here = std::fs::canonicalize(".").unwrap();
        assert_eq!(
            resolve(Path::new("no/such/../file")).unwrap(),
            here.join("no/file")
        );
        assert_eq!(resolve(Path::new("/../..")).unwrap(), PathBuf::from("/"));
    }
}
