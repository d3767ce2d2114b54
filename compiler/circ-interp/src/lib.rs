//! circ-interp runs IR kernels directly, one element at a time. It is slow
//! and obviously correct: the oracle every other backend is compared with.
//! It must not optimise or reorder anything: each expression is evaluated as
//! written, with the shared definitions of `circ_ir::eval_bin`/`eval_func`,
//! and elements are visited in increasing order.

use circ_ir::eval::{Cursor, Mem, at, at_mut, exec};
use circ_ir::plan::{PopPhase, proj_kernels};
use circ_ir::{Domain, Kernel, Network, PopKernels, Space};
use circ_runtime::sim::{Backend, ProjCtx, ProjPhase, StepCtx};

/// The interpreter over one network.
pub struct Interp<'a> {
    net: &'a Network,
    tables: Vec<Vec<f64>>,
}

impl<'a> Interp<'a> {
    /// Interprets `net` (which reads no data tables).
    pub fn new(net: &'a Network) -> Self {
        Interp {
            net,
            tables: vec![],
        }
    }

    /// Interprets `net` with its data tables loaded (`NetLayout::tables`).
    pub fn with_tables(net: &'a Network, tables: Vec<Vec<f64>>) -> Self {
        Interp { net, tables }
    }
}

/// A population's variables.
struct PopMem<'v> {
    vars: &'v mut [Vec<f64>],
}

impl Mem for PopMem<'_> {
    fn load(&self, v: u32, c: &Cursor<'_>) -> f64 {
        self.vars
            .get(v as usize)
            .map_or(f64::NAN, |b| at(b, c.element))
    }
    fn store(&mut self, v: u32, c: &Cursor<'_>, x: f64) {
        if let Some(slot) = self
            .vars
            .get_mut(v as usize)
            .and_then(|b| at_mut(b, c.element))
        {
            *slot = x;
        }
    }
    fn add(&mut self, v: u32, c: &Cursor<'_>, x: f64) {
        if let Some(slot) = self
            .vars
            .get_mut(v as usize)
            .and_then(|b| at_mut(b, c.element))
        {
            *slot += x;
        }
    }
}

/// A projection's variables and views of its two populations.
struct ProjMem<'v, 'c> {
    spaces: &'v [Space],
    ctx: &'v mut ProjCtx<'c>,
}

impl ProjMem<'_, '_> {
    fn index(&self, v: u32, c: &Cursor<'_>) -> Option<(Space, usize)> {
        let space = *self.spaces.get(v as usize)?;
        let idx = match space {
            Space::Scalar => 0,
            Space::Syn => c.element,
            Space::PreState | Space::PreNeuron(_) => c.i,
            Space::PostState | Space::PostNeuron(_) => c.j,
        };
        Some((space, idx))
    }
}

impl Mem for ProjMem<'_, '_> {
    fn load(&self, v: u32, c: &Cursor<'_>) -> f64 {
        match self.index(v, c) {
            Some((Space::PreNeuron(pv), i)) => self.ctx.pre.get(pv).map_or(f64::NAN, |b| at(b, i)),
            Some((Space::PostNeuron(pv), j)) => {
                self.ctx.post.get(pv).map_or(f64::NAN, |b| at(b, j))
            }
            Some((_, idx)) => self
                .ctx
                .vars
                .get(v as usize)
                .map_or(f64::NAN, |b| at(b, idx)),
            None => f64::NAN,
        }
    }
    fn store(&mut self, v: u32, c: &Cursor<'_>, x: f64) {
        if let Some((space, idx)) = self.index(v, c)
            && !matches!(space, Space::PreNeuron(_) | Space::PostNeuron(_))
            && let Some(slot) = self
                .ctx
                .vars
                .get_mut(v as usize)
                .and_then(|b| at_mut(b, idx))
        {
            *slot = x;
        }
    }
    fn add(&mut self, v: u32, c: &Cursor<'_>, x: f64) {
        match self.index(v, c) {
            Some((Space::PostNeuron(pv), j)) => {
                if let Some(slot) = self.ctx.acc.get_mut(pv).and_then(|b| b.get_mut(j)) {
                    *slot += x;
                }
            }
            Some((Space::PreNeuron(_), _)) | None => {}
            Some((_, idx)) => {
                if let Some(slot) = self
                    .ctx
                    .vars
                    .get_mut(v as usize)
                    .and_then(|b| at_mut(b, idx))
                {
                    *slot += x;
                }
            }
        }
    }
}

