//! The environment a compiled kernel receives (its calling convention),
//! and the table of functions it calls: one definition of the remainder,
//! and data tables for every code generator (math and random draws are
//! inlined from `circ_ir::math`).

use circ_ir::{Bin, eval_bin, table_at};

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
    /// Synapse kernels over a range (no `list`): where each presynaptic
    /// neuron's synapses start (`n_pre + 1` offsets; synapses are sorted by
    /// presynaptic neuron), so code may visit the range row by row and read
    /// the presynaptic neuron's values once per row; null elsewhere.
    pub rows: *const u64,
    /// Synapse kernels of a network split across processes: each local
    /// synapse's index in the whole projection (`Csr::keys`), which keys
    /// its draws and is its `Index`; null when the synapses are all here.
    pub keys: *const u32,
}

// SAFETY: an `Env` only carries pointers to buffers that outlive the kernel
// call; the backend gives concurrent calls disjoint element ranges whose
// writes never overlap (see `Native`'s partitioning), so sharing it across the
// worker threads is sound.
#[allow(unsafe_code)]
unsafe impl Send for Env {}
#[allow(unsafe_code)]
unsafe impl Sync for Env {}

/// Field offsets, in bytes, as the generated code reads them.
pub mod off {
    #![allow(missing_docs)]
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
    pub const REF_UNTIL: i32 = 80;
    pub const SPIKES: i32 = 88;
    pub const REFR: i32 = 96;
    pub const TABLES: i32 = 104;
    pub const TABLE_LENS: i32 = 112;
    pub const START: i32 = 120;
    pub const SPIKE_COUNT: i32 = 128;
    pub const ROWS: i32 = 136;
    pub const KEYS: i32 = 144;
    /// The size of an `Env`: a fused function's parts read consecutive ones.
    pub const SIZE: i32 = 152;
    const _: () = assert!(std::mem::size_of::<super::Env>() == SIZE as usize);
    // `rows` points at the runtime's `Vec<usize>` offsets, read as u64.
    const _: () = assert!(std::mem::size_of::<usize>() == 8);

    // Every offset is the field's: a field moved or removed without its
    // constant fails the build instead of misreading memory.
    macro_rules! at {
        ($($field:ident = $c:ident),*) => {
            $(const _: () = assert!(std::mem::offset_of!(super::Env, $field) == $c as usize);)*
        };
    }
    at!(
        vars = VARS,
        acc = ACC,
        list = LIST,
        count = COUNT,
        pre = PRE,
        post = POST,
        t = T,
        dt = DT,
        step = STEP,
        seed = SEED,
        ref_until = REF_UNTIL,
        spikes = SPIKES,
        refr = REFR,
        tables = TABLES,
        table_lens = TABLE_LENS,
        start = START,
        spike_count = SPIKE_COUNT,
        rows = ROWS,
        keys = KEYS
    );
}

/// The calling convention of a function compiled code imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// `fn(f64, f64) -> f64`.
    F2,
    /// `fn(tables: *const *const f64, lens: *const u64, k: u64, x: f64) -> f64`.
    Table,
}

/// A function compiled code imports by name.
#[derive(Clone, Copy, Debug)]
pub struct Symbol {
    /// The imported (and, in executables, exported) name.
    pub name: &'static str,
    /// How it is called.
    pub sig: Sig,
    /// Its address in this process.
    pub addr: *const u8,
}

/// Every function compiled code may call, by the name it imports. Math and
/// random draws are not here: code generators inline `circ_ir::math`'s
/// programs.
pub const SYMBOLS: &[Symbol] = &[
    Symbol {
        name: "circ_rem",
        sig: Sig::F2,
        addr: circ_rem as *const u8,
    },
    Symbol {
        name: "circ_table",
        sig: Sig::Table,
        addr: circ_table as *const u8,
    },
];

/// The imported name of a binary operation that compiled code calls
/// (`None`: an instruction, or an inlined program).
pub fn bin_symbol(op: Bin) -> Option<&'static str> {
    (op == Bin::Rem).then_some("circ_rem")
}

/// `a % b`: IEEE's exact remainder (fmod), as the IR defines it.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn circ_rem(a: f64, b: f64) -> f64 {
    eval_bin(Bin::Rem, a, b)
}

/// A data-table read.
///
/// # Safety
/// `tables` and `lens` hold at least `k + 1` entries, each table pointer
/// valid for its length (the executor passes its own arrays).
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
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
