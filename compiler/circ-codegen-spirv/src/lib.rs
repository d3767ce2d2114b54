//! SPIR-V backend of circ: the planned functions of a network as Vulkan
//! compute modules (SPIR-V 1.5 words), one invocation per element, computing
//! the interpreter's bits: every float operation is decorated
//! `NoContraction` (GPU compilers fuse multiply-adds otherwise), every math
//! function and random draw is circ's own program (`circ_ir::math`; the
//! GLSL.std.450 transcendentals are f32-only), and only IEEE-exact
//! instructions are used (`Sqrt` and `Floor` of GLSL.std.450 on doubles).
//! Buffers are reached through device addresses (lavapipe caps one binding
//! at 128 MiB): the push constants ([`push`]) give a table of them.
//!
//! It owns the translation only; it must not touch a device, Vulkan, files,
//! the environment or the terminal. It translates the functions whose
//! parts are elementwise arithmetic (`Plan::vector_loop`: population steps,
//! initial values, fused passes with their couplings and spike conditions),
//! the `Once` kernels of scalar arithmetic (time-dependent parameters;
//! dispatched as one invocation), resets of straight-line stores (run where
//! the element's spike bit is set), projection kernels ([`projection`]:
//! over neurons, or over each postsynaptic neuron's synapses in increasing
//! order, the marked ones for `on pre`), and the runtime's own steps
//! ([`refractory_module`], [`mark_module`], [`apply_events_module`]);
//! [`supported`] and [`projection_supported`] say why any other is not yet.

use circ_ir::math::{Cmp, FBin, FUn, IBin, Op, Program, program, program_bin, program_rand};
use circ_ir::plan::{Addr, Group, Part, Plan, Target, couple_sums};
use circ_ir::{Bin, Domain, Expr, Network, Stmt, Un};
use rspirv::dr::{Builder, Operand};
use rspirv::spirv::{
    AddressingModel, BuiltIn, Capability, Decoration, ExecutionMode, ExecutionModel,
    FunctionControl, MemoryAccess, MemoryModel, StorageClass, Word,
};
use std::collections::HashMap;

/// Invocations per workgroup.
pub const LOCAL_SIZE: u32 = 64;

/// The push constants every module reads, as byte offsets of 64-bit
/// members: what an executor fills before each dispatch.
pub mod push {
    #![allow(missing_docs)]
    /// Device address of the table of buffer addresses (`u64` each, by the
    /// function's buffer numbering, `Part::bufs`).
    pub const TABLE: u32 = 0;
    /// The first element.
    pub const START: u32 = 8;
    /// One past the last element.
    pub const COUNT: u32 = 16;
    pub const T: u32 = 24;
    pub const DT: u32 = 32;
    pub const STEP: u32 = 40;
    pub const SEED: u32 = 48;
    /// Device address of the population's last refractory steps (`i64`).
    pub const REF_UNTIL: u32 = 56;
    /// Device address of the spike bitset (`u32` words, bit `i % 32` of
    /// word `i / 32` for element `i`): written by spike conditions, read by
    /// resets (which run for the elements whose bit is set).
    pub const SPIKES: u32 = 64;
    /// Device address of the refractory periods resets set (`f64` per
    /// element, seconds), or 0.
    pub const REFR: u32 = 72;
    /// Slots of the presynaptic population's spike history (arrivals).
    pub const RING: u32 = 80;
    /// `u32` words of one spike bitset of the presynaptic population.
    pub const WORDS: u32 = 88;
    /// Invocations that share one presynaptic neuron's synapses (marks).
    pub const LANES: u32 = 96;
    /// +0.0 (f64), left zero by the executor: the modules' zero, which a
    /// driver cannot see as a constant (lavapipe folds `x * 0` to `+0` and
    /// `x + 0` to `x`, wrong for negative and signed-zero `x`).
    pub const ZERO: u32 = 104;
    /// Device address of the data tables' directory: per table, its
    /// values' address and its length (`u64` each).
    pub const DATA: u32 = 112;
    /// The block's size in bytes.
    pub const SIZE: u32 = 120;
    /// Every member, in order.
    pub const MEMBERS: [u32; 15] = [
        TABLE, START, COUNT, T, DT, STEP, SEED, REF_UNTIL, SPIKES, REFR, RING, WORDS, LANES, ZERO,
        DATA,
    ];
}

/// Why a function could not be translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpirvError(pub String);

impl std::fmt::Display for SpirvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SPIR-V code generation: {}", self.0)
    }
}

type R<T> = Result<T, SpirvError>;

fn err(e: impl std::fmt::Debug) -> SpirvError {
    SpirvError(format!("{e:?}"))
}

/// Whether every statement of `body`, inside branches and loops too, is
/// one `leaf` accepts (branches and loops themselves are translated:
/// structured selections and loops, temporaries in function variables
/// that start at 0 as the interpreter's do).
fn all_stmts(body: &[Stmt], leaf: &dyn Fn(&Stmt) -> bool) -> bool {
    body.iter().all(|st| match st {
        Stmt::If(_, a, b) => all_stmts(a, leaf) && all_stmts(b, leaf),
        Stmt::While(_, a) => all_stmts(a, leaf),
        other => leaf(other),
    })
}

/// Whether `body` has a branch or a loop.
fn branches(body: &[Stmt]) -> bool {
    body.iter()
        .any(|st| matches!(st, Stmt::If(..) | Stmt::While(..)))
}

/// Whether function `f` of `plan` can be translated, or why not (yet).
pub fn supported(net: &Network, plan: &Plan, f: usize) -> Result<(), String> {
    let not_yet = |why: &str| format!("not on the GPU yet: {why}");
    // Every part a plain kernel for which `ok` holds.
    let all = |ok: fn(&Part<'_>) -> bool| {
        plan.groups(net, f).iter().all(|g| match g {
            Group::Plain(part) => ok(part),
            Group::Couple(_) => false,
        })
    };
    match plan.functions.get(f).map(|x| x.domain) {
        // A reset: one invocation per element, run where its spike bit is set.
        Some(Domain::Spiking) => {
            return all(reset_translatable)
                .then_some(())
                .ok_or_else(|| not_yet("a reset with more than stores to its neuron"));
        }
        // Values shared by every element (time-dependent parameters): one
        // invocation, straight-line arithmetic on scalars.
        Some(Domain::Once) => {
            return all(once_translatable).then_some(()).ok_or_else(|| {
                not_yet("computes values once with more than arithmetic on scalars")
            });
        }
        _ => {}
    }
    // One invocation per element: every part writes only its element's
    // values (or a local sum) and does arithmetic, comparisons, choices,
    // math, draws and remainders on them.
    let parts: Vec<Part<'_>> = plan.groups(net, f).iter().flat_map(Group::parts).collect();
    if !parts.iter().all(Part::element_only) {
        return Err(not_yet(
            "visits a list of elements, or writes places other than its element's",
        ));
    }
    let plain = |p: &Part<'_>| {
        all_stmts(&p.kernel.body, &|st| {
            matches!(
                st,
                Stmt::Let(..) | Stmt::Store(..) | Stmt::AddTo(..) | Stmt::Spike(..)
            )
        })
    };
    if !parts.iter().all(plain) {
        return Err(not_yet("sets a refractory period outside a reset"));
    }
    // A coupling's local sum is a value in registers: no branches there.
    for g in plan.groups(net, f) {
        if let Group::Couple(ps) = g
            && ps.iter().any(|p| branches(&p.kernel.body))
        {
            return Err(not_yet("a fused coupling with branches"));
        }
    }
    // A coupling outside a fused pass adds into the runtime's accumulators,
    // which have no device address yet.
    for g in plan.groups(net, f) {
        if let Group::Plain(part) = g {
            let mut written = vec![];
            circ_ir::written_vars(&part.kernel.body, &mut written);
            if written
                .iter()
                .any(|&v| matches!(part.view.targets.get(v as usize), Some(Target::Acc(..))))
            {
                return Err(not_yet("adds into the runtime's accumulators"));
            }
        }
    }
    Ok(())
}

/// Whether a reset writes only its neuron's values and refractory period
/// (branches and loops allowed) and reads no other element or table.
fn reset_translatable(part: &Part<'_>) -> bool {
    let mut named = vec![];
    circ_ir::named_vars(&part.kernel.body, &mut named);
    let mut written = vec![];
    circ_ir::written_vars(&part.kernel.body, &mut written);
    let addr = |v: &u32| part.view.addrs.get(*v as usize).copied();
    part.kernel.domain == Domain::Spiking
        && named
            .iter()
            .all(|v| matches!(addr(v), Some(Addr::Zero | Addr::Element)))
        && written.iter().all(|v| addr(v) == Some(Addr::Element))
        && all_stmts(&part.kernel.body, &|st| {
            matches!(st, Stmt::Let(..) | Stmt::Store(..) | Stmt::SetRefractory(_))
        })
        && !circ_ir::any_expr(&part.kernel.body, &|e| {
            matches!(e, Expr::PreIndex | Expr::PostIndex)
        })
}

/// Whether a `Once` kernel is straight-line arithmetic (draws and math
/// included) that reads and stores scalars only.
fn once_translatable(part: &Part<'_>) -> bool {
    let scalar = |v: &u32| part.view.addrs.get(*v as usize) == Some(&Addr::Zero);
    let mut named = vec![];
    circ_ir::named_vars(&part.kernel.body, &mut named);
    named.iter().all(scalar)
        && all_stmts(&part.kernel.body, &|st| {
            matches!(st, Stmt::Let(..) | Stmt::Store(..))
        })
        && !circ_ir::any_expr(&part.kernel.body, &|e| {
            matches!(e, Expr::PreIndex | Expr::PostIndex | Expr::Refractory)
        })
}

/// Function `f` of `plan` as a SPIR-V module: its entry point `main`.
pub fn compile(net: &Network, plan: &Plan, f: usize) -> R<Vec<u32>> {
    supported(net, plan, f).map_err(SpirvError)?;
    let groups = plan.groups(net, f);
    let mut g = Gen::new();
    g.function(&groups)?;
    Ok(g.finish())
}

/// The runtime's refractory update as a module, run after a population's
/// reset over its elements (push constants as for the reset): for each
/// element whose spike bit is set, `ref_until = step + round(period / dt) -
/// 1` from the period at `REFR` (seconds; 0 when the reset set none), which
/// it then sets back to 0: what `circ_runtime` does on the CPU.
pub fn refractory_module() -> R<Vec<u32>> {
    let mut g = Gen::new();
    g.function(&[])?;
    Ok(g.finish())
}

/// Function `f`'s one kernel (projection functions have one), or why not.
fn single<'a>(net: &'a Network, plan: &'a Plan, f: usize) -> Result<Part<'a>, String> {
    let mut groups = plan.groups(net, f);
    match (groups.len(), groups.pop()) {
        (1, Some(Group::Plain(part))) => Ok(part),
        _ => Err("not on the GPU yet: not one kernel".into()),
    }
}

