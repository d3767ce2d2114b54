//! ODE analysis and integration: classifies a model's equation system,
//! checks the requested method applies, and emits the update kernel.

use crate::linalg::propagators;
use crate::sym::{depends, diff, reads_time_or_random, simplify, subst};
use circ_ir::{Bin, Dist, Expr, Func, Stmt, Temp, Un, VarId};

/// One model's equations, fully inlined (lets, functions, constants) in SI.
#[derive(Clone, Debug)]
pub struct System {
    /// The states with an equation, and their names.
    pub states: Vec<(VarId, String)>,
    /// Right-hand sides, one per state.
    pub rhs: Vec<Expr>,
    /// Noise coefficients (`dx = rhs dt + sigma dW`).
    pub noise: Vec<Option<Expr>>,
    /// States held during the refractory period.
    pub held: Vec<bool>,
}

impl System {
    /// `e` with the states replaced by `vals` (in the order of `states`)
    /// and time by `time`.
    fn at(&self, e: &Expr, vals: &[Expr], time: &Expr) -> Expr {
        let map = |v: VarId| {
            self.states
                .iter()
                .position(|s| s.0 == v)
                .map(|k| vals[k].clone())
        };
        subst(e, &map, Some(time))
    }

    /// The right-hand side of state `i` at `vals` and `time` (0 while the
    /// element is refractory, for a held state).
    fn rhs_at(&self, i: usize, vals: &[Expr], time: &Expr) -> Expr {
        let e = self.at(&self.rhs[i], vals, time);
        if self.held[i] {
            Expr::Select(Box::new(Expr::Refractory), Box::new(c(0.0)), Box::new(e))
        } else {
            e
        }
    }
}

/// How the system behaves.
#[derive(Clone, Debug, PartialEq)]
pub enum Class {
    /// Linear with coefficients that depend on parameters only.
    Linear,
    /// Linear in each state given the others.
    ConditionallyLinear {
        /// Why it is not linear with constant coefficients.
        why: String,
    },
    /// Neither.
    Nonlinear {
        /// Which state and why.
        why: String,
    },
}

/// The integration methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Exact propagators.
    Exact,
    /// Exponential Euler.
    ExponentialEuler,
    /// Forward Euler.
    Euler,
    /// Midpoint Runge–Kutta.
    Rk2,
    /// Heun's method.
    Heun,
    /// Classic Runge–Kutta.
    Rk4,
    /// Euler–Maruyama.
    EulerMaruyama,
    /// Adaptive Dormand–Prince 5(4) substeps within each step.
    Rk45,
}

/// What `rk45` keeps per element, and the tolerances it controls to.
#[derive(Clone, Debug)]
pub struct Adaptive {
    /// The substep size last proposed (starts at dt).
    pub step: VarId,
    /// Substeps accepted so far.
    pub accepted: VarId,
    /// Substeps rejected so far.
    pub rejected: VarId,
    /// The smallest substep accepted so far.
    pub smallest: VarId,
    /// Absolute tolerance per state, SI.
    pub atol: Vec<f64>,
    /// Relative tolerance.
    pub rtol: f64,
    /// The spike condition: once a substep makes it hold (outside the
    /// refractory period), the step's substeps end there.
    pub stop: Option<Expr>,
}

/// The most substep attempts per element and step: beyond them the states
/// become infinite, which stops the run with the runtime's report.
pub const RK45_MAX_ATTEMPTS: f64 = 100_000.0;

impl Method {
    /// The method's name in the language.
    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::ExponentialEuler => "exponential_euler",
            Method::Euler => "euler",
            Method::Rk2 => "rk2",
            Method::Heun => "heun",
            Method::Rk4 => "rk4",
            Method::EulerMaruyama => "euler_maruyama",
            Method::Rk45 => "rk45",
        }
    }
}

