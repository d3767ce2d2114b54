//! Math for the IR: `circ_math`'s algorithms and programs, with the IR's
//! binary operators mapped onto them (`^`, `min`, `max`).

pub use circ_math::{
    Cmp, Direct, FBin, FUn, IBin, Op, Ops, Program, TRIG_LIMIT, Two, Val, X, call, eval,
    exp_consts, program,
};

use crate::Bin;

/// The algorithm behind `op`, when it is not a single IEEE operation.
pub fn two(op: Bin) -> Option<Two> {
    match op {
        Bin::Pow => Some(Two::Pow),
        Bin::Min => Some(Two::Min),
        Bin::Max => Some(Two::Max),
        _ => None,
    }
}

/// Evaluates `a op b` for the operators defined by algorithms; `None` for the others.
pub fn eval_bin(op: Bin, a: f64, b: f64) -> Option<f64> {
    two(op).map(|t| circ_math::eval_two(t, a, b))
}

/// The program of `a op b` for the operators defined by algorithms.
pub fn program_bin(op: Bin) -> Option<&'static Program> {
    two(op).map(circ_math::program_two)
}
