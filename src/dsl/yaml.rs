//! The YAML front end: a `.yaml` / `.yml` pipeline → the same surface [`ast::File`] the
//! DSL produces, with spans (byte offsets into the YAML text).
//!
//! The mapping (documented for users in `docs/language.md`, validated by
//! `docs/sieve.schema.json`):
//!
//! ```yaml
//! pipeline: difficulty_budget          # pipeline NAME { … }   (optional in imported files)
//! imports: [shared.yaml]               # import "shared.yaml"  (a string or a list)
//! let:                                 # let seed = 7
//!   seed: 7
//! stages:                              # stage NAME = KIND(inputs…, params…)
//!   pool: {kind: synth.igsm, n: 100000, ops: '${2..12}', seed: '${seed}'}
//!   base: {kind: sft, inputs: [init, pre], steps: 3000}
//!   heatmap: {kind: report, inputs: [acc], params: {kind: heatmap}}  # `params:` holds
//!                                      # parameters named like a reserved key
//! sweeps:                              # sweep VAR in LIST, … { … }
//!   - over: {budget: [256, 1024, 4096], band: [easy, medium, hard]}
//!     stages:
//!       subset: {kind: select, inputs: [scored], budget: '${budget}'}
//! ```
//!
//! Invariants:
//! - items come out in document order: sections in the order their keys are written,
//!   entries in the order they are written (lowering keys stages by name, so declaration
//!   order never changes the IR; `let`s are evaluated in order in both syntaxes);
//! - a scalar whose whole text is `${EXPR}` is a DSL expression ([`parser::parse_expr_at`]),
//!   with spans pointing inside the YAML file; `$${…}` is the literal string `${…}`;
//!   other plain scalars are ints / floats (DSL number syntax, `_` allowed) / bools
//!   (`true`, `false`), everything else — and every quoted scalar — is a string;
//! - entries of `inputs` are references in DSL syntax (`acc`, `acc[budget=1024]`);
//! - nothing panics and nothing recurses without bound: nesting is checked before the YAML
//!   library (whose loader is recursive) sees the text.

use super::ast::{self, Expr, ExprKind, Ident, Item};
use super::{MAX_TOKENS, given_twice, parser};
use crate::diag::{Diagnostic, Diagnostics, FileId, Span};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode, Node};
use marked_yaml::{LoadError, LoaderOptions};

/// Deepest YAML nesting (mappings and lists inside each other) accepted.
pub const MAX_YAML_NESTING: usize = 128;

/// Keys of a pipeline file's top-level mapping.
pub const TOP_KEYS: &[&str] = &["pipeline", "imports", "let", "stages", "sweeps"];
/// Keys of a sweep entry.
pub const SWEEP_KEYS: &[&str] = &["over", "let", "stages", "sweeps"];
/// Keys of a stage entry with a fixed meaning; every other key is a parameter.
pub const STAGE_RESERVED_KEYS: &[&str] = &["kind", "inputs", "params"];

/// Parses a YAML pipeline file. Spans are byte offsets into `text`, in file `file`.
pub fn parse_file(text: &str, file: FileId) -> Result<ast::File, Diagnostics> {
    let mut y = Y::new(text, file);
    y.check_structure()?;
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    // marked-yaml's loader asserts on event orders it believes impossible; a malformed
    // file must never take the process down, so a panic there becomes a diagnostic.
    let loaded = std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(file, text, options));
    let root = match loaded {
        Ok(Ok(root)) => root,
        Ok(Err(e)) => return Err(y.load_error(e).into()),
        Err(_) => {
            return Err(Diagnostic::error("the YAML reader failed on this file")
                .at(Span::new(file, 0, 0), "somewhere in this file")
                .with_note("please report this, with the file that triggers it")
                .into());
        }
    };
    let file_span = Span::new(file, 0, text.len());
    let Some(map) = root.as_mapping() else {
        return Err(
            Diagnostic::error("a YAML pipeline must be a mapping (`key: value` lines)")
                .at(file_span, "not a mapping")
                .into(),
        );
    };
    let mut name = None;
    let mut items = Vec::new();
    y.body(map, Level::Top, &mut name, &mut items);
    let result = ast::File {
        name,
        items,
        span: file_span,
    };
    if y.diags.has_errors() {
        Err(y.diags)
    } else {
        Ok(result)
    }
}

/// Where a body mapping sits: which keys it may hold.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// The file's top-level mapping.
    Top,
    /// A sweep entry.
    Sweep,
}

impl Level {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Level::Top => TOP_KEYS,
            Level::Sweep => SWEEP_KEYS,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Level::Top => "at the top level of a pipeline file",
            Level::Sweep => "in a sweep",
        }
    }
}

/// Conversion context: the text, its char→byte table, the diagnostics found so far.
struct Y<'t> {
    text: &'t str,
    file: FileId,
    /// Byte offset of each char index (YAML markers count chars); empty when ASCII.
    char_bytes: Vec<usize>,
    diags: Diagnostics,
}

impl<'t> Y<'t> {
    fn new(text: &'t str, file: FileId) -> Self {
        let char_bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        Y {
            text,
            file,
            char_bytes,
            diags: Diagnostics::new(),
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end.max(start))
    }

