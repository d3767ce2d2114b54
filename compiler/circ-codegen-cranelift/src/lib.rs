//! circ-codegen-cranelift compiles IR kernels to native code with
//! Cranelift's JIT, one function per kernel, each looping over its
//! elements. It owns code generation only: the schedule stays in the
//! runtime, and math functions, table reads and random draws call the same
//! Rust implementations as the interpreter, so results are bit-identical.
//! It must not change what a kernel computes or the order it visits elements.

mod emit;
mod env;
mod pool;

pub use emit::Writes;
pub use env::Env;
/// The functions compiled kernels call, for executables to export by name.
pub mod math {
    pub use crate::env::*;
}

use circ_interp::Interp;
use circ_ir::{Domain, Kernel, Network, Space, step_invariant};
use circ_runtime::layout::ProjLayout;
use circ_runtime::sim::{Backend, Fusion, ProjCtx, ProjPhase, StepCtx};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::Module;
use emit::{Addr, Compiled, Target};

/// A compiled kernel: `fn(env: *const Env)`.
pub type KernelFn = unsafe extern "C" fn(*const Env);

/// A projection's split of its rows by postsynaptic block: the number of
/// blocks, and for each presynaptic neuron the `blocks + 1` synapse indices
/// where its row enters each block (and ends).
type RowCuts = (usize, Vec<u32>);

/// `env` over synapses `a..b` given as a range (no list).
fn range_env(env: &Env, a: u32, b: u32) -> Env {
    Env {
        list: std::ptr::null(),
        start: u64::from(a),
        count: u64::from(b),
        ..*env
    }
}

/// Calls a compiled kernel.
fn call(f: KernelFn, env: &Env) {
    // SAFETY: every pointer in `env` refers to a live buffer of the sizes the
    // kernel's domain indexes (the runtime sized them from the layout and
    // the synapses), and concurrent calls get disjoint slices (`Jit::launch`).
    #[allow(unsafe_code)]
    unsafe {
        f(env)
    }
}

/// Why compilation failed (an internal error: the IR was verified).
#[derive(Debug)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

/// Below this many elements a kernel runs on the calling thread: handing
/// work to the pool costs more than it saves. The environment variable
/// `CIRC_MIN_PARALLEL` overrides it (tests set 1 to split every kernel).
const MIN_PARALLEL: usize = 4096;

/// The same for a step's arriving synapses (rows of them): a synapse costs
/// a few nanoseconds and handing rows to the waiting workers about a
/// microsecond. `CIRC_MIN_PARALLEL` overrides it too.
const MIN_PARALLEL_ARRIVALS: usize = 1024;

/// A compiled kernel and what decides how threads may split it.
#[derive(Clone, Copy)]
struct K {
    f: KernelFn,
    domain: Domain,
    writes: Writes,
    /// Its position among its phase's kernels, which picks its random streams.
    n: usize,
}

struct PopFns {
    init: Option<K>,
    dynamic: Option<K>,
    /// `dynamic` gives the same values every step: it runs at the start only.
    steady: bool,
    drive: Option<K>,
    update: Option<K>,
    threshold: Option<K>,
    reset: Option<K>,
}

struct ProjFns {
    init: Vec<K>,
    dynamic: Option<K>,
    /// `dynamic` gives the same values every step (its initialiser sets them).
    steady: bool,
    couple: Vec<K>,
    update: Vec<K>,
    on_pre: Vec<K>,
    on_post: Vec<K>,
    /// Per phase (init, dynamic, couple, update, on pre, on post): the
    /// variables its kernels name; only their addresses are passed.
    used: [Vec<u32>; 6],
}

/// The variables any of `kernels` names, each once.
fn used_by<'k>(kernels: impl IntoIterator<Item = &'k Kernel>) -> Vec<u32> {
    let mut all: Vec<u32> = kernels
        .into_iter()
        .flat_map(|k| emit::vars_used(&k.body))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The JIT backend: every kernel of a network compiled to native code.
pub struct Jit<'a> {
    net: &'a Network,
    // Keeps JIT code alive while the function pointers are used (none for
    // kernels linked into an executable).
    _module: Option<JITModule>,
    pops: Vec<PopFns>,
    projs: Vec<ProjFns>,
    tables: Vec<Vec<f64>>,
    table_ptrs: Vec<*const f64>,
    table_lens: Vec<u64>,
    /// Connection conditions run once, when synapses are made: the
    /// interpreter evaluates them with the same definitions.
    filters: Interp<'a>,
    /// The generated code of each kernel, for `--emit clif`.
    pub clif: Vec<(String, String)>,
    /// Worker threads (`None`: run everything on the calling thread).
    pool: Option<pool::SpinPool>,
    threads: usize,
    /// Kernels over fewer elements run on the calling thread.
    min_parallel: usize,
    /// Per projection, once its arrivals were split by postsynaptic block:
    /// the number of blocks and each presynaptic neuron's bounds in them.
    row_cuts: std::cell::RefCell<Vec<Option<RowCuts>>>,
    /// Arrivals (rows of synapses) at fewer synapses run on the calling
    /// thread: lower than `min_parallel`, since a split costs a microsecond
    /// and a synapse a few nanoseconds.
    min_parallel_arrivals: usize,
    /// Per population: its fused step, if any.
    fused: Vec<Option<(KernelFn, Vec<FusedPart>)>>,
    /// What the fused steps cover.
    fusion: Fusion,
    /// Buffers reused from call to call.
    scratch: std::cell::RefCell<Scratch>,
}

/// Buffers a backend call fills and the next reuses (no allocation per step).
#[derive(Default)]
struct Scratch {
    /// Buffer addresses the kernels' `Env`s point into.
    ptrs: Vec<*mut f64>,
    /// Where each fused projection's addresses start in `ptrs`.
    offsets: Vec<(usize, usize)>,
    /// A fused step's `Env`s, one per part.
    envs: Vec<Env>,
    /// Where thresholds append the elements that fire (each slice of
    /// elements in its own part), and how many each slice appended.
    list: Vec<u32>,
    counts: Vec<u64>,
}

