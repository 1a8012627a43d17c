//! The libtorch side of sieve: a Llama / Qwen2-family decoder in tch ([`model`]), its
//! training ([`train`]), reinforcement learning ([`rl`]), model-based scores ([`eval`]), the bodies of the stage kinds
//! that need libtorch ([`stages`]), the runtime that hands them to the engine
//! ([`runtime`]), and the `sieve bench` measurements ([`bench`]).
//!
//! The engine (`sieve`: language, planning, execution, cache, data, reports) does not
//! depend on this crate or on libtorch; this crate depends on it. Kinds are *declared*
//! in the engine (parameters, inputs, checks), so `sieve check` and cached runs need no
//! libtorch; their bodies are registered here, by kind name, when the `sieve-torch`
//! binary installs the runtime.
//!
//! Invariants: library modules (`model`, `train`, `rl`, `eval`) know nothing about stages or
//! the cache; only `main.rs` changes process-wide state (CPU kernel choice, allocator).

pub mod bench;
pub mod device;
pub mod eval;
pub mod model;
pub mod rl;
pub mod runtime;
pub mod stages;
#[doc(hidden)]
pub mod testenv;
pub mod train;
