//! circ-driver owns the way from a model's text to a finished run that the
//! command line (`circ run`) and the Python package share: reading a model
//! and the modules it imports, checking and lowering it with a run's
//! settings (`--set` values included), loading its data tables, and
//! [`Model`], which keeps what it compiled for later runs. It must not
//! print, read the environment or parse command lines: failures come back
//! as rendered diagnostics ([`Failure`]) and the caller says them.

use circ_diag::{SourceMap, render_all_text};
use circ_sema::{Analysis, Loader};
use std::path::{Path, PathBuf};

mod model;
/// The stack the front end needs (it walks syntax trees recursively): give
/// it to a thread that checks or lowers models.
pub use circ_sema::FRONT_END_STACK;
pub use model::{Model, Report, Request, Timings};

/// Why a step did not go through: `circ run`'s exit code (1: the model, 2:
/// the command line, a file or the output folder) and the rendered message
/// (diagnostics with their source lines, or one `error: ...` line).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The exit code `circ run` gives for it.
    pub code: u8,
    /// What to show, ending in a newline.
    pub message: String,
}

impl Failure {
    /// A one-line error with `code`.
    pub fn new(code: u8, what: impl std::fmt::Display) -> Failure {
        Failure {
            code,
            message: format!("error: {what}\n"),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message.trim_end())
    }
}

/// Loads `use "file.circ"` imports relative to the importing file, and
/// remembers what it read.
#[derive(Default)]
pub struct FsLoader {
    /// The files read, in order.
    pub read: Vec<PathBuf>,
}

impl Loader for FsLoader {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(from).parent().unwrap_or_else(|| Path::new(""));
        let full = base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        self.read.push(full.clone());
        Ok((full.to_string_lossy().into_owned(), text))
    }
}

/// What a run changes of a file's `run` item (the command line's `--circuit`,
/// `--duration`, `--dt`, `--seed`, `--final-state`, `--set`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// Run this circuit instead of the `run` item's.
    pub circuit: Option<String>,
    /// Biological time, seconds.
    pub duration: Option<f64>,
    /// Time step, seconds.
    pub dt: Option<f64>,
    /// The seed of every random number.
    pub seed: Option<u64>,
    /// Record every state at the end (`final_*.npy`).
    pub final_state: bool,
    /// `TARGET=VALUE` parameter values (`N=8000`, `E.tau_m=10ms`).
    pub sets: Vec<String>,
}

/// A time given with its unit (`200 ms`), in seconds; `flag` names it in the error.
pub fn parse_time(flag: &str, text: &str) -> Result<f64, Failure> {
    circ_units::parse_time(flag, text).map_err(|e| Failure::new(2, e))
}

/// A model's text and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name diagnostics show (the file's path, or `<text>`).
    pub name: String,
    /// The model.
    pub text: String,
    /// The folder its imports and data files are read from.
    pub base: PathBuf,
}

impl Source {
    /// Reads the model file `path` (exit code 2 when it cannot be read).
    pub fn file(path: &Path) -> Result<Source, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(2, format!("cannot read {}: {e}", path.display())))?;
        Ok(Source {
            name: path.to_string_lossy().into_owned(),
            text,
            base: folder_of(path),
        })
    }

    /// A model given as text under `name` (`<text>`), reading imports and
    /// data files beside that name (the current folder for a bare one).
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Source {
        let name = name.into();
        Source {
            base: folder_of(Path::new(&name)),
            name,
            text: text.into(),
        }
    }
}

