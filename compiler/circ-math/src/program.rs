//! The math algorithms written down as a program of IR operations, for code
//! generators to inline: recorded once per function from the same generic
//! code the interpreter runs, so they cannot disagree.

use super::{Ops, X, call, two};
use crate::{Draw, Func, Two, draw};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A value of a program: the index of the operation that makes it.
pub type Val = u32;

/// A float operation of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FBin {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
}

impl FBin {
    /// The IEEE result.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            FBin::Add => a + b,
            FBin::Sub => a - b,
            FBin::Mul => a * b,
            FBin::Div => a / b,
        }
    }
}

/// A float operation of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FUn {
    /// Flips the sign bit.
    Neg,
    /// The correctly rounded square root.
    Sqrt,
    /// Rounds toward minus infinity.
    Floor,
}

impl FUn {
    /// The IEEE result.
    pub fn apply(self, a: f64) -> f64 {
        match self {
            FUn::Neg => -a,
            FUn::Sqrt => a.sqrt(),
            FUn::Floor => a.floor(),
        }
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a == b`.
    Eq,
    /// Either is NaN (floats only).
    Uno,
}

impl Cmp {
    /// On floats.
    pub fn floats(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Uno => a.is_nan() || b.is_nan(),
        }
    }

    /// On signed integers (`Uno` is false).
    pub fn ints(self, a: i64, b: i64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Uno => false,
        }
    }
}

/// An integer operation (wrapping; shifts are logical, by `b` < 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IBin {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a & b`.
    And,
    /// `a | b`.
    Or,
    /// `a << b`.
    Shl,
    /// `a >> b`, zeros shifted in.
    Shr,
    /// `a * b` (the low 64 bits).
    Mul,
    /// `a ^ b`.
    Xor,
}

impl IBin {
    /// The result.
    pub fn apply(self, a: i64, b: i64) -> i64 {
        match self {
            IBin::Add => a.wrapping_add(b),
            IBin::Sub => a.wrapping_sub(b),
            IBin::And => a & b,
            IBin::Or => a | b,
            IBin::Shl => ((a as u64) << (b & 63)) as i64,
            IBin::Shr => ((a as u64) >> (b & 63)) as i64,
            IBin::Mul => a.wrapping_mul(b),
            IBin::Xor => a ^ b,
        }
    }
}

/// One operation of a program; operands are earlier values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Argument `n` (a float).
    Arg(u32),
    /// A float constant.
    F(f64),
    /// An integer constant.
    I(i64),
    /// A float operation.
    FBin(FBin, Val, Val),
    /// A float operation of one operand.
    FUn(FUn, Val),
    /// A float comparison (a condition).
    FCmp(Cmp, Val, Val),
    /// An integer operation.
    IBin(IBin, Val, Val),
    /// A signed integer comparison.
    ICmp(Cmp, Val, Val),
    /// A float's bits.
    Bits(Val),
    /// The float of these bits.
    FromBits(Val),
    /// `c ? a : b` on floats.
    FSel(Val, Val, Val),
    /// `c ? a : b` on integers.
    ISel(Val, Val, Val),
    /// `a && b` (true) or `a || b` (false) on conditions.
    BBin(bool, Val, Val),
    /// `!a`.
    BNot(Val),
}

/// A straight-line program: operations in order; the result is `out`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    /// The operations; operation `k` makes value `k`.
    pub ops: Vec<Op>,
    /// The result (a float).
    pub out: Val,
}

