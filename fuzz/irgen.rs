//! Random well-formed networks for the differential IR fuzzer (as
//! Cranelift's `cranelift-fuzzgen`): one population of a few elements whose
//! kernels use every expression and statement form, built from a stream of
//! choices (the fuzzer's bytes, or a seeded generator in the stable test),
//! then run on the interpreter and on another backend, which must agree
//! bit for bit. Shared by `fuzz/fuzz_targets/ir_diff.rs` and
//! `compiler/circ-backends/tests/ir_fuzz.rs`.

#![allow(dead_code)]

use circ_ir::{
    Bin, Dist, Domain, Expr, Func, Kernel, Network, PopKernels, PopLayout, Stmt, Un, VarLayout,
    VarRole,
};

/// Where choices come from.
pub trait Choices {
    /// A number in `0..n` (n > 0).
    fn pick(&mut self, n: usize) -> usize;
    /// Any double.
    fn float(&mut self) -> f64;
}

/// Choices from bytes; zeros once they run out (so every input is a case).
pub struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    /// Reads `data` front to back.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
}

impl Choices for Bytes<'_> {
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    fn float(&mut self) -> f64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        f64::from_le_bytes(b)
    }
}

/// Choices from a seeded generator (splitmix64).
pub struct Seeded(pub u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Choices for Seeded {
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn float(&mut self) -> f64 {
        f64::from_bits(self.next())
    }
}

const CONSTS: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    3.0,
    -2.5,
    1e-300,
    1e300,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    4.9e-324,
    0.1,
    700.0,
];

const BINS: [Bin; 16] = [
    Bin::Add,
    Bin::Sub,
    Bin::Mul,
    Bin::Div,
    Bin::Rem,
    Bin::Pow,
    Bin::Lt,
    Bin::Le,
    Bin::Gt,
    Bin::Ge,
    Bin::Eq,
    Bin::Ne,
    Bin::And,
    Bin::Or,
    Bin::Min,
    Bin::Max,
];

struct Gen<'c> {
    c: &'c mut dyn Choices,
    /// Per-element variables and scalar ones (indices).
    elems: Vec<u32>,
    scalars: Vec<u32>,
    temps: u32,
    defined: Vec<u32>,
    stream: u32,
}

impl Gen<'_> {
    fn konst(&mut self) -> f64 {
        if self.c.pick(4) == 0 {
            let x = self.c.float();
            // The verifier refuses NaN constants (lowering makes none).
            if x.is_nan() { 0.25 } else { x }
        } else {
            CONSTS[self.c.pick(CONSTS.len())]
        }
    }

    fn expr(&mut self, depth: u32, once: bool) -> Expr {
        let leaf = depth == 0 || self.c.pick(3) == 0;
        if leaf {
            return match self.c.pick(8) {
                0 | 1 => Expr::Const(self.konst()),
                2 if !once && !self.elems.is_empty() => {
                    Expr::Load(self.elems[self.c.pick(self.elems.len())])
                }
                3 if !self.scalars.is_empty() => {
                    Expr::Load(self.scalars[self.c.pick(self.scalars.len())])
                }
                4 if !self.defined.is_empty() => {
                    Expr::Temp(self.defined[self.c.pick(self.defined.len())])
                }
                5 => [Expr::Time, Expr::Dt][self.c.pick(2)].clone(),
                6 if !once => [Expr::Index, Expr::Refractory][self.c.pick(2)].clone(),
                7 => {
                    self.stream += 1;
                    let d = [Dist::Uniform, Dist::Normal][self.c.pick(2)];
                    Expr::Rand(d, self.stream)
                }
                _ => Expr::Const(self.konst()),
            };
        }
        let d = depth - 1;
        match self.c.pick(5) {
            0 => {
                let op = [Un::Neg, Un::Not][self.c.pick(2)];
                Expr::Un(op, Box::new(self.expr(d, once)))
            }
            1 | 2 => {
                let op = BINS[self.c.pick(BINS.len())];
                Expr::bin(op, self.expr(d, once), self.expr(d, once))
            }
            3 => {
                let f = Func::ALL[self.c.pick(Func::ALL.len())];
                let args = (0..f.arity()).map(|_| self.expr(d, once)).collect();
                Expr::Call(f, args)
            }
            _ => Expr::Select(
                Box::new(self.expr(d, once)),
                Box::new(self.expr(d, once)),
                Box::new(self.expr(d, once)),
            ),
        }
    }

    fn stmts(&mut self, n: usize, depth: u32) -> Vec<Stmt> {
        let mut body = vec![];
        for _ in 0..n {
            match self.c.pick(4) {
                0 => {
                    let t = self.temps;
                    self.temps += 1;
                    let e = self.expr(3, false);
                    self.defined.push(t);
                    body.push(Stmt::Let(t, e));
                }
                1 if depth > 0 => {
                    let c = self.expr(2, false);
                    let before = self.defined.len();
                    let k = 1 + self.c.pick(3);
                    let a = self.stmts(k, depth - 1);
                    self.defined.truncate(before);
                    let k = self.c.pick(3);
                    let b = self.stmts(k, depth - 1);
                    self.defined.truncate(before);
                    body.push(Stmt::If(c, a, b));
                }
                _ => {
                    let v = self.elems[self.c.pick(self.elems.len())];
                    let e = self.expr(4, false);
                    body.push(Stmt::Store(v, e));
                }
            }
        }
        body
    }

    fn kernel(&mut self, name: &str, domain: Domain, body: Vec<Stmt>) -> Kernel {
        let k = Kernel {
            name: name.into(),
            domain,
            temps: self.temps,
            body,
        };
        self.temps = 0;
        self.defined.clear();
        k
    }
}

