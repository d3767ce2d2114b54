//! circ-backends owns the registry of backends: their names, what each can
//! do, and how each turns a lowered network into something the runtime
//! steps (a `Backend`) or into an object file for an executable. `circ run`,
//! `circ build`, the REPL and the tests all choose from [`BACKENDS`], so a
//! new code generator is added here and nowhere else. It must not contain
//! code generation or execution itself, read the environment or print.

use circ_ir::Network;
use circ_ir::plan::{KernelMap, Plan};
use circ_runtime::Backend;

/// What a backend is and can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Its name on the command line (`--backend NAME`).
    pub name: &'static str,
    /// Its name in `summary.json`.
    pub label: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    /// Whether it splits kernels across threads.
    pub threads: bool,
    /// Whether `circ build` can make executables with it (and the label
    /// those report).
    pub executable: Option<&'static str>,
    /// The name of the code listing it can keep (`--emit NAME`), if any.
    pub listing: Option<&'static str>,
}

impl Info {
    /// Whether it can run on `threads` threads (a message naming the flag
    /// and a backend that can, if not).
    pub fn check_threads(&self, threads: usize) -> Result<(), String> {
        if threads > 1 && !self.threads {
            return Err(format!(
                "--threads: the {} backend runs on one thread; use --backend {}",
                self.name, BACKENDS[0].name
            ));
        }
        Ok(())
    }
}

/// Every backend, the default first.
pub const BACKENDS: &[Info] = &[
    Info {
        name: "auto",
        label: "auto",
        summary: "Cranelift's code at once, then LLVM's when it is compiled (the default; the same values)",
        threads: true,
        // Executables take LLVM's code when it is built in.
        executable: Some(if cfg!(feature = "llvm") {
            "llvm-native"
        } else {
            "cranelift-native"
        }),
        listing: None,
    },
    Info {
        name: "jit",
        label: "cranelift-jit",
        summary: "native code from Cranelift's JIT (starts at once)",
        threads: true,
        executable: Some("cranelift-native"),
        listing: Some("clif"),
    },
    Info {
        name: "llvm",
        label: "llvm-jit",
        summary: "native code optimised by LLVM 19 for this CPU (slower to build, faster to run)",
        threads: true,
        executable: Some("llvm-native"),
        listing: Some("llvm"),
    },
    Info {
        name: "gpu",
        label: "spirv-vulkan",
        summary: "the whole network on a Vulkan GPU with f64 (SPIR-V; the interpreter's bits); populations only so far",
        threads: false,
        executable: None,
        listing: Some("spirv"),
    },
    Info {
        name: "interp",
        label: "interp",
        summary: "the reference interpreter, one thread (the oracle)",
        threads: false,
        executable: None,
        listing: None,
    },
];

/// How backend `name` runs each function of `net`'s plan: per function,
/// its name and either the width of its vector loop or why it has none
/// (`circ run --explain-backend`). `auto` is described as LLVM's code,
/// which it runs once compiled.
pub fn explain(name: &str, net: &Network) -> Result<Vec<(String, String)>, String> {
    let info = info(name).ok_or_else(|| unknown(name))?;
    let (lanes, regs, what) = match info.name {
        "interp" => return Ok(vec![]),
        "jit" => (2, String::new(), "Cranelift"),
        #[cfg(feature = "llvm")]
        "llvm" | "auto" => {
            let cpu = circ_codegen_llvm::Cpu::host();
            let regs = format!(" (two registers of {})", cpu.register_lanes());
            (cpu.lanes(), regs, "LLVM")
        }
        #[cfg(not(feature = "llvm"))]
        "auto" => (2, String::new(), "Cranelift"),
        #[cfg(not(feature = "llvm"))]
        "llvm" => return Err(WITHOUT_LLVM.into()),
        other => return Err(unknown(other)),
    };
    let plan = Plan::new(net);
    Ok(plan
        .functions
        .iter()
        .enumerate()
        .map(|(f, func)| {
            let how = match plan.vector_loop(net, f) {
                Ok(()) => format!("{what}: vector loop of {lanes} x f64{regs}, then one at a time"),
                Err(why) => format!("{what}: one element at a time: {why}"),
            };
            (func.name.clone(), how)
        })
        .collect())
}

