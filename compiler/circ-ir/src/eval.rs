//! The reference semantics of kernel statements and expressions, run one
//! element at a time: the interpreter runs kernels with it, and every
//! executor evaluates connection conditions (`where`) with it when synapses
//! are made. It must not optimise or reorder anything: each expression is
//! evaluated as written, with the shared definitions of
//! [`eval_bin`]/[`eval_func`].

use crate::{Expr, Network, Space, Stmt, Un, eval_bin, eval_func};

/// Where the current element is and what the step is.
pub struct Cursor<'t> {
    /// The data tables.
    pub tables: &'t [Vec<f64>],
    /// `t_n`.
    pub t: f64,
    /// The time step.
    pub dt: f64,
    /// The step index.
    pub step: u64,
    /// The seed.
    pub seed: u64,
    /// Population element, or synapse.
    pub element: usize,
    /// The element's number in the whole network, which keys its draws and
    /// is its `Index`: `element`, but for a synapse of a network split
    /// across processes (its index among the whole projection's).
    pub key: usize,
    /// Presynaptic / postsynaptic neuron (projection kernels).
    pub i: usize,
    /// Postsynaptic neuron (projection kernels).
    pub j: usize,
    /// Whether the element is refractory.
    pub refractory: bool,
    /// The kernel's temporaries.
    pub temps: Vec<f64>,
    /// Set by `Spike`: the element fires.
    pub spike: bool,
    /// Set by `SetRefractory`: its refractory period (s).
    pub refr_out: f64,
}

/// Variable storage as a kernel sees it.
pub trait Mem {
    /// Reads variable `v` at the cursor.
    fn load(&self, v: u32, c: &Cursor<'_>) -> f64;
    /// Writes variable `v` at the cursor.
    fn store(&mut self, v: u32, c: &Cursor<'_>, x: f64);
    /// Adds to variable `v` at the cursor.
    fn add(&mut self, v: u32, c: &Cursor<'_>, x: f64);
}

/// A buffer's value at `i` (a one-value buffer is a scalar).
pub fn at(buf: &[f64], i: usize) -> f64 {
    if buf.len() == 1 {
        buf[0]
    } else {
        buf.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// A buffer's place at `i` (a one-value buffer is a scalar).
pub fn at_mut(buf: &mut [f64], i: usize) -> Option<&mut f64> {
    if buf.len() == 1 {
        buf.first_mut()
    } else {
        buf.get_mut(i)
    }
}

/// Evaluates `e` at the cursor.
pub fn eval<M: Mem>(e: &Expr, m: &M, c: &Cursor<'_>) -> f64 {
    let truth = |b: bool| if b { 1.0 } else { 0.0 };
    match e {
        Expr::Const(x) => *x,
        Expr::Load(v) => m.load(*v, c),
        Expr::Temp(t) => c.temps.get(*t as usize).copied().unwrap_or(f64::NAN),
        Expr::Time => c.t,
        Expr::Dt => c.dt,
        Expr::Index => c.key as f64,
        Expr::PreIndex => c.i as f64,
        Expr::PostIndex => c.j as f64,
        Expr::Refractory => truth(c.refractory),
        Expr::Un(Un::Neg, a) => -eval(a, m, c),
        Expr::Un(Un::Not, a) => truth(eval(a, m, c) == 0.0),
        Expr::Bin(op, a, b) => eval_bin(*op, eval(a, m, c), eval(b, m, c)),
        Expr::Call(f, args) => {
            let vals: Vec<f64> = args.iter().map(|a| eval(a, m, c)).collect();
            eval_func(*f, &vals)
        }
        Expr::Select(k, a, b) => {
            if eval(k, m, c) != 0.0 {
                eval(a, m, c)
            } else {
                eval(b, m, c)
            }
        }
        Expr::Table(t, a) => crate::table_at(
            c.tables.get(*t as usize).map_or(&[][..], Vec::as_slice),
            eval(a, m, c),
        ),
        Expr::Rand(dist, stream) => {
            let s = *stream;
            let el = c.key as u32;
            crate::math::eval_rand(*dist, c.seed, s, el, c.step)
        }
    }
}

/// Runs `body` at the cursor.
pub fn exec<M: Mem>(body: &[Stmt], m: &mut M, c: &mut Cursor<'_>) {
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                let v = eval(e, m, c);
                if let Some(slot) = c.temps.get_mut(*t as usize) {
                    *slot = v;
                }
            }
            Stmt::Store(var, e) => {
                let v = eval(e, m, c);
                m.store(*var, c, v);
            }
            Stmt::AddTo(var, e) => {
                let v = eval(e, m, c);
                m.add(*var, c, v);
            }
            Stmt::If(k, a, b) => {
                if eval(k, m, c) != 0.0 {
                    exec(a, m, c);
                } else {
                    exec(b, m, c);
                }
            }
            Stmt::While(k, a) => {
                while eval(k, m, c) != 0.0 {
                    exec(a, m, c);
                }
            }
            Stmt::Spike(k) => c.spike = eval(k, m, c) != 0.0,
            Stmt::SetRefractory(e) => c.refr_out = eval(e, m, c),
        }
    }
}

/// Whether the connection condition of projection `proj` (a `where`, or
/// the probability of a `distance` rule) keeps the pair (i, j); `pre` and
/// `post` are the two populations' buffers (positions), `tables` the data
/// tables. A projection without one keeps every pair.
#[allow(clippy::too_many_arguments)]
pub fn keeps_pair(
    net: &Network,
    tables: &[Vec<f64>],
    proj: usize,
    i: u32,
    j: u32,
    pre: &[Vec<f64>],
    post: &[Vec<f64>],
    seed: u64,
) -> bool {
    let Some(Some(f)) = net.projs.get(proj).map(|k| k.filter.as_ref()) else {
        return true;
    };
    let Some(layout) = net.layout.projs.get(proj) else {
        return true;
    };
    /// Reads the two populations' variables at the pair.
    struct PairMem<'a> {
        spaces: Vec<Space>,
        pre: &'a [Vec<f64>],
        post: &'a [Vec<f64>],
    }
    impl Mem for PairMem<'_> {
        fn load(&self, v: u32, c: &Cursor<'_>) -> f64 {
            match self.spaces.get(v as usize) {
                Some(Space::PreNeuron(pv)) => self.pre.get(*pv).map_or(f64::NAN, |b| at(b, c.i)),
                Some(Space::PostNeuron(pv)) => self.post.get(*pv).map_or(f64::NAN, |b| at(b, c.j)),
                _ => f64::NAN,
            }
        }
        fn store(&mut self, _: u32, _: &Cursor<'_>, _: f64) {}
        fn add(&mut self, _: u32, _: &Cursor<'_>, _: f64) {}
    }
    let m = PairMem {
        spaces: layout.vars.iter().map(|v| v.space).collect(),
        pre,
        post,
    };
    // A draw per pair: element i, counter j.
    let c = Cursor {
        tables,
        t: 0.0,
        dt: 0.0,
        step: u64::from(j),
        seed,
        element: i as usize,
        key: i as usize,
        i: i as usize,
        j: j as usize,
        refractory: false,
        temps: vec![],
        spike: false,
        refr_out: 0.0,
    };
    eval(f, &m, &c) != 0.0
}