/// Whether function `f` is the per-synapse part of an `on pre` handler
/// that an arrival kernel runs ([`arrivals`]), or why not (yet).
pub fn arrivals_supported(net: &Network, plan: &Plan, f: usize) -> Result<(), String> {
    let not_yet = |why: &str| format!("not on the GPU yet: {why}");
    let part = single(net, plan, f)?;
    if part.kernel.domain != Domain::Arriving {
        return Err(not_yet("not the synapse part of `on pre`"));
    }
    let w = plan.map.writes.get(f).copied().unwrap_or_default();
    if w.shared || w.pre {
        return Err(not_yet(
            "a handler that writes shared or presynaptic values",
        ));
    }
    if !all_stmts(&part.kernel.body, &|st| {
        matches!(st, Stmt::Let(..) | Stmt::Store(..) | Stmt::AddTo(..))
    }) {
        return Err(not_yet("a handler that spikes or sets refractoriness"));
    }
    Ok(())
}

/// The arrival kernel of function `f` (the synapse part of an `on pre`):
/// one invocation per postsynaptic neuron, which reads the marks of its
/// synapses in this step's slot (set by [`mark_module`] when their spikes
/// left) and runs the part for each marked synapse in increasing order,
/// so every sum is the CPU's, in its order; it clears the marks it read.
/// Its table: the projection's variables by view (the neuron buffers for
/// neuron values), then the postsynaptic accumulators by the same
/// numbers, then the synapses by postsynaptic neuron (offsets, `u64`;
/// synapse ids, `u32`), each synapse's presynaptic neuron (`u32`) and the
/// marks (`push::RING` slots of `push::WORDS` words; bit `q` of a slot is
/// the synapse at position `q` by postsynaptic neuron).
pub fn arrivals(net: &Network, plan: &Plan, f: usize) -> R<Vec<u32>> {
    arrivals_supported(net, plan, f).map_err(SpirvError)?;
    let part = single(net, plan, f).map_err(SpirvError)?;
    let mut g = Gen::new();
    g.arrivals_function(&part)?;
    Ok(g.finish())
}

/// The marking of a projection's synapses when their presynaptic neuron
/// spikes, as a module: `push::LANES` invocations per presynaptic neuron
/// (`push::COUNT` = neurons x lanes); where the neuron's bit is set
/// in `push::SPIKES`, each synapse's mark is set in the slot of step `step
/// + delay` (modulo `push::RING`). Its table: the synapses by presynaptic
/// neuron (offsets, `u64`), each synapse's position by postsynaptic neuron
/// and its delay in steps (`u32`), and the marks.
pub fn mark_module() -> R<Vec<u32>> {
    let mut g = Gen::new();
    g.mark_function()?;
    Ok(g.finish())
}

