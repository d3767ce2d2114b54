//! Translation of the functions of a plan into LLVM IR: one function per
//! planned function, looping over its elements. Where every part of a
//! function is elementwise arithmetic (`Part::vectorizable`), an explicit
//! loop of `lanes` elements at a time comes first (LLVM's own vectoriser
//! cannot widen a loop that appends spikes to a list), then a scalar loop
//! for the rest. Every IEEE operation is the IR's, with no fast-math flag
//! (so no contraction into FMAs and no reassociation), per lane, and math
//! is the inlined programs of `circ_ir::math`: the same operations in the
//! same order as the interpreter, so the same bits.

use crate::CodegenError;
use circ_ir::math::{Cmp, FBin, FUn, IBin, Op, Program, program, program_bin, program_rand};
use circ_ir::plan::{Addr, Group, Part, Target, couple_sums, vars_used};
use circ_ir::{Bin, Domain, Expr, Stmt, Un};
use circ_native::env::{SYMBOLS, Sig, bin_symbol, off};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicType, BasicTypeEnum, FloatType, IntType, PointerType, VectorType};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValue, BasicValueEnum as V, FunctionValue, IntValue, PointerValue,
    VectorValue,
};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};
use std::collections::{BTreeMap, HashMap};

type R<T> = Result<T, CodegenError>;

fn err(e: impl std::fmt::Display) -> CodegenError {
    CodegenError(e.to_string())
}

/// Types and imports shared by every function of a module.
pub(crate) struct Shared<'ctx> {
    ctx: &'ctx Context,
    f64t: FloatType<'ctx>,
    i64t: IntType<'ctx>,
    i32t: IntType<'ctx>,
    ptr: PointerType<'ctx>,
    imports: HashMap<&'static str, FunctionValue<'ctx>>,
    /// `llvm.sqrt` and `llvm.floor` by lane count (exact IEEE operations,
    /// one instruction each).
    sqrt: HashMap<u32, FunctionValue<'ctx>>,
    floor: HashMap<u32, FunctionValue<'ctx>>,
    /// `llvm.arithmetic.fence` by lane count (no instruction): what a
    /// negation negates, so that InstCombine cannot fold `-(c / x)` into
    /// `(-c) / x`, which flips a NaN's sign (the IR fuzzer's seed 381).
    fence: HashMap<u32, FunctionValue<'ctx>>,
    /// Lanes of the vector loop (1: none).
    pub(crate) lanes: u32,
}

impl<'ctx> Shared<'ctx> {
    /// Declares the imported functions and intrinsics in `module`.
    pub(crate) fn new(ctx: &'ctx Context, module: &Module<'ctx>, lanes: u32) -> R<Self> {
        let f64t = ctx.f64_type();
        let i64t = ctx.i64_type();
        let ptr = ctx.ptr_type(AddressSpace::default());
        let mut imports = HashMap::new();
        for s in SYMBOLS {
            let ty = match s.sig {
                Sig::F2 => f64t.fn_type(&[f64t.into(), f64t.into()], false),
                Sig::Table => {
                    f64t.fn_type(&[ptr.into(), ptr.into(), i64t.into(), f64t.into()], false)
                }
            };
            let f = module.add_function(s.name, ty, Some(Linkage::External));
            imports.insert(s.name, f);
        }
        let intrinsic = |name: &str, n: u32| {
            let ty: BasicTypeEnum<'ctx> = if n == 1 {
                f64t.into()
            } else {
                f64t.vec_type(n).into()
            };
            Intrinsic::find(name)
                .and_then(|i| i.get_declaration(module, &[ty]))
                .ok_or_else(|| CodegenError(format!("no intrinsic {name}")))
        };
        let (mut sqrt, mut floor, mut fence) = (HashMap::new(), HashMap::new(), HashMap::new());
        for n in [1, lanes] {
            sqrt.insert(n, intrinsic("llvm.sqrt", n)?);
            floor.insert(n, intrinsic("llvm.floor", n)?);
            fence.insert(n, intrinsic("llvm.arithmetic.fence", n)?);
        }
        Ok(Shared {
            ctx,
            f64t,
            i64t,
            i32t: ctx.i32_type(),
            ptr,
            imports,
            sqrt,
            floor,
            fence,
            lanes,
        })
    }
}

/// What one part of a function loaded before the loop.
struct PartState<'a, 'ctx> {
    addrs: &'a [Addr],
    targets: &'a [Target],
    bufs: &'a [u32],
    domain: Domain,
    /// Temporaries of the scalar loop and of the vector loop.
    temps: Vec<PointerValue<'ctx>>,
    vtemps: Vec<PointerValue<'ctx>>,
    var_bases: Vec<Option<PointerValue<'ctx>>>,
    acc_bases: HashMap<usize, PointerValue<'ctx>>,
    count: IntValue<'ctx>,
    t: V<'ctx>,
    dt: V<'ctx>,
    step: IntValue<'ctx>,
    seed: IntValue<'ctx>,
    spikes: PointerValue<'ctx>,
    spike_count: PointerValue<'ctx>,
    refr: PointerValue<'ctx>,
    tables: PointerValue<'ctx>,
    lens: PointerValue<'ctx>,
    list: PointerValue<'ctx>,
    /// `Env::keys`: each synapse's number in the whole projection, or null.
    keys: PointerValue<'ctx>,
    rows: PointerValue<'ctx>,
    pre: PointerValue<'ctx>,
    post: PointerValue<'ctx>,
    ref_until: PointerValue<'ctx>,
    start: IntValue<'ctx>,
}

/// A fused projection's local sum into one postsynaptic value.
struct Sum<'ctx> {
    slot: PointerValue<'ctx>,
    base: PointerValue<'ctx>,
    buf: u32,
    input: bool,
    fresh: bool,
}

/// A buffer's value at the current element within one iteration.
#[derive(Clone, Copy)]
struct Cached<'ctx> {
    value: V<'ctx>,
    addr: PointerValue<'ctx>,
    dirty: bool,
    /// A scratch buffer's value written outside any branch: never stored,
    /// and kept across branches (it dominates the rest of the iteration).
    keep: bool,
}

/// Generation state of one function.
struct Gen<'a, 'ctx> {
    s: &'a Shared<'ctx>,
    b: Builder<'ctx>,
    func: FunctionValue<'ctx>,
    parts: Vec<PartState<'a, 'ctx>>,
    cur: usize,
    k: IntValue<'ctx>,
    element: IntValue<'ctx>,
    i: IntValue<'ctx>,
    j: IntValue<'ctx>,
    /// This part's refractoriness: i1, or a lane mask.
    refractory: Option<V<'ctx>>,
    /// This iteration's refractoriness of its `Each` parts (every part of
    /// a function is one population's: loaded once).
    iter_refractory: Option<V<'ctx>>,
    local: Option<HashMap<u32, Sum<'ctx>>>,
    depth: u32,
    /// 1, or `s.lanes` in the vector loop.
    lanes: u32,
    /// Values of buffers at the element within an iteration (stores wait
    /// for its end or a branch), when every part is elementwise.
    cache: Option<BTreeMap<u32, Cached<'ctx>>>,
    /// Buffers that need not be stored (`Plan::scratch`).
    scratch: &'a [u32],
    /// In a row of synapses: the presynaptic neuron's values, by variable
    /// (read once per row).
    row_values: HashMap<u32, V<'ctx>>,
}

