//! `synth.igsm` — iGSM-lite (PAPERS.md §1): a random dependency DAG of `ops` binary
//! operations (+, −, ×, mod 23 by default) over named quantities, rendered as shuffled
//! sentences, with a topologically ordered chain-of-thought solution and the final answer.
//!
//! Invariants: exactly `ops` operation nodes are ancestors of (or are) the queried
//! quantity, so `difficulty = ops` is the number of operations needed to answer; distractor
//! sentences define quantities nothing needed depends on; every value is in
//! `0..modulus`; names within one problem are distinct vocabulary words; the output is a
//! pure function of the parameters and the seed.
//!
//! Rendering (`style = "text"`):
//! `The number of apple equals 4.` / `The number of lion equals the number of apple
//! times the number of kite.` … `Question: What is the number of lion?`
//! (`style = "compact"`: `apple = 4.` / `lion = apple * kite.` … `Question: lion = ?`).
//! Response: one line per needed quantity in evaluation order — `apple = 4.` or
//! `lion = apple * kite = 4 * 9 = 13.` — then `Answer: 13`. The `answer` column holds `13`.

use super::schema::{Cell, ColType, TableBuilder, int, text, write_generated};
use super::words;
use super::{DataError, Result, unknown_choice};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// How problems are worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// English sentences ("The number of X equals …").
    Text,
    /// Equations ("X = Y + Z."), much shorter for char-level models.
    Compact,
}

impl Style {
    /// The style names accepted by [`Style::parse`].
    pub const NAMES: &'static [&'static str] = &["text", "compact"];

    /// Parses `text` / `compact`.
    pub fn parse(s: &str) -> Result<Style> {
        match s {
            "text" => Ok(Style::Text),
            "compact" => Ok(Style::Compact),
            o => Err(unknown_choice("iGSM style", o, "text or compact")),
        }
    }

    /// The style's name.
    pub fn name(self) -> &'static str {
        match self {
            Style::Text => "text",
            Style::Compact => "compact",
        }
    }
}

/// Parameters of the generator.
#[derive(Debug, Clone)]
pub struct IgsmParams {
    /// Number of problems.
    pub n: usize,
    /// Allowed operation counts; each problem draws one uniformly.
    pub ops: Vec<i64>,
    /// Allowed numbers of distractor sentences; each problem draws one uniformly.
    pub distractors: Vec<i64>,
    /// Size of the name vocabulary (the first `vocab` words of the shipped lists).
    pub vocab: usize,
    /// Arithmetic modulus (23 in the paper).
    pub modulus: i64,
    pub style: Style,
    pub seed: u64,
}

impl IgsmParams {
    /// Checks the parameters; the message names the offending one.
    pub fn check(&self) -> Result<()> {
        let p = |m: String| Err(DataError::Param(m));
        if self.ops.is_empty() || self.ops.iter().any(|&o| o < 1) {
            return p(format!(
                "`ops` must be a non-empty set of ints ≥ 1, got {:?}",
                self.ops
            ));
        }
        if self.distractors.is_empty() || self.distractors.iter().any(|&d| d < 0) {
            return p(format!(
                "`distractors` must be a non-empty set of ints ≥ 0, got {:?}",
                self.distractors
            ));
        }
        if self.modulus < 2 {
            return p(format!("`modulus` must be ≥ 2, got {}", self.modulus));
        }
        let need = max_names(self);
        if self.vocab < need {
            return p(format!(
                "`vocab` = {} is too small: problems with ops up to {} and {} distractors need up to {need} distinct names",
                self.vocab,
                self.ops.iter().max().unwrap_or(&0),
                self.distractors.iter().max().unwrap_or(&0)
            ));
        }
        if self.vocab > words::word_count() {
            return p(format!(
                "`vocab` must be ≤ {}, got {}",
                words::word_count(),
                self.vocab
            ));
        }
        Ok(())
    }
}

/// Upper bound on distinct names one problem needs: each op adds itself and at most two
/// fresh leaves; each distractor one node plus at most one fresh leaf.
fn max_names(p: &IgsmParams) -> usize {
    let o = *p.ops.iter().max().unwrap_or(&1) as usize;
    let d = *p.distractors.iter().max().unwrap_or(&0) as usize;
    3 * o + 2 * d
}

/// An operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Op::Add => "plus",
            Op::Sub => "minus",
            Op::Mul => "times",
        }
    }

    /// Applies the operation mod `m` (result in `0..m`).
    pub fn apply(self, a: i64, b: i64, m: i64) -> i64 {
        let r = match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
        };
        r.rem_euclid(m)
    }
}

