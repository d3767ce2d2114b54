//! What the runtime knows of a network: populations, their variables, and
//! what to record. Lowering builds it; backends index into it.

/// What a variable is for (the runtime treats them all as numbers; the role
/// decides resets of inputs and NaN checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct VarLayout {
    /// Its name.
    pub name: String,
    /// What it is.
    pub role: VarRole,
    /// One value for the population (true) or one per element.
    pub scalar: bool,
}

/// A population: a size and variables.
#[derive(Clone, Debug, PartialEq)]
pub struct PopLayout {
    /// Its name in the circuit.
    pub name: String,
    /// The model it instantiates.
    pub model: String,
    /// How many elements.
    pub size: usize,
    /// Its variables; kernels refer to them by index.
    pub vars: Vec<VarLayout>,
}

/// What a recorder samples.
#[derive(Clone, Debug, PartialEq)]
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
}

/// A recorder on one population.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The population.
    pub pop: usize,
    /// What it samples.
    pub kind: RecordKind,
}

/// The whole network as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NetLayout {
    /// Populations.
    pub pops: Vec<PopLayout>,
    /// Recorders.
    pub records: Vec<Record>,
}
