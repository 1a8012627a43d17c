//! Unit tests of lowering, against small test-only stage kinds (registered only in the
//! library's unit-test build) so they do not depend on the real kinds' evolving schemas.

use super::*;
use crate::diag::SourceMap;
use crate::dsl;

fn lower_src(text: &str, sets: &[(&str, &str)]) -> (Result<Pipeline, crate::diag::Diagnostics>, SourceMap) {
    let mut sm = SourceMap::new();
    let f = sm.add("t.sieve", None, text);
    let file = dsl::parser::parse_file(text, f).unwrap_or_else(|d| panic!("parse: {}", d.render(&sm)));
    let mut overrides = Vec::new();
    for (k, v) in sets {
        // As the command line registers them: a source `--set` holding the whole argument.
        let arg = format!("{k}={v}");
        let id = sm.add("--set", None, arg.as_str());
        let value = dsl::parser::parse_expr_at(v, id, k.len() + 1).expect("parse --set");
        overrides.push(Override {
            key: k.to_string(),
            value,
            span: crate::diag::Span::new(id, 0, arg.len()),
        });
    }
    (lower(&file, &overrides), sm)
}

fn ok(text: &str) -> Pipeline {
    let (r, sm) = lower_src(text, &[]);
    r.unwrap_or_else(|d| panic!("lowering failed:\n{}", d.render(&sm)))
}

fn errors(text: &str) -> String {
    errors_setting(text, &[])
}

/// The rendered errors of lowering `text` with the `--set` values `sets`.
fn errors_setting(text: &str, sets: &[(&str, &str)]) -> String {
    let (r, sm) = lower_src(text, sets);
    match r {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.render(&sm),
    }
}

/// Panics unless the rendered errors `out` contain every one of `needles`.
fn assert_mentions(out: &str, needles: &[&str]) {
    for needle in needles {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn sweeps_expand_and_align() {
    let p = ok(r#"pipeline p {
        let seed = 7
        stage src = t.source(n = 10, seed = seed + 1)
        stage m = t.model()
        sweep lr in [1e-3, 3e-4], steps in [1, 2] {
            stage tr = t.train(m, src, lr = lr, steps = steps)
            stage ev = t.eval(tr, src)
        }
        stage all = t.collect(ev)
    }"#);
    assert_eq!(p.stages.len(), 3 + 4 + 4);
    let ev = &p.stages["ev[lr=1e-3,steps=2]"];
    assert_eq!(ev.inputs[0].sources, vec!["tr[lr=1e-3,steps=2]"]);
    assert_eq!(p.stages["all"].inputs[0].sources.len(), 4);
    assert_eq!(p.stages["src"].params.get("seed"), Some(&Value::Int(8)));
    // Conventional `seed` default from the pipeline variable.
    assert_eq!(p.stages["m"].params.get("seed"), Some(&Value::Int(7)));
}

#[test]
fn index_selects_a_sub_family() {
    let p = ok(r#"pipeline p {
        stage src = t.source(n = 1)
        stage m = t.model()
        sweep a in [1, 2], b in ["x", "y"] {
            stage tr = t.train(m, src, steps = a)
            stage ev = t.eval(tr, src)
        }
        stage one = t.eval(tr[a=2, b=y], src)
        stage some = t.collect(ev[b=x])
    }"#);
    assert_eq!(p.stages["one"].inputs[0].sources, vec!["tr[a=2,b=y]"]);
    assert_eq!(
        p.stages["some"].inputs[0].sources,
        vec!["ev[a=1,b=x]", "ev[a=2,b=x]"]
    );
}

#[test]
fn overrides_apply_to_variables_and_parameters() {
    let text = r#"pipeline p {
        let seed = 1
        stage src = t.source(n = 5, seed = seed * 10)
        stage m = t.model()
        stage tr = t.train(m, src, lr = 1e-3)
    }"#;
    let (r, _) = lower_src(text, &[("seed", "3"), ("tr.lr", "1e-4"), ("tr.steps", "7")]);
    let p = r.expect("lowers");
    assert_eq!(p.stages["src"].params.get("seed"), Some(&Value::Int(30)));
    assert_eq!(p.stages["tr"].params.get("lr"), Some(&Value::Float(1e-4)));
    assert_eq!(p.stages["tr"].params.get("steps"), Some(&Value::Int(7)));
    let out = errors_setting(text, &[("sede", "3"), ("tr.lrr", "1")]);
    assert_mentions(&out, &["unknown variable `sede`", "did you mean `seed`?"]);
    assert_mentions(&out, &["has no parameter `lrr`", "did you mean `lr`?"]);
}

#[test]
fn all_errors_are_reported_at_once() {
    let out = errors(
        r#"pipeline p {
        stage src = t.sourc(n = 1)
        stage m = t.model(sed = 3)
        stage tr = t.train(src, m, lr = "fast")
        stage tr = t.model()
        stage ev = t.eval(nope, src)
    }"#,
    );
    assert_mentions(
        &out,
        &[
            "unknown stage kind `t.sourc`",
            "did you mean `t.source`?",
            "unknown parameter `sed`",
            "expects a dataset, but `m` produces a model",
            "expected float, found string",
            "stage `tr` is defined twice",
            "undefined stage `nope`",
        ],
    );
    assert!(
        !out.contains("is missing its input"),
        "cascading error in:\n{out}"
    );
    assert!(out.contains("t.sieve:2:21"), "positions: {out}");
}

