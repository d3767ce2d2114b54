//! Poisson inputs of constant rate, driven by events: each neuron's next
//! spike step is drawn (a geometric gap) instead of one random number per
//! neuron per step. The spike trains have the same law as firing with
//! probability `rate * dt` in each step (spec/semantics.md); the runtime does
//! this for every backend, so they all see the same spikes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The spike schedule of one constant-rate Poisson population.
#[derive(Clone, Debug)]
pub struct PoissonSource {
    /// ln(1 - p) for the per-step probability p (0 when p is 0: never).
    log_q: f64,
    /// Whether it fires in every step (p >= 1).
    always: bool,
    seed: u64,
    stream: u32,
    /// (next spike step, neuron), earliest first.
    next: BinaryHeap<Reverse<(u64, u32)>>,
    /// Per neuron, how many gaps it has drawn (the draw's counter).
    drawn: Vec<u64>,
    /// The neurons it draws for (a rank's block of a population split
    /// across processes; every neuron's draws are its own, so a block's
    /// spikes are the whole population's there).
    own: std::ops::Range<u32>,
}

impl PoissonSource {
    /// `size` neurons firing with probability `p` per step, drawing from `stream`.
    pub fn new(size: usize, p: f64, seed: u64, stream: u32) -> Self {
        Self::new_for(size, p, seed, stream, 0..size as u32)
    }

    /// [`Self::new`], drawing for neurons `own` only.
    pub fn new_for(size: usize, p: f64, seed: u64, stream: u32, own: std::ops::Range<u32>) -> Self {
        let own = own.start.min(size as u32)..own.end.min(size as u32);
        let mut s = PoissonSource {
            log_q: 0.0,
            always: false,
            seed,
            stream,
            next: BinaryHeap::with_capacity(own.len()),
            drawn: vec![0; size],
            own,
        };
        s.restart(p, 0);
        s
    }

    /// From step `from` on, fires with probability `p` per step: every
    /// neuron's next spike is drawn again (a Poisson process has no memory,
    /// so this is the same law as if the rate had always been `p` from
    /// here). The REPL's `:set` of a rate.
    pub fn restart(&mut self, p: f64, from: u64) {
        self.log_q = if p > 0.0 { (-p).ln_1p() } else { 0.0 };
        self.always = p >= 1.0;
        self.next.clear();
        if p > 0.0 {
            for i in self.own.clone() {
                // The first spike is in step from + gap - 1 (step `from`
                // has probability p).
                let g = self.gap(i);
                self.push(from + g - 1, i);
            }
        }
    }

    /// Steps to the next spike (at least 1): P(k) = (1 - p)^(k - 1) p.
    fn gap(&mut self, i: u32) -> u64 {
        let j = self.drawn[i as usize];
        self.drawn[i as usize] += 1;
        if self.always {
            return 1;
        }
        // u in (0, 1]: its log is finite.
        let u = 1.0 - crate::philox::uniform(self.seed, self.stream, i, j);
        1 + (u.ln() / self.log_q).floor() as u64
    }

    fn push(&mut self, step: u64, i: u32) {
        self.next.push(Reverse((step, i)));
    }

    /// Appends the neurons that fire in `step` (in increasing order) and
    /// draws their next spikes. Steps must be asked in order, from 0.
    pub fn fire(&mut self, step: u64, out: &mut Vec<u32>) {
        let from = out.len();
        while let Some(&Reverse((s, i))) = self.next.peek() {
            if s > step {
                break;
            }
            self.next.pop();
            out.push(i);
            let g = self.gap(i);
            self.push(step.saturating_add(g), i);
        }
        out[from..].sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_with_probability_p_per_step() {
        let (n, steps, p) = (500usize, 4000u64, 0.01);
        let mut src = PoissonSource::new(n, p, 7, 0);
        let mut count = vec![0u64; n];
        let mut out = vec![];
        for s in 0..steps {
            out.clear();
            src.fire(s, &mut out);
            assert!(out.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
            for &i in &out {
                count[i as usize] += 1;
            }
        }
        let total: u64 = count.iter().sum();
        let want = n as f64 * steps as f64 * p;
        // 20000 expected; the standard deviation is 141.
        assert!(
            (total as f64 - want).abs() < 5.0 * want.sqrt(),
            "{total} vs {want}"
        );
    }

    #[test]
    fn rate_zero_never_fires_and_one_always_does() {
        let mut out = vec![];
        let mut never = PoissonSource::new(10, 0.0, 1, 0);
        let mut always = PoissonSource::new(10, 1.0, 1, 1);
        for s in 0..100 {
            never.fire(s, &mut out);
            assert!(out.is_empty());
            always.fire(s, &mut out);
            assert_eq!(out, (0..10).collect::<Vec<u32>>());
            out.clear();
        }
    }
}
