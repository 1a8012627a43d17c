//! Integration tests (one test binary): golden parse → IR → plan cases in both syntaxes,
//! snapshot-tested diagnostics of invalid pipelines, CLI behaviour (caching, overrides,
//! early cutoff, crash safety, concurrency, lock files), robustness of the front end and
//! the fault campaign at CI size.

mod common;

mod cli;
mod confine;
mod determinism;
mod docs;
mod faults;
mod fuzz;
mod golden;
mod limits;
mod recipes;
mod torch_split;