impl Program {
    /// Runs the program on `args` (the reference for code generators).
    pub fn eval(&self, args: &[f64]) -> f64 {
        // Every value as 64 bits: floats by their bits, conditions 0 or 1.
        let mut v: Vec<u64> = Vec::with_capacity(self.ops.len());
        let f = |v: &[u64], k: Val| f64::from_bits(v[k as usize]);
        let i = |v: &[u64], k: Val| v[k as usize] as i64;
        let b = |v: &[u64], k: Val| v[k as usize] != 0;
        for op in &self.ops {
            let x = match *op {
                Op::Arg(n) => args.get(n as usize).copied().unwrap_or(f64::NAN).to_bits(),
                Op::F(c) => c.to_bits(),
                Op::I(c) => c as u64,
                Op::FBin(o, a, c) => o.apply(f(&v, a), f(&v, c)).to_bits(),
                Op::FUn(o, a) => o.apply(f(&v, a)).to_bits(),
                Op::FCmp(o, a, c) => u64::from(o.floats(f(&v, a), f(&v, c))),
                Op::IBin(o, a, c) => o.apply(i(&v, a), i(&v, c)) as u64,
                Op::ICmp(o, a, c) => u64::from(o.ints(i(&v, a), i(&v, c))),
                Op::Bits(a) | Op::FromBits(a) => v[a as usize],
                Op::FSel(c, a, d) | Op::ISel(c, a, d) => {
                    if b(&v, c) {
                        v[a as usize]
                    } else {
                        v[d as usize]
                    }
                }
                Op::BBin(and, a, c) => u64::from(if and {
                    b(&v, a) && b(&v, c)
                } else {
                    b(&v, a) || b(&v, c)
                }),
                Op::BNot(a) => u64::from(!b(&v, a)),
            };
            v.push(x);
        }
        f(&v, self.out)
    }
}

/// Writes the operations down (constants shared, nothing else folded:
/// the program is the algorithm as written).
#[derive(Default)]
struct Recorder {
    ops: RefCell<Vec<Op>>,
    consts: RefCell<HashMap<(bool, u64), Val>>,
}

impl Recorder {
    fn push(&self, op: Op) -> Val {
        let mut ops = self.ops.borrow_mut();
        ops.push(op);
        (ops.len() - 1) as Val
    }
    fn konst(&self, float: bool, bits: u64) -> Val {
        if let Some(&v) = self.consts.borrow().get(&(float, bits)) {
            return v;
        }
        let v = self.push(if float {
            Op::F(f64::from_bits(bits))
        } else {
            Op::I(bits as i64)
        });
        self.consts.borrow_mut().insert((float, bits), v);
        v
    }
}

impl Ops for Recorder {
    type F = Val;
    type I = Val;
    type B = Val;
    fn fconst(&self, x: f64) -> Val {
        self.konst(true, x.to_bits())
    }
    fn iconst(&self, x: i64) -> Val {
        self.konst(false, x as u64)
    }
    fn fbin(&self, op: FBin, a: Val, b: Val) -> Val {
        self.push(Op::FBin(op, a, b))
    }
    fn fun(&self, op: FUn, a: Val) -> Val {
        self.push(Op::FUn(op, a))
    }
    fn fcmp(&self, op: Cmp, a: Val, b: Val) -> Val {
        self.push(Op::FCmp(op, a, b))
    }
    fn ibin(&self, op: IBin, a: Val, b: Val) -> Val {
        self.push(Op::IBin(op, a, b))
    }
    fn icmp(&self, op: Cmp, a: Val, b: Val) -> Val {
        self.push(Op::ICmp(op, a, b))
    }
    fn bits(&self, a: Val) -> Val {
        self.push(Op::Bits(a))
    }
    fn float_of(&self, a: Val) -> Val {
        self.push(Op::FromBits(a))
    }
    fn fsel(&self, c: Val, a: Val, b: Val) -> Val {
        self.push(Op::FSel(c, a, b))
    }
    fn isel(&self, c: Val, a: Val, b: Val) -> Val {
        self.push(Op::ISel(c, a, b))
    }
    fn bbin(&self, and: bool, a: Val, b: Val) -> Val {
        self.push(Op::BBin(and, a, b))
    }
    fn bnot(&self, a: Val) -> Val {
        self.push(Op::BNot(a))
    }
}

