//! [`Model`]: a checked model that keeps its lowered networks and compiled
//! backends, so that runs differing only in seed (or in values seen before)
//! skip lowering and code generation.

use crate::{Checked, Failure, Settings};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::AtomicI32;
use std::time::Instant;

/// A lowered network and its data tables, shared by the lowering that made
/// it and every backend compiled for it.
struct Lowering {
    lowered: circ_lower::Lowered,
    tables: Vec<Vec<f64>>,
}

impl Lowering {
    /// The same network and data (another lowering may give an equal one:
    /// another duration, a value swept back).
    fn same(&self, other: &Lowering) -> bool {
        self.lowered.net == other.lowered.net && self.tables == other.tables
    }
}

/// A lowering and the backend it is compiled for.
struct Net {
    lowering: Rc<Lowering>,
    backend: &'static circ_backends::Info,
    threads: usize,
}

type BackendOf<'a> = Box<dyn circ_runtime::Backend + 'a>;

self_cell::self_cell!(
    /// A network with its kernels compiled (they borrow it).
    struct Compiled {
        owner: Net,
        #[not_covariant]
        dependent: BackendOf,
    }
);

/// What a lowering depends on: the settings other than the seed (which
/// only the run reads).
#[derive(Clone, PartialEq)]
struct LowerKey {
    circuit: Option<String>,
    duration: Option<f64>,
    dt: Option<f64>,
    final_state: bool,
    sets: Vec<String>,
}

impl LowerKey {
    fn of(s: &Settings) -> LowerKey {
        LowerKey {
            circuit: s.circuit.clone(),
            duration: s.duration,
            dt: s.dt,
            final_state: s.final_state,
            sets: s.sets.clone(),
        }
    }
}

/// One run asked of a [`Model`].
#[derive(Clone, Debug)]
pub struct Request {
    /// Circuit, duration, time step, seed, parameter values.
    pub settings: Settings,
    /// The backend's name in the registry (`auto`, `jit`, `llvm`, `gpu`, `interp`).
    pub backend: String,
    /// Threads for backends that split kernels (`None`: every core).
    pub threads: Option<usize>,
    /// Where to write the recordings as `circ run` does (`None`: keep them in memory).
    pub out: Option<PathBuf>,
    /// The memory the network may need, bytes (`None`: what is available).
    pub memory_limit: Option<u64>,
    /// Start a run of 10^10 steps or more.
    pub allow_long: bool,
}

impl Default for Request {
    fn default() -> Request {
        Request {
            settings: Settings::default(),
            backend: circ_backends::BACKENDS[0].name.into(),
            threads: None,
            out: None,
            memory_limit: None,
            allow_long: false,
        }
    }
}

/// Seconds spent in each part of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Lowering (0 when a lowering was reused).
    pub lower: f64,
    /// Code generation and the backend's setup (0 when reused).
    pub compile: f64,
    /// Building the network: connections, initial values.
    pub build: f64,
    /// The simulation loop.
    pub run: f64,
}

/// What a run gave.
#[derive(Debug)]
pub struct Report {
    /// Every output file `circ run` writes (name, bytes), `summary.json` last.
    pub files: Vec<(String, Vec<u8>)>,
    /// Why the run stopped early (a signal, a NaN, the device), as `circ run` says it.
    pub stopped: Option<String>,
    /// The signal that stopped it, if one did.
    pub signal: Option<i32>,
    /// Warnings of lowering (rendered) and of the network.
    pub warnings: Vec<String>,
    /// Whether this run lowered the model (else it reused a lowering).
    pub lowered: bool,
    /// Whether this run generated code (else it reused compiled kernels).
    pub compiled: bool,
    /// Where the time went.
    pub timings: Timings,
}

/// Compiled networks a model keeps (a sweep over more values compiles the
/// oldest again when it comes back to them; each holds its backend's code
/// and, on a GPU, its device's buffers).
const KEEP: usize = 8;

/// A checked model that keeps what it lowered and compiled: a later run
/// with the same settings but another seed neither lowers nor compiles
/// again, and one whose settings give a network compiled before (a value
/// swept back, another duration) does not compile again.
pub struct Model {
    checked: Checked,
    /// Each lowering by its settings, oldest first (at most [`KEEP`] times 4:
    /// networks without their synapses are small).
    lowerings: Vec<(LowerKey, Rc<Lowering>)>,
    /// Compiled networks, oldest first (at most [`KEEP`]).
    compiled: Vec<Compiled>,
    /// Lowerings done so far.
    pub lowerings_done: usize,
    /// Compilations done so far.
    pub compilations_done: usize,
}

impl Model {
    /// A model from its checked source.
    pub fn new(checked: Checked) -> Model {
        Model {
            checked,
            lowerings: vec![],
            compiled: vec![],
            lowerings_done: 0,
            compilations_done: 0,
        }
    }

    /// The checked source.
    pub fn checked(&self) -> &Checked {
        &self.checked
    }

