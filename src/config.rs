//! The project file `sieve.toml`: settings of a project folder that are not part of any
//! one pipeline. Today it holds one key:
//!
//! ```toml
//! # sieve.toml, beside the top-level pipeline file
//! allow_paths = ["/data/shared", "../datasets"]   # folders stages may also read and write
//! ```
//!
//! Invariants: the file is optional (no file = the defaults); it is parsed strictly —
//! unknown keys and wrong types are errors at their file:line:col, so a typo never
//! silently changes nothing. Later settings come as new top-level keys or tables
//! (`[cache]` for a remote cache, say): each is one more field of [`Raw`] with its own
//! `deny_unknown_fields` struct, and [`ProjectConfig`] carries it checked and resolved.

use crate::diag::{Diagnostic, Diagnostics, SourceMap, Span};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file name, in the project folder.
pub const FILE: &str = "sieve.toml";

/// `sieve.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    /// Folders stages may also read and write; relative ones start at the project folder.
    #[serde(default)]
    allow_paths: Vec<toml::Spanned<String>>,
}

/// One folder `sieve.toml` allows, with the place that names it.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedPath {
    /// As written, joined to the project folder when relative (not yet resolved).
    pub dir: PathBuf,
    pub span: Span,
}

/// A project's checked settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectConfig {
    pub allow_paths: Vec<AllowedPath>,
}

impl ProjectConfig {
    /// Reads `sieve.toml` in the project folder, if there is one; the file is registered in
    /// `sources` so its diagnostics render with file:line:col.
    pub fn load(project: &Path, sources: &mut SourceMap) -> Result<ProjectConfig, Diagnostics> {
        let path = project.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProjectConfig::default()),
            Err(e) => {
                return Err(Diagnostic::error(format!("cannot read {}: {e}", path.display())).into());
            }
        };
        let file = sources.add(path.display().to_string(), Some(&path), text);
        Self::parse(project, &sources.get(file).text, file)
    }

    /// Parses the text of a `sieve.toml` (registered as `file`) of the given project folder.
    pub fn parse(project: &Path, text: &str, file: usize) -> Result<ProjectConfig, Diagnostics> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            Diagnostics::from(
                Diagnostic::error(format!("{FILE}: {}", e.message().trim_end()))
                    .at(Span::new(file, span.start, span.end), "here")
                    .with_note(format!(
                        "{FILE} takes `allow_paths = [\"DIR\", …]` (folders stages may also read and write)"
                    )),
            )
        })?;
        let mut diags = Diagnostics::new();
        let mut allow_paths = Vec::new();
        for entry in raw.allow_paths {
            let span = Span::new(file, entry.span().start, entry.span().end);
            let dir = entry.into_inner();
            if dir.trim().is_empty() {
                diags.push(
                    Diagnostic::error(format!("{FILE}: an empty path in `allow_paths`")).at(span, "empty"),
                );
                continue;
            }
            allow_paths.push(AllowedPath {
                dir: project.join(dir),
                span,
            });
        }
        if diags.is_empty() {
            Ok(ProjectConfig { allow_paths })
        } else {
            Err(diags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Result<ProjectConfig, Diagnostics>, SourceMap) {
        let mut sm = SourceMap::new();
        let f = sm.add(FILE, None, text);
        (ProjectConfig::parse(Path::new("/p"), text, f), sm)
    }

    #[test]
    fn allow_paths_resolve_against_the_project_folder() {
        let (c, _) = parse("# shared data\nallow_paths = [\"/data/shared\", \"../datasets\"]\n");
        let dirs: Vec<PathBuf> = c.unwrap().allow_paths.into_iter().map(|a| a.dir).collect();
        assert_eq!(
            dirs,
            [PathBuf::from("/data/shared"), PathBuf::from("/p/../datasets")]
        );
        assert_eq!(parse("").0.unwrap(), ProjectConfig::default());
    }

    #[test]
    fn mistakes_are_errors_at_their_place() {
        for (text, at, says) in [
            ("allow_path = [\"/x\"]\n", "1:1", "unknown field `allow_path`"),
            ("\n\nallow_paths = \"/x\"\n", "3:15", "invalid type"),
            ("allow_paths = [\"/x\", 3]\n", "1:22", "invalid type"),
            ("allow_paths = [\"\"]\n", "1:16", "empty path"),
            ("[cache]\nurl = 1\n", "1:", "unknown field `cache`"),
            ("allow_paths = [\n", "", "sieve.toml:"),
        ] {
            let (r, sm) = parse(text);
            let out = r.unwrap_err().render(&sm);
            assert!(out.contains(&format!("{FILE}:{at}")), "{text:?}:\n{out}");
            assert!(out.contains(says), "{text:?}:\n{out}");
        }
    }
}
