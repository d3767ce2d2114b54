//! The static library's side of an executable: its C entry point and the
//! math functions its kernels import by name. Unmangled symbols are unsafe
//! attributes, hence the allowances, each limited to one item.

use circ_codegen_cranelift::{KernelFn, math};
use std::ffi::{CStr, c_char, c_int};

/// Called by the executable's `main` with its arguments, the embedded
/// model and the kernel table (symbols of the object file `circ build`
/// wrote).
///
/// # Safety
/// `argv` holds `argc` C strings; `data` points to `len` bytes and `table`
/// to `count` kernels compiled for that model.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circ_exe_main(
    argc: c_int,
    argv: *const *const c_char,
    data: *const u8,
    len: u64,
    table: *const KernelFn,
    count: u64,
) -> c_int {
    // SAFETY: the caller's contract above; the C runtime gives argv.
    let (args, data, fns) = unsafe {
        let args: Vec<String> = (0..argc.max(0) as usize)
            .map(|i| CStr::from_ptr(*argv.add(i)).to_string_lossy().into_owned())
            .collect();
        (
            args,
            std::slice::from_raw_parts(data, len as usize),
            std::slice::from_raw_parts(table, count as usize),
        )
    };
    c_int::from(crate::run_embedded(args, data, fns))
}

macro_rules! export {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        $(
            /// Imported by compiled kernels: the backend's definition.
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn $name($($a: $t),*) -> $r {
                math::$name($($a),*)
            }
        )*
    };
}

export!(
    circ_exp(x: f64) -> f64;
    circ_log(x: f64) -> f64;
    circ_log10(x: f64) -> f64;
    circ_log2(x: f64) -> f64;
    circ_sin(x: f64) -> f64;
    circ_cos(x: f64) -> f64;
    circ_tan(x: f64) -> f64;
    circ_asin(x: f64) -> f64;
    circ_acos(x: f64) -> f64;
    circ_atan(x: f64) -> f64;
    circ_sinh(x: f64) -> f64;
    circ_cosh(x: f64) -> f64;
    circ_tanh(x: f64) -> f64;
    circ_expm1(x: f64) -> f64;
    circ_log1p(x: f64) -> f64;
    circ_sigmoid(x: f64) -> f64;
    circ_erf(x: f64) -> f64;
    circ_abs(x: f64) -> f64;
    circ_floor(x: f64) -> f64;
    circ_ceil(x: f64) -> f64;
    circ_round(x: f64) -> f64;
    circ_sqrt(x: f64) -> f64;
    circ_cbrt(x: f64) -> f64;
    circ_sign(x: f64) -> f64;
    circ_heaviside(x: f64) -> f64;
    circ_atan2(y: f64, x: f64) -> f64;
    circ_rem(a: f64, b: f64) -> f64;
    circ_pow(a: f64, b: f64) -> f64;
    circ_min(a: f64, b: f64) -> f64;
    circ_max(a: f64, b: f64) -> f64;
    circ_uniform(seed: u64, stream: u64, element: u64, step: u64) -> f64;
    circ_normal(seed: u64, stream: u64, element: u64, step: u64) -> f64;
);

/// Imported by compiled kernels: a data-table read.
///
/// # Safety
/// As for the backend's `circ_table`: `tables` and `lens` hold at least
/// `k + 1` valid entries.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circ_table(
    tables: *const *const f64,
    lens: *const u64,
    k: u64,
    x: f64,
) -> f64 {
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { math::circ_table(tables, lens, k, x) }
}
