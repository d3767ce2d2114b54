//! Translation of the functions of a plan into LLVM IR: one function per
//! planned function, a scalar loop over its elements that LLVM's
//! optimiser may widen. Every IEEE operation is the IR's, with no
//! fast-math flag (so no contraction into FMAs and no reassociation), and
//! math is the inlined programs of `circ_ir::math`: the same operations in
//! the same order as the interpreter, so the same bits.

use crate::CodegenError;
use circ_ir::math::{Cmp, FBin, FUn, IBin, Op, Program, program, program_bin};
use circ_ir::plan::{Addr, Group, Part, Target, vars_used};
use circ_ir::{Bin, Dist, Domain, Expr, Stmt, Un};
use circ_native::env::{SYMBOLS, Sig, bin_symbol, off};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{FloatType, IntType, PointerType};
use inkwell::values::{BasicMetadataValueEnum, FloatValue, FunctionValue, IntValue, PointerValue};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};
use std::collections::HashMap;

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
    sqrt: FunctionValue<'ctx>,
    floor: FunctionValue<'ctx>,
}

impl<'ctx> Shared<'ctx> {
    /// Declares the imported functions and intrinsics in `module`.
    pub(crate) fn new(ctx: &'ctx Context, module: &Module<'ctx>) -> R<Self> {
        let f64t = ctx.f64_type();
        let i64t = ctx.i64_type();
        let ptr = ctx.ptr_type(AddressSpace::default());
        let mut imports = HashMap::new();
        for s in SYMBOLS {
            let ty = match s.sig {
                Sig::F2 => f64t.fn_type(&[f64t.into(), f64t.into()], false),
                Sig::Draw => f64t.fn_type(&[i64t.into(); 4], false),
                Sig::Table => {
                    f64t.fn_type(&[ptr.into(), ptr.into(), i64t.into(), f64t.into()], false)
                }
            };
            let f = module.add_function(s.name, ty, Some(Linkage::External));
            imports.insert(s.name, f);
        }
        // sqrt and floor are exact IEEE operations (one instruction each),
        // as the math programs define them; no other intrinsic is used.
        let intrinsic = |name: &str| {
            Intrinsic::find(name)
                .and_then(|i| i.get_declaration(module, &[f64t.into()]))
                .ok_or_else(|| CodegenError(format!("no intrinsic {name}")))
        };
        Ok(Shared {
            ctx,
            f64t,
            i64t,
            i32t: ctx.i32_type(),
            ptr,
            imports,
            sqrt: intrinsic("llvm.sqrt")?,
            floor: intrinsic("llvm.floor")?,
        })
    }
}

/// What one part of a function loaded before the loop.
struct PartState<'a, 'ctx> {
    addrs: &'a [Addr],
    targets: &'a [Target],
    domain: Domain,
    temps: Vec<PointerValue<'ctx>>,
    var_bases: Vec<Option<PointerValue<'ctx>>>,
    acc_bases: HashMap<usize, PointerValue<'ctx>>,
    count: IntValue<'ctx>,
    t: FloatValue<'ctx>,
    dt: FloatValue<'ctx>,
    step: IntValue<'ctx>,
    seed: IntValue<'ctx>,
    spikes: PointerValue<'ctx>,
    spike_count: PointerValue<'ctx>,
    refr: PointerValue<'ctx>,
    tables: PointerValue<'ctx>,
    lens: PointerValue<'ctx>,
    list: PointerValue<'ctx>,
    pre: PointerValue<'ctx>,
    post: PointerValue<'ctx>,
    ref_until: PointerValue<'ctx>,
    start: IntValue<'ctx>,
}

/// A fused projection's local sum into one postsynaptic value.
struct Sum<'ctx> {
    slot: PointerValue<'ctx>,
    base: PointerValue<'ctx>,
    input: bool,
    fresh: bool,
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
    refractory: Option<IntValue<'ctx>>,
    local: Option<HashMap<u32, Sum<'ctx>>>,
    depth: u32,
}

