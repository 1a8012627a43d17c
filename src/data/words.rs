//! Word lists shipped in `datasets/words/` (compiled in, so nothing is read or downloaded
//! at run time) and a generator of essay-like filler text built from them.
//!
//! Invariants: the lists are ASCII, lowercase, unique and free of digits and hyphens, so
//! generated filler can never contain a RULER key (`adjective-noun`), a number or a
//! `VAR` assignment by accident; filler is a pure function of the RNG state.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

const NOUNS: &str = include_str!("../../datasets/words/nouns.txt");
const ADJECTIVES: &str = include_str!("../../datasets/words/adjectives.txt");
const VERBS: &str = include_str!("../../datasets/words/verbs.txt");

fn parse(src: &'static str) -> Vec<&'static str> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Concrete nouns (`apple`, `lantern`, …).
pub fn nouns() -> &'static [&'static str] {
    static W: OnceLock<Vec<&'static str>> = OnceLock::new();
    W.get_or_init(|| parse(NOUNS))
}

/// Adjectives (`amber`, `quiet`, …).
pub fn adjectives() -> &'static [&'static str] {
    static W: OnceLock<Vec<&'static str>> = OnceLock::new();
    W.get_or_init(|| parse(ADJECTIVES))
}

/// Third-person verbs (`builds`, `carries`, …).
pub fn verbs() -> &'static [&'static str] {
    static W: OnceLock<Vec<&'static str>> = OnceLock::new();
    W.get_or_init(|| parse(VERBS))
}

/// Plain English words (nouns, adjectives, verbs), then `adjective+noun` compounds
/// (`amberapple`) once those run out: `word(i)` is distinct for every `i` below
/// [`word_count`].
pub fn word(i: usize) -> String {
    let (n, a, v) = (nouns(), adjectives(), verbs());
    let plain = n.len() + a.len() + v.len();
    if i < n.len() {
        n[i].to_string()
    } else if i < n.len() + a.len() {
        a[i - n.len()].to_string()
    } else if i < plain {
        v[i - n.len() - a.len()].to_string()
    } else {
        let j = i - plain;
        format!("{}{}", a[(j / n.len()) % a.len()], n[j % n.len()])
    }
}

/// How many plain (single dictionary) words [`word`] produces before the compounds.
pub fn plain_count() -> usize {
    nouns().len() + adjectives().len() + verbs().len()
}

/// How many distinct words [`word`] can produce.
pub fn word_count() -> usize {
    nouns().len() + adjectives().len() + verbs().len() + adjectives().len() * nouns().len()
}

fn pick<'a>(rng: &mut ChaCha8Rng, xs: &'a [&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// One essay-like filler sentence ("The quiet lantern guards a golden meadow near the
/// river.").
pub fn essay_sentence(rng: &mut ChaCha8Rng) -> String {
    let (n, a, v) = (nouns(), adjectives(), verbs());
    match rng.random_range(0..5u8) {
        0 => format!(
            "The {} {} {} a {} {}.",
            pick(rng, a),
            pick(rng, n),
            pick(rng, v),
            pick(rng, a),
            pick(rng, n)
        ),
        1 => format!(
            "Every {} {} near the {} {} the {}.",
            pick(rng, a),
            pick(rng, n),
            pick(rng, n),
            pick(rng, v),
            pick(rng, n)
        ),
        2 => format!(
            "Nobody expected the {} to be so {} in the {}.",
            pick(rng, n),
            pick(rng, a),
            pick(rng, n)
        ),
        3 => format!(
            "In the {} {}, a {} {} {} quietly.",
            pick(rng, a),
            pick(rng, n),
            pick(rng, a),
            pick(rng, n),
            pick(rng, v).trim_end_matches('s')
        ),
        _ => format!(
            "It is said that the {} {} the {} {}.",
            pick(rng, n),
            pick(rng, v),
            pick(rng, a),
            pick(rng, n)
        ),
    }
}

/// RULER's repeated noise sentence block.
pub const NOISE: &str =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn lists_are_clean_and_words_distinct() {
        for w in nouns().iter().chain(adjectives()).chain(verbs()) {
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
        }
        let all: HashSet<String> = (0..2000).map(word).collect();
        assert_eq!(all.len(), 2000);
        assert!(word_count() > 10_000);
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let s = essay_sentence(&mut r);
        assert!(s.ends_with('.') && !s.contains('-') && !s.chars().any(|c| c.is_ascii_digit()));
    }
}
