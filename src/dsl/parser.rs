//! The pest front end: `.sieve` text → surface [`ast::File`] / [`ast::Expr`].
//!
//! The grammar lives in `grammar/sieve.pest` (one commented rule per construct); this
//! module turns pest pairs into AST nodes and pest failures into readable diagnostics.
//!
//! Invariants:
//! - every span is a byte range into the text handed in (shifted by the caller's offset
//!   for [`parse_expr_at`], which the YAML front end uses for `${…}` strings);
//! - nothing here panics on any input: syntax errors, integer overflow, unknown string
//!   escapes, over-deep nesting and over-long operator chains all become [`Diagnostic`]s
//!   (nesting is bounded *before* pest runs, so neither pest nor the recursive AST code can
//!   exhaust the stack);
//! - the parser only checks syntax plus two purely local rules (positional arguments come
//!   before named ones, a parameter is not given twice in one call); names are not resolved
//!   here — that is lowering's job.

use super::ast::{self, BinOp, Expr, ExprKind, Ident, Item};
use super::{MAX_TOKENS, given_twice};
use crate::diag::{Diagnostic, Diagnostics, FileId, Span};
use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/sieve.pest"]
struct SieveParser;

/// Deepest bracket nesting (`(`, `[`, `{` together) accepted in a DSL text.
pub const MAX_NESTING: usize = 48;
/// Deepest expression tree accepted (operators and nesting together).
pub const MAX_EXPR_DEPTH: usize = 128;

/// Reserved words of the DSL; none of them can name a variable, stage or parameter.
pub const KEYWORDS: &[&str] = &[
    "pipeline", "import", "let", "stage", "sweep", "in", "true", "false",
];

/// Parses a whole `.sieve` file. Spans are byte offsets into `text`, in file `file`.
///
/// A file is either `import`s plus one `pipeline NAME { … }` block, or — for a file meant
/// to be imported — bare items (`import`, `let`, `stage`, `sweep`) with no pipeline block
/// (then `File::name` is `None`).
pub fn parse_file(text: &str, file: FileId) -> Result<ast::File, Diagnostics> {
    let mut cx = Cx::new(text, file, 0);
    cx.whole_file = true;
    cx.check_bounds()?;
    let pairs = SieveParser::parse(Rule::file, text).map_err(|e| cx.syntax_error(e))?;
    let mut pipeline: Option<(Ident, Vec<Item>, Span)> = None;
    let mut outside: Vec<Item> = Vec::new();
    // Index in `outside` where the pipeline block's items go (keeps textual order).
    let mut block_at = 0;
    for pair in pairs {
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::pipeline => {
                    let span = cx.span(&child);
                    let mut inner = child.into_inner();
                    let _kw = inner.next();
                    let name = inner
                        .next()
                        .map(|p| cx.ident(&p))
                        .unwrap_or_else(|| cx.missing_ident(span));
                    let items = cx.items(inner);
                    if let Some((first, _, first_span)) = &pipeline {
                        cx.diags.push(
                            Diagnostic::error(format!(
                                "a file holds one pipeline, but `{}` is the second",
                                name.name
                            ))
                            .at(name.span, "second pipeline block")
                            .with_secondary(*first_span, format!("pipeline `{}` is defined here", first.name))
                            .with_note("put shared definitions in a file of bare items and `import` it"),
                        );
                    } else {
                        block_at = outside.len();
                        pipeline = Some((name, items, span));
                    }
                }
                Rule::EOI => {}
                _ => {
                    if let Some(item) = cx.item(child) {
                        outside.push(item);
                    }
                }
            }
        }
    }
    let file_span = Span::new(file, 0, text.len());
    let result = match pipeline {
        Some((name, block_items, _)) => {
            for stray in outside.iter().filter(|i| !matches!(i, Item::Import(_))) {
                cx.diags.push(
                    Diagnostic::error("only `import` may appear outside the `pipeline` block")
                        .at(item_span(stray), "move this into the `pipeline { … }` block"),
                );
            }
            let mut items = outside;
            let after = items.split_off(block_at.min(items.len()));
            items.extend(block_items);
            items.extend(after);
            ast::File {
                name: Some(name),
                items,
                span: file_span,
            }
        }
        None => ast::File {
            name: None,
            items: outside,
            span: file_span,
        },
    };
    cx.finish(result)
}

/// Parses one expression (the value of `--set k=EXPR`). Spans are offsets into `text`.
pub fn parse_expr(text: &str, file: FileId) -> Result<Expr, Diagnostics> {
    parse_expr_at(text, file, 0)
}

/// Parses one expression that sits at byte `offset` of file `file` (e.g. the inside of a
/// YAML `${…}` string): every span is shifted by `offset`.
pub fn parse_expr_at(text: &str, file: FileId, offset: usize) -> Result<Expr, Diagnostics> {
    let mut cx = Cx::new(text, file, offset);
    cx.check_bounds()?;
    let pairs = SieveParser::parse(Rule::expr_only, text).map_err(|e| cx.syntax_error(e))?;
    let expr = pairs
        .flatten()
        .find(|p| p.as_rule() == Rule::expr)
        .map(|p| cx.expr(p).0)
        .unwrap_or_else(|| cx.placeholder(Span::new(file, offset, offset + text.len())));
    cx.finish(expr)
}

/// Whether `s` is a valid DSL name (variable, stage, parameter): a letter or `_`, then
/// letters, digits or `_`, and not a keyword.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