/// Emits function `name` of `groups` into `module`.
pub(crate) fn function<'ctx>(
    s: &Shared<'ctx>,
    module: &Module<'ctx>,
    name: &str,
    groups: &[Group<'_>],
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
    for (m, (part, local)) in flat.iter().enumerate() {
        let env = gep_i8(&b, s, env0, i64::from(off::SIZE) * m as i64)?;
        parts.push(load_part(&b, s, env, part, *local)?);
    }
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
        local: None,
        depth: 0,
    };
    g.scalar_loop(groups)?;
    Ok(func)
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
    ty: impl inkwell::types::BasicType<'ctx>,
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

fn load_ptr<'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    o: i32,
) -> R<PointerValue<'ctx>> {
    let a = gep_i8(b, s, env, i64::from(o))?;
    Ok(b.build_load(s.ptr, a, "")
        .map_err(err)?
        .into_pointer_value())
}

fn load_i64<'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    o: i32,
) -> R<IntValue<'ctx>> {
    let a = gep_i8(b, s, env, i64::from(o))?;
    Ok(b.build_load(s.i64t, a, "").map_err(err)?.into_int_value())
}

fn load_f64<'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    o: i32,
) -> R<FloatValue<'ctx>> {
    let a = gep_i8(b, s, env, i64::from(o))?;
    Ok(b.build_load(s.f64t, a, "").map_err(err)?.into_float_value())
}

