//! circ-codegen-llvm emits the functions of a [`circ_ir::plan::Plan`] as
//! LLVM IR, optimises them with LLVM 19's `default<O3>` pipeline for the
//! host CPU (its name and feature list, so the vectoriser uses the whole
//! width) and compiles them with MCJIT ([`compile`]). It owns emission
//! only: the plan comes from `circ-ir`, execution from `circ-native`;
//! math is inlined from `circ_ir::math`'s programs, with no fast-math flag
//! and no libm call, so results are the interpreter's bits. It must not
//! change what a kernel computes or the order in which it visits elements.

mod emit;

use circ_ir::Network;
use circ_ir::plan::{KernelMap, Plan};
use circ_native::KernelFn;
use inkwell::OptimizationLevel;
use inkwell::attributes::AttributeLoc;
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use inkwell::types::BasicType;
use inkwell::values::AnyValue;

/// Why compilation failed (an internal error: the IR was verified).
#[derive(Debug)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LLVM code generation failed: {}", self.0)
    }
}

/// The CPU to compile for: its LLVM name and feature list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// LLVM's name (`sapphirerapids`, `x86-64-v3`).
    pub name: String,
    /// Its features (`+avx2,+fma,...`); empty: the name's defaults.
    pub features: String,
}

impl Cpu {
    /// Lanes of f64 in one vector register: 8 with AVX-512, 4 with AVX, 2
    /// with SSE2 (every x86-64).
    pub fn register_lanes(&self) -> u32 {
        let has = |f: &str| self.features.split(',').any(|x| x == f);
        if has("+avx512f") || self.name == "x86-64-v4" {
            8
        } else if has("+avx") || self.name == "x86-64-v3" {
            4
        } else {
            2
        }
    }

    /// Lanes of the vector loops: two registers' worth. Each operation on
    /// a value is then two independent instructions, which keeps both
    /// halves' dependency chains (Philox's rounds, a polynomial's Horner
    /// steps) in flight at once: 10 % less time than one register on
    /// COBAHH and the noise benchmark, no slower on memory-bound steps
    /// (bench/RESULTS.md).
    pub fn lanes(&self) -> u32 {
        2 * self.register_lanes()
    }

    /// The CPU `name` names for executables built for other machines: an
    /// x86-64 level (`x86-64`, `x86-64-v2` with SSE4.2, `x86-64-v3` with
    /// AVX2, `x86-64-v4` with AVX-512), or `host` for this machine's.
    pub fn named(name: &str) -> Result<Cpu, String> {
        match name {
            "host" => Ok(Cpu::host()),
            "x86-64" | "x86-64-v2" | "x86-64-v3" | "x86-64-v4" => Ok(Cpu {
                name: name.to_string(),
                features: String::new(),
            }),
            other => Err(format!(
                "--target-cpu {other}: not a CPU circ builds for; choose host (this machine, the default) or an x86-64 level: x86-64, x86-64-v2 (SSE4.2), x86-64-v3 (AVX2), x86-64-v4 (AVX-512)"
            )),
        }
    }

    /// This machine's CPU, as LLVM detects it.
    pub fn host() -> Cpu {
        Cpu {
            name: TargetMachine::get_host_cpu_name().to_string(),
            features: TargetMachine::get_host_cpu_features().to_string(),
        }
    }
}

/// A machine for `cpu`.
fn machine(cpu: &Cpu, reloc: RelocMode) -> Result<TargetMachine, CodegenError> {
    Target::initialize_native(&InitializationConfig::default()).map_err(CodegenError)?;
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| CodegenError(e.to_string()))?;
    target
        .create_target_machine(
            &triple,
            &cpu.name,
            &cpu.features,
            OptimizationLevel::Aggressive,
            reloc,
            CodeModel::Default,
        )
        .ok_or_else(|| CodegenError(format!("no target machine for CPU `{}`", cpu.name)))
}

/// Emits every function of `plan` into a new module, optimised for `tm`.
fn build<'ctx>(
    ctx: &'ctx Context,
    net: &Network,
    plan: &Plan,
    tm: &TargetMachine,
    cpu: &Cpu,
    linkage: Linkage,
) -> Result<(Module<'ctx>, Vec<String>), CodegenError> {
    let module = ctx.create_module("circ_model");
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    let shared = emit::Shared::new(ctx, &module, cpu.lanes())?;
    let mut names = vec![];
    for (f, function) in plan.functions.iter().enumerate() {
        let fv = emit::function(
            &shared,
            &module,
            &function.name,
            &plan.groups(net, f),
            plan.scratch(f),
            function.kind.runs_once(),
            linkage,
        )?;
        // The CPU on every function: MCJIT's own machine is generic.
        fv.add_attribute(
            AttributeLoc::Function,
            ctx.create_string_attribute("target-cpu", &cpu.name),
        );
        if !cpu.features.is_empty() {
            fv.add_attribute(
                AttributeLoc::Function,
                ctx.create_string_attribute("target-features", &cpu.features),
            );
        }
        if cpu.register_lanes() == 8 {
            // Intel's tuning prefers 256-bit vectors; the explicit vector
            // loop asks for whole 512-bit registers.
            for key in ["prefer-vector-width", "min-legal-vector-width"] {
                fv.add_attribute(
                    AttributeLoc::Function,
                    ctx.create_string_attribute(key, "512"),
                );
            }
        }
        names.push(function.name.clone());
    }
    module
        .verify()
        .map_err(|e| CodegenError(format!("invalid module: {e}")))?;
    module
        .run_passes("default<O3>", tm, PassBuilderOptions::create())
        .map_err(|e| CodegenError(e.to_string()))?;
    Ok((module, names))
}