/// A random network: one population of 1 to 9 elements (odd sizes leave
/// vector loops a scalar tail), 1 to 4 per-element and 0 to 2 scalar
/// variables (parameters: never checked for NaN), an initialiser, a
/// time-dependent scalar kernel, an update of random statements (nested
/// `if`s, temporaries, every operator, function and draw), and maybe a
/// threshold and a reset.
pub fn network(c: &mut dyn Choices) -> Network {
    let size = 1 + c.pick(9);
    let n_elem = 1 + c.pick(4);
    let n_scalar = c.pick(3);
    let mut vars = vec![];
    for k in 0..n_elem + n_scalar {
        vars.push(VarLayout {
            name: format!("v{k}"),
            role: VarRole::Param,
            scalar: k >= n_elem,
        });
    }
    let mut g = Gen {
        c,
        elems: (0..n_elem as u32).collect(),
        scalars: (n_elem as u32..(n_elem + n_scalar) as u32).collect(),
        temps: 0,
        defined: vec![],
        stream: 0,
    };
    // init: every per-element variable from the index and constants.
    let scalars = std::mem::take(&mut g.scalars);
    let mut init = vec![];
    for v in 0..n_elem as u32 {
        let e = g.expr(3, false);
        init.push(Stmt::Store(v, e));
    }
    let init = g.kernel("init", Domain::Each, init);
    g.scalars = scalars;
    // dynamic: the scalars, from time and constants.
    let mut dynamic = vec![];
    let saved = std::mem::take(&mut g.scalars);
    for &v in &saved {
        let e = g.expr(3, true);
        dynamic.push(Stmt::Store(v, e));
    }
    g.scalars = saved;
    let dynamic = g.kernel("dynamic", Domain::Once, dynamic);
    let k = 1 + g.c.pick(5);
    let body = g.stmts(k, 2);
    let update = g.kernel("update", Domain::Each, body);
    let (threshold, reset) = if g.c.pick(2) == 0 {
        let cond = g.expr(3, false);
        let t = g.kernel("threshold", Domain::Each, vec![Stmt::Spike(cond)]);
        let k = 1 + g.c.pick(2);
        let mut body = g.stmts(k, 1);
        if g.c.pick(2) == 0 {
            body.push(Stmt::SetRefractory(Expr::Const(
                [0.0, 1e-4, 2.5e-4, 1e-3][g.c.pick(4)],
            )));
        }
        let r = g.kernel("reset", Domain::Spiking, body);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let mut net = Network::default();
    net.layout.pops.push(PopLayout {
        name: "P".into(),
        model: "Fuzz".into(),
        size,
        vars,
        ..PopLayout::default()
    });
    net.pops.push(PopKernels {
        init,
        dynamic,
        update,
        threshold,
        reset,
        ..PopKernels::default()
    });
    net
}

/// Every variable's bits, and the spikes (step, element) per population.
pub type Outcome = (Vec<Vec<u64>>, Vec<Vec<(u64, u32)>>);

/// Runs `net` for `steps` steps on `backend`.
pub fn run(net: &Network, backend: &str, threads: usize, steps: u64) -> Result<Outcome, String> {
    let settings = circ_backends::Settings {
        threads,
        min_parallel: (threads > 1).then_some(1),
        ..Default::default()
    };
    let inst = circ_backends::instantiate(backend, net, vec![], &settings)?;
    let bopts = circ_runtime::BuildOptions {
        seed: 7,
        dt: 1e-4,
        base: std::path::Path::new("."),
        memory_limit: None,
    };
    let mut sim = circ_runtime::Simulation::build(&net.layout, inst.backend.as_ref(), &bopts)
        .map_err(|e| format!("{e}"))?;
    let ropts = circ_runtime::RunOptions {
        duration: steps as f64 * 1e-4,
        dt: 1e-4,
        seed: 7,
        check_every: u64::MAX,
    };
    let r = sim.run(inst.backend.as_ref(), &ropts);
    if let Some(e) = r.stopped {
        return Err(format!("{e:?}"));
    }
    let vars = sim
        .vars(0)
        .iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .collect();
    Ok((vars, r.spikes))
}

/// Runs one case on the interpreter and on `backend`; `Err` says how they differ.
pub fn differ(net: &Network, backend: &str, threads: usize) -> Result<(), String> {
    if let Err(e) = circ_ir::verify(net) {
        return Err(format!("the generator made an invalid network: {e}"));
    }
    let want = run(net, "interp", 1, 3)?;
    let got = run(net, backend, threads, 3)?;
    if want != got {
        return Err(format!(
            "{backend}/t{threads} differs from the interpreter:\n{}\ninterp: {:?}\n{backend}: {:?}",
            circ_ir::print(net),
            want,
            got
        ));
    }
    Ok(())
}
