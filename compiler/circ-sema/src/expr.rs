//! Typing of expressions: the dimension of every expression, the rules for
//! operators and built-in functions, and the names an expression may read.

use crate::builtins::{self, ParamKind, Sig};
use crate::check::{Checker, Env, LocalKind};
use crate::ty::{Ty, dims_agree};
use crate::{ItemKind, Res};
use circ_diag::Diagnostic;
use circ_syntax::Span;
use circ_syntax::ast::{Arg, BinOp, DimExpr, DimKind, Expr, ExprKind, UnOp, UnitExpr, UnitKind};
use circ_units::{Dim, Rat, Unit};

fn num(dim: Option<Dim>, int: bool, konst: Option<f64>, random: bool) -> Ty {
    Ty::Num {
        dim,
        int,
        konst,
        random,
    }
}

fn join_random(a: Ty, b: Ty) -> bool {
    a.is_random() || b.is_random()
}

impl Checker {
    /// The value of a unit expression, or `None` after reporting why not.
    pub(crate) fn unit(&mut self, env: &Env<'_>, u: &UnitExpr) -> Option<Unit> {
        match &u.node {
            UnitKind::One => Some(Unit::ONE),
            UnitKind::Name(n) => match circ_units::lookup(n) {
                Some(unit) => Some(unit),
                None => {
                    let mut d = Diagnostic::error(
                        "unknown-unit",
                        format!("unknown unit `{n}`"),
                        env.file,
                        u.span,
                        "not a unit",
                    );
                    d = match circ_units::suggest_unit(n) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help("units are SI symbols with an optional SI prefix: ms, mV, nA, nS, pF, Mohm, Hz, um, mM"),
                    };
                    self.diags.push(d);
                    None
                }
            },
            UnitKind::Mul(a, b) => {
                let (a, b) = (self.unit(env, a), self.unit(env, b));
                let r = a?.checked_mul(b?);
                self.exponents_in_range(env, u.span, r)
            }
            UnitKind::Div(a, b) => {
                let (a, b) = (self.unit(env, a), self.unit(env, b));
                let r = a?.checked_div(b?);
                self.exponents_in_range(env, u.span, r)
            }
            UnitKind::Pow(a, n, d) => {
                let a = self.unit(env, a)?;
                let e = Rat::new(*n, *d);
                match e {
                    Some(e) => {
                        let r = a.powr(e);
                        self.exponents_in_range(env, u.span, r)
                    }
                    None => {
                        self.diags.push(Diagnostic::error(
                            "invalid-exponent",
                            format!(
                                "the exponent {n}/{d} is not a fraction circ can hold (numerator and denominator within ±{}, denominator not 0)",
                                i32::MAX
                            ),
                            env.file,
                            u.span,
                            "exponent out of range",
                        ));
                        None
                    }
                }
            }
        }
    }

    /// `r`, the result of combining two known units or dimensions, or an
    /// error at `span` when that put an exponent out of range (`None` would
    /// otherwise read as "unknown" and pass every check).
    fn exponents_in_range<T>(&mut self, env: &Env<'_>, span: Span, r: Option<T>) -> Option<T> {
        if r.is_none() {
            self.diags.push(
                Diagnostic::error(
                    "invalid-exponent",
                    "the exponents of this unit are out of range",
                    env.file,
                    span,
                    "exponents overflow",
                )
                .with_help(format!(
                    "an exponent of a dimension is a fraction whose numerator and denominator lie within ±{}",
                    i32::MAX
                )),
            );
        }
        r
    }

    /// The dimension an annotation names, or `None` after reporting why not.
    pub(crate) fn dim_expr(&mut self, env: &Env<'_>, d: &DimExpr) -> Option<Dim> {
        match &d.node {
            DimKind::One => Some(Dim::ONE),
            DimKind::Name(n) => match circ_units::dim_by_name(n) {
                Some(dim) => Some(dim),
                None => {
                    let mut diag = Diagnostic::error(
                        "unknown-dimension",
                        format!("unknown dimension `{n}`"),
                        env.file,
                        d.span,
                        "not a dimension name",
                    );
                    diag = match circ_units::suggest_dim(n) {
                        Some(s) if circ_units::lookup_with_exponent(n).is_some() => diag.with_help(format!("`{n}` is a unit; annotations name dimensions: write `{s}` (or the unit in brackets, `[{n}]`)")),
                        Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                        None => diag.with_help("dimension names: time, voltage, current, conductance, capacitance, resistance, frequency, concentration, length, ... or a unit in brackets such as [mV/ms]"),
                    };
                    self.diags.push(diag);
                    None
                }
            },
            DimKind::Unit(u) => self.unit(env, u).map(|u| u.dim),
            DimKind::Mul(a, b) => {
                let (a, b) = (self.dim_expr(env, a), self.dim_expr(env, b));
                let r = a?.checked_mul(b?);
                self.exponents_in_range(env, d.span, r)
            }
            DimKind::Div(a, b) => {
                let (a, b) = (self.dim_expr(env, a), self.dim_expr(env, b));
                let r = a?.checked_div(b?);
                self.exponents_in_range(env, d.span, r)
            }
            DimKind::Pow(a, n, den) => {
                let a = self.dim_expr(env, a)?;
                let r = Rat::new(*n, *den).and_then(|e| a.powr(e));
                self.exponents_in_range(env, d.span, r)
            }
        }
    }

    /// Reports that `e` has type `got` where a number was required.
    pub(crate) fn need_number(&mut self, env: &Env<'_>, e: &Expr, got: Ty, what: &str) -> bool {
        if got.is_num_or_err() {
            return true;
        }
        self.diags.push(Diagnostic::error(
            "type-mismatch",
            format!("{what} needs a number, but this is {}", got.describe()),
            env.file,
            e.span,
            got.describe(),
        ));
        false
    }

    /// Requires a boolean.
    pub(crate) fn need_bool(&mut self, env: &Env<'_>, e: &Expr, got: Ty, what: &str) {
        if matches!(got, Ty::Bool | Ty::Error) {
            return;
        }
        self.diags.push(
            Diagnostic::error(
                "type-mismatch",
                format!(
                    "{what} must be a condition (a boolean), but this is {}",
                    got.describe()
                ),
                env.file,
                e.span,
                "not a boolean",
            )
            .with_help("compare it with something: `v > v_th`"),
        );
    }

    /// Requires a number of dimension `want`; reports `code` with `what` otherwise.
    pub(crate) fn need_dim(
        &mut self,
        env: &Env<'_>,
        e: &Expr,
        got: Ty,
        want: Dim,
        code: &'static str,
        what: &str,
    ) -> bool {
        if !self.need_number(env, e, got, what) {
            return false;
        }
        if let Ty::Num { dim: Some(d), .. } = got
            && d != want
        {
            self.diags.push(
                Diagnostic::error(
                    code,
                    format!(
                        "{what} must be {}, but this is {}",
                        want.describe(),
                        d.describe()
                    ),
                    env.file,
                    e.span,
                    format!("this is {}", d.describe()),
                )
                .with_help_opt(convert_help(d, want)),
            );
            return false;
        }
        true
    }

    /// Types an expression, and records its type for editors
    /// ([`crate::Program::type_at`]).
    pub(crate) fn expr(&mut self, env: &Env<'_>, e: &Expr) -> Ty {
        let t = self.expr_untracked(env, e);
        self.prog
            .types
            .insert((env.file, e.span.start, e.span.end), t);
        t
    }

    /// Types an expression.
    fn expr_untracked(&mut self, env: &Env<'_>, e: &Expr) -> Ty {
        match &e.node {
            ExprKind::Error => Ty::Error,
            ExprKind::Num { value, int, unit } => {
                if !value.is_finite() {
                    self.diags.push(Diagnostic::error(
                        "invalid-value",
                        "this number is too large",
                        env.file,
                        e.span,
                        "overflows a 64-bit float",
                    ));
                    return Ty::Error;
                }
                let key = (env.file, e.span.start, e.span.end);
                match unit {
                    None if *value == 0.0 => {
                        self.prog.literals.insert(key, 0.0);
                        num(None, *int, Some(0.0), false)
                    }
                    None => {
                        self.prog.literals.insert(key, *value);
                        num(Some(Dim::ONE), *int, Some(*value), false)
                    }
                    Some(u) => match self.unit(env, u) {
                        Some(u) => {
                            let si = value * u.scale;
                            self.prog.literals.insert(key, si);
                            num(Some(u.dim), false, Some(si), false)
                        }
                        None => Ty::Error,
                    },
                }
            }
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Str(_) => Ty::Str,
            ExprKind::File(_) => Ty::File,
            ExprKind::FileNamed(n) => self.file_named(env, n),
            ExprKind::Name(n) => self.name(env, n),
            ExprKind::Field { base, field } => self.field(env, base, field, e.span),
            ExprKind::Call { func, args } => self.call(env, func, args, e.span),
            ExprKind::Unary(op, a) => {
                let t = self.expr(env, a);
                match op {
                    UnOp::Not => {
                        self.need_bool(env, a, t, "the operand of `not`");
                        Ty::Bool
                    }
                    UnOp::Neg | UnOp::Plus => {
                        if !self.need_number(env, a, t, "a sign") {
                            return Ty::Error;
                        }
                        match t {
                            Ty::Num {
                                dim,
                                int,
                                konst,
                                random,
                            } => num(
                                dim,
                                int,
                                konst.map(|k| if *op == UnOp::Neg { -k } else { k }),
                                random,
                            ),
                            other => other,
                        }
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(env, *op, a, b, e.span),
            ExprKind::If(c, a, b) => {
                let tc = self.expr(env, c);
                self.need_bool(env, c, tc, "the condition of `if`");
                let ta = self.expr(env, a);
                let tb = self.expr(env, b);
                match (ta, tb) {
                    (Ty::Error, _) | (_, Ty::Error) => Ty::Error,
                    (Ty::Bool, Ty::Bool) => Ty::Bool,
                    (
                        Ty::Num {
                            dim: da,
                            int: ia,
                            random: ra,
                            ..
                        },
                        Ty::Num {
                            dim: db,
                            int: ib,
                            random: rb,
                            ..
                        },
                    ) => {
                        if !dims_agree(da, db) {
                            self.mismatch(
                                env,
                                "the two branches of `if` must have the same dimension",
                                a,
                                da,
                                b,
                                db,
                            );
                            return Ty::Error;
                        }
                        num(da.or(db), ia && ib, None, ra || rb)
                    }
                    _ => {
                        self.diags.push(Diagnostic::error(
                            "type-mismatch",
                            format!(
                                "the branches of `if` differ: {} and {}",
                                ta.describe(),
                                tb.describe()
                            ),
                            env.file,
                            a.span.to(b.span),
                            "branches of different types",
                        ));
                        Ty::Error
                    }
                }
            }
            ExprKind::Range(lo, hi) => {
                let tl = lo.as_ref().map(|x| (self.expr(env, x), x));
                let th = hi.as_ref().map(|x| (self.expr(env, x), x));
                let mut dim = None;
                for (t, x) in tl.iter().chain(th.iter()) {
                    if !self.need_number(env, x, *t, "a range bound") {
                        return Ty::Error;
                    }
                    if let Some(d) = t.dim() {
                        if dims_agree(dim, Some(d)) {
                            dim = dim.or(Some(d));
                        } else if let (Some((a, ea)), Some((b, eb))) = (&tl, &th) {
                            self.mismatch(
                                env,
                                "the bounds of a range must have the same dimension",
                                ea,
                                a.dim(),
                                eb,
                                b.dim(),
                            );
                            return Ty::Error;
                        }
                    }
                }
                Ty::Range(dim)
            }
            ExprKind::Array(items) => {
                let mut dim: Option<Dim> = None;
                let mut first: Option<&Expr> = None;
                for x in items {
                    let t = self.expr(env, x);
                    if !self.need_number(env, x, t, "an array element") {
                        continue;
                    }
                    if let Some(d) = t.dim() {
                        match (dim, first) {
                            (Some(d0), Some(f)) if d0 != d => self.mismatch(
                                env,
                                "all elements of an array must have the same dimension",
                                f,
                                Some(d0),
                                x,
                                Some(d),
                            ),
                            (None, _) => {
                                dim = Some(d);
                                first = Some(x);
                            }
                            _ => {}
                        }
                    }
                }
                Ty::Array(dim)
            }
            ExprKind::Clip(v, r) => {
                let tv = self.expr(env, v);
                let tr = self.expr(env, r);
                if !self.need_number(env, v, tv, "`clip`") {
                    return Ty::Error;
                }
                match tr {
                    Ty::Range(rd) => {
                        if !dims_agree(tv.dim(), rd) {
                            self.mismatch(env, "a value and the range it is clipped to must have the same dimension", v, tv.dim(), r, rd);
                            return Ty::Error;
                        }
                        tv
                    }
                    Ty::Error => Ty::Error,
                    other => {
                        self.diags.push(Diagnostic::error(
                            "type-mismatch",
                            format!(
                                "`clip` needs a range such as `0 nS..1 nS`, but this is {}",
                                other.describe()
                            ),
                            env.file,
                            r.span,
                            "not a range",
                        ));
                        Ty::Error
                    }
                }
            }
        }
    }

    /// Reports a dimension mismatch between two operands.
    pub(crate) fn mismatch(
        &mut self,
        env: &Env<'_>,
        msg: &str,
        a: &Expr,
        da: Option<Dim>,
        b: &Expr,
        db: Option<Dim>,
    ) {
        let (Some(da), Some(db)) = (da, db) else {
            return;
        };
        self.diags.push(
            Diagnostic::error(
                "unit-mismatch",
                format!("{msg}: {} vs {}", da.describe(), db.describe()),
                env.file,
                a.span,
                format!("this is {}", da.describe()),
            )
            .with_label(env.file, b.span, format!("this is {}", db.describe()))
            .with_help_opt(convert_help(db, da)),
        );
    }

    /// A constant folded from finite operands must be finite: `1 / 0`,
    /// `0 / 0`, `5 % 0` and overflows are errors, not silent infinities or
    /// NaN (an operand that is `inf` already may give one).
    fn finite_fold(
        &mut self,
        env: &Env<'_>,
        op: BinOp,
        ka: Option<f64>,
        kb: Option<f64>,
        k: Option<f64>,
        span: Span,
    ) -> bool {
        let (Some(x), Some(y), Some(v)) = (ka, kb, k) else {
            return true;
        };
        if !x.is_finite() || !y.is_finite() || v.is_finite() {
            return true;
        }
        let short = |z: f64| {
            if z != 0.0 && !(1e-3..1e6).contains(&z.abs()) {
                format!("{z:e}")
            } else {
                format!("{z}")
            }
        };
        let (what, help) = if y == 0.0 && matches!(op, BinOp::Div | BinOp::Rem) {
            (
                format!(
                    "this divides by zero: {} `{}` 0 is {}",
                    short(x),
                    op.symbol(),
                    if v.is_nan() {
                        "not a number"
                    } else {
                        "infinite"
                    }
                ),
                if v.is_nan() {
                    "the expression has no value; check what it divides by"
                } else {
                    "a value that must be unbounded is written `inf`"
                },
            )
        } else {
            (
                format!(
                    "this overflows: {} `{}` {} is beyond the largest double",
                    short(x),
                    op.symbol(),
                    short(y)
                ),
                "rescale the quantity, or write `inf` where unbounded is meant",
            )
        };
        self.diags.push(
            Diagnostic::error("invalid-value", what, env.file, span, "not a finite number")
                .with_help(help),
        );
        false
    }

    fn binary(&mut self, env: &Env<'_>, op: BinOp, a: &Expr, b: &Expr, span: Span) -> Ty {
        let ta = self.expr(env, a);
        let tb = self.expr(env, b);
        if matches!(op, BinOp::And | BinOp::Or) {
            self.need_bool(env, a, ta, &format!("the left side of `{}`", op.symbol()));
            self.need_bool(env, b, tb, &format!("the right side of `{}`", op.symbol()));
            return Ty::Bool;
        }
        if matches!(ta, Ty::Error) || matches!(tb, Ty::Error) {
            return if matches!(
                op,
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
            ) {
                Ty::Bool
            } else {
                Ty::Error
            };
        }
        if matches!(op, BinOp::Eq | BinOp::Ne) && ta == Ty::Bool && tb == Ty::Bool {
            return Ty::Bool;
        }
        let ok_a = self.need_number(env, a, ta, &format!("`{}`", op.symbol()));
        let ok_b = self.need_number(env, b, tb, &format!("`{}`", op.symbol()));
        if !(ok_a && ok_b) {
            return Ty::Error;
        }
        let (
            Ty::Num {
                dim: da,
                int: ia,
                konst: ka,
                ..
            },
            Ty::Num {
                dim: db,
                int: ib,
                konst: kb,
                ..
            },
        ) = (ta, tb)
        else {
            return Ty::Error;
        };
        let random = join_random(ta, tb);
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Rem => {
                if !dims_agree(da, db) {
                    let verb = match op {
                        BinOp::Add => "cannot add",
                        BinOp::Sub => "cannot subtract",
                        _ => "cannot take the remainder of",
                    };
                    if let (Some(x), Some(y)) = (da, db) {
                        let msg = match op {
                            BinOp::Sub => format!("{verb} {} from {}", y.describe(), x.describe()),
                            BinOp::Add => format!("{verb} {} to {}", x.describe(), y.describe()),
                            _ => format!("{verb} {} by {}", x.describe(), y.describe()),
                        };
                        self.diags.push(
                            Diagnostic::error(
                                "unit-mismatch",
                                msg,
                                env.file,
                                a.span,
                                format!("this is {}", x.describe()),
                            )
                            .with_label(env.file, b.span, format!("this is {}", y.describe()))
                            .with_help_opt(convert_help(y, x)),
                        );
                    }
                    return Ty::Error;
                }
                let k = match (ka, kb) {
                    (Some(x), Some(y)) => Some(match op {
                        BinOp::Add => x + y,
                        BinOp::Sub => x - y,
                        _ => x % y,
                    }),
                    _ => None,
                };
                if !self.finite_fold(env, op, ka, kb, k, span) {
                    return Ty::Error;
                }
                num(da.or(db), ia && ib, k, random)
            }
            BinOp::Mul | BinOp::Div => {
                let dim = match (da, db) {
                    (Some(x), Some(y)) => {
                        let r = if op == BinOp::Mul {
                            x.checked_mul(y)
                        } else {
                            x.checked_div(y)
                        };
                        if self.exponents_in_range(env, span, r).is_none() {
                            return Ty::Error;
                        }
                        r
                    }
                    _ => None,
                };
                // `0 * x` is zero whatever x's dimension; otherwise an unknown stays unknown.
                let k = match (ka, kb) {
                    (Some(x), Some(y)) => Some(if op == BinOp::Mul { x * y } else { x / y }),
                    _ => None,
                };
                if !self.finite_fold(env, op, ka, kb, k, span) {
                    return Ty::Error;
                }
                // Integers divide to an integer where the division is exact
                // (`N / 4` of a size), else to a real number.
                let exact = op == BinOp::Div && k.is_some_and(|q| q.fract() == 0.0);
                num(dim, ia && ib && (op == BinOp::Mul || exact), k, random)
            }
            BinOp::Pow => self.power(env, a, ta, b, tb, span),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => {
                if !dims_agree(da, db)
                    && let (Some(x), Some(y)) = (da, db)
                {
                    self.diags.push(
                        Diagnostic::error(
                            "unit-mismatch",
                            format!("cannot compare {} with {}", x.describe(), y.describe()),
                            env.file,
                            a.span,
                            format!("this is {}", x.describe()),
                        )
                        .with_label(env.file, b.span, format!("this is {}", y.describe()))
                        .with_help_opt(convert_help(y, x)),
                    );
                }
                Ty::Bool
            }
            BinOp::And | BinOp::Or => Ty::Bool,
        }
    }

    fn power(&mut self, env: &Env<'_>, a: &Expr, ta: Ty, b: &Expr, tb: Ty, span: Span) -> Ty {
        let random = join_random(ta, tb);
        if let Some(db) = tb.dim()
            && !db.is_dimensionless()
        {
            self.diags.push(Diagnostic::error(
                "invalid-exponent",
                format!(
                    "an exponent must be dimensionless, but this is {}",
                    db.describe()
                ),
                env.file,
                b.span,
                format!("this is {}", db.describe()),
            ));
            return Ty::Error;
        }
        let (
            Ty::Num {
                dim: da,
                int: ia,
                konst: ka,
                ..
            },
            Ty::Num {
                int: ib, konst: kb, ..
            },
        ) = (ta, tb)
        else {
            return Ty::Error;
        };
        let k = match (ka, kb) {
            // circ's own pow (circ-math), as every backend computes it.
            (Some(x), Some(y)) => Some(circ_math::eval_two(circ_math::Two::Pow, x, y)),
            _ => None,
        };
        match da {
            None => num(None, false, k, random),
            Some(d) if d.is_dimensionless() => {
                num(Some(d), ia && ib && kb.is_some_and(|y| y >= 0.0), k, random)
            }
            Some(d) => match kb.and_then(Rat::from_f64) {
                Some(r) => match self.exponents_in_range(env, span, d.powr(r)) {
                    Some(p) => num(Some(p), false, k, random),
                    None => Ty::Error,
                },
                None if kb.is_some() => {
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-exponent",
                            format!(
                                "{} cannot be raised to {}: the power of a quantity with a unit must be a simple fraction (denominator up to 12, size up to 10^6)",
                                d.describe(),
                                kb.unwrap_or_default(),
                            ),
                            env.file,
                            b.span,
                            "not a simple fraction",
                        )
                        .with_label(env.file, a.span, format!("this is {}", d.describe())),
                    );
                    Ty::Error
                }
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-exponent",
                            format!(
                                "{} can only be raised to a constant rational power",
                                d.describe()
                            ),
                            env.file,
                            b.span,
                            "not a constant",
                        )
                        .with_label(env.file, a.span, format!("this is {}", d.describe()))
                        .with_help("make the base dimensionless first, e.g. `(v / 1 mV) ^ x`"),
                    );
                    Ty::Error
                }
            },
        }
    }

    pub(crate) fn name(&mut self, env: &Env<'_>, n: &circ_syntax::Ident) -> Ty {
        let (res, ty) = self.name_res(env, n);
        if let Some(res) = res {
            self.note_res(env.file, n.span, res);
        }
        ty
    }

    fn name_res(&mut self, env: &Env<'_>, n: &circ_syntax::Ident) -> (Option<Res>, Ty) {
        if let Some(l) = env.local(&n.node) {
            if l.kind == LocalKind::PerSynapse {
                env.note_read_per_synapse(&n.node, n.span);
            }
            return (Some(Res::Local(n.node.clone())), l.ty);
        }
        if let Some(model) = env.model
            && model.has(&n.node)
        {
            let t = self.model_var(env, model, &n.node, n.span);
            return (Some(Res::ModelVar(n.node.clone())), t);
        }
        let builtin = Some(Res::Builtin(n.node.clone()));
        if let Some(k) = builtins::constant(&n.node) {
            return (builtin, num(Some(Dim::ONE), false, Some(k), false));
        }
        // `t`, the simulation time, and `dt`, the run's time step.
        if (n.node == "t" || n.node == "dt") && env.allow.time {
            return (builtin, Ty::real(builtins::time()));
        }
        if (n.node == "i" || n.node == "j") && env.allow.indices {
            return (builtin, Ty::int());
        }
        if n.node == "i" && env.allow.element {
            return (builtin, Ty::int());
        }
        if n.node == "d" && env.allow.distance {
            return (builtin, Ty::real(builtins::length()));
        }
        if let Some((id, kind)) = self.resolve(env.module, &n.node) {
            return match kind {
                ItemKind::Const => (Some(Res::Const(id)), self.const_ty(id)),
                other => {
                    self.diags.push(Diagnostic::error(
                        "type-mismatch",
                        format!("`{}` is a {}, not a value", n.node, other.word()),
                        env.file,
                        n.span,
                        format!("a {}", other.word()),
                    ));
                    (None, Ty::Error)
                }
            };
        }
        self.unknown_name(env, n);
        (None, Ty::Error)
    }

    /// Reports an unknown name with the closest candidate.
    pub(crate) fn unknown_name(&mut self, env: &Env<'_>, n: &circ_syntax::Ident) {
        if self.failed_imports.contains(&(env.module, n.node.clone())) {
            return;
        }
        let mut cands: Vec<String> = env.locals.borrow().iter().map(|l| l.name.clone()).collect();
        if let Some(m) = env.model {
            cands.extend(m.names());
        }
        cands.extend(self.visible_names(env.module));
        if env.allow.time {
            cands.push("t".into());
            cands.push("dt".into());
        }
        let mut d = Diagnostic::error(
            "unknown-name",
            format!("unknown name `{}`", n.node),
            env.file,
            n.span,
            "not defined here",
        );
        let closest =
            circ_units::closest(&n.node, cands.iter().map(String::as_str)).map(str::to_string);
        if let Some(c) = closest {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else if circ_units::lookup(&n.node).is_some() {
            d = d.with_help(format!(
                "`{0}` is a unit; a unit only follows a number: write `1 {0}`",
                n.node
            ));
        } else if matches!(n.node.as_str(), "i" | "j" | "d") {
            d = d.with_help("`i` is a neuron's index in a population's values; `i`, `j` (and `d` in `distance`) are the pair's in connection rules and per-synapse values");
        } else if n.node == "t" || n.node == "dt" {
            d = d.with_help(
                "`t` (the simulation time) and `dt` (the time step) exist in models, time functions and modulators only",
            );
        }
        self.diags.push(d);
    }

    fn field(
        &mut self,
        env: &Env<'_>,
        base: &circ_syntax::Ident,
        field: &circ_syntax::Ident,
        span: Span,
    ) -> Ty {
        let is_pre = base.node == "pre";
        if base.node != "pre" && base.node != "post" {
            self.diags.push(
                Diagnostic::error("unknown-name", format!("`{}.{}`: only `pre` and `post` have fields", base.node, field.node), env.file, span, "no such field")
                    .with_help("inside a synapse, `pre.x` and `post.x` read the pre- and postsynaptic neurons' variables"),
            );
            return Ty::Error;
        }
        let in_synapse = env
            .model
            .is_some_and(|m| m.kind == circ_syntax::ast::ModelKind::Synapse);
        if !in_synapse {
            self.diags.push(Diagnostic::error(
                "misplaced-member",
                format!(
                    "`{}.{}` can only be read inside a synapse",
                    base.node, field.node
                ),
                env.file,
                span,
                "not in a synapse",
            ));
            return Ty::Error;
        }
        env.note_read_field(is_pre, span);
        self.note_res(
            env.file,
            span,
            Res::Field {
                pre: is_pre,
                name: field.node.clone(),
            },
        );
        let concrete = if is_pre { env.pre } else { env.post };
        match concrete {
            None => Ty::any_num(),
            Some(info) => match info.var(&field.node) {
                Some(v) => Ty::Num {
                    dim: Some(v.dim),
                    int: false,
                    konst: None,
                    random: false,
                },
                None => {
                    self.unknown_member(
                        env,
                        info,
                        field,
                        if is_pre {
                            "presynaptic"
                        } else {
                            "postsynaptic"
                        },
                    );
                    Ty::Error
                }
            },
        }
    }

    /// Reports `post.x` / `pre.x` naming no variable of the bound model.
    pub(crate) fn unknown_member(
        &mut self,
        env: &Env<'_>,
        info: &crate::ModelInfo,
        field: &circ_syntax::Ident,
        side: &str,
    ) {
        let mut d = Diagnostic::error(
            "unknown-member",
            format!(
                "the {side} model `{}` has no variable `{}`",
                info.name, field.node
            ),
            env.file,
            field.span,
            format!("not a variable of `{}`", info.name),
        );
        if let Some(c) = circ_units::closest(&field.node, info.vars.iter().map(|v| v.name.as_str()))
        {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else {
            let names: Vec<&str> = info.vars.iter().map(|v| v.name.as_str()).collect();
            d = d.with_help(format!(
                "`{}` has: {}",
                info.name,
                if names.is_empty() {
                    "no variables".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        if let Some(site) = env.site {
            d = d.with_label(
                site.0,
                site.1,
                format!("`{}` is bound to `{}` here", side, info.name),
            );
        }
        self.diags.push(d);
    }

    fn call(&mut self, env: &Env<'_>, func: &circ_syntax::Ident, args: &[Arg], span: Span) -> Ty {
        if let Some(sig) = builtins::function(&func.node) {
            if !matches!(sig, Sig::TimeFn | Sig::Positions | Sig::Data)
                && let Some(a) = args.iter().find(|a| a.name.is_some())
            {
                let n = a.name.as_ref().map_or(func.span, |n| n.span);
                self.diags.push(Diagnostic::error(
                    "argument-count",
                    format!("`{}` takes no named arguments", func.node),
                    env.file,
                    n,
                    "named argument",
                ));
                return Ty::Error;
            }
            self.note_res(env.file, func.span, Res::BuiltinFn(func.node.clone()));
            return self.builtin_call(env, func, sig, args, span);
        }
        let Some((id, kind)) = self.resolve(env.module, &func.node) else {
            if self
                .failed_imports
                .contains(&(env.module, func.node.clone()))
            {
                for a in args {
                    self.expr(env, &a.value);
                }
                return Ty::Error;
            }
            let mut cands: Vec<String> = builtins::FUNCTION_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect();
            cands.extend(self.visible_names(env.module));
            let mut d = Diagnostic::error(
                "unknown-function",
                format!("unknown function `{}`", func.node),
                env.file,
                func.span,
                "no function of this name",
            );
            d = suggest(d, &func.node, cands.iter().map(String::as_str), None);
            if func.node == "sum" {
                d = d.with_help("`sum(EXPR)` is the value of a `post let` in a synapse: `post let w_total = sum(w)` adds `w` over the neuron's incoming synapses");
            }
            for a in args {
                self.expr(env, &a.value);
            }
            self.diags.push(d);
            return Ty::Error;
        };
        if kind != ItemKind::Fn {
            self.diags.push(Diagnostic::error(
                "type-mismatch",
                format!("`{}` is a {}, not a function", func.node, kind.word()),
                env.file,
                func.span,
                "cannot be called",
            ));
            return Ty::Error;
        }
        self.note_res(env.file, func.span, Res::Fn(id));
        let sig = self.fn_sig(id);
        let tys: Vec<Ty> = args.iter().map(|a| self.expr(env, &a.value)).collect();
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            let n = a.name.as_ref().map_or(func.span, |n| n.span);
            self.diags.push(Diagnostic::error(
                "argument-count",
                format!("`{}` takes positional arguments only", func.node),
                env.file,
                n,
                "named argument",
            ));
            return Ty::Error;
        }
        let Some(sig) = sig else { return Ty::Error };
        if sig.params.len() != args.len() {
            self.diags.push(
                Diagnostic::error(
                    "argument-count",
                    format!(
                        "`{}` takes {} argument{}, but {} were given",
                        func.node,
                        sig.params.len(),
                        if sig.params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                    env.file,
                    span,
                    "wrong number of arguments",
                )
                .with_label(sig.file, sig.span, "defined here"),
            );
            return Ty::Error;
        }
        let mut random = false;
        for ((a, t), (pname, pdim)) in args.iter().zip(&tys).zip(&sig.params) {
            random |= t.is_random();
            if let Some(pd) = pdim {
                self.need_dim(
                    env,
                    &a.value,
                    *t,
                    *pd,
                    "argument-dimension",
                    &format!("argument `{pname}` of `{}`", func.node),
                );
            }
        }
        num(sig.ret, false, None, random)
    }

    fn builtin_call(
        &mut self,
        env: &Env<'_>,
        func: &circ_syntax::Ident,
        sig: Sig,
        args: &[Arg],
        span: Span,
    ) -> Ty {
        let fname = func.node.as_str();
        let arity = |n: usize, this: &mut Checker| -> bool {
            if args.len() == n {
                return true;
            }
            this.diags.push(Diagnostic::error(
                "argument-count",
                format!(
                    "`{fname}` takes {n} argument{}, but {} were given",
                    if n == 1 { "" } else { "s" },
                    args.len()
                ),
                env.file,
                span,
                "wrong number of arguments",
            ));
            false
        };
        match sig {
            Sig::TimeFn | Sig::Positions | Sig::Data => {
                return self.named_builtin(env, func, sig, args, span);
            }
            Sig::RandomUnit => {
                if !arity(0, self) {
                    return Ty::Error;
                }
                return num(Some(Dim::ONE), false, None, true);
            }
            _ => {}
        }
        let tys: Vec<Ty> = args.iter().map(|a| self.expr(env, &a.value)).collect();
        for (a, t) in args.iter().zip(&tys) {
            if !self.need_number(env, &a.value, *t, &format!("`{fname}`")) {
                return Ty::Error;
            }
        }
        if tys.iter().any(|t| matches!(t, Ty::Error)) {
            return Ty::Error;
        }
        let random = tys.iter().any(|t| t.is_random());
        let same = |this: &mut Checker| -> Option<Option<Dim>> {
            let mut dim: Option<Dim> = None;
            let mut first: Option<&Expr> = None;
            for (a, t) in args.iter().zip(&tys) {
                if let Some(d) = t.dim() {
                    match (dim, first) {
                        (Some(d0), Some(f)) if d0 != d => {
                            this.mismatch(
                                env,
                                &format!("the arguments of `{fname}` must have the same dimension"),
                                f,
                                Some(d0),
                                &a.value,
                                Some(d),
                            );
                            return None;
                        }
                        (None, _) => {
                            dim = Some(d);
                            first = Some(&a.value);
                        }
                        _ => {}
                    }
                }
            }
            Some(dim)
        };
        let t = match sig {
            Sig::Dimless(n) => {
                if !arity(n, self) {
                    return Ty::Error;
                }
                for (a, t) in args.iter().zip(&tys) {
                    if let Some(d) = t.dim()
                        && !d.is_dimensionless()
                    {
                        self.diags.push(
                            Diagnostic::error(
                                "argument-dimension",
                                format!(
                                    "`{fname}` takes a dimensionless argument, but this is {}",
                                    d.describe()
                                ),
                                env.file,
                                a.value.span,
                                format!("this is {}", d.describe()),
                            )
                            .with_help(format!(
                                "divide by a reference value first, e.g. `{fname}(x / (1 {}))`",
                                d.describe().split(['(', ')']).nth(1).unwrap_or("unit")
                            )),
                        );
                        return Ty::Error;
                    }
                }
                num(Some(Dim::ONE), false, None, random)
            }
            Sig::Same(n) | Sig::SameToDimless(n) | Sig::Random(n) => {
                if !arity(n, self) {
                    return Ty::Error;
                }
                let Some(dim) = same(self) else {
                    return Ty::Error;
                };
                match sig {
                    Sig::SameToDimless(_) => num(Some(Dim::ONE), false, None, random),
                    Sig::Random(_) => num(dim, false, None, true),
                    _ => {
                        let int = tys.iter().all(|t| matches!(t, Ty::Num { int: true, .. }))
                            || matches!(fname, "floor" | "ceil" | "round");
                        num(dim, int, None, random)
                    }
                }
            }
            Sig::Sqrt | Sig::Cbrt => {
                if !arity(1, self) {
                    return Ty::Error;
                }
                let r = Rat::new(1, if sig == Sig::Sqrt { 2 } else { 3 });
                num(tys[0].dim().and_then(|d| d.powr(r?)), false, None, random)
            }
            Sig::Pow => {
                if !arity(2, self) {
                    return Ty::Error;
                }
                self.power(env, &args[0].value, tys[0], &args[1].value, tys[1], span)
            }
            Sig::Gamma => {
                if !arity(2, self) {
                    return Ty::Error;
                }
                if let Some(d) = tys[0].dim()
                    && !d.is_dimensionless()
                {
                    self.diags.push(Diagnostic::error(
                        "argument-dimension",
                        format!(
                            "the shape of `gamma` must be dimensionless, but this is {}",
                            d.describe()
                        ),
                        env.file,
                        args[0].value.span,
                        "shape",
                    ));
                }
                num(tys[1].dim(), false, None, true)
            }
            Sig::RandomUnit | Sig::TimeFn | Sig::Positions | Sig::Data => Ty::Error,
        };
        fold_call(fname, &tys, t)
    }

    /// Time functions and position functions take named (or positional) parameters.
    fn named_builtin(
        &mut self,
        env: &Env<'_>,
        func: &circ_syntax::Ident,
        sig: Sig,
        args: &[Arg],
        span: Span,
    ) -> Ty {
        let params = builtins::named_params(&func.node);
        let mut given: Vec<Option<(&Expr, Ty)>> = vec![None; params.len()];
        let mut positional = 0usize;
        let mut ok = true;
        for a in args {
            let idx = match &a.name {
                Some(n) => match params.iter().position(|p| p.name == n.node) {
                    Some(i) => i,
                    None => {
                        let names: Vec<&str> = params.iter().map(|p| p.name).collect();
                        self.diags.push(
                            Diagnostic::error(
                                "unknown-parameter",
                                format!("`{}` has no parameter `{}`", func.node, n.node),
                                env.file,
                                n.span,
                                "unknown parameter",
                            )
                            .with_help(format!("its parameters are: {}", names.join(", "))),
                        );
                        ok = false;
                        continue;
                    }
                },
                None => {
                    positional += 1;
                    positional - 1
                }
            };
            let t = self.expr(env, &a.value);
            if idx >= params.len() {
                self.diags.push(Diagnostic::error(
                    "argument-count",
                    format!("`{}` takes at most {} arguments", func.node, params.len()),
                    env.file,
                    a.value.span,
                    "one too many",
                ));
                ok = false;
                continue;
            }
            given[idx] = Some((&a.value, t));
        }
        let mut value_dim: Option<Dim> = None;
        let mut value_expr: Option<&Expr> = None;
        for (p, g) in params.iter().zip(&given) {
            let Some((e, t)) = g else {
                if p.required && ok {
                    self.diags.push(Diagnostic::error(
                        "argument-count",
                        format!("`{}` needs its parameter `{}`", func.node, p.name),
                        env.file,
                        span,
                        format!("`{}` missing", p.name),
                    ));
                    ok = false;
                }
                continue;
            };
            let what = format!("parameter `{}` of `{}`", p.name, func.node);
            match p.kind {
                ParamKind::Time => {
                    ok &= self.need_dim(env, e, *t, builtins::time(), "argument-dimension", &what)
                }
                ParamKind::Frequency => {
                    ok &= self.need_dim(
                        env,
                        e,
                        *t,
                        builtins::frequency(),
                        "argument-dimension",
                        &what,
                    )
                }
                ParamKind::Length => {
                    ok &= self.need_dim(env, e, *t, builtins::length(), "argument-dimension", &what)
                }
                ParamKind::Dimless => {
                    ok &= self.need_dim(env, e, *t, Dim::ONE, "argument-dimension", &what)
                }
                ParamKind::Count => ok &= self.need_count(env, e, *t, &what),
                ParamKind::Name => {
                    if !matches!(t, Ty::Str | Ty::Error) {
                        self.diags.push(Diagnostic::error(
                            "type-mismatch",
                            format!("{what} must be a column's name: `\"tau\"`"),
                            env.file,
                            e.span,
                            t.describe(),
                        ));
                        ok = false;
                    }
                }
                ParamKind::File => {
                    if !matches!(t, Ty::File | Ty::Error) {
                        self.diags.push(Diagnostic::error(
                            "type-mismatch",
                            format!("{what} must be a file: `from \"values.npy\"`"),
                            env.file,
                            e.span,
                            t.describe(),
                        ));
                        ok = false;
                    }
                }
                ParamKind::Value => {
                    if !self.need_number(env, e, *t, &what) {
                        ok = false;
                        continue;
                    }
                    if let Some(d) = t.dim() {
                        match (value_dim, value_expr) {
                            (Some(d0), Some(f)) if d0 != d => {
                                self.mismatch(
                                    env,
                                    &format!(
                                        "the values of `{}` must have one dimension",
                                        func.node
                                    ),
                                    f,
                                    Some(d0),
                                    e,
                                    Some(d),
                                );
                                ok = false;
                            }
                            (None, _) => {
                                value_dim = Some(d);
                                value_expr = Some(e);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if !ok {
            return Ty::Error;
        }
        if sig == Sig::Positions {
            return Ty::Positions;
        }
        if sig == Sig::Data {
            if !env.allow.element {
                self.diags.push(
                    Diagnostic::error(
                        "misplaced-member",
                        "`values` gives each neuron of a population its own value; it cannot be used here",
                        env.file,
                        span,
                        "one value per neuron",
                    )
                    .with_help("use it in a population's parameters or initial values: `population E = LIF[100](tau_m = values(from \"taus.npy\", 1 ms))`"),
                );
                return Ty::Error;
            }
            return num(value_dim, false, None, false);
        }
        if !env.allow.time {
            self.diags.push(
                Diagnostic::error(
                    "misplaced-member",
                    format!("the time function `{}` cannot be used here", func.node),
                    env.file,
                    span,
                    "depends on time",
                )
                .with_help(
                    "time functions give the value of a parameter, input or modulator over time",
                ),
            );
            return Ty::Error;
        }
        num(value_dim, false, None, func.node == "ou")
    }

    /// Requires a non-negative integer constant (a count, a size, a seed)
    /// of at most [`MAX_COUNT`] ([`MAX_SEED`] for a seed).
    pub(crate) fn need_count(&mut self, env: &Env<'_>, e: &Expr, t: Ty, what: &str) -> bool {
        let max = if what == "`seed`" {
            MAX_SEED
        } else {
            MAX_COUNT
        };
        match t {
            Ty::Error => false,
            Ty::Num {
                dim,
                int: true,
                konst,
                ..
            } if dim.is_none_or(Dim::is_dimensionless) => match konst {
                Some(k) if k > max => {
                    let (why, help) = if max == MAX_SEED {
                        (
                            "a seed is written exactly up to 2^53 - 1",
                            "any seed from 0 to 9007199254740991 gives its own streams",
                        )
                    } else {
                        (
                            "neurons are numbered with 32 bits",
                            "a network this size would not fit in memory either",
                        )
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            format!("{what} is {k}, more than circ supports ({max}: {why})"),
                            env.file,
                            e.span,
                            "too large",
                        )
                        .with_help(help),
                    );
                    false
                }
                Some(k) if k >= 0.0 => true,
                Some(k) => {
                    self.diags.push(Diagnostic::error(
                        "invalid-value",
                        format!("{what} must not be negative, but it is {k}"),
                        env.file,
                        e.span,
                        "negative",
                    ));
                    false
                }
                None => {
                    self.diags.push(Diagnostic::error(
                        "not-constant",
                        format!("{what} must be a constant"),
                        env.file,
                        e.span,
                        "not known before the run",
                    ));
                    false
                }
            },
            other => {
                let is = match other.konst() {
                    Some(k) if other.dim().is_none_or(|d| d.is_dimensionless()) => format!("{k}"),
                    _ => other.describe(),
                };
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("{what} must be an integer, but this is {is}"),
                        env.file,
                        e.span,
                        "not an integer",
                    )
                    .with_help_opt(matches!(e.node, ExprKind::Binary(BinOp::Div, ..)).then(|| {
                        "integers divide exactly or not at all here: choose sizes that divide (`N / 4` with N a multiple of 4), or round explicitly (`round(N / 3)`)".to_string()
                    })),
                );
                false
            }
        }
    }
}

/// Adds "did you mean `c`?" naming the candidate closest to `name`, or else
/// the `otherwise` help line (if any).
pub(crate) fn suggest<'a>(
    d: Diagnostic,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    otherwise: Option<String>,
) -> Diagnostic {
    match circ_units::closest(name, candidates) {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
        None => d.with_help_opt(otherwise),
    }
}

/// A help line for a dimension mismatch that one common fix resolves.
pub(crate) fn convert_help(found: Dim, want: Dim) -> Option<String> {
    let time = builtins::time();
    if found.checked_mul(time) == Some(want) {
        return Some(format!("multiply by a time to get {}", want.describe()));
    }
    if found.checked_div(time) == Some(want) {
        return Some(format!(
            "divide by a time constant to get {}",
            want.describe()
        ));
    }
    let volt = circ_units::dim_by_name("voltage")?;
    let cond = circ_units::dim_by_name("conductance")?;
    let res = circ_units::dim_by_name("resistance")?;
    if found.checked_mul(cond) == Some(want)
        || found.checked_mul(volt) == Some(want) && want == circ_units::dim_by_name("current")?
    {
        return Some("a current is a conductance times a voltage: `g * (E - v)`".to_string());
    }
    if found.checked_mul(res) == Some(want) {
        return Some(format!(
            "multiply by a resistance to get {}",
            want.describe()
        ));
    }
    if found.is_dimensionless() {
        return Some(format!(
            "give the number a unit, e.g. `{}`",
            want.describe()
                .split(['(', ')'])
                .nth(1)
                .map_or_else(|| "1".to_string(), |u| format!("1 {u}"))
        ));
    }
    None
}

/// A call's type with its value when every argument is a known constant and
/// the function is math: computed by circ-math, as every backend computes
/// it at run time, so lowering takes the value from here.
fn fold_call(name: &str, args: &[Ty], t: Ty) -> Ty {
    let Ty::Num {
        dim,
        int,
        konst: None,
        random: false,
    } = t
    else {
        return t;
    };
    let vals: Option<Vec<f64>> = args.iter().map(|a| a.konst()).collect();
    let Some(vals) = vals else { return t };
    let value = match (name, vals.as_slice()) {
        ("min", [a, b]) => Some(circ_math::eval_two(circ_math::Two::Min, *a, *b)),
        ("max", [a, b]) => Some(circ_math::eval_two(circ_math::Two::Max, *a, *b)),
        _ => circ_math::Func::ALL
            .iter()
            .find(|f| f.name() == name && f.arity() == vals.len())
            .map(|f| circ_math::eval(*f, &vals)),
    };
    Ty::Num {
        dim,
        int,
        konst: value,
        random: false,
    }
}

/// The largest count (population size, degree, index) a model may give:
/// neuron indices are 32-bit throughout the runtime.
pub(crate) const MAX_COUNT: f64 = 4_294_967_295.0;

/// The largest seed a model may write: larger numbers are not exact.
pub(crate) const MAX_SEED: f64 = 9_007_199_254_740_991.0;
