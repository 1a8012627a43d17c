//! Integration tests (one test binary): golden parse → IR → plan cases in both syntaxes,
//! snapshot-tested diagnostics of invalid pipelines, CLI behaviour (caching, overrides,
//! early cutoff, crash safety, concurrency, lock files), robustness of the front end, the
//! fault campaign at CI size and the layering of the library's modules.

mod common;

mod cli;
mod confine;
mod determinism;
mod docs;
mod faults;
mod fuzz;
mod golden;
mod layering;
mod limits;
mod recipes;
mod torch_split;