fn cursor<'t>(tables: &'t [Vec<f64>], ctx: &StepCtx<'_>, temps: u32) -> Cursor<'t> {
    Cursor {
        tables,
        t: ctx.t,
        dt: ctx.dt,
        step: ctx.step,
        seed: ctx.seed,
        element: 0,
        key: 0,
        i: 0,
        j: 0,
        refractory: false,
        temps: vec![0.0; temps as usize],
        spike: false,
        refr_out: 0.0,
    }
}

impl Interp<'_> {
    fn run_pop(&self, k: &Kernel, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>, size: usize) {
        if k.body.is_empty() {
            return;
        }
        let n = if k.domain == Domain::Once { 1 } else { size };
        let mut c = cursor(&self.tables, ctx, k.temps);
        let mut m = PopMem { vars };
        let range = if k.domain == Domain::Once {
            0..1
        } else {
            ctx.elements(n)
        };
        for i in range {
            c.element = i;
            c.key = i;
            c.refractory = ctx.refractory(i);
            exec(&k.body, &mut m, &mut c);
        }
    }

    /// Runs a population phase's kernel, if it has one.
    fn run_phase(
        &self,
        k: &PopKernels,
        phase: PopPhase,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        pop: usize,
    ) {
        if let Some(kernel) = phase.kernel(k) {
            self.run_pop(kernel, vars, ctx, self.size(pop));
        }
    }

    fn size(&self, pop: usize) -> usize {
        self.net.layout.pops.get(pop).map_or(0, |p| p.size)
    }

    fn run_proj(&self, p: usize, k: &Kernel, ctx: &mut ProjCtx<'_>) {
        if k.body.is_empty() {
            return;
        }
        let Some(layout) = self.net.layout.projs.get(p) else {
            return;
        };
        let spaces: Vec<Space> = layout.vars.iter().map(|v| v.space).collect();
        let mut c = Cursor {
            tables: &self.tables,
            t: ctx.t,
            dt: ctx.dt,
            step: ctx.step,
            seed: ctx.seed,
            element: 0,
            key: 0,
            i: 0,
            j: 0,
            refractory: false,
            temps: vec![0.0; k.temps as usize],
            spike: false,
            refr_out: 0.0,
        };
        let (n_pre, n_post) = (ctx.csr.n_pre, ctx.csr.n_post);
        // The elements to visit, as (element, i, j).
        let elements: Vec<(usize, usize, usize)> = match k.domain {
            Domain::Once | Domain::Each | Domain::Spiking => vec![(0, 0, 0)],
            Domain::PreNeurons => (0..n_pre).map(|i| (i, i, 0)).collect(),
            Domain::PostNeurons => (0..n_post).map(|j| (j, 0, j)).collect(),
            Domain::Synapses => (0..ctx.csr.len())
                .map(|s| (s, ctx.csr.pre[s] as usize, ctx.csr.post[s] as usize))
                .collect(),
            Domain::SpikingPre => ctx
                .spiking_pre
                .iter()
                .map(|&i| (i as usize, i as usize, 0))
                .collect(),
            Domain::Arriving => ctx
                .arriving
                .iter()
                .copied()
                .chain(ctx.arriving_rows.iter().flat_map(|&i| {
                    ctx.csr.offsets[i as usize] as u32..ctx.csr.offsets[i as usize + 1] as u32
                }))
                .map(|s| {
                    (
                        s as usize,
                        ctx.csr.pre[s as usize] as usize,
                        ctx.csr.post[s as usize] as usize,
                    )
                })
                .collect(),
            Domain::SpikingPost => ctx
                .spiking_post
                .iter()
                .map(|&j| (j as usize, 0, j as usize))
                .collect(),
            Domain::PostSpikeSynapses => ctx
                .spiking_post
                .iter()
                .flat_map(|&j| {
                    let (a, b) = (
                        ctx.csr.by_post_offsets[j as usize],
                        ctx.csr.by_post_offsets[j as usize + 1],
                    );
                    ctx.csr.by_post[a..b]
                        .iter()
                        .map(|&s| (s as usize, ctx.csr.pre[s as usize] as usize, j as usize))
                        .collect::<Vec<_>>()
                })
                .collect(),
        };
        let keys = &ctx.csr.keys;
        let mut m = ProjMem {
            spaces: &spaces,
            ctx,
        };
        for (e, i, j) in elements {
            c.element = e;
            // Synapses of a split network: their numbers in the whole one.
            c.key = if k.domain.has_synapse() {
                keys.get(e).map_or(e, |&g| g as usize)
            } else {
                e
            };
            c.i = i;
            c.j = j;
            exec(&k.body, &mut m, &mut c);
        }
    }
}

