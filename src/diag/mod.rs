//! Diagnostics for pipeline files: one error type with source spans, rendered with
//! file:line:col, the source line, a caret and hints (through `codespan-reporting`).
//!
//! Invariants: every span refers to a file registered in the [`SourceMap`] that renders
//! it; errors accumulate in a [`Diagnostics`] list so a file reports all its problems
//! at once, never only the first; what is printed stays small whatever the input (long
//! lines are cut to windows around the marks, long messages elided: [`window`]).

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::term::{self, termcolor};
use std::path::{Path, PathBuf};

mod window;

pub use window::{MAX_SHOWN_LINE, WINDOW_CONTEXT};

/// Longest message, label or note (in characters) printed whole; longer ones are elided
/// in the middle.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// Index of a file in a [`SourceMap`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A source file known to the diagnostics renderer.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Name shown in diagnostics (the path as the user gave it, or `<--set>`).
    pub name: String,
    /// Path on disk, if any (used to resolve relative imports).
    pub path: Option<PathBuf>,
    pub text: String,
}

/// All source files of one compilation (the pipeline, its imports, `--set` snippets).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, path: Option<&Path>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            path: path.map(Path::to_path_buf),
            text: text.into(),
        });
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// 1-based (line, column) of a byte offset, columns counted in characters.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let text = &self.files[span.file].text;
        let offset = span.start.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The source text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        let text = &self.files[span.file].text;
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        &text[start..end]
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Where the problem is (caret), with a short label.
    pub primary: Option<(Span, String)>,
    /// Related places ("first defined here").
    pub secondary: Vec<(Span, String)>,
    /// Hints and notes, rendered as `= help: …`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Attaches the primary location.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some((span, label.into()));
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds "did you mean `x`?" when a close candidate exists.
    pub fn with_suggestion<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(word, candidates) {
            Some(best) => self.with_note(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

/// The closest candidate to `word` by Jaro-Winkler / edit distance, if close enough.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for cand in candidates {
        // Words of very different lengths are never close, and the measures below cost
        // the product of the lengths: a 100 KB value compared with every choice of every
        // instance of a sweep took seconds.
        let (a, b) = (word.len(), cand.len());
        if a > 3 * b + 3 || b > 3 * a + 3 {
            continue;
        }
        let score = strsim::jaro_winkler(word, cand);
        let edits = strsim::damerau_levenshtein(word, cand);
        let close = score >= 0.8 || edits <= 2.max(word.len() / 4);
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// ` (did you mean `x`?)`, to end a one-line message about the unknown `word`; empty
/// when no candidate is close.
pub fn did_you_mean_suffix<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|h| format!(" (did you mean `{h}`?)"))
        .unwrap_or_default()
}

/// An accumulated list of diagnostics; the usual error type of the front end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Renders every diagnostic, without colour (stable for snapshots and logs).
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut buf = termcolor::NoColor::new(Vec::new());
        self.emit(sources, &mut buf);
        String::from_utf8_lossy(&buf.into_inner()).into_owned()
    }

    /// Renders to a terminal-aware writer (colours when it supports them). Long source
    /// lines are cut to windows around the marked places and long messages elided in the
    /// middle ([`window`]), so what is printed stays small whatever the input.
    pub fn emit(&self, sources: &SourceMap, out: &mut dyn termcolor::WriteColor) {
        let whole: Vec<window::FileView<'_>> = sources.files().iter().map(window::FileView::whole).collect();
        let long: Vec<bool> = sources
            .files()
            .iter()
            .map(|f| window::FileView::has_long_lines(&f.text))
            .collect();
        let config = term::Config::default();
        for d in &self.0 {
            let spans: Vec<(Span, &str, bool)> = d
                .primary
                .iter()
                .map(|(s, l)| (*s, l.as_str(), true))
                .chain(d.secondary.iter().map(|(s, l)| (*s, l.as_str(), false)))
                .filter(|(s, _, _)| s.file < whole.len())
                .collect();
            // Files with long lines get a view cut around this diagnostic's marks.
            let mut cut: Vec<(FileId, window::FileView<'_>)> = Vec::new();
            for &(span, _, _) in &spans {
                if long[span.file] && !cut.iter().any(|(id, _)| *id == span.file) {
                    let marks: Vec<usize> = spans
                        .iter()
                        .filter(|(s, _, _)| s.file == span.file)
                        .flat_map(|(s, _, _)| [s.start, s.end])
                        .collect();
                    cut.push((span.file, window::FileView::cut(sources.get(span.file), &marks)));
                }
            }
            let views = window::Views {
                files: (0..whole.len())
                    .map(|id| match cut.iter().find(|(c, _)| *c == id) {
                        Some((_, v)) => v,
                        None => &whole[id],
                    })
                    .collect(),
            };
            let mut cs = match d.severity {
                Severity::Error => CsDiagnostic::error(),
                Severity::Warning => CsDiagnostic::warning(),
            }
            .with_message(window::elide_middle(&d.message, MAX_MESSAGE_CHARS));
            let labels = spans
                .iter()
                .map(|(span, label, primary)| {
                    let view = views.files[span.file];
                    let range = view.to_view(span.start)..view.to_view(span.end.max(span.start));
                    let label = window::elide_middle(label, MAX_MESSAGE_CHARS).into_owned();
                    match primary {
                        true => Label::primary(span.file, range).with_message(label),
                        false => Label::secondary(span.file, range).with_message(label),
                    }
                })
                .collect();
            cs = cs.with_labels(labels).with_notes(
                d.notes
                    .iter()
                    .map(|n| format!("help: {}", window::elide_middle(n, MAX_MESSAGE_CHARS)))
                    .collect(),
            );
            // Rendering only fails on an invalid span; fall back to a plain line then.
            if term::emit_to_write_style(out, &config, &views, &cs).is_err() {
                let _ = writeln!(
                    out,
                    "error: {}",
                    window::elide_middle(&d.message, MAX_MESSAGE_CHARS)
                );
            }
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_and_caret() {
        let mut sm = SourceMap::new();
        let f = sm.add("p.sieve", None, "pipeline p {\n  stage a = sfft()\n}\n");
        let d = Diagnostic::error("unknown stage kind `sfft`")
            .at(Span::new(f, 25, 29), "not a stage kind")
            .with_suggestion("sfft", ["sft", "select"]);
        let out = Diagnostics::from(d).render(&sm);
        assert!(out.contains("p.sieve:2:13"), "{out}");
        assert!(out.contains("^^^^"), "{out}");
        assert!(out.contains("did you mean `sft`?"), "{out}");
        assert_eq!(sm.line_col(Span::new(f, 25, 29)), (2, 13));
    }

    #[test]
    fn suggestion_only_when_close() {
        assert_eq!(
            did_you_mean("budgte", ["budget", "band"]).as_deref(),
            Some("budget")
        );
        assert_eq!(did_you_mean("zzzzzz", ["budget", "band"]), None);
    }

    #[test]
    fn a_huge_word_is_compared_in_constant_time() {
        // Measured against the choices of 2,000 sweep instances, this took seconds when
        // every candidate was compared character by character.
        let huge = "add".repeat(100_000);
        let start = std::time::Instant::now();
        for _ in 0..2_000 {
            assert_eq!(did_you_mean(&huge, ["add", "sub", "mul", "mixed"]), None);
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(did_you_mean("ad", ["add", "sub"]).as_deref(), Some("add"));
    }
}
