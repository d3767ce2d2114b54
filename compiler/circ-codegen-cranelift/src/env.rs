//! The environment a compiled kernel receives, and the Rust functions it
//! calls: one definition of math, tables and random draws for every backend.

use circ_ir::{Bin, Func, eval_bin, eval_func, table_at};
use circ_runtime::philox;

/// What a compiled kernel reads: a C-layout struct, its fields at fixed offsets.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// Base pointer of each variable the kernel names (by `VarId`).
    pub vars: *const *mut f64,
    /// Accumulators of the postsynaptic population's variables (projections).
    pub acc: *const *mut f64,
    /// The elements to visit, or null for `0..count`.
    pub list: *const u32,
    /// How many elements.
    pub count: u64,
    /// Presynaptic neuron of each synapse.
    pub pre: *const u32,
    /// Postsynaptic neuron of each synapse.
    pub post: *const u32,
    /// `t_n`.
    pub t: f64,
    /// The step.
    pub dt: f64,
    /// The step index.
    pub step: u64,
    /// The seed.
    pub seed: u64,
    /// The random stream base of this kernel.
    pub stream_base: u64,
    /// Last refractory step of each element (population kernels).
    pub ref_until: *const i64,
    /// Threshold output: the elements that fire, appended in order at
    /// `spikes[*spike_count]` (this slice's part of the list).
    pub spikes: *mut u32,
    /// Reset output: the refractory period of each listed element.
    pub refr: *mut f64,
    /// Data tables.
    pub tables: *const *const f64,
    /// Their lengths.
    pub table_lens: *const u64,
    /// The first element (or list position) to visit: `start..count`.
    pub start: u64,
    /// How many elements `spikes` holds.
    pub spike_count: *mut u64,
}

// SAFETY: an `Env` only carries pointers to buffers that outlive the kernel
// call; the backend gives concurrent calls disjoint element ranges whose
// writes never overlap (see `Jit`'s partitioning), so sharing it across the
// worker threads is sound.
#[allow(unsafe_code)]
unsafe impl Send for Env {}
#[allow(unsafe_code)]
unsafe impl Sync for Env {}

/// Field offsets, in bytes, as the generated code reads them.
pub(crate) mod off {
    pub const VARS: i32 = 0;
    pub const ACC: i32 = 8;
    pub const LIST: i32 = 16;
    pub const COUNT: i32 = 24;
    pub const PRE: i32 = 32;
    pub const POST: i32 = 40;
    pub const T: i32 = 48;
    pub const DT: i32 = 56;
    pub const STEP: i32 = 64;
    pub const SEED: i32 = 72;
    pub const STREAM: i32 = 80;
    pub const REF_UNTIL: i32 = 88;
    pub const SPIKES: i32 = 96;
    pub const REFR: i32 = 104;
    pub const TABLES: i32 = 112;
    pub const TABLE_LENS: i32 = 120;
    pub const START: i32 = 128;
    pub const SPIKE_COUNT: i32 = 136;
    /// The size of an `Env`: a fused function's parts read consecutive ones.
    pub const SIZE: i32 = 144;
    const _: () = assert!(std::mem::size_of::<super::Env>() == SIZE as usize);
}

macro_rules! unary {
    ($($name:ident => $f:ident),* $(,)?) => {
        $(
            /// A math function, as the interpreter defines it.
            pub extern "C" fn $name(x: f64) -> f64 {
                eval_func(Func::$f, &[x])
            }
        )*
    };
}

unary!(
    circ_exp => Exp, circ_log => Log, circ_log10 => Log10, circ_log2 => Log2, circ_sin => Sin, circ_cos => Cos,
    circ_tan => Tan, circ_asin => Asin, circ_acos => Acos, circ_atan => Atan, circ_sinh => Sinh, circ_cosh => Cosh,
    circ_tanh => Tanh, circ_expm1 => Expm1, circ_log1p => Log1p, circ_sigmoid => Sigmoid, circ_erf => Erf,
    circ_abs => Abs, circ_floor => Floor, circ_ceil => Ceil, circ_round => Round, circ_sqrt => Sqrt, circ_cbrt => Cbrt,
    circ_sign => Sign, circ_heaviside => Heaviside,
);

