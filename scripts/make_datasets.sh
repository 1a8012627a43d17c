#!/usr/bin/env bash
# Regenerates the small datasets shipped in datasets/ from sieve's own generators
# (src/data/datasets.rs). The test `data::datasets::tests::shipped_datasets_are_reproducible`
# fails whenever a generator change is not followed by running this script.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --lib data::datasets::tests::regenerate -- --ignored --nocapture
