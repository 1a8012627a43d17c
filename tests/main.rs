//! Integration tests (one test binary): golden parse → IR → plan cases in both syntaxes,
//! snapshot-tested diagnostics of invalid pipelines, CLI behaviour (caching, overrides,
//! early cutoff, crash safety, concurrency, lock files) and robustness of the front end.

mod common;

mod cli;
mod confine;
mod determinism;
mod docs;
mod fuzz;
mod golden;
mod limits;
mod recipes;
mod torch_split;