/// Whether `s` is a valid stage kind: dotted words such as `synth.igsm`.
pub fn is_kind(s: &str) -> bool {
    s.split('.').all(|w| {
        let mut chars = w.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A numeric literal in DSL syntax, optionally signed (`-3`, `100_000`, `3e-4`), as the
/// YAML front end needs it for plain scalars. `None`: not a number at all;
/// `Some(Err(msg))`: a number that does not fit.
pub fn parse_number(s: &str) -> Option<Result<ExprKind, String>> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rule = if SieveParser::parse(Rule::int, body).is_ok_and(|p| p.as_str() == body) {
        Rule::int
    } else if SieveParser::parse(Rule::float, body).is_ok_and(|p| p.as_str() == body) {
        Rule::float
    } else {
        return None;
    };
    Some(number_value(rule, body, neg))
}

/// The value of an `int` / `float` literal (`_` removed), negated when `neg`.
fn number_value(rule: Rule, text: &str, neg: bool) -> Result<ExprKind, String> {
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    let sign = if neg { "-" } else { "" };
    if rule == Rule::int {
        format!("{sign}{digits}")
            .parse::<i64>()
            .map(ExprKind::Int)
            .map_err(|_| {
                format!(
                    "integer `{sign}{text}` does not fit in 64 bits (range {} to {})",
                    i64::MIN,
                    i64::MAX
                )
            })
    } else {
        match digits.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(ExprKind::Float(if neg { -f } else { f })),
            _ => Err(format!("float `{sign}{text}` is out of range")),
        }
    }
}

/// The span of any item.
pub fn item_span(item: &Item) -> Span {
    match item {
        Item::Import(i) => i.span,
        Item::Let(l) => l.span,
        Item::Stage(s) => s.span,
        Item::Sweep(s) => s.span,
    }
}

/// Conversion context: the text, where it sits, and the diagnostics found so far.
struct Cx<'t> {
    text: &'t str,
    file: FileId,
    offset: usize,
    /// A whole file (vs. one expression): only changes how the end is called in errors.
    whole_file: bool,
    diags: Diagnostics,
}

