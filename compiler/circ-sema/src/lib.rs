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
use std::sync::Arc;

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

/// The parameter names of a built-in time or position function, in
/// positional order (`step` → `at`, `before`, `after`).
pub fn builtin_param_names(function: &str) -> Vec<&'static str> {
    builtins::named_params(function)
        .iter()
        .map(|p| p.name)
        .collect()
}

/// The name under which `std::NAME` appears in messages.
pub fn std_file_name(name: &str) -> String {
    format!("<std>/{name}.circ")
}

/// What a checked program looks like: every diagnostic, the models that
/// were checked (their variables with dimensions), and the program itself
/// with every name resolution, for lowering.
#[derive(Debug, Default)]
pub struct Analysis {
    /// All diagnostics, errors and warnings, in a stable order.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked models, in the order they were met.
    pub models: Vec<ModelInfo>,
    /// The modules, their items and what each name in them refers to.
    pub program: Program,
}

/// What a name or call in the source refers to, as sema resolved it.
#[derive(Clone, Debug, PartialEq)]
pub enum Res {
    /// A variable of the enclosing model.
    ModelVar(String),
    /// A `let` of a handler, a function argument or a circuit `let`.
    Local(String),
    /// A constant item.
    Const(ItemId),
    /// A built-in value: `t`, `pi`, `e`, `inf`, `i`, `j`, `d`.
    Builtin(String),
    /// `pre.x` (`pre: true`) or `post.x`.
    Field {
        /// Presynaptic side.
        pre: bool,
        /// The variable.
        name: String,
    },
    /// A call of a function item.
    Fn(ItemId),
    /// A call of a built-in function.
    BuiltinFn(String),
}

/// The loaded modules, with lookups lowering needs. Module 0 is the file
/// that was checked.
#[derive(Debug, Default)]
pub struct Program {
    pub(crate) modules: Vec<Module>,
    pub(crate) module_by_name: HashMap<String, usize>,
    pub(crate) res: HashMap<(FileId, u32, u32), Res>,
    pub(crate) model_infos: HashMap<ItemId, ModelInfo>,
    pub(crate) const_types: HashMap<ItemId, ty::Ty>,
    /// The SI value of each number literal (its value times its unit's
    /// scale), by file and span: the start of the typed tree lowering reads
    /// instead of resolving units again.
    pub(crate) literals: HashMap<(FileId, u32, u32), f64>,
    /// Each circuit's parameters and the types of their defaults.
    pub(crate) circuit_params: HashMap<ItemId, Vec<(String, ty::Ty)>>,
    /// The type of every expression checked, by file and span (the last
    /// context's, for a model checked in several): hovers read it.
    pub(crate) types: HashMap<(FileId, u32, u32), ty::Ty>,
}

impl Program {
    /// How many modules were loaded.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// The file of module `m`.
    pub fn file(&self, m: usize) -> Option<FileId> {
        self.modules.get(m).map(|x| x.file)
    }

    /// The syntax tree of module `m`.
    pub fn ast(&self, m: usize) -> Option<&ast::Module> {
        self.modules.get(m).map(|x| &*x.ast)
    }