impl Backend for Interp<'_> {
    fn pre_reads(&self, proj: usize) -> Option<Vec<usize>> {
        Some(circ_ir::plan::pre_reads(self.net, proj))
    }

    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            // Scalar values first (the dynamic kernel at t = 0), so that
            // initial states may read time-dependent parameters.
            for phase in PopPhase::INIT_ORDER {
                self.run_phase(k, phase, vars, ctx, pop);
            }
        }
    }

    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            for phase in PopPhase::DYNAMIC_ORDER {
                self.run_phase(k, phase, vars, ctx, pop);
            }
        }
    }

    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            self.run_phase(k, PopPhase::Update, vars, ctx, pop);
        }
    }

    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        let Some(Some(k)) = self.net.pops.get(pop).map(|k| k.threshold.as_ref()) else {
            return;
        };
        let mut c = cursor(&self.tables, ctx, k.temps);
        let mut m = PopMem { vars };
        for i in ctx.elements(self.size(pop)) {
            if ctx.refractory(i) {
                continue;
            }
            c.element = i;
            c.key = i;
            c.spike = false;
            exec(&k.body, &mut m, &mut c);
            if c.spike {
                spikes.push(i as u32);
            }
        }
    }

    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    ) {
        let Some(Some(k)) = self.net.pops.get(pop).map(|k| k.reset.as_ref()) else {
            refractory.extend(std::iter::repeat_n(0.0, spiking.len()));
            return;
        };
        let mut c = cursor(&self.tables, ctx, k.temps);
        let mut m = PopMem { vars };
        for &i in spiking {
            c.element = i as usize;
            c.key = i as usize;
            c.refr_out = 0.0;
            exec(&k.body, &mut m, &mut c);
            refractory.push(c.refr_out);
        }
    }

    fn proj(&self, proj: usize, phase: ProjPhase, ctx: &mut ProjCtx<'_>) -> bool {
        let Some(k) = self.net.projs.get(proj) else {
            return false;
        };
        let mut ran = false;
        for kernel in proj_kernels(k, phase) {
            ran |= !kernel.body.is_empty();
            self.run_proj(proj, kernel, ctx);
        }
        ran
    }

    fn proj_filter(
        &self,
        proj: usize,
        i: u32,
        j: u32,
        pre: &[Vec<f64>],
        post: &[Vec<f64>],
        seed: u64,
    ) -> bool {
        circ_ir::eval::keeps_pair(self.net, &self.tables, proj, i, j, pre, post, seed)
    }
}