#[test]
fn cycles_and_bad_sweeps_are_errors() {
    let out = errors(
        r#"pipeline p {
        stage a = t.train(b, src)
        stage b = t.train(a, src)
        stage src = t.source(n = 1)
    }"#,
    );
    assert!(out.contains("t.train"), "{out}");
    let out = errors(
        r#"pipeline p {
        stage m = t.model()
        stage a = t.train(m, m)
    }"#,
    );
    assert!(out.contains("expects a dataset"), "{out}");
    let out = errors(
        r#"pipeline p {
        sweep x in [] { stage s = t.source(n = x) }
        sweep y in 3 { stage r = t.source(n = y) }
        sweep z in [1, 1] { stage q = t.source(n = z) }
    }"#,
    );
    assert_mentions(&out, &["has no values", "needs a list", "twice"]);
}

#[test]
fn family_into_single_input_is_an_error_with_a_hint() {
    let out = errors(
        r#"pipeline p {
        stage src = t.source(n = 1)
        stage m = t.model()
        sweep a in [1, 2] { stage tr = t.train(m, src) }
        stage ev = t.eval(tr, src)
    }"#,
    );
    assert_mentions(&out, &["family of 2 instances", "name[var=value]"]);
}

#[test]
fn undefined_variables_in_arithmetic_suggest() {
    let out = errors(
        r#"pipeline p {
        let seed = 1
        stage src = t.source(n = 1, seed = sed + 1)
    }"#,
    );
    assert_mentions(&out, &["undefined variable `sed`", "did you mean `seed`?"]);
}

#[test]
fn cycle_is_reported() {
    let out = errors(
        r#"pipeline p {
        stage src = t.source(n = 1)
        stage a = t.train(b, src)
        stage b = t.train(a, src)
    }"#,
    );
    assert!(out.contains("dependency cycle"), "{out}");
}

#[test]
fn choose_switches_settings_by_one_variable() {
    let text = r#"pipeline p {
        let profile = "quick"
        let n = choose(profile, "quick", 10, "full", 1_000)
        stage src = t.source(n = n)
    }"#;
    assert_eq!(ok(text).stages["src"].params.get("n"), Some(&Value::Int(10)));
    let (r, _) = lower_src(text, &[("profile", "full")]);
    assert_eq!(r.unwrap().stages["src"].params.get("n"), Some(&Value::Int(1000)));
    let out = errors_setting(text, &[("profile", "huge")]);
    assert_mentions(&out, &["no option `huge`", "quick, full"]);
}