/// Classifies `sys`. `varying(v)` says whether a variable may change during
/// a step's computation or between steps (states, inputs, time-dependent
/// parameters): constant coefficients may not read those.
pub fn classify(sys: &System, varying: &dyn Fn(VarId) -> bool) -> Class {
    let is_state = |v: VarId| sys.states.iter().any(|s| s.0 == v);
    let mut linear = true;
    let mut why_not_linear = String::new();
    for (i, rhs) in sys.rhs.iter().enumerate() {
        let name = &sys.states[i].1;
        for (j, (xj, xname)) in sys.states.iter().enumerate() {
            let Some(d) = diff(rhs, *xj) else {
                return Class::Nonlinear {
                    why: format!(
                        "d{name}/dt depends on {xname} through a condition, min/max, abs or rounding"
                    ),
                };
            };
            if i == j && depends(&d, &|v| v == *xj) {
                return Class::Nonlinear {
                    why: format!("d{name}/dt is not linear in {name}"),
                };
            }
            if linear && (depends(&d, &|v| is_state(v) || varying(v)) || reads_time_or_random(&d)) {
                linear = false;
                why_not_linear = format!(
                    "the coefficient of {xname} in d{name}/dt changes with the state or in time"
                );
            }
        }
        if linear && reads_time_or_random(rhs) {
            linear = false;
            why_not_linear = format!("d{name}/dt depends explicitly on time");
        }
    }
    if linear {
        Class::Linear
    } else {
        Class::ConditionallyLinear {
            why: why_not_linear,
        }
    }
}

/// Builds a kernel body with fresh temporaries.
#[derive(Default)]
pub struct Builder {
    /// Statements so far.
    pub body: Vec<Stmt>,
    /// Temporaries used.
    pub temps: u32,
}

impl Builder {
    /// `$t = e`, returning `$t`.
    pub fn let_(&mut self, e: Expr) -> Expr {
        let t: Temp = self.temps;
        self.temps += 1;
        self.body.push(Stmt::Let(t, e));
        Expr::Temp(t)
    }
}

fn c(x: f64) -> Expr {
    Expr::Const(x)
}
fn add(a: Expr, b: Expr) -> Expr {
    Expr::bin(Bin::Add, a, b)
}
fn mul(a: Expr, b: Expr) -> Expr {
    Expr::bin(Bin::Mul, a, b)
}
fn div(a: Expr, b: Expr) -> Expr {
    Expr::bin(Bin::Div, a, b)
}
fn held(flag: bool, keep: Expr, new: Expr) -> Expr {
    if flag {
        Expr::Select(Box::new(Expr::Refractory), Box::new(keep), Box::new(new))
    } else {
        new
    }
}

