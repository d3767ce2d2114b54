//! Math for the IR: `circ_math`'s algorithms and programs, with the IR's
//! binary operators mapped onto them (`^`, `min`, `max`).

pub use circ_math::{
    Cmp, Direct, FBin, FUn, IBin, Op, Ops, Program, TRIG_LIMIT, Two, Val, X, call, eval,
    exp_consts, program,
};

use crate::{Bin, Dist};

/// The distribution `circ_math` draws for `d`.
fn draw(d: Dist) -> circ_math::Draw {
    match d {
        Dist::Uniform => circ_math::Draw::Uniform,
        Dist::Normal => circ_math::Draw::Normal,
    }
}

/// A draw of `d` keyed by (seed, stream, element, step): the one
/// definition every backend follows (Philox 4x32-10 and its transform in
/// `circ_math`'s operations).
pub fn eval_rand(d: Dist, seed: u64, stream: u32, element: u32, step: u64) -> f64 {
    circ_math::eval_draw(draw(d), seed, stream, element, step)
}

/// The program of a draw of `d`, for code generators to inline: its four
/// arguments are floats whose bits are the seed, the stream, the element
/// (its low 32 bits) and the step.
pub fn program_rand(d: Dist) -> &'static Program {
    circ_math::program_draw(draw(d))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernels' uniform draws (circ-math's program) and the runtime's own
    /// (connectivity, Poisson gaps) are the same Philox, bit for bit.
    #[test]
    fn kernel_and_runtime_uniforms_agree() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (seed, stream, element, step) = (x, (x >> 3) as u32, (x >> 29) as u32, x >> 11);
            assert_eq!(
                eval_rand(Dist::Uniform, seed, stream, element, step).to_bits(),
                circ_runtime::philox::uniform(seed, stream, element, step).to_bits()
            );
        }
    }
}
