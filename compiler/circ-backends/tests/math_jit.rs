//! Math has one definition (spec/math.md): the JIT's inlined programs give
//! the interpreter's bits for every function and `^`, `min`, `max`, on two
//! lanes (a vectorised kernel) and on one (a kernel that cannot be), over
//! edge values, random bit patterns (every class of double, NaN payloads
//! included) and arguments in the ranges models use.

use circ_backends::{Settings, instantiate};
use circ_ir::{
    Bin, Domain, Expr, Func, Kernel, Network, PopKernels, PopLayout, Stmt, VarLayout, VarRole,
};
use circ_runtime::StepCtx;

const FUNCS: [Func; 26] = [
    Func::Exp,
    Func::Log,
    Func::Log10,
    Func::Log2,
    Func::Sin,
    Func::Cos,
    Func::Tan,
    Func::Asin,
    Func::Acos,
    Func::Atan,
    Func::Sinh,
    Func::Cosh,
    Func::Tanh,
    Func::Expm1,
    Func::Log1p,
    Func::Sigmoid,
    Func::Erf,
    Func::Abs,
    Func::Floor,
    Func::Ceil,
    Func::Round,
    Func::Sqrt,
    Func::Cbrt,
    Func::Sign,
    Func::Heaviside,
    Func::Atan2,
];

/// Arguments: edges, random bits, and uniform in [-30, 30).
fn arguments(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        4.9e-324,
        f64::MAX,
        1e300,
        -1e-300,
        709.8,
        -745.2,
        52_707_179.0,
    ];
    while v.len() < n {
        let r = next();
        v.push(if r % 3 == 0 {
            f64::from_bits(next())
        } else {
            -30.0 + 60.0 * ((next() >> 11) as f64 / (1u64 << 53) as f64)
        });
    }
    v
}

/// A population of `n` elements computing `out = e(x, y)`, on two lanes or,
/// with `scalar`, behind a choice on the element's index (never taken) that
/// keeps the kernel from vectorising.
fn network(e: Expr, n: usize, scalar: bool) -> Network {
    let var = |name: &str| VarLayout {
        name: name.into(),
        role: VarRole::State,
        scalar: false,
    };
    let body = if scalar {
        Expr::Select(
            Box::new(Expr::bin(Bin::Lt, Expr::Index, Expr::Const(-1.0))),
            Box::new(Expr::Const(0.0)),
            Box::new(e),
        )
    } else {
        e
    };
    let mut net = Network::default();
    net.layout.pops.push(PopLayout {
        name: "P".into(),
        model: "M".into(),
        size: n,
        vars: vec![var("x"), var("y"), var("out")],
        ..PopLayout::default()
    });
    net.pops.push(PopKernels {
        update: Kernel {
            name: "update".into(),
            domain: Domain::Each,
            temps: 0,
            body: vec![Stmt::Store(2, body)],
        },
        ..PopKernels::default()
    });
    net
}

/// `out` of running the update on `backend`.
fn run(net: &Network, backend: &str, x: &[f64], y: &[f64]) -> Vec<u64> {
    let settings = Settings {
        fusion: false,
        ..Settings::default()
    };
    let inst = instantiate(backend, net, vec![], &settings).expect("backend");
    let mut vars = vec![x.to_vec(), y.to_vec(), vec![0.0; x.len()]];
    let refr = vec![-1i64; x.len()];
    let ctx = StepCtx {
        step: 0,
        t: 0.0,
        dt: 1e-4,
        seed: 1,
        ref_until: &refr,
        span: circ_runtime::sim::ALL,
    };
    inst.backend.update(0, &mut vars, &ctx);
    vars[2].iter().map(|v| v.to_bits()).collect()
}

fn check(name: &str, e: impl Fn() -> Expr) {
    // Odd: the vector loop leaves one element to its scalar tail.
    let n = 40_001;
    let x = arguments(n, 11);
    let mut y = arguments(n, 12);
    y.rotate_left(7);
    for scalar in [false, true] {
        let net = network(e(), n, scalar);
        let want = run(&net, "interp", &x, &y);
        let got = run(&net, "jit", &x, &y);
        for k in 0..n {
            assert!(
                want[k] == got[k],
                "{name}({:e}, {:e}) {}: interpreter {:e}, jit {:e}",
                x[k],
                y[k],
                if scalar { "one lane" } else { "two lanes" },
                f64::from_bits(want[k]),
                f64::from_bits(got[k])
            );
        }
    }
}

#[test]
fn every_math_function_gives_the_interpreters_bits_on_one_and_two_lanes() {
    for f in FUNCS {
        check(&format!("{f:?}"), || {
            Expr::Call(f, vec![Expr::Load(0), Expr::Load(1)][..f_args(f)].to_vec())
        });
    }
    for op in [Bin::Pow, Bin::Min, Bin::Max, Bin::Rem] {
        check(&format!("{op:?}"), || {
            Expr::bin(op, Expr::Load(0), Expr::Load(1))
        });
    }
}

fn f_args(f: Func) -> usize {
    if f == Func::Atan2 { 2 } else { 1 }
}
