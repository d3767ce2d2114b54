//! circ-math owns math, defined once as IR-level algorithms. Every function the language
//! offers (and `^`, `min`, `max`) is written here once, generically over
//! [`Ops`], as a fixed sequence of IEEE operations (add, subtract, multiply,
//! divide, square root, floor: each correctly rounded on every target),
//! integer steps on the bits, comparisons and choices: range reduction and
//! polynomials, with no branches and no call to a platform's libm. The
//! interpreter runs the sequence on `f64` ([`Direct`]); code generators take
//! the same sequence as a [`Program`] ([`program`]) and inline it, so it
//! vectorises, runs on a GPU without double-precision transcendental
//! instructions, and gives the same bits everywhere. Accuracy per function:
//! spec/math.md (measured by circ-ir's tests/math_ulp.rs). Adding a
//! function touches [`Func`], [`call`] and this crate's algorithms only. The
//! front end folds constants with it and `circ-ir` builds on it; it must not
//! know either (it depends on nothing of circ's).

mod program;

pub use program::{Cmp, FBin, FUn, IBin, Op, Program, Val, program, program_draw, program_two};

use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Sub};

/// A math function. All backends call the same implementations
/// (`eval`), so results are bit-identical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub enum Func {
    Exp,
    Log,
    Log10,
    Log2,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Expm1,
    Log1p,
    Sigmoid,
    Erf,
    Abs,
    Floor,
    Ceil,
    Round,
    Sqrt,
    Cbrt,
    Sign,
    Heaviside,
    Atan2,
}

impl Func {
    /// Every function, in declaration order.
    pub const ALL: [Func; 26] = [
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

    /// Its name in the IR's text form (and the language).
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Log10 => "log10",
            Func::Log2 => "log2",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Asin => "asin",
            Func::Acos => "acos",
            Func::Atan => "atan",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Expm1 => "expm1",
            Func::Log1p => "log1p",
            Func::Sigmoid => "sigmoid",
            Func::Erf => "erf",
            Func::Abs => "abs",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Round => "round",
            Func::Sqrt => "sqrt",
            Func::Cbrt => "cbrt",
            Func::Sign => "sign",
            Func::Heaviside => "heaviside",
            Func::Atan2 => "atan2",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        if self == Func::Atan2 { 2 } else { 1 }
    }
}

/// The binary operators defined by algorithms here (the others are single
/// IEEE operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Two {
    /// `x ^ y`, as C99's `pow`.
    Pow,
    /// The smaller (the other when one is NaN, the first when equal).
    Min,
    /// The larger (likewise).
    Max,
}

/// The operations an algorithm is written in: floats, 64-bit integers (the
/// bits of floats) and conditions. [`Direct`] computes them; the recorder
/// behind [`program`] writes them down.
pub trait Ops {
    /// A float (one lane, or one per lane).
    type F: Copy;
    /// A 64-bit integer.
    type I: Copy;
    /// A condition.
    type B: Copy;
    /// A float constant.
    fn fconst(&self, x: f64) -> Self::F;
    /// An integer constant.
    fn iconst(&self, x: i64) -> Self::I;
    /// `a op b`, correctly rounded (`Rem` is exact).
    fn fbin(&self, op: FBin, a: Self::F, b: Self::F) -> Self::F;
    /// `op a` (negation flips the sign bit; floor and sqrt are exact/correctly rounded).
    fn fun(&self, op: FUn, a: Self::F) -> Self::F;
    /// A comparison of floats (false when either is NaN, but `Uno`).
    fn fcmp(&self, op: Cmp, a: Self::F, b: Self::F) -> Self::B;
    /// `a op b` on integers (wrapping).
    fn ibin(&self, op: IBin, a: Self::I, b: Self::I) -> Self::I;
    /// A signed comparison of integers (`Lt`, `Le`, `Eq`).
    fn icmp(&self, op: Cmp, a: Self::I, b: Self::I) -> Self::B;
    /// The bits of a float.
    fn bits(&self, a: Self::F) -> Self::I;
    /// The float with these bits.
    fn float_of(&self, a: Self::I) -> Self::F;
    /// `c ? a : b` on floats.
    fn fsel(&self, c: Self::B, a: Self::F, b: Self::F) -> Self::F;
    /// `c ? a : b` on integers.
    fn isel(&self, c: Self::B, a: Self::I, b: Self::I) -> Self::I;
    /// Both, either, or not.
    fn bbin(&self, and: bool, a: Self::B, b: Self::B) -> Self::B;
    /// Not.
    fn bnot(&self, a: Self::B) -> Self::B;
}

/// The algorithms run directly on `f64`: what the interpreter evaluates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Direct;

impl Ops for Direct {
    type F = f64;
    type I = i64;
    type B = bool;
    fn fconst(&self, x: f64) -> f64 {
        x
    }
    fn iconst(&self, x: i64) -> i64 {
        x
    }
    fn fbin(&self, op: FBin, a: f64, b: f64) -> f64 {
        op.apply(a, b)
    }
    fn fun(&self, op: FUn, a: f64) -> f64 {
        op.apply(a)
    }
    fn fcmp(&self, op: Cmp, a: f64, b: f64) -> bool {
        op.floats(a, b)
    }
    fn ibin(&self, op: IBin, a: i64, b: i64) -> i64 {
        op.apply(a, b)
    }
    fn icmp(&self, op: Cmp, a: i64, b: i64) -> bool {
        op.ints(a, b)
    }
    fn bits(&self, a: f64) -> i64 {
        a.to_bits() as i64
    }
    fn float_of(&self, a: i64) -> f64 {
        f64::from_bits(a as u64)
    }
    fn fsel(&self, c: bool, a: f64, b: f64) -> f64 {
        if c { a } else { b }
    }
    fn isel(&self, c: bool, a: i64, b: i64) -> i64 {
        if c { a } else { b }
    }
    fn bbin(&self, and: bool, a: bool, b: bool) -> bool {
        if and { a && b } else { a || b }
    }
    fn bnot(&self, a: bool) -> bool {
        !a
    }
}

/// Evaluates a math function on `f64`: the one definition every backend follows.
pub fn eval(f: Func, args: &[f64]) -> f64 {
    let x = args.first().copied().unwrap_or(f64::NAN);
    let y = args.get(1).copied().unwrap_or(f64::NAN);
    let o = &Direct;
    call(o, f, &[X { o, v: x }, X { o, v: y }]).v
}

/// Evaluates `a op b` for the operators defined here.
pub fn eval_two(op: Two, a: f64, b: f64) -> f64 {
    let o = &Direct;
    two(o, op, X { o, v: a }, X { o, v: b }).v
}

