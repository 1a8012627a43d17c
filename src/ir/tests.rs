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
        let id = sm.add(format!("--set {k}={v}"), None, *v);
        let value = dsl::parser::parse_expr(v, id).expect("parse --set");
        overrides.push(Override {
            key: k.to_string(),
            value,
            span: crate::diag::Span::new(id, 0, v.len()),
        });
    }
    (lower(&file, &overrides), sm)
}

fn ok(text: &str) -> Pipeline {
    let (r, sm) = lower_src(text, &[]);
    r.unwrap_or_else(|d| panic!("lowering failed:\n{}", d.render(&sm)))
}

fn errors(text: &str) -> String {
    let (r, sm) = lower_src(text, &[]);
    match r {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.render(&sm),
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
    let (r, sm) = lower_src(text, &[("sede", "3"), ("tr.lrr", "1")]);
    let Err(d) = r else { panic!("expected errors") };
    let out = d.render(&sm);
    assert!(
        out.contains("unknown variable `sede`") && out.contains("did you mean `seed`?"),
        "{out}"
    );
    assert!(
        out.contains("has no parameter `lrr`") && out.contains("did you mean `lr`?"),
        "{out}"
    );
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
    for needle in [
        "unknown stage kind `t.sourc`",
        "did you mean `t.source`?",
        "unknown parameter `sed`",
        "expects a dataset, but `m` produces a model",
        "expected float, found string",
        "stage `tr` is defined twice",
        "undefined stage `nope`",
    ] {
        assert!(
            !out.contains("is missing its input"),
            "cascading error in:\n{out}"
        );
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
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
    assert!(out.contains("has no values"), "{out}");
    assert!(out.contains("needs a list"), "{out}");
    assert!(out.contains("twice"), "{out}");
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
    assert!(out.contains("family of 2 instances"), "{out}");
    assert!(out.contains("name[var=value]"), "{out}");
}

#[test]
fn undefined_variables_in_arithmetic_suggest() {
    let out = errors(
        r#"pipeline p {
        let seed = 1
        stage src = t.source(n = 1, seed = sed + 1)
    }"#,
    );
    assert!(
        out.contains("undefined variable `sed`") && out.contains("did you mean `seed`?"),
        "{out}"
    );
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
    let (r, sm) = lower_src(text, &[("profile", "huge")]);
    let Err(d) = r else { panic!("expected errors") };
    let out = d.render(&sm);
    assert!(
        out.contains("no option `huge`") && out.contains("quick, full"),
        "{out}"
    );
}

#[test]
fn a_stage_name_in_value_position_is_a_symbol_like_in_yaml() {
    let p = ok(r#"pipeline p {
        stage n = t.source(n = 1, note = n)
    }"#);
    assert_eq!(p.stages["n"].params.get("note"), Some(&Value::Str("n".into())));
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
    assert!(out.contains("`k` redefines a sweep variable"), "{out}");
    assert!(out.contains("`m` is defined twice in this sweep"), "{out}");
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
    assert!(out.contains("cannot apply `-` to int and string"), "{out}");
    assert!(out.contains("1 + 2 - \"x\""), "{out}");
}