/// Emits function `name` of `groups` into `module`.
pub(crate) fn function<'ctx>(
    s: &Shared<'ctx>,
    module: &Module<'ctx>,
    name: &str,
    groups: &[Group<'_>],
    scratch: &[u32],
    once: bool,
    linkage: Linkage,
) -> R<FunctionValue<'ctx>> {
    let flat: Vec<(Part<'_>, bool)> = groups
        .iter()
        .flat_map(|g| match g {
            Group::Plain(p) => vec![(*p, false)],
            Group::Couple(ps) => ps.iter().map(|p| (*p, true)).collect(),
        })
        .collect();
    if flat.is_empty() {
        return Err(CodegenError(format!("{name}: nothing to compile")));
    }
    let fty = s.ctx.void_type().fn_type(&[s.ptr.into()], false);
    let func = module.add_function(name, fty, Some(linkage));
    let b = s.ctx.create_builder();
    let entry = s.ctx.append_basic_block(func, "entry");
    b.position_at_end(entry);
    let env0 = func
        .get_first_param()
        .ok_or_else(|| CodegenError("no env".into()))?
        .into_pointer_value();
    let mut parts = vec![];
    let mut shared = HashMap::new();
    for (m, (part, local)) in flat.iter().enumerate() {
        let env = gep_i8(&b, s, env0, i64::from(off::SIZE) * m as i64)?;
        parts.push(load_part(&b, s, env, part, *local, &mut shared)?);
    }
    let elementwise = flat.iter().all(|(p, _)| p.element_only());
    // Initial values run once: a vector loop would only cost compile time
    // (six inlined normal draws doubled COBA's).
    let vector = s.lanes > 1 && !once && flat.iter().all(|(p, _)| p.vectorizable());
    let mut g = Gen {
        s,
        b,
        func,
        cur: 0,
        k: parts[0].start,
        element: parts[0].start,
        i: parts[0].start,
        j: parts[0].start,
        parts,
        refractory: None,
        iter_refractory: None,
        local: None,
        depth: 0,
        lanes: 1,
        cache: elementwise.then(BTreeMap::new),
        // Without the cache every write is stored at once.
        scratch: if elementwise { scratch } else { &[] },
        row_values: HashMap::new(),
    };
    if let [Group::Plain(part)] = groups
        && by_rows(part)
    {
        // Over a range of synapses (no list) with the offsets of their
        // presynaptic rows: row by row. Otherwise the loop below.
        let (rows, generic) = (g.block("rows"), g.block("generic"));
        let st = &g.parts[0];
        let no_list = g.b.build_is_null(st.list, "").map_err(err)?;
        let has_rows = g.b.build_is_not_null(st.rows, "").map_err(err)?;
        let both = g.b.build_and(no_list, has_rows, "").map_err(err)?;
        g.b.build_conditional_branch(both, rows, generic)
            .map_err(err)?;
        g.b.position_at_end(rows);
        g.row_loop(part)?;
        g.b.position_at_end(generic);
    }
    let from = if vector {
        g.vector_loop(groups)?
    } else {
        g.parts[0].start
    };
    g.scalar_loop(from, groups)?;
    Ok(func)
}

/// Whether a synapse kernel may run row by row, reading its presynaptic
/// neuron's values once per row: it visits the synapses of a range and
/// writes only its synapse's own values and the runtime's accumulators
/// (never a neuron's buffer, which in a projection onto its own population
/// could be the presynaptic value read once).
fn by_rows(part: &Part<'_>) -> bool {
    let mut written = vec![];
    circ_ir::written_vars(&part.kernel.body, &mut written);
    part.kernel.domain == Domain::Synapses
        && written.iter().all(|&v| {
            matches!(part.view.targets.get(v as usize), Some(Target::Acc(..)))
                || part.view.addrs.get(v as usize) == Some(&Addr::Element)
        })
}

/// `base + bytes`, as a pointer.
fn gep_i8<'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    base: PointerValue<'ctx>,
    bytes: i64,
) -> R<PointerValue<'ctx>> {
    let o = s.i64t.const_int(bytes as u64, true);
    gep(b, s.ctx.i8_type(), base, o)
}

/// The address of element `idx` of type `ty` from `base`.
fn gep<'ctx>(
    b: &Builder<'ctx>,
    ty: impl BasicType<'ctx>,
    base: PointerValue<'ctx>,
    idx: IntValue<'ctx>,
) -> R<PointerValue<'ctx>> {
    // SAFETY: the index stays within the buffer the runtime gave for this
    // element (the same addresses every other backend computes); LLVM's
    // `inbounds` only promises that, and nothing is dereferenced here.
    #[allow(unsafe_code)]
    unsafe {
        b.build_in_bounds_gep(ty, base, &[idx], "").map_err(err)
    }
}

fn load_at<'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    o: i32,
    ty: impl BasicType<'ctx>,
) -> R<V<'ctx>> {
    let a = gep_i8(b, s, env, i64::from(o))?;
    b.build_load(ty, a, "").map_err(err)
}

/// Loads what part `part` needs from the `Env` at `env` (in the entry
/// block). Parts naming one buffer share its base pointer (`shared`), so
/// LLVM sees one address.
fn load_part<'a, 'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    part: &Part<'a>,
    local: bool,
    shared: &mut HashMap<u32, PointerValue<'ctx>>,
) -> R<PartState<'a, 'ctx>> {
    let k = part.kernel;
    let p = |o| -> R<PointerValue<'ctx>> { Ok(load_at(b, s, env, o, s.ptr)?.into_pointer_value()) };
    let i = |o| -> R<IntValue<'ctx>> { Ok(load_at(b, s, env, o, s.i64t)?.into_int_value()) };
    let vars = p(off::VARS)?;
    let acc = p(off::ACC)?;
    let mut var_bases = vec![None; part.view.addrs.len()];
    let mut acc_bases = HashMap::new();
    for v in vars_used(&k.body) {
        let buf = part.bufs.get(v as usize).copied().unwrap_or(v);
        let base = match shared.get(&buf) {
            Some(b) => *b,
            None => {
                let slot = gep(b, s.ptr, vars, s.i64t.const_int(u64::from(v), false))?;
                let base = b
                    .build_load(s.ptr, slot, "")
                    .map_err(err)?
                    .into_pointer_value();
                shared.insert(buf, base);
                base
            }
        };
        if let Some(slot) = var_bases.get_mut(v as usize) {
            *slot = Some(base);
        }
        if let Some(Target::Acc(pv, _)) = part.view.targets.get(v as usize)
            && !local
        {
            let slot = gep(b, s.ptr, acc, s.i64t.const_int(*pv as u64, false))?;
            let a = b
                .build_load(s.ptr, slot, "")
                .map_err(err)?
                .into_pointer_value();
            acc_bases.insert(*pv, a);
        }
    }
    let vt = s.f64t.vec_type(s.lanes);
    let temps = (0..k.temps)
        .map(|_| b.build_alloca(s.f64t, "t").map_err(err))
        .collect::<R<Vec<_>>>()?;
    let vtemps = (0..k.temps)
        .map(|_| b.build_alloca(vt, "vt").map_err(err))
        .collect::<R<Vec<_>>>()?;
    Ok(PartState {
        addrs: &part.view.addrs,
        targets: &part.view.targets,
        bufs: part.bufs,
        domain: k.domain,
        temps,
        vtemps,
        var_bases,
        acc_bases,
        count: i(off::COUNT)?,
        start: i(off::START)?,
        t: load_at(b, s, env, off::T, s.f64t)?,
        dt: load_at(b, s, env, off::DT, s.f64t)?,
        step: i(off::STEP)?,
        seed: i(off::SEED)?,
        spikes: p(off::SPIKES)?,
        spike_count: p(off::SPIKE_COUNT)?,
        refr: p(off::REFR)?,
        tables: p(off::TABLES)?,
        lens: p(off::TABLE_LENS)?,
        list: p(off::LIST)?,
        keys: p(off::KEYS)?,
        rows: p(off::ROWS)?,
        pre: p(off::PRE)?,
        post: p(off::POST)?,
        ref_until: p(off::REF_UNTIL)?,
    })
}