/// A node of the problem graph.
#[derive(Debug, Clone)]
pub enum Node {
    /// A quantity given as a constant.
    Leaf(i64),
    /// A quantity computed from two others.
    Op(Op, usize, usize),
}

/// One generated problem.
#[derive(Debug, Clone)]
pub struct Problem {
    pub names: Vec<String>,
    pub nodes: Vec<Node>,
    /// Index of the queried node.
    pub query: usize,
    /// Nodes the query depends on (itself included), in evaluation order.
    pub order: Vec<usize>,
    pub values: Vec<i64>,
    pub ops: usize,
    pub distractors: usize,
}

/// Builds one problem with exactly `ops` needed operations and `distractors` extra
/// sentences.
pub fn problem(rng: &mut ChaCha8Rng, ops: usize, distractors: usize, vocab: usize, modulus: i64) -> Problem {
    let mut nodes: Vec<Node> = Vec::new();
    let mut pending: Vec<usize> = Vec::new(); // op nodes not yet used by a later op
    let mut settled: Vec<usize> = Vec::new(); // leaves and used op nodes
    let rand_op = |rng: &mut ChaCha8Rng| match rng.random_range(0..3u8) {
        0 => Op::Add,
        1 => Op::Sub,
        _ => Op::Mul,
    };
    let new_leaf = |rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>| {
        nodes.push(Node::Leaf(rng.random_range(0..modulus)));
        nodes.len() - 1
    };
    for k in 0..ops {
        let remaining = ops - k;
        let p = pending.len();
        // Consuming c pending nodes leaves p - c + 1; the remaining ops must be able to
        // fold everything into one query node.
        let lo = (p + 1).saturating_sub(remaining);
        let hi = p.min(2);
        let c = if lo >= hi { lo } else { rng.random_range(lo..=hi) };
        let mut args = Vec::with_capacity(2);
        for _ in 0..c {
            let i = rng.random_range(0..pending.len());
            args.push(pending.swap_remove(i));
        }
        while args.len() < 2 {
            let reuse = !settled.is_empty() && rng.random_bool(0.5);
            let a = if reuse {
                let a = settled[rng.random_range(0..settled.len())];
                if args.contains(&a) {
                    new_leaf(rng, &mut nodes)
                } else {
                    a
                }
            } else {
                new_leaf(rng, &mut nodes)
            };
            if matches!(nodes[a], Node::Leaf(_)) && !settled.contains(&a) {
                settled.push(a);
            }
            args.push(a);
        }
        args.shuffle(rng);
        for &a in &args {
            if matches!(nodes[a], Node::Op(..)) && !settled.contains(&a) {
                settled.push(a);
            }
        }
        nodes.push(Node::Op(rand_op(rng), args[0], args[1]));
        pending.push(nodes.len() - 1);
    }
    let query = pending.pop().unwrap_or(0);
    let needed = nodes.len();
    // Distractors: new quantities nothing needed depends on.
    for _ in 0..distractors {
        if nodes.is_empty() || rng.random_bool(0.4) {
            new_leaf(rng, &mut nodes);
        } else {
            let a = rng.random_range(0..nodes.len());
            let b = if rng.random_bool(0.5) || nodes.len() < 2 {
                new_leaf(rng, &mut nodes)
            } else {
                let mut b = rng.random_range(0..nodes.len());
                if b == a {
                    b = (b + 1) % nodes.len();
                }
                b
            };
            nodes.push(Node::Op(rand_op(rng), a, b));
        }
    }
    // Distractor leaves created as op arguments are sentences too; count them all.
    let distractors = nodes.len() - needed;
    let mut values = vec![0; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        values[i] = match *n {
            Node::Leaf(v) => v,
            Node::Op(op, a, b) => op.apply(values[a], values[b], modulus),
        };
    }
    let order = eval_order(&nodes, query);
    // Distinct names drawn from the vocabulary.
    let mut pool: Vec<usize> = (0..vocab).collect();
    let (chosen, _) = pool.partial_shuffle(rng, nodes.len());
    let names = chosen.iter().map(|&i| words::word(i)).collect();
    Problem {
        names,
        nodes,
        query,
        order,
        values,
        ops,
        distractors,
    }
}

/// Post-order DFS from `query`: each needed node after its arguments, once.
fn eval_order(nodes: &[Node], query: usize) -> Vec<usize> {
    let mut seen = vec![false; nodes.len()];
    let mut order = Vec::new();
    let mut stack = vec![(query, false)];
    while let Some((n, expanded)) = stack.pop() {
        if seen[n] {
            continue;
        }
        match (&nodes[n], expanded) {
            (Node::Op(_, a, b), false) => {
                stack.push((n, true));
                stack.push((*b, false));
                stack.push((*a, false));
            }
            _ => {
                seen[n] = true;
                order.push(n);
            }
        }
    }
    order
}

