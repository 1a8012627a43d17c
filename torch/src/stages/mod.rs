//! The bodies of the stage kinds that need libtorch. Each kind is declared in the engine
//! (`sieve::stages`: parameters, inputs, checks); its body here receives the typed
//! parameters and the stage's context, and is registered by one line of [`bodies`].
//!
//! Invariants: every kind whose declaration says it can need libtorch has exactly one
//! body here, and every body belongs to such a kind (tested below); library errors and
//! libtorch panics become `StageError`s, never a crash of the executor.

pub mod common;
pub mod evaluate;
pub mod grpo;
pub mod model_init;
mod rl_common;
pub mod rollout;
pub mod score;
pub mod sft;

use sieve::stages::declare::{Stage, typed_params};
use sieve::stages::torch::Body;
use sieve::stages::{StageContext, StageResult};

/// A body of kind `S`, erased to what the engine calls: it reads the typed parameters
/// from the context and runs `f`.
macro_rules! body {
    ($kind:ty, $f:path) => {{
        fn body(ctx: &StageContext) -> StageResult {
            let p = typed_params::<<$kind as Stage>::Params>(ctx)?;
            $f(&p, ctx)
        }
        (<$kind as Stage>::NAME, body as Body)
    }};
}

/// Every libtorch body, by kind name: one line per kind.
pub fn bodies() -> Vec<(&'static str, Body)> {
    use sieve::stages::{
        evaluate::Evaluate, grpo::Grpo, model_init::ModelInit, rollout::Rollout, score::Score, sft::Sft,
    };
    vec![
        body!(Evaluate, evaluate::run),
        body!(Grpo, grpo::run),
        body!(ModelInit, model_init::run),
        body!(Rollout, rollout::run),
        body!(Score, score::run),
        body!(Sft, sft::run),
    ]
}

/// Test helpers shared by the bodies' tests.
#[cfg(test)]
pub(crate) mod testutil {
    pub use sieve::stages::testutil::kind;

    /// [`sieve::stages::testutil::run_kind`] with the libtorch runtime installed.
    pub fn run_kind(
        kind: &dyn sieve::stages::StageKind,
        params: &[(&str, sieve::value::Value)],
        inputs: &[(&str, &std::path::Path)],
        out: &std::path::Path,
        work: &std::path::Path,
    ) -> sieve::stages::StageResult {
        crate::runtime::install_for_tests();
        sieve::stages::testutil::run_kind(kind, params, inputs, out, work)
    }

    /// A nano model with the digits-and-`+=` alphabet of the addition tests, written to
    /// `dir/init` (work folder `dir/<work>`); returns its folder.
    pub fn nano_addition_model(dir: &std::path::Path, work: &str) -> std::path::PathBuf {
        use sieve::value::Value;
        let init = dir.join("init");
        let p = [
            ("arch", Value::Str("nano".into())),
            ("alphabet", Value::Str("0123456789+=".into())),
        ];
        run_kind(kind("model.init"), &p, &[], &init, &dir.join(work)).unwrap();
        init
    }
}

#[cfg(test)]
mod tests {
    use sieve::stages::declare::Torch;
    use std::collections::BTreeSet;

    #[test]
    fn every_kind_that_can_need_libtorch_has_one_body_and_no_other_kind_has_one() {
        let needing: BTreeSet<&str> = sieve::stages::registry()
            .iter()
            .filter(|k| k.torch() != Torch::Never)
            .map(|k| k.name())
            .collect();
        let bodies: Vec<&str> = super::bodies().iter().map(|(n, _)| *n).collect();
        let unique: BTreeSet<&str> = bodies.iter().copied().collect();
        assert_eq!(unique.len(), bodies.len(), "a kind has two bodies: {bodies:?}");
        assert_eq!(
            needing, unique,
            "kinds that can need libtorch vs registered bodies"
        );
    }
}