/// Loads what part `part` needs from the `Env` at `env` (in the entry block).
fn load_part<'a, 'ctx>(
    b: &Builder<'ctx>,
    s: &Shared<'ctx>,
    env: PointerValue<'ctx>,
    part: &Part<'a>,
    local: bool,
) -> R<PartState<'a, 'ctx>> {
    let k = part.kernel;
    let vars = load_ptr(b, s, env, off::VARS)?;
    let acc = load_ptr(b, s, env, off::ACC)?;
    let mut var_bases = vec![None; part.view.addrs.len()];
    let mut acc_bases = HashMap::new();
    for v in vars_used(&k.body) {
        let slot = gep(b, s.ptr, vars, s.i64t.const_int(u64::from(v), false))?;
        let base = b
            .build_load(s.ptr, slot, "")
            .map_err(err)?
            .into_pointer_value();
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
    let temps = (0..k.temps)
        .map(|_| b.build_alloca(s.f64t, "t").map_err(err))
        .collect::<R<Vec<_>>>()?;
    Ok(PartState {
        addrs: &part.view.addrs,
        targets: &part.view.targets,
        domain: k.domain,
        temps,
        var_bases,
        acc_bases,
        count: load_i64(b, s, env, off::COUNT)?,
        start: load_i64(b, s, env, off::START)?,
        t: load_f64(b, s, env, off::T)?,
        dt: load_f64(b, s, env, off::DT)?,
        step: load_i64(b, s, env, off::STEP)?,
        seed: load_i64(b, s, env, off::SEED)?,
        spikes: load_ptr(b, s, env, off::SPIKES)?,
        spike_count: load_ptr(b, s, env, off::SPIKE_COUNT)?,
        refr: load_ptr(b, s, env, off::REFR)?,
        tables: load_ptr(b, s, env, off::TABLES)?,
        lens: load_ptr(b, s, env, off::TABLE_LENS)?,
        list: load_ptr(b, s, env, off::LIST)?,
        pre: load_ptr(b, s, env, off::PRE)?,
        post: load_ptr(b, s, env, off::POST)?,
        ref_until: load_ptr(b, s, env, off::REF_UNTIL)?,
    })
}

impl<'a, 'ctx> Gen<'a, 'ctx> {
    fn block(&self, name: &str) -> BasicBlock<'ctx> {
        self.s.ctx.append_basic_block(self.func, name)
    }

    fn p(&self) -> &PartState<'a, 'ctx> {
        &self.parts[self.cur]
    }

    fn f(&self, c: f64) -> FloatValue<'ctx> {
        self.s.f64t.const_float(c)
    }

    /// The loop over elements `start..count` of the first part.
    fn scalar_loop(&mut self, groups: &[Group<'_>]) -> R<()> {
        let (start, count) = (self.parts[0].start, self.parts[0].count);
        let pre = self
            .b
            .get_insert_block()
            .ok_or_else(|| CodegenError("no block".into()))?;
        let header = self.block("loop");
        let exit = self.block("exit");
        let empty = self
            .b
            .build_int_compare(IntPredicate::UGE, start, count, "")
            .map_err(err)?;
        self.b
            .build_conditional_branch(empty, exit, header)
            .map_err(err)?;
        self.b.position_at_end(header);
        let k = self.b.build_phi(self.s.i64t, "k").map_err(err)?;
        k.add_incoming(&[(&start, pre)]);
        self.k = k.as_basic_value().into_int_value();
        self.groups(groups)?;
        let next = self
            .b
            .build_int_add(self.k, self.s.i64t.const_int(1, false), "")
            .map_err(err)?;
        let latch = self
            .b
            .get_insert_block()
            .ok_or_else(|| CodegenError("no block".into()))?;
        k.add_incoming(&[(&next, latch)]);
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
        self.refractory = if matches!(domain, Domain::Each | Domain::Spiking) {
            let st = &self.parts[m];
            let a = gep(&self.b, self.s.i64t, st.ref_until, element)?;
            let until = self
                .b
                .build_load(self.s.i64t, a, "")
                .map_err(err)?
                .into_int_value();
            Some(
                self.b
                    .build_int_compare(IntPredicate::SLE, st.step, until, "")
                    .map_err(err)?,
            )
        } else {
            None
        };
        (self.element, self.i, self.j) = (element, i, j);
        Ok(())
    }

    fn groups(&mut self, groups: &[Group<'_>]) -> R<()> {
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
                    for (n, part) in parts.iter().enumerate() {
                        let st = &self.parts[m + n];
                        let mut written = vec![];
                        circ_ir::written_vars(&part.kernel.body, &mut written);
                        for v in written {
                            let Some(Target::Acc(_, input)) = part.view.targets.get(v as usize)
                            else {
                                continue;
                            };
                            let Some(base) = st.var_bases.get(v as usize).copied().flatten() else {
                                continue;
                            };
                            if local.contains_key(&v) {
                                continue;
                            }
                            let slot = self.entry_alloca()?;
                            self.b.build_store(slot, self.f(0.0)).map_err(err)?;
                            local.insert(
                                v,
                                Sum {
                                    slot,
                                    base,
                                    input: *input,
                                    fresh: true,
                                },
                            );
                        }
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
                        let add = self.ld(sum.slot)?;
                        let a = gep(&self.b, self.s.f64t, sum.base, self.j)?;
                        let x = self.ld(a)?;
                        let added = self.b.build_float_add(x, add, "").map_err(err)?;
                        let new = if sum.input {
                            added
                        } else {
                            let is_zero = self
                                .b
                                .build_float_compare(FloatPredicate::OEQ, add, self.f(0.0), "")
                                .map_err(err)?;
                            self.choose(is_zero, x, added)?
                        };
                        self.b.build_store(a, new).map_err(err)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A fresh f64 slot in the entry block (promoted to a register).
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
        b.build_alloca(self.s.f64t, "sum").map_err(err)
    }

    fn ld(&self, a: PointerValue<'ctx>) -> R<FloatValue<'ctx>> {
        Ok(self
            .b
            .build_load(self.s.f64t, a, "")
            .map_err(err)?
            .into_float_value())
    }

    fn choose(
        &self,
        c: IntValue<'ctx>,
        x: FloatValue<'ctx>,
        y: FloatValue<'ctx>,
    ) -> R<FloatValue<'ctx>> {
        Ok(self
            .b
            .build_select(c, x, y, "")
            .map_err(err)?
            .into_float_value())
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
        self.p()
            .temps
            .get(t as usize)
            .copied()
            .ok_or_else(|| CodegenError(format!("no temp {t}")))
    }

    fn truth(&self, c: IntValue<'ctx>) -> R<FloatValue<'ctx>> {
        self.choose(c, self.f(1.0), self.f(0.0))
    }

    fn nonzero(&self, x: FloatValue<'ctx>) -> R<IntValue<'ctx>> {
        // Cranelift's `NotEqual` and the interpreter's `!= 0.0`: NaN is true.
        self.b
            .build_float_compare(FloatPredicate::UNE, x, self.f(0.0), "")
            .map_err(err)
    }

    fn call(&self, name: &str, args: &[BasicMetadataValueEnum<'ctx>]) -> R<FloatValue<'ctx>> {
        let f = *self
            .s
            .imports
            .get(name)
            .ok_or_else(|| CodegenError(format!("no import {name}")))?;
        self.call_fn(f, args)
    }

    fn call_fn(
        &self,
        f: FunctionValue<'ctx>,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> R<FloatValue<'ctx>> {
        match self
            .b
            .build_call(f, args, "")
            .map_err(err)?
            .try_as_basic_value()
        {
            inkwell::values::ValueKind::Basic(v) => Ok(v.into_float_value()),
            inkwell::values::ValueKind::Instruction(_) => {
                Err(CodegenError("a call without a value".into()))
            }
        }
    }

    /// A math program inlined: the interpreter's operations in order.
    fn inline(&self, prog: &Program, args: &[FloatValue<'ctx>]) -> R<FloatValue<'ctx>> {
        use inkwell::values::BasicValueEnum as V;
        let b = &self.b;
        let mut v: Vec<V<'ctx>> = Vec::with_capacity(prog.ops.len());
        let fl = |x: &V<'ctx>| x.into_float_value();
        let int = |x: &V<'ctx>| x.into_int_value();
        for op in &prog.ops {
            let x: V<'ctx> = match *op {
                Op::Arg(n) => (*args
                    .get(n as usize)
                    .ok_or_else(|| CodegenError(format!("a math program wants argument {n}")))?)
                .into(),
                Op::F(c) => self.f(c).into(),
                Op::I(c) => self.s.i64t.const_int(c as u64, true).into(),
                Op::FBin(o, x, y) => {
                    let (x, y) = (fl(&v[x as usize]), fl(&v[y as usize]));
                    match o {
                        FBin::Add => b.build_float_add(x, y, ""),
                        FBin::Sub => b.build_float_sub(x, y, ""),
                        FBin::Mul => b.build_float_mul(x, y, ""),
                        FBin::Div => b.build_float_div(x, y, ""),
                    }
                    .map_err(err)?
                    .into()
                }
                Op::FUn(o, x) => {
                    let x = fl(&v[x as usize]);
                    match o {
                        FUn::Neg => b.build_float_neg(x, "").map_err(err)?,
                        FUn::Sqrt => self.call_fn(self.s.sqrt, &[x.into()])?,
                        FUn::Floor => self.call_fn(self.s.floor, &[x.into()])?,
                    }
                    .into()
                }
                Op::FCmp(o, x, y) => {
                    let p = match o {
                        Cmp::Lt => FloatPredicate::OLT,
                        Cmp::Le => FloatPredicate::OLE,
                        Cmp::Eq => FloatPredicate::OEQ,
                        Cmp::Uno => FloatPredicate::UNO,
                    };
                    b.build_float_compare(p, fl(&v[x as usize]), fl(&v[y as usize]), "")
                        .map_err(err)?
                        .into()
                }
                Op::IBin(o, x, y) => {
                    let (x, y) = (int(&v[x as usize]), int(&v[y as usize]));
                    match o {
                        IBin::Add => b.build_int_add(x, y, ""),
                        IBin::Sub => b.build_int_sub(x, y, ""),
                        IBin::And => b.build_and(x, y, ""),
                        IBin::Or => b.build_or(x, y, ""),
                        IBin::Shl => b.build_left_shift(x, y, ""),
                        IBin::Shr => b.build_right_shift(x, y, false, ""),
                    }
                    .map_err(err)?
                    .into()
                }
                Op::ICmp(o, x, y) => {
                    let p = match o {
                        Cmp::Lt => IntPredicate::SLT,
                        Cmp::Le => IntPredicate::SLE,
                        Cmp::Eq | Cmp::Uno => IntPredicate::EQ,
                    };
                    b.build_int_compare(p, int(&v[x as usize]), int(&v[y as usize]), "")
                        .map_err(err)?
                        .into()
                }
                Op::Bits(x) => b
                    .build_bit_cast(v[x as usize], self.s.i64t, "")
                    .map_err(err)?,
                Op::FromBits(x) => b
                    .build_bit_cast(v[x as usize], self.s.f64t, "")
                    .map_err(err)?,
                Op::FSel(c, x, y) | Op::ISel(c, x, y) => b
                    .build_select(int(&v[c as usize]), v[x as usize], v[y as usize], "")
                    .map_err(err)?,
                Op::BBin(and, x, y) => {
                    let (x, y) = (int(&v[x as usize]), int(&v[y as usize]));
                    if and {
                        b.build_and(x, y, "")
                    } else {
                        b.build_or(x, y, "")
                    }
                    .map_err(err)?
                    .into()
                }
                Op::BNot(x) => b.build_not(int(&v[x as usize]), "").map_err(err)?.into(),
            };
            v.push(x);
        }
        v.get(prog.out as usize)
            .map(|x| x.into_float_value())
            .ok_or_else(|| CodegenError("a math program without its result".into()))
    }

    fn expr(&mut self, e: &Expr) -> R<FloatValue<'ctx>> {
        let b = &self.b;
        Ok(match e {
            Expr::Const(c) => self.f(*c),
            Expr::Load(v) => {
                let a = self.var_addr(*v)?;
                self.ld(a)?
            }
            Expr::Temp(t) => self.ld(self.temp(*t)?)?,
            Expr::Time => self.p().t,
            Expr::Dt => self.p().dt,
            Expr::Index => b
                .build_unsigned_int_to_float(self.element, self.s.f64t, "")
                .map_err(err)?,
            Expr::PreIndex => b
                .build_unsigned_int_to_float(self.i, self.s.f64t, "")
                .map_err(err)?,
            Expr::PostIndex => b
                .build_unsigned_int_to_float(self.j, self.s.f64t, "")
                .map_err(err)?,
            Expr::Refractory => match self.refractory {
                Some(r) => self.truth(r)?,
                None => self.f(0.0),
            },
            Expr::Un(Un::Neg, a) => {
                let a = self.expr(a)?;
                self.b.build_float_neg(a, "").map_err(err)?
            }
            Expr::Un(Un::Not, a) => {
                let a = self.expr(a)?;
                let c = self
                    .b
                    .build_float_compare(FloatPredicate::OEQ, a, self.f(0.0), "")
                    .map_err(err)?;
                self.truth(c)?
            }
            Expr::Bin(op, a, c) => {
                let (x, y) = (self.expr(a)?, self.expr(c)?);
                let b = &self.b;
                match op {
                    Bin::Add => b.build_float_add(x, y, "").map_err(err)?,
                    Bin::Sub => b.build_float_sub(x, y, "").map_err(err)?,
                    Bin::Mul => b.build_float_mul(x, y, "").map_err(err)?,
                    Bin::Div => b.build_float_div(x, y, "").map_err(err)?,
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
                        let c = b.build_float_compare(p, x, y, "").map_err(err)?;
                        self.truth(c)?
                    }
                    Bin::And | Bin::Or => {
                        let (p, q) = (self.nonzero(x)?, self.nonzero(y)?);
                        let c = if *op == Bin::And {
                            self.b.build_and(p, q, "")
                        } else {
                            self.b.build_or(p, q, "")
                        }
                        .map_err(err)?;
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
                let stream = self.s.i64t.const_int(u64::from(*s), false);
                let el = self
                    .b
                    .build_and(self.element, self.s.i64t.const_int(0xffff_ffff, false), "")
                    .map_err(err)?;
                let name = if *d == Dist::Uniform {
                    "circ_uniform"
                } else {
                    "circ_normal"
                };
                let (seed, step) = (self.p().seed, self.p().step);
                self.call(name, &[seed.into(), stream.into(), el.into(), step.into()])?
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
                    self.b.build_store(a, x).map_err(err)?;
                }
                Stmt::AddTo(v, e) => {
                    let x = self.expr(e)?;
                    let target = self
                        .p()
                        .targets
                        .get(*v as usize)
                        .copied()
                        .unwrap_or(Target::Own);
                    if let (Target::Acc(..), Some(local)) = (target, self.local.as_mut())
                        && let Some(sum) = local.get_mut(v)
                    {
                        // The first addition from +0 is the term itself (see
                        // the Cranelift emitter: a zero sum is never applied).
                        let (slot, fresh) = (sum.slot, sum.fresh && self.depth == 0);
                        sum.fresh = false;
                        let new = if fresh {
                            x
                        } else {
                            let old = self.ld(slot)?;
                            self.b.build_float_add(old, x, "").map_err(err)?
                        };
                        self.b.build_store(slot, new).map_err(err)?;
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
                            gep(&self.b, self.s.f64t, base, self.j)?
                        }
                    };
                    let old = self.ld(a)?;
                    let new = self.b.build_float_add(old, x, "").map_err(err)?;
                    self.b.build_store(a, new).map_err(err)?;
                }
                Stmt::If(c, then, otherwise) => {
                    let c = self.expr(c)?;
                    let cond = self.nonzero(c)?;
                    let (tb, eb, merge) =
                        (self.block("then"), self.block("else"), self.block("fi"));
                    self.b.build_conditional_branch(cond, tb, eb).map_err(err)?;
                    self.depth += 1;
                    self.b.position_at_end(tb);
                    self.stmts(then)?;
                    self.b.build_unconditional_branch(merge).map_err(err)?;
                    self.b.position_at_end(eb);
                    self.stmts(otherwise)?;
                    self.b.build_unconditional_branch(merge).map_err(err)?;
                    self.depth -= 1;
                    self.b.position_at_end(merge);
                }
                Stmt::While(c, body) => {
                    let (head, inner, exit) =
                        (self.block("while"), self.block("do"), self.block("done"));
                    self.b.build_unconditional_branch(head).map_err(err)?;
                    self.b.position_at_end(head);
                    let c = self.expr(c)?;
                    let go = self.nonzero(c)?;
                    self.b
                        .build_conditional_branch(go, inner, exit)
                        .map_err(err)?;
                    self.b.position_at_end(inner);
                    self.depth += 1;
                    self.stmts(body)?;
                    self.depth -= 1;
                    self.b.build_unconditional_branch(head).map_err(err)?;
                    self.b.position_at_end(exit);
                }
                Stmt::Spike(c) => {
                    let c = self.expr(c)?;
                    let mut fire = self.nonzero(c)?;
                    if let Some(r) = self.refractory {
                        let free = self.b.build_not(r, "").map_err(err)?;
                        fire = self.b.build_and(fire, free, "").map_err(err)?;
                    }
                    let (set, join) = (self.block("spike"), self.block("nospike"));
                    self.b
                        .build_conditional_branch(fire, set, join)
                        .map_err(err)?;
                    self.b.position_at_end(set);
                    let (list, count) = (self.p().spikes, self.p().spike_count);
                    let n = self
                        .b
                        .build_load(self.s.i64t, count, "")
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
                        .build_int_add(n, self.s.i64t.const_int(1, false), "")
                        .map_err(err)?;
                    self.b.build_store(count, n1).map_err(err)?;
                    self.b.build_unconditional_branch(join).map_err(err)?;
                    self.b.position_at_end(join);
                }
                Stmt::SetRefractory(e) => {
                    let x = self.expr(e)?;
                    let a = gep(&self.b, self.s.f64t, self.p().refr, self.k)?;
                    self.b.build_store(a, x).map_err(err)?;
                }
            }
        }
        Ok(())
    }
}