self_cell::self_cell!(
    /// The context and the engine that owns the compiled code.
    struct Owned {
        owner: Context,
        #[not_covariant]
        dependent: Engine,
    }
);

type Engine<'a> = inkwell::execution_engine::ExecutionEngine<'a>;

/// A network's functions compiled by LLVM.
pub struct JitCode {
    /// One pointer per function of the plan, in its order.
    pub fns: Vec<KernelFn>,
    /// Which function runs what (the plan's map).
    pub map: KernelMap,
    /// What owns the code: keep it while `fns` are used.
    pub module: Box<dyn std::any::Any>,
    /// Each function's optimised LLVM IR, when asked for (`--emit llvm`).
    pub listing: Vec<(String, String)>,
}

/// Compiles every function of `plan` (made from `net`) for `cpu` with
/// MCJIT; `keep_ir` keeps each function's optimised LLVM IR as text.
pub fn compile(
    net: &Network,
    plan: &Plan,
    cpu: &Cpu,
    keep_ir: bool,
) -> Result<JitCode, CodegenError> {
    let tm = machine(cpu, RelocMode::Default)?;
    let mut listing = vec![];
    let mut addrs: Vec<usize> = vec![];
    let owned = Owned::try_new(
        Context::create(),
        |ctx| -> Result<Engine<'_>, CodegenError> {
            let (module, names) = build(ctx, net, plan, &tm, cpu, Linkage::External)?;
            if keep_ir {
                for n in &names {
                    if let Some(f) = module.get_function(n) {
                        listing.push((n.clone(), f.print_to_string().to_string()));
                    }
                }
            }
            let engine = module
                .create_jit_execution_engine(OptimizationLevel::Aggressive)
                .map_err(|e| CodegenError(e.to_string()))?;
            for s in circ_native::env::SYMBOLS {
                if let Some(f) = module.get_function(s.name) {
                    engine.add_global_mapping(&f, s.addr as usize);
                }
            }
            for n in &names {
                let a = engine
                    .get_function_address(n)
                    .map_err(|e| CodegenError(format!("{n}: {e}")))?;
                addrs.push(a);
            }
            Ok(engine)
        },
    )?;
    let fns = addrs
        .into_iter()
        .map(|a| {
            // SAFETY: every function was defined with the signature
            // `fn(*const Env)`, and `owned` keeps its code alive.
            #[allow(unsafe_code)]
            unsafe {
                std::mem::transmute::<usize, KernelFn>(a)
            }
        })
        .collect();
    Ok(JitCode {
        fns,
        map: plan.map.clone(),
        module: Box::new(owned),
        listing,
    })
}

/// Compiles every function of `plan` (made from `net`) for `cpu` into a
/// relocatable, position-independent object file with the symbols the
/// Cranelift backend's objects have (`circ_kernel_table`: the functions'
/// addresses in the plan's order, `circ_kernel_count`, and `data` as
/// `circ_model_data` with its length in `circ_model_data_len`), so the same
/// runner loads either. Draws, tables and remainders import the `circ_*`
/// functions the runner defines.
pub fn object(
    net: &Network,
    plan: &Plan,
    cpu: &Cpu,
    data: Vec<u8>,
) -> Result<Vec<u8>, CodegenError> {
    let tm = machine(cpu, RelocMode::PIC)?;
    let ctx = Context::create();
    let (module, names) = build(&ctx, net, plan, &tm, cpu, Linkage::External)?;
    let ptr = ctx.ptr_type(inkwell::AddressSpace::default());
    let i64t = ctx.i64_type();
    let fns: Vec<_> = names
        .iter()
        .map(|n| {
            module
                .get_function(n)
                .map(|f| f.as_global_value().as_pointer_value())
                .ok_or_else(|| CodegenError(format!("no function {n}")))
        })
        .collect::<Result<_, _>>()?;
    fn global<'ctx>(
        module: &Module<'ctx>,
        name: &str,
        value: &dyn inkwell::values::BasicValue<'ctx>,
        ty: inkwell::types::BasicTypeEnum<'ctx>,
    ) {
        let g = module.add_global(ty, None, name);
        g.set_initializer(value);
        g.set_constant(true);
        g.set_linkage(Linkage::External);
        g.set_alignment(8);
    }
    let table = ptr.const_array(&fns);
    global(
        &module,
        OBJECT_SYMBOLS[0],
        &table,
        ptr.array_type(fns.len() as u32).as_basic_type_enum(),
    );
    let count = i64t.const_int(fns.len() as u64, false);
    global(
        &module,
        OBJECT_SYMBOLS[1],
        &count,
        i64t.as_basic_type_enum(),
    );
    let len = data.len() as u64;
    let mut blob = data;
    blob.push(0); // never empty
    let bytes = ctx.const_string(&blob, false);
    global(
        &module,
        OBJECT_SYMBOLS[2],
        &bytes,
        bytes.get_type().as_basic_type_enum(),
    );
    let len = i64t.const_int(len, false);
    global(&module, OBJECT_SYMBOLS[3], &len, i64t.as_basic_type_enum());
    let buf = tm
        .write_to_memory_buffer(&module, FileType::Object)
        .map_err(|e| CodegenError(e.to_string()))?;
    Ok(buf.as_slice().to_vec())
}

/// Symbols of an object file from [`object`] (as Cranelift's objects).
pub const OBJECT_SYMBOLS: [&str; 4] = [
    "circ_kernel_table",
    "circ_kernel_count",
    "circ_model_data",
    "circ_model_data_len",
];