    /// A circuit's parameters, in order, with the types of their defaults.
    pub fn circuit_params(&self, id: ItemId) -> &[(String, ty::Ty)] {
        self.circuit_params.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The item `id`.
    pub fn item(&self, id: ItemId) -> Option<&ast::Item> {
        self.modules.get(id.module)?.ast.items.get(id.idx)
    }

    /// What the name or call at `span` of `file` refers to.
    pub fn resolution(&self, file: FileId, span: circ_syntax::Span) -> Option<&Res> {
        self.res.get(&(file, span.start, span.end))
    }

    /// The innermost expression of `file` whose span holds byte `offset`,
    /// with its type (the expression under an editor's cursor).
    pub fn type_at(&self, file: FileId, offset: u32) -> Option<(circ_syntax::Span, ty::Ty)> {
        self.types
            .iter()
            .filter(|((f, s, e), _)| *f == file && *s <= offset && offset < *e)
            .min_by_key(|((_, s, e), _)| (e - s, *s))
            .map(|(&(_, s, e), &t)| (circ_syntax::Span { start: s, end: e }, t))
    }

    /// The SI value of the number literal at `span` of `file` (`2 ms` is
    /// 0.002), as sema checked its unit; `None` for anything else.
    pub fn literal(&self, file: FileId, span: circ_syntax::Span) -> Option<f64> {
        self.literals.get(&(file, span.start, span.end)).copied()
    }

    /// The type of a constant item, with its value where it is known at
    /// compile time (the REPL prints it).
    pub fn const_type(&self, id: ItemId) -> Option<ty::Ty> {
        self.const_types.get(&id).copied()
    }

    /// The checked variables of a model item.
    pub fn model_info(&self, id: ItemId) -> Option<&ModelInfo> {
        self.model_infos.get(&id)
    }

    /// Resolves an item name as seen from module `m`.
    pub fn resolve(&self, m: usize, name: &str) -> Option<(ItemId, ItemKind)> {
        let module = self.modules.get(m)?;
        if let Some(r) = module.items.get(name) {
            return Some((
                ItemId {
                    module: m,
                    idx: r.idx,
                },
                r.kind,
            ));
        }
        if let Some(imp) = module.imports.get(name) {
            let r = self.modules.get(imp.module)?.items.get(&imp.name.node)?;
            return Some((
                ItemId {
                    module: imp.module,
                    idx: r.idx,
                },
                r.kind,
            ));
        }
        module.globs.iter().find_map(|&g| {
            self.modules.get(g)?.items.get(name).map(|r| {
                (
                    ItemId {
                        module: g,
                        idx: r.idx,
                    },
                    r.kind,
                )
            })
        })
    }
}

impl Analysis {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// What kind of item a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// `const`.
    Const,
    /// `fn`.
    Fn,
    /// `neuron`.
    Neuron,
    /// `synapse`.
    Synapse,
    /// `circuit`.
    Circuit,
}

impl ItemKind {
    /// The kind in words, for messages.
    pub fn word(self) -> &'static str {
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
pub struct ItemId {
    /// The module (0 is the checked file).
    pub module: usize,
    /// The index of the item in the module's AST.
    pub idx: usize,
}

#[derive(Debug)]
pub(crate) struct Import {
    pub module: usize,
    pub name: ast::Ident,
}

#[derive(Debug)]
pub(crate) struct Module {
    pub file: FileId,
    pub ast: Arc<ast::Module>,
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
        c.apply_extends(map);
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

/// The value of a constant expression written on its own (`5 nS`, `8000`,
/// `2 * 3 ms`; the standard library's constants are visible), in SI units,
/// with its dimension: for values given on the command line. `Err` says why
/// it is not one.
pub fn constant_value(text: &str) -> Result<(f64, circ_units::Dim), String> {
    const NAME: &str = "command_line_value";
    let (_, a) = check_source("<value>", &format!("const {NAME} = (\n{text}\n)\n"));
    if let Some(d) = a.diagnostics.iter().find(|d| d.is_error()) {
        return Err(format!("`{text}` is not a value: {}", d.message));
    }
    match a
        .program
        .resolve(0, NAME)
        .and_then(|(id, _)| a.program.const_type(id))
    {
        Some(ty::Ty::Num {
            konst: Some(v),
            dim,
            ..
        }) => Ok((v, dim.unwrap_or(circ_units::Dim::ONE))),
        _ => Err(format!(
            "`{text}` is not a number known now (`5 nS`, `8000`)"
        )),
    }
}

/// Checks source text held in memory (no file imports).
pub fn check_source(name: &str, text: &str) -> (SourceMap, Analysis) {
    let mut map = SourceMap::new();
    let id = map.add(name, text);
    let analysis = check_program(&mut map, id, &mut NoFiles);
    (map, analysis)
}