impl<'t> Cx<'t> {
    fn new(text: &'t str, file: FileId, offset: usize) -> Self {
        Cx {
            text,
            file,
            offset,
            whole_file: false,
            diags: Diagnostics::new(),
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.diags.has_errors() {
            Err(self.diags)
        } else {
            Ok(value)
        }
    }

    fn at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.offset + start, self.offset + end)
    }

    /// The span of a pair, without the trailing whitespace and comments pest includes in
    /// rules that end with an optional or repeated part (`a ~ b*` skips before `b*`).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        self.at(pair.as_span().start(), token_end(pair))
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    /// Stand-in for a node the grammar guarantees; only reached if grammar and code disagree.
    fn missing_ident(&mut self, span: Span) -> Ident {
        self.internal(span);
        Ident {
            name: String::new(),
            span,
        }
    }

    fn placeholder(&mut self, span: Span) -> Expr {
        self.internal(span);
        Expr {
            kind: ExprKind::Int(0),
            span,
        }
    }

    /// The name and the value (with its depth) of a `name = expr` form: a `let`, a sweep
    /// variable, a named argument or a selector, whose name has the rule `name_rule`. A
    /// part the grammar guarantees but the tree lacks becomes a placeholder.
    fn name_and_value(&mut self, pair: Pair<'_, Rule>, name_rule: Rule) -> (Ident, (Expr, usize)) {
        let span = self.span(&pair);
        let mut parts = pair
            .into_inner()
            .filter(|p| p.as_rule() == name_rule || p.as_rule() == Rule::expr);
        let name = parts
            .next()
            .map(|p| self.ident(&p))
            .unwrap_or_else(|| self.missing_ident(span));
        let value = parts
            .next()
            .map(|p| self.expr(p))
            .unwrap_or_else(|| (self.placeholder(span), 1));
        (name, value)
    }

    /// The expressions among `pairs` (a list's items, a call's arguments) and the largest
    /// of their depths.
    fn exprs<'i>(&mut self, pairs: impl Iterator<Item = Pair<'i, Rule>>) -> (Vec<Expr>, usize) {
        let mut items = Vec::new();
        let mut depth = 0;
        for p in pairs.filter(|p| p.as_rule() == Rule::expr) {
            let (e, d) = self.expr(p);
            depth = depth.max(d);
            items.push(e);
        }
        (items, depth)
    }

    fn internal(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::error("internal parser error: unexpected syntax tree")
                .at(span, "here")
                .with_note("please report this, with the file that triggers it"),
        );
    }

    /// Rejects, before pest runs, bracket nesting deeper than [`MAX_NESTING`] (pest and
    /// the AST code recurse into it) and texts of more than [`MAX_TOKENS`] tokens (pest's
    /// memory grows with them).
    fn check_bounds(&self) -> Result<(), Diagnostics> {
        let bytes = self.text.as_bytes();
        let mut depth = 0usize;
        let mut tokens = 0usize;
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            match bytes[i] {
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b' ' | b'\t' | b'\r' | b'\n' => {
                    i += 1;
                    continue;
                }
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b if b.is_ascii_alphanumeric() || b == b'_' => {
                    while i + 1 < bytes.len()
                        && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_')
                    {
                        i += 1;
                    }
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Diagnostic::error(format!(
                            "brackets nested more than {MAX_NESTING} deep"
                        ))
                        .at(self.at(i, i + 1), "too deep")
                        .into());
                    }
                }
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                // A non-ASCII character is one token (and a span never splits it).
                b if b >= 0xC0 => {
                    while i + 1 < bytes.len() && bytes[i + 1] & 0xC0 == 0x80 {
                        i += 1;
                    }
                }
                _ => {}
            }
            tokens += 1;
            if tokens > MAX_TOKENS {
                let end = (i + 1).min(bytes.len());
                return Err(Diagnostic::error(format!(
                    "this text has more than {MAX_TOKENS} tokens (names, numbers, strings, punctuation)"
                ))
                .at(self.at(start, end), "the limit is reached here")
                .with_note("a pipeline describes stages; put data in a file a stage reads")
                .into());
            }
            i += 1;
        }
        Ok(())
    }

    // ───────────────────────── items ─────────────────────────

    fn items<'i>(&mut self, pairs: impl Iterator<Item = Pair<'i, Rule>>) -> Vec<Item> {
        pairs.filter_map(|p| self.item(p)).collect()
    }

    /// One item pair; `None` for punctuation and keywords.
    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::import => {
                let path = pair
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::import_path)
                    .and_then(|p| p.into_inner().next())
                    .map(|inner| self.unescape(&inner))
                    .unwrap_or_default();
                Some(Item::Import(ast::Import { path, span }))
            }
            Rule::let_stmt => {
                let (name, (value, _)) = self.name_and_value(pair, Rule::var_name);
                Some(Item::Let(ast::Let { name, value, span }))
            }
            Rule::stage => Some(Item::Stage(self.stage(pair, span))),
            Rule::sweep => {
                let mut vars = Vec::new();
                let mut body = Vec::new();
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::sweep_var => {
                            let vspan = self.span(&p);
                            let (name, (values, _)) = self.name_and_value(p, Rule::var_name);
                            vars.push(ast::SweepVar {
                                name,
                                values,
                                span: vspan,
                            });
                        }
                        Rule::let_stmt | Rule::stage | Rule::sweep => body.extend(self.item(p)),
                        _ => {}
                    }
                }
                Some(Item::Sweep(ast::Sweep { vars, body, span }))
            }
            _ => None,
        }
    }

    fn stage(&mut self, pair: Pair<'_, Rule>, span: Span) -> ast::StageDecl {
        let mut name = None;
        let mut kind = None;
        let mut inputs = Vec::new();
        let mut params: Vec<ast::NamedArg> = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::stage_name => name = Some(self.ident(&p)),
                Rule::kind => kind = Some(self.ident(&p)),
                Rule::expr => {
                    let e = self.expr(p).0;
                    if let Some(first_named) = params.first() {
                        self.diags.push(
                            Diagnostic::error("a positional input after a named parameter")
                                .at(e.span, "inputs must come before `name = value` parameters")
                                .with_secondary(first_named.span, "first named parameter"),
                        );
                    }
                    inputs.push(e);
                }
                Rule::named_arg => {
                    let aspan = self.span(&p);
                    let (pname, (value, _)) = self.name_and_value(p, Rule::param_name);
                    if let Some(prev) = params.iter().find(|a| a.name.name == pname.name) {
                        self.diags.push(given_twice("parameter", &pname, prev.name.span));
                    }
                    params.push(ast::NamedArg {
                        name: pname,
                        value,
                        span: aspan,
                    });
                }
                _ => {}
            }
        }
        let name = name.unwrap_or_else(|| self.missing_ident(span));
        let kind = kind.unwrap_or_else(|| self.missing_ident(span));
        ast::StageDecl {
            name,
            kind,
            inputs,
            params,
            span,
        }
    }

    // ───────────────────────── expressions ─────────────────────────

    /// Converts an expression pair; returns the node and its tree depth.
    fn expr(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let span = self.span(&pair);
        let (expr, depth) = match pair.as_rule() {
            Rule::expr => {
                let mut inner = pair.into_inner().filter(|p| p.as_rule() == Rule::sum);
                let lo = inner
                    .next()
                    .map(|p| self.expr(p))
                    .unwrap_or_else(|| (self.placeholder(span), 1));
                match inner.next() {
                    Some(hi) => {
                        let hi = self.expr(hi);
                        let kind = ExprKind::Range(Box::new(lo.0), Box::new(hi.0));
                        (Expr { kind, span }, lo.1.max(hi.1) + 1)
                    }
                    None => lo,
                }
            }
            Rule::sum | Rule::product => self.chain(pair, span),
            Rule::unary => self.unary(pair, span),
            Rule::paren => match pair.into_inner().find(|p| p.as_rule() == Rule::expr) {
                // Parentheses only group; the node takes the span of the whole `( … )`.
                Some(inner) => {
                    let (mut e, d) = self.expr(inner);
                    e.span = span;
                    (e, d)
                }
                None => (self.placeholder(span), 1),
            },
            Rule::int | Rule::float => {
                let kind = self.number(&pair, false, span);
                (Expr { kind, span }, 1)
            }
            Rule::string => {
                let s = pair
                    .into_inner()
                    .next()
                    .map(|p| self.unescape(&p))
                    .unwrap_or_default();
                (
                    Expr {
                        kind: ExprKind::Str(s),
                        span,
                    },
                    1,
                )
            }
            Rule::boolean => (
                Expr {
                    kind: ExprKind::Bool(pair.as_str() == "true"),
                    span,
                },
                1,
            ),
            Rule::list => {
                let (items, depth) = self.exprs(pair.into_inner());
                (
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    depth + 1,
                )
            }
            Rule::name_expr => self.name_expr(pair, span),
            _ => (self.placeholder(span), 1),
        };
        if depth > MAX_EXPR_DEPTH {
            self.diags.push(
                Diagnostic::error(format!(
                    "expression is nested more than {MAX_EXPR_DEPTH} levels deep"
                ))
                .at(span, "simplify this expression"),
            );
            // Keep the returned tree shallow so later passes never recurse deeply.
            return (
                Expr {
                    kind: ExprKind::Int(0),
                    span,
                },
                1,
            );
        }
        (expr, depth)
    }

    /// `a + b - c` / `a * b / c`: one [`ExprKind::Chain`] node, one level deeper than its
    /// deepest operand however many operands it has (a lone operand is returned as is).
    fn chain(&mut self, pair: Pair<'_, Rule>, span: Span) -> (Expr, usize) {
        let mut inner = pair.into_inner();
        let Some(first) = inner.next() else {
            return (self.placeholder(span), 1);
        };
        let (first, mut depth) = self.expr(first);
        let mut rest = Vec::new();
        while let Some(op) = inner.next() {
            let bin = match op.as_str() {
                "+" => BinOp::Add,
                "-" => BinOp::Sub,
                "*" => BinOp::Mul,
                _ => BinOp::Div,
            };
            let Some(operand) = inner.next() else { break };
            let (operand, d) = self.expr(operand);
            depth = depth.max(d);
            rest.push((bin, operand));
        }
        if rest.is_empty() {
            return (first, depth);
        }
        let kind = ExprKind::Chain {
            first: Box::new(first),
            rest,
        };
        (Expr { kind, span }, depth + 1)
    }

    /// `-x`: an even number of minuses cancels; a minus directly on a number literal folds
    /// into a negative literal (so `-9223372036854775808` is representable).
    fn unary(&mut self, pair: Pair<'_, Rule>, span: Span) -> (Expr, usize) {
        let mut negs = 0usize;
        let mut atom = None;
        for p in pair.into_inner() {
            if p.as_rule() == Rule::neg {
                negs += 1;
            } else {
                atom = Some(p);
            }
        }
        let Some(atom) = atom else {
            return (self.placeholder(span), 1);
        };
        if negs % 2 == 1 && matches!(atom.as_rule(), Rule::int | Rule::float) {
            let kind = self.number(&atom, true, span);
            return (Expr { kind, span }, 1);
        }
        let (e, d) = self.expr(atom);
        if negs % 2 == 1 {
            (
                Expr {
                    kind: ExprKind::Neg(Box::new(e)),
                    span,
                },
                d + 1,
            )
        } else {
            (e, d)
        }
    }

    fn number(&mut self, pair: &Pair<'_, Rule>, neg: bool, span: Span) -> ExprKind {
        match number_value(pair.as_rule(), pair.as_str(), neg) {
            Ok(k) => k,
            Err(msg) => {
                self.diags
                    .push(Diagnostic::error(msg).at(span, "number out of range"));
                ExprKind::Int(0)
            }
        }
    }

    /// `name`, `f(args)` or `stage[var=value, …]`.
    fn name_expr(&mut self, pair: Pair<'_, Rule>, span: Span) -> (Expr, usize) {
        let mut inner = pair.into_inner();
        let Some(name) = inner.next() else {
            return (self.placeholder(span), 1);
        };
        let ident = self.ident(&name);
        match inner.next() {
            None => (
                Expr {
                    kind: ExprKind::Name(ident.name),
                    span,
                },
                1,
            ),
            Some(suffix) if suffix.as_rule() == Rule::call_args => {
                let (args, depth) = self.exprs(suffix.into_inner());
                (
                    Expr {
                        kind: ExprKind::Call { func: ident, args },
                        span,
                    },
                    depth + 1,
                )
            }
            Some(suffix) => {
                let mut selectors: Vec<(Ident, Expr)> = Vec::new();
                let mut depth = 0;
                for sel in suffix.into_inner().filter(|p| p.as_rule() == Rule::selector) {
                    let (key, (value, d)) = self.name_and_value(sel, Rule::sel_name);
                    if let Some((prev, _)) = selectors.iter().find(|(k, _)| k.name == key.name) {
                        self.diags.push(given_twice("selector", &key, prev.span));
                    }
                    depth = depth.max(d);
                    selectors.push((key, value));
                }
                (
                    Expr {
                        kind: ExprKind::Index {
                            base: ident,
                            selectors,
                        },
                        span,
                    },
                    depth + 1,
                )
            }
        }
    }

    /// The text of a string literal's inside with escapes resolved; an unknown escape is
    /// reported and kept literally.
    fn unescape(&mut self, inner: &Pair<'_, Rule>) -> String {
        let raw = inner.as_str();
        let base = inner.as_span().start();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((j, other)) => {
                    let end = base + j + other.len_utf8();
                    self.diags.push(
                        Diagnostic::error(format!("unknown escape `\\{other}` in a string"))
                            .at(self.at(base + i, end), "unknown escape")
                            .with_note(r#"the escapes are \" \\ \n \t"#),
                    );
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }

    // ───────────────────────── syntax errors ─────────────────────────

    /// Turns a pest failure into one diagnostic at the failing position.
    fn syntax_error(&self, err: pest::error::Error<Rule>) -> Diagnostics {
        let pos = match err.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        let pos = pos.min(self.text.len());
        let (found, found_len) = self.found_at(pos);
        let span = self.at(pos, pos + found_len);
        let message = match &err.variant {
            ErrorVariant::ParsingError { positives, .. } => {
                let end = if self.whole_file {
                    "end of file"
                } else {
                    "end of the expression"
                };
                format!("expected {}, found {found}", expected_list(positives, end))
            }
            ErrorVariant::CustomError { message } => format!("cannot parse this input: {message}"),
        };
        // Three mistakes whose generic message misleads get their own.
        if let Some(end) = unterminated_string(self.text, pos) {
            return Diagnostic::error("unterminated string: the closing `\"` is missing")
                .at(self.at(pos, end), "this string is never closed")
                .with_note(
                    "close it on the same line; strings cannot span lines (write \\n for a line break)",
                )
                .into();
        }
        let label = match found_len {
            0 => "input ends here".to_string(),
            _ => "unexpected here".to_string(),
        };
        let mut d = Diagnostic::error(message).at(span, label);
        if self.text[pos..].trim().is_empty()
            && let Some(unclosed) = unclosed_brace(self.text)
        {
            d = match unclosed.misaligned_close {
                Some(close) => d
                    .with_secondary(
                        self.at(unclosed.open, unclosed.open + 1),
                        "this `{` is probably never closed",
                    )
                    .with_secondary(
                        self.at(close, close + 1),
                        "this `}` closes it, but it is indented like an outer block",
                    )
                    .with_note("add the missing `}` where the inner block ends"),
                None => d
                    .with_secondary(
                        self.at(unclosed.open, unclosed.open + 1),
                        "this `{` is never closed",
                    )
                    .with_note("add the missing `}`"),
            };
        }
        if let Some(digits) = self.text[pos..].strip_prefix('.')
            && digits.starts_with(|c: char| c.is_ascii_digit())
        {
            let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
            d = d.with_note(format!(
                "a number needs a digit before the point: write `0.{digits}`"
            ));
        }
        let word = &self.text[pos..pos + found_len];
        let wants_name = matches!(&err.variant, ErrorVariant::ParsingError { positives, .. }
            if positives.iter().any(|r| matches!(r,
                Rule::pipeline_name | Rule::stage_name | Rule::var_name | Rule::param_name
                | Rule::sel_name | Rule::name | Rule::name_expr | Rule::expr | Rule::sum
                | Rule::product | Rule::unary | Rule::sweep_var | Rule::named_arg)));
        if wants_name && KEYWORDS.contains(&word) {
            d = d.with_note(format!(
                "`{word}` is a reserved word and cannot be used as a name"
            ));
        }
        if let ErrorVariant::ParsingError { positives, .. } = &err.variant
            && positives.contains(&Rule::import_path)
            && !word.starts_with('"')
        {
            d = d.with_note("write the file name in double quotes: import \"shared.sieve\"");
        }
        d.into()
    }

    /// A description of the token at `pos` and its length in bytes.
    fn found_at(&self, pos: usize) -> (String, usize) {
        let rest = &self.text[pos..];
        let Some(c) = rest.chars().next() else {
            let end = if self.whole_file {
                "end of file"
            } else {
                "end of the expression"
            };
            return (end.to_string(), 0);
        };
        let len = if c.is_ascii_alphanumeric() || c == '_' {
            rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len())
        } else {
            c.len_utf8()
        };
        let tok = &rest[..len];
        let shown = match c {
            '\n' | '\r' => "end of line".to_string(),
            '"' => "a string".to_string(),
            _ => format!("`{tok}`"),
        };
        (shown, len)
    }
}