fn isa() -> Result<cranelift_codegen::isa::OwnedTargetIsa, CodegenError> {
    isa_with(false)
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

/// Which compiled kernel (an index into the module's kernels) runs each part
/// of a network, and what decides how threads may split each: what an
/// executable needs besides the code itself.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KernelMap {
    /// Per population: init, dynamic, drive, update, threshold, reset.
    pub pops: Vec<[Option<usize>; 6]>,
    /// Per projection: init, dynamic, couple, update, on pre, on post, each
    /// as (position among the phase's kernels, kernel).
    pub projs: Vec<[Vec<(usize, usize)>; 6]>,
    /// Per kernel: its domain.
    pub domains: Vec<Domain>,
    /// Per kernel: what it writes besides its own element's places.
    pub writes: Vec<Writes>,
    /// Per kernel: its symbol.
    pub names: Vec<String>,
    /// Per population: its fused step, if it has one.
    pub fused: Vec<Option<FusedStep>>,
}

/// A population's step as one compiled pass over its neurons: the kernel,
/// and its parts in the order of the `Env`s it reads (one each).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FusedStep {
    /// The compiled pass.
    pub kernel: usize,
    /// Its parts.
    pub parts: Vec<FusedPart>,
}

/// One kernel of a fused step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FusedPart {
    /// Zeroes the population's inputs (the runtime then leaves them alone).
    ZeroInputs,
    /// The population's update.
    Update,
    /// The population's threshold.
    Threshold,
    /// Coupling kernel `n` of projection `proj`.
    Couple {
        /// The projection.
        proj: usize,
        /// Its position among the projection's couplings.
        n: usize,
    },
    /// Equation kernel `n` of projection `proj`.
    ProjUpdate {
        /// The projection.
        proj: usize,
        /// Its position among the projection's equation kernels.
        n: usize,
    },
}

/// Whether a population's update and threshold may run in one pass: both
/// visit every neuron and write only that neuron's values.
fn fusable_pop(k: &circ_ir::PopKernels, addrs: &[Addr]) -> bool {
    let parts: Vec<&Kernel> = std::iter::once(&k.update)
        .chain(k.threshold.as_ref())
        .filter(|k| !k.body.is_empty())
        .collect();
    !parts.is_empty()
        && parts.iter().all(|k| {
            let mut written = vec![];
            circ_ir::written_vars(&k.body, &mut written);
            k.domain == Domain::Each
                && written
                    .iter()
                    .all(|&v| addrs.get(v as usize) == Some(&Addr::Element))
        })
}

/// Whether a projection's couplings and equations may run inside its
/// postsynaptic population's pass: each visits the postsynaptic neurons,
/// reads only that neuron's values and scalars of its own, and writes only
/// that neuron's values (equations never add into the neuron).
fn fusable_proj(
    k: &circ_ir::ProjKernels,
    layout: &ProjLayout,
    addrs: &[Addr],
    targets: &[Target],
) -> bool {
    let couple = k.couple.iter().filter(|k| !k.body.is_empty());
    let update = k.update.iter().filter(|k| !k.body.is_empty());
    let fits = |k: &Kernel, may_add: bool| {
        let mut written = vec![];
        circ_ir::written_vars(&k.body, &mut written);
        k.domain == Domain::PostNeurons
            && emit::vars_used(&k.body).iter().all(|&v| {
                let local = matches!(
                    layout.vars.get(v as usize).map(|x| x.space),
                    Some(Space::Scalar | Space::PostState | Space::PostNeuron(_))
                );
                local && matches!(addrs.get(v as usize), Some(Addr::Zero | Addr::Post))
            })
            && written.iter().all(|&v| match targets.get(v as usize) {
                Some(Target::Acc(..)) => may_add,
                _ => addrs.get(v as usize) == Some(&Addr::Post),
            })
    };
    let mut any = false;
    for c in couple {
        any = true;
        if !fits(c, true) {
            return false;
        }
    }
    for u in update {
        any = true;
        if !fits(u, false) {
            return false;
        }
    }
    any
}

/// How a population's kernels address its variables: scalars at 0, the rest
/// by element; they write their own buffers.
fn pop_view(layout: &circ_runtime::layout::PopLayout) -> (Vec<Addr>, Vec<Target>) {
    let addrs = layout
        .vars
        .iter()
        .map(|v| if v.scalar { Addr::Zero } else { Addr::Element })
        .collect();
    (addrs, layout.vars.iter().map(|_| Target::Own).collect())
}

