//! Test-only stage kinds (compiled into the library's unit tests only): tiny, stable
//! schemas for testing lowering, planning and execution without real workloads.

use super::{ArtifactKind, InputSpec, ParamSpec, ParamType, StageContext, StageKind, StageResult};
use crate::value::Value;

struct Kind {
    name: &'static str,
    inputs: fn() -> Vec<InputSpec>,
    params: fn() -> Vec<ParamSpec>,
    output: ArtifactKind,
}

impl StageKind for Kind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "test kind"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        (self.inputs)()
    }
    fn params(&self) -> Vec<ParamSpec> {
        (self.params)()
    }
    fn output(&self) -> ArtifactKind {
        self.output
    }
    /// `t.gpu` stands for a libtorch stage: it takes a GPU slot, runs no libtorch.
    fn needs_torch(&self, _params: &super::Params) -> bool {
        self.name == "t.gpu"
    }
    fn device_sensitive(&self, _params: &super::Params) -> bool {
        false
    }
    /// Writes its parameters (except `note`, which exists to test early cutoff) and its
    /// inputs' contents: deterministic bytes. `t.fail` fails, `t.panic` panics, `t.gpu`
    /// first holds its slot for 150 ms (so overlapping stages would be seen).
    fn run(&self, ctx: &StageContext) -> StageResult {
        match self.name {
            "t.fail" => return Err(super::StageError::Failed("failing on purpose".into())),
            "t.panic" => panic!("panicking on purpose"),
            "t.gpu" => std::thread::sleep(std::time::Duration::from_millis(150)),
            _ => {}
        }
        let mut params = ctx.params.0.clone();
        params.remove("note");
        let mut text = format!("{params:?}\n");
        for slot in &ctx.inputs {
            for m in &slot.members {
                text.push_str(&std::fs::read_to_string(m.file("out.txt"))?);
            }
        }
        std::fs::write(ctx.out_dir().join("out.txt"), text)?;
        Ok(())
    }
}

pub fn kinds() -> Vec<Box<dyn StageKind>> {
    use ArtifactKind::*;
    vec![
        Box::new(Kind {
            name: "t.source",
            inputs: Vec::new,
            params: || {
                vec![
                    ParamSpec::required("n", ParamType::Int, "rows"),
                    ParamSpec::optional(
                        "note",
                        ParamType::Str,
                        Value::Str(String::new()),
                        "not in the output",
                    ),
                    ParamSpec::seed(),
                ]
            },
            output: Dataset,
        }),
        Box::new(Kind {
            name: "t.fail",
            inputs: Vec::new,
            params: Vec::new,
            output: Dataset,
        }),
        Box::new(Kind {
            name: "t.panic",
            inputs: Vec::new,
            params: Vec::new,
            output: Dataset,
        }),
        Box::new(Kind {
            name: "t.model",
            inputs: Vec::new,
            params: || vec![ParamSpec::seed()],
            output: Model,
        }),
        Box::new(Kind {
            name: "t.train",
            inputs: || {
                vec![
                    InputSpec::one("model", Model, "base"),
                    InputSpec::one("data", Dataset, "data"),
                ]
            },
            params: || {
                vec![
                    ParamSpec::optional("lr", ParamType::Float, Value::Float(1e-3), "learning rate"),
                    ParamSpec::optional("steps", ParamType::Int, Value::Int(10), "steps"),
                    ParamSpec::device(),
                ]
            },
            output: Model,
        }),
        Box::new(Kind {
            name: "t.eval",
            inputs: || {
                vec![
                    InputSpec::one("model", Model, "model"),
                    InputSpec::one("data", Dataset, "data"),
                ]
            },
            params: Vec::new,
            output: Metrics,
        }),
        Box::new(Kind {
            name: "t.gpu",
            inputs: Vec::new,
            params: || {
                vec![
                    ParamSpec::required("i", ParamType::Int, "instance"),
                    ParamSpec::device(),
                ]
            },
            output: Dataset,
        }),
        Box::new(Kind {
            name: "t.collect",
            inputs: || vec![InputSpec::many("results", Metrics, "results")],
            params: Vec::new,
            output: Report,
        }),
        // One parameter of each type, for the rules on bare words.
        Box::new(Kind {
            name: "t.words",
            inputs: Vec::new,
            params: || {
                let empty = || Value::Str(String::new());
                vec![
                    ParamSpec::optional(
                        "choice",
                        ParamType::Enum(&["a", "b"]),
                        Value::Str("a".into()),
                        "enum",
                    ),
                    ParamSpec::optional(
                        "ctor",
                        ParamType::Call(&["make"]),
                        Value::Str("make".into()),
                        "constructor",
                    ),
                    ParamSpec::optional(
                        "tok",
                        ParamType::TokenizerFile(&["chars"]),
                        Value::Str("chars".into()),
                        "tokenizer",
                    ),
                    ParamSpec::optional("anything", ParamType::Any, empty(), "any"),
                    ParamSpec::optional("text", ParamType::Str, empty(), "string"),
                    ParamSpec::optional("count", ParamType::Int, Value::Int(0), "int"),
                    ParamSpec::optional(
                        "texts",
                        ParamType::List(Box::new(ParamType::Str)),
                        Value::List(Vec::new()),
                        "strings",
                    ),
                    ParamSpec::optional(
                        "choices",
                        ParamType::List(Box::new(ParamType::Enum(&["a", "b"]))),
                        Value::List(Vec::new()),
                        "enums",
                    ),
                ]
            },
            output: Dataset,
        }),
        // A report-like consumer of metrics, addressed by axes.
        Box::new(Kind {
            name: "t.chart",
            inputs: || vec![InputSpec::many("results", Metrics, "results")],
            params: || {
                let empty = || Value::Str(String::new());
                vec![
                    ParamSpec::optional("x", ParamType::Axis, empty(), "axis"),
                    ParamSpec::optional("y", ParamType::Axis, empty(), "axis"),
                    ParamSpec::optional(
                        "value",
                        ParamType::Metric,
                        Value::Str("accuracy".into()),
                        "metric",
                    ),
                ]
            },
            output: Report,
        }),
    ]
}