#[test]
fn bare_words_are_symbols_only_where_the_parameter_takes_words() {
    let p = ok(r#"pipeline p {
        stage w = t.words(choice = b, ctor = make(x, 2), tok = chars, anything = hard,
                          choices = [a, b], text = "free text")
        stage heatmap = t.words(choice = a, anything = heatmap)
        # a selector matches the sweep's values: words are fine there
        sweep v in ["x", "y"] { stage t_ev = t.eval(m, src) }
        stage one = t.collect(t_ev[v=x])
        stage m = t.model()
        stage src = t.source(n = 1)
    }"#);
    let w = &p.stages["w"].params;
    assert_eq!(w.get("choice"), Some(&Value::Str("b".into())));
    assert_eq!(w.get("anything"), Some(&Value::Str("hard".into())));
    assert_eq!(
        w.get("ctor").map(Value::to_string).as_deref(),
        Some(r#"make("x", 2)"#)
    );
    // A stage's own name where a word is taken is the word (as in YAML).
    assert_eq!(
        p.stages["heatmap"].params.get("anything"),
        Some(&Value::Str("heatmap".into()))
    );
    let out = errors(
        r#"pipeline p {
        let col = "ops"
        stage w = t.words(text = coll, texts = [col, colll], count = cnt)
        stage u = t.words(text = src)
        stage src = t.source(n = 1)
        sweep v in [one, 2] { stage s = t.source(n = 1) }
        let x = choose(col, ops, 1, other, 2)
    }"#,
    );
    assert_mentions(
        &out,
        &[
            "undefined variable `coll`",
            "did you mean `col`?",
            "for the text `coll`, write it in quotes: \"coll\"",
            "undefined variable `colll`",
            "undefined variable `cnt`",
            "`src` is a stage; stage outputs are inputs",
            "undefined variable `one`",
            "undefined variable `ops`",
        ],
    );
    // No advice to quote where text is not a value (an int parameter, arithmetic).
    assert!(!out.contains("for the text `cnt`"), "{out}");
}

#[test]
fn a_failed_variable_is_reported_once_not_at_each_use() {
    let out = errors(
        r#"pipeline p {
        let a = undefined_thing
        let b = a + 1
        stage s = t.source(n = b)
        sweep k in [1, 2] {
            let c = k + nope
            stage t = t.source(n = c)
        }
    }"#,
    );
    assert_eq!(out.matches("error:").count(), 2, "{out}");
    assert_mentions(
        &out,
        &[
            "undefined variable `undefined_thing`",
            "undefined variable `nope`",
        ],
    );
}

#[test]
fn sweep_local_lets_cannot_clash() {
    let out = errors(
        r#"pipeline p {
        let g = 1
        sweep k in [1, 2] {
            let k = 5
            let m = 1
            let m = 2
            let g = 3
            stage d = t.source(n = k + g)
        }
    }"#,
    );
    assert_mentions(
        &out,
        &[
            "`k` redefines a sweep variable",
            "`m` is defined twice in this sweep",
        ],
    );
    let out = errors("pipeline p { sweep v in [1, 1.0] { stage d = t.source(n = v) } }");
    assert!(
        out.contains("lists the value `1.0` twice") || out.contains("twice"),
        "{out}"
    );
}

#[test]
fn a_flat_chain_of_any_length_evaluates() {
    // Only real nesting counts toward the depth limit: `1 + 1 + …` is one level.
    let sum = vec!["1"; 100_000].join(" + ");
    let p = ok(&format!(
        "pipeline p {{\n let n = {sum} - 2 * 3 * 4\n stage src = t.source(n = n)\n}}"
    ));
    assert_eq!(p.vars["n"], Value::Int(100_000 - 24));
    let out = errors("pipeline p { let n = 1 + 2 - \"x\" + 4 }");
    assert_mentions(&out, &["cannot apply `-` to int and string", "1 + 2 - \"x\""]);
}

fn errors_with(text: &str, opts: &LowerOptions) -> String {
    let mut sm = SourceMap::new();
    let f = sm.add("t.sieve", None, text);
    let file = dsl::parser::parse_file(text, f).unwrap_or_else(|d| panic!("parse: {}", d.render(&sm)));
    match lower_with(&file, &[], opts) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.render(&sm),
    }
}