    /// Runs `req`; `stop` ends it at a step boundary when it holds a signal's
    /// number, `progress` sees (steps done, steps in all) every 1000 steps.
    pub fn run(
        &mut self,
        req: &Request,
        stop: &AtomicI32,
        progress: Option<&mut dyn FnMut(u64, u64)>,
    ) -> Result<Report, Failure> {
        let info = circ_backends::info(&req.backend).ok_or_else(|| {
            let names: Vec<&str> = circ_backends::BACKENDS.iter().map(|b| b.name).collect();
            Failure::new(
                2,
                format!(
                    "there is no backend `{}` (there are: {})",
                    req.backend,
                    names.join(", ")
                ),
            )
        })?;
        let threads = req.threads.unwrap_or_else(|| crate::default_threads(info));
        info.check_threads(threads)
            .map_err(|e| Failure::new(2, e))?;
        let mut timings = Timings::default();
        let mut warnings = vec![];
        let key = LowerKey::of(&req.settings);
        let (lowering, lowered) = match self.lowerings.iter().find(|(k, _)| *k == key) {
            Some((_, l)) => (Rc::clone(l), false),
            None => {
                let t = Instant::now();
                // The seed is the run's, not the lowering's: lower with the
                // file's, so one lowering serves every seed.
                let settings = Settings {
                    seed: None,
                    ..req.settings.clone()
                };
                let l = self.checked.lower(&settings, false)?;
                self.lowerings_done += 1;
                if !l.warnings.is_empty() {
                    warnings.push(l.warnings.trim_end().to_string());
                }
                let tables = self.checked.tables(&l.lowered.net)?;
                let lowering = Rc::new(Lowering {
                    lowered: l.lowered,
                    tables,
                });
                self.lowerings.push((key, Rc::clone(&lowering)));
                if self.lowerings.len() > 4 * KEEP {
                    self.lowerings.remove(0);
                }
                timings.lower = t.elapsed().as_secs_f64();
                (lowering, true)
            }
        };
        let found = self.compiled.iter().position(|c| {
            let n = c.borrow_owner();
            n.lowering.same(&lowering) && n.backend.name == info.name && n.threads == threads
        });
        let (at, compiled) = match found {
            Some(at) => (at, false),
            None => {
                let t = Instant::now();
                self.compile(lowering, info, threads)?;
                timings.compile = t.elapsed().as_secs_f64();
                (self.compiled.len() - 1, true)
            }
        };
        let checked = &self.checked;
        let outcome = self.compiled[at].with_dependent(|net, backend| {
            let l = &net.lowering.lowered;
            let started = Instant::now();
            let noop = &mut |_: u64, _: u64| {};
            let mut hooks = circ_runtime::Hooks {
                stop: Some(stop),
                progress: Some(progress.unwrap_or(noop)),
            };
            let job = circ_exe::Job {
                layout: &l.net.layout,
                backend: &**backend,
                backend_name: net.backend.label,
                circuit: &l.circuit,
                file: &checked.source.name,
                base: &checked.source.base,
                seed: req.settings.seed.unwrap_or(l.seed),
                dt: l.dt,
                duration: l.duration,
                out: req.out.clone(),
                started,
                memory_limit: req.memory_limit,
                allow_long: req.allow_long,
                extra: None,
                comm: &circ_runtime::comm::SINGLE,
            };
            circ_exe::execute(&job, &mut hooks, &mut |w| warnings.push(w)).map(|o| {
                (
                    o.files,
                    o.result.stopped,
                    o.info.build_seconds,
                    o.result.loop_time,
                )
            })
        });
        let (files, stopped, build, loop_time) =
            outcome.map_err(|e| Failure::new(e.code, e.message))?;
        timings.build = build;
        timings.run = loop_time.as_secs_f64();
        let signal = match &stopped {
            Some(circ_runtime::RunError::Interrupted { signal, .. }) => Some(*signal),
            _ => None,
        };
        Ok(Report {
            files,
            stopped: stopped.map(|e| e.to_string()),
            signal,
            warnings,
            lowered,
            compiled,
            timings,
        })
    }

    /// Compiles `lowering` for `info` and keeps it last (forgetting the
    /// oldest beyond [`KEEP`]).
    fn compile(
        &mut self,
        lowering: Rc<Lowering>,
        info: &'static circ_backends::Info,
        threads: usize,
    ) -> Result<(), Failure> {
        let net = Net {
            lowering,
            backend: info,
            threads,
        };
        let settings = circ_backends::Settings {
            threads,
            ..Default::default()
        };
        let compiled = Compiled::try_new(net, |n| {
            let l = &n.lowering;
            circ_backends::instantiate(info.name, &l.lowered.net, l.tables.clone(), &settings)
                .map(|i| i.backend)
        })
        .map_err(|e| Failure::new(1, e))?;
        self.compilations_done += 1;
        self.compiled.push(compiled);
        if self.compiled.len() > KEEP {
            self.compiled.remove(0);
        }
        Ok(())
    }
}
