//! Front ends: the pest DSL ([`parser`]) and YAML ([`yaml`]) both produce one surface
//! [`ast::File`] whose nodes carry spans. Loading a pipeline resolves `import`s
//! recursively ([`load`]); [`schema`] generates the JSON Schema of the YAML form from the
//! stage registry.
//!
//! Invariant: the two syntaxes are parallel — the same pipeline written in either produces
//! the same item structure (same names, same order), so both lower to identical IR.

pub mod ast;
pub mod load;
pub mod parser;
pub mod schema;
pub mod yaml;

#[cfg(test)]
mod test_edits;

pub use load::{load_pipeline, load_str};

use crate::diag::{Diagnostic, Span};

/// Most tokens a DSL text may hold (names, numbers, strings, each punctuation mark), and
/// most values (scalars, lists, mappings) a YAML file may hold. Both parsers build some
/// hundreds of bytes per token, so this is what bounds their memory (to about 100 MB)
/// and time whatever a file holds; it is counted by a light scan before they run. A
/// pipeline of ten thousand stages stays well under it: data belongs in files stages read.
pub const MAX_TOKENS: usize = 250_000;

/// The error of a name given twice where names must differ (`what`: a parameter of a
/// stage, a selector of an index): points at the repeat, and at the first as secondary.
pub(crate) fn given_twice(what: &str, again: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::error(format!("{what} `{}` is given twice", again.name))
        .at(again.span, "given again here")
        .with_secondary(first, "first given here")
}