/// `f(args)` in the operations of `o` (missing arguments are NaN).
pub fn call<'o, O: Ops>(o: &'o O, f: Func, args: &[X<'o, O>]) -> X<'o, O> {
    let nan = X::c(o, f64::NAN);
    let x = args.first().copied().unwrap_or(nan);
    let y = args.get(1).copied().unwrap_or(nan);
    match f {
        Func::Exp => exp(x),
        Func::Expm1 => expm1(x),
        Func::Log => log(x),
        Func::Log2 => log2(x),
        Func::Log10 => log10(x),
        Func::Log1p => log1p(x),
        Func::Sin => sin(x),
        Func::Cos => cos(x),
        Func::Tan => tan(x),
        Func::Asin => asin(x),
        Func::Acos => acos(x),
        Func::Atan => atan(x),
        Func::Atan2 => atan2(x, y),
        Func::Sinh => sinh(x),
        Func::Cosh => cosh(x),
        Func::Tanh => tanh(x),
        Func::Sigmoid => sigmoid(x),
        Func::Erf => erf(x),
        Func::Abs => x.abs(),
        // NaN is returned as it came: targets quiet signalling NaNs differently.
        Func::Floor => sel(x.is_nan(), x, x.floor()),
        Func::Ceil => sel(x.is_nan(), x, -(-x).floor()),
        Func::Round => round(x),
        Func::Sqrt => sel(x.is_nan(), x, x.sqrt()),
        Func::Cbrt => cbrt(x),
        Func::Sign => {
            let (one, zero) = (X::c(o, 1.0), X::c(o, 0.0));
            sel(x.gt(zero), one, sel(x.lt(zero), -one, zero))
        }
        Func::Heaviside => {
            let zero = X::c(o, 0.0);
            sel(x.ge(zero), X::c(o, 1.0), zero)
        }
    }
}

/// `a op b` in the operations of `o`.
pub fn two<'o, O: Ops>(o: &'o O, op: Two, a: X<'o, O>, b: X<'o, O>) -> X<'o, O> {
    let _ = o;
    match op {
        Two::Pow => pow(a, b),
        // The other when one is NaN; `a` when they are equal (±0 included).
        Two::Min => sel(b.lt(a).or(a.is_nan()), b, a),
        Two::Max => sel(b.gt(a).or(a.is_nan()), b, a),
    }
}

// ---- the value types the algorithms are written with ----------------------

/// A float of an algorithm.
pub struct X<'o, O: Ops + ?Sized> {
    o: &'o O,
    /// The value in `O`'s terms.
    pub v: O::F,
}
/// A 64-bit integer of an algorithm.
pub struct N<'o, O: Ops + ?Sized> {
    o: &'o O,
    v: O::I,
}
/// A condition of an algorithm.
pub struct C<'o, O: Ops + ?Sized> {
    o: &'o O,
    v: O::B,
}

macro_rules! copy {
    ($t:ident) => {
        impl<O: Ops + ?Sized> Clone for $t<'_, O> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<O: Ops + ?Sized> Copy for $t<'_, O> {}
    };
}
copy!(X);
copy!(N);
copy!(C);

impl<'o, O: Ops> X<'o, O> {
    /// Wraps a value of `o`.
    pub fn new(o: &'o O, v: O::F) -> Self {
        X { o, v }
    }
    fn c(o: &'o O, x: f64) -> Self {
        X { o, v: o.fconst(x) }
    }
    fn k(self, x: f64) -> Self {
        X::c(self.o, x)
    }
    fn un(self, op: FUn) -> Self {
        X {
            o: self.o,
            v: self.o.fun(op, self.v),
        }
    }
    fn cmp(self, op: Cmp, b: Self) -> C<'o, O> {
        C {
            o: self.o,
            v: self.o.fcmp(op, self.v, b.v),
        }
    }
    fn sqrt(self) -> Self {
        self.un(FUn::Sqrt)
    }
    fn floor(self) -> Self {
        self.un(FUn::Floor)
    }
    fn lt(self, b: Self) -> C<'o, O> {
        self.cmp(Cmp::Lt, b)
    }
    fn le(self, b: Self) -> C<'o, O> {
        self.cmp(Cmp::Le, b)
    }
    fn gt(self, b: Self) -> C<'o, O> {
        b.cmp(Cmp::Lt, self)
    }
    fn ge(self, b: Self) -> C<'o, O> {
        b.cmp(Cmp::Le, self)
    }
    fn eq(self, b: Self) -> C<'o, O> {
        self.cmp(Cmp::Eq, b)
    }
    fn ltc(self, b: f64) -> C<'o, O> {
        self.lt(self.k(b))
    }
    fn gtc(self, b: f64) -> C<'o, O> {
        self.gt(self.k(b))
    }
    fn eqc(self, b: f64) -> C<'o, O> {
        self.eq(self.k(b))
    }
    fn is_nan(self) -> C<'o, O> {
        self.cmp(Cmp::Uno, self)
    }
    fn bits(self) -> N<'o, O> {
        N {
            o: self.o,
            v: self.o.bits(self.v),
        }
    }
    fn abs(self) -> Self {
        (self.bits() & 0x7fff_ffff_ffff_ffff).float()
    }
    /// Whether the sign bit is set (-0 and negative NaNs included).
    fn sign_bit(self) -> C<'o, O> {
        self.bits().lt(0)
    }
    /// `self` with the sign of `s`.
    fn copysign(self, s: Self) -> Self {
        ((self.bits() & 0x7fff_ffff_ffff_ffff) | (s.bits() & i64::MIN)).float()
    }
}

impl<'o, O: Ops> N<'o, O> {
    fn k(self, x: i64) -> Self {
        N {
            o: self.o,
            v: self.o.iconst(x),
        }
    }
    fn op(self, op: IBin, b: Self) -> Self {
        N {
            o: self.o,
            v: self.o.ibin(op, self.v, b.v),
        }
    }
    fn float(self) -> X<'o, O> {
        X {
            o: self.o,
            v: self.o.float_of(self.v),
        }
    }
    fn shl(self, n: i64) -> Self {
        self.op(IBin::Shl, self.k(n))
    }
    fn shr(self, n: i64) -> Self {
        self.op(IBin::Shr, self.k(n))
    }
    fn lt(self, b: i64) -> C<'o, O> {
        C {
            o: self.o,
            v: self.o.icmp(Cmp::Lt, self.v, self.o.iconst(b)),
        }
    }
    fn ge(self, b: i64) -> C<'o, O> {
        self.lt(b).not()
    }
}

impl<'o, O: Ops> C<'o, O> {
    fn and(self, b: Self) -> Self {
        C {
            o: self.o,
            v: self.o.bbin(true, self.v, b.v),
        }
    }
    fn or(self, b: Self) -> Self {
        C {
            o: self.o,
            v: self.o.bbin(false, self.v, b.v),
        }
    }
    fn not(self) -> Self {
        C {
            o: self.o,
            v: self.o.bnot(self.v),
        }
    }
}

impl<O: Ops> Not for C<'_, O> {
    type Output = Self;
    fn not(self) -> Self {
        C::not(self)
    }
}

/// `c ? a : b`.
fn sel<'o, O: Ops>(c: C<'o, O>, a: X<'o, O>, b: X<'o, O>) -> X<'o, O> {
    X {
        o: c.o,
        v: c.o.fsel(c.v, a.v, b.v),
    }
}