/// Every function of `net`'s plan as SPIR-V text (`circ run --emit
/// spirv`), or why the SPIR-V generator does not translate it yet.
pub fn spirv(net: &Network) -> Vec<(String, Result<String, String>)> {
    let plan = Plan::new(net);
    (0..plan.functions.len())
        .map(|f| {
            // Projection kernels (but those computed once) run as the GPU
            // executor runs them: over neurons or each neuron's synapses.
            let projection = matches!(plan.functions[f].kind, circ_ir::plan::FnKind::Proj(..))
                && plan.functions[f].domain != circ_ir::Domain::Once;
            let (words, why) = if projection {
                (
                    circ_codegen_spirv::projection(net, &plan, f),
                    circ_codegen_spirv::projection_supported(net, &plan, f),
                )
            } else {
                (
                    circ_codegen_spirv::compile(net, &plan, f),
                    circ_codegen_spirv::supported(net, &plan, f),
                )
            };
            let text = words
                .and_then(|w| circ_codegen_spirv::listing(&w))
                .map_err(|e| why.err().unwrap_or_else(|| e.to_string()));
            (plan.functions[f].name.clone(), text)
        })
        .collect()
}

/// The backend called `name`.
pub fn info(name: &str) -> Option<&'static Info> {
    BACKENDS.iter().find(|b| b.name == name)
}

/// How a backend runs: data that the command line or a test fills.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Threads to split kernels across (backends without threads need 1).
    pub threads: usize,
    /// Native executors: kernels under this many elements run on the
    /// calling thread (`None`: the executor's default; 1 splits every kernel).
    pub min_parallel: Option<usize>,
    /// Native executors: whether fused population steps run.
    pub fusion: bool,
    /// Keep a listing of the generated code (`--emit clif`).
    pub listing: bool,
    /// `auto`: switch to LLVM's code exactly before this step, waiting for
    /// it (for tests); `None`: as soon as it is ready.
    pub swap_at: Option<u64>,
    /// `gpu`: read and write every device buffer through staging copies,
    /// as on a discrete GPU, even where the host could map it (for tests
    /// on lavapipe).
    pub gpu_staged: bool,
    /// `gpu`: record the commands that may run together last to first (for
    /// tests on lavapipe, which runs them in order: a dependency between
    /// them changes the results).
    pub gpu_reversed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threads: 1,
            min_parallel: None,
            fusion: true,
            listing: false,
            swap_at: None,
            gpu_staged: false,
            gpu_reversed: false,
        }
    }
}

/// A backend ready to run a network.
pub struct Instance<'a> {
    /// What the runtime steps.
    pub backend: Box<dyn Backend + 'a>,
    /// Its registry entry.
    pub info: &'static Info,
    /// The generated code of each function, when asked for (name, text).
    pub listing: Vec<(String, String)>,
}