    /// Byte offset of a marker (clamped to the text).
    fn byte(&self, m: Option<&marked_yaml::Marker>) -> usize {
        m.map_or(0, |m| self.char_byte(m.character()))
    }

    /// Byte offset of a char index (clamped to the text).
    fn char_byte(&self, c: usize) -> usize {
        if self.char_bytes.is_empty() {
            c.min(self.text.len())
        } else {
            self.char_bytes.get(c).copied().unwrap_or(self.text.len())
        }
    }

    // ───────────────────────── structure ─────────────────────────

    /// One body mapping (the top level or a sweep), appended to `items`.
    fn body(
        &mut self,
        map: &MarkedMappingNode,
        level: Level,
        name: &mut Option<Ident>,
        items: &mut Vec<Item>,
    ) {
        for (key, value) in map.iter() {
            let k = key.as_str();
            let kspan = self.scalar_extent(key).0;
            if !level.keys().contains(&k) {
                let mut d = Diagnostic::error(format!("unknown key `{k}` {}", level.what()))
                    .at(kspan, "unknown key")
                    .with_suggestion(k, level.keys().iter().copied());
                if level == Level::Sweep && k == "imports" {
                    d = d.with_note("imports belong at the top level of a file");
                } else {
                    d = d.with_note(format!("the keys here are {}", level.keys().join(", ")));
                }
                self.diags.push(d);
                continue;
            }
            if k != "pipeline"
                && let Node::Scalar(v) = value
                && v.may_coerce()
                && is_null(v.as_str())
            {
                // An empty section (`stages:` with everything commented out) is empty.
                continue;
            }
            match k {
                "over" => {}
                "pipeline" => {
                    if let Some(s) = self.expect_scalar(value, "the pipeline name") {
                        *name = self.ident(s, "pipeline name");
                    }
                }
                "imports" => match value {
                    Node::Scalar(s) => self.import(s, items),
                    Node::Sequence(seq) => {
                        for entry in seq.iter() {
                            if let Some(s) = self.expect_scalar(entry, "a file name") {
                                self.import(s, items);
                            }
                        }
                    }
                    Node::Mapping(_) => self.wrong_type(value, "a file name or a list of file names"),
                },
                "let" => {
                    if let Some(m) =
                        self.expect_mapping(value, "a mapping of `name: value` entries under `let:`")
                    {
                        for (k, v) in m.iter() {
                            if let Some(item) = self.let_item(k, v) {
                                items.push(item);
                            }
                        }
                    }
                }
                "stages" => {
                    if let Some(m) =
                        self.expect_mapping(value, "a mapping of `name: {kind: …}` entries under `stages:`")
                    {
                        for (k, v) in m.iter() {
                            if let Some(stage) = self.stage(k, v) {
                                items.push(Item::Stage(stage));
                            }
                        }
                    }
                }
                "sweeps" => {
                    if let Some(seq) =
                        self.expect_sequence(value, "a list of sweeps (`- over: …`) under `sweeps:`")
                    {
                        for entry in seq.iter() {
                            if let Some(sweep) = self.sweep(entry) {
                                items.push(Item::Sweep(sweep));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn import(&mut self, s: &MarkedScalarNode, items: &mut Vec<Item>) {
        let span = self.scalar_extent(s).0;
        items.push(Item::Import(ast::Import {
            path: s.as_str().to_string(),
            span,
        }));
    }

    fn let_item(&mut self, key: &MarkedScalarNode, value: &Node) -> Option<Item> {
        let name = self.ident(key, "variable name");
        let value = self.keyed_value(key, value);
        let name = name?;
        let span = name.span.to(value.span);
        Some(Item::Let(ast::Let { name, value, span }))
    }

    fn stage(&mut self, key: &MarkedScalarNode, node: &Node) -> Option<ast::StageDecl> {
        let name = self.ident(key, "stage name");
        let Some(map) = node.as_mapping() else {
            self.wrong_type(node, "a stage: `{kind: KIND, inputs: [...], param: value, ...}`");
            return None;
        };
        let node_span = self.node_span(node);
        let mut kind = None;
        let mut inputs = Vec::new();
        let mut params: Vec<ast::NamedArg> = Vec::new();
        for (k, v) in map.iter() {
            match k.as_str() {
                "kind" => {
                    if let Some(s) = self.expect_scalar(v, "a stage kind such as `sft`") {
                        let (span, _) = self.scalar_extent(s);
                        if parser::is_kind(s.as_str()) {
                            kind = Some(Ident {
                                name: s.as_str().to_string(),
                                span,
                            });
                        } else {
                            self.diags.push(
                                Diagnostic::error(format!("`{}` is not a stage kind", s.as_str()))
                                    .at(span, "expected a dotted name such as `sft` or `synth.igsm`"),
                            );
                        }
                    }
                }
                "inputs" => match v {
                    Node::Sequence(seq) => {
                        for entry in seq.iter() {
                            if let Some(e) = self.reference(entry) {
                                inputs.push(e);
                            }
                        }
                    }
                    _ => {
                        if let Some(e) = self.reference(v) {
                            inputs.push(e);
                        }
                    }
                },
                "params" => {
                    if let Some(m) =
                        self.expect_mapping(v, "a mapping of `name: value` entries under `params:`")
                    {
                        for (pk, pv) in m.iter() {
                            self.param(pk, pv, &mut params);
                        }
                    }
                }
                _ => self.param(k, v, &mut params),
            }
        }
        let name = name?;
        let Some(kind) = kind else {
            self.diags.push(
                Diagnostic::error(format!("stage `{}` has no `kind`", name.name))
                    .at(name.span, "this stage")
                    .with_note("write e.g. `kind: sft` in the stage's mapping"),
            );
            return None;
        };
        let span = name.span.to(node_span);
        Some(ast::StageDecl {
            name,
            kind,
            inputs,
            params,
            span,
        })
    }

    fn param(&mut self, key: &MarkedScalarNode, value: &Node, params: &mut Vec<ast::NamedArg>) {
        let name = self.ident(key, "parameter name");
        let value = self.keyed_value(key, value);
        let Some(name) = name else { return };
        if let Some(prev) = params.iter().find(|a| a.name.name == name.name) {
            self.diags.push(given_twice("parameter", &name, prev.name.span));
            return;
        }
        let span = name.span.to(value.span);
        params.push(ast::NamedArg { name, value, span });
    }

    fn sweep(&mut self, node: &Node) -> Option<ast::Sweep> {
        let map = self.expect_mapping(node, "a sweep: `{over: {VAR: [values…]}, stages: …}`")?;
        let span = self.node_span(node);
        let mut vars = Vec::new();
        match map.get_node("over") {
            None => {
                self.diags.push(
                    Diagnostic::error("a sweep needs `over:`, the variables it ranges over")
                        .at(span, "this sweep")
                        .with_note("write e.g. `over: {budget: [256, 1024]}`"),
                );
            }
            Some(over) => {
                if let Some(m) =
                    self.expect_mapping(over, "a mapping of `VAR: [values…]` entries under `over:`")
                {
                    if m.is_empty() {
                        self.diags.push(
                            Diagnostic::error("`over:` is empty")
                                .at(self.node_span(over), "no sweep variable"),
                        );
                    }
                    for (k, v) in m.iter() {
                        let name = self.ident(k, "sweep variable");
                        let values = self.keyed_value(k, v);
                        if let Some(name) = name {
                            let vspan = name.span.to(values.span);
                            vars.push(ast::SweepVar {
                                name,
                                values,
                                span: vspan,
                            });
                        }
                    }
                }
            }
        }
        let mut body = Vec::new();
        let mut unused_name = None;
        self.body(map, Level::Sweep, &mut unused_name, &mut body);
        Some(ast::Sweep { vars, body, span })
    }

    // ───────────────────────── values ─────────────────────────

    /// A YAML value as an expression (see the module docs for the rules).
    fn value(&mut self, node: &Node) -> Expr {
        match node {
            Node::Scalar(s) => self.scalar_value(s),
            Node::Sequence(seq) => {
                let items = seq.iter().map(|n| self.value(n)).collect();
                Expr {
                    kind: ExprKind::List(items),
                    span: self.node_span(node),
                }
            }
            Node::Mapping(_) => {
                let span = self.node_span(node);
                self.diags.push(
                    Diagnostic::error("a mapping is not a value")
                        .at(span, "expected a number, string, bool, list or `${…}` expression"),
                );
                Expr {
                    kind: ExprKind::Int(0),
                    span,
                }
            }
        }
    }

    /// The value of `key: value`; an empty value is reported at the key (YAML places an
    /// empty value's marker at the next token, which would be misleading).
    fn keyed_value(&mut self, key: &MarkedScalarNode, node: &Node) -> Expr {
        if let Node::Scalar(s) = node
            && s.may_coerce()
            && is_null(s.as_str())
        {
            let span = self.scalar_extent(key).0;
            self.diags.push(
                Diagnostic::error(format!("`{}` has no value", key.as_str()))
                    .at(span, "a value is expected after `:`"),
            );
            return Expr {
                kind: ExprKind::Int(0),
                span,
            };
        }
        self.value(node)
    }

    fn scalar_value(&mut self, s: &MarkedScalarNode) -> Expr {
        let (span, content_at) = self.scalar_extent(s);
        let text = s.as_str();
        if let Some(inner) = text.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            return self.embedded_expr(inner, span, content_at.map(|c| c + 2));
        }
        let kind = if let Some(literal) = text.strip_prefix("$${") {
            ExprKind::Str(format!("${{{literal}"))
        } else if !s.may_coerce() {
            ExprKind::Str(text.to_string())
        } else if is_null(text) {
            self.diags.push(
                Diagnostic::error("missing value")
                    .at(span, "a value is expected here (YAML null is not a value)"),
            );
            ExprKind::Int(0)
        } else if matches!(text, "true" | "True" | "TRUE") {
            ExprKind::Bool(true)
        } else if matches!(text, "false" | "False" | "FALSE") {
            ExprKind::Bool(false)
        } else {
            match parser::parse_number(text) {
                Some(Ok(k)) => k,
                Some(Err(msg)) => {
                    self.diags
                        .push(Diagnostic::error(msg).at(span, "number out of range"));
                    ExprKind::Int(0)
                }
                None => ExprKind::Str(text.to_string()),
            }
        };
        Expr { kind, span }
    }

    /// An input reference: the scalar's text (or the inside of `${…}`) in DSL syntax.
    fn reference(&mut self, node: &Node) -> Option<Expr> {
        let Node::Scalar(s) = node else {
            self.wrong_type(node, "a stage reference such as `pool` or `acc[budget=1024]`");
            return None;
        };
        let (span, content_at) = self.scalar_extent(s);
        let text = s.as_str();
        Some(match text.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            Some(inner) => self.embedded_expr(inner, span, content_at.map(|c| c + 2)),
            None => self.embedded_expr(text, span, content_at),
        })
    }

    /// Parses DSL text found inside a scalar. With `at` (the byte offset of `text` in the
    /// file, when the scalar's source spells it verbatim) spans point inside the scalar;
    /// otherwise (escapes, folded lines) every span is the whole scalar's.
    fn embedded_expr(&mut self, text: &str, scalar: Span, at: Option<usize>) -> Expr {
        let exact = at.filter(|&a| self.text.get(a..a + text.len()) == Some(text));
        let result = parser::parse_expr_at(text, self.file, exact.unwrap_or(0));
        match result {
            Ok(mut e) => {
                if exact.is_none() {
                    respan(&mut e, scalar);
                }
                e
            }
            Err(diags) => {
                for mut d in diags.0 {
                    if exact.is_none() {
                        if let Some((span, _)) = &mut d.primary {
                            *span = scalar;
                        }
                        d.secondary.clear();
                    }
                    self.diags.push(d);
                }
                Expr {
                    kind: ExprKind::Int(0),
                    span: scalar,
                }
            }
        }
    }

    // ───────────────────────── helpers ─────────────────────────

    /// A key as a DSL name (reported when it is not one).
    fn ident(&mut self, s: &MarkedScalarNode, role: &str) -> Option<Ident> {
        let (span, _) = self.scalar_extent(s);
        let name = s.as_str();
        if parser::is_identifier(name) {
            return Some(Ident {
                name: name.to_string(),
                span,
            });
        }
        let why = if parser::KEYWORDS.contains(&name) {
            format!("`{name}` is a reserved word")
        } else {
            "a name is letters, digits and `_`, not starting with a digit".to_string()
        };
        self.diags
            .push(Diagnostic::error(format!("`{name}` is not a valid {role}")).at(span, why));
        None
    }

    /// `node` as the type `as_type` reads (a scalar, a mapping, a list), or `None` after
    /// reporting that `what` was expected there.
    fn expect<'n, T>(
        &mut self,
        node: &'n Node,
        what: &str,
        as_type: impl FnOnce(&'n Node) -> Option<&'n T>,
    ) -> Option<&'n T> {
        let found = as_type(node);
        if found.is_none() {
            self.wrong_type(node, what);
        }
        found
    }

    fn expect_scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        self.expect(node, what, Node::as_scalar)
    }

    fn expect_mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        self.expect(node, what, Node::as_mapping)
    }

    fn expect_sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedSequenceNode> {
        self.expect(node, what, Node::as_sequence)
    }

    fn wrong_type(&mut self, node: &Node, expected: &str) {
        let found = match node {
            Node::Scalar(s) if s.may_coerce() && is_null(s.as_str()) => "an empty value",
            Node::Scalar(_) => "a scalar",
            Node::Mapping(_) => "a mapping",
            Node::Sequence(_) => "a list",
        };
        let span = self.node_span(node);
        self.diags
            .push(Diagnostic::error(format!("expected {expected}, found {found}")).at(span, "wrong type"));
    }

    /// The span of a scalar as written (quotes included) and the byte offset of its
    /// content when the source spells the content verbatim (no escapes, one line).
    fn scalar_extent(&self, s: &MarkedScalarNode) -> (Span, Option<usize>) {
        let start = self.byte(s.span().start());
        let content = s.as_str();
        let rest = &self.text[start..];
        // Only where needed: finding it for every scalar of a long line (a flow list of a
        // million items) would take quadratic time.
        let line_end = || rest.find('\n').map_or(self.text.len(), |i| start + i);
        match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let close = closing_quote(&rest[1..], q).map(|i| start + 1 + i);
                let verbatim = rest[1..].starts_with(content) && close == Some(start + 1 + content.len());
                let end = close.map_or_else(line_end, |c| c + 1);
                (self.span(start, end), verbatim.then_some(start + 1))
            }
            _ if !content.is_empty() && rest.starts_with(content) => {
                (self.span(start, start + content.len()), Some(start))
            }
            _ if s.may_coerce() && is_null(content) => {
                // An empty value: YAML puts its marker at the next token; point back at
                // the `:` or `-` that introduced it instead.
                let before = self.text[..start].trim_end();
                match before.char_indices().next_back() {
                    Some((i, c)) => (self.span(i, i + c.len_utf8()), None),
                    None => (self.span(start, start), None),
                }
            }
            _ => {
                // Folded plain scalars, block scalars, empty values: the first line.
                let end = line_end().max(start);
                (self.span(start, end), None)
            }
        }
    }