/// Emits the update of `sys` with `method` into `b`: new values are computed
/// from old ones into temporaries, then stored. `scalar_value(v)` gives the
/// value of a parameter that is one constant for the population (for
/// numeric propagators, built for the step `dt`); a next random stream comes
/// from `next_stream`.
pub fn emit(
    sys: &System,
    method: Method,
    b: &mut Builder,
    scalar_value: &dyn Fn(VarId) -> Option<f64>,
    next_stream: &mut dyn FnMut() -> u32,
    dt: f64,
    adaptive: Option<&Adaptive>,
) -> Result<(), String> {
    if method == Method::Rk45 {
        let a = adaptive.ok_or("rk45 needs its per-element step variables")?;
        emit_rk45(sys, b, a);
        return Ok(());
    }
    let n = sys.states.len();
    let x: Vec<Expr> = sys.states.iter().map(|s| Expr::Load(s.0)).collect();
    // The right-hand side with states replaced by `vals` and time shifted by `dt_frac` * dt.
    let f = |i: usize, vals: &[Expr], dt_frac: f64| -> Expr {
        let time = if dt_frac == 0.0 {
            Expr::Time
        } else {
            add(Expr::Time, mul(c(dt_frac), Expr::Dt))
        };
        sys.rhs_at(i, vals, &time)
    };
    let new: Vec<Expr> = match method {
        Method::Euler => (0..n)
            .map(|i| b.let_(add(x[i].clone(), mul(Expr::Dt, f(i, &x, 0.0)))))
            .collect(),
        Method::EulerMaruyama => (0..n)
            .map(|i| {
                let drift = add(x[i].clone(), mul(Expr::Dt, f(i, &x, 0.0)));
                let e = match &sys.noise[i] {
                    Some(sigma) => {
                        let dw = mul(
                            Expr::Call(Func::Sqrt, vec![Expr::Dt]),
                            Expr::Rand(Dist::Normal, next_stream()),
                        );
                        add(drift, mul(sigma.clone(), dw))
                    }
                    None => drift,
                };
                b.let_(held(sys.held[i], x[i].clone(), e))
            })
            .collect(),
        Method::Rk2 => {
            let k1: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &x, 0.0))))
                .collect();
            let mid: Vec<Expr> = (0..n)
                .map(|i| b.let_(add(x[i].clone(), div(k1[i].clone(), c(2.0)))))
                .collect();
            (0..n)
                .map(|i| b.let_(add(x[i].clone(), mul(Expr::Dt, f(i, &mid, 0.5)))))
                .collect()
        }
        Method::Heun => {
            let k1: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &x, 0.0))))
                .collect();
            let pred: Vec<Expr> = (0..n)
                .map(|i| b.let_(add(x[i].clone(), k1[i].clone())))
                .collect();
            let k2: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &pred, 1.0))))
                .collect();
            (0..n)
                .map(|i| {
                    b.let_(add(
                        x[i].clone(),
                        div(add(k1[i].clone(), k2[i].clone()), c(2.0)),
                    ))
                })
                .collect()
        }
        Method::Rk4 => {
            // Brian2's form: k_i = dt * f(...), x + (k1 + 2 k2 + 2 k3 + k4) / 6.
            let k1: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &x, 0.0))))
                .collect();
            let s2: Vec<Expr> = (0..n)
                .map(|i| b.let_(add(x[i].clone(), div(k1[i].clone(), c(2.0)))))
                .collect();
            let k2: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &s2, 0.5))))
                .collect();
            let s3: Vec<Expr> = (0..n)
                .map(|i| b.let_(add(x[i].clone(), div(k2[i].clone(), c(2.0)))))
                .collect();
            let k3: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &s3, 0.5))))
                .collect();
            let s4: Vec<Expr> = (0..n)
                .map(|i| b.let_(add(x[i].clone(), k3[i].clone())))
                .collect();
            let k4: Vec<Expr> = (0..n)
                .map(|i| b.let_(mul(Expr::Dt, f(i, &s4, 1.0))))
                .collect();
            (0..n)
                .map(|i| {
                    let sum = add(
                        add(
                            add(k1[i].clone(), mul(c(2.0), k2[i].clone())),
                            mul(c(2.0), k3[i].clone()),
                        ),
                        k4[i].clone(),
                    );
                    b.let_(add(x[i].clone(), div(sum, c(6.0))))
                })
                .collect()
        }
        Method::ExponentialEuler => (0..n)
            .map(|i| {
                let (xi, _) = &sys.states[i];
                let a = diff(&sys.rhs[i], *xi).ok_or("not differentiable")?;
                let bterm = simplify(&subst(&sys.rhs[i], &|v| (v == *xi).then(|| c(0.0)), None));
                let a = b.let_(a);
                let bb = b.let_(bterm);
                // Brian2's form: -B/A + (x + B/A) * exp(A dt); forward Euler where A is 0.
                let ratio = div(bb.clone(), a.clone());
                let expo = add(
                    Expr::Un(Un::Neg, Box::new(ratio.clone())),
                    mul(
                        add(x[i].clone(), ratio),
                        Expr::Call(Func::Exp, vec![mul(a.clone(), Expr::Dt)]),
                    ),
                );
                let euler = add(x[i].clone(), mul(Expr::Dt, bb));
                let e = Expr::Select(
                    Box::new(Expr::bin(Bin::Eq, a, c(0.0))),
                    Box::new(euler),
                    Box::new(expo),
                );
                Ok(b.let_(held(sys.held[i], x[i].clone(), e)))
            })
            .collect::<Result<Vec<_>, String>>()?,
        Method::Exact => emit_exact(sys, b, scalar_value, dt)?,
        Method::Rk45 => unreachable!("handled above"),
    };
    for (i, v) in new.into_iter().enumerate() {
        b.body.push(Stmt::Store(sys.states[i].0, v));
    }
    Ok(())
}

/// Dormand–Prince 5(4) (MATLAB's ode45, SciPy's RK45): the stages' nodes,
/// their coefficients, the fifth-order weights and the error weights
/// (fifth minus fourth order).
const DP_C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const DP_A: [&[f64]; 7] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
    &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
