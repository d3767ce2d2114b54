//! An executable from `circ build` is `circ-runner` (this library's run loop
//! and the native executor, no compiler) with the model's kernels appended
//! as a shared object: `[runner][object][length: u64 LE][MAGIC]`. At start
//! the runner finds the object in its own file, loads it from memory (an
//! anonymous file, `dlopen`), and reads the model and the kernel table from
//! its symbols. The object's imports (`circ_rem`, ...) resolve against
//! the runner, which exports them. Unsafe code is limited to this module's
//! FFI calls, each with its contract.

use circ_native::KernelFn;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd};

/// Ends an executable that carries a model.
pub const MAGIC: &[u8; 8] = b"CIRCMOD1";

/// The runner's file with `object` (a shared object of the model's kernels
/// and data) appended.
pub fn append(runner: &[u8], object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(runner.len() + object.len() + 16);
    out.extend_from_slice(runner);
    out.extend_from_slice(object);
    out.extend_from_slice(&(object.len() as u64).to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// The object appended to an executable's bytes, if there is one.
pub fn appended(exe: &[u8]) -> Option<&[u8]> {
    let n = exe.len();
    if n < 16 || &exe[n - 8..] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(exe[n - 16..n - 8].try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let start = (n - 16).checked_sub(len)?;
    Some(&exe[start..n - 16])
}

/// A loaded model: its serialised [`crate::Bundle`] and its kernels, alive
/// for the rest of the process.
pub struct Loaded {
    /// The serialised bundle.
    pub data: &'static [u8],
    /// The kernels, in the bundle's order.
    pub fns: &'static [KernelFn],
}

#[allow(unsafe_code)]
unsafe extern "C" {
    fn memfd_create(name: *const c_char, flags: c_uint) -> c_int;
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

const RTLD_NOW: c_int = 2;
const MFD_CLOEXEC: c_uint = 1;

/// Loads the object appended to this executable (`exe`: its bytes).
pub fn load(exe: &[u8]) -> Result<Loaded, String> {
    let object = appended(exe).ok_or(
        "this is circ's runner, with no model appended: make an executable with `circ build`",
    )?;
    let name = CString::new("circ-model").map_err(|e| e.to_string())?;
    // SAFETY: a valid C string; the call has no other precondition.
    #[allow(unsafe_code)]
    let fd = unsafe { memfd_create(name.as_ptr(), MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "cannot make an anonymous file for the model: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    #[allow(unsafe_code)]
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(object)
        .map_err(|e| format!("cannot load the model: {e}"))?;
    let path =
        CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|e| e.to_string())?;
    // SAFETY: a valid C string; the object was made by `circ build` for this
    // runner (its build identity was checked then).
    #[allow(unsafe_code)]
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW) };
    if handle.is_null() {
        // SAFETY: dlerror returns null or a C string valid until the next call.
        #[allow(unsafe_code)]
        let why = unsafe {
            let e = dlerror();
            if e.is_null() {
                "unknown".to_string()
            } else {
                CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return Err(format!("cannot load the model's kernels: {why}"));
    }
    // The object stays loaded for the process; the file may close.
    drop(file);
    let sym = |n: &str| -> Result<*mut c_void, String> {
        let c = CString::new(n).map_err(|e| e.to_string())?;
        // SAFETY: `handle` is a live dlopen handle and `c` a C string.
        #[allow(unsafe_code)]
        let p = unsafe { dlsym(handle, c.as_ptr()) };
        if p.is_null() {
            Err(format!("the appended model lacks `{n}`"))
        } else {
            Ok(p)
        }
    };
    let data = sym("circ_model_data")?.cast::<u8>();
    let len = sym("circ_model_data_len")?.cast::<u64>();
    let table = sym("circ_kernel_table")?.cast::<KernelFn>();
    let count = sym("circ_kernel_count")?.cast::<u64>();
    // SAFETY: `circ build` defines these symbols: the bundle's bytes and
    // their count, the kernel table and its length; the object is never
    // unloaded, so the slices live as long as the process.
    #[allow(unsafe_code)]
    let loaded = unsafe {
        Loaded {
            data: std::slice::from_raw_parts(
                data,
                usize::try_from(*len).map_err(|e| e.to_string())?,
            ),
            fns: std::slice::from_raw_parts(
                table,
                usize::try_from(*count).map_err(|e| e.to_string())?,
            ),
        }
    };
    Ok(loaded)
}

/// Keeps the functions kernels import in the runner (and so exported to
/// the object it loads): returns how many there are.
pub fn keep_imports() -> usize {
    std::hint::black_box(circ_native::env::SYMBOLS).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appended_object_is_found_and_a_plain_file_is_not() {
        let exe = append(b"runner bytes", b"object");
        assert_eq!(appended(&exe), Some(&b"object"[..]));
        assert_eq!(appended(b"runner bytes"), None);
        let mut bad = exe.clone();
        let n = bad.len();
        bad[n - 16..n - 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(appended(&bad), None, "a length past the file");
    }
}