/// Records `body` over `n` arguments, dropping what the result does not use.
fn record(
    n: u32,
    body: impl for<'o> Fn(&'o Recorder, &[X<'o, Recorder>]) -> X<'o, Recorder>,
) -> Program {
    let r = Recorder::default();
    let args: Vec<X<'_, Recorder>> = (0..n).map(|k| X::new(&r, r.push(Op::Arg(k)))).collect();
    let out = body(&r, &args).v;
    let ops = r.ops.into_inner();
    prune(ops, out)
}

/// Keeps the operations the result depends on (the arguments always), renumbered.
fn prune(ops: Vec<Op>, out: Val) -> Program {
    let mut live = vec![false; ops.len()];
    live[out as usize] = true;
    for k in (0..ops.len()).rev() {
        if !live[k] && !matches!(ops[k], Op::Arg(_)) {
            continue;
        }
        live[k] = true;
        let mut mark = |v: Val| live[v as usize] = true;
        match ops[k] {
            Op::Arg(_) | Op::F(_) | Op::I(_) => {}
            Op::FUn(_, a) | Op::Bits(a) | Op::FromBits(a) | Op::BNot(a) => mark(a),
            Op::FBin(_, a, b)
            | Op::FCmp(_, a, b)
            | Op::IBin(_, a, b)
            | Op::ICmp(_, a, b)
            | Op::BBin(_, a, b) => {
                mark(a);
                mark(b);
            }
            Op::FSel(c, a, b) | Op::ISel(c, a, b) => {
                mark(c);
                mark(a);
                mark(b);
            }
        }
    }
    let mut new_index = vec![0 as Val; ops.len()];
    let mut kept = vec![];
    for (k, op) in ops.into_iter().enumerate() {
        if !live[k] {
            continue;
        }
        new_index[k] = kept.len() as Val;
        let m = |v: Val| new_index[v as usize];
        kept.push(match op {
            Op::Arg(_) | Op::F(_) | Op::I(_) => op,
            Op::FBin(o, a, b) => Op::FBin(o, m(a), m(b)),
            Op::FUn(o, a) => Op::FUn(o, m(a)),
            Op::FCmp(o, a, b) => Op::FCmp(o, m(a), m(b)),
            Op::IBin(o, a, b) => Op::IBin(o, m(a), m(b)),
            Op::ICmp(o, a, b) => Op::ICmp(o, m(a), m(b)),
            Op::Bits(a) => Op::Bits(m(a)),
            Op::FromBits(a) => Op::FromBits(m(a)),
            Op::FSel(c, a, b) => Op::FSel(m(c), m(a), m(b)),
            Op::ISel(c, a, b) => Op::ISel(m(c), m(a), m(b)),
            Op::BBin(and, a, b) => Op::BBin(and, m(a), m(b)),
            Op::BNot(a) => Op::BNot(m(a)),
        });
    }
    Program {
        ops: kept,
        out: new_index[out as usize],
    }
}

/// What a cached program computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Func(Func),
    Two(Two),
    Draw(Draw),
}

type Cache = Mutex<HashMap<Key, &'static Program>>;

fn cached(key: Key, make: impl FnOnce() -> Program) -> &'static Program {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(key)
        .or_insert_with(|| Box::leak(Box::new(make())))
}

/// The program of a math function (arguments: its operands).
pub fn program(f: Func) -> &'static Program {
    cached(Key::Func(f), || {
        let n = if f == Func::Atan2 { 2 } else { 1 };
        record(n, |o, args| call(o, f, args))
    })
}

/// The program of `a op b`.
pub fn program_two(op: Two) -> &'static Program {
    cached(Key::Two(op), || {
        record(2, |o, args| two(o, op, args[0], args[1]))
    })
}

/// The program of a random draw. Its four arguments are floats whose bits
/// are the integers seed, stream, element and step (bit casts, not
/// conversions), as [`crate::draw`] takes them.
pub fn program_draw(d: Draw) -> &'static Program {
    cached(Key::Draw(d), || {
        record(4, |o, args| {
            draw(o, d, [args[0], args[1], args[2], args[3]])
        })
    })
}