/// `c ? a : b` on integers.
fn isel<'o, O: Ops>(c: C<'o, O>, a: N<'o, O>, b: N<'o, O>) -> N<'o, O> {
    N {
        o: c.o,
        v: c.o.isel(c.v, a.v, b.v),
    }
}

macro_rules! float_op {
    ($tr:ident, $f:ident, $op:expr) => {
        impl<'o, O: Ops> $tr for X<'o, O> {
            type Output = Self;
            fn $f(self, b: Self) -> Self {
                X {
                    o: self.o,
                    v: self.o.fbin($op, self.v, b.v),
                }
            }
        }
        impl<'o, O: Ops> $tr<f64> for X<'o, O> {
            type Output = Self;
            fn $f(self, b: f64) -> Self {
                X {
                    o: self.o,
                    v: self.o.fbin($op, self.v, self.o.fconst(b)),
                }
            }
        }
        impl<'o, O: Ops> $tr<X<'o, O>> for f64 {
            type Output = X<'o, O>;
            fn $f(self, b: X<'o, O>) -> X<'o, O> {
                X {
                    o: b.o,
                    v: b.o.fbin($op, b.o.fconst(self), b.v),
                }
            }
        }
    };
}
float_op!(Add, add, FBin::Add);
float_op!(Sub, sub, FBin::Sub);
float_op!(Mul, mul, FBin::Mul);
float_op!(Div, div, FBin::Div);

impl<O: Ops> Neg for X<'_, O> {
    type Output = Self;
    fn neg(self) -> Self {
        self.un(FUn::Neg)
    }
}

macro_rules! int_op {
    ($tr:ident, $f:ident, $op:expr) => {
        impl<'o, O: Ops> $tr for N<'o, O> {
            type Output = Self;
            fn $f(self, b: Self) -> Self {
                self.op($op, b)
            }
        }
        impl<'o, O: Ops> $tr<i64> for N<'o, O> {
            type Output = Self;
            fn $f(self, b: i64) -> Self {
                self.op($op, self.k(b))
            }
        }
    };
}
int_op!(Add, add, IBin::Add);
int_op!(Sub, sub, IBin::Sub);
int_op!(BitAnd, bitand, IBin::And);
int_op!(BitOr, bitor, IBin::Or);
int_op!(Mul, mul, IBin::Mul);
int_op!(BitXor, bitxor, IBin::Xor);

// ---- random draws ------------------------------------------------------------

/// A distribution of random draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Draw {
    /// Uniform in [0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

const PHILOX_M0: i64 = 0xD251_1F53;
const PHILOX_M1: i64 = 0xCD9E_8D57;
const PHILOX_W0: i64 = 0x9E37_79B9;
const PHILOX_W1: i64 = 0xBB67_AE85;
const LOW32: i64 = 0xffff_ffff;

/// Philox 4x32-10 (Salmon et al. 2011) on 32-bit words held in 64-bit
/// integers: the runtime's `philox::philox4x32_10`, in the operations of `o`.
fn philox<'o, O: Ops>(ctr: [N<'o, O>; 4], key: [N<'o, O>; 2]) -> [N<'o, O>; 4] {
    let (mut c, mut k) = (ctr, key);
    for round in 0..10 {
        if round > 0 {
            k = [(k[0] + PHILOX_W0) & LOW32, (k[1] + PHILOX_W1) & LOW32];
        }
        // 32 x 32 -> 64 bits: exact in the 64-bit product.
        let p0 = c[0] * PHILOX_M0;
        let p1 = c[2] * PHILOX_M1;
        c = [
            p1.shr(32) ^ c[1] ^ k[0],
            p1 & LOW32,
            p0.shr(32) ^ c[3] ^ k[1],
            p0 & LOW32,
        ];
    }
    c
}

/// `((hi << 32 | lo) >> 11) * 2^-53`: the top 53 bits as a double in
/// [0, 1), exactly. An integer n < 2^52 is the double with bits
/// `0x4330... | n`, minus 2^52; the 53 bits go as 27 high and 26 low ones,
/// whose sum is exact.
fn unit<'o, O: Ops>(hi: N<'o, O>, lo: N<'o, O>) -> X<'o, O> {
    let m = (hi.shl(32) | lo).shr(11);
    let small = |n: N<'o, O>| (n | 0x4330_0000_0000_0000).float() - 4_503_599_627_370_496.0;
    let high = small(m.shr(26)) * 67_108_864.0;
    let low = small(m & 0x3ff_ffff);
    (high + low) * (1.0 / 9_007_199_254_740_992.0)
}

/// A draw keyed by (seed, stream, element, step), given as floats whose
/// bits are those integers: Philox 4x32-10 of the counter (stream,
/// element, step) under the key seed, then the uniform of its first two
/// words, or Box–Muller's normal of all four (`sqrt(-2 log u1) cos(2 pi
/// u2)`, u1 of 53 bits and u2 of 52, with a log and cosine for just these
/// arguments: [`draw_log`], [`draw_cos`]).
pub fn draw<'o, O: Ops>(o: &'o O, d: Draw, args: [X<'o, O>; 4]) -> X<'o, O> {
    let [seed, stream, element, step] = args.map(X::bits);
    let _ = o;
    let w = philox(
        [stream & LOW32, element & LOW32, step & LOW32, step.shr(32)],
        [seed & LOW32, seed.shr(32)],
    );
    match d {
        Draw::Uniform => unit(w[0], w[1]),
        Draw::Normal => {
            // In (0, 1]: the log is finite.
            let u1 = 1.0 - unit(w[0], w[1]);
            (-2.0 * draw_log(u1)).sqrt() * draw_cos(w[2], w[3])
        }
    }
}

/// ln u for u in [2^-53, 1] (normal, finite, positive: no special cases):
/// fdlibm's `e_log.c` (u = 2^k (1 + f), s = f / (2 + f), its degree-14
/// minimax R(s), error under 1 ulp), cheaper than [`log`]'s series.
fn draw_log<'o, O: Ops>(u: X<'o, O>) -> X<'o, O> {
    const LG: [f64; 7] = [
        6.666_666_666_666_735e-1,
        3.999_999_999_940_942e-1,
        2.857_142_874_366_239e-1,
        2.222_219_843_214_978_4e-1,
        1.818_357_216_161_805e-1,
        1.531_383_769_920_937_3e-1,
        1.479_819_860_511_658_6e-1,
    ];
    let b = u.bits();
    let mant = b & 0x000f_ffff_ffff_ffff;
    // Mantissas from sqrt(2)'s up go to [sqrt(2)/2, 1), one more in k.
    let high = mant.ge(0x0006_a09e_667f_3bcd);
    let m = isel(high, mant | (1022 << 52), mant | (1023 << 52)).float();
    let k = b.shr(52) - 1023 + isel(high, b.k(1), b.k(0));
    let k = (k + MAGIC.to_bits() as i64).float() - MAGIC;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + (t2 + t1)) + k * LN2_LO)) - f)
}