/// Compiles every kernel of `net` into `module`.
fn compile_all(
    module: &mut impl Module,
    compiled: &mut Compiled,
    net: &Network,
) -> Result<KernelMap, CodegenError> {
    let mut map = KernelMap::default();
    for (p, (layout, k)) in net.layout.pops.iter().zip(&net.pops).enumerate() {
        let (addrs, targets) = pop_view(layout);
        let mut one = |k: Option<&Kernel>, what: &str| -> Result<Option<usize>, CodegenError> {
            match k {
                Some(k) if !k.body.is_empty() => {
                    let name = format!("circ_k_pop{p}_{what}");
                    map.names.push(name.clone());
                    compiled
                        .kernel(module, &name, k, &addrs, &targets)
                        .map(Some)
                }
                _ => Ok(None),
            }
        };
        map.pops.push([
            one(Some(&k.init), "init")?,
            one(Some(&k.dynamic), "dynamic")?,
            one(Some(&k.drive), "drive")?,
            one(Some(&k.update), "update")?,
            one(k.threshold.as_ref(), "threshold")?,
            one(k.reset.as_ref(), "reset")?,
        ]);
    }
    let mut proj_views = vec![];
    for (p, (layout, k)) in net.layout.projs.iter().zip(&net.projs).enumerate() {
        let pre_vars = &net.layout.pops[layout.pre].vars;
        let post_vars = &net.layout.pops[layout.post].vars;
        let addrs: Vec<Addr> = layout
            .vars
            .iter()
            .map(|v| match v.space {
                Space::Scalar => Addr::Zero,
                Space::Syn => Addr::Element,
                Space::PreState => Addr::Pre,
                Space::PostState => Addr::Post,
                Space::PreNeuron(pv) => {
                    if pre_vars[pv].scalar {
                        Addr::Zero
                    } else {
                        Addr::Pre
                    }
                }
                Space::PostNeuron(pv) => {
                    if post_vars[pv].scalar {
                        Addr::Zero
                    } else {
                        Addr::Post
                    }
                }
            })
            .collect();
        let targets: Vec<Target> = layout
            .vars
            .iter()
            .map(|v| match v.space {
                Space::PostNeuron(pv) => Target::Acc(
                    pv,
                    post_vars[pv].role == circ_runtime::layout::VarRole::Input,
                ),
                _ => Target::Own,
            })
            .collect();
        let mut list = |ks: &[Kernel], what: &str| -> Result<Vec<(usize, usize)>, CodegenError> {
            let mut out = vec![];
            for (n, k) in ks.iter().enumerate() {
                if !k.body.is_empty() {
                    let name = format!("circ_k_proj{p}_{what}{n}");
                    map.names.push(name.clone());
                    out.push((n, compiled.kernel(module, &name, k, &addrs, &targets)?));
                }
            }
            Ok(out)
        };
        map.projs.push([
            list(&k.init, "init")?,
            list(std::slice::from_ref(&k.dynamic), "dynamic")?,
            list(&k.couple, "couple")?,
            list(&k.update, "update")?,
            list(&k.on_pre, "on_pre")?,
            list(&k.on_post, "on_post")?,
        ]);
        proj_views.push((addrs, targets));
    }
    // Fused steps: a population's update and threshold, with the couplings
    // and equations of the projections onto it that stay at its neurons.
    for (p, (layout, k)) in net.layout.pops.iter().zip(&net.pops).enumerate() {
        let view = pop_view(layout);
        if !fusable_pop(k, &view.0) {
            map.fused.push(None);
            continue;
        }
        let couples = |j: usize| net.projs[j].couple.iter().any(|c| !c.body.is_empty());
        let mut projs: Vec<usize> = (0..net.projs.len())
            .filter(|&j| {
                let (a, t) = &proj_views[j];
                net.layout.projs[j].post == p
                    && fusable_proj(&net.projs[j], &net.layout.projs[j], a, t)
            })
            .collect();
        // Inputs are sums in projection order. When a projection that
        // couples into the population cannot be fused, its sum reaches the
        // inputs before the pass: fusing the others would add theirs after
        // it, out of order (a last-bit difference from the interpreter).
        if (0..net.projs.len())
            .any(|j| net.layout.projs[j].post == p && !projs.contains(&j) && couples(j))
        {
            projs.retain(|&j| !couples(j));
        }
        // Buffers, numbered across the step: the population's by variable,
        // then each projection's own after them; a projection's view of a
        // neuron value is that neuron buffer.
        let pop_bufs: Vec<u32> = (0..layout.vars.len() as u32).collect();
        let mut next = layout.vars.len() as u32;
        let proj_bufs: Vec<Vec<u32>> = projs
            .iter()
            .map(|&j| {
                net.layout.projs[j]
                    .vars
                    .iter()
                    .map(|v| match v.space {
                        Space::PostNeuron(pv) => pv as u32,
                        _ => {
                            next += 1;
                            next - 1
                        }
                    })
                    .collect()
            })
            .collect();
        let mut parts = vec![];
        let mut groups = vec![];
        // The step zeroes the inputs itself (no memory pass, and the first
        // sum added into a known +0) when nothing else adds into them before
        // it: every projection onto the population that couples is fused,
        // and its own time-dependent kernels leave inputs alone.
        let inputs: Vec<u32> = (0..layout.vars.len() as u32)
            .filter(|&v| layout.vars[v as usize].role == circ_runtime::layout::VarRole::Input)
            .collect();
        let mut before = vec![];
        circ_ir::written_vars(&k.dynamic.body, &mut before);
        circ_ir::written_vars(&k.drive.body, &mut before);
        let zero = Kernel {
            name: "zero_inputs".into(),
            domain: Domain::Each,
            temps: 0,
            body: inputs
                .iter()
                .map(|&v| circ_ir::Stmt::Store(v, circ_ir::Expr::Const(0.0)))
                .collect(),
        };
        let others_couple = (0..net.projs.len())
            .any(|j| net.layout.projs[j].post == p && !projs.contains(&j) && couples(j));
        if !inputs.is_empty()
            && !others_couple
            && inputs
                .iter()
                .all(|&v| !layout.vars[v as usize].scalar && !before.contains(&v))
        {
            parts.push(FusedPart::ZeroInputs);
            groups.push(emit::Group::Plain(part(&zero, &view, &pop_bufs)));
        }
        for (x, &j) in projs.iter().enumerate() {
            let mut group = vec![];
            for (n, c) in net.projs[j].couple.iter().enumerate() {
                if !c.body.is_empty() {
                    parts.push(FusedPart::Couple { proj: j, n });
                    group.push(part(c, &proj_views[j], &proj_bufs[x]));
                }
            }
            if !group.is_empty() {
                groups.push(emit::Group::Couple(group));
            }
        }
        if !k.update.body.is_empty() {
            parts.push(FusedPart::Update);
            groups.push(emit::Group::Plain(part(&k.update, &view, &pop_bufs)));
        }
        for (x, &j) in projs.iter().enumerate() {
            for (n, u) in net.projs[j].update.iter().enumerate() {
                if !u.body.is_empty() {
                    parts.push(FusedPart::ProjUpdate { proj: j, n });
                    groups.push(emit::Group::Plain(part(u, &proj_views[j], &proj_bufs[x])));
                }
            }
        }
        if let Some(th) = k.threshold.as_ref().filter(|t| !t.body.is_empty()) {
            parts.push(FusedPart::Threshold);
            groups.push(emit::Group::Plain(part(th, &view, &pop_bufs)));
        }
        let name = format!("circ_k_pop{p}_step");
        map.names.push(name.clone());
        let kernel = compiled.fused(module, &name, &groups)?;
        map.fused.push(Some(FusedStep { kernel, parts }));
    }
    map.domains = compiled.domains.clone();
    map.writes = compiled.writes.clone();
    Ok(map)
}

