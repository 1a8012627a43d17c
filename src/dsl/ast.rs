//! The surface AST shared by both front ends (pest DSL and YAML).
//!
//! Invariants: every node carries the [`Span`] of the text it came from, so lowering can
//! point at the exact place of a problem in either syntax; the AST is purely syntactic —
//! names are not resolved and values are not evaluated (that is `ir::lower`'s job).

use crate::diag::Span;

/// A name with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file: `pipeline NAME { items }` (DSL) or a YAML document.
/// An imported file is parsed into the same shape; its `name` may be absent.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub name: Option<Ident>,
    pub items: Vec<Item>,
    pub span: Span,
}

/// A top-level or sweep-body construct.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Import(Import),
    Let(Let),
    Stage(StageDecl),
    Sweep(Sweep),
}

/// `import "other.sieve"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: String,
    pub span: Span,
}

/// `let NAME = EXPR`.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `stage NAME = KIND(positional inputs…, named = params…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDecl {
    pub name: Ident,
    /// Dotted kind name, e.g. `synth.igsm`.
    pub kind: Ident,
    /// Positional arguments: references to other stages' outputs (inputs).
    pub inputs: Vec<Expr>,
    /// Named arguments: parameters.
    pub params: Vec<NamedArg>,
    pub span: Span,
}

/// `name = expr` inside a stage call.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArg {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `sweep VAR in LIST[, VAR in LIST] { items }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub vars: Vec<SweepVar>,
    pub body: Vec<Item>,
    pub span: Span,
}

/// One `VAR in LIST` of a sweep header.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepVar {
    pub name: Ident,
    pub values: Expr,
    pub span: Span,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Binary operators of the expression language (`+ - * /`, usual precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A bare name: a variable, a stage (as an input), or a symbol such as `exact_match`.
    Name(String),
    /// `stage[var=value, …]`: one instance (or a sub-family) of a swept stage.
    Index {
        base: Ident,
        selectors: Vec<(Ident, Expr)>,
    },
    List(Vec<Expr>),
    /// `a..b`, inclusive at both ends.
    Range(Box<Expr>, Box<Expr>),
    /// `first op1 e1 op2 e2 …`, evaluated left to right: `a - b + c` is `(a - b) + c`.
    /// The operators of one chain share a precedence level (the parser nests a tighter
    /// level inside: `1 + 2 * 3` is a `+` chain whose second operand is a `*` chain), so a
    /// flat `1 + 1 + … + 1` is one node however long, and only real nesting makes the tree
    /// deep.
    Chain {
        first: Box<Expr>,
        rest: Vec<(BinOp, Expr)>,
    },
    Neg(Box<Expr>),
    /// `f(args)` such as `column("ops")`.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
}