/// cos(2 pi u2) for u2 the top 52 bits of `hi:lo` times 2^-52, as
/// sin(2 pi a) with a = |u2 - 1/2| - 1/4 in [-1/4, 1/4] (exact: no
/// reduction), by sin's Taylor series in 2 pi a to degree 21 (its next
/// term is under 1.3e-18).
fn draw_cos<'o, O: Ops>(hi: N<'o, O>, lo: N<'o, O>) -> X<'o, O> {
    // 1 + u2 in [1, 2): the 52 bits as a mantissa.
    let one_u = ((hi.shl(32) | lo).shr(12) | 0x3ff0_0000_0000_0000).float();
    let a = (one_u - 1.5).abs() - 0.25;
    let x = a * std::f64::consts::TAU;
    let z = x * x;
    x + x * (z * horner(z, &sin_series(10)))
}

/// A draw on `f64`: what the interpreter evaluates, and the one definition
/// every backend's code follows.
pub fn eval_draw(d: Draw, seed: u64, stream: u32, element: u32, step: u64) -> f64 {
    let o = &Direct;
    let x = |v: u64| X::new(o, f64::from_bits(v));
    draw(
        o,
        d,
        [
            x(seed),
            x(u64::from(stream)),
            x(u64::from(element)),
            x(step),
        ],
    )
    .v
}

/// `c0 + x (c1 + x (c2 + ...))`: Horner's scheme, the last coefficient first in `cs`.
fn horner<'o, O: Ops>(x: X<'o, O>, cs: &[f64]) -> X<'o, O> {
    let mut acc = x.k(cs[cs.len() - 1]);
    for &c in cs[..cs.len() - 1].iter().rev() {
        acc = acc * x + c;
    }
    acc
}

/// (s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth's two-sum).
fn two_sum<'o, O: Ops>(a: X<'o, O>, b: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// (p, e) with p = fl(a b) and a b = p + e exactly (Dekker's product, no FMA).
fn two_prod<'o, O: Ops>(a: X<'o, O>, b: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let split = |x: X<'o, O>| {
        let c = x * 134_217_729.0;
        let hi = c - (c - x);
        (hi, x - hi)
    };
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

// ---- exponentials ----------------------------------------------------------

/// The constants of [`exp`].
pub mod exp_consts {
    /// log2(e).
    pub const LOG2E: f64 = std::f64::consts::LOG2_E;
    /// ln 2 in two parts (Cody and Waite): `k * LN2_HI` is exact.
    pub const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    /// The rest of ln 2.
    pub const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    /// 1.5 * 2^52: `(y + MAGIC) - MAGIC` rounds y to an integer (ties to
    /// even), and the bits of `k + MAGIC` hold k in their low bits.
    pub const MAGIC: f64 = 6_755_399_441_055_744.0;
    /// Inputs are clamped to [LOW, HIGH]: beyond, e^x is 0 or infinite.
    pub const LOW: f64 = -746.0;
    /// See `LOW`.
    pub const HIGH: f64 = 710.0;
    /// 1/n! for n = 13 down to 2, Horner's order: e^r = 1 + (r + r^2 q(r))
    /// for |r| <= ln2/2, the last two additions rounding little.
    pub const POLY: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
}
use exp_consts::{HIGH, LN2_HI, LN2_LO, LOG2E, LOW, MAGIC, POLY};

/// Rounds an integer-valued-enough float to the nearest integer (ties to even), |x| < 2^51.
fn rint<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    (x + MAGIC) - MAGIC
}

/// 2^k for an integer-valued `k` in the normal range, from its bits.
fn pow2<'o, O: Ops>(k: X<'o, O>) -> X<'o, O> {
    (((k + MAGIC).bits() - MAGIC.to_bits() as i64 + 1023).shl(52)).float()
}

/// `p * 2^k` in two factors, so that a subnormal result rounds once.
fn scale<'o, O: Ops>(p: X<'o, O>, k: X<'o, O>) -> X<'o, O> {
    let k1 = rint(k * 0.5);
    let k2 = k - k1;
    (p * pow2(k1)) * pow2(k2)
}

/// q(r) with e^r = 1 + r + r^2 q(r) (the Taylor polynomial to degree 13).
fn exp_q<'o, O: Ops>(r: X<'o, O>) -> X<'o, O> {
    let mut q = r.k(POLY[0]);
    for &c in &POLY[1..] {
        q = q * r + c;
    }
    q
}

/// e^x: x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial to
/// degree 13 (as 1 + (r + r^2 q(r))), times 2^k in two factors.
fn exp<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let xc = sel(x.gtc(HIGH), x.k(HIGH), x);
    let xc = sel(x.ltc(LOW), x.k(LOW), xc);
    let k = rint(xc * LOG2E);
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let q = exp_q(r);
    let p = 1.0 + (r + (r * r) * q);
    sel(x.is_nan(), x, scale(p, k))
}

/// e^x - 1: for |x| <= ln2/2 the polynomial alone (r = x exactly);
/// beyond, (2^k - 1) + 2^k p, both exact but for one rounding; past k =
/// 1000, e^x itself.
fn expm1<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let xc = sel(x.gtc(HIGH), x.k(HIGH), x);
    let xc = sel(x.ltc(-60.0), x.k(-60.0), xc);
    let k = rint(xc * LOG2E);
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let p = r + (r * r) * exp_q(r);
    let kk = sel(k.gtc(1000.0), x.k(1000.0), k);
    let t = pow2(kk);
    let mid = (t - 1.0) + t * p;
    let big = scale(1.0 + p, k);
    let v = sel(k.eqc(0.0), p, sel(k.gtc(1000.0), big, mid));
    // x itself for ±0 (keeps the sign) and NaN.
    sel(x.is_nan().or(x.eqc(0.0)), x, v)
}

// ---- logarithms ------------------------------------------------------------

/// x > 0 (normal or subnormal) as 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)):
/// (k as a float, f exactly).
fn log_reduce<'o, O: Ops>(x: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let sub = x.ltc(f64::MIN_POSITIVE);
    let xs = sel(sub, x * 18_014_398_509_481_984.0, x); // 2^54
    let b = xs.bits();
    let adj = isel(sub, b.k(54), b.k(0));
    let e = b.shr(52) - 1023 - adj;
    let mant = b & 0x000f_ffff_ffff_ffff;
    // Mantissas from sqrt(2)'s up go to [sqrt(2)/2, 1), one more in k.
    let high = mant.ge(0x0006_a09e_667f_3bcd);
    let m = isel(high, mant | (1022 << 52), mant | (1023 << 52)).float();
    let k = e + isel(high, b.k(1), b.k(0));
    let kf = (k + MAGIC.to_bits() as i64).float() - MAGIC;
    (kf, m - 1.0)
}

