//! sieve — a declarative, content-addressed pipeline engine for difficulty-aware data
//! selection and LLM fine-tuning experiments.
//!
//! Data flows through one chain of representations (see `DESIGN.md` §2):
//! `dsl` (pest DSL / YAML → [`dsl::ast`]) → `ir` (lowered, checked, sweeps expanded) →
//! `plan` (sealed petgraph DAG) → `exec` (freshness, scheduler) → `stages` (registry of
//! stage kinds) → plain libraries (`data`, `model`, `train`, `eval`, `report`).
//! `cache`, `diag` and `value` are leaves used by everyone; so are `confine` (the folders
//! stages may read and write, and the one check every path goes through) and `config`
//! (the project file `sieve.toml`).

pub mod bench;
pub mod cache;
pub mod cli;
pub mod config;
pub mod confine;
pub mod data;
pub mod device;
pub mod diag;
pub mod dsl;
pub mod eval;
pub mod exec;
pub mod ir;
pub mod model;
pub mod plan;
pub mod report;
pub mod stages;
#[cfg(test)]
mod testenv;
pub mod torch_runtime;
pub mod train;
pub mod value;
