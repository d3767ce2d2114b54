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
}

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
) -> Result<(), String> {
    let n = sys.states.len();
    let x: Vec<Expr> = sys.states.iter().map(|s| Expr::Load(s.0)).collect();
    // The right-hand side with states replaced by `vals` and time shifted by `dt_frac` * dt.
    let f = |i: usize, vals: &[Expr], dt_frac: f64| -> Expr {
        let time = if dt_frac == 0.0 {
            Expr::Time
        } else {
            add(Expr::Time, mul(c(dt_frac), Expr::Dt))
        };
        let map = |v: VarId| {
            sys.states
                .iter()
                .position(|s| s.0 == v)
                .map(|k| vals[k].clone())
        };
        let e = subst(&sys.rhs[i], &map, Some(&time));
        if sys.held[i] {
            Expr::Select(Box::new(Expr::Refractory), Box::new(c(0.0)), Box::new(e))
        } else {
            e
        }
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
    };
    for (i, v) in new.into_iter().enumerate() {
        b.body.push(Stmt::Store(sys.states[i].0, v));
    }
    Ok(())
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
