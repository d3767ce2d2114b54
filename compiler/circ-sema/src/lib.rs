//! circ-sema owns the meaning of a program before lowering: modules and
//! `use` (the embedded standard library and other files), name resolution,
//! types (real, integer, boolean) and the physical dimension of every
//! expression, and the rules of where each kind of variable may be read or
//! written. It reports every independent error of a run as diagnostics.
//! It must not read files itself (a [`Loader`] does), print anything, or
//! know about kernels and backends.

mod builtins;
mod check;
mod expr;
mod ty;

pub use check::{ModelInfo, VarInfo, VarKind};
pub use ty::Ty;

use circ_diag::{Diagnostic, FileId, SourceMap};
use circ_syntax::ast;
use std::collections::HashMap;
use std::rc::Rc;

/// Reads the files named by `use "path"::{...}`. Only the CLI touches the
/// file system, so it supplies one; tests supply in-memory files.
pub trait Loader: Send {
    /// Loads `path` as written in a `use` of the file named `from`.
    /// Returns the file's display name (unique per file) and its text,
    /// or a message saying why it could not be read.
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String>;
}

/// A loader that has no files (for single-file checks and the fuzzer).
pub struct NoFiles;

impl Loader for NoFiles {
    fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
        Err(format!(
            "cannot read \"{path}\": file imports are not available here"
        ))
    }
}

/// A loader over a fixed set of named in-memory files.
#[derive(Default)]
pub struct MemoryFiles(pub HashMap<String, String>);

impl Loader for MemoryFiles {
    fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
        self.0
            .get(path)
            .map(|t| (path.to_string(), t.clone()))
            .ok_or_else(|| format!("no file \"{path}\""))
    }
}

/// The name under which `std::NAME` appears in messages.
pub fn std_file_name(name: &str) -> String {
    format!("<std>/{name}.circ")
}

/// What a checked program looks like: every diagnostic, and the models that
/// were checked (their variables with dimensions), by module.
#[derive(Debug, Default)]
pub struct Analysis {
    /// All diagnostics, errors and warnings, in a stable order.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked models, in the order they were met.
    pub models: Vec<ModelInfo>,
}

impl Analysis {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// What kind of item a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Const,
    Fn,
    Neuron,
    Synapse,
    Circuit,
}

impl ItemKind {
    pub(crate) fn word(self) -> &'static str {
        match self {
            ItemKind::Const => "constant",
            ItemKind::Fn => "function",
            ItemKind::Neuron => "neuron model",
            ItemKind::Synapse => "synapse model",
            ItemKind::Circuit => "circuit",
        }
    }
}

/// An item of a module: its index in the AST and its kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ItemRef {
    pub idx: usize,
    pub kind: ItemKind,
}

/// A resolved item: which module, which item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ItemId {
    pub module: usize,
    pub idx: usize,
}

pub(crate) struct Import {
    pub module: usize,
    pub name: ast::Ident,
}

pub(crate) struct Module {
    pub file: FileId,
    pub ast: Rc<ast::Module>,
    pub items: HashMap<String, ItemRef>,
    pub imports: HashMap<String, Import>,
    pub globs: Vec<usize>,
}

/// The stack of the thread the front end runs on. The syntax tree is walked
/// recursively; the parser's limits (`circ_syntax::parser::MAX_NESTING`,
/// `MAX_OPERATORS`) bound its depth, and this bounds the memory per level
/// generously even in debug builds. It is reserved, not committed.
pub const FRONT_END_STACK: usize = 512 << 20;

/// Parses and checks the file `main` (already in `map`) with everything it
/// imports. Never panics; all problems are diagnostics. Runs on its own
/// thread with a large stack (see [`FRONT_END_STACK`]).
pub fn check_program(map: &mut SourceMap, main: FileId, loader: &mut dyn Loader) -> Analysis {
    let run = |map: &mut SourceMap, loader: &mut dyn Loader| {
        let mut c = check::Checker::new();
        let main_idx = c.load_module(map, main);
        c.resolve_imports(map, loader, main_idx);
        c.check_all(map);
        c.finish()
    };
    let done = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("circ-front-end".into())
            .stack_size(FRONT_END_STACK)
            .spawn_scoped(scope, || run(&mut *map, &mut *loader));
        worker.ok().map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    });
    // No thread could be made: check on this one.
    done.unwrap_or_else(|| run(map, loader))
}

/// Checks source text held in memory (no file imports).
pub fn check_source(name: &str, text: &str) -> (SourceMap, Analysis) {
    let mut map = SourceMap::new();
    let id = map.add(name, text);
    let analysis = check_program(&mut map, id, &mut NoFiles);
    (map, analysis)
}
