//! What the runtime knows of a network: populations, their variables, and
//! what to record. Lowering builds it; backends index into it.

/// What a variable is for (the runtime treats them all as numbers; the role
/// decides resets of inputs and NaN checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VarRole {
    /// A parameter, fixed or per element.
    Param,
    /// A state that evolves.
    State,
    /// An input port, zeroed at the start of each step.
    Input,
    /// A value the compiler derived (propagator coefficients and the like).
    Internal,
}

/// One variable of a population.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VarLayout {
    /// Its name.
    pub name: String,
    /// What it is.
    pub role: VarRole,
    /// One value for the population (true) or one per element.
    pub scalar: bool,
}

/// A population: a size and variables.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PopLayout {
    /// Its name in the circuit.
    pub name: String,
    /// The model it instantiates.
    pub model: String,
    /// How many elements.
    pub size: usize,
    /// Its variables; kernels refer to them by index.
    pub vars: Vec<VarLayout>,
    /// Spikes given in advance (`spikes[N](times = ...)`): (step, index),
    /// sorted; emitted in the threshold phase of their step.
    pub schedule: Vec<(u64, u32)>,
    /// Spikes given in a file, read when the network is built (added to `schedule`).
    pub schedule_source: Option<ScheduleSource>,
    /// The variables held while an element is refractory (`unless
    /// refractory`): handlers' additions to them are discarded then, and in
    /// the step the element spikes (spec/semantics.md, step 4).
    #[serde(default)]
    pub held: Vec<usize>,
    /// A Poisson input of constant rate (Hz): the runtime draws its spikes
    /// event by event ([`crate::poisson`]) instead of a threshold kernel.
    #[serde(default)]
    pub poisson_rate: Option<f64>,
    /// The random stream of the runtime's own draws for it (Poisson
    /// gaps), handed out by the compiler's stream allocator with the
    /// kernels' ones, so that no two draws share numbers; 0 (never handed
    /// out) when it has none.
    #[serde(default)]
    pub stream: u32,
    /// A population of rate units: its model has no spike condition, so
    /// summaries show its states' means rather than a spike count.
    #[serde(default)]
    pub rate_unit: bool,
    /// The variable of a `refractory while` condition: a per-neuron flag (1
    /// while refractory) its update kernel sets at the start of each step;
    /// the runtime reads it to drop jumps into held states.
    #[serde(default)]
    pub refractory_flag: Option<usize>,
    /// `method rk45`'s per-neuron counters, for the step statistics that
    /// summaries report.
    #[serde(default)]
    pub adaptive: Option<AdaptiveVars>,
}

/// The variables in which `method rk45` counts its substeps, per neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdaptiveVars {
    /// Substeps accepted so far.
    pub accepted: usize,
    /// Substeps rejected so far.
    pub rejected: usize,
    /// The smallest substep accepted so far (seconds).
    pub smallest: usize,
}

/// A column of numbers in a data file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// The file, relative to the model file.
    pub path: String,
    /// The column: a CSV header name or `.npy` field; `None` takes the
    /// only column (a 1-D `.npy`, or a one-column CSV).
    pub column: Option<String>,
    /// How many values it must hold (one per neuron of a population), if
    /// that is fixed.
    #[serde(default)]
    pub rows: Option<usize>,
}

/// Spike times and indices read from files.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleSource {
    /// Spike times, in seconds.
    pub times: Column,
    /// Neuron indices (every neuron at each time when absent).
    pub indices: Option<Column>,
    /// Where the population is written, for messages.
    pub origin: String,
}

/// Where a variable of a projection lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Space {
    /// One value for the projection.
    Scalar,
    /// One value per synapse.
    Syn,
    /// One value per presynaptic neuron (`pre state`).
    PreState,
    /// One value per postsynaptic neuron (`post state`).
    PostState,
    /// A variable of the presynaptic population (`pre.x`), by its index there.
    PreNeuron(usize),
    /// A variable of the postsynaptic population (`post.x`), by its index there.
    PostNeuron(usize),
}

/// A variable a projection's kernels use.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjVar {
    /// Its name (`pre.v` for neuron variables).
    pub name: String,
    /// Where it lives.
    pub space: Space,
    /// What it is for.
    pub role: VarRole,
}

/// How a projection's synapses are chosen.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Connect {
    /// A rule with its arguments evaluated.
    Rule(crate::connect::Rule),
    /// A connection matrix in a file (rows: presynaptic, columns:
    /// postsynaptic; a synapse where the entry is not zero).
    Matrix {
        /// The file, relative to the model file.
        path: String,
    },
    /// An edge list: `source`/`target` columns, and columns bound to
    /// per-synapse variables (and `delay`, in seconds).
    File {
        /// The file, as the model names it (relative to the model file).
        path: String,
        /// Column of presynaptic indices.
        source: String,
        /// Column of postsynaptic indices.
        target: String,
        /// (column, projection variable) bindings.
        columns: Vec<(String, usize)>,
    },
}

