//! circ-codegen-cranelift compiles IR kernels to native code with
//! Cranelift's JIT, one function per kernel, each looping over its
//! elements. It owns code generation only: the schedule stays in the
//! runtime, and math functions, table reads and random draws call the same
//! Rust implementations as the interpreter, so results are bit-identical.
//! It must not change what a kernel computes or the order it visits elements.

mod emit;
mod env;

pub use env::Env;

use circ_interp::Interp;
use circ_ir::{Domain, Kernel, Network, Space};
use circ_runtime::sim::{Backend, ProjCtx, ProjPhase, StepCtx};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use emit::{Addr, Compiled, Target};

/// A compiled kernel: `fn(env: *const Env)`.
type KernelFn = unsafe extern "C" fn(*const Env);

/// Why compilation failed (an internal error: the IR was verified).
#[derive(Debug)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

struct PopFns {
    init: Option<KernelFn>,
    dynamic: Option<KernelFn>,
    drive: Option<KernelFn>,
    update: Option<KernelFn>,
    threshold: Option<KernelFn>,
    reset: Option<KernelFn>,
}

struct ProjFns {
    init: Vec<(Domain, KernelFn)>,
    dynamic: Option<KernelFn>,
    couple: Vec<(Domain, KernelFn)>,
    update: Vec<(Domain, KernelFn)>,
    on_pre: Vec<(Domain, KernelFn)>,
    on_post: Vec<(Domain, KernelFn)>,
}

/// The JIT backend: every kernel of a network compiled to native code.
pub struct Jit<'a> {
    net: &'a Network,
    // Keeps the code alive while the function pointers are used.
    _module: JITModule,
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
}

fn isa() -> Result<cranelift_codegen::isa::OwnedTargetIsa, CodegenError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| CodegenError(e.to_string()))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    let builder = cranelift_native::builder().map_err(|e| CodegenError(e.to_string()))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError(e.to_string()))
}

