//! Translation of one IR kernel into one Cranelift function that loops over
//! the kernel's elements.

use crate::CodegenError;
use circ_ir::math::{Cmp, FBin, FUn, IBin, Op, Program, Val, program, program_bin, program_rand};
use circ_ir::plan::{Addr, Group, Part, Target, couple_sums, vars_used};
use circ_ir::{Bin, Domain, Expr, Stmt, Un};
use circ_native::env::{SYMBOLS, Sig, bin_symbol, off};
use cranelift_codegen::Context;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, Endianness, InstBuilder, MemFlagsData, Signature, UserFuncName, Value,
    types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::{BTreeMap, HashMap};

/// The compiled kernels of a module, and the imports they call.
pub(crate) struct Compiled {
    pub ids: Vec<FuncId>,
    pub clif: Vec<(String, String)>,
    imports: HashMap<&'static str, FuncId>,
    keep_clif: bool,
    /// `Local` in the JIT; `Export` in object files, whose table names them.
    pub linkage: Linkage,
}

fn sig_of(module: &impl Module, params: &[types::Type], ret: Option<types::Type>) -> Signature {
    let mut sig = module.make_signature();
    for p in params {
        sig.params.push(AbiParam::new(*p));
    }
    if let Some(r) = ret {
        sig.returns.push(AbiParam::new(r));
    }
    sig
}

impl Compiled {
    pub(crate) fn new(module: &mut impl Module, keep_clif: bool) -> Result<Self, CodegenError> {
        let f64t = types::F64;
        let i64t = types::I64;
        let mut imports = HashMap::new();
        for s in SYMBOLS {
            let sig = match s.sig {
                Sig::F2 => sig_of(module, &[f64t, f64t], Some(f64t)),
                Sig::Table => sig_of(module, &[i64t, i64t, i64t, f64t], Some(f64t)),
            };
            let id = module
                .declare_function(s.name, Linkage::Import, &sig)
                .map_err(|e| CodegenError(e.to_string()))?;
            imports.insert(s.name, id);
        }
        Ok(Compiled {
            ids: vec![],
            clif: vec![],
            imports,
            keep_clif,
            linkage: Linkage::Local,
        })
    }

    /// Compiles one function: `groups` run one after the other for each
    /// element (the parts of a fused step are `Each` or `PostNeurons` over
    /// the same neurons, and write only that neuron's places). Returns its
    /// index in `ids`.
    pub(crate) fn function(
        &mut self,
        module: &mut impl Module,
        name: &str,
        groups: &[Group<'_>],
        scratch: &[u32],
    ) -> Result<usize, CodegenError> {
        // Each part, and whether its additions go to local sums.
        let flat: Vec<(Part<'_>, bool)> = groups
            .iter()
            .flat_map(|g| match g {
                Group::Plain(p) => vec![(*p, false)],
                Group::Couple(ps) => ps.iter().map(|p| (*p, true)).collect(),
            })
            .collect();
        let parts: Vec<Part<'_>> = flat.iter().map(|p| p.0).collect();
        if parts.is_empty() {
            return Err(CodegenError(format!("{name}: nothing to compile")));
        }
        let sig = sig_of(module, &[types::I64], None);
        let id = module
            .declare_function(name, self.linkage, &sig)
            .map_err(|e| CodegenError(e.to_string()))?;
        let mut ctx = Context::new();
        ctx.func = cranelift_codegen::ir::Function::with_name_signature(
            UserFuncName::user(0, id.as_u32()),
            sig,
        );
        let mut fctx = FunctionBuilderContext::new();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let mut refs = HashMap::new();
            for (name, fid) in &self.imports {
                refs.insert(*name, module.declare_func_in_func(*fid, b.func));
            }
            let mut g = Gen::start(&mut b, &flat, refs);
            if flat.iter().all(|(p, _)| p.element_only()) {
                g.cache = Some(BTreeMap::new());
                g.scratch = scratch.to_vec();
            }
            let from = if flat.iter().all(|(p, _)| p.vectorizable()) {
                g.vector_loop(groups)?
            } else {
                g.start
            };
            g.scalar_loop(from, groups)?;
            b.seal_all_blocks();
            b.finalize(module.target_config());
        }
        if self.keep_clif {
            self.clif
                .push((name.to_string(), ctx.func.display().to_string()));
        }
        module
            .define_function(id, &mut ctx)
            .map_err(|e| CodegenError(format!("{name}: {e:?}")))?;
        self.ids.push(id);
        Ok(self.ids.len() - 1)
    }
}

/// What one part of a function loads before the loop.
struct PartState<'b> {
    addrs: &'b [Addr],
    targets: &'b [Target],
    bufs: &'b [u32],
    domain: Domain,
    temps: Vec<Variable>,
    /// The temporaries of the vector loop (f64x2).
    vtemps: Vec<Variable>,
    var_bases: Vec<Option<Value>>,
    acc_bases: HashMap<usize, Value>,
    /// Scalars read, never written, by the kernel: loaded before the loop.
    invariant: HashMap<u32, Value>,
    count: Value,
    start: Value,
    t: Value,
    dt: Value,
    step: Value,
    seed: Value,
    spikes: Value,
    spike_count: Value,
    refr: Value,
    tables: Value,
    lens: Value,
    list: Value,
    /// `Env::keys`: each synapse's number in the whole projection, or null.
    keys: Value,
    pre: Value,
    post: Value,
    ref_until: Value,
    /// Whether the kernel needs its synapse's presynaptic (`i`) and
    /// postsynaptic (`j`) index: loaded only then.
    need_i: bool,
    need_j: bool,
}