/// Symbols of an object file from [`object`]: the kernel table, the number
/// of kernels, and the embedded data (`*_len` holds its length in bytes).
pub const OBJECT_SYMBOLS: [&str; 4] = [
    "circ_kernel_table",
    "circ_kernel_count",
    "circ_model_data",
    "circ_model_data_len",
];

/// Compiles every kernel of `net` into a relocatable object file for the
/// host, with a table of their addresses (`circ_kernel_table`, in
/// `KernelMap` order) and `data(map)` embedded as `circ_model_data`. Math calls
/// import the `circ_*` functions, which the linked runtime defines.
pub fn object(
    net: &Network,
    data: impl FnOnce(&KernelMap) -> Vec<u8>,
) -> Result<(Vec<u8>, KernelMap), CodegenError> {
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
    let map = compile_all(&mut module, &mut compiled, net)?;
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
    let mut blob = data(&map);
    let len = blob.len() as u64;
    blob.push(0); // never empty
    define(OBJECT_SYMBOLS[2], blob, &[])?;
    define(OBJECT_SYMBOLS[3], len.to_le_bytes().to_vec(), &[])?;
    let bytes = module.finish().emit().map_err(|e| err(&e))?;
    Ok((bytes, map))
}

/// One kernel of a fused step, with how its variables are addressed and
/// which buffers they are.
fn part<'a>(
    kernel: &'a Kernel,
    (addrs, targets): &'a (Vec<Addr>, Vec<Target>),
    bufs: &'a [u32],
) -> emit::Part<'a> {
    emit::Part {
        kernel,
        addrs,
        targets,
        bufs,
    }
}

impl<'a> Jit<'a> {
    /// Compiles every kernel of `net`; `tables` are its data tables. Runs
    /// on the calling thread only.
    pub fn new(
        net: &'a Network,
        tables: Vec<Vec<f64>>,
        keep_clif: bool,
    ) -> Result<Self, CodegenError> {
        Self::with_threads(net, tables, keep_clif, 1)
    }

    /// As `new`, running large kernels on `threads` threads. Results do not
    /// depend on the thread count: each thread takes a disjoint slice of
    /// elements, and values many elements add to are split by their owner
    /// (the postsynaptic neuron), so every sum keeps its serial order.
    pub fn with_threads(
        net: &'a Network,
        tables: Vec<Vec<f64>>,
        keep_clif: bool,
        threads: usize,
    ) -> Result<Self, CodegenError> {
        let mut builder = JITBuilder::with_isa(isa()?, cranelift_module::default_libcall_names());
        for (name, ptr) in env::SYMBOLS {
            builder.symbol(*name, *ptr);
        }
        let mut module = JITModule::new(builder);
        let mut compiled = Compiled::new(&mut module, keep_clif)?;
        let map = compile_all(&mut module, &mut compiled, net)?;
        module
            .finalize_definitions()
            .map_err(|e| CodegenError(e.to_string()))?;
        let fns: Vec<KernelFn> = compiled
            .ids
            .iter()
            .map(|id| {
                let raw = module.get_finalized_function(*id);
                // SAFETY: every kernel was declared with the signature `fn(*const Env)`.
                #[allow(unsafe_code)]
                unsafe {
                    std::mem::transmute::<*const u8, KernelFn>(raw)
                }
            })
            .collect();
        let mut jit = Self::from_kernels(net, tables, &map, &fns, threads)?;
        jit.clif = std::mem::take(&mut compiled.clif);
        jit._module = Some(module);
        Ok(jit)
    }

