//! Evaluation of surface expressions to [`Value`]s in a scope of variables.
//!
//! Name resolution rule: a bare name is a variable when one is in scope. Otherwise it may
//! be a *symbol*, the string of its name (`metric = exact_match`), only where the value
//! received says so ([`Words`]): a parameter whose type is a closed set of words or names
//! something of the pipeline ([`ParamType::takes_words`]: enum words, call constructors
//! and their arguments, a tokenizer's built-in names, report axes and metrics), a sweep
//! selector (matched against the sweep's values), and the top level of a `--set` value.
//! Everywhere else — a `let`, a sweep's list, a string parameter, arithmetic — an unknown
//! name is an undefined variable with a "did you mean", so `slice_by = coll` next to
//! `let col = …` is caught instead of becoming the string "coll". A stage's name is never
//! a variable: where a symbol is allowed it is the word, as the same word in YAML is a
//! string; elsewhere the error says it is a stage.
//!
//! Invariants: evaluation never builds a value over the size limits of [`crate::value`]
//! (a list of more than [`MAX_LIST_LEN`] elements, a string of more than
//! [`MAX_STR_BYTES`] bytes): sizes are checked before a list or string is extended, so
//! memory stays bounded whatever the expression. A variable whose own definition failed is
//! in scope as failed: what uses it fails silently ([`EvalError::Poisoned`]) instead of
//! reporting a second, misleading error.

use crate::diag::Diagnostic;
use crate::dsl::ast::{BinOp, Expr, ExprKind};
use crate::stages::ParamType;
use crate::value::{CallValue, MAX_LIST_LEN, MAX_STR_BYTES, RangeValue, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Variables visible to an expression: the pipeline's variables, shared by every sweep
/// cell (copying a scope does not copy them), and the cell's own sweep variables and
/// sweep `let`s, which shadow them. `None` marks a variable whose definition failed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    outer: Rc<BTreeMap<String, Option<Value>>>,
    inner: BTreeMap<String, Option<Value>>,
}

/// What a name is in a scope.
enum Lookup<'s> {
    Value(&'s Value),
    /// Defined, but its definition failed (already reported).
    Failed,
    Unknown,
}

impl Scope {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.inner.get(name).or_else(|| self.outer.get(name)) {
            Some(Some(v)) => Lookup::Value(v),
            Some(None) => Lookup::Failed,
            None => Lookup::Unknown,
        }
    }

    /// The value of a variable (`None` when unknown or failed).
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        match self.lookup(name) {
            Lookup::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Whether a variable of this name is defined (even if its definition failed).
    pub(crate) fn contains_key(&self, name: &str) -> bool {
        !matches!(self.lookup(name), Lookup::Unknown)
    }

    pub(crate) fn insert(&mut self, name: String, value: Value) {
        self.inner.insert(name, Some(value));
    }

    /// Whether `name` is a variable shared by every cell (a pipeline variable), not one of
    /// this cell's own.
    pub(crate) fn is_shared(&self, name: &str) -> bool {
        !self.inner.contains_key(name) && self.outer.contains_key(name)
    }

    /// Defines `name` as failed: its definition was reported, and what uses it fails
    /// without a second report.
    pub(crate) fn insert_failed(&mut self, name: String) {
        self.inner.insert(name, None);
    }

    /// Every visible name (for "did you mean").
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.keys().chain(self.outer.keys()).map(String::as_str)
    }

    /// The same variables, with the cell's own made shared: copies of the result (one per
    /// sweep cell) share every variable defined so far.
    pub(crate) fn shared(self) -> Scope {
        if self.inner.is_empty() {
            return self;
        }
        let mut all = Rc::unwrap_or_clone(self.outer);
        all.extend(self.inner);
        Scope {
            outer: Rc::new(all),
            inner: BTreeMap::new(),
        }
    }

    /// Every visible variable with its value (failed ones left out).
    pub(crate) fn to_map(&self) -> BTreeMap<String, Value> {
        let mut all = BTreeMap::new();
        for (k, v) in self.outer.iter().chain(&self.inner) {
            match v {
                Some(v) => all.insert(k.clone(), v.clone()),
                None => all.remove(k),
            };
        }
        all
    }
}

/// Names that are stages (so a stage used as a value gets a precise error).
pub(crate) trait StageNames {
    fn is_stage(&self, name: &str) -> bool;
}

