//! Source views for rendering: what `codespan-reporting` is shown of each file. A line
//! longer than [`MAX_SHOWN_LINE`] bytes (a 10 MB string literal, a generated one-line
//! pipeline) is cut to windows of [`WINDOW_CONTEXT`] bytes around the places the
//! diagnostic marks, joined by `…`, so a rendered diagnostic stays small whatever the input.
//!
//! Invariants: a view keeps every line of its file (same count, same order), so line
//! numbers are the file's; columns reported are columns of the original text (the view
//! maps positions both ways); lines no longer than the bound are kept byte for byte, and a
//! file without long lines is shown as it is, uncopied; windows start and end on character
//! boundaries.

use super::SourceFile;
use codespan_reporting::files::{Error, Files};
use std::borrow::Cow;
use std::ops::Range;

/// Longest line (in bytes) shown whole; longer ones are cut to windows.
pub const MAX_SHOWN_LINE: usize = 200;
/// Bytes kept on each side of a marked position in a cut line.
pub const WINDOW_CONTEXT: usize = 40;
/// What stands for the text cut out of a line.
const CUT: &str = "…";

/// One file as rendered: its text, possibly with long lines cut.
pub(super) struct FileView<'s> {
    name: &'s str,
    text: Cow<'s, str>,
    /// Byte offset of each line of `text`.
    line_starts: Vec<usize>,
    /// When cut: the kept runs of the original text, in order, as
    /// `(offset in the view, offset in the original, length)`; empty when uncut.
    runs: Vec<(usize, usize, usize)>,
    /// Line starts of the original text (for original columns), when cut.
    original: Option<(&'s str, Vec<usize>)>,
}

impl<'s> FileView<'s> {
    /// The file as it is (every line short enough, or nothing marked in it).
    pub(super) fn whole(file: &'s SourceFile) -> Self {
        FileView {
            name: &file.name,
            line_starts: line_starts(&file.text),
            text: Cow::Borrowed(&file.text),
            runs: Vec::new(),
            original: None,
        }
    }

    /// Whether any line of `text` is longer than [`MAX_SHOWN_LINE`].
    pub(super) fn has_long_lines(text: &str) -> bool {
        text.split('\n').any(|l| l.len() > MAX_SHOWN_LINE)
    }

    /// The file with every long line cut to windows around `marks` (byte offsets of the
    /// original); a long line without marks keeps its beginning.
    pub(super) fn cut(file: &'s SourceFile, marks: &[usize]) -> Self {
        let src = file.text.as_str();
        let mut marks: Vec<usize> = marks.iter().map(|&m| m.min(src.len())).collect();
        marks.sort_unstable();
        let mut text = String::new();
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let keep = |text: &mut String, runs: &mut Vec<(usize, usize, usize)>, r: Range<usize>| {
            if r.is_empty() {
                return;
            }
            match runs.last_mut() {
                // Extends the previous run when it ends where this one starts, in both texts.
                Some((at, from, len)) if *from + *len == r.start && *at + *len == text.len() => {
                    *len += r.len()
                }
                _ => runs.push((text.len(), r.start, r.len())),
            }
            text.push_str(&src[r]);
        };
        let mut line_start = 0;
        loop {
            let line_end = src[line_start..].find('\n').map_or(src.len(), |i| line_start + i);
            if line_end - line_start <= MAX_SHOWN_LINE {
                keep(&mut text, &mut runs, line_start..line_end);
            } else {
                let on_line = marks
                    .iter()
                    .copied()
                    .filter(|&m| m >= line_start && m <= line_end);
                let mut cursor = line_start;
                for w in windows(src, line_start..line_end, on_line) {
                    if w.start > cursor {
                        text.push_str(CUT);
                    }
                    keep(&mut text, &mut runs, w.clone());
                    cursor = w.end;
                }
                if cursor < line_end {
                    text.push_str(CUT);
                }
            }
            if line_end == src.len() {
                break;
            }
            keep(&mut text, &mut runs, line_end..line_end + 1);
            line_start = line_end + 1;
        }
        FileView {
            name: &file.name,
            line_starts: line_starts(&text),
            text: Cow::Owned(text),
            runs,
            original: Some((src, line_starts(src))),
        }
    }

    /// The view offset of an offset of the original text (a cut-out offset maps to the
    /// `…` that replaces it).
    pub(super) fn to_view(&self, offset: usize) -> usize {
        if self.original.is_none() {
            return offset.min(self.text.len());
        }
        let i = self.runs.partition_point(|&(_, from, _)| from <= offset);
        match i.checked_sub(1).map(|i| self.runs[i]) {
            Some((at, from, len)) => at + (offset - from).min(len),
            None => 0,
        }
    }

    /// The original offset of a view offset.
    fn to_original(&self, offset: usize) -> usize {
        let i = self.runs.partition_point(|&(at, _, _)| at <= offset);
        match i.checked_sub(1).map(|i| self.runs[i]) {
            Some((at, from, len)) => from + (offset - at).min(len),
            None => 0,
        }
    }

    fn line_start(&self, line: usize) -> Result<usize, Error> {
        match line.cmp(&self.line_starts.len()) {
            std::cmp::Ordering::Less => Ok(self.line_starts[line]),
            std::cmp::Ordering::Equal => Ok(self.text.len()),
            std::cmp::Ordering::Greater => Err(Error::LineTooLarge {
                given: line,
                max: self.line_starts.len().saturating_sub(1),
            }),
        }
    }
}

