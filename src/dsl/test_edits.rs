//! Test helper shared by the front ends' fuzz tests: random character edits of a valid
//! pipeline text (compiled into unit tests only).

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