/// For 1 + f as above: (hfsq, s (hfsq + R)) with log(1 + f) = f - (hfsq -
/// s (hfsq + R)), s = f / (2 + f), R = sum over n >= 1 of 2 s^(2n) / (2n + 1)
/// (the series of 2 atanh(s), to n = 12: |s| < 0.1716).
fn log_parts<'o, O: Ops>(f: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let s = f / (2.0 + f);
    let z = s * s;
    let coeffs: Vec<f64> = (1..=12).map(|n| 2.0 / f64::from(2 * n + 1)).collect();
    let r = z * horner(z, &coeffs);
    let hfsq = 0.5 * f * f;
    (hfsq, s * (hfsq + r))
}

/// NaN for x < 0, -inf at ±0, x itself for +inf and NaN.
fn log_special<'o, O: Ops>(x: X<'o, O>, v: X<'o, O>) -> X<'o, O> {
    let zero = x.k(0.0);
    let v = sel(x.ltc(0.0), x.k(f64::NAN), v);
    let v = sel(x.eq(zero), x.k(f64::NEG_INFINITY), v);
    sel(x.gtc(f64::MAX).or(x.is_nan()), x, v)
}

/// ln x = k ln2 + log(1 + f), k ln2 in two parts.
fn log<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (k, f) = log_reduce(x);
    let (hfsq, t) = log_parts(f);
    let v = k * LN2_HI - ((hfsq - (t + k * LN2_LO)) - f);
    log_special(x, v)
}

/// log(1 + f) as hi + lo, hi with its low 32 bits cleared (so products
/// with a 21-bit constant are exact).
fn log_hi_lo<'o, O: Ops>(f: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let (hfsq, t) = log_parts(f);
    let hi = ((f - hfsq).bits() & !0xffff_ffff).float();
    let lo = ((f - hi) - hfsq) + t;
    (hi, lo)
}

const IVLN2_HI: f64 = f64::from_bits(0x3ff7_1547_0000_0000);
const IVLN2_LO: f64 = f64::from_bits(0x3e99_4ae0_bf85_ddf4);
const IVLN10_HI: f64 = f64::from_bits(0x3fdb_cb7b_0000_0000);
const IVLN10_LO: f64 = f64::from_bits(0x3e55_26e5_0e32_a6ab);
const LOG10_2_HI: f64 = f64::from_bits(0x3fd3_4413_0000_0000);
const LOG10_2_LO: f64 = f64::from_bits(0x3e74_27de_7fbc_c47c);

/// log2 x = k + log(1 + f) / ln2, the product in pieces (exact for powers of 2).
fn log2<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (k, f) = log_reduce(x);
    let (hi, lo) = log_hi_lo(f);
    let vhi = hi * IVLN2_HI;
    let vlo = (lo + hi) * IVLN2_LO + lo * IVLN2_HI;
    let w = k + vhi;
    let vlo = vlo + ((k - w) + vhi);
    log_special(x, vlo + w)
}

/// log10 x = k log10(2) + log(1 + f) / ln10, in pieces.
fn log10<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (k, f) = log_reduce(x);
    let (hi, lo) = log_hi_lo(f);
    let vhi = hi * IVLN10_HI;
    let y2 = k * LOG10_2_HI;
    let vlo = k * LOG10_2_LO + (lo + hi) * IVLN10_LO + lo * IVLN10_HI;
    let w = y2 + vhi;
    let vlo = vlo + ((y2 - w) + vhi);
    log_special(x, vlo + w)
}

/// log(1 + x): small |x| directly (f = x); else u = 1 + x reduced, with the
/// rounding of u given back as c / u.
fn log1p<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let small = x.abs().ltc(0.414_213_562_373_095_1);
    let u = 1.0 + x;
    let (ku, fu) = log_reduce(u);
    let c = sel(ku.gtc(0.0), 1.0 - (u - x), x - (u - 1.0)) / u;
    let c = sel(ku.gtc(53.0), x.k(0.0), c);
    let zero = x.k(0.0);
    let k = sel(small, zero, ku);
    let f = sel(small, x, fu);
    let c = sel(small, zero, c);
    let (hfsq, t) = log_parts(f);
    let v = k * LN2_HI - ((hfsq - (t + (k * LN2_LO + c))) - f);
    let v = sel(x.ltc(-1.0), x.k(f64::NAN), v);
    let v = sel(x.eqc(-1.0), x.k(f64::NEG_INFINITY), v);
    // x itself for ±0 (keeps the sign), +inf and NaN.
    sel(x.gtc(f64::MAX).or(x.is_nan()).or(x.eq(zero)), x, v)
}

// ---- trigonometry ----------------------------------------------------------

/// pi/2 in six parts: five of 21 bits (so n * part is exact for |n| <
/// 2^32) and the rest.
const PIO2: [f64; 6] = [
    f64::from_bits(0x3ff9_21fb_0000_0000),
    f64::from_bits(0x3e95_110b_0000_0000),
    f64::from_bits(0x3d31_8469_0000_0000),
    f64::from_bits(0x3be1_3198_0000_0000),
    f64::from_bits(0x3a94_5c06_0000_0000),
    f64::from_bits(0x394c_1cd1_2902_4e09),
];
const PIO2_HI: f64 = f64::from_bits(0x3ff9_21fb_5444_2d18);
const PIO2_LO: f64 = f64::from_bits(0x3c91_a626_3314_5c07);
const PI_HI: f64 = f64::from_bits(0x4009_21fb_5444_2d18);
const PI_LO: f64 = f64::from_bits(0x3ca1_a626_3314_5c07);
const TWO_OVER_PI: f64 = f64::from_bits(0x3fe4_5f30_6dc9_c883);
/// Beyond this |x| the reduction is not exact: sin, cos and tan are NaN.
pub const TRIG_LIMIT: f64 = 3_373_259_426.0; // 2^31 pi / 2

/// x = n pi/2 + (y0 + y1), |y0 + y1| <= pi/4 (about): (n mod 4, y0, y1),
/// exactly enough for |n| < 2^32.
fn trig_reduce<'o, O: Ops>(x: X<'o, O>) -> (X<'o, O>, X<'o, O>, X<'o, O>) {
    let n = rint(x * TWO_OVER_PI);
    let hi = x - n * PIO2[0];
    let (hi, e1) = two_sum(hi, -(n * PIO2[1]));
    let (hi, e2) = two_sum(hi, -(n * PIO2[2]));
    let (hi, e3) = two_sum(hi, -(n * PIO2[3]));
    let (hi, e4) = two_sum(hi, -(n * PIO2[4]));
    let lo = ((e1 + e2) + (e3 + e4)) - n * PIO2[5];
    let y0 = hi + lo;
    let y1 = (hi - y0) + lo;
    let q = n - 4.0 * (n * 0.25).floor();
    (q, y0, y1)
}

/// The coefficients of sin y = y + y z (c1 + z (c2 + ...)), z = y^2, for
/// n = 1 to `terms`: (-1)^n / (2n + 1)!.
fn sin_series(terms: i32) -> Vec<f64> {
    (1..=terms)
        .map(|n| {
            let fact: f64 = (1..=2 * n + 1).map(f64::from).product();
            if n % 2 == 1 { -1.0 / fact } else { 1.0 / fact }
        })
        .collect()
}

