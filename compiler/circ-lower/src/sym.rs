//! A small symbolic engine over IR expressions: simplification (constant
//! folding and identities), differentiation, dependence and substitution.
//! ODE analysis uses it to classify equations and derive exact updates.

use circ_ir::{Bin, Expr, Func, Un, VarId, eval_bin, eval_func};

fn c(x: f64) -> Expr {
    Expr::Const(x)
}

fn is(e: &Expr, x: f64) -> bool {
    matches!(e, Expr::Const(v) if *v == x)
}

/// Simplifies bottom-up: folds constants, removes `x + 0`, `x * 1`, `x * 0`
/// (the symbolic zero: exact for finite x), `--x`, `0 - x`.
pub fn simplify(e: &Expr) -> Expr {
    match e {
        Expr::Un(op, a) => {
            let a = simplify(a);
            match (op, &a) {
                (Un::Neg, Expr::Const(v)) => c(-v),
                (Un::Neg, Expr::Un(Un::Neg, inner)) => (**inner).clone(),
                (Un::Not, Expr::Const(v)) => c(if *v == 0.0 { 1.0 } else { 0.0 }),
                _ => Expr::Un(*op, Box::new(a)),
            }
        }
        Expr::Bin(op, a, b) => {
            let (a, b) = (simplify(a), simplify(b));
            if let (Expr::Const(x), Expr::Const(y)) = (&a, &b) {
                return c(eval_bin(*op, *x, *y));
            }
            match op {
                Bin::Add if is(&a, 0.0) => b,
                Bin::Add | Bin::Sub if is(&b, 0.0) => a,
                Bin::Sub if is(&a, 0.0) => Expr::Un(Un::Neg, Box::new(b)),
                Bin::Mul if is(&a, 0.0) || is(&b, 0.0) => c(0.0),
                Bin::Mul if is(&a, 1.0) => b,
                Bin::Mul | Bin::Div if is(&b, 1.0) => a,
                Bin::Div if is(&a, 0.0) => c(0.0),
                Bin::Pow if is(&b, 1.0) => a,
                Bin::Pow if is(&b, 0.0) => c(1.0),
                // Small whole powers are products (as Brian2's generated code
                // has them): no call, so loops over them vectorise. The IR
                // says which, so every backend rounds the same way.
                Bin::Pow if is(&b, 2.0) => Expr::bin(Bin::Mul, a.clone(), a),
                Bin::Pow if is(&b, 3.0) => {
                    Expr::bin(Bin::Mul, Expr::bin(Bin::Mul, a.clone(), a.clone()), a)
                }
                Bin::Pow if is(&b, 4.0) => {
                    let sq = Expr::bin(Bin::Mul, a.clone(), a);
                    Expr::bin(Bin::Mul, sq.clone(), sq)
                }
                Bin::Mul if is(&a, -1.0) => Expr::Un(Un::Neg, Box::new(b)),
                // Dividing by a constant is multiplying by its reciprocal: a
                // division costs several multiplications (Brian2's generated
                // C++ gets the same from -ffast-math). The IR says which, so
                // every backend computes the same bits.
                Bin::Div if matches!(b, Expr::Const(y) if y.is_finite() && y != 0.0 && (1.0 / y).is_finite()) =>
                {
                    let Expr::Const(y) = b else { unreachable!() };
                    Expr::bin(Bin::Mul, a, c(1.0 / y))
                }
                _ => Expr::bin(*op, a, b),
            }
        }
        Expr::Call(f, args) => {
            let args: Vec<Expr> = args.iter().map(simplify).collect();
            if args.iter().all(|a| matches!(a, Expr::Const(_))) {
                let vals: Vec<f64> = args
                    .iter()
                    .map(|a| if let Expr::Const(v) = a { *v } else { 0.0 })
                    .collect();
                return c(eval_func(*f, &vals));
            }
            Expr::Call(*f, args)
        }
        Expr::Select(k, a, b) => {
            let k = simplify(k);
            if let Expr::Const(v) = k {
                return if v != 0.0 { simplify(a) } else { simplify(b) };
            }
            Expr::Select(Box::new(k), Box::new(simplify(a)), Box::new(simplify(b)))
        }
        other => other.clone(),
    }
}

