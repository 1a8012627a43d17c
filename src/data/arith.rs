//! `synth.arith`: multi-digit addition, subtraction and multiplication with a
//! column-by-column chain of thought.
//!
//! Invariants: both operands have exactly `digits` digits (1-digit operands range over
//! 0–9); subtraction never goes negative (operands are swapped if needed); `carries`
//! counts the carries of an addition, the borrows of a subtraction, and for a
//! multiplication the non-zero carries of every digit product plus those of summing the
//! partial products; `difficulty` is `digits`, `carries` or their sum (`steps`).
//!
//! Rendering: prompt `What is 457 + 168?`; response (addition) one line per column from
//! the right — `7+8+0=15, write 5 carry 1` … — then `Answer: 625`.

use super::schema::{ColType, TableBuilder, int, text, write_generated};
use super::{DataError, Result, unknown_choice};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Which operations to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
}

impl ArithOp {
    fn symbol(self) -> char {
        match self {
            ArithOp::Add => '+',
            ArithOp::Sub => '-',
            ArithOp::Mul => '*',
        }
    }
}

/// What the `difficulty` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithDifficulty {
    Digits,
    Carries,
    /// digits + carries.
    Steps,
}

impl ArithDifficulty {
    /// The names accepted by [`ArithDifficulty::parse`].
    pub const NAMES: &'static [&'static str] = &["digits", "carries", "steps"];

    /// The name of this choice.
    pub fn name(self) -> &'static str {
        match self {
            ArithDifficulty::Digits => "digits",
            ArithDifficulty::Carries => "carries",
            ArithDifficulty::Steps => "steps",
        }
    }

    /// Parses `digits` / `carries` / `steps`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "digits" => Ok(ArithDifficulty::Digits),
            "carries" => Ok(ArithDifficulty::Carries),
            "steps" => Ok(ArithDifficulty::Steps),
            o => Err(unknown_choice("difficulty", o, "digits | carries | steps")),
        }
    }
}

/// Parameters of the generator.
#[derive(Debug, Clone)]
pub struct ArithParams {
    pub n: usize,
    /// Allowed operand lengths; each problem draws one uniformly (1–18).
    pub digits: Vec<i64>,
    pub ops: Vec<ArithOp>,
    pub difficulty: ArithDifficulty,
    pub seed: u64,
}

/// One solved problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    pub result: i128,
    pub carries: usize,
    pub steps: Vec<String>,
}

fn digits_of(x: u128) -> Vec<u32> {
    // Least significant first.
    let mut d = Vec::new();
    let mut x = x;
    loop {
        d.push((x % 10) as u32);
        x /= 10;
        if x == 0 {
            return d;
        }
    }
}

/// Column addition with its steps.
pub fn add(a: u128, b: u128) -> Solved {
    let (da, db) = (digits_of(a), digits_of(b));
    let mut carry = 0;
    let mut carries = 0;
    let mut steps = Vec::new();
    for i in 0..da.len().max(db.len()) {
        let (x, y) = (*da.get(i).unwrap_or(&0), *db.get(i).unwrap_or(&0));
        let s = x + y + carry;
        steps.push(format!("{x}+{y}+{carry}={s}, write {} carry {}", s % 10, s / 10));
        carry = s / 10;
        carries += carry as usize;
    }
    if carry > 0 {
        steps.push(format!("write carry {carry}"));
    }
    Solved {
        result: (a + b) as i128,
        carries,
        steps,
    }
}

/// Column subtraction (`a ≥ b`) with its steps.
pub fn sub(a: u128, b: u128) -> Solved {
    let (da, db) = (digits_of(a), digits_of(b));
    let mut borrow = 0i64;
    let mut borrows = 0;
    let mut steps = Vec::new();
    for (i, &x) in da.iter().enumerate() {
        let (x, y) = (x as i64, *db.get(i).unwrap_or(&0) as i64);
        let d = x - borrow - y;
        if d < 0 {
            steps.push(format!(
                "{x}-{borrow}-{y}={d}, +10={}, write {} borrow 1",
                d + 10,
                d + 10
            ));
            borrow = 1;
            borrows += 1;
        } else {
            steps.push(format!("{x}-{borrow}-{y}={d}, write {d} borrow 0"));
            borrow = 0;
        }
    }
    Solved {
        result: a as i128 - b as i128,
        carries: borrows,
        steps,
    }
}