/// Applies a builder method to two floats or two vectors of floats.
macro_rules! float2 {
    ($g:expr, $m:ident, $x:expr, $y:expr) => {
        match ($x, $y) {
            (V::FloatValue(x), V::FloatValue(y)) => $g.b.$m(x, y, "").map(V::from),
            (V::VectorValue(x), V::VectorValue(y)) => $g.b.$m(x, y, "").map(V::from),
            _ => return Err(CodegenError("mixed lanes".into())),
        }
        .map_err(err)?
    };
}

/// Applies a builder method to two integers (or i1s) or two vectors of them.
macro_rules! int2 {
    ($g:expr, $m:ident, $x:expr, $y:expr $(, $extra:expr)?) => {
        match ($x, $y) {
            (V::IntValue(x), V::IntValue(y)) => $g.b.$m(x, y, $($extra,)? "").map(V::from),
            (V::VectorValue(x), V::VectorValue(y)) => $g.b.$m(x, y, $($extra,)? "").map(V::from),
            _ => return Err(CodegenError("mixed lanes".into())),
        }
        .map_err(err)?
    };
}

impl<'a, 'ctx> Gen<'a, 'ctx> {
    fn block(&self, name: &str) -> BasicBlock<'ctx> {
        self.s.ctx.append_basic_block(self.func, name)
    }

    /// The current element's number in the whole network (its draws' key
    /// and its `Index`): a synapse of a split network looks it up in
    /// `Env::keys`; every other element is its own. (Such parts never run
    /// in the vector loop: `Part::vectorizable`.)
    fn key(&mut self) -> R<IntValue<'ctx>> {
        let (domain, keys) = (self.p().domain, self.p().keys);
        if !domain.has_synapse() || self.lanes != 1 {
            return Ok(self.element);
        }
        let from = self.current_block()?;
        let (with, joined) = (self.block("key"), self.block("keyed"));
        let has = self.b.build_is_not_null(keys, "").map_err(err)?;
        self.b
            .build_conditional_branch(has, with, joined)
            .map_err(err)?;
        self.b.position_at_end(with);
        let v = self.load_u32(keys, self.element)?;
        self.b.build_unconditional_branch(joined).map_err(err)?;
        self.b.position_at_end(joined);
        let phi = self.b.build_phi(self.s.i64t, "key").map_err(err)?;
        phi.add_incoming(&[(&v, with), (&self.element, from)]);
        Ok(phi.as_basic_value().into_int_value())
    }

    fn p(&self) -> &PartState<'a, 'ctx> {
        &self.parts[self.cur]
    }

    fn current_block(&self) -> R<BasicBlock<'ctx>> {
        self.b
            .get_insert_block()
            .ok_or_else(|| CodegenError("no block".into()))
    }

    /// `t`, or a vector of `lanes` of it in the vector loop.
    fn vty(&self, t: impl BasicType<'ctx>) -> BasicTypeEnum<'ctx> {
        match t.as_basic_type_enum() {
            BasicTypeEnum::FloatType(f) if self.lanes > 1 => f.vec_type(self.lanes).into(),
            BasicTypeEnum::IntType(i) if self.lanes > 1 => i.vec_type(self.lanes).into(),
            other => other,
        }
    }

    /// The type of values: f64, or a vector of `lanes` of them.
    fn fty(&self) -> BasicTypeEnum<'ctx> {
        self.vty(self.s.f64t)
    }

    /// A scalar in every lane.
    fn splat(&self, x: V<'ctx>) -> R<V<'ctx>> {
        if self.lanes == 1 {
            return Ok(x);
        }
        if let Some(v) = match x {
            V::FloatValue(f) if f.is_const() => {
                Some(VectorType::const_vector(&vec![f; self.lanes as usize]))
            }
            V::IntValue(i) if i.is_const() => {
                Some(VectorType::const_vector(&vec![i; self.lanes as usize]))
            }
            _ => None,
        } {
            return Ok(v.into());
        }
        let ty = match x {
            V::FloatValue(_) => self.s.f64t.vec_type(self.lanes),
            V::IntValue(i) => i.get_type().vec_type(self.lanes),
            _ => return Err(CodegenError("splat of a vector".into())),
        };
        let mut v: VectorValue<'ctx> = ty.get_undef();
        for lane in 0..self.lanes {
            let idx = self.s.i32t.const_int(u64::from(lane), false);
            v = self.b.build_insert_element(v, x, idx, "").map_err(err)?;
        }
        Ok(v.into())
    }

    fn f(&self, c: f64) -> R<V<'ctx>> {
        self.splat(self.s.f64t.const_float(c).into())
    }

    fn int(&self, c: i64) -> R<V<'ctx>> {
        self.splat(self.s.i64t.const_int(c as u64, true).into())
    }

    fn load(&self, a: PointerValue<'ctx>) -> R<V<'ctx>> {
        let ld = self.b.build_load(self.fty(), a, "").map_err(err)?;
        if let Some(i) = ld.as_instruction_value() {
            let _ = i.set_alignment(8);
        }
        Ok(ld)
    }

    fn store(&self, a: PointerValue<'ctx>, x: V<'ctx>) -> R<()> {
        let st = self.b.build_store(a, x).map_err(err)?;
        let _ = st.set_alignment(8);
        Ok(())
    }

    /// Reads buffer `buf` at `a` (the element's place), through the cache.
    fn read_at(&mut self, buf: u32, a: PointerValue<'ctx>) -> R<V<'ctx>> {
        if let Some(c) = self.cache.as_ref().and_then(|c| c.get(&buf)) {
            return Ok(c.value);
        }
        let value = self.load(a)?;
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
        Ok(value)
    }

    /// Writes `x` into buffer `buf` at `a` (kept until a flush when caching).
    fn write_at(&mut self, buf: u32, a: PointerValue<'ctx>, x: V<'ctx>) -> R<()> {
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
                Ok(())
            }
            None => self.store(a, x),
        }
    }

    /// Stores every value written since the last flush.
    fn flush(&mut self) -> R<()> {
        let Some(c) = self.cache.as_mut() else {
            return Ok(());
        };
        let pending: Vec<Cached<'ctx>> = c
            .values_mut()
            .filter(|e| e.dirty)
            .map(|e| {
                e.dirty = false;
                *e
            })
            .collect();
        for e in pending {
            self.store(e.addr, e.value)?;
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

    /// Forgets everything: a new element.
    fn clear(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
    }

    /// The loop over elements `from..count`, one at a time, then the return.
    fn scalar_loop(&mut self, from: IntValue<'ctx>, groups: &[Group<'_>]) -> R<()> {
        self.lanes = 1;
        let count = self.parts[0].count;
        let pre = self.current_block()?;
        let header = self.block("loop");
        let exit = self.block("exit");
        let empty = self
            .b
            .build_int_compare(IntPredicate::UGE, from, count, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(empty, exit, header)
            .map_err(err)?;
        self.b.position_at_end(header);
        let k = self.b.build_phi(self.s.i64t, "k").map_err(err)?;
        k.add_incoming(&[(&from, pre)]);
        self.k = k.as_basic_value().into_int_value();
        self.groups(groups)?;
        let next = self
            .b
            .build_int_add(self.k, self.s.i64t.const_int(1, false), "")
            .map_err(err)?;
        k.add_incoming(&[(&next, self.current_block()?)]);
        let more = self
            .b
            .build_int_compare(IntPredicate::ULT, next, count, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(more, header, exit)
            .map_err(err)?;
        self.b.position_at_end(exit);
        self.b.build_return(None).map_err(err)?;
        Ok(())
    }

    /// The loop over synapses `start..count` row by row, then the return: a
    /// row's presynaptic neuron is read once (`pre[k]` at the row's first
    /// synapse), its values loaded once, and its synapses visited in order
    /// (the same order, so the same sums, as one at a time).
    fn row_loop(&mut self, part: &Part<'_>) -> R<()> {
        self.lanes = 1;
        self.cur = 0;
        let i64t = self.s.i64t;
        let one = i64t.const_int(1, false);
        let (start, count, rows, pre, post) = {
            let st = &self.parts[0];
            (st.start, st.count, st.rows, st.pre, st.post)
        };
        let entry = self.current_block()?;
        let (outer, inner, next, exit) = (
            self.block("row"),
            self.block("syn"),
            self.block("next_row"),
            self.block("rows_done"),
        );
        let empty = self
            .b
            .build_int_compare(IntPredicate::UGE, start, count, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(empty, exit, outer)
            .map_err(err)?;
        // The row of synapse k0: its presynaptic neuron, and where it ends.
        self.b.position_at_end(outer);
        let k0 = self.b.build_phi(i64t, "k0").map_err(err)?;
        k0.add_incoming(&[(&start, entry)]);
        let k0v = k0.as_basic_value().into_int_value();
        let i = self.load_u32(pre, k0v)?;
        let i1 = self.b.build_int_add(i, one, "").map_err(err)?;
        let end_at = gep(&self.b, i64t, rows, i1)?;
        let end = self
            .b
            .build_load(i64t, end_at, "")
            .map_err(err)?
            .into_int_value();
        let short = self
            .b
            .build_int_compare(IntPredicate::ULT, end, count, "")
            .map_err(err)?;
        let end = self
            .b
            .build_select(short, end, count, "")
            .map_err(err)?
            .into_int_value();
        self.i = i;
        self.row_values.clear();
        let mut named = vec![];
        circ_ir::named_vars(&part.kernel.body, &mut named);
        named.sort_unstable();
        named.dedup();
        for v in named {
            if self.p().addrs.get(v as usize) == Some(&Addr::Pre) {
                let a = self.var_addr(v)?;
                let x = self.load(a)?;
                self.row_values.insert(v, x);
            }
        }
        // Four synapses an iteration while four are left (the body is a
        // few instructions: the loop's own would be a third of them), then
        // one at a time.
        let (quads, quad, tail) = (self.block("quads"), self.block("quad"), self.block("tail"));
        self.b.build_unconditional_branch(quads).map_err(err)?;
        self.b.position_at_end(quads);
        let four = i64t.const_int(4, false);
        let k4 = self.b.build_int_add(k0v, four, "").map_err(err)?;
        let fits = self
            .b
            .build_int_compare(IntPredicate::ULE, k4, end, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(fits, quad, tail)
            .map_err(err)?;
        self.b.position_at_end(quad);
        let kq = self.b.build_phi(i64t, "kq").map_err(err)?;
        kq.add_incoming(&[(&k0v, quads)]);
        let kqv = kq.as_basic_value().into_int_value();
        for u in 0..4 {
            let at = self
                .b
                .build_int_add(kqv, i64t.const_int(u, false), "")
                .map_err(err)?;
            self.one_synapse(part, at, post)?;
        }
        let kq4 = self.b.build_int_add(kqv, four, "").map_err(err)?;
        let kq8 = self.b.build_int_add(kq4, four, "").map_err(err)?;
        let again = self
            .b
            .build_int_compare(IntPredicate::ULE, kq8, end, "")
            .map_err(err)?;
        kq.add_incoming(&[(&kq4, self.current_block()?)]);
        let quad_end = self.current_block()?;
        self.b
            .build_conditional_branch(again, quad, tail)
            .map_err(err)?;
        self.b.position_at_end(tail);
        let kt = self.b.build_phi(i64t, "kt").map_err(err)?;
        kt.add_incoming(&[(&k0v, quads), (&kq4, quad_end)]);
        let ktv = kt.as_basic_value().into_int_value();
        let some = self
            .b
            .build_int_compare(IntPredicate::ULT, ktv, end, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(some, inner, next)
            .map_err(err)?;
        self.b.position_at_end(inner);
        let k = self.b.build_phi(i64t, "k").map_err(err)?;
        k.add_incoming(&[(&ktv, tail)]);
        let kv = k.as_basic_value().into_int_value();
        self.one_synapse(part, kv, post)?;
        let kn = self.b.build_int_add(kv, one, "").map_err(err)?;
        k.add_incoming(&[(&kn, self.current_block()?)]);
        let more = self
            .b
            .build_int_compare(IntPredicate::ULT, kn, end, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(more, inner, next)
            .map_err(err)?;
        self.b.position_at_end(next);
        self.row_values.clear();
        let left = self
            .b
            .build_int_compare(IntPredicate::ULT, end, count, "")
            .map_err(err)?;
        k0.add_incoming(&[(&end, next)]);
        self.b
            .build_conditional_branch(left, outer, exit)
            .map_err(err)?;
        self.b.position_at_end(exit);
        self.b.build_return(None).map_err(err)?;
        Ok(())
    }

    /// Synapse `k` of the current row: its postsynaptic neuron, then the body.
    fn one_synapse(
        &mut self,
        part: &Part<'_>,
        k: IntValue<'ctx>,
        post: PointerValue<'ctx>,
    ) -> R<()> {
        self.k = k;
        self.element = k;
        self.j = self.load_u32(post, k)?;
        self.refractory = None;
        self.iter_refractory = None;
        self.clear();
        self.stmts(&part.kernel.body)?;
        self.flush()
    }

    /// The loop over whole groups of `lanes` elements from `start`; returns
    /// the first element it leaves to the scalar loop.
    fn vector_loop(&mut self, groups: &[Group<'_>]) -> R<IntValue<'ctx>> {
        let w = self.s.lanes;
        let (start, count) = (self.parts[0].start, self.parts[0].count);
        let i64t = self.s.i64t;
        let some = self
            .b
            .build_int_compare(IntPredicate::ULT, start, count, "")
            .map_err(err)?;
        let n = self.b.build_int_sub(count, start, "").map_err(err)?;
        let n = self
            .b
            .build_select(some, n, i64t.const_zero(), "")
            .map_err(err)?
            .into_int_value();
        let whole = self
            .b
            .build_and(n, i64t.const_int(!(u64::from(w) - 1), false), "")
            .map_err(err)?;
        let end = self.b.build_int_add(start, whole, "").map_err(err)?;
        let pre = self.current_block()?;
        let header = self.block("vloop");
        let exit = self.block("vexit");
        let any = self
            .b
            .build_int_compare(IntPredicate::ULT, start, end, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(any, header, exit)
            .map_err(err)?;
        self.b.position_at_end(header);
        let k = self.b.build_phi(i64t, "vk").map_err(err)?;
        k.add_incoming(&[(&start, pre)]);
        self.k = k.as_basic_value().into_int_value();
        self.lanes = w;
        self.groups(groups)?;
        self.lanes = 1;
        let next = self
            .b
            .build_int_add(self.k, i64t.const_int(u64::from(w), false), "")
            .map_err(err)?;
        k.add_incoming(&[(&next, self.current_block()?)]);
        let more = self
            .b
            .build_int_compare(IntPredicate::ULT, next, end, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(more, header, exit)
            .map_err(err)?;
        self.b.position_at_end(exit);
        Ok(end)
    }

    fn load_u32(&self, arr: PointerValue<'ctx>, idx: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let a = gep(&self.b, self.s.i32t, arr, idx)?;
        let v = self
            .b
            .build_load(self.s.i32t, a, "")
            .map_err(err)?
            .into_int_value();
        self.b.build_int_z_extend(v, self.s.i64t, "").map_err(err)
    }

    /// Makes part `m` current: its element, neurons and refractoriness.
    fn enter(&mut self, m: usize) -> R<()> {
        self.cur = m;
        let st = &self.parts[m];
        let kv = self.k;
        let uses_list = matches!(
            st.domain,
            Domain::Spiking | Domain::SpikingPre | Domain::SpikingPost | Domain::PostSpikeSynapses
        );
        let (list, pre, post, domain) = (st.list, st.pre, st.post, st.domain);
        let element = if uses_list {
            self.load_u32(list, kv)?
        } else if matches!(domain, Domain::Synapses | Domain::Arriving) {
            // A list of synapses if given, else a range.
            let has = self.b.build_is_not_null(list, "").map_err(err)?;
            let (with, without, joined) =
                (self.block("list"), self.block("range"), self.block("el"));
            self.b
                .build_conditional_branch(has, with, without)
                .map_err(err)?;
            self.b.position_at_end(with);
            let e = self.load_u32(list, kv)?;
            self.b.build_unconditional_branch(joined).map_err(err)?;
            self.b.position_at_end(without);
            self.b.build_unconditional_branch(joined).map_err(err)?;
            self.b.position_at_end(joined);
            let phi = self.b.build_phi(self.s.i64t, "e").map_err(err)?;
            phi.add_incoming(&[(&e, with), (&kv, without)]);
            phi.as_basic_value().into_int_value()
        } else {
            kv
        };
        let zero = self.s.i64t.const_zero();
        let (i, j) = match domain {
            Domain::PreNeurons | Domain::SpikingPre => (element, zero),
            Domain::PostNeurons | Domain::SpikingPost => (zero, element),
            Domain::Synapses | Domain::Arriving | Domain::PostSpikeSynapses => {
                (self.load_u32(pre, element)?, self.load_u32(post, element)?)
            }
            _ => (zero, zero),
        };
        self.refractory = if domain == Domain::Each && self.iter_refractory.is_some() {
            self.iter_refractory
        } else if matches!(domain, Domain::Each | Domain::Spiking) {
            let st = &self.parts[m];
            let (ref_until, step) = (st.ref_until, st.step);
            let a = gep(&self.b, self.s.i64t, ref_until, element)?;
            let until = self
                .b
                .build_load(self.vty(self.s.i64t), a, "")
                .map_err(err)?;
            if let Some(i) = until.as_instruction_value() {
                // The runtime's buffers are 8-byte aligned, not a vector's width.
                let _ = i.set_alignment(8);
            }
            let step = self.splat(step.into())?;
            Some(self.icmp(IntPredicate::SLE, step, until)?)
        } else {
            None
        };
        if domain == Domain::Each {
            self.iter_refractory = self.refractory;
        }
        (self.element, self.i, self.j) = (element, i, j);
        Ok(())
    }

    fn groups(&mut self, groups: &[Group<'_>]) -> R<()> {
        self.clear();
        self.iter_refractory = None;
        let mut m = 0;
        for g in groups {
            match g {
                Group::Plain(part) => {
                    self.enter(m)?;
                    self.stmts(&part.kernel.body)?;
                    m += 1;
                }
                Group::Couple(parts) => {
                    // One local sum per postsynaptic value, from +0.
                    let mut local: HashMap<u32, Sum<'ctx>> = HashMap::new();
                    for cs in couple_sums(parts) {
                        let st = &self.parts[m + cs.part];
                        let Some(base) = st.var_bases.get(cs.var as usize).copied().flatten()
                        else {
                            continue;
                        };
                        let slot = self.entry_alloca()?;
                        self.b.build_store(slot, self.f(0.0)?).map_err(err)?;
                        local.insert(
                            cs.var,
                            Sum {
                                slot,
                                base,
                                buf: cs.buf,
                                input: cs.input,
                                fresh: true,
                            },
                        );
                    }
                    self.local = Some(local);
                    for part in parts {
                        self.enter(m)?;
                        self.stmts(&part.kernel.body)?;
                        m += 1;
                    }
                    let mut sums: Vec<(u32, Sum<'ctx>)> =
                        self.local.take().unwrap_or_default().into_iter().collect();
                    sums.sort_by_key(|s| s.0);
                    for (_, sum) in sums {
                        if sum.fresh {
                            continue;
                        }
                        let add = self.b.build_load(self.fty(), sum.slot, "").map_err(err)?;
                        let a = gep(&self.b, self.s.f64t, sum.base, self.j)?;
                        let x = self.read_at(sum.buf, a)?;
                        let added = float2!(self, build_float_add, x, add);
                        let new = if sum.input {
                            added
                        } else {
                            let zero = self.f(0.0)?;
                            let is_zero = self.fcmp(FloatPredicate::OEQ, add, zero)?;
                            self.choose(is_zero, x, added)?
                        };
                        self.write_at(sum.buf, a, new)?;
                    }
                }
            }
        }
        self.flush()
    }

    /// A fresh slot of the loop's value type in the entry block (promoted
    /// to a register by LLVM).
    fn entry_alloca(&self) -> R<PointerValue<'ctx>> {
        let entry = self
            .func
            .get_first_basic_block()
            .ok_or_else(|| CodegenError("no entry".into()))?;
        let b = self.s.ctx.create_builder();
        match entry.get_first_instruction() {
            Some(i) => b.position_before(&i),
            None => b.position_at_end(entry),
        }
        b.build_alloca(self.fty(), "sum").map_err(err)
    }

    fn fcmp(&self, p: FloatPredicate, x: V<'ctx>, y: V<'ctx>) -> R<V<'ctx>> {
        match (x, y) {
            (V::FloatValue(x), V::FloatValue(y)) => {
                self.b.build_float_compare(p, x, y, "").map(V::from)
            }
            (V::VectorValue(x), V::VectorValue(y)) => {
                self.b.build_float_compare(p, x, y, "").map(V::from)
            }
            _ => return Err(CodegenError("mixed lanes".into())),
        }
        .map_err(err)
    }

    fn icmp(&self, p: IntPredicate, x: V<'ctx>, y: V<'ctx>) -> R<V<'ctx>> {
        match (x, y) {
            (V::IntValue(x), V::IntValue(y)) => self.b.build_int_compare(p, x, y, "").map(V::from),
            (V::VectorValue(x), V::VectorValue(y)) => {
                self.b.build_int_compare(p, x, y, "").map(V::from)
            }
            _ => return Err(CodegenError("mixed lanes".into())),
        }
        .map_err(err)
    }

    /// `c ? x : y`, per lane.
    fn choose(&self, c: V<'ctx>, x: V<'ctx>, y: V<'ctx>) -> R<V<'ctx>> {
        match c {
            V::IntValue(c) => self.b.build_select(c, x, y, ""),
            V::VectorValue(c) => self.b.build_select(c, x, y, ""),
            _ => return Err(CodegenError("a condition that is not one".into())),
        }
        .map_err(err)
    }

    fn not(&self, c: V<'ctx>) -> R<V<'ctx>> {
        match c {
            V::IntValue(c) => self.b.build_not(c, "").map(V::from),
            V::VectorValue(c) => self.b.build_not(c, "").map(V::from),
            _ => return Err(CodegenError("a condition that is not one".into())),
        }
        .map_err(err)
    }

    fn neg(&self, x: V<'ctx>) -> R<V<'ctx>> {
        let x = self.intrinsic(&self.s.fence, x)?;
        match x {
            V::FloatValue(x) => self.b.build_float_neg(x, "").map(V::from),
            V::VectorValue(x) => self.b.build_float_neg(x, "").map(V::from),
            _ => return Err(CodegenError("negation of a non-float".into())),
        }
        .map_err(err)
    }

    fn index(&self, v: u32) -> IntValue<'ctx> {
        match self
            .p()
            .addrs
            .get(v as usize)
            .copied()
            .unwrap_or(Addr::Zero)
        {
            Addr::Zero => self.s.i64t.const_zero(),
            Addr::Element => self.element,
            Addr::Pre => self.i,
            Addr::Post => self.j,
        }
    }

    fn buf(&self, v: u32) -> u32 {
        self.p().bufs.get(v as usize).copied().unwrap_or(v)
    }

    fn var_addr(&self, v: u32) -> R<PointerValue<'ctx>> {
        let base = self
            .p()
            .var_bases
            .get(v as usize)
            .copied()
            .flatten()
            .ok_or_else(|| CodegenError(format!("variable %{v} has no base")))?;
        gep(&self.b, self.s.f64t, base, self.index(v))
    }

    fn temp(&self, t: u32) -> R<PointerValue<'ctx>> {
        let p = self.p();
        let temps = if self.lanes > 1 { &p.vtemps } else { &p.temps };
        temps
            .get(t as usize)
            .copied()
            .ok_or_else(|| CodegenError(format!("no temp {t}")))
    }

    fn truth(&self, c: V<'ctx>) -> R<V<'ctx>> {
        self.choose(c, self.f(1.0)?, self.f(0.0)?)
    }

    fn nonzero(&self, x: V<'ctx>) -> R<V<'ctx>> {
        // The interpreter's `!= 0.0`: NaN is true.
        self.fcmp(FloatPredicate::UNE, x, self.f(0.0)?)
    }

    fn call(&self, name: &str, args: &[BasicMetadataValueEnum<'ctx>]) -> R<V<'ctx>> {
        let f = *self
            .s
            .imports
            .get(name)
            .ok_or_else(|| CodegenError(format!("no import {name}")))?;
        self.call_fn(f, args)
    }

    fn call_fn(&self, f: FunctionValue<'ctx>, args: &[BasicMetadataValueEnum<'ctx>]) -> R<V<'ctx>> {
        match self
            .b
            .build_call(f, args, "")
            .map_err(err)?
            .try_as_basic_value()
        {
            inkwell::values::ValueKind::Basic(v) => Ok(v),
            inkwell::values::ValueKind::Instruction(_) => {
                Err(CodegenError("a call without a value".into()))
            }
        }
    }

    fn intrinsic(&self, which: &HashMap<u32, FunctionValue<'ctx>>, x: V<'ctx>) -> R<V<'ctx>> {
        let f = *which
            .get(&self.lanes)
            .ok_or_else(|| CodegenError("no intrinsic for these lanes".into()))?;
        self.call_fn(f, &[x.into()])
    }

    /// A math program inlined: the interpreter's operations in order, per lane.
    fn inline(&self, prog: &Program, args: &[V<'ctx>]) -> R<V<'ctx>> {
        let mut v: Vec<V<'ctx>> = Vec::with_capacity(prog.ops.len());
        let it = self.vty(self.s.i64t);
        let ft = self.fty();
        for op in &prog.ops {
            let x: V<'ctx> = match *op {
                Op::Arg(n) => *args
                    .get(n as usize)
                    .ok_or_else(|| CodegenError(format!("a math program wants argument {n}")))?,
                Op::F(c) => self.f(c)?,
                Op::I(c) => self.int(c)?,
                Op::FBin(o, x, y) => {
                    let (x, y) = (v[x as usize], v[y as usize]);
                    match o {
                        FBin::Add => float2!(self, build_float_add, x, y),
                        FBin::Sub => float2!(self, build_float_sub, x, y),
                        FBin::Mul => float2!(self, build_float_mul, x, y),
                        FBin::Div => float2!(self, build_float_div, x, y),
                    }
                }
                Op::FUn(o, x) => {
                    let x = v[x as usize];
                    match o {
                        FUn::Neg => self.neg(x)?,
                        FUn::Sqrt => self.intrinsic(&self.s.sqrt, x)?,
                        FUn::Floor => self.intrinsic(&self.s.floor, x)?,
                    }
                }
                Op::FCmp(o, x, y) => {
                    let p = match o {
                        Cmp::Lt => FloatPredicate::OLT,
                        Cmp::Le => FloatPredicate::OLE,
                        Cmp::Eq => FloatPredicate::OEQ,
                        Cmp::Uno => FloatPredicate::UNO,
                    };
                    self.fcmp(p, v[x as usize], v[y as usize])?
                }
                Op::IBin(o, x, y) => {
                    let (x, y) = (v[x as usize], v[y as usize]);
                    match o {
                        IBin::Add => int2!(self, build_int_add, x, y),
                        IBin::Sub => int2!(self, build_int_sub, x, y),
                        IBin::And => int2!(self, build_and, x, y),
                        IBin::Or => int2!(self, build_or, x, y),
                        IBin::Shl => int2!(self, build_left_shift, x, y),
                        IBin::Shr => int2!(self, build_right_shift, x, y, false),
                        IBin::Mul => int2!(self, build_int_mul, x, y),
                        IBin::Xor => int2!(self, build_xor, x, y),
                    }
                }
                Op::ICmp(o, x, y) => {
                    let p = match o {
                        Cmp::Lt => IntPredicate::SLT,
                        Cmp::Le => IntPredicate::SLE,
                        Cmp::Eq | Cmp::Uno => IntPredicate::EQ,
                    };
                    self.icmp(p, v[x as usize], v[y as usize])?
                }
                Op::Bits(x) => self.b.build_bit_cast(v[x as usize], it, "").map_err(err)?,
                Op::FromBits(x) => self.b.build_bit_cast(v[x as usize], ft, "").map_err(err)?,
                Op::FSel(c, x, y) | Op::ISel(c, x, y) => {
                    self.choose(v[c as usize], v[x as usize], v[y as usize])?
                }
                Op::BBin(and, x, y) => {
                    let (x, y) = (v[x as usize], v[y as usize]);
                    if and {
                        int2!(self, build_and, x, y)
                    } else {
                        int2!(self, build_or, x, y)
                    }
                }
                Op::BNot(x) => self.not(v[x as usize])?,
            };
            v.push(x);
        }
        v.get(prog.out as usize)
            .copied()
            .ok_or_else(|| CodegenError("a math program without its result".into()))
    }

    fn expr(&mut self, e: &Expr) -> R<V<'ctx>> {
        Ok(match e {
            Expr::Const(c) => self.f(*c)?,
            Expr::Load(v) if self.row_values.contains_key(v) => self.row_values[v],
            Expr::Load(v) => {
                let a = self.var_addr(*v)?;
                if self.p().addrs.get(*v as usize) == Some(&Addr::Zero) && self.lanes > 1 {
                    // One value for every element: a scalar, in every lane.
                    let x = self.b.build_load(self.s.f64t, a, "").map_err(err)?;
                    self.splat(x)?
                } else {
                    let buf = self.buf(*v);
                    self.read_at(buf, a)?
                }
            }
            Expr::Temp(t) => self
                .b
                .build_load(self.fty(), self.temp(*t)?, "")
                .map_err(err)?,
            Expr::Time => self.splat(self.p().t)?,
            Expr::Dt => self.splat(self.p().dt)?,
            Expr::Index | Expr::PreIndex | Expr::PostIndex => {
                let x = match e {
                    Expr::Index => self.key()?,
                    Expr::PreIndex => self.i,
                    _ => self.j,
                };
                self.b
                    .build_unsigned_int_to_float(x, self.s.f64t, "")
                    .map_err(err)?
                    .into()
            }
            Expr::Refractory => match self.refractory {
                Some(r) => self.truth(r)?,
                None => self.f(0.0)?,
            },
            Expr::Un(Un::Neg, a) => {
                let a = self.expr(a)?;
                self.neg(a)?
            }
            Expr::Un(Un::Not, a) => {
                let a = self.expr(a)?;
                let c = self.fcmp(FloatPredicate::OEQ, a, self.f(0.0)?)?;
                self.truth(c)?
            }
            Expr::Bin(op, a, c) => {
                let (x, y) = (self.expr(a)?, self.expr(c)?);
                match op {
                    Bin::Add => float2!(self, build_float_add, x, y),
                    Bin::Sub => float2!(self, build_float_sub, x, y),
                    Bin::Mul => float2!(self, build_float_mul, x, y),
                    Bin::Div => float2!(self, build_float_div, x, y),
                    Bin::Pow | Bin::Min | Bin::Max => {
                        let prog = program_bin(*op)
                            .ok_or_else(|| CodegenError(format!("{op:?} has no program")))?;
                        self.inline(prog, &[x, y])?
                    }
                    Bin::Rem => {
                        let name = bin_symbol(*op)
                            .ok_or_else(|| CodegenError(format!("{op:?} has no function")))?;
                        self.call(name, &[x.into(), y.into()])?
                    }
                    Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge | Bin::Eq | Bin::Ne => {
                        let p = match op {
                            Bin::Lt => FloatPredicate::OLT,
                            Bin::Le => FloatPredicate::OLE,
                            Bin::Gt => FloatPredicate::OGT,
                            Bin::Ge => FloatPredicate::OGE,
                            Bin::Eq => FloatPredicate::OEQ,
                            _ => FloatPredicate::UNE,
                        };
                        let c = self.fcmp(p, x, y)?;
                        self.truth(c)?
                    }
                    Bin::And | Bin::Or => {
                        let (p, q) = (self.nonzero(x)?, self.nonzero(y)?);
                        let c = if *op == Bin::And {
                            int2!(self, build_and, p, q)
                        } else {
                            int2!(self, build_or, p, q)
                        };
                        self.truth(c)?
                    }
                }
            }
            Expr::Call(f, args) => {
                let vals = args.iter().map(|a| self.expr(a)).collect::<R<Vec<_>>>()?;
                self.inline(program(*f), &vals)?
            }
            Expr::Select(c, a, d) => {
                let c = self.expr(c)?;
                let cond = self.nonzero(c)?;
                let (x, y) = (self.expr(a)?, self.expr(d)?);
                self.choose(cond, x, y)?
            }
            Expr::Rand(d, s) => {
                // The draw's program, keyed by (seed, stream, element,
                // step): integers passed as the bits of floats; in the
                // vector loop, each lane its own element.
                let i64t = self.s.i64t;
                let key = self.key()?;
                let el = self
                    .b
                    .build_and(key, i64t.const_int(0xffff_ffff, false), "")
                    .map_err(err)?;
                let (seed, step) = (self.p().seed, self.p().step);
                let stream = i64t.const_int(u64::from(*s), false);
                let mut keys: Vec<V<'ctx>> = vec![
                    self.splat(seed.into())?,
                    self.splat(stream.into())?,
                    self.splat(el.into())?,
                    self.splat(step.into())?,
                ];
                if self.lanes > 1 {
                    let iota: Vec<IntValue<'ctx>> = (0..u64::from(self.lanes))
                        .map(|l| i64t.const_int(l, false))
                        .collect();
                    let iota = VectorType::const_vector(&iota);
                    keys[2] = int2!(self, build_int_add, keys[2], V::from(iota));
                }
                let ft = self.fty();
                let args = keys
                    .into_iter()
                    .map(|k| self.b.build_bit_cast(k, ft, "").map_err(err))
                    .collect::<R<Vec<_>>>()?;
                self.inline(program_rand(*d), &args)?
            }
            Expr::Table(k, x) => {
                let x = self.expr(x)?;
                let kv = self.s.i64t.const_int(u64::from(*k), false);
                let (tables, lens) = (self.p().tables, self.p().lens);
                self.call(
                    "circ_table",
                    &[tables.into(), lens.into(), kv.into(), x.into()],
                )?
            }
        })
    }

    fn stmts(&mut self, body: &[Stmt]) -> R<()> {
        for st in body {
            match st {
                Stmt::Let(t, e) => {
                    let x = self.expr(e)?;
                    let slot = self.temp(*t)?;
                    self.b.build_store(slot, x).map_err(err)?;
                }
                Stmt::Store(v, e) => {
                    let x = self.expr(e)?;
                    let a = self.var_addr(*v)?;
                    let buf = self.buf(*v);
                    self.write_at(buf, a, x)?;
                }
                Stmt::AddTo(v, e) => self.add_to(*v, e)?,
                Stmt::If(c, then, otherwise) => {
                    let c = self.expr(c)?;
                    let cond = self.nonzero(c)?.into_int_value();
                    let (tb, eb, merge) =
                        (self.block("then"), self.block("else"), self.block("fi"));
                    // Values known before the branch hold in both arms; each
                    // arm stores what it wrote; after the merge nothing is known.
                    self.flush()?;
                    let before = self.cache.clone();
                    self.b.build_conditional_branch(cond, tb, eb).map_err(err)?;
                    self.depth += 1;
                    self.b.position_at_end(tb);
                    self.stmts(then)?;
                    self.flush()?;
                    self.b.build_unconditional_branch(merge).map_err(err)?;
                    self.cache.clone_from(&before);
                    self.b.position_at_end(eb);
                    self.stmts(otherwise)?;
                    self.flush()?;
                    self.b.build_unconditional_branch(merge).map_err(err)?;
                    self.depth -= 1;
                    self.b.position_at_end(merge);
                    self.forget();
                }
                Stmt::While(c, body) => {
                    // The head is reached from before and from the body's
                    // end: memory is current on both edges.
                    self.flush()?;
                    self.forget();
                    let (head, inner, exit) =
                        (self.block("while"), self.block("do"), self.block("done"));
                    self.b.build_unconditional_branch(head).map_err(err)?;
                    self.b.position_at_end(head);
                    let c = self.expr(c)?;
                    let go = self.nonzero(c)?.into_int_value();
                    self.forget();
                    self.b
                        .build_conditional_branch(go, inner, exit)
                        .map_err(err)?;
                    self.b.position_at_end(inner);
                    self.depth += 1;
                    self.stmts(body)?;
                    self.depth -= 1;
                    self.flush()?;
                    self.forget();
                    self.b.build_unconditional_branch(head).map_err(err)?;
                    self.b.position_at_end(exit);
                }
                Stmt::Spike(c) => self.spike(c)?,
                Stmt::SetRefractory(e) => {
                    let x = self.expr(e)?;
                    let a = gep(&self.b, self.s.f64t, self.p().refr, self.k)?;
                    self.store(a, x)?;
                }
            }
        }
        Ok(())
    }

    fn add_to(&mut self, v: u32, e: &Expr) -> R<()> {
        let x = self.expr(e)?;
        let target = self
            .p()
            .targets
            .get(v as usize)
            .copied()
            .unwrap_or(Target::Own);
        let depth = self.depth;
        if let (Target::Acc(..), Some(local)) = (target, self.local.as_mut())
            && let Some(sum) = local.get_mut(&v)
        {
            // The first addition from +0 is the term itself, but for a -0
            // term; a zero sum is never applied, and later terms add the
            // same either way (as in the Cranelift emitter).
            let (slot, fresh) = (sum.slot, sum.fresh && depth == 0);
            sum.fresh = false;
            let new = if fresh {
                x
            } else {
                let old = self.b.build_load(self.fty(), slot, "").map_err(err)?;
                float2!(self, build_float_add, old, x)
            };
            self.b.build_store(slot, new).map_err(err)?;
            return Ok(());
        }
        match target {
            Target::Own => {
                let a = self.var_addr(v)?;
                let buf = self.buf(v);
                let old = self.read_at(buf, a)?;
                let new = float2!(self, build_float_add, old, x);
                self.write_at(buf, a, new)
            }
            Target::Acc(pv, _) => {
                let base = *self
                    .p()
                    .acc_bases
                    .get(&pv)
                    .ok_or_else(|| CodegenError("no accumulator".into()))?;
                let a = gep(&self.b, self.s.f64t, base, self.j)?;
                let old = self.load(a)?;
                let new = float2!(self, build_float_add, old, x);
                self.store(a, new)
            }
        }
    }

    /// Appends the element (each firing lane's, in order) to the spike list.
    fn spike(&mut self, c: &Expr) -> R<()> {
        let c = self.expr(c)?;
        let mut fire = self.nonzero(c)?;
        if let Some(r) = self.refractory {
            let free = self.not(r)?;
            fire = int2!(self, build_and, fire, free);
        }
        let (list, count) = (self.p().spikes, self.p().spike_count);
        let i64t = self.s.i64t;
        let (set, join) = (self.block("spike"), self.block("nospike"));
        if self.lanes > 1 {
            // The lanes' bits: spikes are rare, so one test per group.
            let w = self.lanes;
            let width =
                std::num::NonZeroU32::new(w).ok_or_else(|| CodegenError("no lanes".into()))?;
            let ity = self.s.ctx.custom_width_int_type(width).map_err(err)?;
            let bits = self
                .b
                .build_bit_cast(fire, ity, "")
                .map_err(err)?
                .into_int_value();
            let bits = self.b.build_int_z_extend(bits, i64t, "").map_err(err)?;
            let any = self
                .b
                .build_int_compare(IntPredicate::NE, bits, i64t.const_zero(), "")
                .map_err(err)?;
            self.b
                .build_conditional_branch(any, set, join)
                .map_err(err)?;
            self.b.position_at_end(set);
            // Each lane's index is written at the end of the list and kept
            // only if it fired (the list holds at least the elements visited).
            let mut n = self
                .b
                .build_load(i64t, count, "")
                .map_err(err)?
                .into_int_value();
            for lane in 0..u64::from(w) {
                let at = gep(&self.b, self.s.i32t, list, n)?;
                let e = self
                    .b
                    .build_int_add(self.element, i64t.const_int(lane, false), "")
                    .map_err(err)?;
                let e = self.b.build_int_truncate(e, self.s.i32t, "").map_err(err)?;
                self.b.build_store(at, e).map_err(err)?;
                let bit = self
                    .b
                    .build_right_shift(bits, i64t.const_int(lane, false), false, "")
                    .map_err(err)?;
                let bit = self
                    .b
                    .build_and(bit, i64t.const_int(1, false), "")
                    .map_err(err)?;
                n = self.b.build_int_add(n, bit, "").map_err(err)?;
            }
            self.b.build_store(count, n).map_err(err)?;
        } else {
            self.b
                .build_conditional_branch(fire.into_int_value(), set, join)
                .map_err(err)?;
            self.b.position_at_end(set);
            let n = self
                .b
                .build_load(i64t, count, "")
                .map_err(err)?
                .into_int_value();
            let at = gep(&self.b, self.s.i32t, list, n)?;
            let e = self
                .b
                .build_int_truncate(self.element, self.s.i32t, "")
                .map_err(err)?;
            self.b.build_store(at, e).map_err(err)?;
            let n1 = self
                .b
                .build_int_add(n, i64t.const_int(1, false), "")
                .map_err(err)?;
            self.b.build_store(count, n1).map_err(err)?;
        }
        self.b.build_unconditional_branch(join).map_err(err)?;
        self.b.position_at_end(join);
        Ok(())
    }
}
