//! circ-interp runs IR kernels directly, one element at a time. It is slow
//! and obviously correct: the oracle every other backend is compared with.
//! It must not optimise or reorder anything: each expression is evaluated as
//! written, with the shared definitions of `circ_ir::eval_bin`/`eval_func`.

use circ_ir::{Dist, Domain, Expr, Kernel, Network, Stmt, Un, eval_bin, eval_func};
use circ_runtime::philox;
use circ_runtime::sim::{Backend, StepCtx};

/// The interpreter over one network.
pub struct Interp<'a> {
    net: &'a Network,
}

impl<'a> Interp<'a> {
    /// Interprets `net`.
    pub fn new(net: &'a Network) -> Self {
        Interp { net }
    }
}

/// Per-element evaluation state.
struct Frame<'c> {
    element: usize,
    temps: Vec<f64>,
    ctx: &'c StepCtx<'c>,
    /// Random streams are keyed per kernel so init and update draws differ.
    stream_base: u32,
    spike: bool,
    refractory: f64,
}

fn load(vars: &[Vec<f64>], v: u32, element: usize) -> f64 {
    match vars.get(v as usize) {
        Some(buf) if buf.len() == 1 => buf[0],
        Some(buf) => buf.get(element).copied().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

fn eval(e: &Expr, vars: &[Vec<f64>], f: &Frame<'_>) -> f64 {
    match e {
        Expr::Const(c) => *c,
        Expr::Load(v) => load(vars, *v, f.element),
        Expr::Temp(t) => f.temps.get(*t as usize).copied().unwrap_or(f64::NAN),
        Expr::Time => f.ctx.t,
        Expr::Dt => f.ctx.dt,
        Expr::Index => f.element as f64,
        Expr::Refractory => {
            if f.ctx.refractory(f.element) {
                1.0
            } else {
                0.0
            }
        }
        Expr::Un(Un::Neg, a) => -eval(a, vars, f),
        Expr::Un(Un::Not, a) => {
            if eval(a, vars, f) == 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Expr::Bin(op, a, b) => eval_bin(*op, eval(a, vars, f), eval(b, vars, f)),
        Expr::Call(func, args) => {
            let vals: Vec<f64> = args.iter().map(|a| eval(a, vars, f)).collect();
            eval_func(*func, &vals)
        }
        Expr::Select(c, a, b) => {
            if eval(c, vars, f) != 0.0 {
                eval(a, vars, f)
            } else {
                eval(b, vars, f)
            }
        }
        Expr::Rand(dist, stream) => {
            let s = f.stream_base.wrapping_add(*stream);
            let el = f.element as u32;
            match dist {
                Dist::Uniform => philox::uniform(f.ctx.seed, s, el, f.ctx.step),
                Dist::Normal => philox::normal(f.ctx.seed, s, el, f.ctx.step),
            }
        }
    }
}

fn exec(body: &[Stmt], vars: &mut [Vec<f64>], f: &mut Frame<'_>) {
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                let v = eval(e, vars, f);
                if let Some(slot) = f.temps.get_mut(*t as usize) {
                    *slot = v;
                }
            }
            Stmt::Store(var, e) => {
                let v = eval(e, vars, f);
                if let Some(buf) = vars.get_mut(*var as usize) {
                    let i = if buf.len() == 1 { 0 } else { f.element };
                    if let Some(slot) = buf.get_mut(i) {
                        *slot = v;
                    }
                }
            }
            Stmt::If(c, a, b) => {
                if eval(c, vars, f) != 0.0 {
                    exec(a, vars, f);
                } else {
                    exec(b, vars, f);
                }
            }
            Stmt::Spike(c) => f.spike = eval(c, vars, f) != 0.0,
            Stmt::SetRefractory(e) => f.refractory = eval(e, vars, f),
        }
    }
}

/// Stream bases: each kernel role draws from its own range of streams.
const INIT_STREAMS: u32 = 0;
const DYNAMIC_STREAMS: u32 = 1 << 20;
const UPDATE_STREAMS: u32 = 2 << 20;
const RESET_STREAMS: u32 = 3 << 20;

impl Interp<'_> {
    fn run_each(
        &self,
        k: &Kernel,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        size: usize,
        base: u32,
    ) {
        if k.body.is_empty() {
            return;
        }
        let n = if k.domain == Domain::Once { 1 } else { size };
        let mut f = Frame {
            element: 0,
            temps: vec![0.0; k.temps as usize],
            ctx,
            stream_base: base,
            spike: false,
            refractory: 0.0,
        };
        for i in 0..n {
            f.element = i;
            exec(&k.body, vars, &mut f);
        }
    }

    fn size(&self, pop: usize) -> usize {
        self.net.layout.pops.get(pop).map_or(0, |p| p.size)
    }
}

impl Backend for Interp<'_> {
    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            // Scalar values first (the dynamic kernel at t = 0), so that
            // initial states may read time-dependent parameters.
            self.run_each(&k.dynamic, vars, ctx, 1, DYNAMIC_STREAMS);
            self.run_each(&k.init, vars, ctx, self.size(pop), INIT_STREAMS);
        }
    }

    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            self.run_each(&k.dynamic, vars, ctx, 1, DYNAMIC_STREAMS);
        }
    }

    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        if let Some(k) = self.net.pops.get(pop) {
            self.run_each(&k.update, vars, ctx, self.size(pop), UPDATE_STREAMS);
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
        let mut f = Frame {
            element: 0,
            temps: vec![0.0; k.temps as usize],
            ctx,
            stream_base: UPDATE_STREAMS,
            spike: false,
            refractory: 0.0,
        };
        for i in 0..self.size(pop) {
            if ctx.refractory(i) {
                continue;
            }
            f.element = i;
            f.spike = false;
            exec(&k.body, vars, &mut f);
            if f.spike {
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
        let mut f = Frame {
            element: 0,
            temps: vec![0.0; k.temps as usize],
            ctx,
            stream_base: RESET_STREAMS,
            spike: false,
            refractory: 0.0,
        };
        for &i in spiking {
            f.element = i as usize;
            f.refractory = 0.0;
            exec(&k.body, vars, &mut f);
            refractory.push(f.refractory);
        }
    }
}