/// Whether projection function `f` (not `Once`) runs on the GPU as
/// [`projection`] makes it, or why not (yet): one straight-line kernel
/// that writes its element's values (a presynaptic or postsynaptic
/// neuron's, or a synapse's) and adds into its postsynaptic neuron's.
pub fn projection_supported(net: &Network, plan: &Plan, f: usize) -> Result<(), String> {
    let not_yet = |why: &str| format!("not on the GPU yet: {why}");
    let part = single(net, plan, f)?;
    let k = part.kernel;
    if !all_stmts(&k.body, &|st| {
        matches!(st, Stmt::Let(..) | Stmt::Store(..) | Stmt::AddTo(..))
    }) {
        return Err(not_yet(
            "a projection kernel that spikes or sets refractoriness",
        ));
    }
    // Indices are a synapse's (its id, its neurons') where the kernel runs
    // per synapse; `refractory` reads 0 in projections, as on the CPU.
    if circ_ir::any_expr(&k.body, &|e| {
        matches!(e, Expr::Index | Expr::PreIndex | Expr::PostIndex) && !k.domain.has_synapse()
    }) {
        return Err(not_yet("a projection kernel that reads indices per neuron"));
    }
    let mut named = vec![];
    circ_ir::named_vars(&k.body, &mut named);
    let mut written = vec![];
    circ_ir::written_vars(&k.body, &mut written);
    let addr = |v: &u32| part.view.addrs.get(*v as usize).copied();
    let acc = |v: &u32| matches!(part.view.targets.get(*v as usize), Some(Target::Acc(..)));
    let ok = match k.domain {
        Domain::PreNeurons | Domain::SpikingPre => {
            named
                .iter()
                .all(|v| matches!(addr(v), Some(Addr::Zero | Addr::Pre)))
                && written
                    .iter()
                    .all(|v| addr(v) == Some(Addr::Pre) && !acc(v))
        }
        Domain::PostNeurons | Domain::SpikingPost => {
            named
                .iter()
                .all(|v| matches!(addr(v), Some(Addr::Zero | Addr::Post)))
                && written.iter().all(|v| addr(v) == Some(Addr::Post))
        }
        Domain::Synapses | Domain::PostSpikeSynapses | Domain::Arriving => {
            written
                .iter()
                .all(|v| matches!(addr(v), Some(Addr::Element | Addr::Post)))
                // Over each presynaptic neuron's synapses instead.
                || (k.domain == Domain::Synapses
                    && written
                        .iter()
                        .all(|v| matches!(addr(v), Some(Addr::Element | Addr::Pre)) && !acc(v)))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(not_yet(
            "a projection kernel that writes values of other neurons or shared ones",
        ))
    }
}

/// Projection function `f` as a module (its table as for [`arrivals`]):
/// over presynaptic or postsynaptic neurons (those that spiked, by the
/// bitset at `push::SPIKES`, for the neuron parts of handlers), or over
/// each postsynaptic neuron's synapses in increasing order (all of them,
/// those of neurons that spiked for `on post`, or the marked ones for `on
/// pre`), or, for synapse kernels that write presynaptic neurons' values,
/// over each presynaptic neuron's synapses in increasing order (the table
/// continues with the synapses' offsets by presynaptic neuron, `u64`, and
/// each synapse's postsynaptic neuron, `u32`).
pub fn projection(net: &Network, plan: &Plan, f: usize) -> R<Vec<u32>> {
    projection_supported(net, plan, f).map_err(SpirvError)?;
    let part = single(net, plan, f).map_err(SpirvError)?;
    // Over presynaptic neurons as the executor dispatches it (the plan's
    // account of what it writes decides for both).
    let by_pre = part.kernel.domain == Domain::Synapses
        && plan.map.writes.get(f).is_some_and(|w| w.pre_only());
    let mut g = Gen::new();
    g.projection_function(&part, by_pre)?;
    Ok(g.finish())
}

/// The runtime's application of the handlers' additions to a population
/// of `nv` variables, as a module over its elements: for each variable in
/// `accs`, its value plus its accumulator (table slot `nv + v`) unless that
/// is zero or the variable is `held` and the element refractory (its
/// `ref_until`, or the flag variable `flag` non-zero) or spiking now (its
/// bit in `push::SPIKES`); the accumulator set back to zero.
pub fn apply_events_module(nv: u32, accs: &[u32], held: &[u32], flag: Option<u32>) -> R<Vec<u32>> {
    let mut g = Gen::new();
    g.apply_events_function(nv, accs, held, flag)?;
    Ok(g.finish())
}

/// A module's text form (`spirv-dis`'s), for `circ run --emit spirv`.
pub fn listing(words: &[u32]) -> R<String> {
    use rspirv::binary::Disassemble;
    let mut loader = rspirv::dr::Loader::new();
    rspirv::binary::parse_words(words, &mut loader).map_err(err)?;
    Ok(loader.module().disassemble())
}

/// A structured loop being written ([`Gen::open_loop`]).
struct Loop {
    /// The loop variable (a phi in the header).
    var: Word,
    /// The id its next value gets in the continue block.
    next: Word,
    header: Word,
    cont: Word,
    merge: Word,
}

/// Types and ids shared by a module.
struct Types {
    void: Word,
    f64: Word,
    u64: Word,
    u32: Word,
    bool: Word,
    /// Pointers into physical storage buffers.
    pf64: Word,
    pu64: Word,
    pu32: Word,
    /// Pointer to a push-constant member (all are 64-bit).
    pc_u64: Word,
    pc_f64: Word,
}

struct Gen {
    b: Builder,
    t: Types,
    glsl: Word,
    push: Word,
    gid: Word,
    /// Values of this invocation: element, and the push constants read.
    element: Word,
    table: Word,
    step: Word,
    seed: Word,
    t_now: Word,
    dt: Word,
    ref_until: Word,
    spikes: Word,
    refr: Word,
    /// The data tables' directory ([`push::DATA`]).
    data: Word,
    /// Temporaries' current values.
    temps: HashMap<u32, Word>,
    /// Local sums of a coupling group, by variable: (value, fresh).
    local: Option<HashMap<u32, (Word, bool)>>,
    /// Refractoriness of the current part (a bool), if it has one.
    refractory: Option<Word>,
    /// Constants made so far, by type and bits (each is declared once).
    consts: HashMap<(Word, u64), Word>,
    /// +0.0 read from the push constants (see `push::ZERO`), once the
    /// function has read it.
    zero: Option<Word>,
    /// Function variables of temporaries (kernels with branches), by id:
    /// declared in the entry block (`pending_temps` of them).
    temp_vars: HashMap<u32, Word>,
    pending_temps: u32,
    /// The presynaptic and postsynaptic neuron of the current synapse
    /// (arrival kernels).
    pre_idx: Option<Word>,
    post_idx: Option<Word>,
    /// Where the accumulators of postsynaptic values are in the table
    /// (arrival kernels: after the variables).
    acc_base: Option<u32>,
    /// Buffer addresses read from the table so far, once each: every later
    /// access is in the same block or one it dominates (kernels have no
    /// branches but the reset's, and all of a reset's accesses are in it).
    bases: HashMap<u32, Word>,
}

impl Gen {
    fn new() -> Gen {
        let mut b = Builder::new();
        b.set_version(1, 5);
        for c in [
            Capability::Shader,
            Capability::Float64,
            Capability::Int64,
            Capability::PhysicalStorageBufferAddresses,
            Capability::SignedZeroInfNanPreserve,
            Capability::RoundingModeRTE,
        ] {
            b.capability(c);
        }
        let glsl = b.ext_inst_import("GLSL.std.450");
        b.memory_model(
            AddressingModel::PhysicalStorageBuffer64,
            MemoryModel::GLSL450,
        );
        let void = b.type_void();
        let f64 = b.type_float(64, None);
        let u64 = b.type_int(64, 0);
        let u32 = b.type_int(32, 0);
        let bool = b.type_bool();
        let pf64 = b.type_pointer(None, StorageClass::PhysicalStorageBuffer, f64);
        let pu64 = b.type_pointer(None, StorageClass::PhysicalStorageBuffer, u64);
        let pu32 = b.type_pointer(None, StorageClass::PhysicalStorageBuffer, u32);
        let pc_u64 = b.type_pointer(None, StorageClass::PushConstant, u64);
        let pc_f64 = b.type_pointer(None, StorageClass::PushConstant, f64);
        // The push constants: 64-bit members (t and dt are doubles).
        let members: Vec<Word> = push::MEMBERS
            .iter()
            .map(|&o| {
                if o == push::T || o == push::DT || o == push::ZERO {
                    f64
                } else {
                    u64
                }
            })
            .collect();
        let block = b.type_struct(members);
        b.decorate(block, Decoration::Block, []);
        for (m, &o) in push::MEMBERS.iter().enumerate() {
            b.member_decorate(
                block,
                m as u32,
                Decoration::Offset,
                [Operand::LiteralBit32(o)],
            );
        }
        let pblock = b.type_pointer(None, StorageClass::PushConstant, block);
        let push = b.variable(pblock, None, StorageClass::PushConstant, None);
        let v3 = b.type_vector(u32, 3);
        let pv3 = b.type_pointer(None, StorageClass::Input, v3);
        let gid = b.variable(pv3, None, StorageClass::Input, None);
        b.decorate(
            gid,
            Decoration::BuiltIn,
            [Operand::BuiltIn(BuiltIn::GlobalInvocationId)],
        );
        let t = Types {
            void,
            f64,
            u64,
            u32,
            bool,
            pf64,
            pu64,
            pu32,
            pc_u64,
            pc_f64,
        };
        Gen {
            b,
            t,
            glsl,
            push,
            gid,
            element: 0,
            table: 0,
            step: 0,
            seed: 0,
            t_now: 0,
            dt: 0,
            ref_until: 0,
            spikes: 0,
            refr: 0,
            data: 0,
            temps: HashMap::new(),
            local: None,
            refractory: None,
            consts: HashMap::new(),
            temp_vars: HashMap::new(),
            pending_temps: 0,
            zero: None,
            pre_idx: None,
            post_idx: None,
            acc_base: None,
            bases: HashMap::new(),
        }
    }

    fn finish(self) -> Vec<u32> {
        use rspirv::binary::Assemble;
        self.b.module().assemble()
    }

    /// The constant of type `ty` (64 bits wide unless `ty` is u32) with these bits.
    fn constant(&mut self, ty: Word, bits: u64) -> Word {
        if let Some(&id) = self.consts.get(&(ty, bits)) {
            return id;
        }
        let id = if ty == self.t.u32 {
            self.b.constant_bit32(ty, bits as u32)
        } else {
            self.b.constant_bit64(ty, bits)
        };
        self.consts.insert((ty, bits), id);
        id
    }

    fn u64c(&mut self, x: u64) -> Word {
        self.constant(self.t.u64, x)
    }

    fn u32c(&mut self, x: u32) -> Word {
        self.constant(self.t.u32, u64::from(x))
    }

    fn f(&mut self, x: f64) -> Word {
        // +0 comes from the push constants, where the function has read it.
        match self.zero {
            Some(z) if x.to_bits() == 0 => z,
            _ => self.constant(self.t.f64, x.to_bits()),
        }
    }

    /// Push-constant member at byte offset `o`.
    fn push_member(&mut self, o: u32) -> R<Word> {
        let m = push::MEMBERS
            .iter()
            .position(|&x| x == o)
            .ok_or_else(|| SpirvError(format!("no push constant at {o}")))? as u32;
        let idx = self.u32c(m);
        let float = o == push::T || o == push::DT || o == push::ZERO;
        let (pty, ty) = if float {
            (self.t.pc_f64, self.t.f64)
        } else {
            (self.t.pc_u64, self.t.u64)
        };
        let p = self
            .b
            .access_chain(pty, None, self.push, [idx])
            .map_err(err)?;
        self.b.load(ty, None, p, None, []).map_err(err)
    }

    /// A pointer of type `pty` to `base + index * size`.
    fn at(&mut self, pty: Word, base: Word, index: Word, size: u64) -> R<Word> {
        let s = self.u64c(size);
        let off = self.b.i_mul(self.t.u64, None, index, s).map_err(err)?;
        let a = self.b.i_add(self.t.u64, None, base, off).map_err(err)?;
        self.b.convert_u_to_ptr(pty, None, a).map_err(err)
    }

    fn load_aligned(&mut self, ty: Word, p: Word, align: u32) -> R<Word> {
        self.b
            .load(
                ty,
                None,
                p,
                Some(MemoryAccess::ALIGNED),
                [Operand::LiteralBit32(align)],
            )
            .map_err(err)
    }

    fn store_aligned(&mut self, p: Word, x: Word) -> R<()> {
        self.b
            .store(
                p,
                x,
                Some(MemoryAccess::ALIGNED),
                [Operand::LiteralBit32(8)],
            )
            .map_err(err)
    }

    /// The device address of buffer `buf` (from the table).
    fn buffer(&mut self, buf: u32) -> R<Word> {
        if let Some(&a) = self.bases.get(&buf) {
            return Ok(a);
        }
        let i = self.u64c(u64::from(buf));
        let p = self.at(self.t.pu64, self.table, i, 8)?;
        let a = self.load_aligned(self.t.u64, p, 8)?;
        self.bases.insert(buf, a);
        Ok(a)
    }

    /// Where variable `v` of `part` is for this element.
    fn var_ptr(&mut self, part: &Part<'_>, v: u32) -> R<Word> {
        let buf = part.bufs.get(v as usize).copied().unwrap_or(v);
        let base = self.buffer(buf)?;
        let index = match part.view.addrs.get(v as usize) {
            Some(Addr::Zero) => self.u64c(0),
            Some(Addr::Element) => self.element,
            Some(Addr::Post) => self.post_idx.unwrap_or(self.element),
            Some(Addr::Pre) if self.pre_idx.is_some() => self.pre_idx.unwrap_or(self.element),
            other => return Err(SpirvError(format!("variable %{v} addressed as {other:?}"))),
        };
        self.at(self.t.pf64, base, index, 8)
    }

    /// Marks a float operation exact as written (no fusing, no reordering).
    fn exact(&mut self, id: Word) -> Word {
        self.b.decorate(id, Decoration::NoContraction, []);
        id
    }

    fn fbin(&mut self, op: FBin, x: Word, y: Word) -> R<Word> {
        let ty = self.t.f64;
        let id = match op {
            FBin::Add => self.b.f_add(ty, None, x, y),
            FBin::Sub => self.b.f_sub(ty, None, x, y),
            FBin::Mul => self.b.f_mul(ty, None, x, y),
            FBin::Div => {
                // The divisor's bits or'ed with those of the +0 the driver
                // cannot see (the same value): lavapipe drops the store of
                // `x / d` when d folds to the constant 0 (`round(0.1)`).
                let y = match self.zero {
                    Some(z) => {
                        let it = self.t.u64;
                        let yb = self.b.bitcast(it, None, y).map_err(err)?;
                        let zb = self.b.bitcast(it, None, z).map_err(err)?;
                        let o = self.b.bitwise_or(it, None, yb, zb).map_err(err)?;
                        self.b.bitcast(ty, None, o).map_err(err)?
                    }
                    None => y,
                };
                self.b.f_div(ty, None, x, y)
            }
        }
        .map_err(err)?;
        Ok(self.exact(id))
    }

    fn glsl(&mut self, inst: u32, x: Word) -> R<Word> {
        self.b
            .ext_inst(self.t.f64, None, self.glsl, inst, [Operand::IdRef(x)])
            .map_err(err)
    }

    /// Leading zeros of a u64 (64 for 0), from GLSL.std.450 FindUMsb (75)
    /// on its halves.
    fn clz64(&mut self, x: Word) -> R<Word> {
        let (it, u32t, bt) = (self.t.u64, self.t.u32, self.t.bool);
        let c32 = self.u64c(32);
        let hi = self.b.shift_right_logical(it, None, x, c32).map_err(err)?;
        let hi = self.b.u_convert(u32t, None, hi).map_err(err)?;
        let lo = self.b.u_convert(u32t, None, x).map_err(err)?;
        let msb = |g: &mut Gen, v: Word| -> R<Word> {
            // FindUMsb gives -1 (all ones) for 0: as a signed 64-bit
            // number, 63 - msb is then 64.
            let m =
                g.b.ext_inst(u32t, None, g.glsl, 75, [Operand::IdRef(v)])
                    .map_err(err)?;
            g.b.s_convert(it, None, m).map_err(err)
        };
        let mh = msb(self, hi)?;
        let ml = msb(self, lo)?;
        let zero32 = self.u32c(0);
        let has_hi = self.b.i_not_equal(bt, None, hi, zero32).map_err(err)?;
        let mh32 = self.b.i_add(it, None, mh, c32).map_err(err)?;
        let m = self.b.select(it, None, has_hi, mh32, ml).map_err(err)?;
        let c63 = self.u64c(63);
        self.b.i_sub(it, None, c63, m).map_err(err)
    }

    /// `x << n` (`left`) or `x >> n` (logical), 0 for shifts of 64 or
    /// more (SPIR-V leaves them undefined).
    fn shift(&mut self, x: Word, n: Word, left: bool) -> R<Word> {
        let (it, bt) = (self.t.u64, self.t.bool);
        let c64 = self.u64c(64);
        let ok = self.b.u_less_than(bt, None, n, c64).map_err(err)?;
        let c0 = self.u64c(0);
        let n = self.b.select(it, None, ok, n, c0).map_err(err)?;
        let v = if left {
            self.b.shift_left_logical(it, None, x, n)
        } else {
            self.b.shift_right_logical(it, None, x, n)
        }
        .map_err(err)?;
        self.b.select(it, None, ok, v, c0).map_err(err)
    }

    /// A double's significand with its implicit bit, normalised so that
    /// the leading 1 is bit 52, and its exponent field (subnormals get
    /// exponents below 1): musl's fmod, without branches.
    fn fmod_unpack(&mut self, u: Word) -> R<(Word, Word)> {
        let (it, bt) = (self.t.u64, self.t.bool);
        let (c52, c12, c0, c1) = (self.u64c(52), self.u64c(12), self.u64c(0), self.u64c(1));
        let mask11 = self.u64c(0x7ff);
        let e = self.b.shift_right_logical(it, None, u, c52).map_err(err)?;
        let e = self.b.bitwise_and(it, None, e, mask11).map_err(err)?;
        let sub = self.b.i_equal(bt, None, e, c0).map_err(err)?;
        // Subnormal: ex = -lz, u <<= lz + 1 (lz: leading zeros of u << 12).
        let u12 = self.b.shift_left_logical(it, None, u, c12).map_err(err)?;
        let lz = self.clz64(u12)?;
        let neg = self.b.s_negate(it, None, lz).map_err(err)?;
        let lz1 = self.b.i_add(it, None, lz, c1).map_err(err)?;
        let us = self.shift(u, lz1, true)?;
        // Normal: the fraction with the implicit bit.
        let frac = self.u64c(u64::MAX >> 12);
        let imp = self.u64c(1 << 52);
        let un = self.b.bitwise_and(it, None, u, frac).map_err(err)?;
        let un = self.b.bitwise_or(it, None, un, imp).map_err(err)?;
        let m = self.b.select(it, None, sub, us, un).map_err(err)?;
        let e = self.b.select(it, None, sub, neg, e).map_err(err)?;
        Ok((m, e))
    }

    /// One step of the long division: `m - my` where that is not negative
    /// (and whether it was exactly 0).
    fn fmod_step(&mut self, m: Word, my: Word) -> R<(Word, Word)> {
        let (it, bt) = (self.t.u64, self.t.bool);
        let (c63, c0) = (self.u64c(63), self.u64c(0));
        let i = self.b.i_sub(it, None, m, my).map_err(err)?;
        let top = self.b.shift_right_logical(it, None, i, c63).map_err(err)?;
        let fits = self.b.i_equal(bt, None, top, c0).map_err(err)?;
        let is0 = self.b.i_equal(bt, None, i, c0).map_err(err)?;
        let zero = self.b.logical_and(bt, None, fits, is0).map_err(err)?;
        let m = self.b.select(it, None, fits, i, m).map_err(err)?;
        Ok((m, zero))
    }

    /// `x % y` as Rust's `%` on doubles (C's fmod: exact, the sign of x):
    /// musl's integer long division, one loop over the exponents'
    /// difference, with every early return a select at the end.
    fn fmod(&mut self, x: Word, y: Word) -> R<Word> {
        let (ft, it, bt) = (self.t.f64, self.t.u64, self.t.bool);
        let (c0, c1, c52, c63) = (self.u64c(0), self.u64c(1), self.u64c(52), self.u64c(63));
        let ux = self.b.bitcast(it, None, x).map_err(err)?;
        let uy = self.b.bitcast(it, None, y).map_err(err)?;
        let mask11 = self.u64c(0x7ff);
        let exr = self.b.shift_right_logical(it, None, ux, c52).map_err(err)?;
        let exr = self.b.bitwise_and(it, None, exr, mask11).map_err(err)?;
        let sx = self.b.shift_right_logical(it, None, ux, c63).map_err(err)?;
        let ax = self.b.shift_left_logical(it, None, ux, c1).map_err(err)?;
        let ay = self.b.shift_left_logical(it, None, uy, c1).map_err(err)?;
        // NaN: y = 0, y NaN or x not finite.
        let y0 = self.b.i_equal(bt, None, ay, c0).map_err(err)?;
        let ynan = self.b.is_nan(bt, None, y).map_err(err)?;
        let xinf = self.b.i_equal(bt, None, exr, mask11).map_err(err)?;
        let special = self.b.logical_or(bt, None, y0, ynan).map_err(err)?;
        let special = self.b.logical_or(bt, None, special, xinf).map_err(err)?;
        // |x| <= |y|: x itself, or 0 * x when equal.
        let small = self.b.u_less_than_equal(bt, None, ax, ay).map_err(err)?;
        let equal = self.b.i_equal(bt, None, ax, ay).map_err(err)?;
        let (mx, ex) = self.fmod_unpack(ux)?;
        let (my, ey) = self.fmod_unpack(uy)?;
        // The loop: ex - ey steps (none unless ex > ey).
        let more = self.b.s_greater_than(bt, None, ex, ey).map_err(err)?;
        let diff = self.b.i_sub(it, None, ex, ey).map_err(err)?;
        let steps = self.b.select(it, None, more, diff, c0).map_err(err)?;
        let f = self.b.constant_false(bt);
        let pre = self.b.id();
        self.b.branch(pre).map_err(err)?;
        self.b.begin_block(Some(pre)).map_err(err)?;
        let (h, body, c, m) = (self.b.id(), self.b.id(), self.b.id(), self.b.id());
        let (kn, mn, zn) = (self.b.id(), self.b.id(), self.b.id());
        self.b.branch(h).map_err(err)?;
        self.b.begin_block(Some(h)).map_err(err)?;
        let k = self.b.phi(it, None, [(c0, pre), (kn, c)]).map_err(err)?;
        let mk = self.b.phi(it, None, [(mx, pre), (mn, c)]).map_err(err)?;
        let zk = self.b.phi(bt, None, [(f, pre), (zn, c)]).map_err(err)?;
        let go = self.b.u_less_than(bt, None, k, steps).map_err(err)?;
        self.b
            .loop_merge(m, c, rspirv::spirv::LoopControl::NONE, [])
            .map_err(err)?;
        self.b.branch_conditional(go, body, m, []).map_err(err)?;
        self.b.begin_block(Some(body)).map_err(err)?;
        let (m1, z1) = self.fmod_step(mk, my)?;
        let z1 = self.b.logical_or(bt, None, zk, z1).map_err(err)?;
        let m1 = self.b.shift_left_logical(it, None, m1, c1).map_err(err)?;
        self.b.branch(c).map_err(err)?;
        self.b.begin_block(Some(c)).map_err(err)?;
        self.b.i_add(it, Some(kn), k, c1).map_err(err)?;
        self.b.copy_object(it, Some(mn), m1).map_err(err)?;
        self.b.copy_object(bt, Some(zn), z1).map_err(err)?;
        self.b.branch(h).map_err(err)?;
        self.b.begin_block(Some(m)).map_err(err)?;
        let ex = self.b.select(it, None, more, ey, ex).map_err(err)?;
        let (mr, z2) = self.fmod_step(mk, my)?;
        let zero = self.b.logical_or(bt, None, zk, z2).map_err(err)?;
        // Normalise: the leading 1 back to bit 52.
        let lz = self.clz64(mr)?;
        let c11 = self.u64c(11);
        let sh = self.b.i_sub(it, None, lz, c11).map_err(err)?;
        let mr = self.shift(mr, sh, true)?;
        let ex = self.b.i_sub(it, None, ex, sh).map_err(err)?;
        // Scale: a normal result gets its exponent, a subnormal one shifts.
        let pos = self.b.s_greater_than(bt, None, ex, c0).map_err(err)?;
        let imp = self.u64c(1 << 52);
        let nm = self.b.i_sub(it, None, mr, imp).map_err(err)?;
        let eb = self.b.shift_left_logical(it, None, ex, c52).map_err(err)?;
        let nm = self.b.bitwise_or(it, None, nm, eb).map_err(err)?;
        let negex = self.b.s_negate(it, None, ex).map_err(err)?;
        let sh2 = self.b.i_add(it, None, negex, c1).map_err(err)?;
        let sm = self.shift(mr, sh2, false)?;
        let r = self.b.select(it, None, pos, nm, sm).map_err(err)?;
        let sb = self.b.shift_left_logical(it, None, sx, c63).map_err(err)?;
        let r = self.b.bitwise_or(it, None, r, sb).map_err(err)?;
        let r = self.b.bitcast(ft, None, r).map_err(err)?;
        // The early returns, last first.
        let zx = self.f(0.0);
        let zx = self.fbin(FBin::Mul, zx, x)?;
        let r = self.b.select(ft, None, zero, zx, r).map_err(err)?;
        let sm2 = self.b.select(ft, None, equal, zx, x).map_err(err)?;
        let r = self.b.select(ft, None, small, sm2, r).map_err(err)?;
        let xy = self.fbin(FBin::Mul, x, y)?;
        let nan = self.fbin(FBin::Div, xy, xy)?;
        self.b.select(ft, None, special, nan, r).map_err(err)
    }

    fn fcmp(&mut self, op: Cmp, x: Word, y: Word) -> R<Word> {
        let bt = self.t.bool;
        match op {
            Cmp::Lt => self.b.f_ord_less_than(bt, None, x, y),
            Cmp::Le => self.b.f_ord_less_than_equal(bt, None, x, y),
            Cmp::Eq => self.b.f_ord_equal(bt, None, x, y),
            Cmp::Uno => {
                // OpUnordered is for kernels only: either is NaN.
                let a = self.b.is_nan(bt, None, x).map_err(err)?;
                let c = self.b.is_nan(bt, None, y).map_err(err)?;
                self.b.logical_or(bt, None, a, c)
            }
        }
        .map_err(err)
    }

    /// 1.0 where `c`, else 0.0.
    fn truth(&mut self, c: Word) -> R<Word> {
        let (one, zero) = (self.f(1.0), self.f(0.0));
        self.b.select(self.t.f64, None, c, one, zero).map_err(err)
    }

    /// The interpreter's `x != 0` (NaN is true).
    fn nonzero(&mut self, x: Word) -> R<Word> {
        let zero = self.f(0.0);
        self.b
            .f_unord_not_equal(self.t.bool, None, x, zero)
            .map_err(err)
    }

    /// A math program inlined: the interpreter's operations in order.
    fn inline(&mut self, prog: &Program, args: &[Word]) -> R<Word> {
        let (ft, it, bt) = (self.t.f64, self.t.u64, self.t.bool);
        let mut v: Vec<Word> = Vec::with_capacity(prog.ops.len());
        for op in &prog.ops {
            let at = |k: u32| v[k as usize];
            let x = match *op {
                Op::Arg(n) => *args
                    .get(n as usize)
                    .ok_or_else(|| SpirvError(format!("a math program wants argument {n}")))?,
                Op::F(c) => self.f(c),
                Op::I(c) => self.u64c(c as u64),
                Op::FBin(o, x, y) => self.fbin(o, at(x), at(y))?,
                Op::FUn(o, x) => match o {
                    FUn::Neg => {
                        let id = self.b.f_negate(ft, None, at(x)).map_err(err)?;
                        self.exact(id)
                    }
                    // GLSL.std.450 Sqrt (31) and Floor (8) take doubles.
                    FUn::Sqrt => self.glsl(31, at(x))?,
                    FUn::Floor => self.glsl(8, at(x))?,
                },
                Op::FCmp(o, x, y) => self.fcmp(o, at(x), at(y))?,
                Op::IBin(o, x, y) => {
                    let (x, y) = (at(x), at(y));
                    match o {
                        IBin::Add => self.b.i_add(it, None, x, y),
                        IBin::Sub => self.b.i_sub(it, None, x, y),
                        IBin::And => self.b.bitwise_and(it, None, x, y),
                        IBin::Or => self.b.bitwise_or(it, None, x, y),
                        IBin::Shl => self.b.shift_left_logical(it, None, x, y),
                        IBin::Shr => self.b.shift_right_logical(it, None, x, y),
                        IBin::Mul => self.b.i_mul(it, None, x, y),
                        IBin::Xor => self.b.bitwise_xor(it, None, x, y),
                    }
                    .map_err(err)?
                }
                Op::ICmp(o, x, y) => {
                    let (x, y) = (at(x), at(y));
                    match o {
                        Cmp::Lt => self.b.s_less_than(bt, None, x, y),
                        Cmp::Le => self.b.s_less_than_equal(bt, None, x, y),
                        Cmp::Eq | Cmp::Uno => self.b.i_equal(bt, None, x, y),
                    }
                    .map_err(err)?
                }
                Op::Bits(x) => self.b.bitcast(it, None, at(x)).map_err(err)?,
                Op::FromBits(x) => self.b.bitcast(ft, None, at(x)).map_err(err)?,
                Op::FSel(c, x, y) => self.b.select(ft, None, at(c), at(x), at(y)).map_err(err)?,
                Op::ISel(c, x, y) => self.b.select(it, None, at(c), at(x), at(y)).map_err(err)?,
                Op::BBin(and, x, y) => if and {
                    self.b.logical_and(bt, None, at(x), at(y))
                } else {
                    self.b.logical_or(bt, None, at(x), at(y))
                }
                .map_err(err)?,
                Op::BNot(x) => self.b.logical_not(bt, None, at(x)).map_err(err)?,
            };
            v.push(x);
        }
        v.get(prog.out as usize)
            .copied()
            .ok_or_else(|| SpirvError("a math program without its result".into()))
    }

    fn expr(&mut self, part: &Part<'_>, e: &Expr) -> R<Word> {
        let ft = self.t.f64;
        Ok(match e {
            Expr::Const(c) => self.f(*c),
            Expr::Load(v) => {
                let p = self.var_ptr(part, *v)?;
                self.load_aligned(ft, p, 8)?
            }
            Expr::Temp(t) => match self.temp_vars.get(t).copied() {
                // Kernels with branches keep temporaries in variables (the
                // driver makes them registers again).
                Some(var) => self.b.load(ft, None, var, None, []).map_err(err)?,
                None => *self
                    .temps
                    .get(t)
                    .ok_or_else(|| SpirvError(format!("temporary {t} read before it is set")))?,
            },
            Expr::Time => self.t_now,
            Expr::Dt => self.dt,
            Expr::Refractory => match self.refractory {
                Some(r) => self.truth(r)?,
                None => self.f(0.0),
            },
            Expr::Un(Un::Neg, a) => {
                let a = self.expr(part, a)?;
                let id = self.b.f_negate(ft, None, a).map_err(err)?;
                self.exact(id)
            }
            Expr::Un(Un::Not, a) => {
                let a = self.expr(part, a)?;
                let zero = self.f(0.0);
                let c = self
                    .b
                    .f_ord_equal(self.t.bool, None, a, zero)
                    .map_err(err)?;
                self.truth(c)?
            }
            Expr::Bin(op, a, c) => {
                let (x, y) = (self.expr(part, a)?, self.expr(part, c)?);
                let bt = self.t.bool;
                match op {
                    Bin::Add => self.fbin(FBin::Add, x, y)?,
                    Bin::Sub => self.fbin(FBin::Sub, x, y)?,
                    Bin::Mul => self.fbin(FBin::Mul, x, y)?,
                    Bin::Div => self.fbin(FBin::Div, x, y)?,
                    Bin::Pow | Bin::Min | Bin::Max => {
                        let prog = program_bin(*op)
                            .ok_or_else(|| SpirvError(format!("{op:?} has no program")))?;
                        self.inline(prog, &[x, y])?
                    }
                    Bin::Rem => self.fmod(x, y)?,
                    Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge | Bin::Eq | Bin::Ne => {
                        let c = match op {
                            Bin::Lt => self.b.f_ord_less_than(bt, None, x, y),
                            Bin::Le => self.b.f_ord_less_than_equal(bt, None, x, y),
                            Bin::Gt => self.b.f_ord_greater_than(bt, None, x, y),
                            Bin::Ge => self.b.f_ord_greater_than_equal(bt, None, x, y),
                            Bin::Eq => self.b.f_ord_equal(bt, None, x, y),
                            _ => self.b.f_unord_not_equal(bt, None, x, y),
                        }
                        .map_err(err)?;
                        self.truth(c)?
                    }
                    Bin::And | Bin::Or => {
                        let (p, q) = (self.nonzero(x)?, self.nonzero(y)?);
                        let c = if *op == Bin::And {
                            self.b.logical_and(bt, None, p, q)
                        } else {
                            self.b.logical_or(bt, None, p, q)
                        }
                        .map_err(err)?;
                        self.truth(c)?
                    }
                }
            }
            Expr::Call(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| self.expr(part, a))
                    .collect::<R<Vec<_>>>()?;
                self.inline(program(*f), &vals)?
            }
            Expr::Select(c, a, d) => {
                let c = self.expr(part, c)?;
                let cond = self.nonzero(c)?;
                let (x, y) = (self.expr(part, a)?, self.expr(part, d)?);
                self.b.select(ft, None, cond, x, y).map_err(err)?
            }
            Expr::Rand(d, s) => {
                // Keyed by (seed, stream, element, step), integers passed as
                // the bits of floats, as on the CPU.
                let low = self.u64c(0xffff_ffff);
                let el = self
                    .b
                    .bitwise_and(self.t.u64, None, self.element, low)
                    .map_err(err)?;
                let stream = self.u64c(u64::from(*s));
                let mut args = vec![];
                for k in [self.seed, stream, el, self.step] {
                    args.push(self.b.bitcast(ft, None, k).map_err(err)?);
                }
                self.inline(program_rand(*d), &args)?
            }
            Expr::Index => self.b.convert_u_to_f(ft, None, self.element).map_err(err)?,
            Expr::PreIndex => {
                let i = self.pre_idx.unwrap_or(self.element);
                self.b.convert_u_to_f(ft, None, i).map_err(err)?
            }
            Expr::PostIndex => {
                let j = self.post_idx.unwrap_or(self.element);
                self.b.convert_u_to_f(ft, None, j).map_err(err)?
            }
            Expr::Table(k, a) => {
                let x = self.expr(part, a)?;
                self.table_at(*k, x)?
            }
        })
    }

    /// Entry `x` of data table `k` as `circ_ir::table_at` reads it: NaN for
    /// a NaN position or an empty table, else entry floor(x) clamped to
    /// the table (the first before it, the last after it).
    fn table_at(&mut self, k: u32, x: Word) -> R<Word> {
        let (u64t, ft, bt) = (self.t.u64, self.t.f64, self.t.bool);
        let entry = |g: &mut Self, n: u64| -> R<Word> {
            let i = g.u64c(2 * u64::from(k) + n);
            let p = g.at(g.t.pu64, g.data, i, 8)?;
            g.load_aligned(u64t, p, 8)
        };
        let (base, len) = (entry(self, 0)?, entry(self, 1)?);
        let zero = self.f(0.0);
        let floor = self.glsl(8, x)?;
        let below = self.b.f_ord_less_than(bt, None, floor, zero).map_err(err)?;
        let from0 = self.b.select(ft, None, below, zero, floor).map_err(err)?;
        let one = self.u64c(1);
        let last = self.b.i_sub(u64t, None, len, one).map_err(err)?;
        let lastf = self.b.convert_u_to_f(ft, None, last).map_err(err)?;
        let beyond = self
            .b
            .f_ord_greater_than(bt, None, from0, lastf)
            .map_err(err)?;
        let within = self.b.select(ft, None, beyond, lastf, from0).map_err(err)?;
        let nan = self.b.is_nan(bt, None, x).map_err(err)?;
        let safe = self.b.select(ft, None, nan, zero, within).map_err(err)?;
        let idx = self.b.convert_f_to_u(u64t, None, safe).map_err(err)?;
        let none = self.u64c(0);
        let empty = self.b.i_equal(bt, None, len, none).map_err(err)?;
        let idx = self.b.select(u64t, None, empty, none, idx).map_err(err)?;
        let p = self.at(self.t.pf64, base, idx, 8)?;
        let v = self.load_aligned(ft, p, 8)?;
        let bad = self.b.logical_or(bt, None, nan, empty).map_err(err)?;
        let nanc = self.constant(ft, f64::NAN.to_bits());
        self.b.select(ft, None, bad, nanc, v).map_err(err)
    }

    fn stmts(&mut self, part: &Part<'_>, body: &[Stmt]) -> R<()> {
        for st in body {
            match st {
                Stmt::Let(t, e) => {
                    let x = self.expr(part, e)?;
                    match self.temp_vars.get(t).copied() {
                        Some(var) => self.b.store(var, x, None, []).map_err(err)?,
                        None => {
                            self.temps.insert(*t, x);
                        }
                    }
                }
                Stmt::Store(v, e) => {
                    let x = self.expr(part, e)?;
                    let p = self.var_ptr(part, *v)?;
                    self.store_aligned(p, x)?;
                }
                Stmt::AddTo(v, e) => self.add_to(part, *v, e)?,
                Stmt::Spike(c) => self.spike(part, c)?,
                Stmt::SetRefractory(e) => {
                    let x = self.expr(part, e)?;
                    let p = self.at(self.t.pf64, self.refr, self.element, 8)?;
                    self.store_aligned(p, x)?;
                }
                Stmt::If(c, then, other) => {
                    let c = self.expr(part, c)?;
                    let c = self.nonzero(c)?;
                    let (yes, no, merge) = (self.b.id(), self.b.id(), self.b.id());
                    self.b
                        .selection_merge(merge, rspirv::spirv::SelectionControl::NONE)
                        .map_err(err)?;
                    self.b.branch_conditional(c, yes, no, []).map_err(err)?;
                    // Addresses read in a branch do not reach past it.
                    let bases = self.bases.clone();
                    self.b.begin_block(Some(yes)).map_err(err)?;
                    self.stmts(part, then)?;
                    self.b.branch(merge).map_err(err)?;
                    self.bases = bases.clone();
                    self.b.begin_block(Some(no)).map_err(err)?;
                    self.stmts(part, other)?;
                    self.b.branch(merge).map_err(err)?;
                    self.bases = bases;
                    self.b.begin_block(Some(merge)).map_err(err)?;
                }
                Stmt::While(c, body) => {
                    let (h, check, run, cont, merge) = (
                        self.b.id(),
                        self.b.id(),
                        self.b.id(),
                        self.b.id(),
                        self.b.id(),
                    );
                    let bases = self.bases.clone();
                    self.b.branch(h).map_err(err)?;
                    self.b.begin_block(Some(h)).map_err(err)?;
                    self.b
                        .loop_merge(merge, cont, rspirv::spirv::LoopControl::NONE, [])
                        .map_err(err)?;
                    self.b.branch(check).map_err(err)?;
                    self.b.begin_block(Some(check)).map_err(err)?;
                    let c = self.expr(part, c)?;
                    let c = self.nonzero(c)?;
                    self.b.branch_conditional(c, run, merge, []).map_err(err)?;
                    self.b.begin_block(Some(run)).map_err(err)?;
                    self.stmts(part, body)?;
                    self.b.branch(cont).map_err(err)?;
                    self.b.begin_block(Some(cont)).map_err(err)?;
                    self.b.branch(h).map_err(err)?;
                    self.bases = bases;
                    self.b.begin_block(Some(merge)).map_err(err)?;
                }
            }
        }
        Ok(())
    }

    fn add_to(&mut self, part: &Part<'_>, v: u32, e: &Expr) -> R<()> {
        let x = self.expr(part, e)?;
        let target = part.view.targets.get(v as usize).copied();
        if let (Some(Target::Acc(..)), Some(local)) = (target, self.local.as_mut())
            && let Some((sum, fresh)) = local.get(&v).copied()
        {
            // From +0 the first term is the term itself, as on the CPU.
            let new = if fresh {
                x
            } else {
                self.fbin(FBin::Add, sum, x)?
            };
            if let Some(local) = self.local.as_mut() {
                local.insert(v, (new, false));
            }
            return Ok(());
        }
        match target {
            Some(Target::Own) | None => {
                let p = self.var_ptr(part, v)?;
                let old = self.load_aligned(self.t.f64, p, 8)?;
                let new = self.fbin(FBin::Add, old, x)?;
                self.store_aligned(p, new)
            }
            Some(Target::Acc(..)) => {
                // Arrivals add into the postsynaptic neuron's accumulator,
                // in synapse order (one invocation per postsynaptic neuron).
                let (Some(base), Some(j)) = (self.acc_base, self.post_idx) else {
                    return Err(SpirvError(
                        "an addition into the runtime's accumulators (not on the GPU yet)".into(),
                    ));
                };
                let a = self.buffer(base + v)?;
                let p = self.at(self.t.pf64, a, j, 8)?;
                let old = self.load_aligned(self.t.f64, p, 8)?;
                let new = self.fbin(FBin::Add, old, x)?;
                self.store_aligned(p, new)
            }
        }
    }

    /// Sets the element's bit in the spike bitset when `c` holds and the
    /// element is not refractory.
    fn spike(&mut self, part: &Part<'_>, c: &Expr) -> R<()> {
        let c = self.expr(part, c)?;
        let mut fire = self.nonzero(c)?;
        if let Some(r) = self.refractory {
            let free = self.b.logical_not(self.t.bool, None, r).map_err(err)?;
            fire = self
                .b
                .logical_and(self.t.bool, None, fire, free)
                .map_err(err)?;
        }
        let u32t = self.t.u32;
        let (five, mask) = (self.u64c(5), self.u64c(31));
        let word = self
            .b
            .shift_right_logical(self.t.u64, None, self.element, five)
            .map_err(err)?;
        let bit = self
            .b
            .bitwise_and(self.t.u64, None, self.element, mask)
            .map_err(err)?;
        let bit = self.b.u_convert(u32t, None, bit).map_err(err)?;
        let one = self.u32c(1);
        let zero = self.u32c(0);
        let set = self
            .b
            .shift_left_logical(u32t, None, one, bit)
            .map_err(err)?;
        let set = self.b.select(u32t, None, fire, set, zero).map_err(err)?;
        let p = self.at(self.t.pu32, self.spikes, word, 4)?;
        // Device scope (1), relaxed: only the bits matter, in any order.
        let (scope, sem) = (self.u32c(1), self.u32c(0));
        self.b
            .atomic_or(u32t, None, p, scope, sem, set)
            .map_err(err)?;
        Ok(())
    }

    /// The element's refractoriness: its last refractory step is not before this one.
    fn refractory_of(&mut self) -> R<Word> {
        let p = self.at(self.t.pu64, self.ref_until, self.element, 8)?;
        let until = self.load_aligned(self.t.u64, p, 8)?;
        self.b
            .s_less_than_equal(self.t.bool, None, self.step, until)
            .map_err(err)
    }

    /// Opens a block that runs where the element's spike bit is set; the
    /// block to branch to when it ends.
    fn if_fired(&mut self) -> R<Word> {
        let u32t = self.t.u32;
        let (five, mask) = (self.u64c(5), self.u64c(31));
        let word = self
            .b
            .shift_right_logical(self.t.u64, None, self.element, five)
            .map_err(err)?;
        let p = self.at(self.t.pu32, self.spikes, word, 4)?;
        let bits = self.load_aligned(u32t, p, 4)?;
        let bit = self
            .b
            .bitwise_and(self.t.u64, None, self.element, mask)
            .map_err(err)?;
        let bit = self.b.u_convert(u32t, None, bit).map_err(err)?;
        let shifted = self
            .b
            .shift_right_logical(u32t, None, bits, bit)
            .map_err(err)?;
        let one = self.u32c(1);
        let low = self.b.bitwise_and(u32t, None, shifted, one).map_err(err)?;
        let fired = self.b.i_equal(self.t.bool, None, low, one).map_err(err)?;
        let (run, skip) = (self.b.id(), self.b.id());
        self.b
            .selection_merge(skip, rspirv::spirv::SelectionControl::NONE)
            .map_err(err)?;
        self.b
            .branch_conditional(fired, run, skip, [])
            .map_err(err)?;
        self.b.begin_block(Some(run)).map_err(err)?;
        Ok(skip)
    }

    /// The body of [`refractory_module`]: for a spiking element, its last
    /// refractory step from the period its reset set, which is then cleared.
    fn refractory_body(&mut self) -> R<()> {
        let skip = self.if_fired()?;
        let (ft, it, bt) = (self.t.f64, self.t.u64, self.t.bool);
        let p = self.at(self.t.pf64, self.refr, self.element, 8)?;
        let period = self.load_aligned(ft, p, 8)?;
        let zero = self.f(0.0);
        self.store_aligned(p, zero)?;
        // Rust's `f64::round` (half away from zero) of period / dt: the
        // floor of |x| plus one where the rest is at least one half (exact:
        // the rest of a float below 2^52 is a float).
        let x = self.fbin(FBin::Div, period, self.dt)?;
        let neg = self.b.f_ord_less_than(bt, None, x, zero).map_err(err)?;
        let minus = self.b.f_negate(ft, None, x).map_err(err)?;
        let minus = self.exact(minus);
        let a = self.b.select(ft, None, neg, minus, x).map_err(err)?;
        let fl = self.glsl(8, a)?;
        let rest = self.fbin(FBin::Sub, a, fl)?;
        let half = self.f(0.5);
        let up = self
            .b
            .f_ord_greater_than_equal(bt, None, rest, half)
            .map_err(err)?;
        let one = self.f(1.0);
        let fl1 = self.fbin(FBin::Add, fl, one)?;
        let r = self.b.select(ft, None, up, fl1, fl).map_err(err)?;
        let rneg = self.b.f_negate(ft, None, r).map_err(err)?;
        let rneg = self.exact(rneg);
        let r = self.b.select(ft, None, neg, rneg, r).map_err(err)?;
        let r = self.b.convert_f_to_s(it, None, r).map_err(err)?;
        // Refractory while t - t_spike < t_ref: steps n+1 ..= n+R-1.
        let until = self.b.i_add(it, None, self.step, r).map_err(err)?;
        let one = self.u64c(1);
        let until = self.b.i_sub(it, None, until, one).map_err(err)?;
        let q = self.at(self.t.pu64, self.ref_until, self.element, 8)?;
        self.store_aligned(q, until)?;
        self.b.branch(skip).map_err(err)?;
        self.b.begin_block(Some(skip)).map_err(err)?;
        Ok(())
    }

    /// Starts the entry point: `element = start + id` and the push
    /// constants loaded, inside a block that runs when `element < count`;
    /// returns the function's id and the block to branch to at the end.
    fn begin_main(&mut self) -> R<(Word, Word)> {
        let fty = self.b.type_function(self.t.void, []);
        let main = self
            .b
            .begin_function(self.t.void, None, FunctionControl::NONE, fty)
            .map_err(err)?;
        self.b.begin_block(None).map_err(err)?;
        if self.pending_temps > 0 {
            let pf = self
                .b
                .type_pointer(None, StorageClass::Function, self.t.f64);
            // Temporaries start at 0, as the interpreter's do (a branch
            // may read one another branch sets).
            let zero = self.constant(self.t.f64, 0);
            for t in 0..self.pending_temps {
                let var = self
                    .b
                    .variable(pf, None, StorageClass::Function, Some(zero));
                self.temp_vars.insert(t, var);
            }
        }
        self.zero = Some(self.push_member(push::ZERO)?);
        let v3 = self.b.type_vector(self.t.u32, 3);
        let id = self.b.load(v3, None, self.gid, None, []).map_err(err)?;
        let x = self
            .b
            .composite_extract(self.t.u32, None, id, [0])
            .map_err(err)?;
        let x = self.b.u_convert(self.t.u64, None, x).map_err(err)?;
        let start = self.push_member(push::START)?;
        let count = self.push_member(push::COUNT)?;
        self.element = self.b.i_add(self.t.u64, None, start, x).map_err(err)?;
        let inside = self
            .b
            .u_less_than(self.t.bool, None, self.element, count)
            .map_err(err)?;
        let (body, done) = (self.b.id(), self.b.id());
        self.b
            .selection_merge(done, rspirv::spirv::SelectionControl::NONE)
            .map_err(err)?;
        self.b
            .branch_conditional(inside, body, done, [])
            .map_err(err)?;
        self.b.begin_block(Some(body)).map_err(err)?;
        self.table = self.push_member(push::TABLE)?;
        self.step = self.push_member(push::STEP)?;
        self.seed = self.push_member(push::SEED)?;
        self.t_now = self.push_member(push::T)?;
        self.dt = self.push_member(push::DT)?;
        self.ref_until = self.push_member(push::REF_UNTIL)?;
        self.spikes = self.push_member(push::SPIKES)?;
        self.refr = self.push_member(push::REFR)?;
        self.data = self.push_member(push::DATA)?;
        Ok((main, done))
    }

    /// The entry point's execution modes: its workgroup, and f64 that keeps
    /// signed zeros, infinities and NaNs and rounds to nearest even (a
    /// driver may otherwise fold `+0 + x` to `x`).
    fn modes(&mut self, main: Word) {
        self.b
            .execution_mode(main, ExecutionMode::LocalSize, [LOCAL_SIZE, 1, 1]);
        self.b
            .execution_mode(main, ExecutionMode::SignedZeroInfNanPreserve, [64]);
        self.b
            .execution_mode(main, ExecutionMode::RoundingModeRTE, [64]);
    }

    /// Ends the entry point begun by [`Gen::begin_main`].
    fn end_main(&mut self, main: Word, done: Word) -> R<()> {
        self.b.branch(done).map_err(err)?;
        self.b.begin_block(Some(done)).map_err(err)?;
        self.b.ret().map_err(err)?;
        self.b.end_function().map_err(err)?;
        self.b.entry_point(
            ExecutionModel::GLCompute,
            main,
            "main",
            [self.gid, self.push],
        );
        self.modes(main);
        Ok(())
    }

    /// A `u32` at `base + index * 4`, widened to u64.
    fn load_u32(&mut self, base: Word, index: Word) -> R<Word> {
        let p = self.at(self.t.pu32, base, index, 4)?;
        let x = self.load_aligned(self.t.u32, p, 4)?;
        self.b.u_convert(self.t.u64, None, x).map_err(err)
    }

    /// Whether bit `i` of the `u32` words at `base` is set.
    fn bit(&mut self, base: Word, i: Word) -> R<Word> {
        let (five, mask) = (self.u64c(5), self.u64c(31));
        let word = self
            .b
            .shift_right_logical(self.t.u64, None, i, five)
            .map_err(err)?;
        let w = self.load_u32(base, word)?;
        let bit = self.b.bitwise_and(self.t.u64, None, i, mask).map_err(err)?;
        let shifted = self
            .b
            .shift_right_logical(self.t.u64, None, w, bit)
            .map_err(err)?;
        let one = self.u64c(1);
        let low = self
            .b
            .bitwise_and(self.t.u64, None, shifted, one)
            .map_err(err)?;
        self.b.i_equal(self.t.bool, None, low, one).map_err(err)
    }

    /// The range `offsets[k]..offsets[k + 1]` (`u64` offsets): a neuron's
    /// synapses.
    fn range(&mut self, offsets: Word, k: Word) -> R<(Word, Word)> {
        let it = self.t.u64;
        let p0 = self.at(self.t.pu64, offsets, k, 8)?;
        let a = self.load_aligned(it, p0, 8)?;
        let one = self.u64c(1);
        let k1 = self.b.i_add(it, None, k, one).map_err(err)?;
        let p1 = self.at(self.t.pu64, offsets, k1, 8)?;
        let b = self.load_aligned(it, p1, 8)?;
        Ok((a, b))
    }

    /// `min(x, y)` of unsigned 64-bit integers.
    fn umin(&mut self, x: Word, y: Word) -> R<Word> {
        let lt = self.b.u_less_than(self.t.bool, None, x, y).map_err(err)?;
        self.b.select(self.t.u64, None, lt, x, y).map_err(err)
    }

    /// The word address `base + index * 4`, as an integer.
    fn word_addr(&mut self, base: Word, index: Word) -> R<Word> {
        let four = self.u64c(4);
        let off = self.b.i_mul(self.t.u64, None, index, four).map_err(err)?;
        self.b.i_add(self.t.u64, None, base, off).map_err(err)
    }

    /// An arrival kernel ([`arrivals`]): one invocation per postsynaptic
    /// neuron `j`, reading the marks of its synapses (by postsynaptic
    /// neuron) in this step's slot a word at a time, and running `part`
    /// for each marked synapse in increasing order; the marks it read are
    /// cleared.
    fn arrivals_function(&mut self, part: &Part<'_>) -> R<()> {
        if branches(&part.kernel.body) {
            self.pending_temps = part.kernel.temps;
        }
        let (main, done) = self.begin_main()?;
        self.arrivals_body(part)?;
        self.end_main(main, done)
    }

    /// The loop of [`Gen::arrivals_function`] for element `j`.
    fn arrivals_body(&mut self, part: &Part<'_>) -> R<()> {
        let nv = part.view.addrs.len() as u32;
        let (it, u32t, bt) = (self.t.u64, self.t.u32, self.t.bool);
        let j = self.element;
        self.acc_base = Some(nv);
        self.post_idx = Some(j);
        let base = 2 * nv;
        let (offsets, by_post, pre, marks) = (
            self.buffer(base)?,
            self.buffer(base + 1)?,
            self.buffer(base + 2)?,
            self.buffer(base + 3)?,
        );
        let ring = self.push_member(push::RING)?;
        let words = self.push_member(push::WORDS)?;
        let (a, b) = self.range(offsets, j)?;
        let one = self.u64c(1);
        // This step's slot of marks.
        let slot = self.b.u_mod(it, None, self.step, ring).map_err(err)?;
        let first_word = self.b.i_mul(it, None, slot, words).map_err(err)?;
        let slot_base = self.word_addr(marks, first_word)?;
        let (five, c31, c32) = (self.u64c(5), self.u64c(31), self.u64c(32));
        let w0 = self.b.shift_right_logical(it, None, a, five).map_err(err)?;
        let b31 = self.b.i_add(it, None, b, c31).map_err(err)?;
        let wend = self
            .b
            .shift_right_logical(it, None, b31, five)
            .map_err(err)?;
        // for w in w0..wend
        let outer = self.open_loop(it, w0, &|g, w| g.b_lt(w, wend))?;
        let w = outer.var;
        let waddr = self.word_addr(slot_base, w)?;
        let wp = self
            .b
            .convert_u_to_ptr(self.t.pu32, None, waddr)
            .map_err(err)?;
        let word = self.load_aligned(u32t, wp, 4)?;
        let word = self.b.u_convert(it, None, word).map_err(err)?;
        // Only the bits of j's synapses: [a, b) within this word.
        let at = self.b.i_mul(it, None, w, c32).map_err(err)?;
        let at32 = self.b.i_add(it, None, at, c32).map_err(err)?;
        let lo_end = self.umin(b, at32)?;
        let lo_start = {
            let lt = self.b_lt(at, a)?;
            self.b.select(it, None, lt, a, at).map_err(err)?
        };
        let lo = self.b.i_sub(it, None, lo_start, at).map_err(err)?;
        let hi = self.b.i_sub(it, None, lo_end, at).map_err(err)?;
        let hi_mask = self.b.shift_left_logical(it, None, one, hi).map_err(err)?;
        let hi_mask = self.b.i_sub(it, None, hi_mask, one).map_err(err)?;
        let lo_mask = self.b.shift_left_logical(it, None, one, lo).map_err(err)?;
        let lo_mask = self.b.i_sub(it, None, lo_mask, one).map_err(err)?;
        let lo_mask = self.b.not(it, None, lo_mask).map_err(err)?;
        let mask = self
            .b
            .bitwise_and(it, None, hi_mask, lo_mask)
            .map_err(err)?;
        let bits = self.b.bitwise_and(it, None, word, mask).map_err(err)?;
        let bits = self.b.u_convert(u32t, None, bits).map_err(err)?;
        let zero32 = self.u32c(0);
        let any = self.b.i_not_equal(bt, None, bits, zero32).map_err(err)?;
        // Clear the marks read (neighbours share the boundary words).
        let (clear, cleared) = (self.b.id(), self.b.id());
        self.b
            .selection_merge(cleared, rspirv::spirv::SelectionControl::NONE)
            .map_err(err)?;
        self.b
            .branch_conditional(any, clear, cleared, [])
            .map_err(err)?;
        self.b.begin_block(Some(clear)).map_err(err)?;
        let keep = self.b.not(u32t, None, bits).map_err(err)?;
        let (scope, sem) = (self.u32c(1), self.u32c(0));
        self.b
            .atomic_and(u32t, None, wp, scope, sem, keep)
            .map_err(err)?;
        self.b.branch(cleared).map_err(err)?;
        self.b.begin_block(Some(cleared)).map_err(err)?;
        // while bits != 0: the lowest marked synapse first.
        let inner = self.open_loop(u32t, bits, &|g, cur| {
            let zero32 = g.u32c(0);
            g.b.i_not_equal(g.t.bool, None, cur, zero32).map_err(err)
        })?;
        let cur = inner.var;
        // GLSL.std.450 FindILsb (73).
        let lsb = self
            .b
            .ext_inst(u32t, None, self.glsl, 73, [Operand::IdRef(cur)])
            .map_err(err)?;
        let lsb = self.b.u_convert(it, None, lsb).map_err(err)?;
        let q = self.b.i_add(it, None, at, lsb).map_err(err)?;
        let syn = self.load_u32(by_post, q)?;
        let i = self.load_u32(pre, syn)?;
        // The synapse is the element (its values, its random draws).
        let (saved, saved_bases) = (self.element, self.bases.clone());
        self.element = syn;
        self.pre_idx = Some(i);
        self.refractory = None;
        self.stmts(part, &part.kernel.body)?;
        self.element = saved;
        // Addresses read inside the loop do not reach past it.
        self.bases = saved_bases;
        self.close_loop(&inner, &|g, cur, next| {
            let one32 = g.u32c(1);
            let less = g.b.i_sub(g.t.u32, None, cur, one32).map_err(err)?;
            g.b.bitwise_and(g.t.u32, Some(next), cur, less)
                .map(|_| ())
                .map_err(err)
        })?;
        self.close_loop(&outer, &|g, w, next| g.step_by(one, w, next))?;
        Ok(())
    }

    /// A projection kernel over its postsynaptic neurons' synapses, or
    /// over its neurons ([`projection`]).
    fn projection_function(&mut self, part: &Part<'_>, by_pre: bool) -> R<()> {
        if branches(&part.kernel.body) {
            self.pending_temps = part.kernel.temps;
        }
        let (main, done) = self.begin_main()?;
        let nv = part.view.addrs.len() as u32;
        self.acc_base = Some(nv);
        let gate = matches!(
            part.kernel.domain,
            Domain::SpikingPre | Domain::SpikingPost | Domain::PostSpikeSynapses
        );
        let skip = if gate { Some(self.if_fired()?) } else { None };
        match part.kernel.domain {
            Domain::PreNeurons | Domain::SpikingPre => {
                self.pre_idx = Some(self.element);
                self.refractory = None;
                self.stmts(part, &part.kernel.body)?;
            }
            Domain::PostNeurons | Domain::SpikingPost => {
                self.post_idx = Some(self.element);
                self.refractory = None;
                self.stmts(part, &part.kernel.body)?;
            }
            Domain::Arriving => self.arrivals_body(part)?,
            Domain::Synapses if by_pre => self.synapses_body(part, true)?,
            _ => self.synapses_body(part, false)?,
        }
        if let Some(skip) = skip {
            self.b.branch(skip).map_err(err)?;
            self.b.begin_block(Some(skip)).map_err(err)?;
        }
        self.end_main(main, done)
    }

    /// Every synapse of postsynaptic neuron `j` in increasing order (or,
    /// `by_pre`, of presynaptic neuron `i`: they are contiguous), the part
    /// run for each; by presynaptic neuron for kernels that write its
    /// values (`pre let` sums).
    fn synapses_body(&mut self, part: &Part<'_>, by_pre: bool) -> R<()> {
        let nv = part.view.addrs.len() as u32;
        let it = self.t.u64;
        let neuron = self.element;
        let base = 2 * nv;
        // Offsets by neuron, then what gives a position's synapse and its
        // other neuron.
        let (offsets, first, second) = if by_pre {
            (self.buffer(base + 4)?, None, self.buffer(base + 5)?)
        } else {
            let by_post = self.buffer(base + 1)?;
            (self.buffer(base)?, Some(by_post), self.buffer(base + 2)?)
        };
        let (a, b) = self.range(offsets, neuron)?;
        let one = self.u64c(1);
        let l = self.open_loop(it, a, &|g, q| g.b_lt(q, b))?;
        let syn = match first {
            Some(by_post) => self.load_u32(by_post, l.var)?,
            None => l.var,
        };
        let other = self.load_u32(second, syn)?;
        (self.pre_idx, self.post_idx) = if by_pre {
            (Some(neuron), Some(other))
        } else {
            (Some(other), Some(neuron))
        };
        let (saved, saved_bases) = (self.element, self.bases.clone());
        self.element = syn;
        self.refractory = None;
        self.stmts(part, &part.kernel.body)?;
        self.element = saved;
        self.bases = saved_bases;
        self.close_loop(&l, &|g, var, next| g.step_by(one, var, next))
    }

    fn b_lt(&mut self, x: Word, y: Word) -> R<Word> {
        self.b.u_less_than(self.t.bool, None, x, y).map_err(err)
    }

    /// Opens a structured loop over a variable of type `ty` starting at
    /// `first`, whose body runs while `go(var)` holds; the body's block is
    /// current when it returns ([`Gen::close_loop`] ends it).
    fn open_loop(
        &mut self,
        ty: Word,
        first: Word,
        go: &dyn Fn(&mut Gen, Word) -> R<Word>,
    ) -> R<Loop> {
        let entry = self.b.id();
        self.b.branch(entry).map_err(err)?;
        self.b.begin_block(Some(entry)).map_err(err)?;
        let (header, body, cont, merge) = (self.b.id(), self.b.id(), self.b.id(), self.b.id());
        let next = self.b.id();
        self.b.branch(header).map_err(err)?;
        self.b.begin_block(Some(header)).map_err(err)?;
        let var = self
            .b
            .phi(ty, None, [(first, entry), (next, cont)])
            .map_err(err)?;
        let more = go(self, var)?;
        self.b
            .loop_merge(merge, cont, rspirv::spirv::LoopControl::NONE, [])
            .map_err(err)?;
        self.b
            .branch_conditional(more, body, merge, [])
            .map_err(err)?;
        self.b.begin_block(Some(body)).map_err(err)?;
        Ok(Loop {
            var,
            next,
            header,
            cont,
            merge,
        })
    }

    /// Ends a loop's body: its continue block computes the next value with
    /// `step(var, next)` (`next` the id to define), and the merge block is
    /// current when it returns.
    fn close_loop(&mut self, l: &Loop, step: &dyn Fn(&mut Gen, Word, Word) -> R<()>) -> R<()> {
        self.b.branch(l.cont).map_err(err)?;
        self.b.begin_block(Some(l.cont)).map_err(err)?;
        step(self, l.var, l.next)?;
        self.b.branch(l.header).map_err(err)?;
        self.b.begin_block(Some(l.merge)).map_err(err)?;
        Ok(())
    }

    /// `next = var + by` (u64).
    fn step_by(&mut self, by: Word, var: Word, next: Word) -> R<()> {
        self.b
            .i_add(self.t.u64, Some(next), var, by)
            .map(|_| ())
            .map_err(err)
    }

    /// The mark kernel ([`mark_module`]): `push::LANES` invocations per
    /// presynaptic neuron; where it spiked in this step, they share its
    /// synapses and set each one's mark in the slot of its arrival step.
    fn mark_function(&mut self) -> R<()> {
        let (main, done) = self.begin_main()?;
        let it = self.t.u64;
        let u32t = self.t.u32;
        let local = self.push_member(push::LANES)?;
        let i = self.b.u_div(it, None, self.element, local).map_err(err)?;
        let lane = self.b.u_mod(it, None, self.element, local).map_err(err)?;
        let (offsets, csc, delays, marks) = (
            self.buffer(0)?,
            self.buffer(1)?,
            self.buffer(2)?,
            self.buffer(3)?,
        );
        let ring = self.push_member(push::RING)?;
        let words = self.push_member(push::WORDS)?;
        let fired = self.bit(self.spikes, i)?;
        let (run, skip) = (self.b.id(), self.b.id());
        self.b
            .selection_merge(skip, rspirv::spirv::SelectionControl::NONE)
            .map_err(err)?;
        self.b
            .branch_conditional(fired, run, skip, [])
            .map_err(err)?;
        self.b.begin_block(Some(run)).map_err(err)?;
        let (a, b) = self.range(offsets, i)?;
        let q0 = self.b.i_add(it, None, a, lane).map_err(err)?;
        let l = self.open_loop(it, q0, &|g, q| g.b_lt(q, b))?;
        let q = l.var;
        let d = self.load_u32(delays, q)?;
        let pos = self.load_u32(csc, q)?;
        let arrive = self.b.i_add(it, None, self.step, d).map_err(err)?;
        let slot = self.b.u_mod(it, None, arrive, ring).map_err(err)?;
        let first = self.b.i_mul(it, None, slot, words).map_err(err)?;
        let (five, c31) = (self.u64c(5), self.u64c(31));
        let wi = self
            .b
            .shift_right_logical(it, None, pos, five)
            .map_err(err)?;
        let wi = self.b.i_add(it, None, first, wi).map_err(err)?;
        let bit = self.b.bitwise_and(it, None, pos, c31).map_err(err)?;
        let bit = self.b.u_convert(u32t, None, bit).map_err(err)?;
        let one32 = self.u32c(1);
        let set = self
            .b
            .shift_left_logical(u32t, None, one32, bit)
            .map_err(err)?;
        let waddr = self.word_addr(marks, wi)?;
        let wp = self
            .b
            .convert_u_to_ptr(self.t.pu32, None, waddr)
            .map_err(err)?;
        let (scope, sem) = (self.u32c(1), self.u32c(0));
        self.b
            .atomic_or(u32t, None, wp, scope, sem, set)
            .map_err(err)?;
        self.close_loop(&l, &|g, var, next| g.step_by(local, var, next))?;
        self.b.branch(skip).map_err(err)?;
        self.b.begin_block(Some(skip)).map_err(err)?;
        self.end_main(main, done)
    }

    /// The handlers' additions applied ([`apply_events_module`]).
    fn apply_events_function(
        &mut self,
        nv: u32,
        accs: &[u32],
        held: &[u32],
        flag: Option<u32>,
    ) -> R<()> {
        let (main, done) = self.begin_main()?;
        let (ft, bt) = (self.t.f64, self.t.bool);
        let i = self.element;
        let mut blocked = None;
        if !held.is_empty() {
            let p = self.at(self.t.pu64, self.ref_until, i, 8)?;
            let until = self.load_aligned(self.t.u64, p, 8)?;
            let mut b = self
                .b
                .s_less_than_equal(bt, None, self.step, until)
                .map_err(err)?;
            if let Some(f) = flag {
                let fb = self.buffer(f)?;
                let fp = self.at(self.t.pf64, fb, i, 8)?;
                let x = self.load_aligned(ft, fp, 8)?;
                let nz = self.nonzero(x)?;
                b = self.b.logical_or(bt, None, b, nz).map_err(err)?;
            }
            let fired = self.bit(self.spikes, i)?;
            b = self.b.logical_or(bt, None, b, fired).map_err(err)?;
            blocked = Some(b);
        }
        for &v in accs {
            let xb = self.buffer(v)?;
            let ab = self.buffer(nv + v)?;
            let xp = self.at(self.t.pf64, xb, i, 8)?;
            let ap = self.at(self.t.pf64, ab, i, 8)?;
            let x = self.load_aligned(ft, xp, 8)?;
            let a = self.load_aligned(ft, ap, 8)?;
            let sum = self.fbin(FBin::Add, x, a)?;
            let zero = self.f(0.0);
            // Zeros are not added, so a -0 stays -0.
            let mut keep = self.b.f_ord_equal(bt, None, a, zero).map_err(err)?;
            if let (Some(b), true) = (blocked, held.contains(&v)) {
                keep = self.b.logical_or(bt, None, keep, b).map_err(err)?;
            }
            let new = self.b.select(ft, None, keep, x, sum).map_err(err)?;
            self.store_aligned(xp, new)?;
            self.store_aligned(ap, zero)?;
        }
        self.end_main(main, done)
    }

    /// The entry point: element `start + id`, the groups in order if it is
    /// below `count` (or, with no groups, the refractory update).
    fn function(&mut self, groups: &[Group<'_>]) -> R<()> {
        let parts: Vec<Part<'_>> = groups.iter().flat_map(Group::parts).collect();
        if parts.iter().any(|p| branches(&p.kernel.body)) {
            self.pending_temps = parts.iter().map(|p| p.kernel.temps).max().unwrap_or(0);
        }
        let (main, done) = self.begin_main()?;
        // A reset runs where the element's spike bit is set.
        let reset = groups
            .iter()
            .any(|g| matches!(g, Group::Plain(p) if p.kernel.domain == Domain::Spiking));
        let fired_end = if reset { Some(self.if_fired()?) } else { None };
        if groups.is_empty() {
            self.refractory_body()?;
        }
        let mut refractory = None;
        for g in groups {
            match g {
                Group::Plain(part) => {
                    // A reset reads it as Cranelift's code does (its
                    // neuron spiked, so it is free until the refractory
                    // module runs after it).
                    self.refractory =
                        if matches!(part.kernel.domain, Domain::Each | Domain::Spiking) {
                            if refractory.is_none() {
                                refractory = Some(self.refractory_of()?);
                            }
                            refractory
                        } else {
                            None
                        };
                    self.stmts(part, &part.kernel.body)?;
                }
                Group::Couple(parts) => {
                    // One local sum per postsynaptic value, from +0; then
                    // added as the runtime adds its accumulators.
                    let zero = self.f(0.0);
                    let sums = couple_sums(parts);
                    self.local = Some(sums.iter().map(|s| (s.var, (zero, true))).collect());
                    for part in parts {
                        self.refractory = None;
                        self.stmts(part, &part.kernel.body)?;
                    }
                    let local = self.local.take().unwrap_or_default();
                    for s in sums {
                        let Some(&(sum, fresh)) = local.get(&s.var) else {
                            continue;
                        };
                        if fresh {
                            continue;
                        }
                        let part = &parts[s.part];
                        let p = self.var_ptr(part, s.var)?;
                        let old = self.load_aligned(self.t.f64, p, 8)?;
                        let added = self.fbin(FBin::Add, old, sum)?;
                        // An input zeroed by this pass holds the push
                        // constants' +0, which no driver folds away.
                        let new = if s.input {
                            added
                        } else {
                            let z = self.f(0.0);
                            let is_zero =
                                self.b.f_ord_equal(self.t.bool, None, sum, z).map_err(err)?;
                            self.b
                                .select(self.t.f64, None, is_zero, old, added)
                                .map_err(err)?
                        };
                        self.store_aligned(p, new)?;
                    }
                }
            }
        }
        if let Some(skip) = fired_end {
            self.b.branch(skip).map_err(err)?;
            self.b.begin_block(Some(skip)).map_err(err)?;
        }
        self.end_main(main, done)
    }
}
