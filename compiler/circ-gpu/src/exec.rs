//! The device-resident executor: a network's state in device buffers for a
//! whole run, and the runtime's step plan (`circ_runtime::StepPlan`)
//! recorded into one command buffer per batch of steps. The host hands in
//! the spikes of inputs and reads back spikes (one bitset per population
//! per step) and the recorders' values (copied on the device at the steps
//! they are due).
//!
//! This part runs populations: time-dependent parameters, drives, updates
//! (fused passes included), spike conditions, resets and refractory
//! periods. Projections are refused with their name ([`Executor::new`]).

use crate::{Buffer, Gpu, GpuError, Kernel, Recording};
use circ_ir::plan::{FnKind, FusedPart, Plan};
use circ_ir::{Domain, Network};
use circ_runtime::NetLayout;
use circ_runtime::schedule::{Batch, BatchOut, Loaded, Op, Resident, Src};
use circ_runtime::sim::Fusion;
use std::cell::RefCell;

/// The push constants' layout (byte offsets), as the code generator
/// defines it; handed in so this crate knows no code generator.
#[derive(Clone, Copy, Debug)]
pub struct PushLayout {
    /// Device address of the table of buffer addresses.
    pub table: u32,
    /// The first element.
    pub start: u32,
    /// One past the last element.
    pub count: u32,
    /// `t`, seconds (f64).
    pub t: u32,
    /// `dt`, seconds (f64).
    pub dt: u32,
    /// The step (u64).
    pub step: u32,
    /// The seed (u64).
    pub seed: u32,
    /// Device address of the last refractory steps (i64 per element).
    pub ref_until: u32,
    /// Device address of the spike bitset.
    pub spikes: u32,
    /// Device address of the refractory periods resets set.
    pub refr: u32,
    /// The block's size in bytes.
    pub size: u32,
    /// Invocations per workgroup.
    pub local_size: u32,
}

/// A population's functions, by index in the plan.
#[derive(Clone, Copy, Debug, Default)]
struct PopFns {
    dynamic: Option<usize>,
    drive: Option<usize>,
    update: Option<usize>,
    threshold: Option<usize>,
    reset: Option<usize>,
    fused: Option<usize>,
    /// The `dynamic` kernel computes constants (set by initialisation).
    steady: bool,
}

/// What lives on the device during a run.
struct State {
    /// Per population, per variable.
    vars: Vec<Vec<Buffer>>,
    /// Per population: the addresses of its variables (a function's table).
    tables: Vec<Buffer>,
    ref_until: Vec<Buffer>,
    refr: Vec<Buffer>,
    sizes: Vec<usize>,
}

/// Runs a network's steps on a Vulkan device ([`Resident`]).
pub struct Executor {
    gpu: Gpu,
    push: PushLayout,
    pops: Vec<PopFns>,
    /// Per function of the plan: its kernel, where the executor runs it.
    kernels: Vec<Option<Kernel>>,
    refractory: Kernel,
    /// Per function: whether it runs once (one invocation).
    once: Vec<bool>,
    fusion: Fusion,
    /// Per population: its input variables (zeroed each step).
    inputs: Vec<Vec<usize>>,
    /// The runtime's step plan, handed over by `load`.
    plan: RefCell<Vec<Op>>,
    state: RefCell<Option<State>>,
}

