//! `circ repl`: items, expressions and commands typed one at a time.
//!
//! The session is a list of entries (items typed or loaded); every new item
//! is checked together with the others, exactly as `circ check` checks a
//! file, and its diagnostics point into the text just typed. Expressions
//! are checked as a constant and printed with their unit. A circuit, once
//! instantiated, keeps its state between `:run`s; `:set` recompiles the
//! kernels and carries the state over.

use crate::FsLoader;
use crate::units_fmt::format_quantity;
use circ_diag::{Diagnostic, FileId, SourceMap, render_all_text};
use circ_runtime::{RunResult, SimState, Simulation};
use circ_sema::{Analysis, Ty};
use circ_syntax::ast::{self, CircuitMemberKind, Item};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

mod edit;
pub(crate) use edit::UNITS;

use crate::plot;

/// The name the value of an expression is checked under.
const VALUE: &str = "__repl_value";

/// What `:help` prints.
const HELP: &str = "\
Type an item (neuron, synapse, circuit, const, fn, use, run) to check and
keep it (an item of the same name is replaced), or an expression to evaluate
it with its unit: `20 ms * 5 Hz`, `(-65 mV - -50 mV) / 10 Mohm`.

  :type EXPR               the dimension of an expression
  :load FILE               start over from a model file
  :instantiate [CIRCUIT]   build a circuit (default: the `run` item's)
  :run DURATION            simulate on from where the last run stopped
  :set POP.PARAM = VALUE   change a parameter; the state carries over
  :reset                   back to time 0 (parameters set stay set)
  :spikes [POP]            spike counts and mean rates so far
  :show POP.VAR[A..B]      current values of a variable
  :plot POP.VAR [> FILE]   a recorded variable (or POP.rate) in the terminal,
                           or as a .png/.svg file
  :raster POP [> FILE]     the spikes of a population
  :save DIR                write the recordings (as `circ run --out DIR`)
  :items                   the items of the session
  :explain CODE            what a diagnostic code means
  :help                    this text
  :quit                    leave (Ctrl-D too)
";

/// One item of the session, and where its text came from (for messages).
#[derive(Clone)]
struct Entry {
    /// What a later item of the same key replaces: the item's name.
    key: String,
    /// Its text as it enters the checked program.
    text: String,
    /// The file (or `<input N>`) messages show, its text, and the offset
    /// in that text of `text`'s first byte (negative where `text` starts
    /// with words the user did not type).
    origin: Arc<(String, String)>,
    origin_at: i64,
}

/// A circuit built from the session: its network, compiled kernels, state
/// and what its runs recorded.
struct Live {
    compiled: Compiled,
    /// None only while a command moves it.
    state: Option<SimState>,
    overrides: Vec<(String, String, f64)>,
    /// Everything recorded since time 0.
    record: RunResult,
    /// The session's `generation` it was built from.
    generation: u64,
}

type BackendOf<'a> = Box<dyn circ_runtime::Backend + 'a>;

self_cell::self_cell!(
    /// A lowered network with its kernels compiled (they borrow it).
    struct Compiled {
        owner: circ_lower::Lowered,
        #[not_covariant]
        dependent: BackendOf,
    }
);

/// The state of a REPL session.
pub struct Session {
    entries: Vec<Entry>,
    /// The last successful check of `entries`.
    checked: Option<(SourceMap, Analysis, Vec<u32>)>,
    /// Where `use "file"` and data files are found.
    base: PathBuf,
    threads: usize,
    inputs: usize,
    live: Option<Live>,
    /// Set to a signal's number (Ctrl-C's SIGINT, SIGTERM, SIGHUP) while a
    /// run is going: the run stops cleanly.
    stop: Arc<AtomicI32>,
    /// True between runs: SIGTERM and SIGHUP then end the REPL as usual.
    idle: Arc<AtomicBool>,
    /// Whether any input failed (piped sessions exit with status 1).
    pub failed: bool,
    /// Bumped whenever the items change: a live circuit built from older
    /// items is built again at the next `:run`.
    generation: u64,
}

/// What the loop does after an input.
#[derive(PartialEq, Eq)]
pub enum Flow {
    /// Read the next input.
    Go,
    /// Leave.
    Quit,
}

/// `circ repl [FILE]`.
pub fn main(file: Option<&Path>, threads: usize) -> ExitCode {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut s = Session::new(threads);
    // Ctrl-C at the prompt is the line editor's; during a run it stops it,
    // as SIGTERM and SIGHUP do (between runs those end the REPL).
    circ_exe::stop_on_signals(&s.stop);
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        let _ = signal_hook::flag::register_conditional_default(sig, Arc::clone(&s.idle));
    }
    if interactive {
        circ_exe::say!(
            "circ {} REPL: :help for commands, :quit to leave",
            env!("CARGO_PKG_VERSION")
        );
    }
    if let Some(f) = file {
        s.load(f);
    }
    let mut lines: Box<dyn edit::Lines> = if interactive {
        match edit::Editor::new(&s) {
            Ok(e) => Box::new(e),
            Err(e) => {
                eprintln!("error: cannot start the line editor: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        Box::new(edit::Piped(std::io::stdin().lock()))
    };
    while let Some(first) = lines.read("circ> ", &s) {
        let mut text = first;
        while needs_more(&text) {
            match lines.read("  ... ", &s) {
                Some(more) => {
                    text.push('\n');
                    text.push_str(&more);
                }
                None => break,
            }
        }
        if s.handle(&text) == Flow::Quit {
            break;
        }
        let _ = std::io::stdout().flush();
    }
    if s.failed && !interactive {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `text` is an unfinished item: an open brace or parenthesis, or
/// only doc comments so far.
pub fn needs_more(text: &str) -> bool {
    let mut depth = 0i64;
    let mut code = false;
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        for ch in line.chars() {
            if in_str {
                in_str = ch != '"';
                continue;
            }
            if ch == '/' && prev == '/' {
                break;
            }
            match ch {
                '"' => in_str = true,
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth -= 1,
                _ => {}
            }
            if !ch.is_whitespace() && ch != '/' {
                code = true;
            }
            prev = ch;
        }
    }
    depth > 0 || (!code && text.trim_start().starts_with("///"))
}

impl Session {
    /// An empty session working in the current folder.
    pub fn new(threads: usize) -> Session {
        Session {
            entries: vec![],
            checked: None,
            base: PathBuf::from("."),
            threads,
            inputs: 0,
            live: None,
            stop: Arc::new(AtomicI32::new(0)),
            idle: Arc::new(AtomicBool::new(true)),
            failed: false,
            generation: 0,
        }
    }

    /// Names completion offers: the session's items and the standard models.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.entries.iter().map(|e| e.key.clone()).collect();
        out.retain(|k| !k.starts_with("use ") && k != "run");
        out.extend(circ_stdlib::models().iter().map(|m| m.name.to_string()));
        if let Some(live) = &self.live {
            let layout = &live.compiled.borrow_owner().net.layout;
            out.extend(layout.pops.iter().map(|p| p.name.clone()));
        }
        out
    }

    /// Handles one input (an item, an expression or a command).
    pub fn handle(&mut self, text: &str) -> Flow {
        let t = text.trim();
        if t.is_empty() || t.starts_with("//") && !t.starts_with("///") && !needs_more(t) {
            return Flow::Go;
        }
        self.inputs += 1;
        let ok = if let Some(cmd) = t.strip_prefix(':') {
            let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
            let rest = rest.trim();
            match name {
                "q" | "quit" | "exit" => return Flow::Quit,
                "h" | "help" | "?" => {
                    circ_exe::say_raw!("{HELP}");
                    true
                }
                "type" | "t" => self.type_of(rest),
                "load" | "l" => self.load(Path::new(rest)),
                "instantiate" | "i" => self.instantiate(Some(rest).filter(|r| !r.is_empty())),
                "run" | "r" => self.run(rest),
                "set" => self.set(rest),
                "reset" => self.reset(),
                "spikes" => self.spikes(rest),
                "show" => self.show(rest),
                "save" => self.save(rest),
                "plot" | "p" => self.plot(rest, false),
                "raster" => self.plot(rest, true),
                "items" => {
                    for e in &self.entries {
                        circ_exe::say!("{}", e.text.trim());
                    }
                    true
                }
                "explain" => explain(rest),
                _ => {
                    let known = [
                        "type",
                        "load",
                        "instantiate",
                        "run",
                        "set",
                        "reset",
                        "spikes",
                        "show",
                        "save",
                        "items",
                        "explain",
                        "help",
                        "quit",
                    ];
                    let hint = circ_units::closest(name, known)
                        .map(|c| format!(" (did you mean `:{c}`?)"))
                        .unwrap_or_default();
                    eprintln!("error: there is no command `:{name}`{hint}; :help lists them");
                    false
                }
            }
        } else if starts_item(t) {
            self.item(text)
        } else {
            self.eval(t)
        };
        if !ok {
            self.failed = true;
        }
        Flow::Go
    }

    /// Checks and keeps an item (replacing one of the same name).
    fn item(&mut self, text: &str) -> bool {
        let name = format!("<input {}>", self.inputs);
        let parsed = circ_syntax::parse(text);
        let keys: Vec<String> = parsed.module.items.iter().map(|i| key(i, text)).collect();
        if keys.is_empty() && parsed.errors.is_empty() {
            return true;
        }
        let origin = Arc::new((name, text.to_string()));
        let mut entries = self.entries.clone();
        let fresh: Vec<Entry> = if parsed.errors.is_empty() {
            split_items(&parsed.module, text, &origin, &keys)
        } else {
            // Checked whole, so the syntax error is reported where it is.
            vec![Entry {
                key: String::new(),
                text: text.to_string(),
                origin: Arc::clone(&origin),
                origin_at: 0,
            }]
        };
        let replaced: Vec<String> = fresh
            .iter()
            .filter(|f| entries.iter().any(|e| e.key == f.key))
            .map(|f| f.key.clone())
            .collect();
        for f in &fresh {
            match entries.iter().position(|e| e.key == f.key) {
                Some(at) => entries[at] = f.clone(),
                None => entries.push(f.clone()),
            }
        }
        if !self.check(entries, &origin) {
            return false;
        }
        for k in replaced {
            if !k.starts_with("use ") {
                circ_exe::say!("replaced `{k}`");
            }
        }
        if let Some(live) = &self.live {
            circ_exe::say!(
                "note: the next :run builds `{}` again from the items, keeping its state",
                live.compiled.borrow_owner().circuit
            );
        }
        true
    }

    /// Checks `entries` as one program; keeps them if there is no error.
    /// Prints errors (and warnings in the text of `new`).
    fn check(&mut self, entries: Vec<Entry>, new: &Arc<(String, String)>) -> bool {
        let (map, analysis, starts) = self.analyse(&entries);
        let errors = analysis.has_errors();
        let main = map.find(&self.main_name()).unwrap_or(FileId(u32::MAX));
        let shown: Vec<Diagnostic> = analysis
            .diagnostics
            .iter()
            .filter(|d| {
                d.is_error() || {
                    d.primary().is_some_and(|l| {
                        l.file == main
                            && origin_of(&entries, &starts, l.span.start)
                                .is_some_and(|e| Arc::ptr_eq(&e.origin, new))
                    })
                }
            })
            .cloned()
            .collect();
        if !shown.is_empty() {
            let (rmap, ds) = self.remap(&map, &entries, &starts, &shown);
            eprint!("{}", render_all_text(&ds, &rmap, color()));
        }
        if errors {
            return false;
        }
        self.entries = entries;
        self.checked = Some((map, analysis, starts));
        self.generation += 1;
        true
    }

    /// The name of the program the entries make (a path in `base`, so
    /// `use "file.circ"` finds files next to the loaded model).
    fn main_name(&self) -> String {
        self.base.join("<repl>").to_string_lossy().into_owned()
    }

    /// Checks the entries joined; returns the map, the analysis and where
    /// each entry starts in the joined text.
    fn analyse(&self, entries: &[Entry]) -> (SourceMap, Analysis, Vec<u32>) {
        let mut text = String::new();
        let mut starts = vec![];
        for e in entries {
            starts.push(text.len() as u32);
            text.push_str(&e.text);
            text.push('\n');
        }
        let mut map = SourceMap::new();
        let id = map.add(self.main_name(), text);
        let analysis = circ_sema::check_program(&mut map, id, &mut FsLoader::default());
        (map, analysis, starts)
    }

    /// Diagnostics of the joined text moved into the files (or inputs)
    /// their entries came from.
    fn remap(
        &self,
        map: &SourceMap,
        entries: &[Entry],
        starts: &[u32],
        ds: &[Diagnostic],
    ) -> (SourceMap, Vec<Diagnostic>) {
        let mut rmap = map.clone();
        let main = map.find(&self.main_name());
        let mut ids: Vec<(*const (String, String), FileId)> = vec![];
        let mut out = ds.to_vec();
        for d in &mut out {
            for l in &mut d.labels {
                if Some(l.file) != main {
                    continue;
                }
                let Some(k) = entry_index(starts, l.span.start) else {
                    continue;
                };
                let e = &entries[k];
                let ptr = Arc::as_ptr(&e.origin);
                let id = match ids.iter().find(|(p, _)| *p == ptr) {
                    Some((_, id)) => *id,
                    None => {
                        let id = rmap.add(e.origin.0.clone(), e.origin.1.clone());
                        ids.push((ptr, id));
                        id
                    }
                };
                let len = e.origin.1.len() as i64;
                let shift = |o: u32| -> u32 {
                    (i64::from(o) - i64::from(starts[k]) + e.origin_at).clamp(0, len) as u32
                };
                l.file = id;
                l.span = circ_syntax::Span {
                    start: shift(l.span.start),
                    end: shift(l.span.end),
                };
            }
        }
        (rmap, out)
    }

    /// Checks `text` as the value of a constant; returns its type, or
    /// prints the errors.
    fn constant(&mut self, text: &str) -> Option<Ty> {
        let origin = Arc::new((format!("<input {}>", self.inputs), text.to_string()));
        let head = format!("const {VALUE} = (\n");
        let mut entries = self.entries.clone();
        entries.retain(|e| e.key != VALUE);
        entries.push(Entry {
            key: VALUE.into(),
            text: format!("{head}{text}\n)"),
            origin: Arc::clone(&origin),
            origin_at: -(head.len() as i64),
        });
        let (map, analysis, starts) = self.analyse(&entries);
        if analysis.has_errors() {
            let named = format!("the constant `{VALUE}`");
            let errors: Vec<Diagnostic> = analysis
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| Diagnostic {
                    message: d.message.replace(&named, "this expression"),
                    ..d.clone()
                })
                .collect();
            let (rmap, ds) = self.remap(&map, &entries, &starts, &errors);
            eprint!("{}", render_all_text(&ds, &rmap, color()));
            return None;
        }
        let (id, _) = analysis.program.resolve(0, VALUE)?;
        analysis.program.const_type(id)
    }

    /// Evaluates an expression and prints its value with its unit.
    fn eval(&mut self, text: &str) -> bool {
        match self.constant(text) {
            Some(Ty::Num {
                dim,
                konst: Some(v),
                ..
            }) => {
                circ_exe::say!(
                    "{}",
                    format_quantity(v, dim.unwrap_or(circ_units::Dim::ONE))
                );
                true
            }
            Some(Ty::Num { random: true, .. }) => {
                eprintln!("error: this is drawn at random: it has no single value");
                false
            }
            Some(Ty::Num { dim, .. }) => {
                let d = dim.unwrap_or(circ_units::Dim::ONE);
                eprintln!(
                    "error: this has no value known before a run ({})",
                    d.describe()
                );
                false
            }
            Some(Ty::Bool) => {
                eprintln!("error: conditions are checked, not evaluated, here: this is a boolean");
                false
            }
            Some(other) => {
                eprintln!("error: this is {}, not a number", other.describe());
                false
            }
            None => false,
        }
    }

    /// `:type EXPR`.
    fn type_of(&mut self, text: &str) -> bool {
        if text.is_empty() {
            eprintln!("error: :type needs an expression, e.g. `:type 10 mV / 2 ms`");
            return false;
        }
        match self.constant(text) {
            Some(Ty::Num { dim, int, .. }) => {
                let d = dim.unwrap_or(circ_units::Dim::ONE);
                let kind = if int { "integer" } else { "number" };
                if d.is_dimensionless() {
                    circ_exe::say!("dimensionless {kind}");
                } else {
                    circ_exe::say!("{} (SI: {})", d.describe(), d.si());
                }
                true
            }
            Some(t) => {
                circ_exe::say!("{}", t.describe());
                true
            }
            None => false,
        }
    }

    /// `:load FILE`: the session starts over from the file's items.
    fn load(&mut self, file: &Path) -> bool {
        if file.as_os_str().is_empty() {
            eprintln!("error: :load needs a file, e.g. `:load examples/coba.circ`");
            return false;
        }
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                self.failed = true;
                return false;
            }
        };
        let parsed = circ_syntax::parse(&text);
        let origin = Arc::new((file.display().to_string(), text.clone()));
        let keys: Vec<String> = parsed.module.items.iter().map(|i| key(i, &text)).collect();
        let entries = if parsed.errors.is_empty() {
            split_items(&parsed.module, &text, &origin, &keys)
        } else {
            vec![Entry {
                key: String::new(),
                text: text.clone(),
                origin: Arc::clone(&origin),
                origin_at: 0,
            }]
        };
        let old_base = std::mem::replace(
            &mut self.base,
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        );
        if !self.check(entries, &origin) {
            self.base = old_base;
            self.failed = true;
            return false;
        }
        self.live = None;
        let n = self.entries.len();
        circ_exe::say!(
            "loaded {} ({n} item{})",
            file.display(),
            if n == 1 { "" } else { "s" }
        );
        true
    }

    /// The circuit `:instantiate` builds by default: the `run` item's (as
    /// `circ run` chooses it, `circ_lower::choose_run`), or the only circuit.
    /// `Err`: several `run` items, listed.
    fn default_circuit(&self) -> Result<Option<String>, String> {
        let Some(module) = self.checked.as_ref().and_then(|c| c.1.program.ast(0)) else {
            return Ok(None);
        };
        if let Some(r) = circ_lower::choose_run(module, None)? {
            return Ok(Some(r.circuit.node.clone()));
        }
        let mut circuits: Vec<String> = module
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Circuit(c) => Some(c.name.node.clone()),
                _ => None,
            })
            .collect();
        Ok((circuits.len() == 1).then(|| circuits.remove(0)))
    }

    /// Lowers the session's program for `circuit` and compiles it.
    fn compile(&self, circuit: &str, overrides: &[(String, String, f64)]) -> Result<Compiled, ()> {
        let Some((map, analysis, starts)) = &self.checked else {
            eprintln!("error: there is nothing to instantiate yet: type or :load a circuit");
            return Err(());
        };
        // Overrides without an owner are the circuit's parameters.
        let opts = circ_lower::Options {
            circuit: Some(circuit.to_string()),
            overrides: overrides
                .iter()
                .filter(|o| !o.0.is_empty())
                .cloned()
                .collect(),
            circuit_args: overrides
                .iter()
                .filter(|o| o.0.is_empty())
                .map(|o| (o.1.clone(), o.2))
                .collect(),
            ..Default::default()
        };
        let lowered = match circ_lower::lower(analysis, map, &opts) {
            Ok(l) => l,
            Err(ds) => {
                // Lowering reads the last check: its entries and starts.
                let (rmap, ds) = self.remap(map, &self.entries, starts, &ds);
                eprint!("{}", render_all_text(&ds, &rmap, color()));
                return Err(());
            }
        };
        let tables = match circ_runtime::data::load_tables(&self.base, &lowered.net.layout.tables) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(());
            }
        };
        let threads = self.threads;
        // The REPL compiles with the default backend, as `circ run` does.
        let settings = crate::backend_settings(threads, false);
        Compiled::try_new(lowered, |l| {
            circ_backends::instantiate(circ_backends::BACKENDS[0].name, &l.net, tables, &settings)
                .map(|i| i.backend)
        })
        .map_err(|e| eprintln!("error: {e}"))
    }

    /// `:instantiate [CIRCUIT]`.
    fn instantiate(&mut self, circuit: Option<&str>) -> bool {
        let chosen = match circuit {
            Some(c) => Some(c.to_string()),
            None => match self.default_circuit() {
                Ok(c) => c,
                Err(why) => {
                    eprintln!("error: {why}: `:instantiate NAME`");
                    return false;
                }
            },
        };
        let Some(name) = chosen else {
            eprintln!(
                "error: which circuit? `:instantiate NAME` (there is no `run` item and not exactly one circuit)"
            );
            return false;
        };
        let started = Instant::now();
        let Ok(compiled) = self.compile(&name, &[]) else {
            return false;
        };
        let Some(state) = self.fresh_state(&compiled) else {
            return false;
        };
        let sizes: Vec<String> = compiled
            .borrow_owner()
            .net
            .layout
            .pops
            .iter()
            .map(|p| format!("{} ({})", p.name, p.size))
            .collect();
        let record = empty_record(&compiled);
        self.live = Some(Live {
            compiled,
            state: Some(state),
            overrides: vec![],
            record,
            generation: self.generation,
        });
        circ_exe::say!(
            "instantiated `{name}`: {} in {:.3} s",
            sizes.join(", "),
            started.elapsed().as_secs_f64()
        );
        true
    }

    /// A new state at time 0 for `compiled` (synapses made, initialisers run).
    fn fresh_state(&self, compiled: &Compiled) -> Option<SimState> {
        let base = self.base.clone();
        compiled.with_dependent(|l, jit| {
            let opts = circ_runtime::BuildOptions {
                seed: l.seed,
                dt: l.dt,
                base: &base,
                memory_limit: crate::memory_limit(),
            };
            match Simulation::build(&l.net.layout, &**jit, &opts) {
                Ok(sim) => {
                    for w in &sim.warnings {
                        eprintln!("warning: {w}");
                    }
                    Some(sim.into_state())
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    None
                }
            }
        })
    }

    /// `:run DURATION`.
    fn run(&mut self, text: &str) -> bool {
        if text.is_empty() {
            eprintln!("error: :run needs a duration, e.g. `:run 200 ms`");
            return false;
        }
        let duration = match circ_units::parse_time("run", text) {
            Ok(d) => d,
            Err(e) => {
                // The message names the command-line flag (`--run`).
                eprintln!("error: {}", e.replacen("--run", ":run", 1));
                return false;
            }
        };
        if self.live.is_none() && !self.instantiate(None) {
            return false;
        }
        if let Some(live) = &self.live
            && live.generation != self.generation
        {
            let overrides = live.overrides.clone();
            match self.rebuild(overrides, None) {
                Ok(secs) => circ_exe::say!(
                    "rebuilt from the changed items in {secs:.3} s; the state carries over"
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    return false;
                }
            }
        }
        let Some(live) = self.live.as_mut() else {
            return false;
        };
        // As `circ run` without --allow-long-run: a duration with a wrong
        // unit would otherwise run (and record) until memory runs out.
        let dt = live.compiled.borrow_owner().dt;
        let steps = (duration / dt).round();
        if steps >= circ_runtime::sim::LONG_RUN_STEPS {
            eprintln!(
                "error: :run {text} is {steps:.3e} steps of {} ms; the REPL runs fewer than 10^10 steps at once (use `circ run --allow-long-run` for longer runs)",
                dt * 1e3
            );
            return false;
        }
        let Some(state) = live.state.take() else {
            return false;
        };
        self.stop.store(0, Ordering::Relaxed);
        self.idle.store(false, Ordering::Relaxed);
        let stop = Arc::clone(&self.stop);
        let started = Instant::now();
        let (result, state) = live.compiled.with_dependent(|l, jit| {
            let mut sim = match Simulation::resume(&l.net.layout, state) {
                Ok(s) => s,
                Err(e) => return (Err(e.to_string()), None),
            };
            let opts = circ_runtime::RunOptions {
                duration,
                dt: l.dt,
                seed: l.seed,
                check_every: 100,
            };
            let mut hooks = circ_runtime::Hooks {
                stop: Some(&stop),
                progress: None,
            };
            let r = sim.run_with(&**jit, &opts, &mut hooks);
            (Ok(r), Some(sim.into_state()))
        });
        live.state = state;
        self.idle.store(true, Ordering::Relaxed);
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return false;
            }
        };
        append(&mut live.record, &r);
        let dt = live.compiled.borrow_owner().dt;
        let now = live.record.steps as f64 * dt;
        let counts: Vec<String> = live
            .compiled
            .borrow_owner()
            .net
            .layout
            .pops
            .iter()
            .zip(&r.spikes)
            .map(|(p, s)| format!("{} {}", p.name, s.len()))
            .collect();
        circ_exe::say!(
            "t = {} (+{} in {:.3} s); spikes: {}",
            format_quantity(now, time_dim()),
            format_quantity(r.steps as f64 * dt, time_dim()),
            started.elapsed().as_secs_f64(),
            counts.join(", ")
        );
        match r.stopped {
            Some(circ_runtime::RunError::Interrupted { t, signal }) => {
                eprintln!(
                    "stopped at t = {} ({})",
                    format_quantity(t, time_dim()),
                    circ_runtime::signal_name(signal)
                );
                // SIGTERM and SIGHUP end the session after the run stops
                // cleanly (the shells' 128 + signal); Ctrl-C returns to the prompt.
                if signal != signal_hook::consts::SIGINT {
                    circ_exe::exit_now(128 + signal);
                }
                true
            }
            Some(e) => {
                eprintln!("error: {e}");
                false
            }
            None => true,
        }
    }

    /// `:set POP.PARAM = VALUE`.
    fn set(&mut self, text: &str) -> bool {
        let Some((target, value)) = text.split_once('=') else {
            eprintln!("error: :set takes `POP.PARAM = VALUE`, e.g. `:set E.tau_m = 10 ms`");
            return false;
        };
        let Some((pop, param)) = target.trim().split_once('.') else {
            return self.set_circuit_param(target.trim(), value);
        };
        let (pop, param) = (pop.trim().to_string(), param.trim().to_string());
        if self.live.is_none() && !self.instantiate(None) {
            return false;
        }
        if let Some(done) = self.set_rate(&pop, &param, value) {
            return done;
        }
        let Some(info) = self.pop_model(&pop) else {
            return false;
        };
        let Some(var) = info.var(&param) else {
            let names = info.param_names();
            let hint = circ_units::closest(&param, names.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            eprintln!(
                "error: `{}` has no parameter `{param}`{hint}; its parameters: {}",
                info.name,
                names.join(", ")
            );
            return false;
        };
        if !matches!(var.kind, circ_sema::VarKind::Parameter { .. }) {
            eprintln!(
                "error: `{pop}.{param}` is not a parameter of `{}`; :set changes parameters (states evolve with the run)",
                info.name
            );
            return false;
        }
        let Some(v) = self.set_value(&format!("{pop}.{param}"), value, Some(var.dim)) else {
            return false;
        };
        let Some(live) = self.live.as_ref() else {
            return false;
        };
        let mut overrides = live.overrides.clone();
        overrides.retain(|(p, q, _)| !(*p == pop && *q == param));
        overrides.push((pop.clone(), param.clone(), v));
        match self.rebuild(overrides, Some((&pop, &param, v))) {
            Ok(secs) => {
                circ_exe::say!(
                    "{pop}.{param} = {} (kernels recompiled in {secs:.3} s)",
                    format_quantity(v, var.dim)
                );
                true
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }

    /// `:set X.rate = R` for a Poisson input `X`; `None` if `pop` is not one.
    fn set_rate(&mut self, pop: &str, param: &str, value: &str) -> Option<bool> {
        let live = self.live.as_ref()?;
        let l = live.compiled.borrow_owner();
        let p = l
            .net
            .layout
            .pops
            .iter()
            .find(|x| x.name == pop && x.model == "poisson")?;
        let (constant, dt) = (p.poisson_rate.is_some(), l.dt);
        if param != "rate" {
            eprintln!("error: `{pop}` is a Poisson input: its one parameter is `rate`");
            return Some(false);
        }
        if !constant {
            eprintln!(
                "error: the rate of `{pop}` changes in time (it is an expression of `t`): change it in the circuit and :instantiate again"
            );
            return Some(false);
        }
        let hz = circ_units::lookup("Hz").map_or(circ_units::Dim::ONE, |u| u.dim);
        let Some(Ty::Num {
            dim,
            konst: Some(r),
            ..
        }) = self.constant(value.trim())
        else {
            eprintln!("error: the value of :set must be a number known now, e.g. `20 Hz`");
            return Some(false);
        };
        if dim.unwrap_or(circ_units::Dim::ONE) != hz {
            eprintln!(
                "error: `{pop}.rate` is a frequency (Hz), but the value is {}",
                dim.unwrap_or(circ_units::Dim::ONE).describe()
            );
            return Some(false);
        }
        if !(r >= 0.0 && r * dt <= 1.0) {
            eprintln!(
                "error: a Poisson rate is between 0 and 1/dt ({}), not {}",
                format_quantity(1.0 / dt, hz),
                format_quantity(r, hz)
            );
            return Some(false);
        }
        let mut overrides = self.live.as_ref()?.overrides.clone();
        overrides.retain(|(p, q, _)| !(p == pop && q == "rate"));
        overrides.push((pop.to_string(), "rate".into(), r));
        Some(match self.rebuild(overrides, None) {
            Ok(secs) => {
                circ_exe::say!(
                    "{pop}.rate = {} from t = {} (kernels recompiled in {secs:.3} s)",
                    format_quantity(r, hz),
                    format_quantity(
                        self.live.as_ref().map_or(0, |l| l.record.steps) as f64 * dt,
                        time_dim()
                    )
                );
                true
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        })
    }

    /// Lowers and compiles the live circuit again (from the current items,
    /// with `overrides`) and carries its state over; `stored` is a
    /// parameter just set, written into the state where it is kept per
    /// neuron. The live circuit is left as it was on an error. Returns the
    /// seconds it took.
    fn rebuild(
        &mut self,
        overrides: Vec<(String, String, f64)>,
        stored: Option<(&str, &str, f64)>,
    ) -> Result<f64, String> {
        let started = Instant::now();
        let Some(live) = self.live.as_ref() else {
            return Err("no circuit is instantiated".into());
        };
        let circuit = live.compiled.borrow_owner().circuit.clone();
        let Ok(compiled) = self.compile(&circuit, &overrides) else {
            return Err(format!("`{circuit}` could not be built again (above)"));
        };
        let Some(live) = self.live.as_mut() else {
            return Err("no circuit is instantiated".into());
        };
        // The state fits only a network of the same structure: the same
        // populations, variables, synapses, delays and recorders. Constant
        // Poisson rates may differ: their sources are drawn again.
        let (new_layout, old_layout) = (
            &compiled.borrow_owner().net.layout,
            &live.compiled.borrow_owner().net.layout,
        );
        let mut rates = vec![];
        let mut same = new_layout.clone();
        for (k, (a, b)) in same.pops.iter_mut().zip(&old_layout.pops).enumerate() {
            if let (Some(r), Some(old)) = (a.poisson_rate, b.poisson_rate)
                && r != old
            {
                rates.push((k, r * compiled.borrow_owner().dt));
                a.poisson_rate = Some(old);
            }
        }
        if same != *old_layout {
            return Err(format!(
                "this changes the structure of `{circuit}` (its variables, sizes, connections, inputs or recordings), so its state cannot carry over; :instantiate builds it again at time 0"
            ));
        }
        // Where the parameter just set is kept in the state: a population's
        // variable (true) or a projection's.
        let at = stored.and_then(|(owner, param, _)| {
            let layout = &compiled.borrow_owner().net.layout;
            if let Some(p) = layout.pops.iter().position(|x| x.name == owner) {
                let v = layout.pops[p].vars.iter().position(|x| x.name == param)?;
                return Some((true, p, v));
            }
            let k = layout.projs.iter().position(|x| x.name == owner)?;
            let v = layout.projs[k].vars.iter().position(|x| x.name == param)?;
            Some((false, k, v))
        });
        let Some(state) = live.state.take() else {
            return Err("the circuit has no state".into());
        };
        let moved = compiled.with_dependent(|l, _| Simulation::resume(&l.net.layout, state));
        let mut state = match moved {
            Ok(mut sim) => {
                if let (Some((pop, k, var)), Some((_, _, v))) = (at, stored) {
                    // A parameter kept per neuron (or synapse) keeps its old
                    // values in the state: the new one is written there too.
                    let bufs = if pop {
                        sim.vars_mut(k)
                    } else {
                        sim.proj_vars_mut(k)
                    };
                    if let Some(b) = bufs.get_mut(var) {
                        b.fill(v);
                    }
                }
                sim.into_state()
            }
            Err(e) => return Err(e.to_string()),
        };
        for (k, p) in rates {
            state.set_poisson_rate(k, p);
        }
        live.state = Some(state);
        live.compiled = compiled;
        live.overrides = overrides;
        live.generation = self.generation;
        Ok(started.elapsed().as_secs_f64())
    }

    /// The SI value of `:set`'s `text` for `target`, checked against the
    /// dimension `want` (any when unknown); `None` after saying why not.
    fn set_value(
        &mut self,
        target: &str,
        text: &str,
        want: Option<circ_units::Dim>,
    ) -> Option<f64> {
        let Some(Ty::Num {
            dim,
            konst: Some(v),
            ..
        }) = self.constant(text.trim())
        else {
            eprintln!("error: the value of :set must be a number known now, e.g. `10 ms`");
            return None;
        };
        let got = dim.unwrap_or(circ_units::Dim::ONE);
        if let Some(w) = want.filter(|w| *w != got) {
            eprintln!(
                "error: `{target}` is {}, but the value is {}",
                w.describe(),
                got.describe()
            );
            return None;
        }
        Some(v)
    }

    /// `:set NAME = VALUE` for a parameter of the live circuit (`circuit
    /// C(N = 100)`): rebuilt with it, keeping its state where the structure
    /// stays the same.
    fn set_circuit_param(&mut self, name: &str, value: &str) -> bool {
        if self.live.is_none() && !self.instantiate(None) {
            return false;
        }
        let Some(live) = self.live.as_ref() else {
            return false;
        };
        let circuit = live.compiled.borrow_owner().circuit.clone();
        let Some((_, analysis, _)) = self.checked.as_ref() else {
            return false;
        };
        let Some((id, _)) = analysis.program.resolve(0, &circuit) else {
            return false;
        };
        let params = analysis.program.circuit_params(id).to_vec();
        let Some((_, ty)) = params.iter().find(|p| p.0 == name) else {
            let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
            eprintln!(
                "error: :set takes `POP.PARAM = VALUE` or a parameter of `{circuit}`; {}",
                if names.is_empty() {
                    format!("`{circuit}` has none")
                } else {
                    format!("its parameters: {}", names.join(", "))
                }
            );
            return false;
        };
        if *ty == circ_sema::Ty::Str {
            eprintln!(
                "error: `{name}` names a file; :set changes numbers only: edit the circuit, or run it with `circ run FILE --set {name}=OTHER.csv`"
            );
            return false;
        }
        let Some(v) = self.set_value(name, value, ty.dim()) else {
            return false;
        };
        let Some(live) = self.live.as_ref() else {
            return false;
        };
        let mut overrides = live.overrides.clone();
        overrides.retain(|(p, q, _)| !(p.is_empty() && q == name));
        overrides.push((String::new(), name.to_string(), v));
        let previous = live.overrides.clone();
        match self.rebuild(overrides.clone(), None) {
            Ok(secs) => {
                circ_exe::say!("{name} = {} (rebuilt in {secs:.3} s)", value.trim());
                true
            }
            Err(e) if e.contains("structure") => {
                // A size or a connection changed: the state cannot carry
                // over, so the circuit starts again at time 0 with it.
                if let Some(live) = self.live.as_mut() {
                    live.overrides = overrides;
                }
                if self.reset() {
                    circ_exe::say!(
                        "{name} = {}: the network changed, so it starts again at time 0",
                        value.trim()
                    );
                    true
                } else {
                    if let Some(live) = self.live.as_mut() {
                        live.overrides = previous;
                    }
                    false
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }

    /// The checked model of population `pop` of the live circuit.
    fn pop_model(&self, pop: &str) -> Option<circ_sema::ModelInfo> {
        let live = self.live.as_ref()?;
        let circuit = &live.compiled.borrow_owner().circuit;
        let (_, analysis, _) = self.checked.as_ref()?;
        let (id, _) = analysis.program.resolve(0, circuit)?;
        let Some(Item::Circuit(c)) = analysis.program.item(id) else {
            return None;
        };
        let mut names = vec![];
        for m in &c.members {
            if let CircuitMemberKind::Project(pr) = &m.node
                && let Some(n) = &pr.name
            {
                if n.node == pop {
                    let (mid, _) = analysis.program.resolve(id.module, &pr.model.node)?;
                    return analysis.program.model_info(mid).cloned();
                }
                names.push(n.node.clone());
            }
            if let CircuitMemberKind::Population(p) = &m.node {
                if p.name.node == pop {
                    let Some((mid, _)) = analysis.program.resolve(id.module, &p.model.node) else {
                        eprintln!(
                            "error: `{pop}` is a `{}` input: :set changes the parameters of neuron models; change the input in the circuit and :instantiate again",
                            p.model.node
                        );
                        return None;
                    };
                    return analysis.program.model_info(mid).cloned();
                }
                names.push(p.name.node.clone());
            }
        }
        let hint = circ_units::closest(pop, names.iter().map(String::as_str))
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        eprintln!("error: `{circuit}` has no population or named projection `{pop}`{hint}");
        None
    }

    /// `:reset`: the circuit built again from the current items, with the
    /// parameters set so far, at time 0.
    fn reset(&mut self) -> bool {
        let Some(live) = &self.live else {
            eprintln!("error: nothing to reset: no circuit is instantiated");
            return false;
        };
        let circuit = live.compiled.borrow_owner().circuit.clone();
        let overrides = live.overrides.clone();
        let Ok(compiled) = self.compile(&circuit, &overrides) else {
            return false;
        };
        let Some(state) = self.fresh_state(&compiled) else {
            return false;
        };
        let record = empty_record(&compiled);
        self.live = Some(Live {
            compiled,
            state: Some(state),
            overrides,
            record,
            generation: self.generation,
        });
        circ_exe::say!("t = 0 s");
        true
    }

    /// `:spikes [POP]`.
    fn spikes(&self, pop: &str) -> bool {
        let Some(live) = &self.live else {
            eprintln!("error: no circuit is instantiated: `:run 100 ms` builds the default one");
            return false;
        };
        let l = live.compiled.borrow_owner();
        let t = live.record.steps as f64 * l.dt;
        let mut any = false;
        for (p, s) in l.net.layout.pops.iter().zip(&live.record.spikes) {
            if !pop.is_empty() && p.name != pop {
                continue;
            }
            any = true;
            let rate = if t > 0.0 && p.size > 0 {
                s.len() as f64 / (p.size as f64 * t)
            } else {
                0.0
            };
            circ_exe::say!(
                "{}: {} spikes from {} neurons in {}, {:.2} Hz",
                p.name,
                s.len(),
                p.size,
                format_quantity(t, time_dim()),
                rate
            );
        }
        if !any {
            eprintln!("error: the circuit has no population `{pop}`");
        }
        any
    }

    /// `:show POP.VAR[A..B]`.
    fn show(&self, text: &str) -> bool {
        let Some(live) = &self.live else {
            eprintln!("error: no circuit is instantiated: `:run 100 ms` builds the default one");
            return false;
        };
        let (target, range) = match text.split_once('[') {
            Some((t, r)) => (t.trim(), Some(r.trim_end().trim_end_matches(']'))),
            None => (text.trim(), None),
        };
        let Some((pop, var)) = target.split_once('.') else {
            eprintln!("error: :show takes `POP.VAR` or `POP.VAR[A..B]`, e.g. `:show E.v[0..5]`");
            return false;
        };
        let l = live.compiled.borrow_owner();
        let Some(p) = l.net.layout.pops.iter().position(|x| x.name == pop) else {
            eprintln!("error: the circuit has no population `{pop}`");
            return false;
        };
        let layout = &l.net.layout.pops[p];
        let Some(v) = layout.vars.iter().position(|x| x.name == var) else {
            let names: Vec<&str> = layout.vars.iter().map(|x| x.name.as_str()).collect();
            eprintln!(
                "error: `{pop}` keeps no variable `{var}` (kept: {}; constant parameters are compiled in)",
                names.join(", ")
            );
            return false;
        };
        let (a, b) = match range.map(parse_range) {
            None => (0, layout.size.min(5)),
            Some(Some(r)) => r,
            Some(None) => {
                eprintln!("error: a range is `A..B`, e.g. `[0..5]`");
                return false;
            }
        };
        if b > layout.size || a > b {
            eprintln!(
                "error: `{pop}` has {} neurons: {a}..{b} is out of range",
                layout.size
            );
            return false;
        }
        let dim = self
            .pop_model(pop)
            .and_then(|m| m.var(var).map(|x| x.dim))
            .unwrap_or(circ_units::Dim::ONE);
        let Some(state) = &live.state else {
            return false;
        };
        let buf = &state.vars(p)[v];
        let shown: Vec<String> = (a..b)
            .map(|i| {
                let x = if buf.len() == 1 {
                    buf[0]
                } else {
                    buf.get(i).copied().unwrap_or(f64::NAN)
                };
                format_quantity(x, dim)
            })
            .collect();
        circ_exe::say!("{pop}.{var}[{a}..{b}] = [{}]", shown.join(", "));
        true
    }

    /// `:plot POP.VAR [> FILE]` and `:raster POP [> FILE]`.
    fn plot(&self, text: &str, raster: bool) -> bool {
        let (what, file) = match text.split_once('>') {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (text.trim(), None),
        };
        let Some(live) = &self.live else {
            eprintln!("error: nothing to plot: no circuit has run (`:run 100 ms`)");
            return false;
        };
        let fig = if raster {
            self.raster_figure(live, what)
        } else {
            self.var_figure(live, what)
        };
        let Some(fig) = fig else {
            return false;
        };
        match file {
            Some("") => {
                eprintln!("error: `>` needs a file name, e.g. `> v.png`");
                false
            }
            Some(f) => match fig.write(Path::new(f)) {
                Ok(()) => {
                    circ_exe::say!("wrote {f}");
                    true
                }
                Err(e) => {
                    eprintln!("error: cannot write the plot: {e}");
                    false
                }
            },
            None => {
                circ_exe::say_raw!("{}", fig.text(72, 14));
                true
            }
        }
    }

    /// The spikes of a population over time.
    fn raster_figure(&self, live: &Live, pop: &str) -> Option<plot::Figure> {
        let l = live.compiled.borrow_owner();
        let Some(p) = l.net.layout.pops.iter().position(|x| x.name == pop) else {
            eprintln!(
                "error: the circuit has no population `{pop}`; :raster takes one, e.g. `:raster E`"
            );
            return None;
        };
        let dots = live.record.spikes[p]
            .iter()
            .map(|&(n, i)| (n as f64 * l.dt * 1e3, f64::from(i)))
            .collect();
        // From time 0 to now, neurons 0 to N - 1, whatever spiked.
        let size = l.net.layout.pops[p].size.max(1) as f64;
        Some(plot::Figure {
            title: format!("spikes of {pop}"),
            x_label: "time (ms)".into(),
            y_label: "neuron".into(),
            dots: vec![(String::new(), dots)],
            x_range: Some((0.0, live.record.steps as f64 * l.dt * 1e3)),
            y_range: Some((-0.5, size - 0.5)),
            y_integer: true,
            ..plot::Figure::default()
        })
    }

    /// A recorded variable's traces (or the population rate) over time.
    fn var_figure(&self, live: &Live, what: &str) -> Option<plot::Figure> {
        let l = live.compiled.borrow_owner();
        let layout = &l.net.layout;
        let Some((pop, var)) = what.split_once('.') else {
            eprintln!("error: :plot takes `POP.VAR` (a recorded variable) or `POP.rate`");
            return None;
        };
        let Some(p) = layout.pops.iter().position(|x| x.name == pop) else {
            eprintln!("error: the circuit has no population `{pop}`");
            return None;
        };
        let v = layout.pops[p].vars.iter().position(|x| x.name == var);
        if v.is_none() && var != "rate" && self.pop_model(pop).is_none_or(|m| m.var(var).is_none())
        {
            eprintln!(
                "error: `{pop}` has no variable `{var}` (`{pop}.rate` is its rate, if recorded)"
            );
            return None;
        }
        let found = layout.records.iter().position(|r| {
            r.pop == p
                && match r.kind {
                    circ_runtime::RecordKind::Rate { .. } => var == "rate",
                    circ_runtime::RecordKind::Var { var: rv, .. } => Some(rv) == v,
                    _ => false,
                }
        });
        let Some(k) = found else {
            eprintln!(
                "error: `{pop}.{var}` is not recorded; add `record {var} of {pop}[0..10] every 1 ms` to the circuit (then :instantiate)"
            );
            return None;
        };
        let Some(samples) = live.record.samples.get(k).filter(|s| !s.t.is_empty()) else {
            eprintln!("error: nothing recorded yet: `:run 100 ms` first");
            return None;
        };
        let dim = if var == "rate" {
            circ_units::lookup("Hz").map_or(circ_units::Dim::ONE, |u| u.dim)
        } else {
            self.pop_model(pop)
                .and_then(|m| m.var(var).map(|x| x.dim))
                .unwrap_or(circ_units::Dim::ONE)
        };
        let typical = samples.values.iter().fold(0f64, |a, &b| a.max(b.abs()));
        let (scale, unit) = crate::units_fmt::display_unit(dim, typical);
        let width = samples.width.max(1);
        let lines = (0..width)
            .map(|c| {
                let points = samples
                    .t
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| {
                        let y = samples
                            .values
                            .get(i * width + c)
                            .copied()
                            .unwrap_or(f64::NAN);
                        (t * 1e3, y / scale)
                    })
                    .collect();
                (String::new(), points)
            })
            .collect();
        Some(plot::Figure {
            title: format!("{pop}.{var}"),
            x_label: "time (ms)".into(),
            y_label: if unit.is_empty() {
                var.to_string()
            } else {
                format!("{var} ({unit})")
            },
            lines,
            x_range: Some((0.0, live.record.steps as f64 * l.dt * 1e3)),
            ..plot::Figure::default()
        })
    }

    /// `:save DIR`.
    fn save(&self, dir: &str) -> bool {
        let Some(live) = &self.live else {
            eprintln!("error: nothing to save: no circuit has run");
            return false;
        };
        if dir.is_empty() {
            eprintln!("error: :save needs a folder, e.g. `:save coba.out`");
            return false;
        }
        let l = live.compiled.borrow_owner();
        if live.record.steps == 0 || live.record.samples.len() != l.net.layout.records.len() {
            eprintln!("error: nothing is recorded yet: `:run 100 ms` first");
            return false;
        }
        let info = circ_runtime::output::RunInfo {
            file: self.main_name(),
            circuit: l.circuit.clone(),
            seed: l.seed,
            backend: "cranelift-jit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            build_seconds: 0.0,
            extra_files: vec![],
        };
        match circ_runtime::output::write_outputs(
            Path::new(dir),
            &l.net.layout,
            &live.record,
            &info,
        ) {
            Ok(files) => {
                circ_exe::say!(
                    "wrote {} file{} to {dir}",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                );
                true
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }
}

/// `:explain CODE`.
fn explain(code: &str) -> bool {
    match circ_diag::explain(code) {
        Some(info) => {
            circ_exe::say_raw!("{}", info.page);
            true
        }
        None => {
            let codes: Vec<&str> = circ_diag::CODES.iter().map(|c| c.code).collect();
            let hint = circ_units::closest(code, codes.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            eprintln!("error: there is no diagnostic code `{code}`{hint}");
            false
        }
    }
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn time_dim() -> circ_units::Dim {
    circ_units::lookup("s").map_or(circ_units::Dim::ONE, |u| u.dim)
}

/// Whether the input is an item rather than an expression.
fn starts_item(t: &str) -> bool {
    let word = t
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    t.starts_with("///")
        || matches!(
            word,
            "neuron" | "synapse" | "circuit" | "const" | "fn" | "use" | "run"
        )
}

/// What a later item replaces this one by: its name (`use` items by text).
fn key(item: &Item, text: &str) -> String {
    match item {
        Item::Use(u) => format!("use {}", slice(text, u.span).trim()),
        Item::Const(c) => c.name.node.clone(),
        Item::Fn(f) => f.name.node.clone(),
        Item::Model(m) => m.name.node.clone(),
        Item::Circuit(c) => c.name.node.clone(),
        Item::Run(_) => "run".into(),
        Item::Error(_) => String::new(),
    }
}

fn slice(text: &str, s: circ_syntax::Span) -> &str {
    text.get(s.start as usize..s.end as usize).unwrap_or("")
}

/// The items of a parsed text as entries: each from the end of the one
/// before (so its doc comments come with it) to its own end.
fn split_items(
    module: &ast::Module,
    text: &str,
    origin: &Arc<(String, String)>,
    keys: &[String],
) -> Vec<Entry> {
    let mut out = vec![];
    let mut from = 0usize;
    for (item, key) in module.items.iter().zip(keys) {
        let end = (item.span().end as usize).min(text.len());
        let piece = text.get(from..end).unwrap_or("");
        out.push(Entry {
            key: key.clone(),
            text: piece.to_string(),
            origin: Arc::clone(origin),
            origin_at: from as i64,
        });
        from = end;
    }
    out
}

/// Which entry the byte `at` of the joined text is in.
fn entry_index(starts: &[u32], at: u32) -> Option<usize> {
    starts.partition_point(|&s| s <= at).checked_sub(1)
}

fn origin_of<'e>(entries: &'e [Entry], starts: &[u32], at: u32) -> Option<&'e Entry> {
    entries.get(entry_index(starts, at)?)
}

/// `A..B` as numbers.
fn parse_range(r: &str) -> Option<(usize, usize)> {
    let (a, b) = r.split_once("..")?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// A record with nothing in it, shaped for `compiled`'s recorders.
fn empty_record(compiled: &Compiled) -> RunResult {
    let l = compiled.borrow_owner();
    RunResult {
        spikes: vec![vec![]; l.net.layout.pops.len()],
        samples: vec![],
        steps: 0,
        dt: l.dt,
        ..RunResult::default()
    }
}

/// Appends a run's recordings to what earlier runs recorded.
fn append(acc: &mut RunResult, r: &RunResult) {
    if acc.samples.is_empty() {
        acc.samples = r.samples.clone();
    } else {
        for (a, b) in acc.samples.iter_mut().zip(&r.samples) {
            a.t.extend_from_slice(&b.t);
            a.values.extend_from_slice(&b.values);
        }
    }
    for (a, b) in acc.spikes.iter_mut().zip(&r.spikes) {
        a.extend_from_slice(b);
    }
    acc.steps += r.steps;
    acc.loop_time += r.loop_time;
    acc.stopped = r.stopped.clone();
}