    /// The span of any node: scalars as written; collections from their start marker to
    /// the end of their last child (or closing bracket).
    fn node_span(&self, node: &Node) -> Span {
        match node {
            Node::Scalar(s) => self.scalar_extent(s).0,
            // Block collections' start markers may sit after their first key, so the
            // children's extents are taken into account at both ends.
            Node::Sequence(seq) => {
                let mut start = self.byte(seq.span().start());
                let mut end = start + 1;
                for child in seq.iter() {
                    let c = self.node_span(child);
                    start = start.min(c.start);
                    end = end.max(c.end);
                }
                self.collection_span(start, end, seq.span().end())
            }
            Node::Mapping(map) => {
                let mut start = self.byte(map.span().start());
                let mut end = start + 1;
                for (k, v) in map.iter() {
                    let k = self.scalar_extent(k).0;
                    start = start.min(k.start);
                    end = end.max(k.end).max(self.node_span(v).end);
                }
                self.collection_span(start, end, map.span().end())
            }
        }
    }

    fn collection_span(&self, start: usize, end: usize, end_marker: Option<&marked_yaml::Marker>) -> Span {
        let mut end = end.min(self.text.len());
        if end_marker.is_some() {
            let close = self.byte(end_marker);
            if matches!(self.text.as_bytes().get(close), Some(b']' | b'}')) {
                end = end.max(close + 1);
            }
        }
        self.span(start.min(self.text.len()), end)
    }