#[test]
fn sweeps_are_counted_before_they_are_expanded() {
    // A billion cells: refused from the range's length, nothing built.
    let out = errors("pipeline p { sweep x in 1..1_000_000_000 { stage s = t.source(n = x) } }");
    assert_mentions(
        &out,
        &["this sweep expands to 1000000000 cells, over the limit of 100000 stage instances"],
    );
    assert!(out.contains("--max-instances"), "{out}");
    // The product of three axes, and an inner sweep multiplying an outer one.
    let out =
        errors("pipeline p { sweep a in 1..1000, b in 1..1000, c in 1..1000 { stage s = t.source(n = a) } }");
    assert_mentions(&out, &["1000000000 cells", "`c` has 1000 values"]);
    let out =
        errors("pipeline p { sweep a in 1..1000 { sweep b in 1..1000 { stage s = t.source(n = a + b) } } }");
    assert!(
        out.contains("at least 101000 cells")
            && out.contains("each of the 1000 cells of the enclosing sweep"),
        "{out}"
    );
    // Under the limit per sweep, over it in total: reported at the stage that crosses it.
    let text =
        "pipeline p { sweep a in 1..60_000 { stage s = t.source(n = a)\n stage u = t.source(n = a) } }";
    let out = errors(text);
    assert!(
        out.contains("the pipeline expands to at least 120000 stage instances")
            && out.contains("`u` alone has 60000"),
        "{out}"
    );
    // A sweep whose cells would cross what is left of the limit is counted, not built,
    // and nothing is instantiated past the limit (a type error in a family that fit is
    // not even looked at).
    let small = LowerOptions { max_instances: 10 };
    let out = errors_with(
        "pipeline p { sweep a in 1..8 { stage s = t.source(n = \"x\") }\n sweep b in 1..5 { stage u = t.source(n = b) } }",
        &small,
    );
    assert!(
        out.contains("the pipeline expands to at least 13 stage instances")
            && out.contains("`u` alone has 5 instances"),
        "{out}"
    );
    assert_eq!(out.matches("error:").count(), 1, "{out}");
    // The limit is an option.
    let small = LowerOptions { max_instances: 3 };
    let out = errors_with(
        "pipeline p { sweep a in [1, 2, 3, 4] { stage s = t.source(n = a) } }",
        &small,
    );
    assert!(out.contains("over the limit of 3 stage instances"), "{out}");
}

/// `let` lines doubling the list `a0` `n` times: ` let a1 = a0 + a0` to ` let an = …`,
/// each ending in a newline.
fn doublings(n: usize) -> String {
    (1..=n)
        .map(|i| format!(" let a{i} = a{} + a{}\n", i - 1, i - 1))
        .collect()
}

#[test]
fn values_are_bounded_while_they_are_built() {
    // Forty doublings of a list stop at the first one over the limit, and only that one
    // is reported (what depends on it is not).
    let out = errors(&format!("pipeline p {{\n let a0 = [1]\n{}}}", doublings(40)));
    assert_mentions(
        &out,
        &["the joined list would have 1048576 elements, over the limit of 1000000"],
    );
    assert_eq!(out.matches("error:").count(), 1, "{out}");
    // Strings, literal and joined.
    let big = "x".repeat(crate::value::MAX_STR_BYTES + 1);
    let out = errors(&format!("pipeline p {{ let s = \"{big}\" }}"));
    assert!(out.contains("this string is 1048577 bytes long"), "{out}");
    let half = "x".repeat(crate::value::MAX_STR_BYTES / 2 + 1);
    let out = errors(&format!("pipeline p {{ let h = \"{half}\"\n let s = h + h }}"));
    assert_mentions(&out, &["the joined string would be 1048578 bytes long"]);
    // Lists nested in lists count their elements.
    let out = errors(&format!(
        "pipeline p {{\n let a0 = [1]\n{} let n = [a19, a19] }}",
        doublings(19)
    ));
    assert!(out.contains("this list has more than 1000000 elements"), "{out}");
    // A large list copied into every cell of a sweep runs into the total.
    let out = errors(&format!(
        "pipeline p {{\n let a0 = [\"{}\"]\n{} sweep k in 1..10_000 {{ stage s = t.words(texts = a19) }}\n}}",
        "x".repeat(40),
        doublings(19)
    ));
    assert_mentions(&out, &["the values of this pipeline take more than 128 MiB"]);
    assert_eq!(out.matches("error:").count(), 1, "{out}");
}