    /// A backend over kernels compiled earlier (an executable's, linked
    /// in): `fns[i]` is kernel `i` of `map`.
    pub fn from_kernels(
        net: &'a Network,
        tables: Vec<Vec<f64>>,
        map: &KernelMap,
        fns: &[KernelFn],
        threads: usize,
    ) -> Result<Self, CodegenError> {
        if fns.len() != map.domains.len() || map.writes.len() != map.domains.len() {
            return Err(CodegenError(format!(
                "{} kernels given for a map of {}",
                fns.len(),
                map.domains.len()
            )));
        }
        let threads = threads.max(1);
        let min_parallel: Option<usize> = std::env::var("CIRC_MIN_PARALLEL")
            .ok()
            .and_then(|v| v.parse().ok());
        let pool = if threads > 1 {
            // The calling thread takes a slice too.
            Some(
                pool::SpinPool::new(threads)
                    .map_err(|e| CodegenError(format!("cannot start {threads} threads: {e}")))?,
            )
        } else {
            None
        };
        let at = |n: usize, id: usize| K {
            f: fns[id],
            domain: map.domains[id],
            writes: map.writes[id],
            n,
        };
        let k = |id: usize| at(0, id);
        let pops = map
            .pops
            .iter()
            .enumerate()
            .map(|(p, [a, b, c, d, e, f])| PopFns {
                init: a.map(k),
                dynamic: b.map(k),
                steady: net.pops.get(p).is_some_and(|k| step_invariant(&k.dynamic)),
                drive: c.map(k),
                update: d.map(k),
                threshold: e.map(k),
                reset: f.map(k),
            })
            .collect();
        let conv = |v: &[(usize, usize)]| v.iter().map(|&(n, i)| at(n, i)).collect::<Vec<_>>();
        let projs = map
            .projs
            .iter()
            .enumerate()
            .map(|(j, [a, b, c, d, e, f])| ProjFns {
                init: conv(a),
                dynamic: b.first().map(|&(n, i)| at(n, i)),
                steady: net.projs.get(j).is_some_and(|k| step_invariant(&k.dynamic)),
                couple: conv(c),
                update: conv(d),
                on_pre: conv(e),
                on_post: conv(f),
                used: net.projs.get(j).map_or_else(Default::default, |k| {
                    [
                        used_by(&k.init),
                        used_by([&k.dynamic]),
                        used_by(&k.couple),
                        used_by(&k.update),
                        used_by(&k.on_pre),
                        used_by(&k.on_post),
                    ]
                }),
            })
            .collect();
        // Fused steps, and the projections they take over.
        // `CIRC_NO_FUSION=1` runs every phase on its own (tests compare both).
        let no_fusion = std::env::var("CIRC_NO_FUSION").is_ok_and(|v| v == "1");
        let fused: Vec<Option<(KernelFn, Vec<FusedPart>)>> = (0..map.pops.len())
            .map(|p| {
                if no_fusion {
                    return None;
                }
                let step = map.fused.get(p)?.as_ref()?;
                Some((*fns.get(step.kernel)?, step.parts.clone()))
            })
            .collect();
        let mut fusion = Fusion {
            pops: fused.iter().map(Option::is_some).collect(),
            projs: vec![false; map.projs.len()],
            inputs: fused
                .iter()
                .map(|f| {
                    f.as_ref()
                        .is_some_and(|(_, parts)| parts.contains(&FusedPart::ZeroInputs))
                })
                .collect(),
        };
        for (_, parts) in fused.iter().flatten() {
            for part in parts {
                if let FusedPart::Couple { proj, .. } | FusedPart::ProjUpdate { proj, .. } = part
                    && let Some(f) = fusion.projs.get_mut(*proj)
                {
                    *f = true;
                }
            }
        }
        let table_ptrs = tables.iter().map(|t| t.as_ptr()).collect();
        let table_lens = tables.iter().map(|t| t.len() as u64).collect();
        Ok(Jit {
            net,
            _module: None,
            pops,
            projs,
            filters: Interp::with_tables(net, tables.clone()),
            tables,
            table_ptrs,
            table_lens,
            clif: vec![],
            pool,
            threads,
            min_parallel: min_parallel.unwrap_or(MIN_PARALLEL),
            min_parallel_arrivals: min_parallel.unwrap_or(MIN_PARALLEL_ARRIVALS),
            row_cuts: Default::default(),
            fused,
            fusion,
            scratch: Default::default(),
        })
    }

    /// Runs `k` over elements `0..count` of `env`, split across the pool
    /// when the kernel only writes its own element's places.
    fn launch(&self, k: &K, mut env: Env, count: usize, split: bool) {
        env.count = count as u64;
        let pool = match &self.pool {
            Some(p) if split && count >= self.min_parallel => p,
            _ => {
                env.start = 0;
                call(k.f, &env);
                return;
            }
        };
        let chunk = count.div_ceil(self.threads);
        let envs: Vec<Env> = (0..count)
            .step_by(chunk)
            .map(|a| Env {
                start: a as u64,
                count: (a + chunk).min(count) as u64,
                ..env
            })
            .collect();
        Self::spread(pool, k, &envs);
    }

    /// Runs `k` on each environment, one per task of the pool (the calling
    /// thread claims tasks too).
    fn spread(pool: &pool::SpinPool, k: &K, envs: &[Env]) {
        pool.run(envs.len(), &|t| call(k.f, &envs[t]));
    }

    /// Runs `k` once per environment, in parallel (each already names a
    /// disjoint slice).
    fn launch_each(&self, k: &K, envs: &[Env]) {
        match &self.pool {
            Some(p) if envs.len() > 1 => Self::spread(p, k, envs),
            _ => envs.iter().for_each(|e| call(k.f, e)),
        }
    }