/// Where a bare name that is not a variable may be a symbol (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Words<'t> {
    /// Nowhere: a `let`, a sweep's list, `choose` options.
    No,
    /// Nowhere, and text makes no sense either: operands of arithmetic and ranges,
    /// `choose` keys.
    Operand,
    /// Anywhere in the value: sweep selectors, a constructor's arguments.
    Anywhere,
    /// As a parameter of this type allows: at its top level when the type takes words,
    /// in a list's items as the item type allows.
    Param(&'t ParamType),
    /// A `--set` value: a bare word at the top level (a command-line convenience,
    /// `--set profile=full`), below it as the parameter's type allows (if one).
    CommandLine(Option<&'t ParamType>),
}

impl<'t> Words<'t> {
    /// Whether a bare word is a symbol right here.
    fn here(self) -> bool {
        match self {
            Words::No | Words::Operand => false,
            Words::Anywhere | Words::CommandLine(_) => true,
            Words::Param(t) => t.takes_words(),
        }
    }

    /// The rule for the items of a list at this position.
    fn items(self) -> Words<'t> {
        match self {
            Words::No | Words::Operand => Words::No,
            Words::Anywhere => Words::Anywhere,
            Words::Param(ParamType::List(inner)) => Words::Param(inner),
            Words::Param(ParamType::Any) => Words::Param(&ParamType::Any),
            // A set of ints: its items are numbers, never text.
            Words::Param(ParamType::IntSet) => Words::Operand,
            Words::Param(_) => Words::No,
            Words::CommandLine(t) => t.map_or(Words::No, |t| Words::Param(t).items()),
        }
    }

    /// The rule for the arguments of a call at this position: a constructor's arguments
    /// belong to the parameter that takes the constructor (`cot_length(words)`).
    fn args(self) -> Words<'t> {
        match self {
            Words::Anywhere | Words::Param(ParamType::Call(_) | ParamType::Any) => Words::Anywhere,
            Words::CommandLine(Some(t)) => Words::Param(t).args(),
            _ => Words::No,
        }
    }

    /// Whether the word, quoted, would be a value accepted here (then the error says how
    /// to quote it).
    fn takes_text(self, word: &str) -> bool {
        match self {
            Words::Operand => false,
            Words::Param(t) | Words::CommandLine(Some(t)) => t.coerce(Value::Str(word.to_string())).is_ok(),
            _ => true,
        }
    }
}

/// Why an expression has no value.
#[derive(Debug)]
pub(crate) enum EvalError {
    /// A problem to report.
    Report(Box<Diagnostic>),
    /// It uses a variable whose definition failed, which is reported already.
    Poisoned,
}

impl From<Diagnostic> for EvalError {
    fn from(d: Diagnostic) -> Self {
        EvalError::Report(Box::new(d))
    }
}

type Eval<T> = Result<T, EvalError>;

/// Evaluates `e` where a value is expected directly; `words` says where a bare name that
/// is not a variable may stand for its word.
pub(crate) fn eval_value(e: &Expr, scope: &Scope, stages: &dyn StageNames, words: Words<'_>) -> Eval<Value> {
    match &e.kind {
        ExprKind::Int(i) => Ok(Value::Int(*i)),
        ExprKind::Float(f) => Ok(Value::Float(*f)),
        ExprKind::Str(s) if s.len() > MAX_STR_BYTES => Err(too_long(s.len(), e).into()),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Name(n) => match scope.lookup(n) {
            Lookup::Value(v) => Ok(v.clone()),
            Lookup::Failed => Err(EvalError::Poisoned),
            // A bare word is a symbol even when a stage has the same name
            // (`report(acc, kind = heatmap)` in a stage called `heatmap`): YAML cannot tell
            // the two apart, and both syntaxes must lower alike.
            Lookup::Unknown if words.here() => Ok(Value::Str(n.clone())),
            Lookup::Unknown => Err(undefined(n, e, scope, stages, words).into()),
        },
        ExprKind::Index { base, .. } => Err(Diagnostic::error(format!(
            "stage reference `{}[…]` used as a value",
            base.name
        ))
        .at(e.span, "a stage output, not a value")
        .with_note("stage outputs are inputs: pass them as positional arguments before the named parameters")
        .into()),
        ExprKind::List(items) => Ok(Value::List(eval_items(e, items, scope, stages, words.items())?)),
        ExprKind::Range(a, b) => {
            let (va, vb) = (
                eval_value(a, scope, stages, Words::Operand)?,
                eval_value(b, scope, stages, Words::Operand)?,
            );
            match (as_int(&va), as_int(&vb)) {
                (Some(start), Some(end)) => Ok(Value::Range(RangeValue { start, end })),
                _ => Err(Diagnostic::error(format!(
                    "range bounds must be integers, found {} and {}",
                    va.type_name(),
                    vb.type_name()
                ))
                .at(e.span, "here")
                .into()),
            }
        }
        ExprKind::Neg(inner) => match eval_value(inner, scope, stages, Words::Operand)? {
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| Diagnostic::error("integer overflow").at(e.span, "here").into()),
            Value::Float(f) => Ok(Value::Float(-f)),
            v => Err(Diagnostic::error(format!("cannot negate a {}", v.type_name()))
                .at(e.span, "here")
                .into()),
        },
        ExprKind::Chain { first, rest } => {
            let mut acc = eval_value(first, scope, stages, Words::Operand)?;
            for (op, operand) in rest {
                let v = eval_value(operand, scope, stages, Words::Operand)?;
                acc = binary(*op, acc, v).map_err(|msg| {
                    Diagnostic::error(msg).at(first.span.to(operand.span), "in this expression")
                })?;
            }
            Ok(acc)
        }
        ExprKind::Call { func, args } if func.name == "choose" => choose(e, args, scope, stages, words),
        ExprKind::Call { func, args } => Ok(Value::Call(CallValue {
            call: func.name.clone(),
            args: eval_items(e, args, scope, stages, words.args())?,
        })),
    }
}