const DP_E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Adaptive substeps: within each step of `dt`, Dormand–Prince substeps of
/// size h are tried until the step is covered; one is accepted when its
/// error estimate, per state scaled by `atol + rtol * max(|x|, |x'|)`, is at
/// most 1 in the max norm (GSL's `y_new` control, as NESTML and NEST's
/// adaptive models use). The next h is h * clamp(0.9 * err^(-1/5), 0.2,
/// 5), and the last one proposed carries over to the next step.
fn emit_rk45(sys: &System, b: &mut Builder, a: &Adaptive) {
    let n = sys.states.len();
    let load = |v: VarId| Expr::Load(v);
    let sub = |x: Expr, y: Expr| Expr::bin(Bin::Sub, x, y);
    let bin = |op: Bin, x: Expr, y: Expr| Expr::bin(op, x, y);
    // Loop-carried temporaries, set before the loop.
    let x: Vec<Expr> = (0..n).map(|i| b.let_(load(sys.states[i].0))).collect();
    let x_t: Vec<Temp> = x
        .iter()
        .map(|e| match e {
            Expr::Temp(t) => *t,
            _ => unreachable!("let_ gives a temporary"),
        })
        .collect();
    let fresh = |b: &mut Builder| {
        let t = b.temps;
        b.temps += 1;
        t
    };
    // What remains of the step: the last substep takes it exactly, so it
    // ends at 0 with no rounding left over.
    let rem_t = fresh(b);
    b.body.push(Stmt::Let(rem_t, Expr::Dt));
    let h_t = fresh(b);
    b.body
        .push(Stmt::Let(h_t, bin(Bin::Min, load(a.step), Expr::Dt)));
    let tries_t = fresh(b);
    b.body.push(Stmt::Let(tries_t, c(0.0)));
    let acc_t = fresh(b);
    b.body.push(Stmt::Let(acc_t, load(a.accepted)));
    let rej_t = fresh(b);
    b.body.push(Stmt::Let(rej_t, load(a.rejected)));
    let min_t = fresh(b);
    b.body.push(Stmt::Let(min_t, load(a.smallest)));
    let (rem, h, tries) = (Expr::Temp(rem_t), Expr::Temp(h_t), Expr::Temp(tries_t));
    // Time from the step's start.
    let done = sub(Expr::Dt, rem.clone());
    let mut cond = bin(
        Bin::And,
        bin(Bin::Gt, rem.clone(), c(0.0)),
        bin(Bin::Lt, tries.clone(), c(RK45_MAX_ATTEMPTS)),
    );
    let fired = a.stop.as_ref().map(|stop| {
        let time = add(Expr::Time, done.clone());
        bin(
            Bin::And,
            sys.at(stop, &x, &time),
            Expr::Un(Un::Not, Box::new(Expr::Refractory)),
        )
    });
    if let Some(fired) = &fired {
        cond = bin(Bin::And, cond, Expr::Un(Un::Not, Box::new(fired.clone())));
    }

    // The loop body.
    let mut body = Builder {
        body: vec![],
        temps: b.temps,
    };
    // The rest of the step when the proposal nearly reaches it (no sliver
    // of a substep after).
    let hh = body.let_(Expr::Select(
        Box::new(bin(Bin::Ge, mul(h.clone(), c(1.01)), rem.clone())),
        Box::new(rem.clone()),
        Box::new(h.clone()),
    ));
    let rhs = |i: usize, vals: &[Expr], frac: f64| -> Expr {
        let mut time = add(Expr::Time, done.clone());
        if frac != 0.0 {
            time = add(time, mul(c(frac), hh.clone()));
        }
        sys.rhs_at(i, vals, &time)
    };
    let mut ks: Vec<Vec<Expr>> = vec![];
    for (stage, coeffs) in DP_A.iter().enumerate() {
        let point: Vec<Expr> = if stage == 0 {
            x.clone()
        } else {
            (0..n)
                .map(|i| {
                    let mut acc: Option<Expr> = None;
                    for (k, &w) in coeffs.iter().enumerate() {
                        if w == 0.0 {
                            continue;
                        }
                        let term = mul(c(w), ks[k][i].clone());
                        acc = Some(match acc {
                            Some(s) => add(s, term),
                            None => term,
                        });
                    }
                    let inc = mul(hh.clone(), acc.unwrap_or(c(0.0)));
                    body.let_(add(x[i].clone(), inc))
                })
                .collect()
        };
        let k: Vec<Expr> = (0..n)
            .map(|i| body.let_(rhs(i, &point, DP_C[stage])))
            .collect();
        ks.push(k);
        // The seventh stage's point is the fifth-order solution.
        if stage == 6 {
            ks.push(point);
        }
    }
    let y = ks.pop().unwrap_or_default();
    // The error estimate, scaled per state, in the max norm.
    let mut err: Option<Expr> = None;
    for i in 0..n {
        let mut e: Option<Expr> = None;
        for (k, &w) in DP_E.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let term = mul(c(w), ks[k][i].clone());
            e = Some(match e {
                Some(s) => add(s, term),
                None => term,
            });
        }
        let e = Expr::Call(Func::Abs, vec![mul(hh.clone(), e.unwrap_or(c(0.0)))]);
        let scale = add(
            c(a.atol[i]),
            mul(
                c(a.rtol),
                bin(
                    Bin::Max,
                    Expr::Call(Func::Abs, vec![x[i].clone()]),
                    Expr::Call(Func::Abs, vec![y[i].clone()]),
                ),
            ),
        );
        let r = div(e, scale);
        err = Some(match err {
            Some(m) => bin(Bin::Max, m, r),
            None => r,
        });
    }
    let err = body.let_(err.unwrap_or(c(0.0)));
    // A NaN estimate is accepted: the NaN reaches the states and the run
    // stops with the runtime's report instead of shrinking h forever.
    let ok = body.let_(bin(
        Bin::Or,
        bin(Bin::Le, err.clone(), c(1.0)),
        bin(Bin::Ne, err.clone(), err.clone()),
    ));
    let pick =
        |yes: Expr, no: Expr| Expr::Select(Box::new(ok.clone()), Box::new(yes), Box::new(no));
    for i in 0..n {
        body.body
            .push(Stmt::Let(x_t[i], pick(y[i].clone(), x[i].clone())));
    }
    body.body.push(Stmt::Let(
        rem_t,
        pick(sub(rem.clone(), hh.clone()), rem.clone()),
    ));
    body.body.push(Stmt::Let(
        acc_t,
        add(Expr::Temp(acc_t), pick(c(1.0), c(0.0))),
    ));
    body.body.push(Stmt::Let(
        rej_t,
        add(Expr::Temp(rej_t), pick(c(0.0), c(1.0))),
    ));
    body.body.push(Stmt::Let(
        min_t,
        pick(
            bin(Bin::Min, Expr::Temp(min_t), hh.clone()),
            Expr::Temp(min_t),
        ),
    ));
    // The next substep: 0.9 err^(-1/5), within [0.2, 5] (5 where err is 0).
    let grow = Expr::Select(
        Box::new(bin(Bin::Gt, err.clone(), c(0.0))),
        Box::new(mul(c(0.9), bin(Bin::Pow, err, c(-0.2)))),
        Box::new(c(5.0)),
    );
    let factor = bin(Bin::Min, c(5.0), bin(Bin::Max, c(0.2), grow));
    body.body.push(Stmt::Let(h_t, mul(hh, factor)));
    body.body
        .push(Stmt::Let(tries_t, add(tries.clone(), c(1.0))));
    b.temps = body.temps;
    b.body.push(Stmt::While(cond, body.body));
    // Unfinished after the most attempts (and not ended by a spike):
    // infinite states stop the run with the runtime's report of a value
    // that is not finite.
    let mut unfinished = bin(Bin::Gt, rem, c(0.0));
    if let Some(fired) = fired {
        unfinished = bin(Bin::And, unfinished, Expr::Un(Un::Not, Box::new(fired)));
    }
    let unfinished = b.let_(unfinished);
    for (xi, (v, _)) in x.iter().zip(&sys.states) {
        let value = Expr::Select(
            Box::new(unfinished.clone()),
            Box::new(c(f64::INFINITY)),
            Box::new(xi.clone()),
        );
        b.body.push(Stmt::Store(*v, value));
    }
    b.body.push(Stmt::Store(a.step, h));
    b.body.push(Stmt::Store(a.accepted, Expr::Temp(acc_t)));
    b.body.push(Stmt::Store(a.rejected, Expr::Temp(rej_t)));
    b.body.push(Stmt::Store(a.smallest, Expr::Temp(min_t)));
}

