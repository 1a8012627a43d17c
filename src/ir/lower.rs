//! Lowering: surface AST → checked IR. Every semantic check happens here, once:
//! name resolution, `--set` overrides, sweep expansion, parameter typing and defaults
//! against each kind's schema, input binding with artifact-kind checks, cycles.
//!
//! Errors accumulate (all problems of a file are reported together, de-duplicated across
//! the instances of a sweep), each pointing at the offending text with a hint.
//!
//! Invariant: lowering's memory is bounded before it is spent: a sweep's cells are counted
//! from its lists' lengths (ranges unexpanded) and refused over
//! [`LowerOptions::max_instances`] before any is built (a stage's own sweep also when its
//! cells would cross what is left of the limit), nothing is instantiated once the
//! pipeline is over the limit, and the values copied into
//! variables and instances are refused over [`MAX_VALUE_BYTES`] in total.

use super::eval::{EvalError, Scope, StageNames, Words, eval_value};
use super::{Input, Pipeline, Stage, instance_name};
use crate::diag::{Diagnostic, Diagnostics, Span, did_you_mean};
use crate::dsl::ast::{self, Expr, ExprKind, Item};
use crate::dsl::schema::input_slot;
use crate::stages::params::CoerceError;
use crate::stages::{Arity, InputSpec, ParamSpec, Params, StageKind, registry};
use crate::value::{RangeValue, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// Stage instances a pipeline may expand to unless told otherwise (`--max-instances`).
pub const DEFAULT_MAX_INSTANCES: usize = 100_000;

/// Most bytes the values of one lowering may take together (every `let` and sweep `let`
/// of every cell, every parameter value of every instance; estimated by
/// [`Value::heap_bytes`]). A list is copied into each instance that uses it, so this bound,
/// not the per-value limits, is what keeps a large list used across a sweep from
/// exhausting memory.
pub const MAX_VALUE_BYTES: usize = 128 << 20;

/// Options of [`lower_with`].
#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// Most stage instances the pipeline may expand to (sweeps multiply them).
    pub max_instances: usize,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            max_instances: DEFAULT_MAX_INSTANCES,
        }
    }
}

/// A `--set` override from the command line; `value` was parsed from its own source file.
#[derive(Debug, Clone)]
pub struct Override {
    /// `seed` (a variable) or `tuned.lr` (a parameter of every instance of stage `tuned`).
    pub key: String,
    pub value: Expr,
    /// Span of the whole `--set` argument (for "unknown variable" errors).
    pub span: Span,
}

/// Variables a pipeline may set with `--set` without declaring them: the pipeline
/// variables that kinds' parameters inherit as defaults (`seed`, `device`), as the
/// declarations say (`ParamSpec::inherits`).
fn conventional_vars() -> &'static [&'static str] {
    static VARS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    VARS.get_or_init(|| {
        let mut vars: Vec<&'static str> = registry()
            .iter()
            .flat_map(|k| k.params())
            .filter_map(|p| p.inherits)
            .collect();
        vars.sort_unstable();
        vars.dedup();
        vars
    })
}

/// One `stage` declaration with the sweeps enclosing it (outermost first).
struct Decl<'a> {
    stage: &'a ast::StageDecl,
    sweeps: Vec<&'a ast::Sweep>,
}

/// One cell of a sweep: its coordinates and the scope its body is evaluated in.
#[derive(Clone)]
struct Binding {
    coords: Vec<(String, Value)>,
    scope: Scope,
}

/// What expanding a sweep gave: its cells, or only their number when they would not fit
/// in the instance budget it was given.
enum Expansion {
    Cells(Vec<Binding>),
    OverBudget(u64),
}

/// The values of one sweep variable, before expansion: a range stays a range, so a sweep
/// is measured without building its cells.
enum SweepValues {
    List(Vec<Value>),
    Range(RangeValue),
}

