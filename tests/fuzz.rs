//! Robustness: random and mutated pipeline texts, in both syntaxes, never panic the
//! parser, the import loader or the lowering — they either lower or produce diagnostics
//! that render.

use proptest::prelude::*;
use sieve::diag::SourceMap;
use sieve::dsl::load_str;

const SEED_DSL: &str = r#"pipeline p {
  let seed = 7
  let n = 100 * 2
  stage pool = synth.arith(n = n, seed = seed + 1)
  sweep budget in [4, 8], band in ["easy", "hard"] {
    stage subset = select(scored, budget = budget, band = band, bands = 2)
  }
  stage scored = score(pool, by = column("difficulty"))
  stage both = concat(subset)
}
"#;

const SEED_YAML: &str = r#"pipeline: p
let:
  seed: 7
stages:
  pool: {kind: synth.arith, n: 200, seed: "${seed + 1}"}
  scored: {kind: score, inputs: [pool], by: '${column("difficulty")}'}
sweeps:
  - over: {budget: [4, 8], band: [easy, hard]}
    stages:
      subset: {kind: select, inputs: [scored], budget: "${budget}", band: "${band}", bands: 2}
"#;

/// Words that make random texts look like pipelines, so the fuzzer reaches deep code.
const VOCAB: &[&str] = &[
    "pipeline",
    "p",
    "{",
    "}",
    "stage",
    "let",
    "sweep",
    "in",
    "import",
    "=",
    "(",
    ")",
    "[",
    "]",
    ",",
    "..",
    "+",
    "-",
    "*",
    "/",
    "\"x\"",
    "1",
    "2_000",
    "3e-4",
    "true",
    "seed",
    "synth.arith",
    "select",
    "score",
    "concat",
    "column",
    "budget",
    "band",
    "n",
    "pool",
    "subset",
    "#c\n",
    "\n",
    " ",
    ":",
    "${",
    "stages:",
    "kind:",
];

fn check(text: &str, yaml: bool) {
    let mut sm = SourceMap::new();
    match load_str("fuzz", text, yaml, &mut sm) {
        Ok(file) => {
            if let Err(d) = sieve::ir::lower(&file, &[]) {
                let _ = d.render(&sm);
            }
        }
        Err(d) => {
            let _ = d.render(&sm);
        }
    }
}

fn mutate(seed: &str, edits: &[(usize, u8, usize)]) -> String {
    let mut bytes: Vec<u8> = seed.as_bytes().to_vec();
    for &(pos, byte, kind) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let i = pos % bytes.len();
        match kind % 3 {
            0 => {
                bytes.remove(i);
            }
            1 => bytes.insert(i, byte),
            _ => bytes[i] = byte,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(words in prop::collection::vec(prop::sample::select(VOCAB), 0..60), yaml in any::<bool>()) {
        check(&words.join(" "), yaml);
    }

    #[test]
    fn mutated_pipelines_never_panic(edits in prop::collection::vec((any::<usize>(), 32u8..127, any::<usize>()), 1..8)) {
        check(&mutate(SEED_DSL, &edits), false);
        check(&mutate(SEED_YAML, &edits), true);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,200}") {
        check(&s, false);
        check(&s, true);
    }
}