fn emit_exact(
    sys: &System,
    b: &mut Builder,
    scalar_value: &dyn Fn(VarId) -> Option<f64>,
    dt: f64,
) -> Result<Vec<Expr>, String> {
    let n = sys.states.len();
    let x: Vec<Expr> = sys.states.iter().map(|s| Expr::Load(s.0)).collect();
    let coef: Vec<Vec<Expr>> = (0..n)
        .map(|i| {
            sys.states
                .iter()
                .map(|(xj, _)| diff(&sys.rhs[i], *xj).unwrap_or(c(f64::NAN)))
                .collect()
        })
        .collect();
    let zero_states = |e: &Expr| {
        simplify(&subst(
            e,
            &|v| sys.states.iter().any(|s| s.0 == v).then(|| c(0.0)),
            None,
        ))
    };
    let bvec: Vec<Expr> = sys.rhs.iter().map(zero_states).map(|e| b.let_(e)).collect();
    // States with no input at all (dg/dt = -g/tau): the exact update is
    // Phi g alone, as Brian2 writes it, not Phi g + Gamma 0.
    let no_input: Vec<bool> = sys
        .rhs
        .iter()
        .map(|e| matches!(zero_states(e), Expr::Const(z) if z == 0.0))
        .collect();
    let diagonal = (0..n).all(|i| (0..n).all(|j| i == j || coef[i][j] == c(0.0)));
    let numeric = |e: &Expr| match simplify(&subst(e, &|v| scalar_value(v).map(c), None)) {
        Expr::Const(v) => Some(v),
        _ => None,
    };
    let numeric_a: Option<Vec<Vec<f64>>> = coef
        .iter()
        .map(|row| row.iter().map(numeric).collect::<Option<Vec<f64>>>())
        .collect();
    match numeric_a {
        // Coefficients known now: propagators computed now, as constants.
        Some(a) => Ok(numeric_update(sys, b, &a, &x, &bvec, &no_input, dt)),
        // Per-neuron coefficients of uncoupled states: the closed form per state.
        None if diagonal => Ok((0..n)
            .map(|i| {
                // x' = a x + b: x e^{a dt} + b (e^{a dt} - 1) / a, or x + b dt when a = 0.
                let a = b.let_(coef[i][i].clone());
                let adt = mul(a.clone(), Expr::Dt);
                let exact = add(
                    mul(x[i].clone(), Expr::Call(Func::Exp, vec![adt.clone()])),
                    mul(bvec[i].clone(), div(Expr::Call(Func::Expm1, vec![adt]), a.clone())),
                );
                let euler = add(x[i].clone(), mul(bvec[i].clone(), Expr::Dt));
                let e = Expr::Select(Box::new(Expr::bin(Bin::Eq, a, c(0.0))), Box::new(euler), Box::new(exact));
                b.let_(held(sys.held[i], x[i].clone(), e))
            })
            .collect()),
        // Per-neuron coefficients, one state driving the other (a membrane
        // driven by a decaying current): the closed form per neuron.
        None if n == 2 && (coef[0][1] == c(0.0)) != (coef[1][0] == c(0.0)) => {
            let (d, f) = if coef[0][1] == c(0.0) { (0, 1) } else { (1, 0) };
            let phi1 = |z: Expr| Expr::Select(Box::new(Expr::bin(Bin::Eq, z.clone(), c(0.0))), Box::new(c(1.0)), Box::new(div(Expr::Call(Func::Expm1, vec![z.clone()]), z)));
            let phi2 = |z: Expr| {
                // (e^z - 1 - z) / z^2, by its series near 0 where the formula cancels.
                let series = add(c(0.5), mul(z.clone(), add(c(1.0 / 6.0), mul(z.clone(), add(c(1.0 / 24.0), mul(z.clone(), c(1.0 / 120.0)))))));
                let direct = div(Expr::bin(Bin::Sub, Expr::Call(Func::Expm1, vec![z.clone()]), z.clone()), mul(z.clone(), z.clone()));
                Expr::Select(Box::new(Expr::bin(Bin::Lt, Expr::Call(Func::Abs, vec![z.clone()]), c(1e-2))), Box::new(series), Box::new(direct))
            };
            let cc = b.let_(coef[d][d].clone());
            let a = b.let_(coef[f][f].clone());
            let k = b.let_(coef[f][d].clone());
            let dt = Expr::Dt;
            let ea = b.let_(Expr::Call(Func::Exp, vec![mul(a.clone(), dt.clone())]));
            let ec = b.let_(Expr::Call(Func::Exp, vec![mul(cc.clone(), dt.clone())]));
            let cross = b.let_(mul(mul(dt.clone(), ea.clone()), phi1(mul(Expr::bin(Bin::Sub, cc.clone(), a.clone()), dt.clone()))));
            let pa = b.let_(mul(dt.clone(), phi1(mul(a.clone(), dt.clone()))));
            // J = integral of e^{a(dt-s)} s phi1(c s) over the step.
            let j = Expr::Select(
                Box::new(Expr::bin(Bin::Eq, cc.clone(), c(0.0))),
                Box::new(mul(mul(dt.clone(), dt.clone()), phi2(mul(a.clone(), dt.clone())))),
                Box::new(div(Expr::bin(Bin::Sub, cross.clone(), pa.clone()), cc.clone())),
            );
            let new_d = add(mul(x[d].clone(), ec), mul(bvec[d].clone(), mul(dt.clone(), phi1(mul(cc, dt)))));
            let drive = add(mul(x[d].clone(), cross), mul(bvec[d].clone(), j));
            let new_f = add(add(mul(x[f].clone(), ea), mul(bvec[f].clone(), pa)), mul(k, drive));
            let mut out = vec![c(0.0), c(0.0)];
            // While a held state is frozen it neither moves nor is driven.
            out[d] = b.let_(held(sys.held[d], x[d].clone(), new_d));
            out[f] = b.let_(held(sys.held[f], x[f].clone(), new_f));
            Ok(out)
        }
        None => Err("its states are coupled and the coefficients differ from neuron to neuron (per-neuron parameters); use `method rk4`, or make those parameters the same for the population".to_string()),
    }
}

