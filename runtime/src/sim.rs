//! The time-step schedule (spec/semantics.md), written once. Backends only
//! supply the kernels of each phase.

use crate::layout::{NetLayout, RecordKind, VarRole};
use std::time::{Duration, Instant};

/// What a kernel may know about the current step.
#[derive(Clone, Copy, Debug)]
pub struct StepCtx<'a> {
    /// The step index `n`.
    pub step: u64,
    /// `t_n = n * dt`, in seconds.
    pub t: f64,
    /// The time step, in seconds.
    pub dt: f64,
    /// The run's seed.
    pub seed: u64,
    /// Per element of the population: the last step of its refractory
    /// period (refractory while `step <= ref_until[i]`; -1 when never).
    pub ref_until: &'a [i64],
}

impl StepCtx<'_> {
    /// Whether element `i` is refractory in this step.
    pub fn refractory(&self, i: usize) -> bool {
        self.ref_until
            .get(i)
            .is_some_and(|&r| self.step as i64 <= r)
    }
}

/// The kernels of a network, one set per population, indexed like the
/// layout's populations. `vars` holds one buffer per variable of the
/// population (length 1 for scalar variables, the population size otherwise).
pub trait Backend {
    /// Sets initial values: per-element parameters, then states.
    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Evaluates time-dependent parameters at `t_n`.
    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Advances every state from `t_n` to `t_n + dt`.
    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Appends the elements whose threshold condition holds (refractory
    /// elements excluded), in increasing order.
    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    );
    /// Runs the reset of each spiking element and writes its refractory
    /// period in seconds (0 without one) into `refractory`, in the same order.
    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    );
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Biological time to simulate, in seconds.
    pub duration: f64,
    /// The time step, in seconds.
    pub dt: f64,
    /// The seed of every random number.
    pub seed: u64,
    /// Check states for NaN and infinity every this many steps.
    pub check_every: u64,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// A state became NaN or infinite.
    NotFinite {
        /// Population name.
        pop: String,
        /// Element index.
        index: usize,
        /// Variable name.
        var: String,
        /// The value found.
        value: f64,
        /// Time of the check, in seconds.
        t: f64,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NotFinite {
                pop,
                index,
                var,
                value,
                t,
            } => write!(
                f,
                "`{var}` of neuron {index} of population `{pop}` became {value} by t = {:.4} ms; the run stopped there and kept what was recorded (a too large dt, or an equation that diverges?)",
                t * 1e3
            ),
        }
    }
}

/// Samples of one recorder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Sample times, in seconds.
    pub t: Vec<f64>,
    /// Values, one row of `width` per sample time.
    pub values: Vec<f64>,
    /// Values per row.
    pub width: usize,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Per population: (step, index) of every spike, in order.
    pub spikes: Vec<Vec<(u64, u32)>>,
    /// Per recorder (in layout order): its samples (empty for spike recorders).
    pub samples: Vec<Samples>,
    /// Steps simulated.
    pub steps: u64,
    /// The time step used.
    pub dt: f64,
    /// Wall time of the simulation loop.
    pub loop_time: Duration,
    /// Why the run stopped early, if it did.
    pub stopped: Option<RunError>,
}

/// A network's state and its schedule.
pub struct Simulation<'a> {
    layout: &'a NetLayout,
    vars: Vec<Vec<Vec<f64>>>,
    ref_until: Vec<Vec<i64>>,
}

impl<'a> Simulation<'a> {
    /// Allocates the state of `layout` (zeros) and runs every initialiser.
    pub fn new(layout: &'a NetLayout, backend: &dyn Backend, seed: u64, dt: f64) -> Self {
        let vars: Vec<Vec<Vec<f64>>> = layout
            .pops
            .iter()
            .map(|p| {
                p.vars
                    .iter()
                    .map(|v| vec![0.0; if v.scalar { 1 } else { p.size }])
                    .collect()
            })
            .collect();
        let ref_until: Vec<Vec<i64>> = layout.pops.iter().map(|p| vec![-1; p.size]).collect();
        let mut sim = Simulation {
            layout,
            vars,
            ref_until,
        };
        for (p, (vars, refs)) in sim.vars.iter_mut().zip(&sim.ref_until).enumerate() {
            let ctx = StepCtx {
                step: 0,
                t: 0.0,
                dt,
                seed,
                ref_until: refs,
            };
            backend.init(p, vars, &ctx);
        }
        sim
    }

    /// The buffers of population `pop`.
    pub fn vars(&self, pop: usize) -> &[Vec<f64>] {
        &self.vars[pop]
    }