/// Byte offsets at which the lines of `text` start.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The kept parts of one long line: a window around each mark, merged where they meet;
/// the line's beginning when nothing on it is marked.
fn windows(src: &str, line: Range<usize>, marks: impl Iterator<Item = usize>) -> Vec<Range<usize>> {
    let floor = |mut i: usize| {
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let ceil = |mut i: usize| {
        while !src.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    let mut out: Vec<Range<usize>> = Vec::new();
    for m in marks {
        let w =
            floor(m.saturating_sub(WINDOW_CONTEXT).max(line.start))..ceil((m + WINDOW_CONTEXT).min(line.end));
        match out.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => out.push(w),
        }
    }
    if out.is_empty() {
        out.push(line.start..ceil(line.start + 2 * WINDOW_CONTEXT));
    }
    out
}

/// The views of one diagnostic's files, indexed by file id.
pub(super) struct Views<'v, 's> {
    pub(super) files: Vec<&'v FileView<'s>>,
}

impl<'a> Files<'a> for Views<'_, '_> {
    type FileId = usize;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<&'a str, Error> {
        Ok(self.file(id)?.name)
    }

    fn source(&'a self, id: usize) -> Result<&'a str, Error> {
        Ok(&self.file(id)?.text)
    }

    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, Error> {
        let f = self.file(id)?;
        Ok(f.line_starts
            .partition_point(|&s| s <= byte_index)
            .saturating_sub(1))
    }

    fn line_range(&'a self, id: usize, line_index: usize) -> Result<Range<usize>, Error> {
        let f = self.file(id)?;
        Ok(f.line_start(line_index)?..f.line_start(line_index + 1)?)
    }

    /// Columns of the original line, so `file:line:col` is right in a cut line too.
    fn column_number(&'a self, id: usize, line_index: usize, byte_index: usize) -> Result<usize, Error> {
        let f = self.file(id)?;
        match &f.original {
            None => {
                let range = self.line_range(id, line_index)?;
                Ok(codespan_reporting::files::column_index(&f.text, range, byte_index) + 1)
            }
            Some((src, starts)) => {
                let start = starts.get(line_index).copied().unwrap_or(src.len());
                let at = f.to_original(byte_index).clamp(start, src.len());
                Ok(src[start..at].chars().count() + 1)
            }
        }
    }
}

impl<'v, 's> Views<'v, 's> {
    fn file(&self, id: usize) -> Result<&'v FileView<'s>, Error> {
        self.files.get(id).copied().ok_or(Error::FileMissing)
    }
}

/// `text` with its middle replaced by `…` when it is longer than `max` characters (a
/// message quoting a huge value stays readable).
pub(super) fn elide_middle(text: &str, max: usize) -> Cow<'_, str> {
    let n = text.chars().count();
    if n <= max {
        return Cow::Borrowed(text);
    }
    let head: String = text.chars().take(max * 2 / 3).collect();
    let tail: String = text.chars().skip(n - max / 3).collect();
    Cow::Owned(format!("{head}{CUT}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            name: "f".into(),
            path: None,
            text: text.into(),
        }
    }

    #[test]
    fn long_lines_are_cut_around_the_marks_and_map_both_ways() {
        let long = format!("let s = \"{}\" + 1", "x".repeat(10_000));
        let f = file(&format!("short line\n{long}\nlast\n"));
        let start = 11 + long.find('"').unwrap();
        let end = 11 + long.rfind('"').unwrap() + 1;
        let v = FileView::cut(&f, &[start, end]);
        let lines: Vec<&str> = v.text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "short line");
        assert_eq!(lines[2], "last");
        assert!(lines[1].len() < 4 * WINDOW_CONTEXT + 10, "{}", lines[1]);
        assert!(
            lines[1].starts_with("let s = \"xx") && lines[1].contains('…'),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("xx\" + 1"), "{}", lines[1]);
        // Marks map into the view and back; a cut-out offset maps to the `…`.
        assert_eq!(v.to_original(v.to_view(start)), start);
        assert_eq!(v.to_original(v.to_view(end)), end);
        assert_eq!(&v.text[v.to_view(start)..v.to_view(start) + 1], "\"");
        let middle = v.to_view(start + 5_000);
        assert!(v.text[middle..].starts_with('…'));
        // Columns are the original's.
        let views = Views { files: vec![&v] };
        assert_eq!(
            views.location(0, v.to_view(end)).unwrap().column_number,
            end - 11 + 1
        );
        assert_eq!(views.location(0, v.to_view(end)).unwrap().line_number, 2);
    }

    #[test]
    fn short_files_are_not_copied_and_cuts_respect_characters() {
        let f = file("pipeline p {}\n");
        assert!(!FileView::has_long_lines(&f.text));
        assert!(matches!(FileView::whole(&f).text, Cow::Borrowed(_)));
        let wide = file(&"é".repeat(500));
        assert!(FileView::has_long_lines(&wide.text));
        let v = FileView::cut(&wide, &[501]);
        assert!(v.text.contains('…') && v.text.len() < 200);
        let unmarked = FileView::cut(&wide, &[]);
        assert!(unmarked.text.starts_with("éé") && unmarked.text.ends_with('…'));
    }

    #[test]
    fn long_messages_keep_their_ends() {
        assert_eq!(elide_middle("short", 10), "short");
        let m = format!("found `{}`", "y".repeat(1000));
        let e = elide_middle(&m, 90);
        assert!(e.starts_with("found `yy") && e.ends_with("yy`") && e.contains('…'));
        assert!(e.chars().count() <= 91);
    }
}