fn numeric_update(
    sys: &System,
    b: &mut Builder,
    a: &[Vec<f64>],
    x: &[Expr],
    bvec: &[Expr],
    no_input: &[bool],
    dt: f64,
) -> Vec<Expr> {
    let n = sys.states.len();
    let (phi, gamma) = propagators(&a.to_vec(), dt);
    let any_held = sys.held.iter().any(|h| *h);
    let frozen = if any_held {
        let a2: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                if sys.held[i] {
                    vec![0.0; n]
                } else {
                    a[i].clone()
                }
            })
            .collect();
        Some(propagators(&a2, dt))
    } else {
        None
    };
    // x_i(dt) = sum_j Phi_ij x_j + Gamma_ij b_j. While refractory, held
    // states neither move nor drive the others: their rows of A and their b
    // are zero, which the second pair of propagators encodes.
    let combine =
        |phi: &Vec<Vec<f64>>, gamma: &Vec<Vec<f64>>, i: usize, zero_held_b: bool| -> Expr {
            let mut e: Option<Expr> = None;
            for j in 0..n {
                let bj = if (zero_held_b && sys.held[j]) || no_input[j] {
                    None
                } else {
                    Some(bvec[j].clone())
                };
                let terms = [(phi[i][j], Some(x[j].clone())), (gamma[i][j], bj)];
                for (m, v) in terms {
                    let Some(v) = v else { continue };
                    if m == 0.0 {
                        continue;
                    }
                    let term = mul(c(m), v);
                    e = Some(match e {
                        None => term,
                        Some(acc) => add(acc, term),
                    });
                }
            }
            simplify(&e.unwrap_or(c(0.0)))
        };
    (0..n)
        .map(|i| {
            let normal = combine(&phi, &gamma, i, false);
            let e = match &frozen {
                Some((p2, g2)) => Expr::Select(
                    Box::new(Expr::Refractory),
                    Box::new(combine(p2, g2, i, true)),
                    Box::new(normal),
                ),
                None => normal,
            };
            b.let_(e)
        })
        .collect()
}