/// `atan2`, as the interpreter defines it.
pub extern "C" fn circ_atan2(y: f64, x: f64) -> f64 {
    eval_func(Func::Atan2, &[y, x])
}
/// `%`, as the interpreter defines it.
pub extern "C" fn circ_rem(a: f64, b: f64) -> f64 {
    eval_bin(Bin::Rem, a, b)
}
/// `^`, as the interpreter defines it.
pub extern "C" fn circ_pow(a: f64, b: f64) -> f64 {
    eval_bin(Bin::Pow, a, b)
}
/// `min`, as the interpreter defines it.
pub extern "C" fn circ_min(a: f64, b: f64) -> f64 {
    eval_bin(Bin::Min, a, b)
}
/// `max`, as the interpreter defines it.
pub extern "C" fn circ_max(a: f64, b: f64) -> f64 {
    eval_bin(Bin::Max, a, b)
}
/// A uniform draw keyed like the interpreter's.
pub extern "C" fn circ_uniform(seed: u64, stream: u64, element: u64, step: u64) -> f64 {
    philox::uniform(seed, stream as u32, element as u32, step)
}
/// A normal draw keyed like the interpreter's.
pub extern "C" fn circ_normal(seed: u64, stream: u64, element: u64, step: u64) -> f64 {
    philox::normal(seed, stream as u32, element as u32, step)
}
/// A data-table read.
///
/// # Safety
/// `tables` and `lens` hold at least `k + 1` entries, each table pointer
/// valid for its length (the backend passes its own arrays).
#[allow(unsafe_code)]
pub unsafe extern "C" fn circ_table(
    tables: *const *const f64,
    lens: *const u64,
    k: u64,
    x: f64,
) -> f64 {
    // SAFETY: the caller's contract; the IR's table indices come from the
    // same layout as the arrays.
    let table = unsafe {
        let ptr = *tables.add(k as usize);
        let len = *lens.add(k as usize) as usize;
        std::slice::from_raw_parts(ptr, len)
    };
    table_at(table, x)
}

/// Every function a kernel may call, by the name the code imports.
pub(crate) const SYMBOLS: &[(&str, *const u8)] = &[
    ("circ_exp", circ_exp as *const u8),
    ("circ_log", circ_log as *const u8),
    ("circ_log10", circ_log10 as *const u8),
    ("circ_log2", circ_log2 as *const u8),
    ("circ_sin", circ_sin as *const u8),
    ("circ_cos", circ_cos as *const u8),
    ("circ_tan", circ_tan as *const u8),
    ("circ_asin", circ_asin as *const u8),
    ("circ_acos", circ_acos as *const u8),
    ("circ_atan", circ_atan as *const u8),
    ("circ_sinh", circ_sinh as *const u8),
    ("circ_cosh", circ_cosh as *const u8),
    ("circ_tanh", circ_tanh as *const u8),
    ("circ_expm1", circ_expm1 as *const u8),
    ("circ_log1p", circ_log1p as *const u8),
    ("circ_sigmoid", circ_sigmoid as *const u8),
    ("circ_erf", circ_erf as *const u8),
    ("circ_abs", circ_abs as *const u8),
    ("circ_floor", circ_floor as *const u8),
    ("circ_ceil", circ_ceil as *const u8),
    ("circ_round", circ_round as *const u8),
    ("circ_sqrt", circ_sqrt as *const u8),
    ("circ_cbrt", circ_cbrt as *const u8),
    ("circ_sign", circ_sign as *const u8),
    ("circ_heaviside", circ_heaviside as *const u8),
    ("circ_atan2", circ_atan2 as *const u8),
    ("circ_rem", circ_rem as *const u8),
    ("circ_pow", circ_pow as *const u8),
    ("circ_min", circ_min as *const u8),
    ("circ_max", circ_max as *const u8),
    ("circ_uniform", circ_uniform as *const u8),
    ("circ_normal", circ_normal as *const u8),
    ("circ_table", circ_table as *const u8),
];

/// The imported name of a math function.
pub(crate) fn func_symbol(f: Func) -> &'static str {
    match f {
        Func::Exp => "circ_exp",
        Func::Log => "circ_log",
        Func::Log10 => "circ_log10",
        Func::Log2 => "circ_log2",
        Func::Sin => "circ_sin",
        Func::Cos => "circ_cos",
        Func::Tan => "circ_tan",
        Func::Asin => "circ_asin",
        Func::Acos => "circ_acos",
        Func::Atan => "circ_atan",
        Func::Sinh => "circ_sinh",
        Func::Cosh => "circ_cosh",
        Func::Tanh => "circ_tanh",
        Func::Expm1 => "circ_expm1",
        Func::Log1p => "circ_log1p",
        Func::Sigmoid => "circ_sigmoid",
        Func::Erf => "circ_erf",
        Func::Abs => "circ_abs",
        Func::Floor => "circ_floor",
        Func::Ceil => "circ_ceil",
        Func::Round => "circ_round",
        Func::Sqrt => "circ_sqrt",
        Func::Cbrt => "circ_cbrt",
        Func::Sign => "circ_sign",
        Func::Heaviside => "circ_heaviside",
        Func::Atan2 => "circ_atan2",
    }
}