/// If a string literal opens at `pos` and is not closed before the end of its line,
/// the end of that line (the string's extent).
fn unterminated_string(text: &str, pos: usize) -> Option<usize> {
    let rest = text[pos..].strip_prefix('"')?;
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return None,
            '\\' => {
                chars.next();
            }
            '\n' | '\r' => return Some(pos + 1 + i),
            _ => {}
        }
    }
    Some(text.len())
}

/// An unclosed `{` found by [`unclosed_brace`].
struct UnclosedBrace {
    /// Byte offset of the `{` that is probably missing its `}`.
    open: usize,
    /// A `}` that matched `open` by count but is indented like an outer block (the
    /// usual sign of where the real `}` is missing).
    misaligned_close: Option<usize>,
}

/// Finds the `{` a file that ends too early is probably missing the `}` of (skipping
/// strings and comments). By count the outermost block is the unclosed one, but
/// people lose the `}` of an inner block: when a `}` is the first thing on its line and
/// indented differently from the line of the `{` it matches, that inner `{` is reported.
fn unclosed_brace(text: &str) -> Option<UnclosedBrace> {
    let indent = |at: usize| {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[line_start..];
        let width = line.len() - line.trim_start_matches([' ', '\t']).len();
        (line_start, width)
    };
    let mut open: Vec<usize> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '{' => open.push(i),
            '}' => {
                if let Some(o) = open.pop() {
                    pairs.push((o, i));
                }
            }
            _ => {}
        }
    }
    let innermost = *open.last()?;
    let misaligned = pairs.into_iter().find(|&(o, c)| {
        let (close_line, close_indent) = indent(c);
        let first_on_line = close_line + close_indent == c;
        first_on_line && close_indent != indent(o).1
    });
    Some(match misaligned {
        Some((o, c)) => UnclosedBrace {
            open: o,
            misaligned_close: Some(c),
        },
        None => UnclosedBrace {
            open: innermost,
            misaligned_close: None,
        },
    })
}