    fn load_error(&self, e: LoadError) -> Diagnostic {
        let at = |m: &marked_yaml::Marker| {
            let b = self.byte(Some(m));
            let len = self.text[b..].chars().next().map_or(0, char::len_utf8);
            self.span(b, b + len)
        };
        match e {
            LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
                Diagnostic::error("a YAML pipeline must be a mapping (`key: value` lines)")
                    .at(at(&m), "not a mapping")
            }
            LoadError::UnexpectedAnchor(m) => {
                // The marker is the anchored node's; point at the `&name` before it.
                let b = self.byte(Some(&m));
                let line_start = self.text[..b].rfind('\n').map_or(0, |i| i + 1);
                let span = match self.text[line_start..b].rfind('&') {
                    Some(i) => {
                        let amp = line_start + i;
                        let len = self.text[amp..]
                            .find([' ', '\t', '\n'])
                            .unwrap_or(self.text.len() - amp);
                        self.span(amp, amp + len)
                    }
                    None => at(&m),
                };
                Diagnostic::error("YAML anchors and aliases are not supported")
                    .at(span, "anchor")
                    .with_note("use `let` variables to share values")
            }
            LoadError::MappingKeyMustBeScalar(m) => {
                Diagnostic::error("a mapping key must be a plain name").at(at(&m), "complex key")
            }
            LoadError::UnexpectedTag(m) => {
                Diagnostic::error("YAML tags (`!tag`) are not supported").at(at(&m), "tag")
            }
            LoadError::ScanError(m, err) => Diagnostic::error(format!("invalid YAML: {}", err.info()))
                .at(at(&m), "here")
                .with_note(
                    "inside `{…}` / `[…]` quote values that contain `,`, `[`, `]`, `{`, `}` or `: `, \
                     e.g. '${2..12}' or 'acc[budget=1024, band=hard]'",
                ),
            LoadError::DuplicateKey(inner) => {
                let first = self.scalar_extent(&inner.prev_key).0;
                let second = self.scalar_extent(&inner.key).0;
                Diagnostic::error(format!("duplicate key `{}`", inner.key.as_str()))
                    .at(second, "defined again here")
                    .with_secondary(first, "first defined here")
            }
        }
    }

    /// Checks what the YAML loader would not: a file is one document (marked-yaml reads
    /// the first and silently drops the others), nested at most [`MAX_YAML_NESTING`] deep
    /// (marked-yaml builds its tree through a recursive loader, so depth is measured first
    /// on yaml-rust2's iterative event stream), of at most [`MAX_TOKENS`] values (its
    /// memory grows with them). Syntax errors are left for the real load.
    fn check_structure(&self) -> Result<(), Diagnostics> {
        use yaml_rust2::Event;
        let mut parser = yaml_rust2::parser::Parser::new_from_str(self.text);
        let mut depth = 0usize;
        let mut documents = 0usize;
        let mut values = 0usize;
        loop {
            let event = parser.next_token();
            if let Ok((Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..), mark)) = &event
            {
                values += 1;
                if values > MAX_TOKENS {
                    let b = self.char_byte(mark.index());
                    let len = self.text[b..].chars().next().map_or(0, char::len_utf8);
                    return Err(Diagnostic::error(format!(
                        "this file has more than {MAX_TOKENS} YAML values (scalars, lists, mappings)"
                    ))
                    .at(self.span(b, b + len), "the limit is reached here")
                    .with_note("a pipeline describes stages; put data in a file a stage reads")
                    .into());
                }
            }
            match event {
                Ok((Event::DocumentStart, mark)) => {
                    documents += 1;
                    if documents > 1 {
                        let b = self.char_byte(mark.index());
                        let len = if self.text[b..].starts_with("---") { 3 } else { 0 };
                        return Err(Diagnostic::error("a pipeline file holds one YAML document, but a second one starts here")
                            .at(self.span(b, b + len), "second document")
                            .with_note("remove the `---` line and merge the two parts, or move the second into a file of its own and `import` it")
                            .into());
                    }
                }
                Ok((Event::SequenceStart(..) | Event::MappingStart(..), mark)) => {
                    depth += 1;
                    if depth > MAX_YAML_NESTING {
                        let b = self.char_byte(mark.index());
                        return Err(Diagnostic::error(format!(
                            "YAML nested more than {MAX_YAML_NESTING} levels deep"
                        ))
                        .at(self.span(b, b + 1), "too deep")
                        .into());
                    }
                }
                Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
                Ok((Event::StreamEnd, _)) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    }
}

