//! The static library's side of an executable: its C entry point. An
//! unmangled symbol is an unsafe attribute, hence the allowance, limited to
//! the one item.

use circ_native::KernelFn;
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

// The `circ_*` functions the kernels import are defined (unmangled) by
// `circ_native::env`, which this library links.