/// Where the last token of a pair ends: the end of its last atomic descendant (strings
/// count as one token; their inside ends before the closing quote).
fn token_end(pair: &Pair<'_, Rule>) -> usize {
    let mut p = pair.clone();
    loop {
        if matches!(p.as_rule(), Rule::string | Rule::import_path) {
            return p.as_span().end();
        }
        match p.clone().into_inner().last() {
            Some(last) => p = last,
            None => return p.as_span().end(),
        }
    }
}

/// What a rule means to a user: the short word, and a fuller phrase used when it is the
/// only thing expected. `None`: noise (an operator that could always continue).
fn describe(rule: Rule) -> Option<(&'static str, &'static str)> {
    use Rule::*;
    let d = match rule {
        int | float | string | boolean | list | list_open | name | name_expr | neg | unary | paren
        | paren_open | expr | sum | product => {
            ("an expression", "an expression (a number, string, name, list…)")
        }
        block_open => ("`{`", "`{`"),
        block_close => ("`}`", "`}`"),
        let_eq => ("`=`", "`=` after the variable name"),
        stage_eq => ("`=`", "`=` after the stage name"),
        arg_eq => ("`=`", "`=` after the parameter name"),
        sel_eq => ("`=`", "`=` after the selector name, as in `acc[budget=1024]`"),
        args_open => ("`(`", "`(` after the stage kind"),
        args_close => ("`)`", "`)` to close the stage's arguments"),
        call_close => ("`)`", "`)` to close the call"),
        paren_close => ("`)`", "`)` to close the parenthesis"),
        index_close => ("`]`", "`]` to close the selectors"),
        list_close => ("`]`", "`]` to close the list"),
        comma => ("`,`", "`,`"),
        kw_pipeline | pipeline => ("`pipeline`", "`pipeline`"),
        kw_import | import => ("`import`", "`import`"),
        kw_let | let_stmt => ("`let`", "`let`"),
        kw_stage | stage => ("`stage`", "`stage`"),
        kw_sweep | sweep => ("`sweep`", "`sweep`"),
        kw_in => ("`in`", "`in` after the sweep variable"),
        pipeline_name => ("a pipeline name", "a pipeline name"),
        stage_name => ("a stage name", "a stage name"),
        var_name | sweep_var => ("a variable name", "a variable name"),
        param_name | named_arg => ("a parameter name", "a parameter name"),
        sel_name | selector | selectors => ("a selector", "a selector such as `budget=1024`"),
        kind => ("a stage kind", "a stage kind such as `sft` or `synth.igsm`"),
        import_path | str_inner => ("a file name in quotes", "a file name in double quotes"),
        EOI | file | expr_only => (END, END),
        add_op | mul_op | range_op | call_open | index_open | call_args => return None,
        _ => ("something else", "something else"),
    };
    Some(d)
}

/// Placeholder for the end of the text in [`describe`]; [`expected_list`] names it.
const END: &str = "<end>";

/// "`=` after the stage name" / "`,` or `)`" / "`let`, `stage` or `}`". `end` names the
/// end of the text ("end of file").
fn expected_list(positives: &[Rule], end: &str) -> String {
    expected_words(positives).replace(END, end)
}