/// Long multiplication with its steps (one partial product per digit of `b`, then the sum).
pub fn mul(a: u128, b: u128) -> Solved {
    let da = digits_of(a);
    let mut carries = 0;
    let mut steps = Vec::new();
    let mut total: u128 = 0;
    let mut partials = Vec::new();
    for (j, y) in digits_of(b).into_iter().enumerate() {
        let mut carry = 0;
        for &x in &da {
            let p = x * y + carry;
            carry = p / 10;
            carries += (carry > 0) as usize;
        }
        let row = a * y as u128 * 10u128.pow(j as u32);
        steps.push(format!("{a}*{}={row}", y as u128 * 10u128.pow(j as u32)));
        partials.push(row);
    }
    for (k, &p) in partials.iter().enumerate() {
        if k > 0 {
            let s = add(total, p);
            carries += s.carries;
            steps.push(format!("{total}+{p}={}", total + p));
        }
        total += p;
    }
    Solved {
        result: (a * b) as i128,
        carries,
        steps,
    }
}

fn operand(rng: &mut ChaCha8Rng, digits: u32) -> u128 {
    if digits <= 1 {
        return rng.random_range(0..10u128);
    }
    let lo = 10u128.pow(digits - 1);
    rng.random_range(lo..lo * 10)
}

/// Writes `p.n` problems to `path` (canonical schema + `digits`, `carries`, `op`).
pub fn generate(p: &ArithParams, path: &Path, mut check: impl FnMut() -> Result<()>) -> Result<usize> {
    if p.digits.is_empty() || p.digits.iter().any(|&d| !(1..=18).contains(&d)) {
        return Err(DataError::Param(format!(
            "`digits` must be ints in 1..18, got {:?}",
            p.digits
        )));
    }
    if p.ops.is_empty() {
        return Err(DataError::Param("no operation to draw".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let b = TableBuilder::new(
        ColType::Int,
        &[
            ("digits", ColType::Int),
            ("carries", ColType::Int),
            ("op", ColType::Str),
        ],
    );
    write_generated(path, b, p.n, |i| {
        if i % 4096 == 0 {
            check()?;
        }
        let d = p.digits[rng.random_range(0..p.digits.len())] as u32;
        let op = p.ops[rng.random_range(0..p.ops.len())];
        let (mut a, mut b) = (operand(&mut rng, d), operand(&mut rng, d));
        if op == ArithOp::Sub && a < b {
            std::mem::swap(&mut a, &mut b);
        }
        let s = match op {
            ArithOp::Add => add(a, b),
            ArithOp::Sub => sub(a, b),
            ArithOp::Mul => mul(a, b),
        };
        let difficulty = match p.difficulty {
            ArithDifficulty::Digits => d as i64,
            ArithDifficulty::Carries => s.carries as i64,
            ArithDifficulty::Steps => d as i64 + s.carries as i64,
        };
        let mut response = s.steps.join("\n");
        response.push_str(&format!("\nAnswer: {}", s.result));
        Ok(vec![
            int(i as i64),
            text(format!("What is {a} {} {b}?", op.symbol())),
            text(response),
            text(s.result.to_string()),
            int(difficulty),
            int(d as i64),
            int(s.carries as i64),
            text(op.symbol().to_string()),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all};

    #[test]
    fn solutions_are_right() {
        assert_eq!(add(457, 168).carries, 2);
        assert_eq!(add(999, 1).result, 1000);
        assert_eq!(add(999, 1).carries, 3);
        assert_eq!(sub(1000, 1).carries, 3);
        assert_eq!(sub(1000, 1).result, 999);
        assert_eq!(mul(123, 45).result, 5535);
        assert_eq!(add(11, 11).carries, 0);
    }

    #[test]
    fn generated_rows_check_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        let p = ArithParams {
            n: 3000,
            digits: vec![1, 2, 3, 4, 5, 6],
            ops: vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul],
            difficulty: ArithDifficulty::Digits,
            seed: 3,
        };
        generate(&p, &path, || Ok(())).unwrap();
        let b = read_all(&path);
        let (prompts, answers, diff) = (
            col_str(&b, "prompt"),
            col_str(&b, "answer"),
            col_i64(&b, "difficulty"),
        );
        let mut hist = [0usize; 7];
        for i in 0..prompts.len() {
            let pr = prompts[i].as_deref().unwrap();
            let parts: Vec<&str> = pr
                .trim_start_matches("What is ")
                .trim_end_matches('?')
                .split(' ')
                .collect();
            let (a, b): (i128, i128) = (parts[0].parse().unwrap(), parts[2].parse().unwrap());
            let want = match parts[1] {
                "+" => a + b,
                "-" => a - b,
                _ => a * b,
            };
            assert_eq!(answers[i].as_deref().unwrap(), want.to_string());
            assert!(want >= 0);
            let d = diff[i].unwrap();
            assert_eq!(parts[0].len() as i64, d);
            hist[d as usize] += 1;
        }
        for (d, &h) in hist.iter().enumerate().skip(1) {
            assert!((400..=600).contains(&h), "digits {d}: {h}");
        }
        let e = generate(&ArithParams { digits: vec![0], ..p }, &path, || Ok(())).unwrap_err();
        assert!(e.to_string().contains("digits"));
    }
}