impl SweepValues {
    fn count(&self) -> u64 {
        match self {
            SweepValues::List(v) => v.len() as u64,
            SweepValues::Range(r) => r.count(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Value> + '_> {
        match self {
            SweepValues::List(v) => Box::new(v.iter().cloned()),
            SweepValues::Range(r) => Box::new((r.start..=r.end).map(Value::Int)),
        }
    }
}

/// A diagnostic's identity for de-duplication: message and primary location.
type DiagKey = (String, Option<(usize, usize, usize)>);

struct Lowerer<'a> {
    diags: Vec<Diagnostic>,
    seen: HashSet<DiagKey>,
    decls: Vec<Decl<'a>>,
    by_name: HashMap<String, usize>,
    /// Bindings of each decl's instances, in declaration (product) order.
    bindings: Vec<Rc<Vec<Binding>>>,
    /// Sweeps whose local `let`s were checked already.
    checked_sweeps: HashSet<*const ast::Sweep>,
    /// [`LowerOptions::max_instances`].
    max_instances: usize,
    /// Stage instances of the declarations expanded so far.
    instances: usize,
    /// Bytes of values spent so far (see [`MAX_VALUE_BYTES`]); once over, nothing more is
    /// evaluated.
    value_bytes: usize,
    /// Families indexed by the values of some of their sweep variables, built on first use
    /// (binding each consumer instance is then a lookup, not a scan of the family).
    family_index: HashMap<(usize, Vec<String>), FamilyIndex>,
    /// Pipeline variables given by `--set`, with the span of the value given.
    var_overrides: HashMap<String, Span>,
}

/// The instances of a family (indices into its bindings, in order) grouped by the values
/// of some of its sweep variables.
type FamilyIndex = HashMap<Vec<CoordKey>, Vec<usize>>;

/// Groups a family's instances by the values of `names` (variables of the family).
fn index_family(family: &[Binding], names: &[String]) -> FamilyIndex {
    let mut index: FamilyIndex = HashMap::new();
    for (i, b) in family.iter().enumerate() {
        let key = names
            .iter()
            .filter_map(|n| b.coords.iter().find(|(k, _)| k == n))
            .map(|(_, v)| CoordKey::of(v))
            .collect();
        index.entry(key).or_default().push(i);
    }
    index
}

impl StageNames for HashMap<String, usize> {
    fn is_stage(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

/// Lowers a loaded pipeline file (imports already merged) with `--set` overrides and the
/// default [`LowerOptions`].
pub fn lower(file: &ast::File, overrides: &[Override]) -> Result<Pipeline, Diagnostics> {
    lower_with(file, overrides, &LowerOptions::default())
}

/// Lowers a loaded pipeline file (imports already merged) with `--set` overrides.
pub fn lower_with(
    file: &ast::File,
    overrides: &[Override],
    opts: &LowerOptions,
) -> Result<Pipeline, Diagnostics> {
    let mut l = Lowerer {
        diags: Vec::new(),
        seen: HashSet::new(),
        decls: Vec::new(),
        by_name: HashMap::new(),
        bindings: Vec::new(),
        checked_sweeps: HashSet::new(),
        max_instances: opts.max_instances,
        instances: 0,
        value_bytes: 0,
        family_index: HashMap::new(),
        var_overrides: HashMap::new(),
    };
    let name = match &file.name {
        Some(n) => n.name.clone(),
        None => {
            l.error(
                Diagnostic::error("missing pipeline name")
                    .at(Span::new(file.span.file, 0, 0), "here")
                    .with_note(
                        "start the file with `pipeline NAME { … }` (DSL) or a `pipeline: NAME` key (YAML)",
                    ),
            );
            String::from("unnamed")
        }
    };

    l.collect(&file.items, &mut Vec::new());
    let (var_overrides, param_overrides) = l.split_overrides(overrides);
    l.var_overrides = var_overrides
        .iter()
        .map(|(k, o)| (k.clone(), o.value.span))
        .collect();
    let globals = l.eval_globals(&file.items, &var_overrides);
    l.expand_sweeps(&globals);
    // Over the instance limit nothing more is built: instantiating the families that did
    // fit could take as much memory as the limit is there to prevent.
    if l.instances > l.max_instances {
        return Err(Diagnostics(l.diags));
    }
    let stages = l.instantiate(&param_overrides);
    let at = |st: &Stage, param: &str| l.param_span(st, param, &param_overrides);
    let problems = super::checks::check(&stages, &at);
    for d in problems {
        l.error(d);
    }
    if l.diags.is_empty() {
        l.check_cycles(&stages);
    }
    if l.diags.is_empty() {
        Ok(Pipeline {
            name,
            file: None,
            vars: globals.to_map(),
            stages,
        })
    } else {
        Err(Diagnostics(l.diags))
    }
}

impl<'a> Lowerer<'a> {
    fn error(&mut self, d: Diagnostic) {
        let key = (
            d.message.clone(),
            d.primary.as_ref().map(|(s, _)| (s.file, s.start, s.end)),
        );
        if self.seen.insert(key) {
            self.diags.push(d);
        }
    }

    /// Gathers stage declarations (with their sweep nesting) and checks name clashes.
    fn collect(&mut self, items: &'a [Item], sweeps: &mut Vec<&'a ast::Sweep>) {
        for item in items {
            match item {
                Item::Stage(s) => {
                    if let Some(&prev) = self.by_name.get(&s.name.name) {
                        let first = self.decls[prev].stage.name.span;
                        self.error(
                            Diagnostic::error(format!("stage `{}` is defined twice", s.name.name))
                                .at(s.name.span, "redefined here")
                                .with_secondary(first, "first defined here"),
                        );
                        continue;
                    }
                    self.by_name.insert(s.name.name.clone(), self.decls.len());
                    self.decls.push(Decl {
                        stage: s,
                        sweeps: sweeps.clone(),
                    });
                }
                Item::Sweep(sw) => {
                    sweeps.push(sw);
                    self.collect(&sw.body, sweeps);
                    sweeps.pop();
                }
                Item::Let(_) | Item::Import(_) => {}
            }
        }
    }

    fn split_overrides<'o>(
        &mut self,
        overrides: &'o [Override],
    ) -> (HashMap<String, &'o Override>, Vec<&'o Override>) {
        let mut vars = HashMap::new();
        let mut params = Vec::new();
        for o in overrides {
            if o.key.contains('.') {
                params.push(o);
            } else {
                vars.insert(o.key.clone(), o);
            }
        }
        (vars, params)
    }

    /// Evaluates top-level `let`s in order, applying variable overrides.
    fn eval_globals(&mut self, items: &[Item], overrides: &HashMap<String, &Override>) -> Scope {
        let mut scope = Scope::new();
        let mut defined: HashMap<String, Span> = HashMap::new();
        for item in items {
            let Item::Let(l) = item else { continue };
            if let Some(prev) = defined.get(&l.name.name) {
                self.error(
                    Diagnostic::error(format!("variable `{}` is defined twice", l.name.name))
                        .at(l.name.span, "redefined here")
                        .with_secondary(*prev, "first defined here"),
                );
                continue;
            }
            defined.insert(l.name.name.clone(), l.name.span);
            if self.by_name.contains_key(&l.name.name) {
                self.error(
                    Diagnostic::error(format!("`{}` names both a variable and a stage", l.name.name))
                        .at(l.name.span, "variable declared here")
                        .with_note("rename one of them"),
                );
            }
            let (expr, words) = match overrides.get(&l.name.name) {
                Some(o) => (&o.value, Words::CommandLine(None)),
                None => (&l.value, Words::No),
            };
            match self.evaluate(expr, &scope, words) {
                Some(v) => scope.insert(l.name.name.clone(), v),
                None => scope.insert_failed(l.name.name.clone()),
            }
        }
        for (name, o) in overrides {
            if defined.contains_key(name) {
                continue;
            }
            if conventional_vars().contains(&name.as_str()) {
                match self.evaluate(&o.value, &scope, Words::CommandLine(None)) {
                    Some(v) => scope.insert(name.clone(), v),
                    None => scope.insert_failed(name.clone()),
                }
            } else {
                let known: Vec<&str> = defined
                    .keys()
                    .map(String::as_str)
                    .chain(conventional_vars().iter().copied())
                    .collect();
                self.error(
                    Diagnostic::error(format!("--set: unknown variable `{name}`"))
                        .at(o.span, "not a variable of this pipeline")
                        .with_suggestion(name, known)
                        .with_note("use `--set STAGE.PARAM=VALUE` to override a stage parameter"),
                );
            }
        }
        // Shared from here on: every sweep cell's scope refers to these, uncopied.
        scope.shared()
    }

    /// Evaluates a value and accounts for its bytes; `None` (reported) on an error or once
    /// the values of the pipeline are over [`MAX_VALUE_BYTES`].
    fn evaluate(&mut self, expr: &Expr, scope: &Scope, words: Words<'_>) -> Option<Value> {
        if self.value_bytes > MAX_VALUE_BYTES {
            return None;
        }
        match eval_value(expr, scope, &self.by_name, words) {
            Ok(v) => self.spend(&v, expr.span).then_some(v),
            Err(EvalError::Report(d)) => {
                self.error(*d);
                None
            }
            Err(EvalError::Poisoned) => None,
        }
    }

    /// Counts a value's bytes toward [`MAX_VALUE_BYTES`]; false (reported once) when that
    /// puts the pipeline over.
    fn spend(&mut self, v: &Value, at: Span) -> bool {
        self.value_bytes = self.value_bytes.saturating_add(v.heap_bytes());
        if self.value_bytes <= MAX_VALUE_BYTES {
            return true;
        }
        if !self
            .diags
            .iter()
            .any(|d| d.message.starts_with("the values of this pipeline"))
        {
            self.error(
                Diagnostic::error(format!(
                    "the values of this pipeline take more than {} MiB",
                    MAX_VALUE_BYTES >> 20
                ))
                .at(at, "the limit is reached here")
                .with_note(
                    "each stage instance holds its own copy of its parameter values: a large list \
                     or string used across a sweep is copied into every cell; put large data in a \
                     file the stage reads",
                ),
            );
        }
        false
    }

    /// Computes the bindings of every declaration (one per instance).
    fn expand_sweeps(&mut self, globals: &Scope) {
        // Bindings per sweep, keyed by the sweep's address: each sweep is expanded once,
        // and its cells are shared (not copied) by every declaration inside it.
        let mut memo: HashMap<*const ast::Sweep, Rc<Vec<Binding>>> = HashMap::new();
        let root = Rc::new(vec![Binding {
            coords: Vec::new(),
            scope: globals.clone(),
        }]);
        for i in 0..self.decls.len() {
            let sweeps = self.decls[i].sweeps.clone();
            let mut current = root.clone();
            // The cells of the declaration's own (innermost) sweep are its instances: that
            // sweep is not built when they would not fit in what is left of the limit.
            let mut counted = None;
            for (depth, sw) in sweeps.iter().enumerate() {
                let key = *sw as *const ast::Sweep;
                current = match memo.get(&key) {
                    Some(b) => b.clone(),
                    None => {
                        let budget = if depth + 1 == sweeps.len() {
                            self.max_instances.saturating_sub(self.instances) as u64
                        } else {
                            u64::MAX
                        };
                        let b = match self.expand_one(sw, &current, budget) {
                            Expansion::Cells(cells) => Rc::new(cells),
                            Expansion::OverBudget(n) => {
                                counted = Some(n);
                                Rc::default()
                            }
                        };
                        memo.insert(key, b.clone());
                        b
                    }
                };
            }
            let instances = counted.map_or(current.len(), |n| usize::try_from(n).unwrap_or(usize::MAX));
            let total = self.instances.saturating_add(instances);
            if total > self.max_instances {
                if self.instances <= self.max_instances {
                    let stage = self.decls[i].stage;
                    self.error(
                        Diagnostic::error(format!(
                            "the pipeline expands to at least {total} stage instances, over the limit of {}",
                            self.max_instances
                        ))
                        .at(
                            stage.name.span,
                            format!("`{}` alone has {instances} instances", stage.name.name),
                        )
                        .with_note(raise_the_limit()),
                    );
                }
                // Counted as over: later declarations add nothing and report nothing more.
                self.instances = total;
                current = Rc::default();
            } else {
                self.instances = total;
            }
            self.bindings.push(current);
        }
    }

    /// Reports the sweep variable `var` as one that cannot be swept (`problem` says why,
    /// `label` marks the variable) and expands its sweep to nothing.
    fn refuse_sweep_variable(&mut self, var: &ast::SweepVar, problem: &str, label: &str) -> Expansion {
        self.error(
            Diagnostic::error(format!("sweep variable `{}` {problem}", var.name.name))
                .at(var.name.span, label),
        );
        Expansion::Cells(Vec::new())
    }

    /// Expands one sweep inside each binding of its parent, unless it has more than
    /// `budget` cells (then only counted).
    fn expand_one(&mut self, sw: &ast::Sweep, parents: &[Binding], budget: u64) -> Expansion {
        let mut names = HashSet::new();
        for v in &sw.vars {
            if !names.insert(v.name.name.as_str()) {
                return self.refuse_sweep_variable(v, "appears twice in one sweep", "repeated here");
            }
            if self.by_name.contains_key(&v.name.name) {
                return self.refuse_sweep_variable(v, "has the name of a stage", "rename this variable");
            }
        }
        // First every cell is counted, from the lists' lengths, and the sweep refused when
        // it is over the limit: nothing is built before that.
        let mut axes: Vec<Vec<SweepValues>> = Vec::with_capacity(parents.len());
        let mut cells_total: u64 = 0;
        for (i, parent) in parents.iter().enumerate() {
            if let Some(v) = sw
                .vars
                .iter()
                .find(|v| parent.coords.iter().any(|(k, _)| *k == v.name.name))
            {
                return self.refuse_sweep_variable(
                    v,
                    "is already swept by an enclosing sweep",
                    "shadows the outer sweep variable",
                );
            }
            let mut values = Vec::with_capacity(sw.vars.len());
            for var in &sw.vars {
                let Some(v) = self.sweep_values(var, &parent.scope) else {
                    return Expansion::Cells(Vec::new());
                };
                values.push(v);
            }
            let cells = values.iter().fold(1u64, |n, v| n.saturating_mul(v.count()));
            cells_total = cells_total.saturating_add(cells);
            if cells_total > self.max_instances as u64 {
                let exact = i + 1 == parents.len() && cells_total < u64::MAX;
                let counts: Vec<String> = sw
                    .vars
                    .iter()
                    .zip(&values)
                    .map(|(var, v)| format!("`{}` has {} values", var.name.name, v.count()))
                    .collect();
                let mut d = Diagnostic::error(format!(
                    "this sweep expands to {}{cells_total} cells, over the limit of {} stage instances",
                    if exact { "" } else { "at least " },
                    self.max_instances
                ))
                .at(sweep_header(sw), "too many cells")
                .with_note(counts.join(", "));
                if parents.len() > 1 {
                    d = d.with_note(format!(
                        "it is expanded in each of the {} cells of the enclosing sweep",
                        parents.len()
                    ));
                }
                self.error(d.with_note(raise_the_limit()));
                return Expansion::Cells(Vec::new());
            }
            axes.push(values);
        }
        if cells_total > budget {
            return Expansion::OverBudget(cells_total);
        }
        if !parents.is_empty() && !self.check_sweep_lets(sw, &parents[0]) {
            return Expansion::Cells(Vec::new());
        }
        let mut out = Vec::with_capacity(cells_total as usize);
        for (parent, values) in parents.iter().zip(&axes) {
            let first = out.len();
            out.push(parent.clone());
            for (var, vals) in sw.vars.iter().zip(values) {
                let cells = out.split_off(first);
                for cell in &cells {
                    for val in vals.iter() {
                        let mut c = cell.clone();
                        c.coords.push((var.name.name.clone(), val.clone()));
                        c.scope.insert(var.name.name.clone(), val);
                        out.push(c);
                    }
                }
            }
            // Sweep-local lets, evaluated per cell in order.
            for cell in &mut out[first..] {
                for item in &sw.body {
                    if let Item::Let(l) = item {
                        match self.evaluate(&l.value, &cell.scope, Words::No) {
                            Some(v) => cell.scope.insert(l.name.name.clone(), v),
                            None => cell.scope.insert_failed(l.name.name.clone()),
                        }
                    }
                }
            }
        }
        Expansion::Cells(out)
    }

    /// Sweep-local `let`s may not redefine a sweep variable, a stage, or each other; they
    /// may shadow a pipeline variable inside the sweep (e.g. a per-cell `device`).
    /// Checked once per sweep; reports and returns false on a clash.
    fn check_sweep_lets(&mut self, sw: &ast::Sweep, parent: &Binding) -> bool {
        if !self.checked_sweeps.insert(sw as *const ast::Sweep) {
            return true;
        }
        let mut ok = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for item in &sw.body {
            let Item::Let(l) = item else { continue };
            let name = l.name.name.as_str();
            let problem = if let Some(prev) = seen.get(name) {
                Some((
                    "is defined twice in this sweep".to_string(),
                    Some((*prev, "first defined here")),
                ))
            } else if sw.vars.iter().any(|v| v.name.name == name)
                || parent.coords.iter().any(|(k, _)| k == name)
            {
                Some(("redefines a sweep variable".to_string(), None))
            } else if self.by_name.contains_key(name) {
                Some(("names both a variable and a stage".to_string(), None))
            } else {
                None
            };
            seen.insert(name, l.name.span);
            if let Some((msg, secondary)) = problem {
                let mut d =
                    Diagnostic::error(format!("`{name}` {msg}")).at(l.name.span, "rename this variable");
                if let Some((span, label)) = secondary {
                    d = d.with_secondary(span, label);
                }
                self.error(d);
                ok = false;
            }
        }
        ok
    }

    /// The values a sweep variable takes: a non-empty list of distinct scalars, or a
    /// non-empty range (kept unexpanded).
    fn sweep_values(&mut self, var: &ast::SweepVar, scope: &Scope) -> Option<SweepValues> {
        let v = self.evaluate(&var.values, scope, Words::No)?;
        let values = match v {
            Value::List(items) => items,
            Value::Range(r) if r.count() > 0 => return Some(SweepValues::Range(r)),
            Value::Range(_) => Vec::new(),
            other => {
                self.error(
                    Diagnostic::error(format!(
                        "a sweep needs a list of values, found {} `{other}`",
                        other.type_name()
                    ))
                    .at(var.values.span, "not a list")
                    .with_note(format!(
                        "write e.g. `sweep {} in [1, 2, 3]` or a range `1..3`",
                        var.name.name
                    )),
                );
                return None;
            }
        };
        if values.is_empty() {
            self.error(
                Diagnostic::error(format!("sweep variable `{}` has no values", var.name.name))
                    .at(var.values.span, "empty"),
            );
            return None;
        }
        let mut seen: HashSet<CoordKey> = HashSet::with_capacity(values.len());
        for v in &values {
            if matches!(v, Value::List(_) | Value::Range(_) | Value::Call(_)) {
                self.error(
                    Diagnostic::error(format!(
                        "sweep values must be numbers, strings or bools, found {} `{v}`",
                        v.type_name()
                    ))
                    .at(var.values.span, "here"),
                );
                return None;
            }
            if !seen.insert(CoordKey::of(v)) {
                self.error(
                    Diagnostic::error(format!(
                        "sweep variable `{}` lists the value `{}` twice",
                        var.name.name,
                        v.coord_string()
                    ))
                    .at(var.values.span, "duplicate value"),
                );
                return None;
            }
        }
        Some(SweepValues::List(values))
    }

    /// Builds every instance: parameters, inputs, defaults, validation.
    fn instantiate(&mut self, param_overrides: &[&Override]) -> BTreeMap<String, Stage> {
        let overrides = self.check_param_overrides(param_overrides);
        let mut stages = BTreeMap::new();
        for di in 0..self.decls.len() {
            let decl = self.decls[di].stage;
            let Some(kind) = registry().get(&decl.kind.name) else {
                let hint = did_you_mean(&decl.kind.name, registry().names());
                let mut d = Diagnostic::error(format!("unknown stage kind `{}`", decl.kind.name))
                    .at(decl.kind.span, "not a stage kind");
                d = match hint {
                    Some(h) => d.with_note(format!("did you mean `{h}`?")),
                    None => d.with_note("run `sieve stages` for the list of stage kinds"),
                };
                self.error(d);
                continue;
            };
            for bi in 0..self.bindings[di].len() {
                let binding = self.bindings[di][bi].clone();
                let instance = instance_name(&decl.name.name, &binding.coords);
                let decl_overrides = overrides.get(decl.name.name.as_str());
                let params = self.params(decl, kind, &binding, decl_overrides);
                let inputs = self.inputs(decl, kind, &binding);
                if let (Some((params, param_spans)), Some(inputs)) = (params, inputs) {
                    let bound: Vec<&str> = inputs.iter().map(|i| i.slot.as_str()).collect();
                    let problems = kind.validate_inputs(&params, &bound);
                    for (param, msg) in &problems {
                        let label = format!("invalid `{param}`");
                        let d = Diagnostic::error(format!("`{}`: {msg}", decl.name.name));
                        let d = self.at_value_of(d, param, decl, decl_overrides, &binding, label);
                        self.error(d);
                    }
                    if !problems.is_empty() {
                        continue;
                    }
                    stages.insert(
                        instance.clone(),
                        Stage {
                            instance,
                            name: decl.name.name.clone(),
                            coords: binding.coords.clone(),
                            kind: kind.name().to_string(),
                            params,
                            inputs,
                            output: kind.output(),
                            span: decl.span,
                            param_spans,
                        },
                    );
                }
            }
        }
        stages
    }

    /// Checks `--set STAGE.PARAM=…` targets once; returns them grouped by stage.
    fn check_param_overrides<'o>(
        &mut self,
        overrides: &[&'o Override],
    ) -> HashMap<&'o str, Vec<(&'o str, &'o Override)>> {
        let mut out: HashMap<&str, Vec<(&str, &Override)>> = HashMap::new();
        for o in overrides {
            let (stage, param) = o.key.split_once('.').unwrap_or((o.key.as_str(), ""));
            let Some(&di) = self.by_name.get(stage) else {
                let names: Vec<String> = self.by_name.keys().cloned().collect();
                self.error(
                    Diagnostic::error(format!("--set: unknown stage `{stage}`"))
                        .at(o.span, "no stage of this name")
                        .with_suggestion(stage, names.iter().map(String::as_str)),
                );
                continue;
            };
            let kind_name = &self.decls[di].stage.kind.name;
            if let Some(kind) = registry().get(kind_name)
                && !kind.params().iter().any(|p| p.name == param)
            {
                let params = kind.params();
                self.error(
                    Diagnostic::error(format!(
                        "--set: stage `{stage}` ({kind_name}) has no parameter `{param}`"
                    ))
                    .at(o.span, "unknown parameter")
                    .with_suggestion(param, params.iter().map(|p| p.name)),
                );
                continue;
            }
            out.entry(stage).or_default().push((param, o));
        }
        out
    }