/// Whether `e` reads any variable for which `pred` holds (or the time, or a
/// random number, when asked).
pub fn depends(e: &Expr, pred: &dyn Fn(VarId) -> bool) -> bool {
    match e {
        Expr::Load(v) => pred(*v),
        Expr::Un(_, a) => depends(a, pred),
        Expr::Bin(_, a, b) => depends(a, pred) || depends(b, pred),
        Expr::Call(_, args) => args.iter().any(|a| depends(a, pred)),
        Expr::Select(k, a, b) => depends(k, pred) || depends(a, pred) || depends(b, pred),
        Expr::Table(_, a) => depends(a, pred),
        _ => false,
    }
}

/// Whether `e` reads the time, a random number or the refractory flag.
pub fn reads_time_or_random(e: &Expr) -> bool {
    match e {
        Expr::Time | Expr::Rand(..) | Expr::Refractory => true,
        Expr::Un(_, a) => reads_time_or_random(a),
        Expr::Bin(_, a, b) => reads_time_or_random(a) || reads_time_or_random(b),
        Expr::Call(_, args) => args.iter().any(reads_time_or_random),
        Expr::Select(k, a, b) => {
            reads_time_or_random(k) || reads_time_or_random(a) || reads_time_or_random(b)
        }
        _ => false,
    }
}

/// Replaces variables (and, with `time`, the time) in `e`.
pub fn subst(e: &Expr, f: &dyn Fn(VarId) -> Option<Expr>, time: Option<&Expr>) -> Expr {
    match e {
        Expr::Load(v) => f(*v).unwrap_or_else(|| e.clone()),
        Expr::Time => time.cloned().unwrap_or(Expr::Time),
        Expr::Un(op, a) => Expr::Un(*op, Box::new(subst(a, f, time))),
        Expr::Bin(op, a, b) => Expr::bin(*op, subst(a, f, time), subst(b, f, time)),
        Expr::Call(func, args) => {
            Expr::Call(*func, args.iter().map(|a| subst(a, f, time)).collect())
        }
        Expr::Select(k, a, b) => Expr::Select(
            Box::new(subst(k, f, time)),
            Box::new(subst(a, f, time)),
            Box::new(subst(b, f, time)),
        ),
        other => other.clone(),
    }
}