impl Executor {
    /// An executor for `net` under `plan`: `words(f)` is function `f`'s
    /// SPIR-V or why it has none, `refractory` the refractory update's.
    /// Refuses, naming it, what it cannot run yet.
    pub fn new(
        gpu: Gpu,
        net: &Network,
        plan: &Plan,
        push: PushLayout,
        words: &dyn Fn(usize) -> Result<Vec<u32>, String>,
        refractory: &[u32],
    ) -> Result<Executor, GpuError> {
        if let Some(proj) = net.layout.projs.first() {
            return Err(GpuError(format!(
                "projection `{}` ({}): synaptic projections are not on the GPU yet",
                proj.name, proj.origin
            )));
        }
        let mut kernels: Vec<Option<Kernel>> = (0..plan.functions.len()).map(|_| None).collect();
        let mut pops = vec![];
        let mut fusion = Fusion {
            pops: vec![false; net.pops.len()],
            projs: vec![],
            inputs: vec![false; net.pops.len()],
        };
        let load = |f: usize, kernels: &mut Vec<Option<Kernel>>| -> Result<(), GpuError> {
            let w = words(f).map_err(|why| {
                GpuError(format!("{}: {why}", describe(net, &plan.functions[f].kind)))
            })?;
            kernels[f] = Some(gpu.kernel(&w, push.size)?);
            Ok(())
        };
        for (p, m) in plan.map.pops.iter().enumerate() {
            let mut fns = PopFns {
                dynamic: m.dynamic,
                drive: m.drive,
                update: m.update,
                threshold: m.threshold,
                reset: m.reset,
                fused: None,
                steady: net
                    .pops
                    .get(p)
                    .is_some_and(|k| circ_ir::step_invariant(&k.dynamic)),
            };
            // The fused pass where the SPIR-V generator translates it, else
            // the phases one by one.
            if let Some(Some(step)) = plan.map.fused.get(p)
                && words(step.kernel).is_ok()
            {
                load(step.kernel, &mut kernels)?;
                fns.fused = Some(step.kernel);
                fusion.pops[p] = true;
                fusion.inputs[p] = step.parts.contains(&FusedPart::ZeroInputs);
            } else {
                for f in [m.update, m.threshold].into_iter().flatten() {
                    load(f, &mut kernels)?;
                }
            }
            if !fns.steady
                && let Some(f) = m.dynamic
            {
                load(f, &mut kernels)?;
            }
            for f in [m.drive, m.reset].into_iter().flatten() {
                load(f, &mut kernels)?;
            }
            pops.push(fns);
        }
        let once = plan
            .functions
            .iter()
            .map(|f| f.domain == Domain::Once)
            .collect();
        let refractory = gpu.kernel(refractory, push.size)?;
        Ok(Executor {
            gpu,
            push,
            pops,
            kernels,
            refractory,
            once,
            fusion,
            inputs: net
                .layout
                .pops
                .iter()
                .map(|p| {
                    (0..p.vars.len())
                        .filter(|&v| p.vars[v].role == circ_runtime::VarRole::Input)
                        .collect()
                })
                .collect(),
            plan: RefCell::new(vec![]),
            state: RefCell::new(None),
        })
    }

    /// Which populations step in one pass (for the runtime's step plan).
    pub fn fusion(&self) -> Fusion {
        self.fusion.clone()
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        self.gpu.name()
    }

    /// The push constants of a dispatch over `count` elements of
    /// population `p` at step `step`, with spikes in `spikes`.
    fn push_bytes(
        &self,
        st: &State,
        p: usize,
        count: usize,
        clock: (u64, f64, u64),
        spikes: u64,
    ) -> Vec<u8> {
        let (step, dt, seed) = clock;
        let l = &self.push;
        let mut pc = vec![0u8; l.size as usize];
        let mut put = |o: u32, x: [u8; 8]| pc[o as usize..o as usize + 8].copy_from_slice(&x);
        put(l.table, st.tables[p].address.to_le_bytes());
        put(l.start, 0u64.to_le_bytes());
        put(l.count, (count as u64).to_le_bytes());
        put(l.t, (step as f64 * dt).to_le_bytes());
        put(l.dt, dt.to_le_bytes());
        put(l.step, step.to_le_bytes());
        put(l.seed, seed.to_le_bytes());
        put(l.ref_until, st.ref_until[p].address.to_le_bytes());
        put(l.spikes, spikes.to_le_bytes());
        put(l.refr, st.refr[p].address.to_le_bytes());
        pc
    }

    /// Records function `f` (or the refractory update) over population `p`.
    #[allow(clippy::too_many_arguments)]
    fn launch<'a>(
        &'a self,
        rec: &mut Recording<'a>,
        st: &State,
        k: &'a Kernel,
        once: bool,
        p: usize,
        clock: (u64, f64, u64),
        spikes: u64,
    ) {
        let count = if once { 1 } else { st.sizes[p] };
        let pc = self.push_bytes(st, p, count, clock, spikes);
        rec.dispatch(k, &pc, (count as u32).div_ceil(self.push.local_size));
    }

    fn kernel(&self, f: Option<usize>) -> Option<(&Kernel, bool)> {
        let f = f?;
        Some((self.kernels.get(f)?.as_ref()?, self.once[f]))
    }
}