impl Problem {
    fn sentence(&self, i: usize, style: Style) -> String {
        let name = &self.names[i];
        match (&self.nodes[i], style) {
            (Node::Leaf(v), Style::Text) => format!("The number of {name} equals {v}."),
            (Node::Leaf(v), Style::Compact) => format!("{name} = {v}."),
            (Node::Op(op, a, b), Style::Text) => format!(
                "The number of {name} equals the number of {} {} the number of {}.",
                self.names[*a],
                op.word(),
                self.names[*b]
            ),
            (Node::Op(op, a, b), Style::Compact) => {
                format!("{name} = {} {} {}.", self.names[*a], op.symbol(), self.names[*b])
            }
        }
    }

    /// The problem text: all sentences in random order, then the question.
    pub fn prompt(&self, rng: &mut ChaCha8Rng, style: Style) -> String {
        let mut idx: Vec<usize> = (0..self.nodes.len()).collect();
        idx.shuffle(rng);
        let mut s = idx
            .iter()
            .map(|&i| self.sentence(i, style))
            .collect::<Vec<_>>()
            .join(" ");
        let q = &self.names[self.query];
        match style {
            Style::Text => s.push_str(&format!("\nQuestion: What is the number of {q}?")),
            Style::Compact => s.push_str(&format!("\nQuestion: {q} = ?")),
        }
        s
    }

    /// The chain-of-thought solution followed by `Answer: v`.
    pub fn response(&self) -> String {
        let mut lines: Vec<String> = Vec::with_capacity(self.order.len() + 1);
        for &i in &self.order {
            let name = &self.names[i];
            lines.push(match self.nodes[i] {
                Node::Leaf(v) => format!("{name} = {v}."),
                Node::Op(op, a, b) => format!(
                    "{name} = {} {s} {} = {} {s} {} = {}.",
                    self.names[a],
                    self.names[b],
                    self.values[a],
                    self.values[b],
                    self.values[i],
                    s = op.symbol()
                ),
            });
        }
        lines.push(format!("Answer: {}", self.answer()));
        lines.join("\n")
    }

    /// The queried value.
    pub fn answer(&self) -> i64 {
        self.values[self.query]
    }
}

