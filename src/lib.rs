//! sieve — a declarative, content-addressed pipeline engine for difficulty-aware data
//! selection and LLM fine-tuning experiments.
//!
//! Data flows through one chain of representations (see `docs/architecture.md`):
//!
//! ```text
//! .sieve / .yaml ─dsl::load─▶ dsl::ast ─ir::lower─▶ ir::Pipeline ─Plan::build─▶ plan::Plan
//!                                                                     │
//!        cache::Store ◀── exec::run (freshness, scheduler) ──▶ stages (registry of kinds)
//!                                                                     │
//!                                   data · model (config, folders) · eval · report
//! ```
//!
//! `cache`, `diag` and `value` are leaves used by everyone; so are `confine` (the folders
//! stages may read and write, and the one check every path goes through), `config` (the
//! project file `sieve.toml`) and `device`. This crate never links libtorch: the kinds
//! that need it are declared here and their bodies live in the `sieve-torch` crate, which
//! installs them through [`stages::torch`].

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
#[doc(hidden)]
pub mod testenv;
pub mod value;