    /// Runs an arrival kernel on threads, each over the arrivals at its own
    /// postsynaptic neurons in list order: every sum is the serial one.
    fn arrivals_by_post(&self, k: &K, env: Env, ctx: &ProjCtx<'_>, list: &[u32]) {
        let cuts = self.post_cuts(&ctx.csr.by_post_offsets);
        let mut owner = vec![0u32; ctx.csr.n_post];
        for (t, &(a, b)) in cuts.iter().enumerate() {
            owner[a..b].fill(t as u32);
        }
        let mut parts = vec![Vec::new(); cuts.len()];
        for &s in list {
            let j = ctx.csr.post[s as usize] as usize;
            parts[owner[j] as usize].push(s);
        }
        let envs: Vec<Env> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| Env {
                list: p.as_ptr(),
                count: p.len() as u64,
                ..env
            })
            .collect();
        self.launch_each(k, &envs);
    }

    /// Runs an arrival kernel that writes only its synapse's own values over
    /// whole rows of synapses, the rows cut into one run of about equal
    /// synapse counts per thread.
    fn rows_by_count(
        &self,
        pool: &pool::SpinPool,
        k: &K,
        env: &Env,
        ctx: &ProjCtx<'_>,
        total: usize,
    ) {
        let (offsets, rows) = (&ctx.csr.offsets, ctx.arriving_rows);
        let per = total.div_ceil(pool.threads()).max(1);
        let mut parts: Vec<&[u32]> = vec![];
        let (mut from, mut sum) = (0, 0);
        for (r, &i) in rows.iter().enumerate() {
            sum += offsets[i as usize + 1] - offsets[i as usize];
            if sum >= per || r + 1 == rows.len() {
                parts.push(&rows[from..=r]);
                (from, sum) = (r + 1, 0);
            }
        }
        pool.run(parts.len(), &|t| {
            for &i in parts[t] {
                let (a, b) = (offsets[i as usize], offsets[i as usize + 1]);
                call(k.f, &range_env(env, a as u32, b as u32));
            }
        });
    }

    /// Runs an arrival kernel that writes postsynaptic values over whole rows
    /// of synapses on threads, each thread over its own block of
    /// postsynaptic neurons. A row is sorted by target, so where it crosses
    /// into each block is computed once per projection; a step's split costs
    /// one table read per spike and thread, no list, and each neuron's
    /// arrivals come in the serial order.
    fn rows_by_post(
        &self,
        pool: &pool::SpinPool,
        proj: usize,
        k: &K,
        env: &Env,
        ctx: &ProjCtx<'_>,
    ) {
        let mut tables = self.row_cuts.borrow_mut();
        if tables.len() <= proj {
            tables.resize(proj + 1, None);
        }
        let (blocks, bounds) = tables[proj].get_or_insert_with(|| self.row_cuts_of(ctx.csr));
        let (blocks, bounds) = (*blocks, bounds.as_slice());
        let rows = ctx.arriving_rows;
        // Block t of row i is bounds[i * (blocks + 1) + t] .. [.. + t + 1].
        pool.run(blocks, &|t| {
            for &i in rows {
                let at = i as usize * (blocks + 1) + t;
                let (a, b) = (bounds[at], bounds[at + 1]);
                if a < b {
                    call(k.f, &range_env(env, a, b));
                }
            }
        });
    }

    /// For every presynaptic neuron, where its synapses (sorted by target)
    /// cross into each thread's block of postsynaptic neurons.
    fn row_cuts_of(&self, csr: &circ_runtime::connect::Csr) -> RowCuts {
        let cuts = self.post_cuts(&csr.by_post_offsets);
        let blocks = cuts.len().max(1);
        let mut bounds = Vec::with_capacity(csr.n_pre * (blocks + 1));
        for i in 0..csr.n_pre {
            let (a, b) = (csr.offsets[i], csr.offsets[i + 1]);
            let row = &csr.post[a..b];
            bounds.push(a as u32);
            for &(_, hi) in cuts.iter().take(blocks - 1) {
                bounds.push((a + row.partition_point(|&j| (j as usize) < hi)) as u32);
            }
            bounds.push(b as u32);
        }
        (blocks, bounds)
    }

    /// Ranges of postsynaptic neurons, one per thread, with about equal
    /// numbers of synapses (`offsets` is `by_post_offsets`).
    fn post_cuts(&self, offsets: &[usize]) -> Vec<(usize, usize)> {
        let n_post = offsets.len() - 1;
        let per = offsets[n_post].div_ceil(self.threads).max(1);
        let mut cuts = vec![];
        let mut j = 0;
        while j < n_post {
            // The first neuron whose synapses start at or past the target.
            let target = offsets[j] + per;
            let next = (offsets[j..].partition_point(|&o| o < target) + j).clamp(j + 1, n_post);
            cuts.push((j, next));
            j = next;
        }
        cuts
    }

    /// An environment at a step: its clock and the data tables, every
    /// buffer pointer null (callers set those their kernels read).
    fn bare_env(&self, t: f64, dt: f64, step: u64, seed: u64) -> Env {
        Env {
            vars: std::ptr::null(),
            acc: std::ptr::null(),
            list: std::ptr::null(),
            count: 0,
            pre: std::ptr::null(),
            post: std::ptr::null(),
            t,
            dt,
            step,
            seed,
            stream_base: 0,
            ref_until: std::ptr::null(),
            spikes: std::ptr::null_mut(),
            refr: std::ptr::null_mut(),
            tables: self.table_ptrs.as_ptr(),
            table_lens: self.table_lens.as_ptr(),
            start: 0,
            spike_count: std::ptr::null_mut(),
        }
    }

    /// A population kernel's environment, but for its buffers.
    fn env(&self, ctx: &StepCtx<'_>, base: u32) -> Env {
        Env {
            stream_base: u64::from(base),
            ref_until: ctx.ref_until.as_ptr(),
            ..self.bare_env(ctx.t, ctx.dt, ctx.step, ctx.seed)
        }
    }

    /// Runs `f` (whose parts read the consecutive `envs`) over elements
    /// `0..n`, in slices across the pool when `split` and `n` is large; part
    /// `fires` (a threshold) appends the elements that fire, which end up in
    /// `out` in increasing order (slices in order, each in order).
    #[allow(clippy::too_many_arguments)]
    fn run_parts(
        &self,
        f: KernelFn,
        envs: &mut [Env],
        n: usize,
        split: bool,
        fires: Option<usize>,
        list: &mut Vec<u32>,
        counts: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) {
        if envs.is_empty() {
            return;
        }
        // Room for every element: a slice appends at most its own.
        list.resize(n.max(1), 0);
        let slices: Vec<(usize, usize)> = match &self.pool {
            Some(_) if split && n >= self.min_parallel => {
                let chunk = n.div_ceil(self.threads);
                (0..n)
                    .step_by(chunk)
                    .map(|a| (a, (a + chunk).min(n)))
                    .collect()
            }
            // One slice, the usual case: no allocation.
            _ => Vec::new(),
        };
        counts.clear();
        counts.resize(slices.len().max(1), 0);
        let (lp, cp) = (list.as_mut_ptr(), counts.as_mut_ptr());
        let slice_envs = |s: usize, (a, b): (usize, usize)| -> Vec<Env> {
            envs.iter()
                .enumerate()
                .map(|(m, e)| Env {
                    start: a as u64,
                    count: b as u64,
                    spikes: if fires == Some(m) {
                        lp.wrapping_add(a)
                    } else {
                        std::ptr::null_mut()
                    },
                    spike_count: cp.wrapping_add(s),
                    ..*e
                })
                .collect()
        };
        match (&self.pool, slices.len()) {
            (Some(pool), several) if several > 1 => {
                let arrays: Vec<Vec<Env>> = slices
                    .iter()
                    .enumerate()
                    .map(|(s, &r)| slice_envs(s, r))
                    .collect();
                pool.run(arrays.len(), &|t| call(f, &arrays[t][0]));
            }
            _ => {
                for (m, e) in envs.iter_mut().enumerate() {
                    e.start = 0;
                    e.count = n as u64;
                    if fires == Some(m) {
                        e.spikes = lp;
                    }
                    e.spike_count = cp;
                }
                call(f, &envs[0]);
            }
        }
        if slices.is_empty() {
            out.extend_from_slice(&list[..counts[0] as usize]);
        }
        for (s, &(a, _)) in slices.iter().enumerate() {
            let c = counts[s] as usize;
            out.extend_from_slice(&list[a..a + c]);
        }
    }

    /// Runs `k` over a population's buffers `vars` with `env`.
    fn launch_pop(&self, k: &K, env: Env, vars: &mut [Vec<f64>], count: usize, split: bool) {
        let mut scratch = self.scratch.borrow_mut();
        scratch.ptrs.clear();
        scratch.ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        let env = Env {
            vars: scratch.ptrs.as_ptr(),
            ..env
        };
        self.launch(k, env, count, split);
    }

    fn run_pop(
        &self,
        k: Option<K>,
        ctx: &StepCtx<'_>,
        vars: &mut [Vec<f64>],
        count: usize,
        base: u32,
    ) {
        let Some(k) = k else { return };
        let env = self.env(ctx, base);
        // Per-neuron kernels write only their neuron's values unless they
        // assign a shared one.
        self.launch_pop(&k, env, vars, count, !k.writes.shared);
    }

    fn size(&self, pop: usize) -> usize {
        self.net.layout.pops.get(pop).map_or(0, |p| p.size)
    }
}