/// d e / d v, simplified; `None` where the derivative is not defined by a
/// formula (a condition, `min`/`max`, `abs`, rounding or a draw depending on v).
pub fn diff(e: &Expr, v: VarId) -> Option<Expr> {
    let dep = |x: &Expr| depends(x, &|w| w == v);
    if !dep(e) {
        return Some(c(0.0));
    }
    let d = match e {
        Expr::Load(w) => c(if *w == v { 1.0 } else { 0.0 }),
        Expr::Un(Un::Neg, a) => Expr::Un(Un::Neg, Box::new(diff(a, v)?)),
        Expr::Un(Un::Not, _) => return None,
        Expr::Bin(op, a, b) => {
            let (da, db) = (diff(a, v)?, diff(b, v)?);
            let (a, b) = ((**a).clone(), (**b).clone());
            match op {
                Bin::Add => Expr::bin(Bin::Add, da, db),
                Bin::Sub => Expr::bin(Bin::Sub, da, db),
                Bin::Mul => Expr::bin(
                    Bin::Add,
                    Expr::bin(Bin::Mul, da, b),
                    Expr::bin(Bin::Mul, a, db),
                ),
                Bin::Div => Expr::bin(
                    Bin::Div,
                    Expr::bin(
                        Bin::Sub,
                        Expr::bin(Bin::Mul, da, b.clone()),
                        Expr::bin(Bin::Mul, a, db),
                    ),
                    Expr::bin(Bin::Mul, b.clone(), b),
                ),
                Bin::Pow if !dep(&b) => {
                    // d(a^n) = n a^(n-1) a'
                    Expr::bin(
                        Bin::Mul,
                        Expr::bin(
                            Bin::Mul,
                            b.clone(),
                            Expr::bin(Bin::Pow, a, Expr::bin(Bin::Sub, b, c(1.0))),
                        ),
                        da,
                    )
                }
                Bin::Pow => {
                    // d(a^b) = a^b (b' ln a + b a'/a)
                    let pw = Expr::bin(Bin::Pow, a.clone(), b.clone());
                    let t1 = Expr::bin(Bin::Mul, db, Expr::Call(Func::Log, vec![a.clone()]));
                    let t2 = Expr::bin(Bin::Div, Expr::bin(Bin::Mul, b, da), a);
                    Expr::bin(Bin::Mul, pw, Expr::bin(Bin::Add, t1, t2))
                }
                _ => return None,
            }
        }
        Expr::Call(f, args) => {
            let a = args.first()?.clone();
            let da = diff(&a, v)?;
            let outer = match f {
                Func::Exp => Expr::Call(Func::Exp, vec![a]),
                Func::Expm1 => Expr::Call(Func::Exp, vec![a]),
                Func::Log => Expr::bin(Bin::Div, c(1.0), a),
                Func::Log1p => Expr::bin(Bin::Div, c(1.0), Expr::bin(Bin::Add, c(1.0), a)),
                Func::Log10 => Expr::bin(Bin::Div, c(1.0 / std::f64::consts::LN_10), a),
                Func::Log2 => Expr::bin(Bin::Div, c(1.0 / std::f64::consts::LN_2), a),
                Func::Sin => Expr::Call(Func::Cos, vec![a]),
                Func::Cos => Expr::Un(Un::Neg, Box::new(Expr::Call(Func::Sin, vec![a]))),
                Func::Tan => {
                    let cos = Expr::Call(Func::Cos, vec![a]);
                    Expr::bin(Bin::Div, c(1.0), Expr::bin(Bin::Mul, cos.clone(), cos))
                }
                Func::Sinh => Expr::Call(Func::Cosh, vec![a]),
                Func::Cosh => Expr::Call(Func::Sinh, vec![a]),
                Func::Tanh => {
                    let t = Expr::Call(Func::Tanh, vec![a]);
                    Expr::bin(Bin::Sub, c(1.0), Expr::bin(Bin::Mul, t.clone(), t))
                }
                Func::Sigmoid => {
                    let s = Expr::Call(Func::Sigmoid, vec![a]);
                    Expr::bin(Bin::Mul, s.clone(), Expr::bin(Bin::Sub, c(1.0), s))
                }
                Func::Sqrt => Expr::bin(Bin::Div, c(0.5), Expr::Call(Func::Sqrt, vec![a])),
                _ => return None,
            };
            Expr::bin(Bin::Mul, outer, da)
        }
        _ => return None,
    };
    Some(simplify(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> Expr {
        Expr::Load(0)
    }

    #[test]
    fn linear_coefficients() {
        // (E - x + R*I) / tau with E, R, I, tau loads 1..4
        let rhs = Expr::bin(
            Bin::Div,
            Expr::bin(
                Bin::Add,
                Expr::bin(Bin::Sub, Expr::Load(1), x()),
                Expr::bin(Bin::Mul, Expr::Load(2), Expr::Load(3)),
            ),
            Expr::Load(4),
        );
        let d = diff(&rhs, 0).expect("differentiable");
        assert!(!depends(&d, &|v| v == 0));
        let val = |e: &Expr| match simplify(&subst(
            e,
            &|v| Some(c([0.5, -0.065, 1e8, 1e-10, 0.01][v as usize])),
            None,
        )) {
            Expr::Const(v) => v,
            other => panic!("not folded: {other:?}"),
        };
        assert!((val(&d) + 100.0).abs() < 1e-9);
    }

    #[test]
    fn chain_rule_and_powers() {
        let e = Expr::Call(Func::Exp, vec![Expr::bin(Bin::Pow, x(), c(2.0))]);
        let d = diff(&e, 0).expect("differentiable");
        let at = simplify(&subst(&d, &|_| Some(c(0.5)), None));
        assert_eq!(at, c(2.0 * 0.5 * (0.25f64).exp()));
        assert!(
            diff(
                &Expr::Select(
                    Box::new(Expr::bin(Bin::Gt, x(), c(0.0))),
                    Box::new(x()),
                    Box::new(c(0.0))
                ),
                0
            )
            .is_none()
        );
    }
}
