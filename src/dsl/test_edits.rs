//! Test helpers shared by the front ends' fuzz tests: random character edits of a valid
//! pipeline text, and the check that errors point inside the text (compiled into unit
//! tests only).

use crate::diag::Diagnostics;
use proptest::prelude::*;

/// Random edits for [`mutate`]: one to seven, each inserting or writing one of
/// `syntax` (the characters that matter to a parser) or any character at all.
pub(crate) fn edits(syntax: &'static [char]) -> impl Strategy<Value = Vec<(usize, u8, char)>> {
    let character = prop_oneof![prop::sample::select(syntax), any::<char>()];
    prop::collection::vec((any::<usize>(), any::<u8>(), character), 1..8)
}

/// Applies edits `(position, kind, character)`: kind 0 inserts, 1 deletes, 2 replaces
/// (appending when the position is past the end).
pub(crate) fn mutate(base: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for &(pos, kind, c) in edits {
        let at = pos % (chars.len() + 1);
        match kind % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = c,
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

/// Fails the property unless every error in `parsed` points inside `text`, on character
/// boundaries (the renderer slices the text there).
pub(crate) fn check_error_spans<T>(text: &str, parsed: &Result<T, Diagnostics>) -> Result<(), TestCaseError> {
    if let Err(diags) = parsed {
        for d in &diags.0 {
            if let Some((span, _)) = &d.primary {
                prop_assert!(span.start <= span.end && span.end <= text.len());
                prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            }
        }
    }
    Ok(())
}