/// Generation state of one function.
struct Gen<'b, 'f> {
    b: &'b mut FunctionBuilder<'f>,
    refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    /// Every part's state; the current one is taken out into `p`.
    parts: Vec<Option<PartState<'b>>>,
    p: Option<(usize, PartState<'b>)>,
    /// Values made by `truth` from a condition, and that condition.
    truths: HashMap<Value, Value>,
    /// Local sums of a fused projection's couplings, by variable: the sum
    /// and the postsynaptic buffer it goes into.
    local: Option<HashMap<u32, Sum>>,
    k: Value,
    element: Value,
    i: Value,
    j: Value,
    refractory: Option<Value>,
    count: Value,
    start: Value,
    /// 1, or 2 in the vector loop (values are f64x2, conditions i64x2 masks).
    lanes: u8,
    /// Within one iteration, the values of buffers at the element, loaded or
    /// stored (stores wait until the iteration ends or a branch): only when
    /// every part indexes buffers by the element alone.
    cache: Option<BTreeMap<u32, Cached>>,
    /// This iteration's refractoriness (every part's population is the same).
    iter_refractory: Option<Value>,
    /// In the vector loop: the lanes not refractory (the complement of
    /// `refractory`), for this iteration.
    free: Option<Value>,
    /// `free` of this iteration's `Each` parts.
    iter_free: Option<Value>,
    /// How many `If`s the current statement is inside.
    depth: u32,
    /// Buffers that need not be stored (`Plan::scratch`).
    scratch: Vec<u32>,
}

/// A fused projection's local sum of additions into one postsynaptic value.
#[derive(Clone, Copy)]
struct Sum {
    var: Variable,
    /// The postsynaptic buffer, and its number.
    base: Value,
    buf: u32,
    /// The value is an input (see `Target::Acc`).
    input: bool,
    /// Nothing added yet.
    fresh: bool,
}

/// A buffer's value at the current element.
#[derive(Clone, Copy)]
struct Cached {
    value: Value,
    addr: Value,
    /// Not yet stored.
    dirty: bool,
    /// A scratch buffer's value written outside any branch: never stored,
    /// and kept across branches (it dominates the rest of the iteration).
    keep: bool,
}

fn mem() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Vector accesses: 8-byte aligned only.
fn vmem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Loads what part `part` needs from the `Env` at `env` (in the entry block);
/// `local`: its additions go to local sums (its `Env` has no accumulators).
fn load_part<'b>(
    b: &mut FunctionBuilder<'_>,
    env: Value,
    part: &Part<'b>,
    local: bool,
    shared: &mut HashMap<u32, (Value, Option<Value>)>,
) -> PartState<'b> {
    let (i64t, f64t) = (types::I64, types::F64);
    let k = part.kernel;
    let ld = |b: &mut FunctionBuilder<'_>, ty, o: i32| b.ins().load(ty, mem(), env, o);
    let vars = ld(b, i64t, off::VARS);
    let acc = ld(b, i64t, off::ACC);
    let mut written = vec![];
    circ_ir::written_vars(&k.body, &mut written);
    let mut var_bases = vec![None; part.view.addrs.len()];
    let mut acc_bases = HashMap::new();
    let mut invariant = HashMap::new();
    for v in vars_used(&k.body) {
        // Parts naming one buffer share its address (and scalar value): the
        // runtime gives every part's view of it the same pointer.
        let buf = part.bufs.get(v as usize).copied().unwrap_or(v);
        let (base, scalar) = *shared
            .entry(buf)
            .or_insert_with(|| (b.ins().load(i64t, mem(), vars, (v as i32) * 8), None));
        var_bases[v as usize] = Some(base);
        // A scalar the kernel only reads is loaded once, before the loop:
        // nothing else writes it meanwhile (kernels that write scalars run
        // alone, never fused), and expressions of it then leave the loop too.
        if part.view.addrs.get(v as usize) == Some(&Addr::Zero) && !written.contains(&v) {
            let x = scalar.unwrap_or_else(|| b.ins().load(f64t, mem(), base, 0));
            shared.insert(buf, (base, Some(x)));
            invariant.insert(v, x);
        }
        if let Some(Target::Acc(pv, _)) = part.view.targets.get(v as usize)
            && !local
        {
            let a = b.ins().load(i64t, mem(), acc, (*pv as i32) * 8);
            acc_bases.insert(*pv, a);
        }
    }
    let used = vars_used(&k.body);
    let addressed = |a: Addr| {
        used.iter()
            .any(|&v| part.view.addrs.get(v as usize) == Some(&a))
    };
    let need_i =
        addressed(Addr::Pre) || circ_ir::any_expr(&k.body, &|e| matches!(e, Expr::PreIndex));
    let need_j = addressed(Addr::Post)
        || circ_ir::any_expr(&k.body, &|e| matches!(e, Expr::PostIndex))
        || used
            .iter()
            .any(|&v| matches!(part.view.targets.get(v as usize), Some(Target::Acc(..))));
    PartState {
        need_i,
        need_j,
        addrs: &part.view.addrs,
        targets: &part.view.targets,
        bufs: part.bufs,
        domain: k.domain,
        temps: (0..k.temps).map(|_| b.declare_var(f64t)).collect(),
        vtemps: (0..k.temps).map(|_| b.declare_var(types::F64X2)).collect(),
        var_bases,
        acc_bases,
        invariant,
        count: ld(b, i64t, off::COUNT),
        start: ld(b, i64t, off::START),
        t: ld(b, f64t, off::T),
        dt: ld(b, f64t, off::DT),
        step: ld(b, i64t, off::STEP),
        seed: ld(b, i64t, off::SEED),
        spikes: ld(b, i64t, off::SPIKES),
        spike_count: ld(b, i64t, off::SPIKE_COUNT),
        refr: ld(b, i64t, off::REFR),
        tables: ld(b, i64t, off::TABLES),
        lens: ld(b, i64t, off::TABLE_LENS),
        list: ld(b, i64t, off::LIST),
        keys: ld(b, i64t, off::KEYS),
        pre: ld(b, i64t, off::PRE),
        post: ld(b, i64t, off::POST),
        ref_until: ld(b, i64t, off::REF_UNTIL),
    }
}