/// sin(y0 + y1) for |y0| <= pi/4: the Taylor series to y^19, and y1's first-order part.
fn sin_kernel<'o, O: Ops>(y: X<'o, O>, y1: X<'o, O>) -> X<'o, O> {
    let z = y * y;
    let p = z * horner(z, &sin_series(9));
    // sin(y + y1) ~ sin y + y1 cos y, cos y ~ 1 - z/2.
    y + ((y * p) + (y1 - y1 * (0.5 * z)))
}

/// cos(y0 + y1) for |y0| <= pi/4: 1 - z/2 with its rounding kept, plus the
/// Taylor series from z^2 to z^10, minus y0 y1.
fn cos_kernel<'o, O: Ops>(y: X<'o, O>, y1: X<'o, O>) -> X<'o, O> {
    let z = y * y;
    let cs: Vec<f64> = (2..=10)
        .map(|n| {
            let fact: f64 = (1..=2 * n).map(f64::from).product();
            if n % 2 == 1 { -1.0 / fact } else { 1.0 / fact }
        })
        .collect();
    let r = (z * z) * horner(z, &cs);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (r - y * y1))
}

/// NaN past the exact reduction's range, for ±inf and NaN (x itself).
fn trig_special<'o, O: Ops>(x: X<'o, O>, v: X<'o, O>) -> X<'o, O> {
    let v = sel(x.abs().gtc(TRIG_LIMIT), x.k(f64::NAN), v);
    sel(x.is_nan(), x, v)
}

fn sin<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (q, y0, y1) = trig_reduce(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let v = sel(q.eqc(0.0), s, sel(q.eqc(1.0), c, sel(q.eqc(2.0), -s, -c)));
    // ±0 keeps its sign.
    let v = sel(x.eqc(0.0), x, v);
    trig_special(x, v)
}

fn cos<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (q, y0, y1) = trig_reduce(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let v = sel(q.eqc(0.0), c, sel(q.eqc(1.0), -s, sel(q.eqc(2.0), -c, s)));
    trig_special(x, v)
}

fn tan<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let (q, y0, y1) = trig_reduce(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let odd = q.eqc(1.0).or(q.eqc(3.0));
    let v = sel(odd, -c / s, s / c);
    let v = sel(x.eqc(0.0), x, v);
    trig_special(x, v)
}

/// atan(u) for |u| <= 0.4375: u + u z P(z), the Taylor series to u^57.
fn atan_series<'o, O: Ops>(u: X<'o, O>) -> X<'o, O> {
    let z = u * u;
    let cs: Vec<f64> = (1..=28)
        .map(|n| {
            let v = 1.0 / f64::from(2 * n + 1);
            if n % 2 == 1 { -v } else { v }
        })
        .collect();
    u + u * (z * horner(z, &cs))
}

const ATAN_HALF: (f64, f64) = (
    f64::from_bits(0x3fdd_ac67_0561_bb4f),
    f64::from_bits(0x3c7a_2b7f_222f_65e2),
);
const ATAN_ONE: (f64, f64) = (
    f64::from_bits(0x3fe9_21fb_5444_2d18),
    f64::from_bits(0x3c81_a626_3314_5c07),
);
const ATAN_3HALF: (f64, f64) = (
    f64::from_bits(0x3fef_730b_d281_f69b),
    f64::from_bits(0x3c70_0788_7af0_cbbd),
);

/// atan x = atan c + atan((t - c) / (1 + t c)) for t = |x| near c in {0,
/// 1/2, 1, 3/2, inf}; the reduced argument stays under 0.4375.
fn atan<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let t = x.abs();
    let (i0, i1, i2, i3) = (t.ltc(0.4375), t.ltc(0.6875), t.ltc(1.1875), t.ltc(2.4375));
    let u = sel(
        i0,
        t,
        sel(
            i1,
            (2.0 * t - 1.0) / (2.0 + t),
            sel(
                i2,
                (t - 1.0) / (t + 1.0),
                sel(i3, (t - 1.5) / (1.0 + 1.5 * t), -1.0 / t),
            ),
        ),
    );
    let pick = |a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)| {
        let hi = sel(i1, x.k(a.0), sel(i2, x.k(b.0), sel(i3, x.k(c.0), x.k(d.0))));
        let lo = sel(i1, x.k(a.1), sel(i2, x.k(b.1), sel(i3, x.k(c.1), x.k(d.1))));
        (hi, lo)
    };
    let (hi, lo) = pick(ATAN_HALF, ATAN_ONE, ATAN_3HALF, (PIO2_HI, PIO2_LO));
    let a = atan_series(u);
    let v = sel(i0, a, hi + (a + lo));
    let v = sel(t.gtc(f64::MAX), x.k(PIO2_HI), v);
    let v = v.copysign(x);
    sel(x.is_nan(), x, v)
}

/// atan2(y, x): atan(|y| / |x|), then the quadrant from the signs (the
/// sign bit of x, so -0 counts as negative); both zero or both infinite
/// as C99 says.
fn atan2<'o, O: Ops>(y: X<'o, O>, x: X<'o, O>) -> X<'o, O> {
    let (ay, ax) = (y.abs(), x.abs());
    let a = atan(ay / ax);
    let neg_x = x.sign_bit();
    let v = sel(neg_x, PI_HI - (a - PI_LO), a);
    let zero = x.k(0.0);
    let both_zero = ay.eq(zero).and(ax.eq(zero));
    let inf = f64::INFINITY;
    let both_inf = ay.eqc(inf).and(ax.eqc(inf));
    let v = sel(both_zero, sel(neg_x, x.k(PI_HI), zero), v);
    let v = sel(
        both_inf,
        sel(neg_x, x.k(3.0 * PIO2_HI / 2.0), x.k(PIO2_HI / 2.0)),
        v,
    );
    let v = v.copysign(y);
    sel(y.is_nan(), y, sel(x.is_nan(), x, v))
}

/// asin(s) - s for |s| <= 1/2, as s z Q(z) with z = s^2 given exactly:
/// the Taylor series of asin to s^59.
fn asin_tail<'o, O: Ops>(s: X<'o, O>, z: X<'o, O>) -> X<'o, O> {
    // Coefficient of s^(2n+1): (2n)! / (4^n (n!)^2 (2n + 1)).
    let mut cs = vec![];
    let mut c = 1.0f64;
    for n in 1..=29 {
        c *= f64::from(2 * n - 1) / f64::from(2 * n);
        cs.push(c / f64::from(2 * n + 1));
    }
    s * (z * horner(z, &cs))
}