/// Makes backend `name` for `net` (whose data tables are `tables`).
pub fn instantiate<'a>(
    name: &str,
    net: &'a Network,
    tables: Vec<Vec<f64>>,
    s: &Settings,
) -> Result<Instance<'a>, String> {
    let info = info(name).ok_or_else(|| unknown(name))?;
    info.check_threads(s.threads)?;
    let opts = circ_native::Options {
        threads: s.threads,
        min_parallel: s.min_parallel,
        fusion: s.fusion,
    };
    let (backend, listing): (Box<dyn Backend + 'a>, _) = match info.name {
        "interp" => (
            Box::new(circ_interp::Interp::with_tables(net, tables)),
            vec![],
        ),
        "auto" => {
            let plan = Plan::new(net);
            let code =
                circ_codegen_cranelift::compile(net, &plan, false).map_err(|e| e.to_string())?;
            let n = native(net, tables, &code.map, &code.fns, code.module, &opts)?;
            #[cfg(feature = "llvm")]
            n.set_upgrade(llvm_in_background(net, s.swap_at));
            (Box::new(n), vec![])
        }
        "jit" => {
            let plan = Plan::new(net);
            let code = circ_codegen_cranelift::compile(net, &plan, s.listing)
                .map_err(|e| e.to_string())?;
            let n = native(net, tables, &code.map, &code.fns, code.module, &opts)?;
            (Box::new(n), code.clif)
        }
        #[cfg(not(feature = "llvm"))]
        "llvm" => return Err(WITHOUT_LLVM.into()),
        #[cfg(feature = "llvm")]
        "llvm" => {
            let plan = Plan::new(net);
            let code =
                circ_codegen_llvm::compile(net, &plan, &circ_codegen_llvm::Cpu::host(), s.listing)
                    .map_err(|e| e.to_string())?;
            let n = native(net, tables, &code.map, &code.fns, code.module, &opts)?;
            (Box::new(n), code.listing)
        }
        #[cfg(not(feature = "gpu"))]
        "gpu" => return Err(WITHOUT_GPU.into()),
        #[cfg(feature = "gpu")]
        "gpu" => {
            // Initial values and connections are computed here, by
            // Cranelift's code (the same bits); the steps on the device.
            let plan = Plan::new(net);
            let exec = gpu_executor(net, &plan, &tables, s)?;
            let code =
                circ_codegen_cranelift::compile(net, &plan, false).map_err(|e| e.to_string())?;
            let cpu = native(net, tables, &code.map, &code.fns, code.module, &opts)?;
            (Box::new(OnGpu { cpu, exec }), vec![])
        }
        other => return Err(unknown(other)),
    };
    Ok(Instance {
        backend,
        info,
        listing,
    })
}

/// Why `net` cannot run on the GPU backend, if it cannot: the first
/// projection or function it does not run yet (no device needed).
pub fn gpu_unsupported(net: &Network) -> Option<String> {
    #[cfg(feature = "gpu")]
    {
        let plan = Plan::new(net);
        gpu_modules(net, &plan, &|m| {
            circ_gpu::exec::check(net, &plan, m).map_err(|e| e.0)
        })
        .err()
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = net;
        Some(WITHOUT_GPU.into())
    }
}

#[cfg(not(feature = "gpu"))]
const WITHOUT_GPU: &str =
    "--backend gpu: this circ was built without the GPU backend (cargo feature `gpu`)";

