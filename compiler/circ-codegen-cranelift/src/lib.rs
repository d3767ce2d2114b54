//! circ-codegen-cranelift emits native code for the functions of a
//! [`circ_ir::plan::Plan`] with Cranelift: one function per kernel (or
//! fused population step), each looping over its elements, through the JIT
//! ([`compile`]) or into an object file for executables ([`object`]). It
//! owns emission only: the plan (views, fusion, what each function writes)
//! comes from `circ-ir`, execution (threads, dispatch) from `circ-native`;
//! math is inlined from `circ_ir::math`'s programs, and remainders, table
//! reads and random draws call the functions of `circ_native::env::SYMBOLS`. It must not change what a kernel computes
//! or the order in which it visits elements.

mod emit;

use circ_ir::Network;
use circ_ir::plan::{KernelMap, Plan};
use circ_native::KernelFn;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::Module;
use emit::Compiled;

/// Why compilation failed (an internal error: the IR was verified).
#[derive(Debug)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

/// The host's code generator; `pic` for code linked into executables
/// (position-independent, as the system linker makes them by default).
fn isa_with(pic: bool) -> Result<cranelift_codegen::isa::OwnedTargetIsa, CodegenError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| CodegenError(e.to_string()))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
    let builder = cranelift_native::builder().map_err(|e| CodegenError(e.to_string()))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError(e.to_string()))
}

/// Emits every function of `plan` into `module`, in order.
fn emit_all(
    module: &mut impl Module,
    compiled: &mut Compiled,
    net: &Network,
    plan: &Plan,
) -> Result<(), CodegenError> {
    for (f, function) in plan.functions.iter().enumerate() {
        compiled.function(
            module,
            &function.name,
            &plan.groups(net, f),
            plan.scratch(f),
        )?;
    }
    Ok(())
}

/// A network's functions compiled by the JIT.
pub struct JitCode {
    /// One pointer per function of the plan, in its order.
    pub fns: Vec<KernelFn>,
    /// Which function runs what (the plan's map).
    pub map: KernelMap,
    /// The module that owns the code: keep it while `fns` are used.
    pub module: Box<dyn std::any::Any>,
    /// Each function's Cranelift IR, when asked for (`--emit clif`).
    pub clif: Vec<(String, String)>,
}

/// Compiles every function of `plan` (made from `net`) with the JIT;
/// `keep_clif` keeps each function's Cranelift IR as text. Runs on the
/// calling thread only.
pub fn compile(net: &Network, plan: &Plan, keep_clif: bool) -> Result<JitCode, CodegenError> {
    let mut builder =
        JITBuilder::with_isa(isa_with(false)?, cranelift_module::default_libcall_names());
    for s in circ_native::env::SYMBOLS {
        builder.symbol(s.name, s.addr);
    }
    let mut module = JITModule::new(builder);
    let mut compiled = Compiled::new(&mut module, keep_clif)?;
    emit_all(&mut module, &mut compiled, net, plan)?;
    module
        .finalize_definitions()
        .map_err(|e| CodegenError(e.to_string()))?;
    let fns: Vec<KernelFn> = compiled
        .ids
        .iter()
        .map(|id| {
            let raw = module.get_finalized_function(*id);
            // SAFETY: every function was declared with the signature `fn(*const Env)`.
            #[allow(unsafe_code)]
            unsafe {
                std::mem::transmute::<*const u8, KernelFn>(raw)
            }
        })
        .collect();
    Ok(JitCode {
        fns,
        map: plan.map.clone(),
        module: Box::new(module),
        clif: std::mem::take(&mut compiled.clif),
    })
}

/// Symbols of an object file from [`object`]: the kernel table, the number
/// of kernels, and the embedded data (`*_len` holds its length in bytes).
pub const OBJECT_SYMBOLS: [&str; 4] = [
    "circ_kernel_table",
    "circ_kernel_count",
    "circ_model_data",
    "circ_model_data_len",
];

/// Compiles every function of `plan` (made from `net`) into a relocatable
/// object file for the host, with a table of their addresses
/// (`circ_kernel_table`, in the plan's order) and `data` embedded as
/// `circ_model_data`. Math calls import the `circ_*` functions of
/// `circ_native::env::SYMBOLS`, which the linked runtime defines.
pub fn object(net: &Network, plan: &Plan, data: Vec<u8>) -> Result<Vec<u8>, CodegenError> {
    use cranelift_module::{DataDescription, Linkage};
    use cranelift_object::{ObjectBuilder, ObjectModule};
    let err = |e: &dyn std::fmt::Display| CodegenError(e.to_string());
    let builder = ObjectBuilder::new(
        isa_with(true)?,
        "circ_model",
        cranelift_module::default_libcall_names(),
    )
    .map_err(|e| err(&e))?;
    let mut module = ObjectModule::new(builder);
    let mut compiled = Compiled::new(&mut module, false)?;
    compiled.linkage = Linkage::Export;
    emit_all(&mut module, &mut compiled, net, plan)?;
    let mut define = |name: &str, bytes: Vec<u8>, funcs: &[cranelift_module::FuncId]| {
        let id = module
            .declare_data(name, Linkage::Export, false, false)
            .map_err(|e| err(&e))?;
        let mut d = DataDescription::new();
        d.define(bytes.into_boxed_slice());
        d.set_align(8);
        for (n, f) in funcs.iter().enumerate() {
            let r = module.declare_func_in_data(*f, &mut d);
            d.write_function_addr((n * 8) as u32, r);
        }
        module.define_data(id, &d).map_err(|e| err(&e))
    };
    let n = compiled.ids.len();
    define(OBJECT_SYMBOLS[0], vec![0; n.max(1) * 8], &compiled.ids)?;
    define(OBJECT_SYMBOLS[1], (n as u64).to_le_bytes().to_vec(), &[])?;
    let mut blob = data;
    let len = blob.len() as u64;
    blob.push(0); // never empty
    define(OBJECT_SYMBOLS[2], blob, &[])?;
    define(OBJECT_SYMBOLS[3], len.to_le_bytes().to_vec(), &[])?;
    module.finish().emit().map_err(|e| err(&e))
}