impl<'b, 'f> Gen<'b, 'f> {
    /// Loads every part's environment, then opens the loop over the first
    /// part's elements `start..count` (threads run disjoint slices; the
    /// parts of a fused function all have the same elements).
    fn start(
        b: &'b mut FunctionBuilder<'f>,
        parts: &[(Part<'b>, bool)],
        refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let env0 = b.block_params(entry)[0];
        let mut shared = HashMap::new();
        let states: Vec<PartState<'b>> = parts
            .iter()
            .enumerate()
            .map(|(m, (part, local))| {
                let env = if m == 0 {
                    env0
                } else {
                    b.ins().iadd_imm_s(env0, i64::from(off::SIZE) * m as i64)
                };
                load_part(b, env, part, *local, &mut shared)
            })
            .collect();
        let (count, start) = (states[0].count, states[0].start);
        Gen {
            b,
            refs,
            parts: states.into_iter().map(Some).collect(),
            p: None,
            truths: HashMap::new(),
            local: None,
            k: start,
            element: start,
            i: start,
            j: start,
            refractory: None,
            count,
            start,
            lanes: 1,
            cache: None,
            iter_refractory: None,
            free: None,
            iter_free: None,
            depth: 0,
            scratch: vec![],
        }
    }

    /// Emits a loop of `groups` over elements `from..self.count`, one at a
    /// time, then returns from the function.
    fn scalar_loop(&mut self, from: Value, groups: &[Group<'_>]) -> Result<(), CodegenError> {
        self.lanes = 1;
        let header = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        let empty = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, from, self.count);
        self.b
            .ins()
            .brif(empty, exit, &[], header, &[BlockArg::Value(from)]);
        self.b.switch_to_block(header);
        self.k = self.b.block_params(header)[0];
        self.groups(groups)?;
        let next = self.b.ins().iadd_imm_s(self.k, 1);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, self.count);
        self.b
            .ins()
            .brif(more, header, &[BlockArg::Value(next)], exit, &[]);
        self.b.switch_to_block(exit);
        self.b.ins().return_(&[]);
        Ok(())
    }

    /// Emits a loop of `groups` over pairs of elements from `self.start`
    /// (two lanes of f64x2: the same IEEE operations per lane, so the same
    /// values); returns the first element it leaves for the scalar loop.
    fn vector_loop(&mut self, groups: &[Group<'_>]) -> Result<Value, CodegenError> {
        let (start, count) = (self.start, self.count);
        let some = self.b.ins().icmp(IntCC::UnsignedLessThan, start, count);
        let n = self.b.ins().isub(count, start);
        let zero = self.b.ins().iconst(types::I64, 0);
        let n = self.b.ins().select(some, n, zero);
        let pairs = self.b.ins().band_imm_s(n, -2);
        let end = self.b.ins().iadd(start, pairs);
        let header = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        let any = self.b.ins().icmp(IntCC::UnsignedLessThan, start, end);
        self.b
            .ins()
            .brif(any, header, &[BlockArg::Value(start)], exit, &[]);
        self.b.switch_to_block(header);
        self.k = self.b.block_params(header)[0];
        self.lanes = 2;
        self.groups(groups)?;
        self.lanes = 1;
        let next = self.b.ins().iadd_imm_s(self.k, 2);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, end);
        self.b
            .ins()
            .brif(more, header, &[BlockArg::Value(next)], exit, &[]);
        self.b.switch_to_block(exit);
        Ok(end)
    }

    /// The current part.
    fn p(&self) -> &PartState<'b> {
        &self.p.as_ref().expect("a part is current").1
    }

    /// The current element's number in the whole network (its draws' key
    /// and its `Index`): a synapse of a split network looks it up in
    /// `Env::keys`; every other element is its own. (Such parts never run
    /// in the vector loop: `Part::vectorizable`.)
    fn key(&mut self) -> Value {
        let (domain, keys) = (self.p().domain, self.p().keys);
        if !domain.has_synapse() || self.lanes != 1 {
            return self.element;
        }
        let i64t = types::I64;
        let b = &mut *self.b;
        let has = b.ins().icmp_imm_u(IntCC::NotEqual, keys, 0);
        let (with, without, joined) = (b.create_block(), b.create_block(), b.create_block());
        b.append_block_param(joined, i64t);
        b.ins().brif(has, with, &[], without, &[]);
        b.switch_to_block(with);
        let a = b.ins().imul_imm_u(self.element, 4);
        let a = b.ins().iadd(keys, a);
        let v = b.ins().load(types::I32, mem(), a, 0);
        let v = b.ins().uextend(i64t, v);
        b.ins().jump(joined, &[BlockArg::Value(v)]);
        b.switch_to_block(without);
        b.ins().jump(joined, &[BlockArg::Value(self.element)]);
        b.switch_to_block(joined);
        b.block_params(joined)[0]
    }

