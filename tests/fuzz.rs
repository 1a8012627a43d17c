//! Robustness: random and mutated pipeline texts, in both syntaxes, never panic the
//! parser, the import loader, the lowering or the files pass — they either lower or
//! produce diagnostics that render.

use proptest::prelude::*;
use sieve::confine::Confinement;
use sieve::diag::SourceMap;
use sieve::dsl::load_str;
use std::sync::OnceLock;

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

/// The confinement of the fuzzed pipelines: an empty folder of their own, so no path a
/// mutation invents leads to a real file tree to search.
fn fuzz_project() -> &'static Confinement {
    static PROJECT: OnceLock<(tempfile::TempDir, Confinement)> = OnceLock::new();
    &PROJECT
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let files = Confinement::new(dir.path(), &dir.path().join(".sieve")).expect("confinement");
            (dir, files)
        })
        .1
}

fn check(text: &str, yaml: bool) {
    let mut sm = SourceMap::new();
    let files = fuzz_project();
    match load_str("fuzz", text, yaml, files, &mut sm) {
        Ok(file) => {
            let lowered = sieve::ir::lower(&file, &[]).and_then(|ir| sieve::ir::check_files(&ir, files));
            if let Err(d) = lowered {
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