fn expected_words(positives: &[Rule]) -> String {
    let mut words: Vec<(&str, &str)> = Vec::new();
    for r in positives {
        if let Some(d) = describe(*r)
            && !words.iter().any(|(w, _)| *w == d.0)
        {
            words.push(d);
        }
    }
    // Openers and names first, then separators, closers, end of input.
    let rank = |w: &str| match w {
        "`,`" => 2,
        "`)`" | "`]`" | "`}`" => 3,
        END => 4,
        _ => 1,
    };
    words.sort_by_key(|(w, _)| rank(w));
    match words.as_slice() {
        [] if positives.is_empty() => "something else".to_string(),
        [] => "an operator".to_string(),
        [(_, phrase)] => phrase.to_string(),
        _ => {
            let shorts: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
            let (last, init) = shorts.split_last().map(|(l, i)| (*l, i)).unwrap_or(("", &[]));
            format!("{} or {last}", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::testutil::Says::{Has, Is, Starts};
    use crate::dsl::testutil::{check_errors_at, first_error_at};

    /// The example pipeline of DESIGN.md §3 (plus imports and a nested sweep).
    pub(crate) const EXAMPLE: &str = r#"# difficulty vs budget
import "shared.sieve"
pipeline difficulty_budget {
  import "more.yaml"
  let seed = 7
  stage pool   = synth.igsm(n = 100_000, ops = 2..12, seed = seed)
  stage test   = synth.igsm(n = 2_000, ops = 2..12, seed = seed + 1)
  stage init   = model.init(arch = "tiny", tokenizer = "chars", seed = seed)
  stage pre    = synth.igsm(n = 50_000, ops = 2..6, seed = seed + 2)
  stage base   = sft(init, pre, steps = 3000)
  stage scored = score(pool, by = column("ops"))
  sweep budget in [256, 1024, 4096], band in ["easy", "medium", "hard"] {
    stage subset = select(scored, budget = budget, band = band, bands = 3, nested = true)
    stage tuned  = sft(base, subset, epochs = 3, lr = 3e-4,)
    sweep k in 1..2 {
      let kk = k * 2
      stage acc = evaluate(tuned, test, metric = exact_match, slice_by = "ops")
    }
  }
  stage heatmap = report(acc, kind = heatmap, x = band, y = budget, value = accuracy)
  stage one = report(acc[budget=1024, band=hard, k=1])
}
"#;

    fn parse(text: &str) -> ast::File {
        match parse_file(text, 0) {
            Ok(f) => f,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn expr(text: &str) -> ExprKind {
        match parse_expr(text, 0) {
            Ok(e) => e.kind,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn error(text: &str) -> Diagnostic {
        match parse_file(text, 0) {
            Ok(f) => panic!("expected an error, got {f:?}"),
            Err(d) => d.0.into_iter().next().expect("one diagnostic"),
        }
    }

    fn int(i: i64) -> ExprKind {
        ExprKind::Int(i)
    }

    /// The expression with spans erased (for structural comparisons).
    fn shape(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Index { base, selectors } => {
                let sels: Vec<String> = selectors
                    .iter()
                    .map(|(k, v)| format!("{}={}", k.name, shape(v)))
                    .collect();
                format!("{}[{}]", base.name, sels.join(","))
            }
            ExprKind::List(items) => format!("[{}]", items.iter().map(shape).collect::<Vec<_>>().join(",")),
            ExprKind::Range(a, b) => format!("({}..{})", shape(a), shape(b)),
            // Drawn left-nested, as the chain evaluates: `a - b - c` is `((a-b)-c)`.
            ExprKind::Chain { first, rest } => rest.iter().fold(shape(first), |acc, (op, e)| {
                let o = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                };
                format!("({acc}{o}{})", shape(e))
            }),
            ExprKind::Neg(a) => format!("-{}", shape(a)),
            ExprKind::Call { func, args } => {
                format!(
                    "{}({})",
                    func.name,
                    args.iter().map(shape).collect::<Vec<_>>().join(",")
                )
            }
        }
    }

    fn eshape(text: &str) -> String {
        match parse_expr(text, 0) {
            Ok(e) => shape(&e),
            Err(d) => panic!("{d:?}"),
        }
    }

    #[test]
    fn parses_the_design_example() {
        let f = parse(EXAMPLE);
        assert_eq!(
            f.name.as_ref().map(|n| n.name.as_str()),
            Some("difficulty_budget")
        );
        let kinds: Vec<&str> = f
            .items
            .iter()
            .map(|i| match i {
                Item::Import(_) => "import",
                Item::Let(_) => "let",
                Item::Stage(_) => "stage",
                Item::Sweep(_) => "sweep",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "import", "import", "let", "stage", "stage", "stage", "stage", "stage", "stage", "sweep",
                "stage", "stage"
            ]
        );
        let Item::Import(imp) = &f.items[0] else { panic!() };
        assert_eq!(imp.path, "shared.sieve");
        assert_eq!(&EXAMPLE[imp.span.start..imp.span.end], r#"import "shared.sieve""#);
        let Item::Stage(base) = &f.items[7] else { panic!() };
        assert_eq!(base.name.name, "base");
        assert_eq!(base.kind.name, "sft");
        assert_eq!(base.inputs.iter().map(shape).collect::<Vec<_>>(), ["init", "pre"]);
        assert_eq!(base.params[0].name.name, "steps");
        assert_eq!(
            &EXAMPLE[base.span.start..base.span.end],
            "stage base   = sft(init, pre, steps = 3000)"
        );
        let Item::Stage(pool) = &f.items[3] else { panic!() };
        assert_eq!(pool.kind.name, "synth.igsm");
        assert_eq!(&EXAMPLE[pool.kind.span.start..pool.kind.span.end], "synth.igsm");
        assert_eq!(shape(&pool.params[0].value), "100000");
        assert_eq!(shape(&pool.params[1].value), "(2..12)");
        let Item::Sweep(sw) = &f.items[9] else { panic!() };
        assert_eq!(sw.vars.len(), 2);
        assert_eq!(sw.vars[0].name.name, "budget");
        assert_eq!(shape(&sw.vars[1].values), r#"["easy","medium","hard"]"#);
        assert_eq!(sw.body.len(), 3);
        let Item::Sweep(inner) = &sw.body[2] else { panic!() };
        assert!(matches!(inner.body[0], Item::Let(_)));
        let Item::Stage(one) = &f.items[11] else { panic!() };
        assert_eq!(shape(&one.inputs[0]), "acc[budget=1024,band=hard,k=1]");
    }

    #[test]
    fn bare_item_files_have_no_name() {
        let f = parse("let a = 1\nstage s = load(path = \"x.parquet\")\nsweep v in [1] { let w = v }\n");
        assert!(f.name.is_none());
        assert_eq!(f.items.len(), 3);
        assert_eq!(parse("").items.len(), 0);
        assert_eq!(parse("# only a comment").items.len(), 0);
    }

    #[test]
    fn literals() {
        assert_eq!(expr("100_000"), int(100_000));
        assert_eq!(expr("0"), int(0));
        assert_eq!(expr("3e-4"), ExprKind::Float(3e-4));
        assert_eq!(expr("1.5"), ExprKind::Float(1.5));
        assert_eq!(expr("1e-6"), ExprKind::Float(1e-6));
        assert_eq!(expr("2.5E+3"), ExprKind::Float(2500.0));
        assert_eq!(expr("1_000.5"), ExprKind::Float(1000.5));
        assert_eq!(expr("true"), ExprKind::Bool(true));
        assert_eq!(expr("false"), ExprKind::Bool(false));
        assert_eq!(expr(r#""a\"b\\c\nd\te""#), ExprKind::Str("a\"b\\c\nd\te".into()));
        assert_eq!(expr(r#""""#), ExprKind::Str(String::new()));
        assert_eq!(expr("exact_match"), ExprKind::Name("exact_match".into()));
        assert_eq!(expr("truth"), ExprKind::Name("truth".into()));
        assert_eq!(expr("-3"), int(-3));
        assert_eq!(expr("-9223372036854775808"), int(i64::MIN));
        assert_eq!(expr("9223372036854775807"), int(i64::MAX));
        assert_eq!(expr("-1.5"), ExprKind::Float(-1.5));
        assert_eq!(expr("--3"), int(3));
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(eshape("1 + 2 * 3"), "(1+(2*3))");
        assert_eq!(eshape("(1 + 2) * 3"), "((1+2)*3)");
        assert_eq!(eshape("a - b - c"), "((a-b)-c)");
        assert_eq!(eshape("a / b * c"), "((a/b)*c)");
        assert_eq!(eshape("seed..seed+3"), "(seed..(seed+3))");
        assert_eq!(eshape("2..12"), "(2..12)");
        assert_eq!(eshape("1.5..3"), "(1.5..3)");
        assert_eq!(eshape("-x * 2"), "(-x*2)");
        assert_eq!(eshape("a - -1"), "(a-(-1))".replace("(-1)", "-1"));
        assert_eq!(eshape("[1, 2..4, x,]"), "[1,(2..4),x]");
        assert_eq!(eshape("[]"), "[]");
        assert_eq!(eshape(r#"column("ops")"#), r#"column("ops")"#);
        assert_eq!(eshape("length()"), "length()");
        assert_eq!(eshape("quantiles(3, [1,2],)"), "quantiles(3,[1,2])");
        assert_eq!(
            eshape("acc[budget=1024, band=hard]"),
            "acc[budget=1024,band=hard]"
        );
        assert_eq!(eshape("acc[budget=2*512,]"), "acc[budget=(2*512)]");
        assert_eq!(eshape("# c\n 1 # d\n"), "1");
    }

    #[test]
    fn expression_spans() {
        let e = parse_expr_at("seed + 1", 3, 10).expect("parses");
        assert_eq!(e.span, Span::new(3, 10, 18));
        let ExprKind::Chain { first, rest } = &e.kind else {
            panic!()
        };
        assert_eq!(first.span, Span::new(3, 10, 14));
        assert_eq!(rest[0].1.span, Span::new(3, 17, 18));
        let e = parse_expr("(1 + 2)", 0).expect("parses");
        assert_eq!((e.span.start, e.span.end), (0, 7));
        let e = parse_expr("- 5", 0).expect("parses");
        assert_eq!((e.span.start, e.span.end), (0, 3));
    }

    #[test]
    fn keywords_are_whole_words() {
        let f = parse("pipeline p { let letter = 1 let input = 2 stage stages = sft(inx, instance = true) }");
        assert_eq!(f.items.len(), 3);
        let d = error("pipeline p { let let = 1 }");
        assert!(d.message.contains("expected a variable name"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n.contains("reserved")), "{:?}", d.notes);
    }

    /// The first error of `text`, checked to point at the first `needle` in it.
    fn err_at(text: &str, needle: &str) -> Diagnostic {
        first_error_at(text, parse_file(text, 0), needle)
    }

    #[test]
    fn syntax_errors_say_what_was_expected_where() {
        let cases = [
            (
                "pipeline p {\n  stage x sft()\n}",
                "sft",
                Is("expected `=` after the stage name, found `sft`"),
            ),
            (
                "pipeline p { let x 3 }",
                "3",
                Is("expected `=` after the variable name, found `3`"),
            ),
            (
                "pipeline p { stage x = sft steps = 3 }",
                "steps",
                Is("expected `(` after the stage kind, found `steps`"),
            ),
            (
                "pipeline p { stage x = sft(a b) }",
                "b)",
                Starts("expected `=`, `,` or `)`"),
            ),
            (
                "pipeline p { sweep b [1, 2] { } }",
                "[1",
                Is("expected `in` after the sweep variable, found `[`"),
            ),
            ("pipeline p { let x = }", "}", Starts("expected an expression")),
            (
                "pipeline p { stage x = sft(a[b 1]) }",
                "1]",
                Has("`=` after the selector name"),
            ),
            ("pipeline { }", "{", Is("expected a pipeline name, found `{`")),
            ("pipeline p { stage x = sft(a, [1, 2) }", ") }", Has("`]`")),
            (
                "pipeline p { sweep v in [1] { import \"x.sieve\" } }",
                "import",
                Has("`let`, `stage`, `sweep` or `}`"),
            ),
            ("pipeline p { let x = 1..2..3 }", "..3", Has("`}`")),
        ];
        check_errors_at(|text| parse_file(text, 0), &cases);
    }

    #[test]
    fn syntax_errors_at_the_end_and_in_literals_are_readable_and_placed() {
        let d = error("pipeline p { let x = 1 ");
        assert_eq!(d.primary.as_ref().map(|(s, _)| s.start), Some(23));
        assert!(d.message.ends_with("found end of file"), "{}", d.message);
        assert!(d.message.contains("`}`"), "{}", d.message);
        let d = err_at("pipeline p { import shared }", "shared");
        assert!(d.message.contains("file name"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n.contains("double quotes")));
        let d = err_at("pipeline p { let s = \"abc\n\" }", "\"abc");
        assert!(d.message.starts_with("unterminated string"), "{}", d.message);
    }

    #[test]
    fn semantic_syntax_errors() {
        let cases = [
            (
                "pipeline p { stage x = sft(a, lr = 1, b) }",
                "b)",
                Has("positional input after a named parameter"),
            ),
            (
                "pipeline p { stage x = sft(lr = 1, lr = 2) }",
                "lr = 2",
                Is("parameter `lr` is given twice"),
            ),
            (
                "pipeline p { let x = a[b=1, b=2] }",
                "b=2",
                Is("selector `b` is given twice"),
            ),
            (
                "pipeline p { let x = 9223372036854775808 }",
                "9223372036854775808",
                Has("does not fit in 64 bits"),
            ),
            ("pipeline p { let x = 1e999 }", "1e999", Has("out of range")),
            (r#"pipeline p { let x = "a\qb" }"#, r"\q", Has("unknown escape")),
            ("pipeline p { }\npipeline q { }", "q {", Has("one pipeline")),
            (
                "let a = 1\npipeline p { }",
                "let",
                Has("outside the `pipeline` block"),
            ),
        ];
        check_errors_at(|text| parse_file(text, 0), &cases);
    }

    #[test]
    fn all_errors_are_reported() {
        let diags =
            parse_file("pipeline p { let a = 99999999999999999999 let b = \"\\q\" }", 0).expect_err("errors");
        assert_eq!(diags.len(), 2);
    }

    #[test]
    fn imports_outside_and_inside_the_block_keep_order() {
        let f = parse("import \"a.sieve\"\npipeline p { import \"b.yaml\" let x = 1 }\nimport \"c.sieve\"");
        let paths: Vec<String> = f
            .items
            .iter()
            .filter_map(|i| {
                if let Item::Import(i) = i {
                    Some(i.path.clone())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(paths, ["a.sieve", "b.yaml", "c.sieve"]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let d = parse_expr(&deep, 0).expect_err("too deep");
        assert!(d.0[0].message.contains("nested"), "{:?}", d);
        // A flat chain is one level however long; only real nesting counts.
        let long = vec!["1"; 50_000].join(" + ");
        let ExprKind::Chain { rest, .. } = expr(&long) else {
            panic!("a chain")
        };
        assert_eq!(rest.len(), 49_999);
        let nested = format!(
            "{}1{}",
            "(1 + ".repeat(MAX_EXPR_DEPTH),
            ")".repeat(MAX_EXPR_DEPTH)
        );
        let d = parse_expr(&nested, 0).expect_err("too deep");
        assert!(d.0[0].message.contains("nested more than"), "{:?}", d);
        let negs = format!("{}x", "-".repeat(100_001));
        assert!(matches!(expr(&negs), ExprKind::Neg(_)));
        let ok = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        assert!(parse_expr(&ok, 0).is_ok());
        // The deepest accepted nesting parses on a test thread's (small) stack.
        let parens = format!("{}-x{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse_expr(&parens, 0).is_ok());
        let sweeps = format!(
            "pipeline p {{ {} stage s = f(a[k=(1)]) {} }}",
            "sweep v in [1] {".repeat(MAX_NESTING - 4),
            "}".repeat(MAX_NESTING - 4)
        );
        assert!(parse_file(&sweeps, 0).is_ok());
    }

    #[test]
    fn texts_over_the_token_limit_are_refused_before_pest_runs() {
        let at_limit = format!("[{}]", vec!["1"; (MAX_TOKENS - 1) / 2].join(","));
        assert!(parse_expr(&at_limit, 0).is_ok());
        let over = format!(
            "pipeline p {{ let x = [{}] }}",
            vec!["1"; MAX_TOKENS / 2].join(",")
        );
        let d = parse_file(&over, 0).expect_err("too many tokens");
        assert_eq!(d.len(), 1);
        assert!(d.0[0].message.contains("more than 250000 tokens"), "{:?}", d.0[0]);
        let (span, _) = d.0[0].primary.clone().expect("span");
        assert!(
            span.start > over.len() - 10,
            "at the token that crosses the limit"
        );
        // Strings and comments are one token or none, whatever their length.
        let long = format!(
            "pipeline p {{ let s = \"{}\" # {}\n}}",
            "x".repeat(1_000_000),
            "y ".repeat(500_000)
        );
        assert!(parse_file(&long, 0).is_ok());
        let wide = format!("pipeline p {{ let s = \"a\" {} }}", "é".repeat(MAX_TOKENS));
        let d = parse_file(&wide, 0).expect_err("too many");
        let (span, _) = d.0[0].primary.clone().expect("span");
        assert!(wide.is_char_boundary(span.start) && wide.is_char_boundary(span.end));
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let f = parse("\u{feff}pipeline p {\r\n  let a = 1 # c\r\n  let b = 2\r\n}\r\n");
        assert_eq!(f.items.len(), 2);
        let Item::Let(a) = &f.items[0] else { panic!() };
        assert_eq!(a.span.end - a.span.start, "let a = 1".len());
    }

    #[test]
    fn helpers() {
        assert!(is_identifier("seed_2"));
        assert!(!is_identifier("2seed"));
        assert!(!is_identifier("let"));
        assert!(!is_identifier(""));
        assert!(is_kind("synth.ruler.niah"));
        assert!(!is_kind("synth..x"));
        assert!(!is_kind(""));
        assert_eq!(parse_number("100_000"), Some(Ok(int(100_000))));
        assert_eq!(parse_number("-3e-4"), Some(Ok(ExprKind::Float(-3e-4))));
        assert_eq!(parse_number("+7"), Some(Ok(int(7))));
        assert_eq!(parse_number("1_"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number(""), None);
        assert!(matches!(parse_number("99999999999999999999"), Some(Err(_))));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        use crate::dsl::test_edits::{check_error_spans, edits, mutate};

        /// The characters that matter to the DSL's grammar.
        const SYNTAX: &[char] = &[
            '{', '}', '(', ')', '[', ']', '=', ',', '.', '"', '\\', '#', '\n', ' ', '-', '+', '*', '/', '_',
            '0', '9', 'e', 'x', 'é',
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn random_text_never_panics(text in "\\PC{0,200}") {
                let _ = parse_file(&text, 0);
                let _ = parse_expr(&text, 0);
            }

            #[test]
            fn mutated_pipelines_never_panic(edits in edits(SYNTAX)) {
                let text = mutate(EXAMPLE, &edits);
                check_error_spans(&text, &parse_file(&text, 0))?;
            }
        }
    }

    #[test]
    fn unterminated_strings_are_told_apart_from_closed_ones() {
        let t = "a = \"x\\\"y\" b = \"open\nnext";
        assert_eq!(
            unterminated_string(t, 4),
            None,
            "escaped quote inside a closed string"
        );
        let open = t.find("\"open").unwrap();
        assert_eq!(unterminated_string(t, open), Some(t.find('\n').unwrap()));
        assert_eq!(unterminated_string("s = \"end", 4), Some(8));
        assert_eq!(unterminated_string("s = x", 4), None);
    }

    #[test]
    fn the_unclosed_brace_is_found_past_strings_comments_and_indentation() {
        // Braces inside strings and comments do not count; the innermost open `{` is
        // reported when every `}` lines up with its `{`.
        let t = "p {\n  s = f(x = \"{\")  # }\n  sweep a in [1] {\n    t = g()\n  }\n";
        let u = unclosed_brace(t).unwrap();
        assert_eq!((u.open, u.misaligned_close), (2, None));
        // A `}` indented like the outer block points at the inner `{` it closes.
        let t = "p {\n  sweep a in [1] {\n    t = g()\n\n  u = h()\n}\n";
        let u = unclosed_brace(t).unwrap();
        assert_eq!(u.open, t.find("] {").unwrap() + 2);
        assert_eq!(u.misaligned_close, Some(t.rfind('}').unwrap()));
        assert!(unclosed_brace("p {\n}\n").is_none());
    }
}