/// A projection: two populations, synapses, variables.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjLayout {
    /// `E -> I` or the projection's name.
    pub name: String,
    /// Where it is written (`file:line`), for messages.
    pub origin: String,
    /// Presynaptic population.
    pub pre: usize,
    /// Postsynaptic population.
    pub post: usize,
    /// Its variables; its kernels refer to them by index.
    pub vars: Vec<ProjVar>,
    /// How synapses are made.
    pub connect: Connect,
    /// Whether a neuron may connect to itself.
    pub autapses: bool,
    /// Whether a `where` condition filters pairs (the backend evaluates it).
    pub filtered: bool,
    /// The per-synapse variable holding each delay, in seconds.
    pub delay_var: Option<usize>,
    /// The longest delay, in seconds, when the model fixes it (a constant
    /// `delay`): the delay ring's size is then known before the run.
    #[serde(default)]
    pub delay_bound: Option<f64>,
    /// How long after a postsynaptic spike its `on post` runs, in seconds:
    /// 0, or twice a dendritic delay (spec/semantics.md).
    #[serde(default)]
    pub on_post_delay: f64,
    /// The postsynaptic population's variables its kernels add into: each
    /// gets an accumulation buffer, applied after each phase.
    pub post_added: Vec<usize>,
    /// The random stream its connection rule draws from (allocated with
    /// every other stream of the network, see [`PopLayout::stream`]).
    #[serde(default)]
    pub stream: u32,
    /// The presynaptic neurons it connects from, in increasing order, when
    /// a subgroup (`E[0..5] -> I`); `None`: the whole population.
    #[serde(default)]
    pub pre_sel: Option<Vec<u32>>,
    /// The postsynaptic neurons it connects to, likewise.
    #[serde(default)]
    pub post_sel: Option<Vec<u32>>,
}

impl ProjLayout {
    /// What its connection rule sees, given the two populations' sizes: the
    /// subgroups' sizes, and whether `i == j` is one neuron (the same
    /// population and the same subgroup). The rule numbers neurons within
    /// the subgroups; [`ProjLayout::global`] maps them back.
    pub fn local_ends(&self, n_pre: usize, n_post: usize) -> crate::connect::Ends {
        crate::connect::Ends {
            n_pre: self.pre_sel.as_ref().map_or(n_pre, Vec::len),
            n_post: self.post_sel.as_ref().map_or(n_post, Vec::len),
            same: self.pre == self.post && self.pre_sel == self.post_sel,
            autapses: self.autapses,
        }
    }

    /// The population indices of a pair numbered within the subgroups.
    pub fn global(&self, i: u32, j: u32) -> (u32, u32) {
        let at = |sel: &Option<Vec<u32>>, k: u32| {
            sel.as_ref()
                .and_then(|s| s.get(k as usize).copied())
                .unwrap_or(k)
        };
        (at(&self.pre_sel, i), at(&self.post_sel, j))
    }
}

/// What a recorder samples.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RecordKind {
    /// Spike times and indices.
    Spikes,
    /// A variable of elements `first..last`, every `every` steps.
    Var {
        /// Variable index.
        var: usize,
        /// First element.
        first: usize,
        /// One past the last element.
        last: usize,
        /// Sampling period in steps (at least 1).
        every: u64,
    },
    /// The population rate, averaged over `window` steps.
    Rate {
        /// Window in steps (at least 1).
        window: u64,
    },
    /// A per-synapse variable of projection `proj`, synapses `first..last`
    /// (clipped to the synapses made), every `every` steps.
    Synapses {
        /// Projection index.
        proj: usize,
        /// Variable index in the projection.
        var: usize,
        /// First synapse.
        first: usize,
        /// One past the last synapse.
        last: usize,
        /// Sampling period in steps.
        every: u64,
    },
    /// Every synapse of projection `proj`: its presynaptic and postsynaptic
    /// indices and its delay, written once, at the end of the run.
    Connectivity {
        /// Projection index.
        proj: usize,
    },
}

/// `Record::at`'s step for the end of the run (or where it stopped).
pub const AT_END: u64 = u64::MAX;

/// A recorder on one population.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The population.
    pub pop: usize,
    /// What it samples.
    pub kind: RecordKind,
    /// The steps to sample at, sorted (`AT_END`: the end of the run),
    /// instead of every `every` steps; empty: periodic.
    #[serde(default)]
    pub at: Vec<u64>,
    /// Put before the file names (`final_` for `circ run --final-state`).
    #[serde(default)]
    pub prefix: String,
    /// The SI unit of the values recorded, as `circ_units::Dim::si` writes
    /// it (`m^2*kg*s^-3*A^-1` for volts, `1` for numbers); empty where the
    /// file says (spikes: times in seconds, connectivity).
    #[serde(default)]
    pub unit: String,
}

/// The whole network as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct NetLayout {
    /// Populations.
    pub pops: Vec<PopLayout>,
    /// Projections.
    pub projs: Vec<ProjLayout>,
    /// Data tables kernels read (`timed(from "file", ...)`), by index.
    pub tables: Vec<(Column, String)>,
    /// Recorders.
    pub records: Vec<Record>,
}