/// A function's description in an error.
fn describe(net: &Network, kind: &FnKind) -> String {
    let pop = |p: usize| {
        net.layout.pops.get(p).map_or_else(
            || format!("population {p}"),
            |l| format!("population `{}`", l.name),
        )
    };
    match kind {
        FnKind::Pop(p, phase) => format!("{} ({})", pop(*p), phase.name()),
        FnKind::Fused(p) => format!("{} (step)", pop(*p)),
        FnKind::Proj(k, ..) => net.layout.projs.get(*k).map_or_else(
            || format!("projection {k}"),
            |l| format!("projection `{}`", l.name),
        ),
    }
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

fn error(e: GpuError) -> String {
    e.0
}

impl Resident for Executor {
    fn load(&self, s: &Loaded<'_>) -> Result<(), String> {
        let layout: &NetLayout = s.layout;
        for op in &s.plan.ops {
            let ok = matches!(
                op,
                Op::ZeroInputs(_)
                    | Op::Dynamic(_)
                    | Op::PopStep(_)
                    | Op::Update(_)
                    | Op::Threshold(_)
                    | Op::Poisson(_)
                    | Op::Scheduled(_)
                    | Op::Reset(_)
            );
            if !ok {
                return Err(format!("{op:?} is not on the GPU yet"));
            }
        }
        let mut st = State {
            vars: vec![],
            tables: vec![],
            ref_until: vec![],
            refr: vec![],
            sizes: layout.pops.iter().map(|p| p.size).collect(),
        };
        for (p, vars) in s.vars.iter().enumerate() {
            let mut bufs = vec![];
            for v in vars {
                let mut b = self.gpu.buffer(v.len() * 8).map_err(error)?;
                b.write(&bytes(v, f64::to_le_bytes)).map_err(error)?;
                bufs.push(b);
            }
            let addrs: Vec<u64> = bufs.iter().map(|b| b.address).collect();
            let mut table = self.gpu.buffer(addrs.len() * 8).map_err(error)?;
            table
                .write(&bytes(&addrs, u64::to_le_bytes))
                .map_err(error)?;
            let ru = s.ref_until.get(p).map_or(&[][..], Vec::as_slice);
            let mut r = self.gpu.buffer(ru.len() * 8).map_err(error)?;
            r.write(&bytes(ru, i64::to_le_bytes)).map_err(error)?;
            st.vars.push(bufs);
            st.tables.push(table);
            st.ref_until.push(r);
            st.refr
                .push(self.gpu.buffer(st.sizes[p] * 8).map_err(error)?);
        }
        *self.state.borrow_mut() = Some(st);
        // The step plan is the runtime's; keep it for the batches.
        self.plan.replace(s.plan.ops.clone());
        Ok(())
    }

    fn run(&self, batch: &Batch<'_>) -> Result<BatchOut, String> {
        let guard = self.state.borrow();
        let st = guard.as_ref().ok_or("the GPU has no state loaded")?;
        let plan = self.plan.borrow();
        let npop = st.sizes.len();
        let steps = batch.count as usize;
        // Spike bitsets: per population, one per step of the batch, holding
        // the inputs' spikes before the step runs.
        let words: Vec<usize> = st.sizes.iter().map(|n| n.div_ceil(32)).collect();
        let mut rings = vec![];
        for p in 0..npop {
            let mut bits = vec![0u32; words[p] * steps];
            for (j, given) in batch.given.iter().enumerate() {
                for &i in given.get(p).map_or(&[][..], Vec::as_slice) {
                    bits[j * words[p] + i as usize / 32] |= 1 << (i % 32);
                }
            }
            let mut b = self.gpu.buffer(bits.len() * 4).map_err(error)?;
            b.write(&bytes(&bits, u32::to_le_bytes)).map_err(error)?;
            rings.push(b);
        }
        // Recorders' values, step by step.
        let mut at = vec![];
        let mut len = 0usize;
        for taps in batch.taps {
            let mut row = vec![];
            for tap in taps {
                row.push(len);
                len += (tap.last - tap.first) * 8;
            }
            at.push(row);
        }
        let tapbuf = self.gpu.buffer(len).map_err(error)?;
        let mut rec = self.gpu.record().map_err(error)?;
        for (j, (taps, row)) in batch.taps.iter().zip(&at).enumerate() {
            let step = batch.first + j as u64;
            let clock = (step, batch.dt, batch.seed);
            for (tap, &to) in taps.iter().zip(row) {
                let Src::Pop(p, v) = tap.src else {
                    return Err("synapse recordings are not on the GPU yet".into());
                };
                let n = (tap.last - tap.first) * 8;
                rec.copy(&st.vars[p][v], tap.first * 8, &tapbuf, to, n);
            }
            for op in plan.iter() {
                let p = match *op {
                    Op::ZeroInputs(p)
                    | Op::Dynamic(p)
                    | Op::PopStep(p)
                    | Op::Update(p)
                    | Op::Threshold(p)
                    | Op::Reset(p) => p,
                    _ => continue,
                };
                let fns = self.pops[p];
                let spikes = rings[p].address + (j * words[p] * 4) as u64;
                match *op {
                    Op::ZeroInputs(p) => {
                        for &v in &self.inputs[p] {
                            rec.zero(&st.vars[p][v], 0, st.vars[p][v].len);
                        }
                    }
                    Op::Dynamic(_) => {
                        let dynamic = if fns.steady { None } else { fns.dynamic };
                        for f in [dynamic, fns.drive] {
                            if let Some((k, once)) = self.kernel(f) {
                                self.launch(&mut rec, st, k, once, p, clock, spikes);
                            }
                        }
                    }
                    Op::PopStep(_) | Op::Update(_) | Op::Threshold(_) => {
                        let f = match *op {
                            Op::PopStep(_) => fns.fused,
                            Op::Update(_) => fns.update,
                            _ => fns.threshold,
                        };
                        if let Some((k, once)) = self.kernel(f) {
                            self.launch(&mut rec, st, k, once, p, clock, spikes);
                        }
                    }
                    _ => {
                        if let Some((k, once)) = self.kernel(fns.reset) {
                            self.launch(&mut rec, st, k, once, p, clock, spikes);
                        }
                        self.launch(&mut rec, st, &self.refractory, false, p, clock, spikes);
                    }
                }
            }
        }
        rec.run().map_err(error)?;
        let mut out = BatchOut {
            spikes: vec![vec![vec![]; npop]; steps],
            taps: vec![],
        };
        for (p, ring) in rings.iter().enumerate() {
            let raw = ring.read();
            for (j, list) in out.spikes.iter_mut().enumerate() {
                let slot = &raw[j * words[p] * 4..(j + 1) * words[p] * 4];
                for (w, c) in slot.chunks_exact(4).enumerate() {
                    let mut x = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
                    while x != 0 {
                        let b = x.trailing_zeros();
                        list[p].push((w * 32) as u32 + b);
                        x &= x - 1;
                    }
                }
            }
        }
        let values = tapbuf.read();
        for (taps, row) in batch.taps.iter().zip(&at) {
            out.taps.push(
                taps.iter()
                    .zip(row)
                    .map(|(tap, &o)| floats(&values[o..o + (tap.last - tap.first) * 8]))
                    .collect(),
            );
        }
        Ok(out)
    }

    fn store(&self, vars: &mut [Vec<Vec<f64>>], ref_until: &mut [Vec<i64>]) -> Result<(), String> {
        let guard = self.state.borrow();
        let st = guard.as_ref().ok_or("the GPU has no state loaded")?;
        for (p, bufs) in st.vars.iter().enumerate() {
            for (v, b) in bufs.iter().enumerate() {
                let x = floats(&b.read());
                if let Some(dst) = vars.get_mut(p).and_then(|vs| vs.get_mut(v)) {
                    let n = dst.len().min(x.len());
                    dst[..n].copy_from_slice(&x[..n]);
                }
            }
            if let Some(dst) = ref_until.get_mut(p) {
                let raw = st.ref_until[p].read();
                for (d, c) in dst.iter_mut().zip(raw.chunks_exact(8)) {
                    *d = i64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                }
            }
        }
        Ok(())
    }
}