#[test]
fn axes_name_variables_the_inputs_have() {
    let base = r#"
        stage src = t.source(n = 1)
        stage m = t.model()
        sweep budget in [1, 2], band in ["easy", "hard"] { stage ev = t.eval(m, src) }"#;
    let p = ok(&format!(
        "pipeline p {{ {base}\n stage c = t.chart(ev, x = band, y = budget)\n stage i = t.chart(ev[band=hard], x = instance) }}"
    ));
    assert_eq!(p.stages["c"].params.get("x"), Some(&Value::Str("band".into())));
    let out = errors(&format!(
        "pipeline p {{ {base}\n stage c = t.chart(ev, x = bnad, y = \"seed\")\n stage one = t.chart(src_ev, x = band)\n stage src_ev = t.eval(m, src) }}"
    ));
    assert_mentions(
        &out,
        &[
            "`x = bnad`: `ev` has no variable `bnad`",
            "did you mean `band`?",
            "`ev` is swept over `budget`, `band`; `instance` names each input",
            "`y = seed`: `ev` has no variable `seed`",
            "`x = band`: `src_ev` has no variable `band`",
            "`src_ev` is not swept",
        ],
    );
}

#[test]
fn chat_needs_a_model_that_can_have_a_chat_template() {
    let text = |tokenizer: &str, chat: &str| {
        format!(
            r#"pipeline p {{
        stage data = synth.arith(n = 10)
        stage init = model.init(arch = "nano", tokenizer = {tokenizer})
        stage tuned = sft(init, data, steps = 1)
        stage acc = evaluate(tuned, data, chat = {chat})
        stage direct = evaluate(init, data, chat = {chat})
    }}"#
        )
    };
    let out = errors(&text("chars", "true"));
    assert!(
        out.contains("`chat = true`, but the model `tuned` has no chat template")
            && out.contains("`tuned` keeps the tokenizer of `init`, the built-in `chars` one"),
        "{out}"
    );
    assert!(
        out.contains("the model `init` has no chat template")
            && out.contains("`init` has the built-in `chars` tokenizer"),
        "{out}"
    );
    // Without chat, or with a tokenizer folder (which may hold a template), nothing to say.
    ok(&text("chars", "false"));
    ok(&text("\"tok/tokenizer.json\"", "true"));
}

#[test]
fn problems_with_set_values_point_at_the_set_argument() {
    let text = r#"pipeline p {
        let n = 5
        let seed = 1
        stage a = t.source(n = n)
        stage b = t.source(n = 2)
        stage m = t.model()
        stage tr = t.train(m, a, lr = 1e-3)
    }"#;
    let out = errors_setting(text, &[("n", "\"many\""), ("seed", "x"), ("tr.steps", "1.5")]);
    // One error per wrong value, at the argument, with the first place that uses it.
    assert_mentions(
        &out,
        &[
            "error: --set `n`: expected int, found string `\"many\"`",
            "┌─ --set:1:3",
            "n=\"many\"",
            "used as `n` of `t.source` here",
            "error: --set `seed`: expected int, found string `\"x\"`",
            "seed=x",
            "used as the default `seed` of this stage",
            "┌─ --set:1:10",
            "tr.steps=1.5",
        ],
    );
    assert_eq!(out.matches("error: --set `seed`").count(), 1, "{out}");
}

#[test]
fn float_arithmetic_that_overflows_is_an_error_at_the_expression() {
    let pipe = |lr: &str| {
        format!(
            "pipeline p {{\n  let big = -1e308\n  stage m = t.model()\n  stage src = t.source(n = 1)\n  stage tr = t.train(m, src, lr = {lr})\n}}"
        )
    };
    let e = errors(&pipe("1e300 * 1e300"));
    assert!(e.contains("float overflow in `*` (the result is inf)"), "{e}");
    assert!(e.contains("t.sieve:5:35"), "{e}");
    let e = errors(&pipe("big - 1e308"));
    assert!(e.contains("float overflow in `-` (the result is -inf)"), "{e}");
    assert_eq!(
        ok(&pipe("big + 1e308")).stages["tr"].params.get("lr"),
        Some(&Value::Float(0.0))
    );
}