/// "undefined variable `coll`", with the closest variable and what else the word may be.
fn undefined(n: &str, e: &Expr, scope: &Scope, stages: &dyn StageNames, words: Words<'_>) -> Diagnostic {
    let d = Diagnostic::error(format!("undefined variable `{n}`")).at(e.span, "not defined");
    if stages.is_stage(n) {
        return d.with_note(format!(
            "`{n}` is a stage; stage outputs are inputs, passed positionally"
        ));
    }
    let d = d.with_suggestion(n, scope.names());
    match words.takes_text(n) {
        true => d.with_note(format!("for the text `{n}`, write it in quotes: \"{n}\"")),
        false => d,
    }
}

/// The items of a list (or a call's arguments), stopping as soon as they hold more than
/// [`MAX_LIST_LEN`] elements (nested lists counted whole), before building more.
fn eval_items(
    e: &Expr,
    items: &[Expr],
    scope: &Scope,
    stages: &dyn StageNames,
    words: Words<'_>,
) -> Eval<Vec<Value>> {
    let mut size = 0usize;
    let mut out = Vec::with_capacity(items.len().min(MAX_LIST_LEN));
    for item in items {
        let v = eval_value(item, scope, stages, words)?;
        size += v.size();
        if size > MAX_LIST_LEN {
            return Err(Diagnostic::error(format!(
                "this list has more than {MAX_LIST_LEN} elements (elements of nested lists count too)"
            ))
            .at(e.span, "too large")
            .with_note(format!(
                "lists in a pipeline hold at most {MAX_LIST_LEN} elements; put large data in a file the stage reads"
            ))
            .into());
        }
        out.push(v);
    }
    Ok(out)
}

/// The error for a string over [`MAX_STR_BYTES`].
fn too_long(len: usize, e: &Expr) -> Diagnostic {
    Diagnostic::error(format!(
        "this string is {len} bytes long, over the limit of {MAX_STR_BYTES} bytes (1 MiB)"
    ))
    .at(e.span, "too long")
    .with_note("put large text in a file the stage reads")
}

/// `choose(key, k1, v1, k2, v2, …)`: the value paired with `key` — how one variable
/// (e.g. `profile`) switches several settings at once. Only the chosen value is evaluated;
/// it is received where the `choose` is, so it takes words as that place does.
fn choose(e: &Expr, args: &[Expr], scope: &Scope, stages: &dyn StageNames, words: Words<'_>) -> Eval<Value> {
    let usage = "write choose(key, \"a\", value_a, \"b\", value_b, …)";
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(
            Diagnostic::error("choose() needs a key followed by pairs of options and values")
                .at(e.span, "wrong number of arguments")
                .with_note(usage)
                .into(),
        );
    }
    let key = eval_value(&args[0], scope, stages, Words::Operand)?;
    let mut options = Vec::new();
    for pair in args[1..].chunks(2) {
        let option = eval_value(&pair[0], scope, stages, Words::No)?;
        if option.coord_string() == key.coord_string() {
            return eval_value(&pair[1], scope, stages, words);
        }
        options.push(option.coord_string());
    }
    Err(
        Diagnostic::error(format!("choose(): no option `{}`", key.coord_string()))
            .at(args[0].span, "not among the options")
            .with_note(format!("the options are: {}", options.join(", ")))
            .into(),
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
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
            };
            // Literals are finite, so only arithmetic can leave the floats; a cache key
            // could not tell inf from -inf or NaN (`cache::key`).
            if r.is_finite() {
                Ok(Float(r))
            } else {
                Err(format!("float overflow in `{sym}` (the result is {r})"))
            }
        }
        (BinOp::Add, Str(x), Str(y)) if x.len() + y.len() > MAX_STR_BYTES => Err(format!(
            "the joined string would be {} bytes long, over the limit of {MAX_STR_BYTES} bytes (1 MiB)",
            x.len() + y.len()
        )),
        (BinOp::Add, Str(x), Str(y)) => Ok(Str(x + &y)),
        (BinOp::Add, List(mut x), List(y)) => {
            let n: usize = x.iter().chain(&y).map(Value::size).sum();
            if n > MAX_LIST_LEN {
                return Err(format!(
                    "the joined list would have {n} elements, over the limit of {MAX_LIST_LEN} \
                     (elements of nested lists count too)"
                ));
            }
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