    fn params(
        &mut self,
        decl: &ast::StageDecl,
        kind: &dyn StageKind,
        binding: &Binding,
        overrides: Option<&Vec<(&str, &Override)>>,
    ) -> Option<(Params, BTreeMap<String, Span>)> {
        let specs = kind.params();
        let mut ok = true;
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        let mut given: HashMap<&str, Span> = HashMap::new();
        let mut spans: BTreeMap<String, Span> = BTreeMap::new();
        for arg in &decl.params {
            let Some(spec) = specs.iter().find(|s| s.name == arg.name.name) else {
                let mut d = Diagnostic::error(format!(
                    "unknown parameter `{}` for `{}`",
                    arg.name.name,
                    kind.name()
                ))
                .at(arg.name.span, "unknown parameter");
                d = match did_you_mean(&arg.name.name, specs.iter().map(|s| s.name)) {
                    Some(h) => d.with_note(format!("did you mean `{h}`?")),
                    None => d.with_note(format!(
                        "`{}` takes: {}",
                        kind.name(),
                        specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                    )),
                };
                self.error(d);
                ok = false;
                continue;
            };
            if let Some(prev) = given.insert(spec.name, arg.name.span) {
                self.error(
                    Diagnostic::error(format!("parameter `{}` given twice", spec.name))
                        .at(arg.name.span, "repeated here")
                        .with_secondary(prev, "first given here"),
                );
                ok = false;
                continue;
            }
            let (expr, words) = match overrides.and_then(|os| os.iter().find(|(p, _)| *p == spec.name)) {
                Some((_, o)) => (&o.value, Words::CommandLine(Some(&spec.ty))),
                None => (&arg.value, Words::Param(&spec.ty)),
            };
            spans.insert(spec.name.to_string(), expr.span);
            ok &= self.typed(spec, expr, words, binding, kind, &mut values);
        }
        // Overrides of parameters the declaration left out.
        for (p, o) in overrides.into_iter().flatten() {
            if !given.contains_key(p)
                && let Some(spec) = specs.iter().find(|s| s.name == *p)
            {
                given.insert(spec.name, o.span);
                spans.insert(spec.name.to_string(), o.value.span);
                let words = Words::CommandLine(Some(&spec.ty));
                ok &= self.typed(spec, &o.value, words, binding, kind, &mut values);
            }
        }
        for spec in &specs {
            if values.contains_key(spec.name) || given.contains_key(spec.name) {
                continue;
            }
            let conventional = spec.inherits.and_then(|var| binding.scope.get(var));
            match (conventional, &spec.default) {
                (Some(v), _) => match spec.ty.coerce(v.clone()) {
                    Ok(v) => {
                        values.insert(spec.name.to_string(), v);
                    }
                    Err(msg) => {
                        let used = format!("used as the default `{}` of this stage", spec.name);
                        let d = match self.set_by_command_line(spec.name, &binding.scope) {
                            Some(set) => set_error(spec.name, &msg, set, decl.name.span, used),
                            None => Diagnostic::error(format!("pipeline variable `{}`: {msg}", spec.name))
                                .at(decl.name.span, used),
                        };
                        self.error(d);
                        ok = false;
                    }
                },
                (None, Some(d)) => {
                    values.insert(spec.name.to_string(), d.clone());
                }
                // An optional parameter left out is absent (and not part of the key).
                (None, None) if spec.optional => {}
                (None, None) => {
                    self.error(
                        Diagnostic::error(format!(
                            "missing required parameter `{}` for `{}`",
                            spec.name,
                            kind.name()
                        ))
                        .at(decl.kind.span, format!("`{}` is required", spec.name))
                        .with_note(format!(
                            "`{}`: {} — {}",
                            spec.name,
                            spec.ty.describe(),
                            spec.doc
                        )),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let params = Params(values);
        let problems = kind.validate(&params);
        for (param, msg) in problems {
            let label = param
                .map(|p| format!("invalid `{p}`"))
                .unwrap_or_else(|| "invalid parameters".into());
            let d = Diagnostic::error(format!("`{}`: {msg}", decl.name.name));
            let d = match param {
                Some(p) => self.at_value_of(d, p, decl, overrides, binding, label),
                None => d.at(decl.kind.span, label),
            };
            self.error(d);
            ok = false;
        }
        ok.then_some((params, spans))
    }

    /// Evaluates and type-checks one parameter value.
    fn typed(
        &mut self,
        spec: &ParamSpec,
        expr: &Expr,
        words: Words<'_>,
        binding: &Binding,
        kind: &dyn StageKind,
        values: &mut BTreeMap<String, Value>,
    ) -> bool {
        let Some(v) = self.evaluate(expr, &binding.scope, words) else {
            return false;
        };
        match spec.ty.coerce(v) {
            Ok(v) => {
                values.insert(spec.name.to_string(), v);
                true
            }
            Err(msg) => {
                // A variable given by `--set` and used as is: the value to fix is the argument.
                let set = match &expr.kind {
                    ExprKind::Name(n) => self.set_by_command_line(n, &binding.scope).map(|s| (n, s)),
                    _ => None,
                };
                let d = match set {
                    Some((n, set)) => {
                        let used = format!("used as `{}` of `{}` here", spec.name, kind.name());
                        set_error(n, &msg, set, expr.span, used)
                    }
                    None => {
                        Diagnostic::error(format!("parameter `{}` of `{}`: {msg}", spec.name, kind.name()))
                            .at(expr.span, value_label(&msg, spec.name))
                    }
                };
                self.error(d.with_note(format!("`{}`: {}", spec.name, spec.doc)));
                false
            }
        }
    }

    /// Binds positional arguments to the kind's input slots.
    fn inputs(
        &mut self,
        decl: &ast::StageDecl,
        kind: &dyn StageKind,
        binding: &Binding,
    ) -> Option<Vec<Input>> {
        let specs = kind.inputs();
        let mut ok = true;
        let mut bound: Vec<(InputSpec, Vec<String>, Span)> = Vec::new();
        for (i, arg) in decl.inputs.iter().enumerate() {
            let spec = match specs.get(i) {
                Some(s) => s.clone(),
                None => match specs.last() {
                    Some(last) if last.arity == Arity::Many && !specs.is_empty() => last.clone(),
                    _ => {
                        self.error(
                            Diagnostic::error(format!(
                                "`{}` takes {} input{}, found {}",
                                kind.name(),
                                specs.len(),
                                if specs.len() == 1 { "" } else { "s" },
                                decl.inputs.len()
                            ))
                            .at(arg.span, "extra input")
                            .with_note(input_signature(kind)),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            let Some(sources) = self.resolve_ref(arg, binding, &spec, kind) else {
                ok = false;
                continue;
            };
            match bound.iter_mut().find(|(s, _, _)| s.name == spec.name) {
                Some((_, srcs, _)) => srcs.extend(sources),
                None => bound.push((spec, sources, arg.span)),
            }
        }
        for (i, spec) in specs.iter().enumerate() {
            // A slot whose argument was given but failed to resolve was reported already.
            let given = decl.inputs.len() > i;
            if spec.arity != Arity::Optional && !given && !bound.iter().any(|(s, _, _)| s.name == spec.name) {
                self.error(
                    Diagnostic::error(format!(
                        "`{}` is missing its input `{}` ({})",
                        kind.name(),
                        spec.name,
                        spec.kind
                    ))
                    .at(
                        decl.kind.span,
                        format!("needs {} as input", spec.kind.with_article()),
                    )
                    .with_note(input_signature(kind)),
                );
                ok = false;
            }
        }
        for (spec, sources, span) in &bound {
            if matches!(spec.arity, Arity::One | Arity::Optional) && sources.len() != 1 {
                self.error(
                    Diagnostic::error(format!(
                        "input `{}` of `{}` takes one {}, but this reference is a family of {} instances",
                        spec.name,
                        kind.name(),
                        spec.kind.as_str(),
                        sources.len()
                    ))
                    .at(*span, "several instances")
                    .with_note(
                        "pick one instance, e.g. `name[var=value]`, or move this stage into the sweep",
                    ),
                );
                ok = false;
            }
        }
        ok.then(|| {
            bound
                .into_iter()
                .map(|(s, sources, _)| Input {
                    slot: s.name.to_string(),
                    sources,
                })
                .collect()
        })
    }

    /// Resolves a reference (`name` or `name[var=value,…]`) to producer instances,
    /// aligning on sweep variables shared with the consumer.
    fn resolve_ref(
        &mut self,
        arg: &Expr,
        binding: &Binding,
        spec: &InputSpec,
        kind: &dyn StageKind,
    ) -> Option<Vec<String>> {
        let (base, selectors): (&ast::Ident, &[(ast::Ident, Expr)]) = match &arg.kind {
            ExprKind::Name(n) => {
                // A bare name: reuse the Index path with no selectors.
                let ident = ast::Ident {
                    name: n.clone(),
                    span: arg.span,
                };
                return self.resolve_named(&ident, &[], arg.span, binding, spec, kind);
            }
            ExprKind::Index { base, selectors } => (base, selectors),
            _ => {
                self.error(
                    Diagnostic::error(format!("input of `{}` must be a stage reference", kind.name()))
                        .at(arg.span, "not a stage name")
                        .with_note(
                            "positional arguments are stage outputs; parameters are written `name = value`",
                        ),
                );
                return None;
            }
        };
        self.resolve_named(base, selectors, arg.span, binding, spec, kind)
    }

    fn resolve_named(
        &mut self,
        base: &ast::Ident,
        selectors: &[(ast::Ident, Expr)],
        span: Span,
        binding: &Binding,
        spec: &InputSpec,
        kind: &dyn StageKind,
    ) -> Option<Vec<String>> {
        let Some(&pi) = self.by_name.get(&base.name) else {
            let mut d = Diagnostic::error(format!("undefined stage `{}`", base.name))
                .at(base.span, "no stage of this name");
            if binding.scope.contains_key(&base.name) {
                d = d.with_note(format!("`{}` is a variable; inputs must be stages", base.name));
            } else {
                let names: Vec<String> = self.by_name.keys().cloned().collect();
                d = d.with_suggestion(&base.name, names.iter().map(String::as_str));
            }
            self.error(d);
            return None;
        };
        let producer = self.decls[pi].stage;
        if let Some(pk) = registry().get(&producer.kind.name)
            && pk.output() != spec.kind
        {
            self.error(
                Diagnostic::error(format!(
                    "input `{}` of `{}` expects {}, but `{}` produces {}",
                    spec.name,
                    kind.name(),
                    spec.kind.with_article(),
                    base.name,
                    pk.output().with_article()
                ))
                .at(span, pk.output().with_article())
                .with_secondary(
                    producer.name.span,
                    format!("`{}` is a stage of kind `{}`", base.name, producer.kind.name),
                )
                .with_note(input_signature(kind)),
            );
            return None;
        }
        if self.bindings[pi].is_empty() {
            // The producer's sweep failed to expand; that error is already reported.
            return None;
        }
        let vars: Vec<String> = self.bindings[pi][0]
            .coords
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        let mut wanted: Vec<(String, Value)> = Vec::new();
        for (sel, e) in selectors {
            if !vars.contains(&sel.name) {
                let msg = if vars.is_empty() {
                    format!("`{}` is not swept; it has no variable `{}`", base.name, sel.name)
                } else {
                    format!(
                        "`{}` is swept over {}, not `{}`",
                        base.name,
                        vars.join(", "),
                        sel.name
                    )
                };
                self.error(
                    Diagnostic::error(msg)
                        .at(sel.span, "unknown sweep variable")
                        .with_suggestion(&sel.name, vars.iter().map(String::as_str)),
                );
                return None;
            }
            // Selector values are matched against the sweep's own values: words are fine.
            let v = self.evaluate(e, &binding.scope, Words::Anywhere)?;
            wanted.push((sel.name.clone(), v));
        }
        // Implicit alignment: a variable the consumer is also swept over must match.
        for (k, v) in &binding.coords {
            if vars.contains(k) && !wanted.iter().any(|(w, _)| w == k) {
                wanted.push((k.clone(), v.clone()));
            }
        }
        // In the producer's order, so one index serves every consumer naming these variables.
        wanted.sort_by_key(|(k, _)| vars.iter().position(|v| v == k));
        let names: Vec<String> = wanted.iter().map(|(k, _)| k.clone()).collect();
        let key: Vec<CoordKey> = wanted.iter().map(|(_, v)| CoordKey::of(v)).collect();
        let family = &self.bindings[pi];
        let index = self
            .family_index
            .entry((pi, names))
            .or_insert_with_key(|(_, names)| index_family(family, names));
        if let Some(members) = index.get(&key) {
            return Some(
                members
                    .iter()
                    .map(|&i| instance_name(&base.name, &family[i].coords))
                    .collect(),
            );
        }
        let (k, v) = wanted
            .iter()
            .find(|(k, v)| {
                !family
                    .iter()
                    .any(|b| b.coords.iter().any(|(bk, bv)| bk == k && same_value(bv, v)))
            })
            .cloned()
            .unwrap_or_else(|| (String::new(), Value::Str(String::new())));
        // The variable's values in declaration order, each once.
        let mut seen = HashSet::new();
        let values: Vec<String> = family
            .iter()
            .filter_map(|b| b.coords.iter().find(|(bk, _)| *bk == k))
            .filter(|(_, bv)| seen.insert(CoordKey::of(bv)))
            .map(|(_, bv)| bv.to_string())
            .collect();
        self.error(
            Diagnostic::error(format!("no instance of `{}` has {}={}", base.name, k, v))
                .at(span, "no such instance")
                .with_note(format!("`{}` takes the values: {}", k, values.join(", "))),
        );
        None
    }

    /// The value span of the `--set` that gives pipeline variable `name`, when the name in
    /// `scope` is that variable (not a sweep variable or sweep `let` of the same name).
    fn set_by_command_line(&self, name: &str, scope: &Scope) -> Option<Span> {
        let span = *self.var_overrides.get(name)?;
        scope.is_shared(name).then_some(span)
    }

    /// Places `d` at the value parameter `param` got: the `--set` argument that gave it
    /// (directly, or as the pipeline variable it is written as or defaults to; the place of
    /// use then is secondary), else where the declaration writes it, else at its kind.
    fn at_value_of(
        &self,
        d: Diagnostic,
        param: &str,
        decl: &ast::StageDecl,
        overrides: Option<&Vec<(&str, &Override)>>,
        binding: &Binding,
        label: String,
    ) -> Diagnostic {
        if let Some((_, o)) = overrides.into_iter().flatten().find(|(p, _)| *p == param) {
            return d.at(o.value.span, label);
        }
        let written = decl
            .params
            .iter()
            .find(|a| a.name.name == param)
            .map(|a| &a.value);
        let (var, used) = match written {
            Some(
                e @ Expr {
                    kind: ExprKind::Name(n),
                    ..
                },
            ) => (n.as_str(), e.span),
            Some(e) => return d.at(e.span, label),
            // Unwritten: a conventional default from the pipeline variable of its name.
            None => (param, decl.name.span),
        };
        match self.set_by_command_line(var, &binding.scope) {
            Some(set) => d
                .at(set, label)
                .with_secondary(used, format!("`{var}` is used here")),
            None if written.is_some() => d.at(used, label),
            None => d.at(decl.kind.span, label),
        }
    }

    /// Where parameter `param` of instance `st` is written: the `--set` that gives it,
    /// else its value in the declaration, else the declaration's kind (a default).
    fn param_span(&self, st: &Stage, param: &str, overrides: &[&Override]) -> Span {
        let key = format!("{}.{param}", st.name);
        if let Some(o) = overrides.iter().find(|o| o.key == key) {
            return o.value.span;
        }
        let decl = self.by_name.get(&st.name).map(|&i| self.decls[i].stage);
        decl.and_then(|d| d.params.iter().find(|a| a.name.name == param))
            .map(|a| a.value.span)
            .or(decl.map(|d| d.kind.span))
            .unwrap_or(st.span)
    }

    /// Reports dependency cycles among instances.
    fn check_cycles(&mut self, stages: &BTreeMap<String, Stage>) {
        use petgraph::graph::DiGraph;
        let mut g = DiGraph::<&str, ()>::new();
        let idx: HashMap<&str, _> = stages
            .keys()
            .map(|k| (k.as_str(), g.add_node(k.as_str())))
            .collect();
        for st in stages.values() {
            for inp in &st.inputs {
                for src in &inp.sources {
                    if let (Some(&a), Some(&b)) = (idx.get(src.as_str()), idx.get(st.instance.as_str())) {
                        g.add_edge(a, b, ());
                    }
                }
            }
        }
        let mut reported: HashSet<String> = HashSet::new();
        for scc in petgraph::algo::kosaraju_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            // Report per family, not per instance, to keep sweeps readable.
            let mut names: Vec<&str> = scc.iter().map(|n| stages[g[*n]].name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            let key = names.join(",");
            if !reported.insert(key) {
                continue;
            }
            let first = &stages[g[scc[0]]];
            let mut d = Diagnostic::error(format!("dependency cycle: {} → {}", names.join(" → "), names[0]))
                .at(first.span, "part of the cycle");
            for n in names.iter().skip(1) {
                if let Some(s) = stages.values().find(|s| s.name == *n) {
                    d = d.with_secondary(s.span, "also in the cycle");
                }
            }
            self.error(d.with_note("a stage cannot depend on its own output"));
        }
    }
}

/// A sweep value as a hash key, equal exactly when [`same_value`] holds.
#[derive(Hash, PartialEq, Eq)]
enum CoordKey {
    /// A number by the bits of its f64 value (so `2` and `2.0` are one key).
    Num(u64),
    Other(String),
}

impl CoordKey {
    fn of(v: &Value) -> CoordKey {
        match v.as_f64() {
            // `+ 0.0` turns -0.0 into 0.0, which compare equal.
            Some(x) => CoordKey::Num((x + 0.0).to_bits()),
            None => CoordKey::Other(format!("{}:{v}", v.type_name())),
        }
    }
}

/// The sweep header `a in …, b in …` (where a too large sweep is reported).
fn sweep_header(sw: &ast::Sweep) -> Span {
    match (sw.vars.first(), sw.vars.last()) {
        (Some(first), Some(last)) => first.span.to(last.span),
        _ => sw.span,
    }
}

/// A value given by `--set` that does not fit where the pipeline uses it: reported at the
/// argument (one error however many places use it), with the first such place.
fn set_error(name: &str, msg: &CoerceError, set: Span, used_at: Span, used: String) -> Diagnostic {
    Diagnostic::error(format!("--set `{name}`: {msg}"))
        .at(set, value_label(msg, name))
        .with_secondary(used_at, used)
}

/// The label under a value that does not fit its parameter: a wrong type, or a value of
/// the right type that is invalid.
fn value_label(e: &CoerceError, name: &str) -> String {
    match e {
        CoerceError::WrongType(_) => "wrong type".to_string(),
        CoerceError::Invalid(_) => format!("invalid `{name}`"),
    }
}

/// How to allow more stage instances.
fn raise_the_limit() -> String {
    "to allow more stage instances, pass `--max-instances N` to `sieve run`, `plan`, `check` or `graph`"
        .into()
}

/// Value equality for coordinates, treating `2` and `2.0` alike.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// "`sft` takes inputs: model (model), data (dataset)".
fn input_signature(kind: &dyn StageKind) -> String {
    let specs = kind.inputs();
    if specs.is_empty() {
        return format!("`{}` takes no inputs", kind.name());
    }
    let parts: Vec<String> = specs.iter().map(input_slot).collect();
    format!("`{}` takes inputs: {}", kind.name(), parts.join(", "))
}