/// The SPIR-V generator's modules for `net`, handed to `with`.
#[cfg(feature = "gpu")]
fn gpu_modules<T>(
    net: &Network,
    plan: &Plan,
    with: &dyn Fn(&circ_gpu::exec::Modules<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let function = |f: usize| {
        circ_codegen_spirv::supported(net, plan, f)?;
        circ_codegen_spirv::compile(net, plan, f).map_err(|e| e.to_string())
    };
    let projection = |f: usize| {
        circ_codegen_spirv::projection_supported(net, plan, f)?;
        circ_codegen_spirv::projection(net, plan, f).map_err(|e| e.to_string())
    };
    let apply = |nv: u32, accs: &[u32], held: &[u32], flag: Option<u32>| {
        circ_codegen_spirv::apply_events_module(nv, accs, held, flag).map_err(|e| e.to_string())
    };
    let modules = circ_gpu::exec::Modules {
        function: &function,
        projection: &projection,
        apply: &apply,
        refractory: circ_codegen_spirv::refractory_module().map_err(|e| e.to_string())?,
        mark: circ_codegen_spirv::mark_module().map_err(|e| e.to_string())?,
    };
    with(&modules)
}

/// The GPU's executor for `net`: the device opened, every function it
/// runs translated to SPIR-V and made a kernel.
#[cfg(feature = "gpu")]
fn gpu_executor(
    net: &Network,
    plan: &Plan,
    tables: &[Vec<f64>],
    s: &Settings,
) -> Result<circ_gpu::exec::Executor, String> {
    // What cannot run is said before the device is looked for.
    gpu_modules(net, plan, &|m| {
        circ_gpu::exec::check(net, plan, m).map_err(|e| e.0)
    })
    .map_err(|e| format!("--backend gpu: {e}"))?;
    let mut gpu = circ_gpu::Gpu::open().map_err(|e| format!("--backend gpu: {e}"))?;
    if s.gpu_staged {
        gpu = gpu.staged();
    }
    // The synapses the rules will make, before hours go into making them
    // (delay rings counted at one slot: the executor checks again, exactly,
    // once they are built).
    let synapses: Vec<f64> = net
        .layout
        .projs
        .iter()
        .map(|p| circ_runtime::sim::expected_synapses(&net.layout, p))
        .collect();
    let need = circ_gpu::exec::device_bytes(&net.layout, &synapses, &[]);
    circ_gpu::exec::fits(&gpu, need, synapses.iter().sum())
        .map_err(|e| format!("--backend gpu: {e}"))?;
    use circ_codegen_spirv::push;
    let layout = circ_gpu::exec::PushLayout {
        table: push::TABLE,
        start: push::START,
        count: push::COUNT,
        t: push::T,
        dt: push::DT,
        step: push::STEP,
        seed: push::SEED,
        ref_until: push::REF_UNTIL,
        spikes: push::SPIKES,
        refr: push::REFR,
        ring: push::RING,
        words: push::WORDS,
        lanes: push::LANES,
        data: push::DATA,
        size: push::SIZE,
        local_size: circ_codegen_spirv::LOCAL_SIZE,
    };
    gpu_modules(net, plan, &|m| {
        let e = circ_gpu::exec::Executor::new(gpu.clone(), net, plan, layout, m, tables.to_vec())
            .map_err(|e| e.0)?;
        Ok(if s.gpu_reversed { e.reversed() } else { e })
    })
    .map_err(|e| format!("--backend gpu: {e}"))
}

/// The GPU backend: Cranelift's code for what runs once on the host
/// (initial values, connection rules), the device for every step.
#[cfg(feature = "gpu")]
struct OnGpu<'a> {
    cpu: circ_native::Native<'a>,
    exec: circ_gpu::exec::Executor,
}

#[cfg(feature = "gpu")]
impl Backend for OnGpu<'_> {
    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &circ_runtime::StepCtx<'_>) {
        self.cpu.init(pop, vars, ctx);
    }
    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &circ_runtime::StepCtx<'_>) {
        self.cpu.dynamic(pop, vars, ctx);
    }
    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &circ_runtime::StepCtx<'_>) {
        self.cpu.update(pop, vars, ctx);
    }
    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &circ_runtime::StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        self.cpu.threshold(pop, vars, ctx, spikes);
    }
    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &circ_runtime::StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    ) {
        self.cpu.reset(pop, vars, ctx, spiking, refractory);
    }
    fn proj(
        &self,
        proj: usize,
        phase: circ_runtime::sim::ProjPhase,
        ctx: &mut circ_runtime::sim::ProjCtx<'_>,
    ) -> bool {
        self.cpu.proj(proj, phase, ctx)
    }
    fn proj_filter(
        &self,
        proj: usize,
        i: u32,
        j: u32,
        pre: &[Vec<f64>],
        post: &[Vec<f64>],
        seed: u64,
    ) -> bool {
        self.cpu.proj_filter(proj, i, j, pre, post, seed)
    }
    fn new_network(&self) {
        self.cpu.new_network();
    }
    fn fusion(&self) -> circ_runtime::sim::Fusion {
        self.exec.fusion()
    }
    fn resident(&self) -> Option<&dyn circ_runtime::Resident> {
        Some(&self.exec)
    }
    fn note(&self) -> Option<String> {
        Some(format!("steps on {}", self.exec.device()))
    }
}

/// The native executor running `fns` (made for `map`), whose code `module` owns.
fn native<'a>(
    net: &'a Network,
    tables: Vec<Vec<f64>>,
    map: &KernelMap,
    fns: &[circ_native::KernelFn],
    module: Box<dyn std::any::Any>,
    opts: &circ_native::Options,
) -> Result<circ_native::Native<'a>, String> {
    circ_native::Native::new(net, tables, map, fns, Some(module), opts).map_err(|e| e.to_string())
}