use circ_ir::streams;

impl Backend for Jit<'_> {
    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        self.run_pop(f.dynamic, ctx, vars, 1, streams::DYNAMIC);
        self.run_pop(f.init, ctx, vars, self.size(pop), streams::INIT);
    }

    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        if !f.steady {
            self.run_pop(f.dynamic, ctx, vars, 1, streams::DYNAMIC);
        }
        self.run_pop(f.drive, ctx, vars, self.size(pop), streams::DRIVE);
    }

    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        self.run_pop(f.update, ctx, vars, self.size(pop), streams::UPDATE);
    }

    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        let Some(Some(k)) = self.pops.get(pop).map(|f| f.threshold) else {
            return;
        };
        let n = self.size(pop);
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            ptrs, list, counts, ..
        } = &mut *scratch;
        ptrs.clear();
        ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        let mut env = [Env {
            vars: ptrs.as_ptr(),
            ..self.env(ctx, streams::THRESHOLD)
        }];
        let split = !k.writes.shared;
        self.run_parts(k.f, &mut env, n, split, Some(0), list, counts, spikes);
    }

    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    ) {
        let start = refractory.len();
        refractory.resize(start + spiking.len(), 0.0);
        let Some(Some(k)) = self.pops.get(pop).map(|f| f.reset) else {
            return;
        };
        let env = Env {
            list: spiking.as_ptr(),
            refr: refractory[start..].as_mut_ptr(),
            ..self.env(ctx, streams::RESET)
        };
        // The spiking neurons are distinct, and `refr` has a slot for each.
        self.launch_pop(&k, env, vars, spiking.len(), !k.writes.shared);
    }

    fn proj(&self, proj: usize, phase: ProjPhase, ctx: &mut ProjCtx<'_>) -> bool {
        let Some(fns) = self.projs.get(proj) else {
            return false;
        };
        let (kernels, role, used): (&[K], u32, &[u32]) = match phase {
            ProjPhase::Init => (&fns.init, streams::INIT, &fns.used[0]),
            // Constant parameters were set by the initialiser.
            ProjPhase::Dynamic if fns.steady => return false,
            ProjPhase::Dynamic => (fns.dynamic.as_slice(), streams::DYNAMIC, &fns.used[1]),
            ProjPhase::Couple => (&fns.couple, streams::UPDATE, &fns.used[2]),
            ProjPhase::Update => (&fns.update, streams::PROJ_UPDATE, &fns.used[3]),
            ProjPhase::OnPre => (&fns.on_pre, streams::ON_PRE, &fns.used[4]),
            ProjPhase::OnPost => (&fns.on_post, streams::ON_POST, &fns.used[5]),
        };
        let Some(layout) = self.net.layout.projs.get(proj) else {
            return false;
        };
        if kernels.is_empty() {
            return false;
        }
        // Buffers: own ones, and views of the two populations, then the
        // accumulators; the same for every kernel of the phase.
        let mut scratch = self.scratch.borrow_mut();
        // Only the variables the phase names: a projection views every
        // variable of both populations, and kernels read a few.
        let ptrs = &mut scratch.ptrs;
        ptrs.clear();
        ptrs.resize(layout.vars.len(), std::ptr::null_mut());
        for &v in used {
            let v = v as usize;
            if let (Some(slot), Some(var)) = (ptrs.get_mut(v), layout.vars.get(v)) {
                *slot = match var.space {
                    Space::PreNeuron(pv) => ctx.pre[pv].as_ptr().cast_mut(),
                    Space::PostNeuron(pv) => ctx.post[pv].as_ptr().cast_mut(),
                    _ => ctx.vars[v].as_mut_ptr(),
                };
            }
        }
        let n_vars = ptrs.len();
        ptrs.extend(ctx.acc.iter_mut().map(|a| a.as_mut_ptr()));
        let phase_env = Env {
            vars: ptrs.as_ptr(),
            acc: ptrs[n_vars..].as_ptr(),
            pre: ctx.csr.pre.as_ptr(),
            post: ctx.csr.post.as_ptr(),
            ..self.bare_env(ctx.t, ctx.dt, ctx.step, ctx.seed)
        };
        let mut added = false;
        for k in kernels {
            added |= k.writes.acc;
            let env = Env {
                stream_base: u64::from(streams::projection(proj, role, k.n)),
                ..phase_env
            };
            let w = k.writes;
            // Only the element's own places written: any slicing is safe.
            let own = !w.shared && !w.pre && !w.post;
            match k.domain {
                Domain::Once => self.launch(k, env, 1, false),
                Domain::PreNeurons => self.launch(k, env, ctx.csr.n_pre, !w.shared && !w.post),
                Domain::PostNeurons => self.launch(k, env, ctx.csr.n_post, !w.shared && !w.pre),
                Domain::Synapses if own || self.pool.is_none() => {
                    self.launch(k, env, ctx.csr.len(), own)
                }
                Domain::Synapses if !w.shared && !w.pre && ctx.csr.len() >= self.min_parallel => {
                    // Values of postsynaptic neurons written: each thread takes
                    // whole neurons' synapses, in synapse order within each
                    // neuron, so every sum is the serial one.
                    let offsets = &ctx.csr.by_post_offsets;
                    let envs: Vec<Env> = self
                        .post_cuts(offsets)
                        .into_iter()
                        .map(|(a, b)| Env {
                            list: ctx.csr.by_post.as_ptr(),
                            start: offsets[a] as u64,
                            count: offsets[b] as u64,
                            ..env
                        })
                        .collect();
                    self.launch_each(k, &envs);
                }
                Domain::Synapses => self.launch(k, env, ctx.csr.len(), false),
                Domain::Arriving if !ctx.arriving_rows.is_empty() => {
                    let offsets = &ctx.csr.offsets;
                    let total: usize = ctx
                        .arriving_rows
                        .iter()
                        .map(|&i| offsets[i as usize + 1] - offsets[i as usize])
                        .sum();
                    match &self.pool {
                        Some(pool) if total >= self.min_parallel_arrivals && own => {
                            self.rows_by_count(pool, k, &env, ctx, total)
                        }
                        Some(pool)
                            if total >= self.min_parallel_arrivals && !w.shared && !w.pre =>
                        {
                            self.rows_by_post(pool, proj, k, &env, ctx)
                        }
                        _ => {
                            // One call per spike over its synapses, in order:
                            // no list of synapses is made.
                            for &i in ctx.arriving_rows {
                                let (a, b) = (offsets[i as usize], offsets[i as usize + 1]);
                                call(k.f, &range_env(&env, a as u32, b as u32));
                            }
                        }
                    }
                }
                Domain::Arriving => {
                    let list = &ctx.arriving;
                    if own
                        || w.shared
                        || w.pre
                        || self.pool.is_none()
                        || list.len() < self.min_parallel
                    {
                        let env = Env {
                            list: list.as_ptr(),
                            ..env
                        };
                        self.launch(k, env, list.len(), own);
                    } else {
                        self.arrivals_by_post(k, env, ctx, list);
                    }
                }
                Domain::SpikingPre | Domain::SpikingPost => {
                    let list = if k.domain == Domain::SpikingPre {
                        &ctx.spiking_pre
                    } else {
                        &ctx.spiking_post
                    };
                    let env = Env {
                        list: list.as_ptr(),
                        ..env
                    };
                    self.launch(k, env, list.len(), false);
                }
                Domain::PostSpikeSynapses => {
                    let post_list: Vec<u32> = ctx
                        .spiking_post
                        .iter()
                        .flat_map(|&j| {
                            ctx.csr.by_post[ctx.csr.by_post_offsets[j as usize]
                                ..ctx.csr.by_post_offsets[j as usize + 1]]
                                .iter()
                                .copied()
                        })
                        .collect();
                    let env = Env {
                        list: post_list.as_ptr(),
                        ..env
                    };
                    self.launch(k, env, post_list.len(), false);
                }
                Domain::Each | Domain::Spiking => {}
            }
        }
        added
    }

    fn fusion(&self) -> Fusion {
        self.fusion.clone()
    }

    fn pop_step(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        projs: &mut [(usize, &mut [Vec<f64>])],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        let Some(Some((f, parts))) = self.fused.get(pop) else {
            return;
        };
        let n = self.size(pop);
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            ptrs,
            offsets,
            envs,
            list,
            counts,
        } = &mut *scratch;
        // The population's buffers, then each projection's: its own, and
        // views of this population (fused kernels read nothing of the
        // presynaptic one).
        ptrs.clear();
        ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        offsets.clear();
        for (k, own) in projs.iter_mut() {
            let Some(layout) = self.net.layout.projs.get(*k) else {
                continue;
            };
            offsets.push((*k, ptrs.len()));
            for (var, buf) in layout.vars.iter().zip(own.iter_mut()) {
                let ptr = match var.space {
                    Space::PostNeuron(pv) => ptrs[pv],
                    Space::PreNeuron(_) => std::ptr::null_mut(),
                    _ => buf.as_mut_ptr(),
                };
                ptrs.push(ptr);
            }
        }
        let base = self.env(ctx, 0);
        envs.clear();
        for part in parts {
            let env = match *part {
                FusedPart::Update | FusedPart::ZeroInputs => Env {
                    vars: ptrs.as_ptr(),
                    stream_base: u64::from(streams::UPDATE),
                    ..base
                },
                FusedPart::Threshold => Env {
                    vars: ptrs.as_ptr(),
                    stream_base: u64::from(streams::THRESHOLD),
                    ..base
                },
                FusedPart::Couple { proj, n } | FusedPart::ProjUpdate { proj, n } => {
                    let Some(&(_, at)) = offsets.iter().find(|(k, _)| *k == proj) else {
                        // The runtime hands over every fused projection.
                        return;
                    };
                    let role = if matches!(part, FusedPart::Couple { .. }) {
                        streams::UPDATE
                    } else {
                        streams::PROJ_UPDATE
                    };
                    Env {
                        vars: ptrs[at..].as_ptr(),
                        ref_until: std::ptr::null(),
                        stream_base: u64::from(streams::projection(proj, role, n)),
                        ..base
                    }
                }
            };
            envs.push(Env {
                count: n as u64,
                ..env
            });
        }
        let fires = parts.iter().position(|p| *p == FusedPart::Threshold);
        // Every part writes only its neuron's values: slices are disjoint.
        self.run_parts(*f, envs, n, true, fires, list, counts, spikes);
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
        self.filters.proj_filter(proj, i, j, pre, post, seed)
    }
}

impl Jit<'_> {
    /// The data tables the kernels read.
    pub fn tables(&self) -> &[Vec<f64>] {
        &self.tables
    }
}
