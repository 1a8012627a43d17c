//! Evaluation of surface expressions to [`Value`]s in a scope of variables.
//!
//! Name resolution rule: a bare name is a variable when one is in scope; otherwise, where
//! a value is expected directly (a parameter, a list item, a call argument, a selector)
//! it is a *symbol* and evaluates to the string of its name (`metric = exact_match`) —
//! also when a stage has that name, exactly as the same word in YAML is a string.
//! Inside arithmetic or ranges an unknown name is an error, so typos in `seed + 1` are
//! caught with a "did you mean".

use crate::diag::Diagnostic;
use crate::dsl::ast::{BinOp, Expr, ExprKind};
use crate::value::{CallValue, RangeValue, Value};
use std::collections::BTreeMap;

/// Variables visible to an expression.
pub(crate) type Scope = BTreeMap<String, Value>;

/// Names that are stages (so a stage used as a value gets a precise error).
pub(crate) trait StageNames {
    fn is_stage(&self, name: &str) -> bool;
}

/// Evaluates `e` where a value is expected directly (symbols allowed).
// Diagnostics are large but only built on the cold error path; boxing buys nothing here.
#[allow(clippy::result_large_err)]
pub(crate) fn eval_value(e: &Expr, scope: &Scope, stages: &dyn StageNames) -> Result<Value, Diagnostic> {
    eval(e, scope, stages, true)
}

#[allow(clippy::result_large_err)]
fn eval(e: &Expr, scope: &Scope, stages: &dyn StageNames, allow_symbol: bool) -> Result<Value, Diagnostic> {
    match &e.kind {
        ExprKind::Int(i) => Ok(Value::Int(*i)),
        ExprKind::Float(f) => Ok(Value::Float(*f)),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Name(n) => {
            if let Some(v) = scope.get(n) {
                Ok(v.clone())
            } else if allow_symbol {
                // A bare word is a symbol even when a stage has the same name
                // (`report(acc, kind = heatmap)` in a stage called `heatmap`): YAML cannot
                // tell the two apart, and both syntaxes must lower alike.
                Ok(Value::Str(n.clone()))
            } else {
                let mut d = Diagnostic::error(format!("undefined variable `{n}`"))
                    .at(e.span, "not defined")
                    .with_suggestion(n, scope.keys().map(String::as_str));
                if stages.is_stage(n) {
                    d = d.with_note(format!(
                        "`{n}` is a stage; stage outputs are inputs, passed positionally"
                    ));
                }
                Err(d)
            }
        }
        ExprKind::Index { base, .. } => Err(Diagnostic::error(format!(
            "stage reference `{}[…]` used as a value",
            base.name
        ))
        .at(e.span, "a stage output, not a value")
        .with_note(
            "stage outputs are inputs: pass them as positional arguments before the named parameters",
        )),
        ExprKind::List(items) => {
            let vals = items
                .iter()
                .map(|i| eval(i, scope, stages, true))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::List(vals))
        }
        ExprKind::Range(a, b) => {
            let (va, vb) = (eval(a, scope, stages, false)?, eval(b, scope, stages, false)?);
            match (as_int(&va), as_int(&vb)) {
                (Some(start), Some(end)) => Ok(Value::Range(RangeValue { start, end })),
                _ => Err(Diagnostic::error(format!(
                    "range bounds must be integers, found {} and {}",
                    va.type_name(),
                    vb.type_name()
                ))
                .at(e.span, "here")),
            }
        }
        ExprKind::Neg(inner) => match eval(inner, scope, stages, false)? {
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| Diagnostic::error("integer overflow").at(e.span, "here")),
            Value::Float(f) => Ok(Value::Float(-f)),
            v => Err(Diagnostic::error(format!("cannot negate a {}", v.type_name())).at(e.span, "here")),
        },
        ExprKind::Chain { first, rest } => {
            let mut acc = eval(first, scope, stages, false)?;
            for (op, operand) in rest {
                let v = eval(operand, scope, stages, false)?;
                acc = binary(*op, acc, v).map_err(|msg| {
                    Diagnostic::error(msg).at(first.span.to(operand.span), "in this expression")
                })?;
            }
            Ok(acc)
        }
        ExprKind::Call { func, args } if func.name == "choose" => choose(e, args, scope, stages),
        ExprKind::Call { func, args } => {
            let args = args
                .iter()
                .map(|a| eval(a, scope, stages, true))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Call(CallValue {
                call: func.name.clone(),
                args,
            }))
        }
    }
}

/// `choose(key, k1, v1, k2, v2, …)`: the value paired with `key` — how one variable
/// (e.g. `profile`) switches several settings at once. Only the chosen value is evaluated.
#[allow(clippy::result_large_err)]
fn choose(e: &Expr, args: &[Expr], scope: &Scope, stages: &dyn StageNames) -> Result<Value, Diagnostic> {
    let usage = "write choose(key, \"a\", value_a, \"b\", value_b, …)";
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(
            Diagnostic::error("choose() needs a key followed by pairs of options and values")
                .at(e.span, "wrong number of arguments")
                .with_note(usage),
        );
    }
    let key = eval(&args[0], scope, stages, true)?;
    let mut options = Vec::new();
    for pair in args[1..].chunks(2) {
        let option = eval(&pair[0], scope, stages, true)?;
        if option.coord_string() == key.coord_string() {
            return eval(&pair[1], scope, stages, true);
        }
        options.push(option.coord_string());
    }
    Err(
        Diagnostic::error(format!("choose(): no option `{}`", key.coord_string()))
            .at(args[0].span, "not among the options")
            .with_note(format!("the options are: {}", options.join(", "))),
    )
}

/// Range bounds must be ints (`2.0..4` is rejected).
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn binary(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    use Value::*;
    let sym = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
    };
    let overflow = || format!("integer overflow in `{sym}`");
    match (op, a, b) {
        (BinOp::Div, x, y) if y.as_f64() == Some(0.0) && x.as_f64().is_some() => {
            Err("division by zero".into())
        }
        // `/` always yields a float (an integral float is accepted where an int is expected).
        (BinOp::Div, x, y) if x.as_f64().is_some() && y.as_f64().is_some() => {
            Ok(Float(x.as_f64().unwrap_or(0.0) / y.as_f64().unwrap_or(1.0)))
        }
        (op, Int(x), Int(y)) => match op {
            BinOp::Add => x.checked_add(y).map(Int).ok_or_else(overflow),
            BinOp::Sub => x.checked_sub(y).map(Int).ok_or_else(overflow),
            BinOp::Mul => x.checked_mul(y).map(Int).ok_or_else(overflow),
            BinOp::Div => unreachable!("handled above"),
        },
        (op, x @ (Int(_) | Float(_)), y @ (Int(_) | Float(_))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            Ok(Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
            }))
        }
        (BinOp::Add, Str(x), Str(y)) => Ok(Str(x + &y)),
        (BinOp::Add, List(mut x), List(y)) => {
            x.extend(y);
            Ok(List(x))
        }
        (_, x, y) => Err(format!(
            "cannot apply `{sym}` to {} and {}",
            x.type_name(),
            y.type_name()
        )),
    }
}