/// Compiles `net` with LLVM on a thread of its own, for the `auto`
/// backend to swap in; the thread keeps the code until the executor drops
/// its `keep`.
#[cfg(feature = "llvm")]
fn llvm_in_background(net: &Network, at: Option<u64>) -> circ_native::Upgrade {
    let (tx, rx) = std::sync::mpsc::channel();
    let (keep, dropped) = std::sync::mpsc::channel::<()>();
    let net = net.clone();
    let spawned = std::thread::Builder::new()
        .name("circ-llvm".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let plan = Plan::new(&net);
            match circ_codegen_llvm::compile(&net, &plan, &circ_codegen_llvm::Cpu::host(), false) {
                Ok(code) => {
                    let secs = started.elapsed().as_secs_f64();
                    if tx.send(Ok((code.fns.clone(), secs))).is_ok() {
                        // Until the executor is gone.
                        let _ = dropped.recv();
                    }
                    drop(code);
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => {
            // No thread: the executor keeps Cranelift's code, and says why.
            let (tx, rx2) = std::sync::mpsc::channel();
            let _ = tx.send(Err(format!("cannot start the LLVM thread: {e}")));
            return circ_native::Upgrade {
                fns: rx2,
                keep: Box::new(()),
                at,
                label: "llvm",
            };
        }
    };
    circ_native::Upgrade {
        fns: rx,
        keep: Box::new(Keeper {
            keep: Some(keep),
            thread: Some(handle),
        }),
        at,
        label: "llvm",
    }
}

/// Keeps the LLVM thread's code alive; dropped, it lets the thread free the
/// code and waits for it: no LLVM work outlives the executor (a process
/// that exits while LLVM runs on another thread can crash in LLVM's
/// static destructors).
#[cfg(feature = "llvm")]
struct Keeper {
    keep: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(feature = "llvm")]
impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.keep.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compiles `net` with backend `name` into an object file for an
/// executable; `data` serialises what the executable embeds, given the map
/// of its functions. `target_cpu` (LLVM only) names the CPU the code is for
/// (`x86-64-v3`, `skylake-avx512`; default: this machine's).
pub fn object(
    name: &str,
    net: &Network,
    target_cpu: Option<&str>,
    data: impl FnOnce(&KernelMap) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let info = info(name).ok_or_else(|| unknown(name))?;
    if info.executable.is_none() {
        return Err(format!(
            "the {} backend cannot make executables; use --backend {}",
            info.name, BACKENDS[0].name
        ));
    }
    let plan = Plan::new(net);
    let bytes = data(&plan.map)?;
    let llvm = info.name == "llvm" || (info.name == "auto" && cfg!(feature = "llvm"));
    if target_cpu.is_some() && !llvm {
        return Err(format!(
            "--target-cpu chooses the CPU of LLVM's code; the {} backend makes code for this machine (use --backend llvm)",
            info.name
        ));
    }
    match info.name {
        #[cfg(feature = "llvm")]
        "llvm" | "auto" => {
            let cpu = match target_cpu {
                Some(name) => circ_codegen_llvm::Cpu::named(name)?,
                None => circ_codegen_llvm::Cpu::host(),
            };
            circ_codegen_llvm::object(net, &plan, &cpu, bytes).map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "llvm"))]
        "llvm" => Err(WITHOUT_LLVM.into()),
        #[cfg(feature = "llvm")]
        "jit" => circ_codegen_cranelift::object(net, &plan, bytes).map_err(|e| e.to_string()),
        #[cfg(not(feature = "llvm"))]
        "jit" | "auto" => {
            circ_codegen_cranelift::object(net, &plan, bytes).map_err(|e| e.to_string())
        }
        other => Err(unknown(other)),
    }
}

/// What `--backend llvm` says when circ was built without it.
#[cfg(not(feature = "llvm"))]
const WITHOUT_LLVM: &str = "this circ was built without LLVM (cargo feature `llvm` of circ-backends, on by default); use --backend jit, or rebuild with LLVM 19 installed (scripts/install-deps)";

fn unknown(name: &str) -> String {
    let names: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
    format!(
        "there is no backend `{name}` (there are: {})",
        names.join(", ")
    )
}