    /// Makes part `m` current and works out its element, neurons and
    /// refractoriness for this iteration.
    fn enter(&mut self, m: usize) {
        if let Some((old, st)) = self.p.take() {
            self.parts[old] = Some(st);
        }
        let st = self.parts[m]
            .take()
            .expect("each part entered once at a time");
        let b = &mut *self.b;
        let i64t = types::I64;
        let kv = self.k;
        let uses_list = matches!(
            st.domain,
            Domain::Spiking | Domain::SpikingPre | Domain::SpikingPost | Domain::PostSpikeSynapses
        );
        let from_u32 = |b: &mut FunctionBuilder<'_>, arr: Value, idx: Value| {
            let a = b.ins().imul_imm_u(idx, 4);
            let a = b.ins().iadd(arr, a);
            let v = b.ins().load(types::I32, mem(), a, 0);
            b.ins().uextend(i64t, v)
        };
        let element = if uses_list {
            from_u32(b, st.list, kv)
        } else if matches!(st.domain, Domain::Synapses | Domain::Arriving) {
            // Synapse kernels may be given an order (synapses grouped by
            // postsynaptic neuron, when threads split them): a list if
            // present. Arrivals come as a list, or as a range of synapses
            // (one spike's, with a uniform delay) with no list.
            let has_list = b.ins().icmp_imm_u(IntCC::NotEqual, st.list, 0);
            let (with, without, joined) = (b.create_block(), b.create_block(), b.create_block());
            b.append_block_param(joined, i64t);
            b.ins().brif(has_list, with, &[], without, &[]);
            b.switch_to_block(with);
            let e = from_u32(b, st.list, kv);
            b.ins().jump(joined, &[BlockArg::Value(e)]);
            b.switch_to_block(without);
            b.ins().jump(joined, &[BlockArg::Value(kv)]);
            b.switch_to_block(joined);
            b.block_params(joined)[0]
        } else {
            kv
        };
        let zero = b.ins().iconst(i64t, 0);
        let (i, j) = match st.domain {
            Domain::PreNeurons | Domain::SpikingPre => (element, zero),
            Domain::PostNeurons | Domain::SpikingPost => (zero, element),
            Domain::Synapses | Domain::Arriving | Domain::PostSpikeSynapses => (
                if st.need_i {
                    from_u32(b, st.pre, element)
                } else {
                    zero
                },
                if st.need_j {
                    from_u32(b, st.post, element)
                } else {
                    zero
                },
            ),
            _ => (zero, zero),
        };
        let (refractory, free) = if st.domain == Domain::Each && self.iter_refractory.is_some() {
            // Every `Each` part of a function is one population's: the same.
            (self.iter_refractory, self.iter_free)
        } else if matches!(st.domain, Domain::Each | Domain::Spiking) {
            let a = b.ins().imul_imm_u(element, 8);
            let a = b.ins().iadd(st.ref_until, a);
            if self.lanes == 2 {
                // x86 compares "greater than" in one instruction: keep the
                // mask of free lanes, and its complement for general use.
                let until = b.ins().load(types::I64X2, vmem(), a, 0);
                let step = b.ins().splat(types::I64X2, st.step);
                let free = b.ins().icmp(IntCC::SignedGreaterThan, step, until);
                (Some(b.ins().bnot(free)), Some(free))
            } else {
                let until = b.ins().load(i64t, mem(), a, 0);
                let r = b.ins().icmp(IntCC::SignedLessThanOrEqual, st.step, until);
                (Some(r), None)
            }
        } else {
            (None, None)
        };
        (self.refractory, self.free) = (refractory, free);
        if st.domain == Domain::Each {
            (self.iter_refractory, self.iter_free) = (self.refractory, self.free);
        }
        (self.element, self.i, self.j) = (element, i, j);
        self.p = Some((m, st));
    }

    /// Emits the groups, numbering parts in order.
    fn groups(&mut self, groups: &[Group<'_>]) -> Result<(), CodegenError> {
        if let Some((old, st)) = self.p.take() {
            self.parts[old] = Some(st);
        }
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
        self.iter_refractory = None;
        let mut m = 0;
        for g in groups {
            match g {
                Group::Plain(part) => {
                    self.enter(m);
                    self.body(&part.kernel.body)?;
                    m += 1;
                }
                Group::Couple(parts) => {
                    // One sum per postsynaptic value any of them adds into,
                    // starting at +0 like the runtime's accumulators.
                    let mut local = HashMap::new();
                    for cs in couple_sums(parts) {
                        let st = self.parts[m + cs.part]
                            .as_ref()
                            .expect("parts not yet entered");
                        let Some(base) = st.var_bases.get(cs.var as usize).copied().flatten()
                        else {
                            continue;
                        };
                        let var = self.b.declare_var(self.fty());
                        let zero = self.splat_const(0.0);
                        self.b.def_var(var, zero);
                        local.insert(
                            cs.var,
                            Sum {
                                var,
                                base,
                                buf: cs.buf,
                                input: cs.input,
                                fresh: true,
                            },
                        );
                    }
                    self.local = Some(local);
                    for part in parts {
                        self.enter(m);
                        self.body(&part.kernel.body)?;
                        m += 1;
                    }
                    let mut sums: Vec<(u32, Sum)> =
                        self.local.take().unwrap_or_default().into_iter().collect();
                    sums.sort_by_key(|s| s.0);
                    for (_, sum) in sums {
                        if sum.fresh {
                            // Nothing added: the runtime would skip it too.
                            continue;
                        }
                        let add = self.b.use_var(sum.var);
                        let a = self.addr(sum.base, self.j);
                        let x = self.read_at(sum.buf, a);
                        let added = self.b.ins().fadd(x, add);
                        // A zero sum leaves the value as it is: an input is
                        // never -0, so adding the zero does the same.
                        let new = if sum.input {
                            added
                        } else {
                            let zero = self.splat_const(0.0);
                            let is_zero = self.b.ins().fcmp(FloatCC::Equal, add, zero);
                            self.choose(is_zero, x, added)
                        };
                        self.write_at(sum.buf, a, new)?;
                    }
                }
            }
        }
        self.flush();
        Ok(())
    }

    /// Reads buffer `buf` at address `a` (the current element's place).
    fn read_at(&mut self, buf: u32, a: Value) -> Value {
        if let Some(c) = self.cache.as_ref().and_then(|c| c.get(&buf)) {
            return c.value;
        }
        let value = self.load(a);
        if let Some(c) = self.cache.as_mut() {
            c.insert(
                buf,
                Cached {
                    value,
                    addr: a,
                    dirty: false,
                    keep: false,
                },
            );
        }
        value
    }

    /// Writes `x` into buffer `buf` at address `a` (kept until a flush when
    /// caching).
    fn write_at(&mut self, buf: u32, a: Value, x: Value) -> Result<(), CodegenError> {
        let keep = self.scratch.contains(&buf);
        if keep && self.depth > 0 {
            // Inputs are written only by the pass's zeroing and its coupling
            // sums, outside any branch (Plan::scratch relies on it).
            return Err(CodegenError(format!(
                "scratch buffer {buf} written inside a branch"
            )));
        }
        match self.cache.as_mut() {
            Some(c) => {
                c.insert(
                    buf,
                    Cached {
                        value: x,
                        addr: a,
                        dirty: !keep,
                        keep,
                    },
                );
            }
            None => self.store(x, a),
        }
        Ok(())
    }

    /// Forgets what memory holds after a branch (scratch values stay: they
    /// are in no buffer).
    fn forget(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.retain(|_, e| e.keep);
        }
    }

    /// Stores every value written since the last flush.
    fn flush(&mut self) {
        let Some(c) = self.cache.as_mut() else { return };
        let pending: Vec<Cached> = c
            .values_mut()
            .filter(|e| e.dirty)
            .map(|e| {
                e.dirty = false;
                *e
            })
            .collect();
        for e in pending {
            self.store(e.value, e.addr);
        }
    }

    /// The buffer variable `v` of the current part is.
    fn buf(&self, v: u32) -> u32 {
        self.p().bufs.get(v as usize).copied().unwrap_or(v)
    }

    /// The type of values: f64, or f64x2 in the vector loop.
    fn fty(&self) -> types::Type {
        if self.lanes == 2 {
            types::F64X2
        } else {
            types::F64
        }
    }

    /// A constant, in every lane.
    fn splat_const(&mut self, c: f64) -> Value {
        let x = self.b.ins().f64const(c);
        self.splat(x)
    }

    /// A scalar, in every lane.
    fn splat(&mut self, x: Value) -> Value {
        if self.lanes == 2 {
            self.b.ins().splat(types::F64X2, x)
        } else {
            x
        }
    }

    fn load(&mut self, a: Value) -> Value {
        if self.lanes == 2 {
            self.b.ins().load(types::F64X2, vmem(), a, 0)
        } else {
            self.b.ins().load(types::F64, mem(), a, 0)
        }
    }

    fn store(&mut self, x: Value, a: Value) {
        let flags = if self.lanes == 2 { vmem() } else { mem() };
        self.b.ins().store(flags, x, a, 0);
    }

    /// A math program (`circ_ir::math`) inlined on the loop's lanes: the
    /// interpreter's IEEE operations in the same order, the same integer
    /// steps on the bits, so the same values, one lane or two.
    fn inline(&mut self, prog: &Program, args: &[Value]) -> Result<Value, CodegenError> {
        let two = self.lanes == 2;
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let (it, ft) = if two {
            (types::I64X2, types::F64X2)
        } else {
            (types::I64, types::F64)
        };
        let mut v: Vec<Value> = Vec::with_capacity(prog.ops.len());
        let konst = |k: Val| match prog.ops.get(k as usize) {
            Some(Op::I(c)) => Ok(*c),
            _ => Err(CodegenError("a math shift by a non-constant".into())),
        };
        for op in &prog.ops {
            let x = match *op {
                Op::Arg(n) => *args
                    .get(n as usize)
                    .ok_or_else(|| CodegenError(format!("a math program wants argument {n}")))?,
                Op::F(c) => self.splat_const(c),
                Op::I(c) => {
                    let x = self.b.ins().iconst(types::I64, c);
                    if two { self.b.ins().splat(it, x) } else { x }
                }
                Op::FBin(o, a, b) => {
                    let (a, b) = (v[a as usize], v[b as usize]);
                    match o {
                        FBin::Add => self.b.ins().fadd(a, b),
                        FBin::Sub => self.b.ins().fsub(a, b),
                        FBin::Mul => self.b.ins().fmul(a, b),
                        FBin::Div => self.b.ins().fdiv(a, b),
                    }
                }
                Op::FUn(o, a) => {
                    let a = v[a as usize];
                    match o {
                        FUn::Neg => self.negate(a),
                        FUn::Sqrt => self.b.ins().sqrt(a),
                        FUn::Floor => self.b.ins().floor(a),
                    }
                }
                Op::FCmp(o, a, b) => {
                    let cc = match o {
                        Cmp::Lt => FloatCC::LessThan,
                        Cmp::Le => FloatCC::LessThanOrEqual,
                        Cmp::Eq => FloatCC::Equal,
                        Cmp::Uno => FloatCC::Unordered,
                    };
                    self.b.ins().fcmp(cc, v[a as usize], v[b as usize])
                }
                Op::IBin(o, a, b) => {
                    let x = v[a as usize];
                    match o {
                        IBin::Add => self.b.ins().iadd(x, v[b as usize]),
                        IBin::Sub => self.b.ins().isub(x, v[b as usize]),
                        IBin::And => self.b.ins().band(x, v[b as usize]),
                        IBin::Or => self.b.ins().bor(x, v[b as usize]),
                        IBin::Shl => self.b.ins().ishl_imm_u(x, konst(b)?),
                        IBin::Shr => self.b.ins().ushr_imm_u(x, konst(b)?),
                        IBin::Mul => self.b.ins().imul(x, v[b as usize]),
                        IBin::Xor => self.b.ins().bxor(x, v[b as usize]),
                    }
                }
                Op::ICmp(o, a, b) => {
                    let cc = match o {
                        Cmp::Lt => IntCC::SignedLessThan,
                        Cmp::Le => IntCC::SignedLessThanOrEqual,
                        Cmp::Eq | Cmp::Uno => IntCC::Equal,
                    };
                    self.b.ins().icmp(cc, v[a as usize], v[b as usize])
                }
                Op::Bits(a) => self.b.ins().bitcast(it, little, v[a as usize]),
                Op::FromBits(a) => self.b.ins().bitcast(ft, little, v[a as usize]),
                Op::FSel(c, a, b) => self.choose(v[c as usize], v[a as usize], v[b as usize]),
                Op::ISel(c, a, b) => {
                    let (c, a, b) = (v[c as usize], v[a as usize], v[b as usize]);
                    if two {
                        self.b.ins().bitselect(c, a, b)
                    } else {
                        self.b.ins().select(c, a, b)
                    }
                }
                Op::BBin(and, a, b) => {
                    let (a, b) = (v[a as usize], v[b as usize]);
                    if and {
                        self.b.ins().band(a, b)
                    } else {
                        self.b.ins().bor(a, b)
                    }
                }
                Op::BNot(a) => {
                    let a = v[a as usize];
                    // Scalar conditions are 0 or 1; lane masks all ones or zeros.
                    if two {
                        self.b.ins().bnot(a)
                    } else {
                        self.b.ins().bxor_imm_u(a, 1)
                    }
                }
            };
            v.push(x);
        }
        v.get(prog.out as usize)
            .copied()
            .ok_or_else(|| CodegenError("a math program without its result".into()))
    }

    /// `-x` (the sign bit flipped), on the loop's lanes.
    fn negate(&mut self, a: Value) -> Value {
        if self.lanes == 2 {
            // Flip the sign bits with a constant from memory: x86 has no
            // vector negation, and a mask built in the loop costs two
            // instructions more.
            let bytes: Vec<u8> = [(-0.0f64).to_le_bytes(); 2].concat();
            let mask = self.b.func.dfg.constants.insert(bytes.into());
            let mask = self.b.ins().vconst(types::F64X2, mask);
            self.b.ins().bxor(a, mask)
        } else {
            self.b.ins().fneg(a)
        }
    }

    /// `c ? x : y`, per lane (`c` a condition, or a lane mask).
    fn choose(&mut self, c: Value, x: Value, y: Value) -> Value {
        if self.lanes == 2 {
            let little = MemFlagsData::new().with_endianness(Endianness::Little);
            let mask = self.b.ins().bitcast(types::F64X2, little, c);
            self.b.ins().bitselect(mask, x, y)
        } else {
            self.b.ins().select(c, x, y)
        }
    }

    /// A part's statements, in the current loop's lanes.
    fn body(&mut self, body: &[Stmt]) -> Result<(), CodegenError> {
        self.stmts(body)
    }

    /// Temporary `t` of the current part, for the current loop's lanes.
    fn temp(&self, t: u32) -> Result<Variable, CodegenError> {
        let p = self.p();
        let temps = if self.lanes == 2 { &p.vtemps } else { &p.temps };
        temps
            .get(t as usize)
            .copied()
            .ok_or_else(|| CodegenError(format!("no temp {t}")))
    }

    fn index(&mut self, v: u32) -> Value {
        match self
            .p()
            .addrs
            .get(v as usize)
            .copied()
            .unwrap_or(Addr::Zero)
        {
            Addr::Zero => self.b.ins().iconst(types::I64, 0),
            Addr::Element => self.element,
            Addr::Pre => self.i,
            Addr::Post => self.j,
        }
    }

    fn addr(&mut self, base: Value, idx: Value) -> Value {
        let o = self.b.ins().imul_imm_u(idx, 8);
        self.b.ins().iadd(base, o)
    }

    fn var_addr(&mut self, v: u32) -> Result<Value, CodegenError> {
        let base = self
            .p()
            .var_bases
            .get(v as usize)
            .copied()
            .flatten()
            .ok_or_else(|| CodegenError(format!("variable %{v} has no base")))?;
        let idx = self.index(v);
        Ok(self.addr(base, idx))
    }

    fn truth(&mut self, c: Value) -> Value {
        let one = self.splat_const(1.0);
        let zero = self.splat_const(0.0);
        let x = self.choose(c, one, zero);
        self.truths.insert(x, c);
        x
    }

    fn nonzero(&mut self, x: Value) -> Value {
        // A condition turned into 1.0/0.0 and back: use the condition (the
        // optimiser does not see through the float round trip).
        if let Some(c) = self.truths.get(&x) {
            return *c;
        }
        let zero = self.splat_const(0.0);
        self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
    }

    fn call(&mut self, name: &'static str, args: &[Value]) -> Result<Value, CodegenError> {
        let f = *self
            .refs
            .get(name)
            .ok_or_else(|| CodegenError(format!("no import {name}")))?;
        let inst = self.b.ins().call(f, args);
        Ok(self.b.inst_results(inst)[0])
    }

    fn expr(&mut self, e: &Expr) -> Result<Value, CodegenError> {
        Ok(match e {
            Expr::Const(c) => self.splat_const(*c),
            Expr::Load(v) => {
                if let Some(x) = self.p().invariant.get(v).copied() {
                    self.splat(x)
                } else {
                    let a = self.var_addr(*v)?;
                    let buf = self.buf(*v);
                    self.read_at(buf, a)
                }
            }
            Expr::Temp(t) => {
                let var = self.temp(*t)?;
                self.b.use_var(var)
            }
            Expr::Time => {
                let t = self.p().t;
                self.splat(t)
            }
            Expr::Dt => {
                let dt = self.p().dt;
                self.splat(dt)
            }
            Expr::Index => {
                let key = self.key();
                self.b.ins().fcvt_from_uint(types::F64, key)
            }
            Expr::PreIndex => self.b.ins().fcvt_from_uint(types::F64, self.i),
            Expr::PostIndex => self.b.ins().fcvt_from_uint(types::F64, self.j),
            Expr::Refractory => match self.refractory {
                Some(r) => self.truth(r),
                None => self.splat_const(0.0),
            },
            Expr::Un(Un::Neg, a) => {
                let a = self.expr(a)?;
                self.negate(a)
            }
            Expr::Un(Un::Not, a) => {
                let a = self.expr(a)?;
                let zero = self.splat_const(0.0);
                let c = self.b.ins().fcmp(FloatCC::Equal, a, zero);
                self.truth(c)
            }
            Expr::Bin(op, a, b) => {
                let (x, y) = (self.expr(a)?, self.expr(b)?);
                match op {
                    Bin::Add => self.b.ins().fadd(x, y),
                    Bin::Sub => self.b.ins().fsub(x, y),
                    Bin::Mul => self.b.ins().fmul(x, y),
                    Bin::Div => self.b.ins().fdiv(x, y),
                    Bin::Pow | Bin::Min | Bin::Max => {
                        let prog = program_bin(*op)
                            .ok_or_else(|| CodegenError(format!("{op:?} has no program")))?;
                        self.inline(prog, &[x, y])?
                    }
                    // IEEE's exact remainder: one function for every backend.
                    Bin::Rem => {
                        let name = bin_symbol(*op)
                            .ok_or_else(|| CodegenError(format!("{op:?} has no function")))?;
                        self.call(name, &[x, y])?
                    }
                    Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge | Bin::Eq | Bin::Ne => {
                        let cc = match op {
                            Bin::Lt => FloatCC::LessThan,
                            Bin::Le => FloatCC::LessThanOrEqual,
                            Bin::Gt => FloatCC::GreaterThan,
                            Bin::Ge => FloatCC::GreaterThanOrEqual,
                            Bin::Eq => FloatCC::Equal,
                            _ => FloatCC::NotEqual,
                        };
                        let c = self.b.ins().fcmp(cc, x, y);
                        self.truth(c)
                    }
                    Bin::And | Bin::Or => {
                        let (p, q) = (self.nonzero(x), self.nonzero(y));
                        let c = if *op == Bin::And {
                            self.b.ins().band(p, q)
                        } else {
                            self.b.ins().bor(p, q)
                        };
                        self.truth(c)
                    }
                }
            }
            Expr::Call(f, args) => {
                let vals: Vec<Value> = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<_, _>>()?;
                self.inline(program(*f), &vals)?
            }
            Expr::Select(c, a, b) => {
                // `refractory ? a : b` is `free ? b : a` (no complement).
                if let (Expr::Refractory, Some(free)) = (&**c, self.free) {
                    let (x, y) = (self.expr(a)?, self.expr(b)?);
                    return Ok(self.choose(free, y, x));
                }
                let c = self.expr(c)?;
                let cond = self.nonzero(c);
                let (x, y) = (self.expr(a)?, self.expr(b)?);
                self.choose(cond, x, y)
            }
            Expr::Rand(d, s) => {
                // The draw's program, keyed by (seed, stream, element,
                // step): integers passed as the bits of floats; in the
                // vector loop, each lane its own element. (Inlined on two
                // lanes it costs 40 ns a draw here; a call of the same
                // definition on doubles, 180.)
                let little = MemFlagsData::new().with_endianness(Endianness::Little);
                let (seed, step) = (self.p().seed, self.p().step);
                let stream = self.b.ins().iconst(types::I64, i64::from(*s));
                let key = self.key();
                let el = self.b.ins().band_imm_u(key, 0xffff_ffff);
                let mut keys = [seed, stream, el, step];
                if self.lanes == 2 {
                    for k in &mut keys {
                        *k = self.b.ins().splat(types::I64X2, *k);
                    }
                    let lanes: Vec<u8> = [0i64.to_le_bytes(), 1i64.to_le_bytes()].concat();
                    let iota = self.b.func.dfg.constants.insert(lanes.into());
                    let iota = self.b.ins().vconst(types::I64X2, iota);
                    keys[2] = self.b.ins().iadd(keys[2], iota);
                }
                let ft = self.fty();
                let args: Vec<Value> = keys
                    .iter()
                    .map(|k| self.b.ins().bitcast(ft, little, *k))
                    .collect();
                self.inline(program_rand(*d), &args)?
            }
            Expr::Table(k, x) => {
                let x = self.expr(x)?;
                let kv = self.b.ins().iconst(types::I64, i64::from(*k));
                {
                    let (tables, lens) = (self.p().tables, self.p().lens);
                    self.call("circ_table", &[tables, lens, kv, x])?
                }
            }
        })
    }

    fn stmts(&mut self, body: &[Stmt]) -> Result<(), CodegenError> {
        for s in body {
            match s {
                Stmt::Let(t, e) => {
                    let v = self.expr(e)?;
                    let var = self.temp(*t)?;
                    self.b.def_var(var, v);
                }
                Stmt::Store(v, e) => {
                    let x = self.expr(e)?;
                    let a = self.var_addr(*v)?;
                    let buf = self.buf(*v);
                    self.write_at(buf, a, x)?;
                }
                Stmt::AddTo(v, e) => {
                    let x = self.expr(e)?;
                    let target = self
                        .p()
                        .targets
                        .get(*v as usize)
                        .copied()
                        .unwrap_or(Target::Own);
                    // A fused coupling adds into its local sum.
                    if let (Target::Acc(..), Some(local)) = (target, self.local.as_mut())
                        && let Some(sum) = local.get_mut(v)
                    {
                        // The first addition into a sum from +0 is the term
                        // itself, but for a -0 term; a zero sum is never
                        // applied, and later terms add the same either way
                        // (for a nonzero total), so the term stands alone.
                        let new = if sum.fresh && self.depth == 0 {
                            x
                        } else {
                            let old = self.b.use_var(sum.var);
                            self.b.ins().fadd(old, x)
                        };
                        sum.fresh = false;
                        self.b.def_var(sum.var, new);
                        continue;
                    }
                    if let Target::Own = target {
                        let a = self.var_addr(*v)?;
                        let buf = self.buf(*v);
                        let old = self.read_at(buf, a);
                        let new = self.b.ins().fadd(old, x);
                        self.write_at(buf, a, new)?;
                        continue;
                    }
                    let a = match target {
                        Target::Own => self.var_addr(*v)?,
                        Target::Acc(pv, _) => {
                            let base = *self
                                .p()
                                .acc_bases
                                .get(&pv)
                                .ok_or_else(|| CodegenError("no accumulator".into()))?;
                            self.addr(base, self.j)
                        }
                    };
                    let old = self.load(a);
                    let new = self.b.ins().fadd(old, x);
                    self.store(new, a);
                }
                Stmt::If(c, then, otherwise) => {
                    let c = self.expr(c)?;
                    let cond = self.nonzero(c);
                    let (tb, eb, merge) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    // Values known before the branch hold in both arms;
                    // each arm stores what it wrote, and after the merge
                    // nothing is known.
                    self.flush();
                    let before = self.cache.clone();
                    self.b.ins().brif(cond, tb, &[], eb, &[]);
                    self.b.switch_to_block(tb);
                    self.depth += 1;
                    self.stmts(then)?;
                    self.flush();
                    self.b.ins().jump(merge, &[]);
                    self.cache.clone_from(&before);
                    self.b.switch_to_block(eb);
                    self.stmts(otherwise)?;
                    self.depth -= 1;
                    self.flush();
                    self.b.ins().jump(merge, &[]);
                    self.b.switch_to_block(merge);
                    self.forget();
                    self.iter_refractory = None;
                }
                Stmt::While(c, body) => {
                    // The head is reached from before the loop and from the
                    // body's end: nothing cached holds there, so memory is
                    // current on both edges.
                    self.flush();
                    self.forget();
                    let (head, inner, exit) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().jump(head, &[]);
                    self.b.switch_to_block(head);
                    let c = self.expr(c)?;
                    let go = self.nonzero(c);
                    self.b.ins().brif(go, inner, &[], exit, &[]);
                    self.b.switch_to_block(inner);
                    self.depth += 1;
                    self.stmts(body)?;
                    self.depth -= 1;
                    self.flush();
                    self.forget();
                    self.b.ins().jump(head, &[]);
                    self.b.switch_to_block(exit);
                    self.iter_refractory = None;
                }
                Stmt::Spike(c) => {
                    let c = self.expr(c)?;
                    let fire = self.nonzero(c);
                    // Spikes are rare: append only when one fires (a branch
                    // that is almost never taken), in element order.
                    let (list, count) = (self.p().spikes, self.p().spike_count);
                    let (set, join) = (self.b.create_block(), self.b.create_block());
                    let i32t = types::I32;
                    if self.lanes == 2 {
                        let fire = match self.refractory {
                            Some(r) => match self.free {
                                Some(free) => self.b.ins().band(fire, free),
                                None => self.b.ins().band_not(fire, r),
                            },
                            None => fire,
                        };
                        let bits = self.b.ins().vhigh_bits(types::I64, fire);
                        self.b.ins().brif(bits, set, &[], join, &[]);
                        self.b.switch_to_block(set);
                        // Each lane's index is written at the end of the list
                        // and kept only if it fired: no overrun, since the
                        // list never holds more than the elements visited.
                        let mut c = self.b.ins().load(types::I64, mem(), count, 0);
                        for lane in 0..2i64 {
                            let at = self.b.ins().imul_imm_s(c, 4);
                            let at = self.b.ins().iadd(list, at);
                            let e = self.b.ins().iadd_imm_s(self.element, lane);
                            let e = self.b.ins().ireduce(i32t, e);
                            self.b.ins().store(mem(), e, at, 0);
                            let bit = self.b.ins().ushr_imm_s(bits, lane);
                            let bit = self.b.ins().band_imm_s(bit, 1);
                            c = self.b.ins().iadd(c, bit);
                        }
                        self.b.ins().store(mem(), c, count, 0);
                    } else {
                        let fire = match self.refractory {
                            Some(r) => {
                                let free = self.b.ins().bxor_imm_u(r, 1);
                                self.b.ins().band(fire, free)
                            }
                            None => fire,
                        };
                        self.b.ins().brif(fire, set, &[], join, &[]);
                        self.b.switch_to_block(set);
                        let c = self.b.ins().load(types::I64, mem(), count, 0);
                        let at = self.b.ins().imul_imm_s(c, 4);
                        let at = self.b.ins().iadd(list, at);
                        let e = self.b.ins().ireduce(i32t, self.element);
                        self.b.ins().store(mem(), e, at, 0);
                        let c = self.b.ins().iadd_imm_s(c, 1);
                        self.b.ins().store(mem(), c, count, 0);
                    }
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(join);
                }
                Stmt::SetRefractory(e) => {
                    let x = self.expr(e)?;
                    let a = self.addr(self.p().refr, self.k);
                    self.b.ins().store(mem(), x, a, 0);
                }
            }
        }
        Ok(())
    }
}
