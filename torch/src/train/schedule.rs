//! Learning-rate schedules: linear warmup, then constant or cosine decay.
//!
//! Invariant: the learning rate is a pure function of the optimiser step index, so a
//! resumed run continues the schedule exactly.

/// The decay after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    Constant,
    /// Half-cosine from the peak down to `min_ratio · peak` at the last step
    /// (Loshchilov & Hutter, SGDR, without restarts).
    Cosine,
}

impl ScheduleKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "constant" => Some(ScheduleKind::Constant),
            "cosine" => Some(ScheduleKind::Cosine),
            _ => None,
        }
    }
}

/// A warmup + decay schedule over `total` optimiser steps.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
    pub kind: ScheduleKind,
    pub min_ratio: f64,
}

impl LrSchedule {
    /// Learning rate of optimiser step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        match self.kind {
            ScheduleKind::Constant => self.peak,
            ScheduleKind::Cosine => {
                let span = self.total.saturating_sub(self.warmup).max(1) as f64;
                let progress = ((step - self.warmup) as f64 / span).min(1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cos)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule {
            peak: 1.0,
            warmup: 4,
            total: 104,
            kind: ScheduleKind::Cosine,
            min_ratio: 0.1,
        };
        assert_eq!(s.lr(0), 0.25);
        assert_eq!(s.lr(3), 1.0);
        assert!((s.lr(4) - 1.0).abs() < 1e-12);
        assert!((s.lr(54) - 0.55).abs() < 1e-9);
        assert!((s.lr(104) - 0.1).abs() < 1e-9);
        let c = LrSchedule {
            kind: ScheduleKind::Constant,
            ..s
        };
        assert_eq!(c.lr(90), 1.0);
    }
}