/// sqrt(z) as df + c exactly enough: df with its low 32 bits cleared, c =
/// (z - df^2) / (s + df).
fn sqrt_hi_lo<'o, O: Ops>(z: X<'o, O>) -> (X<'o, O>, X<'o, O>, X<'o, O>) {
    let s = z.sqrt();
    let df = (s.bits() & !0xffff_ffff).float();
    let c = (z - df * df) / (s + df);
    // z = 0 (|x| = 1): no correction (0 / 0 otherwise).
    (s, df, sel(z.eqc(0.0), z, c))
}

fn asin<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let t = x.abs();
    let small = t.le(x.k(0.5));
    let direct = x + asin_tail(x, x * x);
    // asin t = pi/2 - 2 asin(sqrt((1 - t) / 2)).
    let z = (1.0 - t) * 0.5;
    let (s, df, c) = sqrt_hi_lo(z);
    let r = asin_tail(s, z);
    let far = PIO2_HI - (2.0 * df - (PIO2_LO - 2.0 * (c + r)));
    let v = sel(small, direct, far.copysign(x));
    let v = sel(t.gtc(1.0), x.k(f64::NAN), v);
    sel(x.is_nan(), x, v)
}

fn acos<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let t = x.abs();
    let small = t.le(x.k(0.5));
    let mid = PIO2_HI - ((x + asin_tail(x, x * x)) - PIO2_LO);
    // acos x = 2 asin(sqrt((1 - x) / 2)) for x > 1/2, pi - that of -x below -1/2.
    let z = (1.0 - t) * 0.5;
    let (s, df, c) = sqrt_hi_lo(z);
    let r = asin_tail(s, z);
    let pos = 2.0 * (df + (c + r));
    let neg = PI_HI - (2.0 * (df + (c + r)) - PI_LO);
    let v = sel(small, mid, sel(x.gtc(0.0), pos, neg));
    let v = sel(t.gtc(1.0), x.k(f64::NAN), v);
    sel(x.is_nan(), x, v)
}

// ---- hyperbolic functions --------------------------------------------------

/// sinh: t = expm1(|x|); (2t - t^2 / (t + 1)) / 2 below 1, (t + t / (t +
/// 1)) / 2 to 22, e^|x| / 2 beyond (as (e^(|x|/2) / 2) e^(|x|/2) near overflow).
fn sinh<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let t = expm1(a);
    let below1 = 0.5 * (2.0 * t - t * t / (t + 1.0));
    let below22 = 0.5 * (t + t / (t + 1.0));
    // e^|x| / 2: from exp itself while it is finite, else in two factors.
    let w = exp(0.5 * a);
    let big = sel(a.ltc(709.0), 0.5 * exp(a), (0.5 * w) * w);
    let v = sel(a.ltc(1.0), below1, sel(a.ltc(22.0), below22, big));
    let v = v.copysign(x);
    sel(x.is_nan().or(x.eqc(0.0)), x, v)
}

/// cosh: 1 + t^2 / (2 (1 + t)) with t = expm1(|x|) below ln2/2, (e + 1/e) / 2
/// to 22, e^|x| / 2 beyond (in two factors).
fn cosh<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let t = expm1(a);
    let w1 = 1.0 + t;
    let small = 1.0 + (t * t) / (w1 + w1);
    let e = exp(a);
    let mid = 0.5 * e + 0.5 / e;
    let w = exp(0.5 * a);
    let big = sel(a.ltc(709.0), 0.5 * e, (0.5 * w) * w);
    let v = sel(
        a.ltc(0.346_573_590_279_972_65),
        small,
        sel(a.ltc(22.0), mid, big),
    );
    sel(x.is_nan(), x, v)
}

/// tanh: 1 - 2 / (expm1(2|x|) + 2) from 1, -t / (t + 2) with t =
/// expm1(-2|x|) below; 1 from 22.
fn tanh<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let t1 = expm1(2.0 * a);
    let big = 1.0 - 2.0 / (t1 + 2.0);
    let t2 = expm1(-2.0 * a);
    let small = -t2 / (t2 + 2.0);
    let v = sel(a.ltc(1.0), small, sel(a.ltc(22.0), big, x.k(1.0)));
    let v = v.copysign(x);
    sel(x.is_nan().or(x.eqc(0.0)), x, v)
}

/// 1 / (1 + e^-x).
fn sigmoid<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    1.0 / (1.0 + exp(-x))
}

// ---- the rest --------------------------------------------------------------

const TWO_OVER_SQRT_PI_M1: f64 = f64::from_bits(0x3fc0_6eba_8214_db69);
const TWO_OVER_SQRT_PI: f64 = f64::from_bits(0x3ff2_0dd7_5042_9b6d);
const INV_SQRT_PI: f64 = 0.564_189_583_547_756_3;

/// erf: x + x (2/sqrt(pi) - 1 + sum of the Maclaurin terms) below 1.25 (the
/// main term exact); 1 - e^(-x^2) / sqrt(pi) / F(x) from there, F the
/// continued fraction of erfc (a fixed number of levels); ±1 from 6.
fn erf<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let z = x * x;
    // Coefficients of z^n, n >= 1: (2/sqrt(pi)) (-1)^n / (n! (2n + 1)).
    let mut cs = vec![TWO_OVER_SQRT_PI_M1];
    let mut fact = 1.0f64;
    for n in 1..=40 {
        fact *= f64::from(n);
        let c = TWO_OVER_SQRT_PI / (fact * f64::from(2 * n + 1));
        cs.push(if n % 2 == 1 { -c } else { c });
    }
    let series = x + x * horner(z, &cs);
    let mut f = x.k(0.0);
    for k in (1..=ERF_LEVELS).rev() {
        f = (f64::from(k) * 0.5) / (a + f);
    }
    let tail = 1.0 - exp(-(a * a)) * INV_SQRT_PI / (a + f);
    let v = sel(
        a.ltc(1.25),
        series,
        sel(a.ltc(6.0), tail.copysign(x), x.k(1.0).copysign(x)),
    );
    sel(x.is_nan(), x, v)
}

/// Levels of erf's continued fraction (converged to the last bit from 1.25 on: tests/math_ulp.rs).
const ERF_LEVELS: u32 = 120;

/// Rounds half away from zero (as Rust's `round`).
fn round<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let t = a.floor();
    let r = sel((a - t).ge(x.k(0.5)), t + 1.0, t);
    // Integers past 2^52 are their own rounding (and a - t is exact below).
    let r = sel(a.ge(x.k(4_503_599_627_370_496.0)), a, r);
    sel(x.is_nan(), x, r.copysign(x))
}