/// Test helpers shared by the front ends' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::ast::{Expr, ExprKind, File, Item};
    use crate::diag::{Diagnostic, Diagnostics, Span};

    /// The first error of parsing `text`, checked to point at the first occurrence of
    /// `needle` in it.
    pub(crate) fn first_error_at<T: std::fmt::Debug>(
        text: &str,
        parsed: Result<T, Diagnostics>,
        needle: &str,
    ) -> Diagnostic {
        let d = match parsed {
            Ok(f) => panic!("expected an error, got {f:?}"),
            Err(d) => d.0.into_iter().next().expect("a diagnostic"),
        };
        let (span, _) = d.primary.clone().expect("a primary span");
        let at = text.find(needle).expect("needle in text");
        let rest = &text[span.start.min(text.len())..];
        assert_eq!(span.start, at, "{} (at {rest:?})", d.message);
        d
    }

    /// Checks each case `(text, needle, says)`: the first error of `parse(text)` points at
    /// the first `needle` in the text, and its message says what `says` expects.
    pub(crate) fn check_errors_at<T: std::fmt::Debug>(
        parse: impl Fn(&str) -> Result<T, Diagnostics>,
        cases: &[(&str, &str, Says)],
    ) {
        for (text, needle, says) in cases {
            says.check(text, &first_error_at(text, parse(text), needle).message);
        }
    }

    /// What a test expects an error message to say.
    #[derive(Debug)]
    pub(crate) enum Says {
        /// The whole message.
        Is(&'static str),
        /// How the message begins.
        Starts(&'static str),
        /// A part of the message.
        Has(&'static str),
    }

    impl Says {
        /// Panics, naming the pipeline `text`, unless `message` says what is expected.
        pub(crate) fn check(&self, text: &str, message: &str) {
            let says = match self {
                Says::Is(m) => message == *m,
                Says::Starts(m) => message.starts_with(m),
                Says::Has(m) => message.contains(m),
            };
            assert!(says, "{text:?}: the message {message:?} is not {self:?}");
        }
    }

    /// The file with every span reset, for comparing the two syntaxes' ASTs.
    pub(crate) fn erase_spans(mut f: File) -> File {
        f.span = Span::default();
        if let Some(n) = &mut f.name {
            n.span = Span::default();
        }
        f.items.iter_mut().for_each(item);
        f
    }

    fn item(i: &mut Item) {
        match i {
            Item::Import(imp) => imp.span = Span::default(),
            Item::Let(l) => {
                l.span = Span::default();
                l.name.span = Span::default();
                expr(&mut l.value);
            }
            Item::Stage(s) => {
                s.span = Span::default();
                s.name.span = Span::default();
                s.kind.span = Span::default();
                s.inputs.iter_mut().for_each(expr);
                for p in &mut s.params {
                    p.span = Span::default();
                    p.name.span = Span::default();
                    expr(&mut p.value);
                }
            }
            Item::Sweep(sw) => {
                sw.span = Span::default();
                for v in &mut sw.vars {
                    v.span = Span::default();
                    v.name.span = Span::default();
                    expr(&mut v.values);
                }
                sw.body.iter_mut().for_each(item);
            }
        }
    }

    fn expr(e: &mut Expr) {
        e.span = Span::default();
        match &mut e.kind {
            ExprKind::Index { base, selectors } => {
                base.span = Span::default();
                for (k, v) in selectors {
                    k.span = Span::default();
                    expr(v);
                }
            }
            ExprKind::List(items) => items.iter_mut().for_each(expr),
            ExprKind::Range(a, b) => {
                expr(a);
                expr(b);
            }
            ExprKind::Chain { first, rest } => {
                expr(first);
                rest.iter_mut().for_each(|(_, e)| expr(e));
            }
            ExprKind::Neg(a) => expr(a),
            ExprKind::Call { func, args } => {
                func.span = Span::default();
                args.iter_mut().for_each(expr);
            }
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ast::{Expr, ExprKind, File, Item};
    use super::testutil::erase_spans;
    use super::{parser, yaml};

    /// The fenced code blocks of `docs/language.md` tagged `tag`, in order.
    fn doc_blocks(tag: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            match &mut current {
                Some(block) if line.trim_start() == "```" => {
                    blocks.push(std::mem::take(block));
                    current = None;
                }
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None if line.trim_start() == format!("```{tag}") => current = Some(String::new()),
                None => {}
            }
        }
        blocks
    }

    #[test]
    fn every_example_in_the_language_reference_parses() {
        let dsl = doc_blocks("sieve");
        let yml = doc_blocks("yaml");
        assert!(
            dsl.len() >= 4 && yml.len() >= 6,
            "examples not found in docs/language.md"
        );
        for b in &dsl {
            if let Err(d) = parser::parse_file(b, 0) {
                panic!("DSL example does not parse:\n{b}\n{d:?}");
            }
        }
        for b in &yml {
            if let Err(d) = yaml::parse_file(b, 0) {
                panic!("YAML example does not parse:\n{b}\n{d:?}");
            }
        }
    }

    /// Symbols are names in the DSL and strings in YAML; both lower to the same string.
    /// `variables` are the global variables; sweep variables are in scope in their body.
    fn symbols_as_strings(mut f: File, variables: &[&str]) -> File {
        fn expr(e: &mut Expr, vars: &[String]) {
            match &mut e.kind {
                ExprKind::Name(n) if !vars.contains(n) => e.kind = ExprKind::Str(n.clone()),
                ExprKind::List(items) => items.iter_mut().for_each(|i| expr(i, vars)),
                ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| expr(a, vars)),
                _ => {}
            }
        }
        fn item(i: &mut Item, vars: &[String]) {
            match i {
                Item::Let(l) => expr(&mut l.value, vars),
                Item::Stage(s) => s.params.iter_mut().for_each(|p| expr(&mut p.value, vars)),
                Item::Sweep(s) => {
                    s.vars.iter_mut().for_each(|v| expr(&mut v.values, vars));
                    let mut inner = vars.to_vec();
                    inner.extend(s.vars.iter().map(|v| v.name.name.clone()));
                    s.body.iter_mut().for_each(|b| item(b, &inner));
                }
                Item::Import(_) => {}
            }
        }
        let vars: Vec<String> = variables.iter().map(|v| v.to_string()).collect();
        f.items.iter_mut().for_each(|i| item(i, &vars));
        f
    }

    fn stage_names(f: &File) -> Vec<String> {
        fn walk(items: &[Item], out: &mut Vec<String>) {
            for i in items {
                match i {
                    Item::Stage(s) => out.push(s.name.name.clone()),
                    Item::Sweep(s) => walk(&s.body, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&f.items, &mut out);
        out.sort();
        out
    }

    #[test]
    fn the_side_by_side_example_is_the_same_pipeline() {
        let (Some(dsl), Some(yml)) = (
            doc_blocks("sieve").into_iter().next(),
            doc_blocks("yaml").into_iter().next(),
        ) else {
            panic!("examples not found in docs/language.md");
        };
        let vars = ["seed"];
        let dsl = symbols_as_strings(erase_spans(parser::parse_file(&dsl, 0).expect("DSL")), &vars);
        let yml = symbols_as_strings(erase_spans(yaml::parse_file(&yml, 0).expect("YAML")), &vars);
        assert_eq!(dsl.name, yml.name);
        assert_eq!(stage_names(&dsl), stage_names(&yml));
        // Same declarations, in possibly different orders (YAML groups stages before sweeps).
        let find = |f: &File, name: &str| -> Option<Item> {
            fn walk(items: &[Item], name: &str) -> Option<Item> {
                items.iter().find_map(|i| match i {
                    Item::Stage(s) if s.name.name == name => Some(i.clone()),
                    Item::Sweep(s) => walk(&s.body, name),
                    _ => None,
                })
            }
            walk(&f.items, name)
        };
        for name in stage_names(&dsl) {
            assert_eq!(find(&dsl, &name), find(&yml, &name), "stage `{name}` differs");
        }
    }
}
