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

pub use load::{load_pipeline, load_str};

/// Test helpers shared by the front ends' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::ast::{Expr, ExprKind, File, Item};
    use crate::diag::Span;

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
            ExprKind::Range(a, b) | ExprKind::Binary(_, a, b) => {
                expr(a);
                expr(b);
            }
            ExprKind::Neg(a) => expr(a),
            ExprKind::Call { func, args } => {
                func.span = Span::default();
                args.iter_mut().for_each(expr);
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Name(_) => {}
        }
    }
}