/// The folder of `file` (empty for a bare name: the current folder).
fn folder_of(file: &Path) -> PathBuf {
    file.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A model that passed the checks, with everything they found.
pub struct Checked {
    /// Its files (the model and its modules).
    pub map: SourceMap,
    /// Names, types, dimensions, items.
    pub analysis: Analysis,
    /// The model's source.
    pub source: Source,
    /// Module files it imported.
    pub imported: Vec<PathBuf>,
}

/// Every diagnostic `circ check` gives `source` (errors and warnings of the
/// checks, then what `circ run` checks before its first step short of data
/// files, when the checks pass) in the analysis, with the files they point
/// into, and the lowered run when there is one (`memory_limit`: bytes the
/// network may need; `None`: what is available).
pub fn diagnose(
    source: &Source,
    memory_limit: Option<u64>,
) -> (SourceMap, Analysis, Option<circ_lower::Lowered>) {
    let mut map = SourceMap::new();
    let id = map.add(source.name.clone(), source.text.clone());
    let mut analysis = circ_sema::check_program(&mut map, id, &mut FsLoader::default());
    let mut lowered = None;
    if !analysis.has_errors() {
        let (ds, l) = circ_lower::check(
            &analysis,
            &map,
            &circ_lower::Options::default(),
            memory_limit,
        );
        analysis.diagnostics.extend(ds);
        lowered = l;
    }
    (map, analysis, lowered)
}

/// Checks `source`; its errors (with its warnings) rendered, exit code 1.
pub fn check(source: Source, color: bool) -> Result<Checked, Failure> {
    let mut map = SourceMap::new();
    let id = map.add(source.name.clone(), source.text.clone());
    let mut loader = FsLoader::default();
    let analysis = circ_sema::check_program(&mut map, id, &mut loader);
    if analysis.has_errors() {
        return Err(Failure {
            code: 1,
            message: render_all_text(&analysis.diagnostics, &map, color),
        });
    }
    Ok(Checked {
        map,
        analysis,
        source,
        imported: loader.read,
    })
}

/// A lowered network and the warnings of lowering it (rendered; empty if none).
pub struct Lowering {
    /// The network with its run's settings.
    pub lowered: circ_lower::Lowered,
    /// What `circ check` warns about too.
    pub warnings: String,
}

impl Checked {
    /// Lowers the circuit to run with `s`.
    pub fn lower(&self, s: &Settings, color: bool) -> Result<Lowering, Failure> {
        let mut opts = circ_lower::Options {
            circuit: s.circuit.clone(),
            seed: s.seed,
            final_state: s.final_state,
            duration: s.duration,
            dt: s.dt,
            ..Default::default()
        };
        circ_lower::resolve_sets(&self.analysis, s.circuit.as_deref(), &s.sets, &mut opts)
            .map_err(|e| Failure::new(2, e))?;
        let lowered =
            circ_lower::lower(&self.analysis, &self.map, &opts).map_err(|ds| Failure {
                code: 1,
                message: render_all_text(&ds, &self.map, color),
            })?;
        let warnings = if lowered.warnings.is_empty() {
            String::new()
        } else {
            render_all_text(&lowered.warnings, &self.map, color)
        };
        Ok(Lowering { lowered, warnings })
    }

    /// The data tables `net` reads, from the model's folder (exit code 1
    /// when one is missing or malformed).
    pub fn tables(&self, net: &circ_ir::Network) -> Result<Vec<Vec<f64>>, Failure> {
        circ_runtime::data::load_tables(&self.source.base, &net.layout.tables)
            .map_err(|e| Failure::new(1, e))
    }

    /// Every file a run of `net` reads: the model, its modules, its data files.
    pub fn inputs(&self, net: &circ_ir::Network) -> Vec<PathBuf> {
        let mut v = vec![PathBuf::from(&self.source.name)];
        v.extend(self.imported.iter().cloned());
        v.extend(data_files(&net.layout, &self.source.base));
        v
    }
}

/// Every data file a network reads, relative to `base`.
fn data_files(layout: &circ_ir::NetLayout, base: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = layout
        .tables
        .iter()
        .map(|(c, _)| base.join(&c.path))
        .collect();
    for p in &layout.projs {
        if let circ_ir::Connect::File { path, .. } | circ_ir::Connect::Matrix { path } = &p.connect
        {
            v.push(base.join(path));
        }
    }
    for pop in &layout.pops {
        if let Some(s) = &pop.schedule_source {
            v.push(base.join(&s.times.path));
            if let Some(i) = &s.indices {
                v.push(base.join(&i.path));
            }
        }
    }
    v
}

/// The threads a backend gets when none are asked for: every core where it
/// splits kernels across threads, else one.
pub fn default_threads(info: &circ_backends::Info) -> usize {
    if info.threads {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    }
}