/// cbrt: an estimate from the exponent's bits divided by 3, four Newton
/// steps, and a last step that rounds well: t + t (x/t^2 - t) / (2t + x/t^2).
fn cbrt<'o, O: Ops>(x: X<'o, O>) -> X<'o, O> {
    let a = x.abs();
    let sub = a.ltc(f64::MIN_POSITIVE);
    // Scaled into a range where t^3 neither underflows nor overflows.
    let big = a.gtc(1e300);
    let s = sel(sub, a * 54f64.exp2(), sel(big, a * (-999f64).exp2(), a));
    let hi = s.bits().shr(32);
    // hi / 3 exactly, in floats (hi < 2^31).
    let hf = (hi + MAGIC.to_bits() as i64).float() - MAGIC;
    let q = (hf / 3.0).floor();
    let qi = (q + MAGIC).bits() - MAGIC.to_bits() as i64;
    let mut t = ((qi + 715_128_832).shl(32)).float(); // 2/3 of 1023 << 20
    for _ in 0..4 {
        t = t - (t * t * t - s) / (3.0 * t * t);
    }
    let r = s / (t * t);
    let t = t + t * ((r - t) / (2.0 * t + r));
    let t = sel(sub, t * (-18f64).exp2(), sel(big, t * 333f64.exp2(), t));
    let v = t.copysign(x);
    sel(x.is_nan().or(x.eqc(0.0)).or(a.gtc(f64::MAX)), x, v)
}

/// log2 x for finite x > 0 as hi + lo, to about 2^-63: x = 2^k m, m in
/// [1, 2), then m against b = 1 or 3/2 (or m/2 against 1) so that s = (m -
/// b) / (m + b) stays under 0.102; log(m / b) = 2 atanh(s) = 2s + s z Q(z)
/// with s carried in two parts.
fn log2_hi_lo<'o, O: Ops>(x: X<'o, O>) -> (X<'o, O>, X<'o, O>) {
    let sub = x.ltc(f64::MIN_POSITIVE);
    let xs = sel(sub, x * 54f64.exp2(), x);
    let b = xs.bits();
    let adj = isel(sub, b.k(54), b.k(0));
    let e = b.shr(52) - 1023 - adj;
    let m = ((b & 0x000f_ffff_ffff_ffff) | (1023 << 52)).float(); // [1, 2)
    let (lo_b, hi_b) = (m.ltc(1.224_744_871_391_589), m.ltc(1.732_050_807_568_877_2));
    let top = hi_b.not();
    let m = sel(top, m * 0.5, m);
    let e = e + isel(top, b.k(1), b.k(0));
    let k = (e + MAGIC.to_bits() as i64).float() - MAGIC;
    let three_halves = lo_b.not().and(hi_b);
    let bp = sel(three_halves, x.k(1.5), x.k(1.0));
    let (lb_hi, lb_lo) = (
        sel(three_halves, x.k(LOG2_3HALF.0), x.k(0.0)),
        sel(three_halves, x.k(LOG2_3HALF.1), x.k(0.0)),
    );
    // s = u / v in two parts (u exact; v = m + b in two).
    let u = m - bp;
    let (v, ve) = two_sum(m, bp);
    let s = u / v;
    let (p, pe) = two_prod(s, v);
    let s_lo = (((u - p) - pe) - s * ve) / v;
    let z = s * s;
    let cs: Vec<f64> = (1..=10).map(|n| 2.0 / f64::from(2 * n + 1)).collect();
    let t = s * (z * horner(z, &cs));
    // log(m / b) = a + bb, a = 2s exactly.
    let a = 2.0 * s;
    let bb = 2.0 * s_lo + t;
    let (a1, a1e) = two_prod(a, x.k(IVLN2.0));
    let rest = a1e + (a * IVLN2.1 + bb * IVLN2.0);
    let (c, ce) = two_sum(k, lb_hi);
    let (hi, e2) = two_sum(c, a1);
    let lo = ((ce + e2) + lb_lo) + rest;
    two_sum(hi, lo)
}

const LOG2_3HALF: (f64, f64) = (
    f64::from_bits(0x3fe2_b803_473f_7ad1),
    f64::from_bits(0xbc58_17fd_3b7d_7e5d),
);
const IVLN2: (f64, f64) = (
    f64::from_bits(0x3ff7_1547_652b_82fe),
    f64::from_bits(0x3c77_77d0_ffda_0d24),
);
const LN2: (f64, f64) = (
    f64::from_bits(0x3fe6_2e42_fefa_39ef),
    f64::from_bits(0x3c7a_bc9e_3b39_803f),
);

/// x^y = 2^(y log2 x) with log2 x in two parts and the product exact, 2^z
/// as 2^n e^(r ln2) with r ln2 in two parts; exact for y = 0, 1 and 2 and
/// x = 1; signs, zeros and infinities as C99's pow.
fn pow<'o, O: Ops>(x: X<'o, O>, y: X<'o, O>) -> X<'o, O> {
    let zero = x.k(0.0);
    let one = x.k(1.0);
    let inf = x.k(f64::INFINITY);
    let ax = x.abs();
    let ay = y.abs();
    let (lhi, llo) = log2_hi_lo(ax);
    // z = y log2|x| as zhi + zlo; past |z| = 1100 the result is 0 or inf.
    let (p, pe) = two_prod(y, lhi);
    let (zhi, zlo) = two_sum(p, pe + y * llo);
    let (over, under) = (p.gtc(1100.0), p.ltc(-1100.0));
    let zc = sel(over.or(under), zero, zhi);
    let n = rint(zc);
    let r = zc - n;
    let (t, te) = two_prod(r, x.k(LN2.0));
    let te = te + (r * LN2.1 + zlo * LN2.0);
    // e^(t + te) = 1 + t + te + e1 + te (e^t - 1), e1 = t^2 q(t): te
    // reaches 2^-44 where |z| nears 1100, so its product counts.
    let e1 = (t * t) * exp_q(t);
    let pv = 1.0 + (t + (te + (e1 + te * (t + e1))));
    let mag = scale(pv, n);
    let mag = sel(over, inf, sel(under, zero, mag));
    // y an integer? odd?
    let y_int = y.floor().eq(y);
    let y_odd = y_int.and((y * 0.5).floor().eq(y * 0.5).not());
    let neg_result = x.sign_bit().and(y_odd);
    let v = sel(neg_result, -mag, mag);
    let v = sel(x.ltc(0.0).and(y_int.not()), x.k(f64::NAN), v);
    // Zeros and infinities of x.
    let x_zero = ax.eq(zero);
    let x_inf = ax.eq(inf);
    let at_zero = sel(y.ltc(0.0), inf, zero);
    let at_inf = sel(y.ltc(0.0), zero, inf);
    let edge = sel(x_zero, at_zero, at_inf);
    let edge = sel(neg_result, -edge, edge);
    let v = sel(x_zero.or(x_inf), edge, v);
    // Infinite y: |x| against 1.
    let y_inf = ay.eq(inf);
    let grows = ax.gtc(1.0).and(y.gtc(0.0)).or(ax.ltc(1.0).and(y.ltc(0.0)));
    let at_yinf = sel(ax.eqc(1.0), one, sel(grows, inf, zero));
    let v = sel(y_inf, at_yinf, v);
    let v = sel(x.is_nan(), x, sel(y.is_nan(), y, v));
    // Exact cases (these win over NaN as C99 says for y = 0 and x = 1).
    let v = sel(y.eqc(2.0), x * x, v);
    let v = sel(y.eqc(1.0), x, v);
    sel(y.eq(zero).or(x.eqc(1.0)), one, v)
}
