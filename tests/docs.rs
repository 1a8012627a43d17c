//! Generated documentation stays current: `docs/catalogue.md` is the stage catalogue
//! generated from the kinds' own schemas. Regenerate with
//! `SIEVE_UPDATE_DOCS=1 cargo test --test integration docs`.

use std::path::Path;

fn generated_catalogue() -> String {
    let mut out = String::from(
        "# Stage catalogue (generated)\n\n\
         Every stage kind with its inputs, parameters, defaults and output, generated from the\n\
         kinds' own schemas (`sieve stages --markdown`; `sieve stages KIND` in a terminal).\n\
         How the stages work is described in [stages.md](stages.md), [report.md](report.md)\n\
         and [language.md](language.md). Do not edit by hand: regenerate with\n\
         `SIEVE_UPDATE_DOCS=1 cargo test --test integration docs`.\n\n",
    );
    for k in sieve::stages::registry().iter() {
        out.push_str(&sieve::stages::describe_kind(k, true));
    }
    out
}

#[test]
fn stage_catalogue_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/catalogue.md");
    let want = generated_catalogue();
    if std::env::var_os("SIEVE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/catalogue.md is stale (a stage kind or parameter changed); regenerate it with \
         SIEVE_UPDATE_DOCS=1 cargo test --test integration docs"
    );
}