    /// Runs the schedule for `opts.duration`.
    pub fn run(&mut self, backend: &dyn Backend, opts: &RunOptions) -> RunResult {
        let steps = (opts.duration / opts.dt).round().max(0.0) as u64;
        let npop = self.layout.pops.len();
        let mut result = RunResult {
            spikes: vec![vec![]; npop],
            samples: vec![],
            steps: 0,
            dt: opts.dt,
            ..RunResult::default()
        };
        result.samples = self
            .layout
            .records
            .iter()
            .map(|r| Samples {
                width: match r.kind {
                    RecordKind::Spikes => 0,
                    RecordKind::Var { first, last, .. } => last.saturating_sub(first),
                    RecordKind::Rate { .. } => 1,
                },
                ..Samples::default()
            })
            .collect();
        let mut spiking: Vec<Vec<u32>> = vec![vec![]; npop];
        let mut refractory: Vec<f64> = vec![];
        let mut rate_counts: Vec<u64> = vec![0; self.layout.records.len()];
        let start = Instant::now();
        for n in 0..steps {
            let t = n as f64 * opts.dt;
            self.sample(n, t, &mut result.samples);
            // 1. Inputs and time-dependent parameters.
            for (p, pop) in self.layout.pops.iter().enumerate() {
                for (v, var) in pop.vars.iter().enumerate() {
                    if var.role == VarRole::Input {
                        self.vars[p][v].fill(0.0);
                    }
                }
                let ctx = StepCtx {
                    step: n,
                    t,
                    dt: opts.dt,
                    seed: opts.seed,
                    ref_until: &self.ref_until[p],
                };
                backend.dynamic(p, &mut self.vars[p], &ctx);
            }
            // 2. State update.
            for p in 0..npop {
                let ctx = StepCtx {
                    step: n,
                    t,
                    dt: opts.dt,
                    seed: opts.seed,
                    ref_until: &self.ref_until[p],
                };
                backend.update(p, &mut self.vars[p], &ctx);
            }
            // 3. Thresholds.
            for (p, fired) in spiking.iter_mut().enumerate() {
                fired.clear();
                let ctx = StepCtx {
                    step: n,
                    t,
                    dt: opts.dt,
                    seed: opts.seed,
                    ref_until: &self.ref_until[p],
                };
                backend.threshold(p, &mut self.vars[p], &ctx, fired);
            }
            // 4. Synaptic propagation: no projections run yet (lowering refuses them).
            // 5. Resets and refractory periods.
            for (p, fired) in spiking.iter().enumerate() {
                if fired.is_empty() {
                    continue;
                }
                refractory.clear();
                let ctx = StepCtx {
                    step: n,
                    t,
                    dt: opts.dt,
                    seed: opts.seed,
                    ref_until: &self.ref_until[p],
                };
                backend.reset(p, &mut self.vars[p], &ctx, fired, &mut refractory);
                for (k, &i) in fired.iter().enumerate() {
                    let period = refractory.get(k).copied().unwrap_or(0.0);
                    // Refractory while t - t_spike < t_ref: steps n+1 ..= n+R-1.
                    let r = (period / opts.dt).round() as i64;
                    self.ref_until[p][i as usize] = n as i64 + r - 1;
                    result.spikes[p].push((n, i));
                }
            }
            // 6. Rates.
            for (k, rec) in self.layout.records.iter().enumerate() {
                if let RecordKind::Rate { window } = rec.kind {
                    rate_counts[k] += spiking[rec.pop].len() as u64;
                    if (n + 1) % window.max(1) == 0 {
                        let size = self.layout.pops[rec.pop].size.max(1) as f64;
                        let rate = rate_counts[k] as f64 / (size * window.max(1) as f64 * opts.dt);
                        result.samples[k]
                            .t
                            .push((n + 1 - window.max(1)) as f64 * opts.dt);
                        result.samples[k].values.push(rate);
                        rate_counts[k] = 0;
                    }
                }
            }
            result.steps = n + 1;
            if ((n + 1) % opts.check_every.max(1) == 0 || n + 1 == steps)
                && let Some(err) = self.check_finite((n + 1) as f64 * opts.dt)
            {
                result.stopped = Some(err);
                break;
            }
        }
        result.loop_time = start.elapsed();
        result
    }

    fn sample(&self, n: u64, t: f64, samples: &mut [Samples]) {
        for (k, rec) in self.layout.records.iter().enumerate() {
            if let RecordKind::Var {
                var,
                first,
                last,
                every,
            } = rec.kind
                && n.is_multiple_of(every.max(1))
            {
                let buf = &self.vars[rec.pop][var];
                samples[k].t.push(t);
                if buf.len() == 1 {
                    samples[k]
                        .values
                        .extend(std::iter::repeat_n(buf[0], last - first));
                } else {
                    samples[k].values.extend_from_slice(&buf[first..last]);
                }
            }
        }
    }

    fn check_finite(&self, t: f64) -> Option<RunError> {
        for (p, pop) in self.layout.pops.iter().enumerate() {
            for (v, var) in pop.vars.iter().enumerate() {
                if var.role != VarRole::State {
                    continue;
                }
                if let Some((i, &x)) = self.vars[p][v]
                    .iter()
                    .enumerate()
                    .find(|(_, x)| !x.is_finite())
                {
                    return Some(RunError::NotFinite {
                        pop: pop.name.clone(),
                        index: i,
                        var: var.name.clone(),
                        value: x,
                        t,
                    });
                }
            }
        }
        None
    }
}