/// Writes `p.n` problems to `path` (canonical schema + `ops`, `distractors` columns;
/// `difficulty` = `ops`). `check` is called every few rows (cancellation).
pub fn generate(p: &IgsmParams, path: &Path, mut check: impl FnMut() -> Result<()>) -> Result<usize> {
    p.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let b = TableBuilder::new(
        ColType::Int,
        &[("ops", ColType::Int), ("distractors", ColType::Int)],
    );
    write_generated(path, b, p.n, |i| {
        if i % 4096 == 0 {
            check()?;
        }
        let ops = p.ops[rng.random_range(0..p.ops.len())] as usize;
        let d = p.distractors[rng.random_range(0..p.distractors.len())] as usize;
        let pr = problem(&mut rng, ops, d, p.vocab, p.modulus);
        let prompt = pr.prompt(&mut rng, p.style);
        Ok(vec![
            int(i as i64),
            text(prompt),
            text(pr.response()),
            text(pr.answer().to_string()),
            int(ops as i64),
            int(ops as i64),
            Cell::Int(Some(pr.distractors as i64)),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all};
    use std::collections::HashMap;

    /// Independent reading of a rendered prompt: each defined quantity's right-hand side
    /// as words (`[value]` or `[a, op, b]`, op one of `+ - *`), and the queried quantity.
    fn parse_prompt(prompt: &str) -> (HashMap<String, Vec<String>>, String) {
        let (body, question) = prompt.split_once("\nQuestion: ").unwrap();
        let mut defs: HashMap<String, Vec<String>> = HashMap::new();
        for sent in body.split(". ").map(|s| s.trim_end_matches('.')) {
            let sent = sent.replace("The number of ", "").replace("the number of ", "");
            let (lhs, rhs) = sent
                .split_once(" equals ")
                .or_else(|| sent.split_once(" = "))
                .unwrap_or_else(|| panic!("{sent}"));
            let rhs = rhs
                .replace(" plus ", " + ")
                .replace(" minus ", " - ")
                .replace(" times ", " * ");
            defs.insert(lhs.to_string(), rhs.split(' ').map(str::to_string).collect());
        }
        let query = question
            .trim_start_matches("What is the number of ")
            .trim_end_matches(" = ?")
            .trim_end_matches('?');
        (defs, query.to_string())
    }

    /// Independent solver: evaluates the queried quantity of the rendered prompt.
    fn solve(prompt: &str, modulus: i64) -> i64 {
        fn eval(n: &str, defs: &HashMap<String, Vec<String>>, m: i64, depth: usize) -> i64 {
            assert!(depth < 200, "cycle");
            let d = &defs[n];
            if d.len() == 1 {
                return d[0].parse().unwrap();
            }
            let (a, b) = (eval(&d[0], defs, m, depth + 1), eval(&d[2], defs, m, depth + 1));
            match d[1].as_str() {
                "+" => (a + b).rem_euclid(m),
                "-" => (a - b).rem_euclid(m),
                "*" => (a * b).rem_euclid(m),
                o => panic!("op {o}"),
            }
        }
        let (defs, query) = parse_prompt(prompt);
        eval(&query, &defs, modulus, 0)
    }

    /// Number of operations needed: distinct op nodes reachable from the query.
    fn needed_ops(prompt: &str) -> usize {
        let (defs, query) = parse_prompt(prompt);
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![query];
        while let Some(n) = stack.pop() {
            let d = &defs[&n];
            if d.len() == 3 && seen.insert(n.clone()) {
                stack.push(d[0].clone());
                stack.push(d[2].clone());
            }
        }
        seen.len()
    }

    fn params(style: Style) -> IgsmParams {
        IgsmParams {
            n: 2000,
            ops: (2..=12).collect(),
            distractors: vec![0, 1, 2, 3],
            vocab: 120,
            modulus: 23,
            style,
            seed: 7,
        }
    }

    #[test]
    fn answers_recomputed_from_text_agree() {
        for style in [Style::Text, Style::Compact] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("d.parquet");
            let p = params(style);
            assert_eq!(generate(&p, &path, || Ok(())).unwrap(), 2000);
            let b = read_all(&path);
            let (prompts, answers, ops) = (
                col_str(&b, "prompt"),
                col_str(&b, "answer"),
                col_i64(&b, "difficulty"),
            );
            let responses = col_str(&b, "response");
            for i in 0..prompts.len() {
                let pr = prompts[i].as_deref().unwrap();
                let ans: i64 = answers[i].as_deref().unwrap().parse().unwrap();
                assert_eq!(solve(pr, 23), ans, "row {i}: {pr}");
                assert_eq!(needed_ops(pr) as i64, ops[i].unwrap(), "row {i}: {pr}");
                assert!((0..23).contains(&ans));
                let resp = responses[i].as_deref().unwrap();
                assert!(resp.ends_with(&format!("Answer: {ans}")), "{resp}");
            }
            // Difficulty distribution: uniform over 2..=12 (11 values, ~182 each).
            let mut hist: HashMap<i64, usize> = HashMap::new();
            for o in ops.iter().flatten() {
                *hist.entry(*o).or_default() += 1;
            }
            assert_eq!(hist.len(), 11);
            for (o, c) in hist {
                assert!((2..=12).contains(&o));
                assert!((120..=250).contains(&c), "ops {o}: {c}");
            }
        }
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let dir = tempfile::tempdir().unwrap();
        let gen_bytes = |seed: u64, name: &str| {
            let path = dir.path().join(name);
            let mut p = params(Style::Compact);
            p.n = 300;
            p.seed = seed;
            generate(&p, &path, || Ok(())).unwrap();
            std::fs::read(path).unwrap()
        };
        assert_eq!(gen_bytes(1, "a"), gen_bytes(1, "b"));
        assert_ne!(gen_bytes(1, "c"), gen_bytes(2, "d"));
    }

    #[test]
    fn bad_params_error() {
        let mut p = params(Style::Text);
        p.vocab = 5;
        assert!(p.check().unwrap_err().to_string().contains("vocab"));
        p.vocab = 120;
        p.ops = vec![0];
        assert!(p.check().is_err());
        assert!(Style::parse("fancy").is_err());
    }

    #[test]
    fn response_is_topological() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for ops in 1..15 {
            let pr = problem(&mut rng, ops, 3, 120, 23);
            let pos: HashMap<usize, usize> = pr.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
            let mut nops = 0;
            for &n in &pr.order {
                if let Node::Op(_, a, b) = pr.nodes[n] {
                    nops += 1;
                    assert!(pos[&a] < pos[&n] && pos[&b] < pos[&n]);
                }
            }
            assert_eq!(nops, ops);
            assert_eq!(*pr.order.last().unwrap(), pr.query);
        }
    }
}