/// Whether a plain scalar is YAML's null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Byte index (in `s`) of the quote closing a YAML quoted scalar whose inside starts `s`.
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if q == '"' && b == b'\\' {
            i += 2;
            continue;
        }
        if b == q as u8 {
            if q == '\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Gives every node of `e` the span `span` (used when positions inside a scalar are unknown).
fn respan(e: &mut Expr, span: Span) {
    e.span = span;
    match &mut e.kind {
        ExprKind::Index { base, selectors } => {
            base.span = span;
            for (k, v) in selectors {
                k.span = span;
                respan(v, span);
            }
        }
        ExprKind::List(items) => items.iter_mut().for_each(|i| respan(i, span)),
        ExprKind::Range(a, b) => {
            respan(a, span);
            respan(b, span);
        }
        ExprKind::Chain { first, rest } => {
            respan(first, span);
            rest.iter_mut().for_each(|(_, e)| respan(e, span));
        }
        ExprKind::Neg(a) => respan(a, span),
        ExprKind::Call { func, args } => {
            func.span = span;
            args.iter_mut().for_each(|a| respan(a, span));
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Name(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::testutil::Says::{Has, Is, Starts};
    use crate::dsl::testutil::{check_errors_at, erase_spans, first_error_at};

    /// The DESIGN.md example in YAML (every construct, `${…}` in both quoting styles).
    pub(crate) const EXAMPLE: &str = r#"# difficulty vs budget
imports: [shared.sieve, more.yaml]
pipeline: difficulty_budget
let:
  seed: 7
stages:
  pool:   {kind: synth.igsm, n: 100_000, ops: '${2..12}', seed: '${seed}'}
  test:   {kind: synth.igsm, n: 2_000, ops: '${2..12}', seed: "${seed + 1}"}
  init:   {kind: model.init, arch: tiny, tokenizer: chars, seed: '${seed}'}
  pre:    {kind: synth.igsm, n: 50_000, ops: '${2..6}', seed: '${seed + 2}'}
  base:   {kind: sft, inputs: [init, pre], steps: 3000}
  scored:
    kind: score
    inputs: pool
    by: ${column("ops")}
  heatmap:
    kind: report
    inputs: [acc]
    params: {kind: '${heatmap}'}
    x: ${band}
    y: ${budget}
    value: ${accuracy}
  one: {kind: report, inputs: ['acc[budget=1024, band=hard, k=1]']}
sweeps:
  - over: {budget: [256, 1024, 4096], band: [easy, medium, hard]}
    stages:
      subset: {kind: select, inputs: [scored], budget: '${budget}', band: '${band}', bands: 3, nested: true}
      tuned: {kind: sft, inputs: [base, subset], epochs: 3, lr: 3e-4}
    sweeps:
      - over: {k: '${1..2}'}
        let: {kk: '${k * 2}'}
        stages:
          acc: {kind: evaluate, inputs: [tuned, test], metric: '${exact_match}', slice_by: ops}
"#;

    /// The same pipeline in the DSL, items in the same order.
    const EXAMPLE_DSL: &str = r#"import "shared.sieve"
import "more.yaml"
pipeline difficulty_budget {
  let seed = 7
  stage pool   = synth.igsm(n = 100_000, ops = 2..12, seed = seed)
  stage test   = synth.igsm(n = 2_000, ops = 2..12, seed = seed + 1)
  stage init   = model.init(arch = "tiny", tokenizer = "chars", seed = seed)
  stage pre    = synth.igsm(n = 50_000, ops = 2..6, seed = seed + 2)
  stage base   = sft(init, pre, steps = 3000)
  stage scored = score(pool, by = column("ops"))
  stage heatmap = report(acc, kind = heatmap, x = band, y = budget, value = accuracy)
  stage one = report(acc[budget=1024, band=hard, k=1])
  sweep budget in [256, 1024, 4096], band in ["easy", "medium", "hard"] {
    stage subset = select(scored, budget = budget, band = band, bands = 3, nested = true)
    stage tuned  = sft(base, subset, epochs = 3, lr = 3e-4)
    sweep k in 1..2 {
      let kk = k * 2
      stage acc = evaluate(tuned, test, metric = exact_match, slice_by = "ops")
    }
  }
}
"#;

    fn parse(text: &str) -> ast::File {
        match parse_file(text, 0) {
            Ok(f) => f,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        match parse_file(text, 0) {
            Ok(f) => panic!("expected an error, got {f:?}"),
            Err(d) => d.0,
        }
    }

    /// The first diagnostic, checked to point at the first occurrence of `needle`.
    fn err_at(text: &str, needle: &str) -> Diagnostic {
        first_error_at(text, parse_file(text, 0), needle)
    }

    fn snippet(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    #[test]
    fn yaml_and_dsl_give_the_same_ast() {
        let yaml = erase_spans(parse(EXAMPLE));
        let dsl = match crate::dsl::parser::parse_file(EXAMPLE_DSL, 0) {
            Ok(f) => erase_spans(f),
            Err(d) => panic!("{d:?}"),
        };
        assert_eq!(yaml.name, dsl.name);
        assert_eq!(yaml.items.len(), dsl.items.len());
        for (y, d) in yaml.items.iter().zip(&dsl.items) {
            assert_eq!(y, d);
        }
    }

    #[test]
    fn spans_point_into_the_yaml() {
        let f = parse(EXAMPLE);
        let name = f.name.as_ref().expect("name");
        assert_eq!(snippet(EXAMPLE, name.span), "difficulty_budget");
        let Item::Import(imp) = &f.items[0] else { panic!() };
        assert_eq!(snippet(EXAMPLE, imp.span), "shared.sieve");
        let Item::Let(l) = &f.items[2] else { panic!() };
        assert_eq!(snippet(EXAMPLE, l.span), "seed: 7");
        let Item::Stage(test) = &f.items[4] else { panic!() };
        assert_eq!(snippet(EXAMPLE, test.kind.span), "synth.igsm");
        let seed = &test.params[2];
        assert_eq!(snippet(EXAMPLE, seed.name.span), "seed");
        assert_eq!(snippet(EXAMPLE, seed.value.span), "seed + 1");
        let ExprKind::Chain { first, rest } = &seed.value.kind else {
            panic!()
        };
        assert_eq!(snippet(EXAMPLE, first.span), "seed");
        assert_eq!(snippet(EXAMPLE, rest[0].1.span), "1");
        let Item::Stage(base) = &f.items[7] else { panic!() };
        assert_eq!(snippet(EXAMPLE, base.inputs[1].span), "pre");
        assert!(snippet(EXAMPLE, base.span).starts_with("base:   {kind: sft"));
        assert!(snippet(EXAMPLE, base.span).ends_with("steps: 3000}"));
        let Item::Stage(scored) = &f.items[8] else {
            panic!()
        };
        assert_eq!(snippet(EXAMPLE, scored.params[0].value.span), r#"column("ops")"#);
        let Item::Stage(one) = &f.items[10] else { panic!() };
        assert_eq!(
            snippet(EXAMPLE, one.inputs[0].span),
            "acc[budget=1024, band=hard, k=1]"
        );
        let Item::Sweep(sw) = &f.items[11] else { panic!() };
        assert_eq!(snippet(EXAMPLE, sw.vars[0].name.span), "budget");
        assert_eq!(snippet(EXAMPLE, sw.vars[1].values.span), "[easy, medium, hard]");
    }

    #[test]
    fn scalars() {
        let f = parse(
            "let:\n  a: 1\n  b: -2\n  c: 1.5\n  d: 1e-6\n  e: true\n  f: 'true'\n  g: word\n  h: \"7\"\n  i: $${x}\n  j: [1, [2]]\n  k: 1_000\n  l: False\n  m: '${-9223372036854775808}'\n",
        );
        let values: Vec<ExprKind> = f
            .items
            .iter()
            .map(|i| match i {
                Item::Let(l) => l.value.kind.clone(),
                _ => panic!(),
            })
            .collect();
        let int = ExprKind::Int;
        let expr = |i: i64| Expr {
            kind: int(i),
            span: Span::default(),
        };
        assert_eq!(values[0], int(1));
        assert_eq!(values[1], int(-2));
        assert_eq!(values[2], ExprKind::Float(1.5));
        assert_eq!(values[3], ExprKind::Float(1e-6));
        assert_eq!(values[4], ExprKind::Bool(true));
        assert_eq!(values[5], ExprKind::Str("true".into()));
        assert_eq!(values[6], ExprKind::Str("word".into()));
        assert_eq!(values[7], ExprKind::Str("7".into()));
        assert_eq!(values[8], ExprKind::Str("${x}".into()));
        let ExprKind::List(items) = &values[9] else {
            panic!()
        };
        assert_eq!(items[0].kind, int(1));
        assert!(matches!(&items[1].kind, ExprKind::List(inner) if inner[0].kind == expr(2).kind));
        assert_eq!(values[10], int(1000));
        assert_eq!(values[11], ExprKind::Bool(false));
        assert_eq!(values[12], int(i64::MIN));
    }

    #[test]
    fn escaped_expression_spans_fall_back_to_the_scalar() {
        let text = "let:\n  a: \"${\\x73eed}\"\n";
        let f = parse(text);
        let Item::Let(l) = &f.items[0] else { panic!() };
        assert_eq!(l.value.kind, ExprKind::Name("seed".into()));
        assert_eq!(snippet(text, l.value.span), "\"${\\x73eed}\"");
    }

    #[test]
    fn non_ascii_offsets() {
        let text = "# é ü ✓\nlet:\n  note: naïve ✓  # ✓\n  b: '${x + 1}'\n";
        let f = parse(text);
        let Item::Let(note) = &f.items[0] else { panic!() };
        assert_eq!(snippet(text, note.value.span), "naïve ✓");
        let Item::Let(l) = &f.items[1] else { panic!() };
        assert_eq!(snippet(text, l.value.span), "x + 1");
        let d = err_at("# ✓\nlet: {ok: 1, bad name: 2}\n", "bad name");
        assert!(d.message.contains("not a valid variable name"), "{}", d.message);
    }

    #[test]
    fn structural_errors() {
        let d = err_at("pipeline: p\nstagse: {}\n", "stagse");
        assert_eq!(
            d.message,
            "unknown key `stagse` at the top level of a pipeline file"
        );
        assert!(
            d.notes.iter().any(|n| n.contains("did you mean `stages`")),
            "{:?}",
            d.notes
        );
        let cases = [
            (
                "stages:\n  a: {inputs: [x], n: 3}\n",
                "a:",
                Is("stage `a` has no `kind`"),
            ),
            ("stages:\n  a: sft\n", "sft", Starts("expected a stage")),
            ("sweeps:\n  - stages: {}\n", "stages", Has("needs `over:`")),
            (
                "sweeps:\n  - over: {b: [1]}\n    imports: [x.sieve]\n",
                "imports",
                Has("unknown key `imports` in a sweep"),
            ),
            (
                "stages:\n  a: {kind: 'no good'}\n",
                "'no good'",
                Has("is not a stage kind"),
            ),
            (
                "stages:\n  a: {kind: sft, lr: 1, params: {lr: 2}}\n",
                "lr: 2",
                Is("parameter `lr` is given twice"),
            ),
            ("sweeps:\n  -\n", "-\n", Has("found an empty value")),
            ("pipeline: [a]\n", "[a", Has("pipeline name")),
        ];
        check_errors_at(|text| parse_file(text, 0), &cases);
        assert!(parse_file("stages:\nsweeps: []\nlet: # none yet\n", 0).is_ok_and(|f| f.items.is_empty()));
    }

    #[test]
    fn value_errors() {
        let cases = [
            ("let: [1, 2]\n", "[1", Has("found a list")),
            ("let:\n  a: {b: 1}\n", "{b", Is("a mapping is not a value")),
            ("let:\n  a:\n  b: 2\n", "a:", Is("`a` has no value")),
            ("let:\n  a: [1, ~]\n", "~", Is("missing value")),
            ("let:\n  let: 1\n", "let: 1", Has("not a valid variable name")),
            ("let:\n  a: 99999999999999999999\n", "999", Has("does not fit")),
        ];
        check_errors_at(|text| parse_file(text, 0), &cases);
    }

    #[test]
    fn yaml_level_errors() {
        let d = err_at("let:\n  a: 1\n  a: 2\n", "a: 2");
        assert_eq!(d.message, "duplicate key `a`");
        assert_eq!(d.secondary.len(), 1);
        let cases = [
            ("- a\n- b\n", "- a", Has("must be a mapping")),
            ("let:\n  a: &x 1\n  b: *x\n", "&x", Has("anchors")),
            (
                "pipeline: a\nlet: {x: 1}\n---\npipeline: b\n",
                "---\npipeline: b",
                Has("one YAML document"),
            ),
            (
                "pipeline: a\n...\n---\npipeline: b\n",
                "---",
                Has("a second one starts here"),
            ),
        ];
        check_errors_at(|text| parse_file(text, 0), &cases);
        let d = errors("let: {a: [1, 2}\n").remove(0);
        assert!(d.message.starts_with("invalid YAML"), "{}", d.message);
        let deep = format!("let:\n  a: {}1{}\n", "[".repeat(150), "]".repeat(150));
        let d = errors(&deep).remove(0);
        assert!(d.message.contains("nested more than"), "{}", d.message);
        let deep = format!("let:\n  a:\n    {}1\n", "- ".repeat(20_000));
        let d = errors(&deep).remove(0);
        assert!(d.message.contains("nested more than"), "{}", d.message);
        assert!(parse_file("", 0).is_ok_and(|f| f.items.is_empty() && f.name.is_none()));
        // One document, explicitly started and ended, is fine.
        assert!(parse_file("---\npipeline: a\n...\n", 0).is_ok());
        // Values are counted before the YAML reader builds its tree.
        let many = format!("let:\n  x: [{}]\n", vec!["1"; MAX_TOKENS].join(","));
        let d = errors(&many).remove(0);
        assert!(
            d.message.contains("more than 250000 YAML values"),
            "{}",
            d.message
        );
    }

    #[test]
    fn embedded_expression_errors_point_inside_the_yaml() {
        let text = "let:\n  a: '${1 +}'\n";
        let d = err_at(text, "}'");
        assert!(d.message.starts_with("expected an expression"), "{}", d.message);
        let text = "stages:\n  s: {kind: sft, inputs: ['acc[x 1]']}\n";
        let d = err_at(text, "1]");
        assert!(d.message.contains("`=` after the selector name"), "{}", d.message);
    }

    #[test]
    fn all_errors_are_reported() {
        let diags = errors("let:\n  a: 99999999999999999999\nstages:\n  s: {n: 1}\nbogus: 1\n");
        assert_eq!(diags.len(), 3, "{diags:?}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        use crate::dsl::test_edits::{check_error_spans, edits, mutate};

        /// The characters that matter to YAML (and to the expressions inside it).
        const SYNTAX: &[char] = &[
            '{', '}', '[', ']', ':', ',', '-', '?', '&', '*', '!', '|', '>', '\'', '"', '#', '\n', ' ', '\t',
            '$', '%', '@', '`', '.', '0', 'é',
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn random_text_never_panics(text in "\\PC{0,200}") {
                let _ = parse_file(&text, 0);
            }

            #[test]
            fn mutated_pipelines_never_panic(edits in edits(SYNTAX)) {
                let text = mutate(EXAMPLE, &edits);
                check_error_spans(&text, &parse_file(&text, 0))?;
            }
        }
    }
}