impl<'a> Jit<'a> {
    /// Compiles every kernel of `net`; `tables` are its data tables.
    pub fn new(
        net: &'a Network,
        tables: Vec<Vec<f64>>,
        keep_clif: bool,
    ) -> Result<Self, CodegenError> {
        let mut builder = JITBuilder::with_isa(isa()?, cranelift_module::default_libcall_names());
        for (name, ptr) in env::SYMBOLS {
            builder.symbol(*name, *ptr);
        }
        let mut module = JITModule::new(builder);
        let mut compiled = Compiled::new(&mut module, keep_clif)?;
        let mut pops = vec![];
        for (p, (layout, k)) in net.layout.pops.iter().zip(&net.pops).enumerate() {
            let addrs: Vec<Addr> = layout
                .vars
                .iter()
                .map(|v| if v.scalar { Addr::Zero } else { Addr::Element })
                .collect();
            let targets: Vec<Target> = layout.vars.iter().map(|_| Target::Own).collect();
            let mut one = |k: &Kernel, what: &str| -> Result<Option<usize>, CodegenError> {
                if k.body.is_empty() {
                    return Ok(None);
                }
                compiled
                    .kernel(&mut module, &format!("pop{p}_{what}"), k, &addrs, &targets)
                    .map(Some)
            };
            pops.push((
                one(&k.init, "init")?,
                one(&k.dynamic, "dynamic")?,
                one(&k.drive, "drive")?,
                one(&k.update, "update")?,
                k.threshold
                    .as_ref()
                    .map(|t| one(t, "threshold"))
                    .transpose()?
                    .flatten(),
                k.reset
                    .as_ref()
                    .map(|t| one(t, "reset"))
                    .transpose()?
                    .flatten(),
            ));
        }
        let mut projs = vec![];
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
                    Space::PostNeuron(pv) => Target::Acc(pv),
                    _ => Target::Own,
                })
                .collect();
            let mut list =
                |ks: &[Kernel], what: &str| -> Result<Vec<(Domain, usize)>, CodegenError> {
                    let mut out = vec![];
                    for (n, k) in ks.iter().enumerate() {
                        if !k.body.is_empty() {
                            out.push((
                                k.domain,
                                compiled.kernel(
                                    &mut module,
                                    &format!("proj{p}_{what}{n}"),
                                    k,
                                    &addrs,
                                    &targets,
                                )?,
                            ));
                        }
                    }
                    Ok(out)
                };
            let init = list(&k.init, "init")?;
            let dynamic = list(std::slice::from_ref(&k.dynamic), "dynamic")?;
            let couple = list(&k.couple, "couple")?;
            let update = list(&k.update, "update")?;
            let on_pre = list(&k.on_pre, "on_pre")?;
            let on_post = list(&k.on_post, "on_post")?;
            projs.push((init, dynamic, couple, update, on_pre, on_post));
        }
        module
            .finalize_definitions()
            .map_err(|e| CodegenError(e.to_string()))?;
        let ptr = |id: usize| -> KernelFn {
            let raw = module.get_finalized_function(compiled.ids[id]);
            // SAFETY: every kernel was declared with the signature `fn(*const Env)`.
            #[allow(unsafe_code)]
            unsafe {
                std::mem::transmute::<*const u8, KernelFn>(raw)
            }
        };
        let pops = pops
            .into_iter()
            .map(|(a, b, c, d, e, f)| PopFns {
                init: a.map(ptr),
                dynamic: b.map(ptr),
                drive: c.map(ptr),
                update: d.map(ptr),
                threshold: e.map(ptr),
                reset: f.map(ptr),
            })
            .collect();
        let conv =
            |v: Vec<(Domain, usize)>| v.into_iter().map(|(d, i)| (d, ptr(i))).collect::<Vec<_>>();
        let projs = projs
            .into_iter()
            .map(|(a, b, c, d, e, f)| ProjFns {
                init: conv(a),
                dynamic: b.first().map(|x| ptr(x.1)),
                couple: conv(c),
                update: conv(d),
                on_pre: conv(e),
                on_post: conv(f),
            })
            .collect();
        let clif = std::mem::take(&mut compiled.clif);
        let table_ptrs = tables.iter().map(|t| t.as_ptr()).collect();
        let table_lens = tables.iter().map(|t| t.len() as u64).collect();
        Ok(Jit {
            net,
            _module: module,
            pops,
            projs,
            filters: Interp::with_tables(net, tables.clone()),
            tables,
            table_ptrs,
            table_lens,
            clif,
        })
    }

    fn env(&self, ctx: &StepCtx<'_>, vars: &mut [Vec<f64>], base: u32) -> (Env, Vec<*mut f64>) {
        let ptrs: Vec<*mut f64> = vars.iter_mut().map(|v| v.as_mut_ptr()).collect();
        let env = Env {
            vars: std::ptr::null(),
            acc: std::ptr::null(),
            list: std::ptr::null(),
            count: 0,
            pre: std::ptr::null(),
            post: std::ptr::null(),
            t: ctx.t,
            dt: ctx.dt,
            step: ctx.step,
            seed: ctx.seed,
            stream_base: u64::from(base),
            ref_until: ctx.ref_until.as_ptr(),
            flags: std::ptr::null_mut(),
            refr: std::ptr::null_mut(),
            tables: self.table_ptrs.as_ptr(),
            table_lens: self.table_lens.as_ptr(),
        };
        (env, ptrs)
    }

    fn run_pop(
        &self,
        f: Option<KernelFn>,
        ctx: &StepCtx<'_>,
        vars: &mut [Vec<f64>],
        count: usize,
        base: u32,
    ) {
        let Some(f) = f else { return };
        let (mut env, ptrs) = self.env(ctx, vars, base);
        env.vars = ptrs.as_ptr();
        env.count = count as u64;
        // SAFETY: the buffers outlive the call; the kernel indexes each
        // variable within its length (elements < count = the population size).
        #[allow(unsafe_code)]
        unsafe {
            f(&raw const env);
        }
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
        self.run_pop(f.dynamic, ctx, vars, 1, streams::DYNAMIC);
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
        let Some(Some(f)) = self.pops.get(pop).map(|f| f.threshold) else {
            return;
        };
        let n = self.size(pop);
        let mut flags = vec![0u8; n];
        let (mut env, ptrs) = self.env(ctx, vars, streams::THRESHOLD);
        env.vars = ptrs.as_ptr();
        env.count = n as u64;
        env.flags = flags.as_mut_ptr();
        // SAFETY: as in `run_pop`; `flags` has one byte per element.
        #[allow(unsafe_code)]
        unsafe {
            f(&raw const env);
        }
        spikes.extend(
            flags
                .iter()
                .enumerate()
                .filter(|(_, f)| **f != 0)
                .map(|(i, _)| i as u32),
        );
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
        let Some(Some(f)) = self.pops.get(pop).map(|f| f.reset) else {
            return;
        };
        let (mut env, ptrs) = self.env(ctx, vars, streams::RESET);
        env.vars = ptrs.as_ptr();
        env.list = spiking.as_ptr();
        env.count = spiking.len() as u64;
        env.refr = refractory[start..].as_mut_ptr();
        // SAFETY: as in `run_pop`; the list holds valid elements and `refr`
        // has one slot per listed element.
        #[allow(unsafe_code)]
        unsafe {
            f(&raw const env);
        }
    }

    fn proj(&self, proj: usize, phase: ProjPhase, ctx: &mut ProjCtx<'_>) {
        let Some(fns) = self.projs.get(proj) else {
            return;
        };
        let (kernels, role): (Vec<(Domain, KernelFn)>, u32) = match phase {
            ProjPhase::Init => (fns.init.clone(), streams::INIT),
            ProjPhase::Dynamic => (
                fns.dynamic.map(|f| (Domain::Once, f)).into_iter().collect(),
                streams::DYNAMIC,
            ),
            ProjPhase::Couple => (fns.couple.clone(), streams::UPDATE),
            ProjPhase::Update => (fns.update.clone(), streams::PROJ_UPDATE),
            ProjPhase::OnPre => (fns.on_pre.clone(), streams::ON_PRE),
            ProjPhase::OnPost => (fns.on_post.clone(), streams::ON_POST),
        };
        let Some(layout) = self.net.layout.projs.get(proj) else {
            return;
        };
        // Which kernel of the phase each compiled function is: the stream base depends on it.
        let all: &[Kernel] = match phase {
            ProjPhase::Init => &self.net.projs[proj].init,
            ProjPhase::Dynamic => std::slice::from_ref(&self.net.projs[proj].dynamic),
            ProjPhase::Couple => &self.net.projs[proj].couple,
            ProjPhase::Update => &self.net.projs[proj].update,
            ProjPhase::OnPre => &self.net.projs[proj].on_pre,
            ProjPhase::OnPost => &self.net.projs[proj].on_post,
        };
        let positions: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.body.is_empty())
            .map(|(n, _)| n)
            .collect();
        for ((domain, f), n) in kernels.into_iter().zip(positions) {
            // Buffers: own ones, and views of the two populations.
            let ptrs: Vec<*mut f64> = layout
                .vars
                .iter()
                .enumerate()
                .map(|(v, var)| match var.space {
                    Space::PreNeuron(pv) => ctx.pre[pv].as_ptr().cast_mut(),
                    Space::PostNeuron(pv) => ctx.post[pv].as_ptr().cast_mut(),
                    _ => ctx.vars[v].as_mut_ptr(),
                })
                .collect();
            let acc: Vec<*mut f64> = ctx.acc.iter_mut().map(|a| a.as_mut_ptr()).collect();
            let post_list: Vec<u32>;
            let (list, count): (*const u32, usize) = match domain {
                Domain::Once => (std::ptr::null(), 1),
                Domain::PreNeurons => (std::ptr::null(), ctx.csr.n_pre),
                Domain::PostNeurons => (std::ptr::null(), ctx.csr.n_post),
                Domain::Synapses => (std::ptr::null(), ctx.csr.len()),
                Domain::SpikingPre => (ctx.spiking_pre.as_ptr(), ctx.spiking_pre.len()),
                Domain::SpikingPost => (ctx.spiking_post.as_ptr(), ctx.spiking_post.len()),
                Domain::Arriving => (ctx.arriving.as_ptr(), ctx.arriving.len()),
                Domain::PostSpikeSynapses => {
                    post_list = ctx
                        .spiking_post
                        .iter()
                        .flat_map(|&j| {
                            ctx.csr.by_post[ctx.csr.by_post_offsets[j as usize]
                                ..ctx.csr.by_post_offsets[j as usize + 1]]
                                .iter()
                                .copied()
                        })
                        .collect();
                    (post_list.as_ptr(), post_list.len())
                }
                Domain::Each | Domain::Spiking => continue,
            };
            if count == 0 {
                continue;
            }
            let env = Env {
                vars: ptrs.as_ptr(),
                acc: acc.as_ptr(),
                list,
                count: count as u64,
                pre: ctx.csr.pre.as_ptr(),
                post: ctx.csr.post.as_ptr(),
                t: ctx.t,
                dt: ctx.dt,
                step: ctx.step,
                seed: ctx.seed,
                stream_base: u64::from(streams::projection(proj, role, n)),
                ref_until: std::ptr::null(),
                flags: std::ptr::null_mut(),
                refr: std::ptr::null_mut(),
                tables: self.table_ptrs.as_ptr(),
                table_lens: self.table_lens.as_ptr(),
            };
            // SAFETY: every pointer refers to a live buffer of the sizes the
            // kernel's domain indexes (the runtime sized them from the layout
            // and the synapses); neuron views are only read, never written,
            // except through `acc`.
            #[allow(unsafe_code)]
            unsafe {
                f(&raw const env);
            }
        }
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
