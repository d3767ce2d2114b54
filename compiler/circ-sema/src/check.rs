//! The checker: modules and imports, items, models, circuits and runs.

use crate::builtins::{self, ParamKind};
use crate::expr::{convert_help, suggest};
use crate::ty::{Ty, dims_agree};
use crate::{Analysis, Import, ItemId, ItemKind, ItemRef, Loader, Module, Program, Res};
use circ_diag::{Diagnostic, FileId, SourceMap};
use circ_syntax::ast::{
    self, AssignOp, CircuitMemberKind, Event, Expr, Item, MemberKind, ModelKind, PerKind, RuleKind,
    StateLoc, Stmt, StmtKind, Target, UsePath,
};
use circ_syntax::{Ident, Span};
use circ_units::Dim;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// What kind of variable a model declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarKind {
    /// `parameter`; `per` is true for `per neuron` / `per synapse`.
    Parameter {
        /// One value per neuron or synapse.
        per: bool,
    },
    /// `state`, `pre state`, `post state`.
    State(StateLoc),
    /// `input`.
    Input,
    /// `let`.
    Let,
    /// `modulator`.
    Modulator,
}

/// A variable of a checked model.
#[derive(Clone, Debug)]
pub struct VarInfo {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: VarKind,
    /// Its dimension (dimensionless where unknown).
    pub dim: Dim,
    /// Whether it has a default / initial value.
    pub has_default: bool,
    /// Where it is declared.
    pub span: Span,
}

/// A checked neuron or synapse model.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// Neuron or synapse.
    pub kind: ModelKind,
    /// The file it is in.
    pub file: FileId,
    /// Its span.
    pub span: Span,
    /// Its variables in declaration order.
    pub vars: Vec<VarInfo>,
    /// Whether it spikes with a refractory period.
    pub has_refractory: bool,
}

impl ModelInfo {
    /// The variable with this name.
    pub fn var(&self, name: &str) -> Option<&VarInfo> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// The parameter with this name (not a state or input).
    pub fn param(&self, name: &str) -> Option<&VarInfo> {
        self.var(name)
            .filter(|v| matches!(v.kind, VarKind::Parameter { .. }))
    }

    /// The names of its parameters, in declaration order.
    pub fn param_names(&self) -> Vec<&str> {
        self.vars
            .iter()
            .filter(|v| matches!(v.kind, VarKind::Parameter { .. }))
            .map(|v| v.name.as_str())
            .collect()
    }
}

/// Where an expression is and what it may read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Allow {
    /// `t` and time functions.
    pub time: bool,
    /// `i` and `j` (connection rules, per-synapse values).
    pub indices: bool,
    /// `d` (distance rules).
    pub distance: bool,
    /// `i`, the neuron's index (a neuron population's values).
    pub element: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalKind {
    Plain,
    PerSynapse,
}

#[derive(Clone, Debug)]
pub(crate) struct Local {
    pub name: String,
    pub ty: Ty,
    pub kind: LocalKind,
}

/// What an expression read, for the dependency rules.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reads {
    pub state: Option<(String, Span)>,
    pub per_synapse: Option<(String, Span)>,
    pub field: Option<Span>,
}

impl Reads {
    fn merge(&mut self, o: &Reads) {
        self.state = self.state.take().or_else(|| o.state.clone());
        self.per_synapse = self.per_synapse.take().or_else(|| o.per_synapse.clone());
        self.field = self.field.or(o.field);
    }
}

/// The declarations of the model being checked, with lazily computed types.
pub(crate) struct ModelCtx {
    pub kind: ModelKind,
    ast: Arc<ast::Module>,
    item: usize,
    decls: HashMap<String, usize>,
    cache: RefCell<HashMap<String, (Ty, Reads)>>,
    busy: RefCell<Vec<String>>,
    reads: RefCell<Vec<Reads>>,
}

impl ModelCtx {
    fn members(&self) -> &[ast::Member] {
        match self.ast.items.get(self.item) {
            Some(Item::Model(m)) => &m.members,
            _ => &[],
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.decls.contains_key(name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.decls.keys().cloned()
    }

    fn push_reads(&self) {
        self.reads.borrow_mut().push(Reads::default());
    }

    fn pop_reads(&self) -> Reads {
        self.reads.borrow_mut().pop().unwrap_or_default()
    }

    fn note(&self, f: impl FnOnce(&mut Reads)) {
        if let Some(top) = self.reads.borrow_mut().last_mut() {
            f(top);
        }
    }

    fn decl(&self, name: &str) -> Option<&ast::Member> {
        self.decls.get(name).and_then(|&i| self.members().get(i))
    }
}

/// The scope an expression is typed in.
pub(crate) struct Env<'a> {
    pub module: usize,
    pub file: FileId,
    pub model: Option<&'a ModelCtx>,
    pub locals: RefCell<Vec<Local>>,
    pub allow: Allow,
    pub pre: Option<&'a ModelInfo>,
    pub post: Option<&'a ModelInfo>,
    pub site: Option<(FileId, Span)>,
}

impl<'a> Env<'a> {
    fn new(module: usize, file: FileId) -> Self {
        Env {
            module,
            file,
            model: None,
            locals: RefCell::new(vec![]),
            allow: Allow::default(),
            pre: None,
            post: None,
            site: None,
        }
    }

    fn with_model(&self, model: &'a ModelCtx) -> Env<'a> {
        Env {
            module: self.module,
            file: self.file,
            model: Some(model),
            locals: RefCell::new(vec![]),
            allow: Allow {
                time: true,
                ..Allow::default()
            },
            pre: self.pre,
            post: self.post,
            site: self.site,
        }
    }

    pub(crate) fn local(&self, name: &str) -> Option<Local> {
        self.locals
            .borrow()
            .iter()
            .rev()
            .find(|l| l.name == name)
            .cloned()
    }

    fn push_local(&self, name: &str, ty: Ty, kind: LocalKind) {
        self.locals.borrow_mut().push(Local {
            name: name.to_string(),
            ty,
            kind,
        });
    }

    pub(crate) fn note_read_per_synapse(&self, name: &str, span: Span) {
        if let Some(m) = self.model {
            m.note(|r| {
                r.per_synapse.get_or_insert((name.to_string(), span));
            });
        }
    }

    pub(crate) fn note_read_field(&self, _is_pre: bool, span: Span) {
        if let Some(m) = self.model {
            m.note(|r| {
                r.field.get_or_insert(span);
            });
        }
    }
}

/// A function's signature.
#[derive(Clone, Debug)]
pub(crate) struct FnSig {
    pub params: Vec<(String, Option<Dim>)>,
    pub ret: Option<Dim>,
    pub file: FileId,
    pub span: Span,
}

enum Slot<T> {
    Busy,
    Done(T),
}

/// What a population instantiates.
#[derive(Clone)]
enum PopModel {
    Neuron(Rc<ModelInfo>),
    Generator(String),
    Unknown,
}

struct PopInfo {
    model: PopModel,
    /// Its size, when a constant.
    size: Option<f64>,
}

/// The checker's state over a whole program.
pub(crate) struct Checker {
    pub diags: Vec<Diagnostic>,
    pub(crate) prog: Program,
    consts: HashMap<ItemId, Slot<Ty>>,
    fns: HashMap<ItemId, Slot<Option<FnSig>>>,
    models: HashMap<ItemId, Rc<ModelInfo>>,
    model_order: Vec<Rc<ModelInfo>>,
    generic_keys: HashMap<ItemId, HashSet<(&'static str, Span)>>,
    tainted: Vec<(FileId, Span)>,
    /// Names whose `use` failed, per module: using them reports nothing more.
    pub(crate) failed_imports: HashSet<(usize, String)>,
}

fn generator_info(name: &str, file: FileId) -> ModelInfo {
    ModelInfo {
        name: name.to_string(),
        kind: ModelKind::Neuron,
        file,
        span: Span::default(),
        vars: vec![],
        has_refractory: false,
    }
}

impl Checker {
    pub(crate) fn new() -> Self {
        Checker {
            diags: vec![],
            prog: Program::default(),
            consts: HashMap::new(),
            fns: HashMap::new(),
            models: HashMap::new(),
            model_order: vec![],
            generic_keys: HashMap::new(),
            tainted: vec![],
            failed_imports: HashSet::new(),
        }
    }

    pub(crate) fn finish(mut self) -> Analysis {
        // Stable order: by file, then position; duplicates (the same error met
        // twice through two paths) are dropped.
        self.diags
            .sort_by_key(|d| d.primary().map(|l| (l.file, l.span.start, l.span.end)));
        let mut seen = HashSet::new();
        self.diags.retain(|d| {
            seen.insert((
                d.code,
                d.message.clone(),
                d.primary().map(|l| (l.file, l.span)),
            ))
        });
        let syntax: HashSet<&str> = [
            "invalid-character",
            "unterminated-comment",
            "unterminated-string",
            "unexpected-token",
            "unexpected-end",
            "malformed-derivative",
            "number-in-unit",
            "too-complex",
        ]
        .into();
        let tainted = std::mem::take(&mut self.tainted);
        self.diags.retain(|d| {
            syntax.contains(d.code)
                || d.primary().is_none_or(|l| {
                    !tainted.iter().any(|(f, s)| {
                        *f == l.file && l.span.start >= s.start && l.span.end <= s.end
                    })
                })
        });
        for (id, info) in &self.models {
            self.prog.model_infos.insert(*id, (**info).clone());
        }
        for (id, slot) in &self.consts {
            if let Slot::Done(t) = slot {
                self.prog.const_types.insert(*id, *t);
            }
        }
        Analysis {
            diagnostics: self.diags,
            models: self.model_order.iter().map(|m| (**m).clone()).collect(),
            program: self.prog,
        }
    }

    /// Parses a file already in the map and registers it as a module.
    pub(crate) fn load_module(&mut self, map: &SourceMap, file: FileId) -> usize {
        let text = map.get(file).map(|f| f.text.clone()).unwrap_or_default();
        let name = map.get(file).map(|f| f.name.clone()).unwrap_or_default();
        let parsed = circ_syntax::parse(&text);
        for e in &parsed.errors {
            self.diags.push(circ_diag::syntax_diagnostic(e, file));
        }
        let ast = Arc::new(parsed.module);
        // Items that had syntax errors are checked for what they hold, but
        // semantic errors inside them are dropped: they are mostly echoes of
        // the broken syntax.
        for item in &ast.items {
            let span = item.span();
            if parsed
                .errors
                .iter()
                .any(|e| e.span.start >= span.start && e.span.start <= span.end)
            {
                self.tainted.push((file, span));
            }
        }
        let mut items: HashMap<String, ItemRef> = HashMap::new();
        let mut spans: HashMap<String, Span> = HashMap::new();
        for (idx, item) in ast.items.iter().enumerate() {
            let (n, kind) = match item {
                Item::Const(c) => (&c.name, ItemKind::Const),
                Item::Fn(f) => (&f.name, ItemKind::Fn),
                Item::Model(m) => (
                    &m.name,
                    if m.kind == ModelKind::Neuron {
                        ItemKind::Neuron
                    } else {
                        ItemKind::Synapse
                    },
                ),
                Item::Circuit(c) => (&c.name, ItemKind::Circuit),
                _ => continue,
            };
            if let Some(prev) = spans.get(&n.node) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-definition",
                        format!("`{}` is defined twice in this file", n.node),
                        file,
                        n.span,
                        "defined again here",
                    )
                    .with_label(file, *prev, "first defined here")
                    .with_help("rename one of them"),
                );
                continue;
            }
            spans.insert(n.node.clone(), n.span);
            items.insert(n.node.clone(), ItemRef { idx, kind });
        }
        self.prog.modules.push(Module {
            file,
            ast,
            items,
            imports: HashMap::new(),
            globs: vec![],
        });
        self.prog
            .module_by_name
            .insert(name, self.prog.modules.len() - 1);
        self.prog.modules.len() - 1
    }

    /// Merges each model that `extends` another with its base, before
    /// anything is checked: the base's members (parsed again at an alias
    /// range of the derived model's file, so their spans are distinct there
    /// and diagnostics point at the base's text), each replaced by the
    /// derived model's member of the same name (a parameter, state, input,
    /// `let`; `dx/dt` of the same variable; `spike when`; `method`; `on
    /// pre`/`on post`), then the derived model's new members. A chain of
    /// bases is merged from its root; a cycle is an error.
    pub(crate) fn apply_extends(&mut self, map: &mut SourceMap) {
        fn key(m: &MemberKind) -> Option<String> {
            Some(match m {
                MemberKind::Parameter(d) | MemberKind::State(_, d) => {
                    format!("var {}", d.name.node)
                }
                MemberKind::Input { name, .. }
                | MemberKind::Let { name, .. }
                | MemberKind::SideLet { name, .. }
                | MemberKind::Modulator { name, .. } => format!("var {}", name.node),
                MemberKind::Ode { var, .. } => format!("ode {}", var.node),
                MemberKind::Spike { .. } => "spike".into(),
                MemberKind::Method(_) => "method".into(),
                MemberKind::On { event, .. } => format!("on {:?}", event.node),
                MemberKind::Coupling(_) | MemberKind::Error => return None,
            })
        }
        for _round in 0..32 {
            let mut pending = vec![];
            for m in 0..self.prog.modules.len() {
                for (idx, item) in self.prog.modules[m].ast.items.iter().enumerate() {
                    if let Item::Model(model) = item
                        && model.extends.is_some()
                    {
                        pending.push((m, idx));
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
            let mut progressed = false;
            for (m, idx) in pending {
                let file = self.prog.modules[m].file;
                let Some(Item::Model(model)) = self.prog.modules[m].ast.items.get(idx).cloned()
                else {
                    continue;
                };
                let Some(path) = model.extends.clone() else {
                    continue;
                };
                let span = path.first().map_or(model.name.span, |f| {
                    f.span.to(path.last().map_or(f.span, |l| l.span))
                });
                let written = path
                    .iter()
                    .map(|p| p.node.as_str())
                    .collect::<Vec<_>>()
                    .join("::");
                let fail = |this: &mut Self, msg: String, help: &str| {
                    this.diags.push(
                        Diagnostic::error("unknown-model", msg, file, span, "cannot extend this")
                            .with_help(help.to_string()),
                    );
                    // Checked as written, without the base.
                    if let Some(Item::Model(mm)) = Arc::make_mut(&mut this.prog.modules[m].ast)
                        .items
                        .get_mut(idx)
                    {
                        mm.extends = None;
                    }
                };
                // The base: a name in scope, or `std::module::Name`.
                let base = match &path[..] {
                    [one] => self.resolve(m, &one.node),
                    [.., last] => {
                        let module: Vec<&str> = path[..path.len() - 1]
                            .iter()
                            .map(|p| p.node.as_str())
                            .collect();
                        let idx_m = if module.len() == 2 && module[0] == "std" {
                            let fname = crate::std_file_name(module[1]);
                            match self.prog.module_by_name.get(&fname) {
                                Some(&i) => Some(i),
                                None => circ_stdlib::module(module[1]).map(|text| {
                                    let id = map.add(fname, text);
                                    self.load_module(map, id)
                                }),
                            }
                        } else {
                            self.prog.module_by_name.get(&module.join("::")).copied()
                        };
                        idx_m.and_then(|i| self.resolve(i, &last.node))
                    }
                    [] => None,
                };
                let Some((bid, bkind)) = base else {
                    fail(
                        self,
                        format!("there is no model `{written}` to extend"),
                        "name a neuron or synapse model in scope (`use std::neurons::AdEx`) or by its path (`std::neurons::AdEx`)",
                    );
                    progressed = true;
                    continue;
                };
                let want = if model.kind == ModelKind::Neuron {
                    ItemKind::Neuron
                } else {
                    ItemKind::Synapse
                };
                if bkind != want {
                    fail(
                        self,
                        format!(
                            "`{written}` is a {}, and a {} extends only a {}",
                            bkind.word(),
                            want.word(),
                            want.word()
                        ),
                        "extend a model of the same kind",
                    );
                    progressed = true;
                    continue;
                }
                let Some(Item::Model(bmodel)) = self.prog.item(bid).cloned() else {
                    continue;
                };
                if bmodel.extends.is_some() {
                    // Its own base first (next round).
                    continue;
                }
                let Some(bfile) = self.prog.file(bid.module) else {
                    continue;
                };
                let Some(text) = map
                    .get(bfile)
                    .and_then(|f| {
                        f.text
                            .get(bmodel.span.start as usize..bmodel.span.end as usize)
                    })
                    .map(str::to_string)
                else {
                    continue;
                };
                let (line, _) = map.line_col(file, model.name.span.start);
                let fname = map.get(file).map_or_else(String::new, |f| f.name.clone());
                let delta = map.alias(
                    file,
                    bfile,
                    (bmodel.span.start, bmodel.span.end),
                    format!(
                        "in a member that `{}` inherits from `{written}` ({fname}:{line})",
                        model.name.node
                    ),
                );
                let parsed = circ_syntax::parse_at(&text, bmodel.span.start + delta);
                let Some(Item::Model(based)) = parsed.module.items.into_iter().next() else {
                    continue;
                };
                let mut members = based.members;
                let mut added = vec![];
                for own in model.members {
                    match key(&own.node)
                        .and_then(|k| members.iter().position(|b| key(&b.node) == Some(k.clone())))
                    {
                        Some(at) => members[at] = own,
                        None => added.push(own),
                    }
                }
                members.extend(added);
                let merged = ast::ModelItem {
                    extends: None,
                    members,
                    ..model
                };
                if let Some(slot) = Arc::make_mut(&mut self.prog.modules[m].ast)
                    .items
                    .get_mut(idx)
                {
                    *slot = Item::Model(merged);
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        // What is left extends itself, directly or through others.
        for m in 0..self.prog.modules.len() {
            let file = self.prog.modules[m].file;
            let items = Arc::make_mut(&mut self.prog.modules[m].ast);
            for item in &mut items.items {
                if let Item::Model(model) = item
                    && let Some(path) = model.extends.take()
                {
                    let span = path.first().map_or(model.name.span, |p| p.span);
                    self.diags.push(Diagnostic::error(
                        "unknown-model",
                        format!("`{}` extends itself (through its bases)", model.name.node),
                        file,
                        span,
                        "a cycle",
                    ));
                }
            }
        }
    }

    /// Loads every module `m` imports (recursively) and records its imports.
    pub(crate) fn resolve_imports(
        &mut self,
        map: &mut SourceMap,
        loader: &mut dyn Loader,
        m: usize,
    ) {
        let mut queue = vec![m];
        let mut done = HashSet::new();
        while let Some(m) = queue.pop() {
            if !done.insert(m) {
                continue;
            }
            let ast = Arc::clone(&self.prog.modules[m].ast);
            let file = self.prog.modules[m].file;
            let from = map.get(file).map(|f| f.name.clone()).unwrap_or_default();
            for item in &ast.items {
                let Item::Use(u) = item else { continue };
                let target = match &u.path {
                    UsePath::Module(segs) => {
                        let path: Vec<&str> = segs.iter().map(|s| s.node.as_str()).collect();
                        let span = segs.first().map_or(u.span, |f| {
                            f.span.to(segs.last().map_or(f.span, |l| l.span))
                        });
                        if path.len() == 2 && path[0] == "std" {
                            let fname = crate::std_file_name(path[1]);
                            if let Some(&idx) = self.prog.module_by_name.get(&fname) {
                                Some(idx)
                            } else if let Some(text) = circ_stdlib::module(path[1]) {
                                let id = map.add(fname, text);
                                Some(self.load_module(map, id))
                            } else {
                                let names: Vec<&str> =
                                    circ_stdlib::MODULES.iter().map(|m| m.0).collect();
                                let mut d = Diagnostic::error(
                                    "unknown-module",
                                    format!("there is no module `{}`", path.join("::")),
                                    file,
                                    span,
                                    "no such module",
                                );
                                d = match circ_units::closest(path[1], names.iter().copied()) {
                                    Some(c) => d.with_help(format!("did you mean `std::{c}`?")),
                                    None => d.with_help(format!(
                                        "the standard modules are: {}",
                                        names
                                            .iter()
                                            .map(|n| format!("std::{n}"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )),
                                };
                                self.diags.push(d);
                                None
                            }
                        } else {
                            self.diags.push(
                                Diagnostic::error("unknown-module", format!("there is no module `{}`", path.join("::")), file, span, "no such module")
                                    .with_help("modules are `std::neurons`, `std::synapses`, `std::plasticity`, or a file: `use \"other.circ\"::{Name}`"),
                            );
                            None
                        }
                    }
                    UsePath::File(p) => match loader.load(&from, &p.node) {
                        Ok((name, text)) => {
                            if let Some(&idx) = self.prog.module_by_name.get(&name) {
                                Some(idx)
                            } else {
                                let id = map.add(name, text);
                                Some(self.load_module(map, id))
                            }
                        }
                        Err(why) => {
                            self.diags.push(Diagnostic::error(
                                "unknown-module",
                                format!("cannot import \"{}\"", p.node),
                                file,
                                p.span,
                                why,
                            ));
                            None
                        }
                    },
                };
                let Some(target) = target else {
                    for n in &u.names {
                        self.failed_imports
                            .insert((m, n.alias.as_ref().unwrap_or(&n.name).node.clone()));
                    }
                    continue;
                };
                queue.push(target);
                if u.glob {
                    self.prog.modules[m].globs.push(target);
                    continue;
                }
                for n in &u.names {
                    let local = n.alias.as_ref().unwrap_or(&n.name);
                    if !self.prog.modules[target].items.contains_key(&n.name.node) {
                        let tname = map
                            .get(self.prog.modules[target].file)
                            .map(|f| f.name.clone())
                            .unwrap_or_default();
                        let mut d = Diagnostic::error(
                            "unknown-import",
                            format!("`{}` has no item `{}`", tname, n.name.node),
                            file,
                            n.name.span,
                            "not found there",
                        );
                        let names: Vec<&str> = self.prog.modules[target]
                            .items
                            .keys()
                            .map(String::as_str)
                            .collect();
                        d = suggest(d, &n.name.node, names.iter().copied(), None);
                        self.diags.push(d);
                        self.failed_imports.insert((m, local.node.clone()));
                        continue;
                    }
                    if self.prog.modules[m].items.contains_key(&local.node)
                        || self.prog.modules[m].imports.contains_key(&local.node)
                    {
                        self.diags.push(
                            Diagnostic::error(
                                "duplicate-definition",
                                format!(
                                    "`{}` is imported but already defined in this file",
                                    local.node
                                ),
                                file,
                                local.span,
                                "imported here",
                            )
                            .with_help(format!(
                                "import it under another name: `{} as {}2`",
                                n.name.node, n.name.node
                            )),
                        );
                        continue;
                    }
                    self.prog.modules[m].imports.insert(
                        local.node.clone(),
                        Import {
                            module: target,
                            name: n.name.clone(),
                        },
                    );
                }
            }
        }
    }

    /// Resolves an item name as seen from module `m`.
    pub(crate) fn resolve(&self, m: usize, name: &str) -> Option<(ItemId, ItemKind)> {
        self.prog.resolve(m, name)
    }

    /// Records what the name or call at `span` refers to.
    pub(crate) fn note_res(&mut self, file: FileId, span: Span, res: Res) {
        self.prog.res.insert((file, span.start, span.end), res);
    }

    /// Every item name visible in module `m` (for suggestions).
    pub(crate) fn visible_names(&self, m: usize) -> Vec<String> {
        let Some(module) = self.prog.modules.get(m) else {
            return vec![];
        };
        let mut v: Vec<String> = module
            .items
            .keys()
            .chain(module.imports.keys())
            .cloned()
            .collect();
        for &g in &module.globs {
            v.extend(self.prog.modules[g].items.keys().cloned());
        }
        v.sort();
        v
    }

    fn item(&self, id: ItemId) -> Option<(Arc<ast::Module>, FileId)> {
        let m = self.prog.modules.get(id.module)?;
        Some((Arc::clone(&m.ast), m.file))
    }

    /// The type of a constant (computed once; cycles are reported).
    pub(crate) fn const_ty(&mut self, id: ItemId) -> Ty {
        match self.consts.get(&id) {
            Some(Slot::Done(t)) => return *t,
            Some(Slot::Busy) => {
                if let Some((ast, file)) = self.item(id)
                    && let Some(Item::Const(c)) = ast.items.get(id.idx)
                {
                    self.diags.push(
                        Diagnostic::error(
                            "recursive-definition",
                            format!(
                                "the constant `{}` is defined in terms of itself",
                                c.name.node
                            ),
                            file,
                            c.name.span,
                            "depends on itself",
                        )
                        .with_help("give it a value that does not refer back to it"),
                    );
                }
                return Ty::Error;
            }
            None => {}
        }
        self.consts.insert(id, Slot::Busy);
        let Some((ast, file)) = self.item(id) else {
            return Ty::Error;
        };
        let Some(Item::Const(c)) = ast.items.get(id.idx) else {
            return Ty::Error;
        };
        let env = Env::new(id.module, file);
        let t = self.expr(&env, &c.value);
        let t = self.check_annotation(&env, c.ann.as_ref(), t, &c.value, &c.name);
        if t.is_random() {
            self.diags.push(Diagnostic::error("not-constant", format!("the constant `{}` is drawn at random", c.name.node), file, c.value.span, "random").with_help("draw random values in a `state`, a `per neuron` parameter or a per-synapse value"));
        }
        if !matches!(t, Ty::Num { .. } | Ty::Error | Ty::Bool) {
            self.diags.push(Diagnostic::error(
                "type-mismatch",
                format!(
                    "a constant must be a number or a boolean, but this is {}",
                    t.describe()
                ),
                file,
                c.value.span,
                t.describe(),
            ));
        }
        let t = match t {
            Ty::Num {
                dim: None,
                int,
                konst,
                random,
            } => Ty::Num {
                dim: Some(Dim::ONE),
                int,
                konst,
                random,
            },
            other => other,
        };
        self.consts.insert(id, Slot::Done(t));
        t
    }

    /// Checks a declared dimension against a value's and returns the declared type.
    fn check_annotation(
        &mut self,
        env: &Env<'_>,
        ann: Option<&ast::DimExpr>,
        t: Ty,
        value: &Expr,
        name: &Ident,
    ) -> Ty {
        let Some(ann) = ann else { return t };
        let Some(want) = self.dim_expr(env, ann) else {
            return Ty::Error;
        };
        match t {
            Ty::Num { dim: Some(d), .. } if d != want => {
                self.diags.push(
                    Diagnostic::error(
                        "annotation-mismatch",
                        format!(
                            "`{}` is declared as {}, but its value is {}",
                            name.node,
                            want.describe(),
                            d.describe()
                        ),
                        env.file,
                        value.span,
                        format!("this is {}", d.describe()),
                    )
                    .with_label(env.file, ann.span, format!("declared {}", want.describe()))
                    .with_help_opt(convert_help(d, want)),
                );
                Ty::real(want)
            }
            Ty::Num {
                int, konst, random, ..
            } => Ty::Num {
                dim: Some(want),
                int,
                konst,
                random,
            },
            Ty::Error => Ty::real(want),
            other => {
                self.diags.push(Diagnostic::error(
                    "type-mismatch",
                    format!(
                        "`{}` is declared as {}, but its value is {}",
                        name.node,
                        want.describe(),
                        other.describe()
                    ),
                    env.file,
                    value.span,
                    other.describe(),
                ));
                Ty::real(want)
            }
        }
    }

    /// The signature of a function (computed once).
    pub(crate) fn fn_sig(&mut self, id: ItemId) -> Option<FnSig> {
        match self.fns.get(&id) {
            Some(Slot::Done(s)) => return s.clone(),
            Some(Slot::Busy) => {
                if let Some((ast, file)) = self.item(id)
                    && let Some(Item::Fn(f)) = ast.items.get(id.idx)
                {
                    self.diags.push(
                        Diagnostic::error(
                            "recursive-definition",
                            format!("the function `{}` calls itself", f.name.node),
                            file,
                            f.name.span,
                            "recursive",
                        )
                        .with_help(
                            "functions are inlined into the model, so they cannot be recursive",
                        ),
                    );
                }
                return None;
            }
            None => {}
        }
        self.fns.insert(id, Slot::Busy);
        let (ast, file) = self.item(id)?;
        let Some(Item::Fn(f)) = ast.items.get(id.idx) else {
            return None;
        };
        let env = Env::new(id.module, file);
        let mut params = vec![];
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &f.params {
            if let Some(prev) = seen.insert(&p.name.node, p.name.span) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-definition",
                        format!("the parameter `{}` is declared twice", p.name.node),
                        file,
                        p.name.span,
                        "again",
                    )
                    .with_label(file, prev, "first here"),
                );
            }
            let d = self.dim_expr(&env, &p.dim);
            params.push((p.name.node.clone(), d));
            env.push_local(
                &p.name.node,
                Ty::Num {
                    dim: d,
                    int: false,
                    konst: None,
                    random: false,
                },
                LocalKind::Plain,
            );
        }
        for (n, v) in &f.lets {
            let t = self.expr(&env, v);
            env.push_local(&n.node, t, LocalKind::Plain);
        }
        let body = self.expr(&env, &f.body);
        if !self.need_num_or_bool(&env, &f.body, body) {
            // reported
        }
        let declared = f.ret.as_ref().and_then(|r| self.dim_expr(&env, r));
        if let (Some(want), Some(got)) = (declared, body.dim())
            && want != got
        {
            let ret_span = f.ret.as_ref().map_or(f.name.span, |r| r.span);
            self.diags.push(
                Diagnostic::error(
                    "return-dimension",
                    format!(
                        "`{}` is declared to return {}, but its body is {}",
                        f.name.node,
                        want.describe(),
                        got.describe()
                    ),
                    file,
                    f.body.span,
                    format!("this is {}", got.describe()),
                )
                .with_label(file, ret_span, format!("declared {}", want.describe()))
                .with_help_opt(convert_help(got, want)),
            );
        }
        let ret = if f.ret.is_some() {
            declared
        } else {
            body.dim().or(Some(Dim::ONE))
        };
        let sig = FnSig {
            params,
            ret,
            file,
            span: f.name.span,
        };
        self.fns.insert(id, Slot::Done(Some(sig.clone())));
        Some(sig)
    }

    fn need_num_or_bool(&mut self, env: &Env<'_>, e: &Expr, t: Ty) -> bool {
        if matches!(t, Ty::Num { .. } | Ty::Bool | Ty::Error) {
            return true;
        }
        self.diags.push(Diagnostic::error(
            "type-mismatch",
            format!("expected a number, but this is {}", t.describe()),
            env.file,
            e.span,
            t.describe(),
        ));
        false
    }

    /// Checks every item of every loaded module.
    pub(crate) fn check_all(&mut self, _map: &SourceMap) {
        for m in 0..self.prog.modules.len() {
            let ast = Arc::clone(&self.prog.modules[m].ast);
            let file = self.prog.modules[m].file;
            for (idx, item) in ast.items.iter().enumerate() {
                let id = ItemId { module: m, idx };
                match item {
                    Item::Const(_) => {
                        self.const_ty(id);
                    }
                    Item::Fn(_) => {
                        self.fn_sig(id);
                    }
                    Item::Model(_) => {
                        self.model_info(id);
                    }
                    Item::Circuit(c) => self.check_circuit(m, file, c),
                    Item::Run(r) => self.check_run(m, file, r),
                    Item::Use(_) | Item::Error(_) => {}
                }
            }
        }
    }

    /// The checked (generic) model info of a model item, checking it once.
    fn model_info(&mut self, id: ItemId) -> Option<Rc<ModelInfo>> {
        if let Some(info) = self.models.get(&id) {
            return Some(Rc::clone(info));
        }
        let before = self.diags.len();
        let info = Rc::new(self.check_model(id, None, None, None)?);
        let keys = self.diags[before..]
            .iter()
            .filter_map(|d| d.primary().map(|l| (d.code, l.span)))
            .collect();
        self.generic_keys.insert(id, keys);
        self.models.insert(id, Rc::clone(&info));
        self.model_order.push(Rc::clone(&info));
        Some(info)
    }

    /// Checks a model; with `pre`/`post` given, `pre.x`/`post.x` are typed
    /// against those neuron models (a projection's binding).
    fn check_model(
        &mut self,
        id: ItemId,
        pre: Option<&ModelInfo>,
        post: Option<&ModelInfo>,
        site: Option<(FileId, Span)>,
    ) -> Option<ModelInfo> {
        let (ast, file) = self.item(id)?;
        let Some(Item::Model(model)) = ast.items.get(id.idx) else {
            return None;
        };
        let kind = model.kind;
        let generic = pre.is_none() && post.is_none();
        let is_syn = kind == ModelKind::Synapse;
        let kind_word = if is_syn { "synapse" } else { "neuron" };
        let mut decls: HashMap<String, usize> = HashMap::new();
        for (i, m) in model.members.iter().enumerate() {
            let name = match &m.node {
                MemberKind::Parameter(d) | MemberKind::State(_, d) => Some(&d.name),
                MemberKind::Input { name, .. }
                | MemberKind::Let { name, .. }
                | MemberKind::SideLet { name, .. }
                | MemberKind::Modulator { name, .. } => Some(name),
                _ => None,
            };
            // Where each member may appear.
            if generic {
                let misplaced: Option<(Span, String, &str)> = match &m.node {
                    MemberKind::State(loc, _) if !is_syn && *loc != StateLoc::Own => Some((
                        m.span,
                        "`pre state` and `post state` belong to synapses".into(),
                        "a neuron's state is declared `state x = ...`",
                    )),
                    MemberKind::Parameter(d) | MemberKind::State(_, d)
                        if d.per.is_some_and(|p| p.node == PerKind::Synapse) && !is_syn =>
                    {
                        Some((
                            d.per.map_or(m.span, |p| p.span),
                            "`per synapse` in a neuron".into(),
                            "a neuron's values are `per neuron`",
                        ))
                    }
                    MemberKind::Parameter(d) | MemberKind::State(_, d)
                        if d.per.is_some_and(|p| p.node == PerKind::Neuron) && is_syn =>
                    {
                        Some((
                            d.per.map_or(m.span, |p| p.span),
                            "`per neuron` in a synapse".into(),
                            "a synapse's values are `per synapse`, or `pre state`/`post state` for one value per neuron",
                        ))
                    }
                    MemberKind::State(loc, d)
                        if is_syn && d.per.is_some() && *loc != StateLoc::Own =>
                    {
                        Some((
                            d.per.map_or(m.span, |p| p.span),
                            "a `pre state`/`post state` cannot be `per synapse`".into(),
                            "it has one value per neuron of the projection",
                        ))
                    }
                    MemberKind::Input { .. } if is_syn => Some((
                        m.span,
                        "an `input` belongs to a neuron".into(),
                        "a synapse adds into its postsynaptic neuron's input: `post.I_syn += ...`",
                    )),
                    MemberKind::Spike { .. } if is_syn => Some((
                        m.span,
                        "a synapse cannot spike".into(),
                        "thresholds and resets belong to neurons",
                    )),
                    MemberKind::On { .. } if !is_syn => Some((
                        m.span,
                        "`on pre`/`on post` handlers belong to synapses".into(),
                        "a neuron reacts to its own spikes in `spike when ... { reset }`",
                    )),
                    MemberKind::Coupling(_) if !is_syn => Some((
                        m.span,
                        "continuous couplings belong to synapses".into(),
                        "inside a neuron, use an ODE or a `let`",
                    )),
                    MemberKind::SideLet { .. } if !is_syn => Some((
                        m.span,
                        "`post let` sums over a neuron's synapses and belongs to synapses".into(),
                        "inside a neuron, a `let` names an expression of the neuron's own values",
                    )),
                    _ => None,
                };
                if let Some((span, msg, help)) = misplaced {
                    self.diags.push(
                        Diagnostic::error(
                            "misplaced-member",
                            msg.to_string(),
                            file,
                            span,
                            format!("not allowed in a {kind_word}"),
                        )
                        .with_help(help),
                    );
                }
            }
            if let Some(n) = name {
                if let Some(&prev) = decls.get(&n.node) {
                    if generic {
                        let prev_span = member_name_span(&model.members[prev])
                            .unwrap_or(model.members[prev].span);
                        self.diags.push(
                            Diagnostic::error(
                                "duplicate-definition",
                                format!("`{}` is declared twice in `{}`", n.node, model.name.node),
                                file,
                                n.span,
                                "declared again here",
                            )
                            .with_label(
                                file,
                                prev_span,
                                "first declared here",
                            ),
                        );
                    }
                    continue;
                }
                if generic && n.node == "t" {
                    self.diags.push(Diagnostic::error(
                        "duplicate-definition",
                        "`t` is the simulation time and cannot be redeclared",
                        file,
                        n.span,
                        "reserved name",
                    ));
                }
                decls.insert(n.node.clone(), i);
            }
        }
        let ctx = ModelCtx {
            kind,
            ast: Arc::clone(&ast),
            item: id.idx,
            decls,
            cache: RefCell::new(HashMap::new()),
            busy: RefCell::new(vec![]),
            reads: RefCell::new(vec![]),
        };
        let mut base = Env::new(id.module, file);
        base.pre = pre;
        base.post = post;
        base.site = site;
        let env = base.with_model(&ctx);
        let has_refractory = model.members.iter().any(|m| {
            matches!(
                &m.node,
                MemberKind::Spike {
                    refractory: Some(_),
                    ..
                }
            )
        });
        let mut odes: HashMap<String, Span> = HashMap::new();
        for m in &model.members {
            match &m.node {
                MemberKind::Parameter(d) | MemberKind::State(_, d) => {
                    self.model_var(&env, &ctx, &d.name.node, d.name.span);
                }
                MemberKind::Input { name, .. }
                | MemberKind::Let { name, .. }
                | MemberKind::SideLet { name, .. }
                | MemberKind::Modulator { name, .. } => {
                    self.model_var(&env, &ctx, &name.node, name.span);
                }
                MemberKind::Ode {
                    var,
                    rhs,
                    noise,
                    unless_refractory,
                } => {
                    self.check_ode(&env, &ctx, var, rhs, noise.as_ref(), &mut odes);
                    if let Some(u) = unless_refractory
                        && generic
                        && !has_refractory
                    {
                        let msg = if is_syn {
                            "a synapse has no refractory period"
                        } else {
                            "this neuron has no refractory period"
                        };
                        self.diags.push(
                                Diagnostic::error("unless-without-refractory", format!("`unless refractory`, but {msg}"), file, *u, "never refractory")
                                    .with_help("give the spike a period: `spike when v > v_th { ... } refractory 2 ms`, or remove `unless refractory`"),
                            );
                    }
                }
                MemberKind::Spike {
                    cond,
                    body,
                    refractory,
                    refractory_while,
                } => {
                    let t = self.expr(&env, cond);
                    self.need_bool(&env, cond, t, "a spike condition");
                    self.stmts(&env, &ctx, body, Handler::Reset);
                    if let (Some(r), true) = (refractory, refractory_while) {
                        let t = self.expr(&env, r);
                        self.need_bool(&env, r, t, "a refractory condition");
                    } else if let Some(r) = refractory {
                        let t = self.expr(&env, r);
                        self.need_dim(
                            &env,
                            r,
                            t,
                            builtins::time(),
                            "argument-dimension",
                            "a refractory period",
                        );
                        if let Some(k) = t.konst()
                            && k < 0.0
                        {
                            self.diags.push(Diagnostic::error(
                                "invalid-value",
                                "a refractory period cannot be negative",
                                file,
                                r.span,
                                "negative",
                            ));
                        }
                    }
                }
                MemberKind::Method(n) => {
                    if generic && !builtins::METHODS.contains(&n.node.as_str()) {
                        let mut d = Diagnostic::error(
                            "unknown-method",
                            format!("unknown integration method `{}`", n.node),
                            file,
                            n.span,
                            "not a method",
                        );
                        let list = format!("methods: {}", builtins::METHODS.join(", "));
                        d = suggest(d, &n.node, builtins::METHODS.iter().copied(), Some(list));
                        self.diags.push(d);
                    }
                }
                MemberKind::On { event, body } => {
                    let h = if event.node == Event::Pre {
                        Handler::OnPre
                    } else {
                        Handler::OnPost
                    };
                    self.stmts(&env, &ctx, body, h);
                }
                MemberKind::Coupling(s) => self.coupling(&env, &ctx, s),
                MemberKind::Error => {}
            }
        }
        let cache = ctx.cache.borrow();
        let vars = model
            .members
            .iter()
            .filter_map(|m| {
                let (name, kind, has_default) = match &m.node {
                    MemberKind::Parameter(d) => (
                        &d.name,
                        VarKind::Parameter {
                            per: d.per.is_some(),
                        },
                        d.init.is_some(),
                    ),
                    MemberKind::State(loc, d) => (&d.name, VarKind::State(*loc), d.init.is_some()),
                    MemberKind::Input { name, .. } => (name, VarKind::Input, true),
                    MemberKind::Let { name, .. } | MemberKind::SideLet { name, .. } => {
                        (name, VarKind::Let, true)
                    }
                    MemberKind::Modulator { name, .. } => (name, VarKind::Modulator, true),
                    _ => return None,
                };
                let dim = cache
                    .get(&name.node)
                    .and_then(|(t, _)| t.dim())
                    .unwrap_or(Dim::ONE);
                Some(VarInfo {
                    name: name.node.clone(),
                    kind,
                    dim,
                    has_default,
                    span: name.span,
                })
            })
            .collect();
        Some(ModelInfo {
            name: model.name.node.clone(),
            kind,
            file,
            span: model.name.span,
            vars,
            has_refractory,
        })
    }

    /// The type of a model variable, computed once from its declaration.
    pub(crate) fn model_var(
        &mut self,
        env: &Env<'_>,
        ctx: &ModelCtx,
        name: &str,
        use_span: Span,
    ) -> Ty {
        let Some(member) = ctx.decl(name) else {
            return Ty::Error;
        };
        let member = member.clone();
        let is_syn = ctx.kind == ModelKind::Synapse;
        // Record what reading this variable means for the dependency rules.
        let per_syn = match &member.node {
            MemberKind::State(StateLoc::Own, _) => is_syn,
            MemberKind::Parameter(d) => d.per.is_some_and(|p| p.node == PerKind::Synapse),
            _ => false,
        };
        // A sum over synapses changes during the run as a state does.
        let is_state = matches!(
            &member.node,
            MemberKind::State(..) | MemberKind::SideLet { .. }
        );
        if let Some((t, reads)) = ctx.cache.borrow().get(name).cloned() {
            ctx.note(|r| {
                r.merge(&reads);
                if per_syn {
                    r.per_synapse.get_or_insert((name.to_string(), use_span));
                }
                if is_state {
                    r.state.get_or_insert((name.to_string(), use_span));
                }
            });
            return t;
        }
        if ctx.busy.borrow().iter().any(|b| b == name) {
            self.diags.push(
                Diagnostic::error("recursive-definition", format!("`{name}` is defined in terms of itself"), env.file, use_span, "used in its own definition")
                    .with_help("a value cannot depend on itself; for a quantity that evolves in time, declare a `state` with an equation"),
            );
            ctx.cache
                .borrow_mut()
                .insert(name.to_string(), (Ty::Error, Reads::default()));
            return Ty::Error;
        }
        ctx.busy.borrow_mut().push(name.to_string());
        ctx.push_reads();
        let menv = env.with_model(ctx);
        let t = match &member.node {
            MemberKind::Parameter(d) | MemberKind::State(_, d) => {
                let menv = Env {
                    allow: Allow {
                        indices: is_syn,
                        ..menv.allow
                    },
                    ..menv
                };
                let t = match (&d.init, &d.ann) {
                    (Some(init), _) => {
                        let t = self.expr(&menv, init);
                        self.check_annotation(&menv, d.ann.as_ref(), t, init, &d.name)
                    }
                    (None, Some(ann)) => self.dim_expr(&menv, ann).map_or(Ty::Error, Ty::real),
                    (None, None) => {
                        if env.pre.is_none() && env.post.is_none() {
                            self.diags.push(
                                Diagnostic::error("missing-dimension", format!("`{}` has neither a dimension nor a value", d.name.node), env.file, d.name.span, "dimension unknown")
                                    .with_help(format!("declare its dimension, `{}: voltage`, or give it a value, `{} = -65 mV`", d.name.node, d.name.node)),
                            );
                        }
                        Ty::Error
                    }
                };
                let reads = ctx.reads.borrow().last().cloned().unwrap_or_default();
                if env.pre.is_none() && env.post.is_none() {
                    if let MemberKind::Parameter(pd) = &member.node {
                        if let Some((s, sp)) = &reads.state {
                            self.diags.push(
                                Diagnostic::error("not-constant", format!("the parameter `{}` depends on the state `{s}`", pd.name.node), env.file, *sp, "a state changes during the run")
                                    .with_help("parameters are fixed for the run; use a `let` for a value computed from state"),
                            );
                        }
                        if t.is_random() && pd.per.is_none() {
                            self.diags.push(
                                Diagnostic::error("not-constant", format!("the parameter `{}` is drawn at random but shared by the whole population", pd.name.node), env.file, d.init.as_ref().map_or(d.name.span, |i| i.span), "random")
                                    .with_help(format!("declare it `per {}` to draw one value for each", if is_syn { "synapse" } else { "neuron" })),
                            );
                        }
                    }
                    if let MemberKind::State(loc, _) = &member.node
                        && *loc != StateLoc::Own
                        && let Some((s, sp)) = &reads.per_synapse
                    {
                        self.per_synapse_dep(env, &d.name, *loc, s, *sp);
                    }
                }
                t
            }
            MemberKind::Input { dim, .. } => self.dim_expr(&menv, dim).map_or(Ty::Error, Ty::real),
            MemberKind::Modulator { dim, .. } => match dim {
                Some(d) => self.dim_expr(&menv, d).map_or(Ty::Error, Ty::real),
                None => Ty::real(Dim::ONE),
            },
            MemberKind::Let { value, .. } => {
                let t = self.expr(&menv, value);
                self.need_num_or_bool(&menv, value, t);
                t
            }
            MemberKind::SideLet {
                loc,
                name: n,
                value,
            } => {
                let menv = Env {
                    allow: Allow {
                        indices: true,
                        ..menv.allow
                    },
                    ..menv
                };
                self.side_let(&menv, *loc, n, value)
            }
            _ => Ty::Error,
        };
        // An unsuffixed 0 has no dimension of its own: the variable is dimensionless.
        // A model variable is never a compile-time constant: a circuit may
        // override a parameter, and states change during the run.
        let t = match t {
            Ty::Num {
                dim: None,
                int,
                random,
                ..
            } if !matches!(&member.node, MemberKind::Let { .. }) => Ty::Num {
                dim: Some(Dim::ONE),
                int,
                konst: None,
                random,
            },
            Ty::Num {
                dim, int, random, ..
            } => Ty::Num {
                dim,
                int,
                konst: None,
                random,
            },
            other => other,
        };
        let reads = ctx.pop_reads();
        ctx.busy.borrow_mut().retain(|b| b != name);
        let own_reads = if matches!(&member.node, MemberKind::Let { .. }) {
            reads
        } else {
            Reads::default()
        };
        ctx.cache
            .borrow_mut()
            .insert(name.to_string(), (t, own_reads.clone()));
        ctx.note(|r| {
            r.merge(&own_reads);
            if per_syn {
                r.per_synapse.get_or_insert((name.to_string(), use_span));
            }
            if is_state {
                r.state.get_or_insert((name.to_string(), use_span));
            }
        });
        t
    }

    /// The type of `post let NAME = sum(EXPR)` (and `pre let`): that of
    /// EXPR, which may read anything a synapse reads. Anything but one
    /// `sum(...)` is refused.
    fn side_let(&mut self, env: &Env<'_>, loc: StateLoc, name: &Ident, value: &Expr) -> Ty {
        let side = if loc == StateLoc::Pre { "pre" } else { "post" };
        let inner = match &value.node {
            ExprKind::Call { func, args } if func.node == "sum" => {
                if args.len() != 1 || args[0].name.is_some() {
                    self.diags.push(
                        Diagnostic::error("argument-count", format!("`sum` takes one expression, the value each synapse adds, but it has {} argument{}", args.len(), if args.len() == 1 { " with a name" } else { "s" }), env.file, value.span, "one unnamed argument")
                            .with_help(format!("`post let {} = sum(w)` adds `w` over the neuron's incoming synapses", name.node)),
                    );
                    for a in args {
                        self.expr(env, &a.value);
                    }
                    return Ty::Error;
                }
                &args[0].value
            }
            _ => {
                self.diags.push(
                    Diagnostic::error("misplaced-member", format!("`{}` is a `{side} let`, whose value must be one sum over the neuron's synapses", name.node), env.file, value.span, "not `sum(...)`")
                        .with_help(format!("write `{side} let {} = sum(EXPR)`; for an expression of other values, use a plain `let`", name.node)),
                );
                return Ty::Error;
            }
        };
        let t = self.expr(env, inner);
        if !self.need_number(env, inner, t, "a sum over synapses") {
            return Ty::Error;
        }
        t
    }

    fn per_synapse_dep(
        &mut self,
        env: &Env<'_>,
        target: &Ident,
        loc: StateLoc,
        read: &str,
        span: Span,
    ) {
        let which = if loc == StateLoc::Pre {
            "pre state"
        } else {
            "post state"
        };
        let per = if loc == StateLoc::Pre {
            "presynaptic"
        } else {
            "postsynaptic"
        };
        self.diags.push(
            Diagnostic::error("per-synapse-dependency", format!("the {which} `{}` depends on `{read}`, which has one value per synapse", target.node), env.file, span, "one value per synapse")
                .with_label(env.file, target.span, format!("one value per {per} neuron"))
                .with_help(format!("a {which} is shared by all synapses of a {per} neuron, so it can only depend on values shared the same way")),
        );
    }

    fn check_ode(
        &mut self,
        env: &Env<'_>,
        ctx: &ModelCtx,
        var: &Ident,
        rhs: &Expr,
        noise: Option<&Expr>,
        odes: &mut HashMap<String, Span>,
    ) {
        let generic = env.pre.is_none() && env.post.is_none();
        let target = ctx.decl(&var.node).map(|m| m.node.clone());
        let loc = match &target {
            Some(MemberKind::State(loc, _)) => Some(*loc),
            Some(other) => {
                if generic {
                    let what = match other {
                        MemberKind::Parameter(_) => "a parameter",
                        MemberKind::Input { .. } => "an input",
                        MemberKind::Let { .. } => "a `let`",
                        MemberKind::SideLet { .. } => "a sum over synapses",
                        _ => "a modulator",
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "derivative-of-non-state",
                            format!("`{}` is {what}, so it has no equation", var.node),
                            env.file,
                            var.span,
                            what.to_string(),
                        )
                        .with_help(format!(
                            "only a `state` evolves in time: declare `state {} = ...`",
                            var.node
                        )),
                    );
                }
                None
            }
            None => {
                if generic {
                    let mut d = Diagnostic::error(
                        "derivative-of-non-state",
                        format!(
                            "`d{}/dt` for an undeclared variable `{}`",
                            var.node, var.node
                        ),
                        env.file,
                        var.span,
                        "not declared",
                    )
                    .with_help(format!("declare it first: `state {} = ...`", var.node));
                    if let Some(c) = circ_units::closest(
                        &var.node,
                        ctx.names().collect::<Vec<_>>().iter().map(String::as_str),
                    ) {
                        d = d.with_note(format!("there is a variable named `{c}`"));
                    }
                    self.diags.push(d);
                }
                None
            }
        };
        if generic {
            if let Some(prev) = odes.get(&var.node) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-equation",
                        format!("`{}` has two equations", var.node),
                        env.file,
                        var.span,
                        "second equation",
                    )
                    .with_label(env.file, *prev, "first equation")
                    .with_help("sum the terms into one right-hand side"),
                );
            } else {
                odes.insert(var.node.clone(), var.span);
            }
        }
        let var_ty = if loc.is_some() {
            self.model_var(env, ctx, &var.node, var.span)
        } else {
            Ty::Error
        };
        ctx.push_reads();
        let t = self.expr(env, rhs);
        let noise_t = noise.map(|n| (n, self.expr(env, n)));
        let reads = ctx.pop_reads();
        if let Some(l) = loc.filter(|l| *l != StateLoc::Own)
            && let Some((s, sp)) = &reads.per_synapse
            && generic
        {
            self.per_synapse_dep(env, var, l, s, *sp);
        }
        if !matches!(t, Ty::Num { .. } | Ty::Error) {
            self.diags.push(Diagnostic::error(
                "type-mismatch",
                format!(
                    "the right side of an equation must be a number, but this is {}",
                    t.describe()
                ),
                env.file,
                rhs.span,
                t.describe(),
            ));
            return;
        }
        let Some(vd) = var_ty.dim() else { return };
        let time = builtins::time();
        let Some(want) = vd.checked_div(time) else {
            return;
        };
        if let Some(got) = t.dim()
            && got != want
        {
            let mut d = Diagnostic::error(
                "derivative-dimension",
                format!(
                    "`d{}/dt` must be {}, but the right side is {}",
                    var.node,
                    want.describe(),
                    got.describe()
                ),
                env.file,
                rhs.span,
                format!("this is {}", got.describe()),
            )
            .with_label(
                env.file,
                var.span,
                format!("`{}` is {}", var.node, vd.describe()),
            );
            d = d.with_help_opt(convert_help(got, want));
            self.diags.push(d);
        }
        if let Some((n, nt)) = noise_t {
            let half = circ_units::Rat::new(-1, 2).and_then(|h| time.powr(h));
            if let (Some(got), Some(want)) = (nt.dim(), half.and_then(|h| vd.checked_mul(h)))
                && got != want
            {
                self.diags.push(
                        Diagnostic::error("noise-dimension", format!("the noise of `{}` must be {}, but this is {}", var.node, want.describe(), got.describe()), env.file, n.span, format!("this is {}", got.describe()))
                            .with_label(env.file, var.span, format!("`{}` is {}", var.node, vd.describe()))
                            .with_help("`dx/dt = f noise sigma` means dx = f dt + sigma dW, and dW has dimension time^(1/2): divide by `sqrt(tau)`"),
                    );
            }
        }
    }

    fn coupling(&mut self, env: &Env<'_>, ctx: &ModelCtx, s: &Stmt) {
        let StmtKind::Assign { target, op, value } = &s.node else {
            return;
        };
        let generic = env.pre.is_none() && env.post.is_none();
        match &target.node {
            Target::Post(n) if matches!(op, AssignOp::Add | AssignOp::Sub) => {
                let t = self.expr(env, value);
                if let Some(post) = env.post {
                    match post.var(&n.node) {
                        None => self.unknown_member(env, post, n, "postsynaptic"),
                        Some(v) if v.kind != VarKind::Input => {
                            self.diags.push(
                                Diagnostic::error("invalid-assignment", format!("a continuous coupling adds to an input, but `{}` of `{}` is not an input", n.node, post.name), env.file, n.span, "not an input")
                                    .with_label(post.file, v.span, "declared here")
                                    .with_help("declare `input NAME: dimension` in the neuron and use it in its equations"),
                            );
                        }
                        Some(v) => {
                            if let Some(d) = t.dim()
                                && d != v.dim
                            {
                                self.diags.push(
                                    Diagnostic::error(
                                        "unit-mismatch",
                                        format!(
                                            "`post.{}` is {}, but this adds {}",
                                            n.node,
                                            v.dim.describe(),
                                            d.describe()
                                        ),
                                        env.file,
                                        value.span,
                                        format!("this is {}", d.describe()),
                                    )
                                    .with_label(env.file, target.span, v.dim.describe().to_string())
                                    .with_help_opt(convert_help(d, v.dim)),
                                );
                            }
                        }
                    }
                }
                let _ = ctx;
            }
            _ if generic => {
                self.diags.push(
                    Diagnostic::error("invalid-assignment", "outside a handler, a synapse can only add to its postsynaptic neuron's inputs", env.file, s.span, "not a continuous coupling")
                        .with_help("write `post.I_syn += ...` for a continuous contribution, or put the assignment in `on pre { ... }`"),
                );
            }
            _ => {}
        }
    }

    fn stmts(&mut self, env: &Env<'_>, ctx: &ModelCtx, body: &[Stmt], h: Handler) {
        let depth = env.locals.borrow().len();
        for s in body {
            self.stmt(env, ctx, s, h);
        }
        env.locals.borrow_mut().truncate(depth);
    }

    fn stmt(&mut self, env: &Env<'_>, ctx: &ModelCtx, s: &Stmt, h: Handler) {
        let generic = env.pre.is_none() && env.post.is_none();
        match &s.node {
            StmtKind::Error => {}
            StmtKind::Let { name, value } => {
                ctx.push_reads();
                let t = self.expr(env, value);
                let reads = ctx.pop_reads();
                ctx.note(|r| r.merge(&reads));
                env.push_local(
                    &name.node,
                    t,
                    if reads.per_synapse.is_some() {
                        LocalKind::PerSynapse
                    } else {
                        LocalKind::Plain
                    },
                );
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let t = self.expr(env, cond);
                self.need_bool(env, cond, t, "the condition of `if`");
                self.stmts(env, ctx, then, h);
                self.stmts(env, ctx, otherwise, h);
            }
            StmtKind::Assign { target, op, value } => {
                ctx.push_reads();
                let vt = self.expr(env, value);
                let reads = ctx.pop_reads();
                let (target_dim, target_name) = match &target.node {
                    Target::Pre(n) => {
                        if generic {
                            self.diags.push(
                                Diagnostic::error(
                                    "invalid-assignment",
                                    format!(
                                        "a synapse cannot change its presynaptic neuron: `pre.{}`",
                                        n.node
                                    ),
                                    env.file,
                                    target.span,
                                    "read-only",
                                )
                                .with_help(
                                    "`pre.x` can be read; keep presynaptic traces in a `pre state`",
                                ),
                            );
                        }
                        return;
                    }
                    Target::Post(n) => {
                        if h == Handler::Reset {
                            if generic {
                                self.diags.push(Diagnostic::error(
                                    "misplaced-member",
                                    "`post.x` exists only in synapses",
                                    env.file,
                                    target.span,
                                    "not in a synapse",
                                ));
                            }
                            return;
                        }
                        if !matches!(op, AssignOp::Add | AssignOp::Sub) {
                            if generic {
                                self.diags.push(
                                    Diagnostic::error("invalid-assignment", format!("a synapse can add to `post.{}` but not set it", n.node), env.file, target.span, "assigned with `=`")
                                        .with_help(format!("many synapses reach one neuron in the same step; `post.{} += ...` gives the same result in any order", n.node)),
                                );
                            }
                            return;
                        }
                        match env.post {
                            None => (None, n),
                            Some(post) => match post.var(&n.node) {
                                None => {
                                    self.unknown_member(env, post, n, "postsynaptic");
                                    return;
                                }
                                Some(v)
                                    if !matches!(v.kind, VarKind::Input | VarKind::State(_)) =>
                                {
                                    self.diags.push(
                                        Diagnostic::error("invalid-assignment", format!("`{}` of `{}` is not a state or an input, so a synapse cannot add to it", n.node, post.name), env.file, n.span, "read-only")
                                            .with_label(post.file, v.span, "declared here"),
                                    );
                                    return;
                                }
                                Some(v) if v.kind == VarKind::Input => {
                                    // Inputs are set to zero and refilled by the
                                    // continuous couplings at the start of every
                                    // step (spec/semantics.md), after the handlers
                                    // of the step before: an addition here would
                                    // never reach an update.
                                    self.diags.push(
                                        Diagnostic::error("invalid-assignment", format!("`{}` of `{}` is an input, recomputed from the continuous couplings at the start of every step, so an addition in a handler would be lost", n.node, post.name), env.file, n.span, "an input")
                                            .with_label(post.file, v.span, "declared here")
                                            .with_help(format!("add to a state of the neuron (for a jump, `post.v += w`), or keep a `post state g` in the synapse, add to it here and couple it outside the handler: `post.{} += g`", n.node)),
                                    );
                                    return;
                                }
                                Some(v) => (Some(v.dim), n),
                            },
                        }
                    }
                    Target::Local(n) => {
                        if env.local(&n.node).is_some() {
                            if generic {
                                self.diags.push(
                                    Diagnostic::error(
                                        "invalid-assignment",
                                        format!("`{}` is a `let` and cannot be assigned", n.node),
                                        env.file,
                                        n.span,
                                        "a `let` is fixed",
                                    )
                                    .with_help("declare a `state` for a value that changes"),
                                );
                            }
                            return;
                        }
                        let Some(member) = ctx.decl(&n.node).map(|m| m.node.clone()) else {
                            if generic {
                                self.unknown_name(env, n);
                            }
                            return;
                        };
                        let t = self.model_var(env, ctx, &n.node, n.span);
                        match member {
                            MemberKind::State(loc, _) => {
                                if generic {
                                    self.check_state_write(
                                        env,
                                        n,
                                        loc,
                                        *op,
                                        h,
                                        &reads,
                                        target.span,
                                    );
                                }
                            }
                            other => {
                                if generic {
                                    let what = match other {
                                        MemberKind::Parameter(_) => "a parameter",
                                        MemberKind::Input { .. } => "an input",
                                        MemberKind::Let { .. } => "a `let`",
                                        MemberKind::SideLet { .. } => "a sum over synapses",
                                        _ => "a modulator",
                                    };
                                    self.diags.push(
                                        Diagnostic::error("invalid-assignment", format!("`{}` is {what} and cannot be assigned", n.node), env.file, n.span, what.to_string())
                                            .with_help(format!("only a `state` changes during a run: declare `state {} = ...`", n.node)),
                                    );
                                }
                                return;
                            }
                        }
                        (t.dim(), n)
                    }
                };
                if *op == AssignOp::Mul {
                    if let Some(d) = vt.dim()
                        && !d.is_dimensionless()
                    {
                        self.diags.push(Diagnostic::error(
                            "unit-mismatch",
                            format!(
                                "`*=` scales by a dimensionless factor, but this is {}",
                                d.describe()
                            ),
                            env.file,
                            value.span,
                            format!("this is {}", d.describe()),
                        ));
                    }
                    return;
                }
                if !self.need_num_or_bool(env, value, vt) {
                    return;
                }
                if let (Some(td), Some(vd)) = (target_dim, vt.dim())
                    && td != vd
                {
                    let verb = if *op == AssignOp::Set {
                        "assigned"
                    } else {
                        "added to"
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "unit-mismatch",
                            format!(
                                "`{}` is {}, but it is {verb} {}",
                                target_name.node,
                                td.describe(),
                                vd.describe()
                            ),
                            env.file,
                            value.span,
                            format!("this is {}", vd.describe()),
                        )
                        .with_label(env.file, target.span, format!("this is {}", td.describe()))
                        .with_help_opt(convert_help(vd, td)),
                    );
                }
                if !dims_agree(target_dim, vt.dim()) {
                    // reported above
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_state_write(
        &mut self,
        env: &Env<'_>,
        n: &Ident,
        loc: StateLoc,
        op: AssignOp,
        h: Handler,
        reads: &Reads,
        span: Span,
    ) {
        let additive = matches!(op, AssignOp::Add | AssignOp::Sub);
        match (loc, h) {
            (StateLoc::Pre, Handler::OnPre) | (StateLoc::Post, Handler::OnPost) => {
                if let Some((s, sp)) = &reads.per_synapse {
                    self.per_synapse_dep(env, n, loc, s, *sp);
                }
            }
            (StateLoc::Pre, Handler::OnPost) | (StateLoc::Post, Handler::OnPre) if !additive => {
                let which = if loc == StateLoc::Pre {
                    "pre state"
                } else {
                    "post state"
                };
                self.diags.push(
                    Diagnostic::error("invalid-assignment", format!("the {which} `{}` is shared by many synapses, so this handler may only add to it", n.node), env.file, span, "set once per synapse")
                        .with_help(format!("write `{} += ...`: additions give the same result in any order of delivery", n.node)),
                );
            }
            _ => {}
        }
    }

    // ---- circuits ------------------------------------------------------

    fn check_circuit(&mut self, m: usize, file: FileId, c: &ast::CircuitItem) {
        let env = Env::new(m, file);
        let env = Env {
            allow: Allow {
                time: false,
                ..Allow::default()
            },
            ..env
        };
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut dup = |this: &mut Checker, n: &Ident| {
            if let Some(prev) = names.get(&n.node) {
                this.diags.push(
                    Diagnostic::error(
                        "duplicate-definition",
                        format!("`{}` is defined twice in circuit `{}`", n.node, c.name.node),
                        file,
                        n.span,
                        "defined again here",
                    )
                    .with_label(file, *prev, "first defined here"),
                );
                false
            } else {
                names.insert(n.node.clone(), n.span);
                true
            }
        };
        // The parameters, visible to every member like `let`s.
        if let Some((id, ItemKind::Circuit)) = self.resolve(m, &c.name.node) {
            for (n, t) in self.circuit_param_types(id) {
                env.push_local(&n, t, LocalKind::Plain);
            }
        }
        for (n, _) in &c.params {
            dup(self, n);
        }
        // Pass 1: populations, modulators and lets, in order.
        let mut pops: HashMap<String, PopInfo> = HashMap::new();
        let mut projections: HashMap<String, Rc<ModelInfo>> = HashMap::new();
        let mut modulators: HashMap<String, (Ty, Span)> = HashMap::new();
        for mem in &c.members {
            match &mem.node {
                CircuitMemberKind::Let { name, value } => {
                    let t = self.expr(&env, value);
                    if dup(self, name) {
                        env.push_local(&name.node, t, LocalKind::Plain);
                    }
                }
                CircuitMemberKind::Modulator { name, value } => {
                    let tenv = Env {
                        allow: Allow {
                            time: true,
                            ..env.allow
                        },
                        locals: RefCell::new(env.locals.borrow().clone()),
                        ..Env::new(m, file)
                    };
                    let t = self.expr(&tenv, value);
                    if dup(self, name) {
                        modulators.insert(name.node.clone(), (t, name.span));
                    }
                }
                CircuitMemberKind::Population(p) => {
                    let model = self.population_model(&env, &p.model);
                    if dup(self, &p.name) {
                        let size = self.expr(&env, &p.size).konst();
                        pops.insert(p.name.node.clone(), PopInfo { model, size });
                    }
                }
                CircuitMemberKind::Project(pr) => {
                    if let Some(n) = &pr.name
                        && dup(self, n)
                        && let Some((id, ItemKind::Synapse)) = self.resolve(m, &pr.model.node)
                        && let Some(info) = self.model_info(id)
                    {
                        projections.insert(n.node.clone(), info);
                    }
                }
                _ => {}
            }
        }
        // Pass 2: everything else, now that all names are known.
        // Recordings of one variable of one population or projection write
        // one file: a second would replace the first's data.
        let mut recorded: HashMap<(&str, &str), Span> = HashMap::new();
        for mem in &c.members {
            let CircuitMemberKind::Record(r) = &mem.node else {
                continue;
            };
            if r.what.node == "spikes" {
                continue;
            }
            for sel in &r.of {
                let key = (r.what.node.as_str(), sel.name.node.as_str());
                match recorded.get(&key) {
                    Some(&first) => self.diags.push(
                        Diagnostic::error(
                            "duplicate-definition",
                            format!(
                                "`{}` of `{}` is recorded twice: both write one file, and the second would replace the first's data",
                                key.0, key.1
                            ),
                            env.file,
                            mem.span,
                            "the second",
                        )
                        .with_label(env.file, first, "the first")
                        .with_help("record each variable once: one `every` period, or one list of `at` times"),
                    ),
                    None => {
                        recorded.insert(key, mem.span);
                    }
                }
            }
        }
        for mem in &c.members {
            match &mem.node {
                CircuitMemberKind::Population(p) => {
                    self.check_population(&env, p, &pops, &modulators)
                }
                CircuitMemberKind::Project(pr) => {
                    self.check_projection(&env, pr, mem.span, &pops, &modulators)
                }
                CircuitMemberKind::Record(r) => self.check_record(&env, r, &pops, &projections),
                _ => {}
            }
        }
    }

    fn population_model(&mut self, env: &Env<'_>, model: &Ident) -> PopModel {
        if builtins::GENERATORS.contains(&model.node.as_str()) {
            return PopModel::Generator(model.node.clone());
        }
        match self.resolve(env.module, &model.node) {
            Some((id, ItemKind::Neuron)) => self
                .model_info(id)
                .map_or(PopModel::Unknown, PopModel::Neuron),
            Some((_, kind)) => {
                self.diags.push(
                    Diagnostic::error("unknown-model", format!("`{}` is a {}, but a population needs a neuron model", model.node, kind.word()), env.file, model.span, format!("a {}", kind.word()))
                        .with_help("populations instantiate neuron models or the inputs `poisson` and `spikes`; synapse models go in `project`"),
                );
                PopModel::Unknown
            }
            None => {
                self.unknown_model(env, model, "neuron");
                PopModel::Unknown
            }
        }
    }

    fn unknown_model(&mut self, env: &Env<'_>, model: &Ident, kind: &str) {
        if self
            .failed_imports
            .contains(&(env.module, model.node.clone()))
        {
            return;
        }
        let mut cands = self.visible_names(env.module);
        if kind == "neuron" {
            cands.extend(builtins::GENERATORS.iter().map(|s| s.to_string()));
        }
        let mut d = Diagnostic::error(
            "unknown-model",
            format!("unknown {kind} model `{}`", model.node),
            env.file,
            model.span,
            "not defined or imported",
        );
        let std_has = circ_stdlib::MODULES.iter().find(|(_, src)| {
            src.contains(&format!("{kind} {} ", model.node))
                || src.contains(&format!("{kind} {} {{", model.node))
        });
        if let Some(c) = circ_units::closest(&model.node, cands.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else if let Some((m, _)) = std_has {
            d = d.with_help(format!(
                "it is in the standard library: add `use std::{m}::{}`",
                model.node
            ));
        }
        self.diags.push(d);
    }

    fn check_population(
        &mut self,
        env: &Env<'_>,
        p: &ast::Population,
        pops: &HashMap<String, PopInfo>,
        modulators: &HashMap<String, (Ty, Span)>,
    ) {
        let t = self.expr(env, &p.size);
        if self.need_count(env, &p.size, t, "a population size") && t.konst() == Some(0.0) {
            self.diags.push(Diagnostic::error(
                "invalid-value",
                "a population needs at least one neuron",
                env.file,
                p.size.span,
                "zero",
            ));
        }
        let Some(info) = pops.get(&p.name.node) else {
            return;
        };
        let aenv = Env {
            allow: Allow {
                time: true,
                ..env.allow
            },
            locals: RefCell::new(env.locals.borrow().clone()),
            ..Env::new(env.module, env.file)
        };
        match &info.model {
            PopModel::Unknown => {
                for a in &p.args {
                    self.expr(&aenv, &a.value);
                }
            }
            PopModel::Generator(g) => {
                // A Poisson rate may differ per neuron (`i`, `values`).
                let genv = Env {
                    allow: Allow {
                        element: true,
                        ..aenv.allow
                    },
                    locals: RefCell::new(aenv.locals.borrow().clone()),
                    ..Env::new(env.module, env.file)
                };
                self.check_generator(&genv, g, p)
            }
            PopModel::Neuron(_)
                if p.method
                    .as_ref()
                    .is_some_and(|n| !builtins::METHODS.contains(&n.node.as_str())) =>
            {
                if let Some(n) = &p.method {
                    let mut d = Diagnostic::error(
                        "unknown-method",
                        format!("unknown integration method `{}`", n.node),
                        env.file,
                        n.span,
                        "not a method",
                    );
                    let list = format!("methods: {}", builtins::METHODS.join(", "));
                    d = suggest(d, &n.node, builtins::METHODS.iter().copied(), Some(list));
                    self.diags.push(d);
                }
            }
            PopModel::Neuron(model) => {
                let aenv = Env {
                    allow: Allow {
                        element: true,
                        ..aenv.allow
                    },
                    locals: RefCell::new(aenv.locals.borrow().clone()),
                    ..Env::new(env.module, env.file)
                };
                let model = Rc::clone(model);
                self.bind_args(&aenv, &model, &p.args, &p.inits, p.model.span);
                self.check_modulators(env, &model, p.model.span, modulators);
            }
        }
        if let Some(pos) = &p.positions {
            let t = self.expr(env, pos);
            if !matches!(t, Ty::Positions | Ty::Error) {
                self.diags.push(
                    Diagnostic::error("type-mismatch", format!("`at` needs positions, but this is {}", t.describe()), env.file, pos.span, "not positions")
                        .with_help("use `grid(columns, spacing)`, `line(spacing)` or `random_positions(extent)`"),
                );
            }
        }
    }

    fn check_generator(&mut self, env: &Env<'_>, g: &str, p: &ast::Population) {
        let params: &[(&str, bool)] = if g == "poisson" {
            &[("rate", true)]
        } else {
            &[("times", true), ("indices", false)]
        };
        for a in &p.args {
            let Some(n) = &a.name else {
                self.diags.push(Diagnostic::error(
                    "unknown-parameter",
                    format!(
                        "name the parameter of `{g}`: `{}(...)`",
                        if g == "poisson" {
                            "rate = 5 Hz"
                        } else {
                            "times = [...]"
                        }
                    ),
                    env.file,
                    a.value.span,
                    "unnamed",
                ));
                continue;
            };
            let t = self.expr(env, &a.value);
            match n.node.as_str() {
                "rate" if g == "poisson" => {
                    self.need_dim(
                        env,
                        &a.value,
                        t,
                        builtins::frequency(),
                        "parameter-dimension",
                        "the rate of `poisson`",
                    );
                }
                "times" | "indices" if g == "spikes" => {
                    let want = if n.node == "times" {
                        Some(builtins::time())
                    } else {
                        Some(Dim::ONE)
                    };
                    let one_each = !p
                        .args
                        .iter()
                        .any(|a| a.name.as_ref().is_some_and(|x| x.node == "indices"));
                    match t {
                        Ty::Array(d) if dims_agree(d, want) => {}
                        Ty::File | Ty::Error => {}
                        // One spike per neuron at its own time (a packet:
                        // `times = 50 ms + normal(0 ms, 2 ms)`).
                        Ty::Num { dim, .. }
                            if n.node == "times" && one_each && dims_agree(dim, want) => {}
                        other => {
                            let what = if n.node == "times" {
                                "an array of times, `[1 ms, 5 ms]`,"
                            } else {
                                "an array of neuron indices"
                            };
                            self.diags.push(Diagnostic::error("parameter-dimension", format!("`{}` of `spikes` must be {what} or `from \"file\"`, but this is {}", n.node, match other { Ty::Array(Some(d)) => format!("an array of {}", d.describe()), o => o.describe() }), env.file, a.value.span, "wrong kind of value"));
                        }
                    }
                }
                _ => {
                    let names: Vec<&str> = params.iter().map(|p| p.0).collect();
                    let mut d = Diagnostic::error(
                        "unknown-parameter",
                        format!("`{g}` has no parameter `{}`", n.node),
                        env.file,
                        n.span,
                        "unknown parameter",
                    );
                    let list = format!("its parameters are: {}", names.join(", "));
                    d = suggest(d, &n.node, names.iter().copied(), Some(list));
                    self.diags.push(d);
                }
            }
        }
        for (name, required) in params {
            if *required
                && !p
                    .args
                    .iter()
                    .any(|a| a.name.as_ref().is_some_and(|n| n.node == *name))
            {
                self.diags.push(
                    Diagnostic::error(
                        "missing-parameter",
                        format!("`{g}` needs `{name}`"),
                        env.file,
                        p.model.span,
                        format!("`{name}` not given"),
                    )
                    .with_help(if g == "poisson" {
                        "e.g. `poisson[100](rate = 5 Hz)`"
                    } else {
                        "e.g. `spikes[2](times = [10 ms, 20 ms], indices = [0, 1])`"
                    }),
                );
            }
        }
        if let Some((n, _)) = p.inits.first() {
            self.diags.push(Diagnostic::error(
                "unknown-parameter",
                format!("`{g}` has no state to initialise (`{}`)", n.node),
                env.file,
                n.span,
                "no such state",
            ));
        }
    }

    /// Checks `(param = value, ...)` and `{ state = value }` against a model.
    fn bind_args(
        &mut self,
        env: &Env<'_>,
        model: &ModelInfo,
        args: &[ast::Arg],
        inits: &[(Ident, Expr)],
        site: Span,
    ) {
        let mut given: HashSet<&str> = HashSet::new();
        for a in args {
            let Some(n) = &a.name else {
                self.expr(env, &a.value);
                self.diags.push(
                    Diagnostic::error(
                        "unknown-parameter",
                        format!(
                            "name the parameter this value is for: `{}(tau = 10 ms)`",
                            model.name
                        ),
                        env.file,
                        a.value.span,
                        "unnamed value",
                    )
                    .with_help(format!(
                        "parameters of `{}`: {}",
                        model.name,
                        model.param_names().join(", ")
                    )),
                );
                continue;
            };
            let t = self.expr(env, &a.value);
            let Some(v) = model.param(&n.node) else {
                self.no_such(env, model, n, "parameter", |k| {
                    matches!(k, VarKind::Parameter { .. })
                });
                continue;
            };
            given.insert(&n.node);
            self.need_dim(
                env,
                &a.value,
                t,
                v.dim,
                "parameter-dimension",
                &format!("the parameter `{}` of `{}`", n.node, model.name),
            );
        }
        for v in &model.vars {
            if matches!(v.kind, VarKind::Parameter { .. })
                && !v.has_default
                && !given.contains(v.name.as_str())
            {
                self.diags.push(
                    Diagnostic::error(
                        "missing-parameter",
                        format!(
                            "`{}` needs a value for its parameter `{}`",
                            model.name, v.name
                        ),
                        env.file,
                        site,
                        format!("`{}` not given", v.name),
                    )
                    .with_label(model.file, v.span, "declared without a default")
                    .with_help(format!("pass it: `{}(... {} = ...)`", model.name, v.name)),
                );
            }
        }
        for (n, value) in inits {
            let t = self.expr(env, value);
            let Some(v) = model
                .var(&n.node)
                .filter(|v| matches!(v.kind, VarKind::State(_)))
            else {
                self.no_such(env, model, n, "state", |k| matches!(k, VarKind::State(_)));
                continue;
            };
            self.need_dim(
                env,
                value,
                t,
                v.dim,
                "parameter-dimension",
                &format!("the initial value of `{}`", n.node),
            );
        }
    }

    fn no_such(
        &mut self,
        env: &Env<'_>,
        model: &ModelInfo,
        n: &Ident,
        what: &str,
        pick: impl Fn(VarKind) -> bool,
    ) {
        let names: Vec<&str> = model
            .vars
            .iter()
            .filter(|v| pick(v.kind))
            .map(|v| v.name.as_str())
            .collect();
        let mut d = Diagnostic::error(
            "unknown-parameter",
            format!("`{}` has no {what} `{}`", model.name, n.node),
            env.file,
            n.span,
            format!("not a {what} of `{}`", model.name),
        );
        if let Some(v) = model.var(&n.node) {
            let actual = match v.kind {
                VarKind::Parameter { .. } => "a parameter (set it in `(...)`)",
                VarKind::State(_) => "a state (initialise it in `{...}`)",
                VarKind::Input => "an input",
                VarKind::Let => "a `let`",
                VarKind::Modulator => "a modulator",
            };
            d = d.with_help(format!("`{}` is {actual}", n.node));
        } else if let Some(c) = circ_units::closest(&n.node, names.iter().copied()) {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else {
            d = d.with_help(format!(
                "its {what}s are: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        self.diags.push(d);
    }

    fn check_modulators(
        &mut self,
        env: &Env<'_>,
        model: &ModelInfo,
        site: Span,
        modulators: &HashMap<String, (Ty, Span)>,
    ) {
        for v in model.vars.iter().filter(|v| v.kind == VarKind::Modulator) {
            match modulators.get(&v.name) {
                None => self.diags.push(
                    Diagnostic::error(
                        "unknown-modulator",
                        format!(
                            "`{}` reads the modulator `{}`, but this circuit defines none",
                            model.name, v.name
                        ),
                        env.file,
                        site,
                        format!("uses `{}`", model.name),
                    )
                    .with_label(model.file, v.span, "declared here")
                    .with_help(format!(
                        "define it in the circuit: `modulator {} = ...`",
                        v.name
                    )),
                ),
                Some((t, span)) => {
                    if let Some(d) = t.dim()
                        && d != v.dim
                    {
                        self.diags.push(
                            Diagnostic::error(
                                "unknown-modulator",
                                format!(
                                    "the modulator `{}` is {}, but `{}` expects {}",
                                    v.name,
                                    d.describe(),
                                    model.name,
                                    v.dim.describe()
                                ),
                                env.file,
                                *span,
                                d.describe().to_string(),
                            )
                            .with_label(
                                model.file,
                                v.span,
                                format!("expects {}", v.dim.describe()),
                            ),
                        );
                    }
                }
            }
        }
    }

    fn check_projection(
        &mut self,
        env: &Env<'_>,
        pr: &ast::Projection,
        span: Span,
        pops: &HashMap<String, PopInfo>,
        modulators: &HashMap<String, (Ty, Span)>,
    ) {
        let mut ends: Vec<Option<PopModel>> = vec![];
        for n in pr.sources.iter().chain(pr.targets.iter()) {
            match pops.get(&n.node) {
                Some(p) => ends.push(Some(p.model.clone())),
                None => {
                    let mut d = Diagnostic::error(
                        "unknown-name",
                        format!("no population named `{}`", n.node),
                        env.file,
                        n.span,
                        "not a population of this circuit",
                    );
                    d = suggest(d, &n.node, pops.keys().map(String::as_str), None);
                    self.diags.push(d);
                    ends.push(None);
                }
            }
        }
        let sels = pr.source_sel.iter().chain(&pr.target_sel);
        for (n, sel) in pr.sources.iter().chain(&pr.targets).zip(sels) {
            if let Some(ix) = sel {
                let size = pops.get(&n.node).and_then(|p| p.size);
                self.check_subgroup(env, ix, &n.node, size);
            }
        }
        let (srcs, tgts) = ends.split_at(pr.sources.len());
        for (n, t) in pr.targets.iter().zip(tgts) {
            if let Some(PopModel::Generator(g)) = t {
                self.diags.push(Diagnostic::error(
                    "unknown-model",
                    format!("`{}` is a `{g}` input and cannot receive synapses", n.node),
                    env.file,
                    n.span,
                    "an input generator",
                ));
            }
        }
        let aenv = Env {
            allow: Allow {
                indices: true,
                time: false,
                distance: false,
                element: false,
            },
            locals: RefCell::new(env.locals.borrow().clone()),
            ..Env::new(env.module, env.file)
        };
        let syn = match self.resolve(env.module, &pr.model.node) {
            Some((id, ItemKind::Synapse)) => self.model_info(id).map(|i| (id, i)),
            Some((_, kind)) => {
                self.diags.push(
                    Diagnostic::error(
                        "unknown-model",
                        format!(
                            "`{}` is a {}, but a projection needs a synapse model",
                            pr.model.node,
                            kind.word()
                        ),
                        env.file,
                        pr.model.span,
                        format!("a {}", kind.word()),
                    )
                    .with_help("e.g. `project E -> I : ExpCond(w = 1 nS) connect bernoulli(0.1)`"),
                );
                None
            }
            None => {
                self.unknown_model(env, &pr.model, "synapse");
                None
            }
        };
        match &syn {
            Some((_, info)) => {
                let info = Rc::clone(info);
                self.bind_args(&aenv, &info, &pr.args, &pr.inits, pr.model.span);
                self.check_modulators(env, &info, pr.model.span, modulators);
            }
            None => {
                for a in &pr.args {
                    self.expr(&aenv, &a.value);
                }
            }
        }
        self.check_rule(&aenv, &pr.rule);
        if let (RuleKind::File { args, .. } | RuleKind::FileNamed { args, .. }, Some((_, info))) =
            (&pr.rule.kind.node, &syn)
        {
            for n in args.iter().filter_map(|a| a.name.as_ref()) {
                let per_synapse = |v: &VarInfo| {
                    matches!(
                        v.kind,
                        VarKind::State(StateLoc::Own) | VarKind::Parameter { per: true }
                    )
                };
                if ["source", "target", "delay"].contains(&n.node.as_str())
                    || info.var(&n.node).is_some_and(per_synapse)
                {
                    continue;
                }
                let mut d = Diagnostic::error(
                    "unknown-parameter",
                    format!("a file column cannot be bound to `{}`", n.node),
                    env.file,
                    n.span,
                    "not a binding",
                );
                let cands: Vec<&str> = ["source", "target", "delay"]
                    .into_iter()
                    .chain(
                        info.vars
                            .iter()
                            .filter(|v| per_synapse(v))
                            .map(|v| v.name.as_str()),
                    )
                    .collect();
                let list = format!("columns bind to: {}", cands.join(", "));
                d = suggest(d, &n.node, cands.iter().copied(), Some(list));
                self.diags.push(d);
            }
        }
        if let Some(side) = &pr.delay_side
            && !["axonal", "dendritic"].contains(&side.node.as_str())
        {
            let d = Diagnostic::error(
                "unknown-name",
                format!("`{}` is not where a delay can lie", side.node),
                env.file,
                side.span,
                "not `axonal` or `dendritic`",
            );
            self.diags.push(suggest(
                d,
                &side.node,
                ["axonal", "dendritic"],
                Some("a delay is `axonal` (the default, Brian2's) or `dendritic` (NEST's)".into()),
            ));
        }
        if let Some(d) = &pr.delay {
            let t = self.expr(&aenv, d);
            if self.need_dim(
                &aenv,
                d,
                t,
                builtins::time(),
                "argument-dimension",
                "a synaptic delay",
            ) && let Some(k) = t.konst()
                && k < 0.0
            {
                self.diags.push(Diagnostic::error(
                    "invalid-value",
                    "a synaptic delay cannot be negative",
                    env.file,
                    d.span,
                    "negative",
                ));
            }
        }
        // Bind the synapse to each concrete pair of neuron models.
        let Some((sid, _)) = syn else { return };
        let mut done: HashSet<(String, String)> = HashSet::new();
        for s in srcs.iter().flatten() {
            for t in tgts.iter().flatten() {
                let as_info = |p: &PopModel| match p {
                    PopModel::Neuron(i) => Some(Rc::clone(i)),
                    PopModel::Generator(g) => Some(Rc::new(generator_info(g, env.file))),
                    PopModel::Unknown => None,
                };
                let (Some(pre), Some(post)) = (as_info(s), as_info(t)) else {
                    continue;
                };
                if matches!(t, PopModel::Generator(_)) {
                    continue;
                }
                if !done.insert((pre.name.clone(), post.name.clone())) {
                    continue;
                }
                let before = self.diags.len();
                self.check_model(sid, Some(&pre), Some(&post), Some((env.file, span)));
                let keys = self.generic_keys.get(&sid).cloned().unwrap_or_default();
                let fresh: Vec<Diagnostic> = self
                    .diags
                    .drain(before..)
                    .filter(|d| {
                        d.primary()
                            .is_none_or(|l| !keys.contains(&(d.code, l.span)))
                    })
                    .collect();
                for mut d in fresh {
                    if !d
                        .labels
                        .iter()
                        .any(|l| l.file == env.file && l.span == span)
                    {
                        d = d.with_label(
                            env.file,
                            span,
                            format!(
                                "in this projection (`pre` is `{}`, `post` is `{}`)",
                                pre.name, post.name
                            ),
                        );
                    }
                    self.diags.push(d);
                }
            }
        }
    }

    /// `from NAME`: NAME must be a string constant of the circuit (a
    /// `let` or a circuit parameter), which names the file.
    pub(crate) fn file_named(&mut self, env: &Env<'_>, n: &ast::Ident) -> Ty {
        match self.name(env, n) {
            Ty::Str => Ty::File,
            Ty::Error => Ty::Error,
            other => {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!(
                            "`from {}` reads the file a string names, but `{}` is {}",
                            n.node,
                            n.node,
                            other.describe()
                        ),
                        env.file,
                        n.span,
                        "not a string",
                    )
                    .with_help(format!(
                        "name the file in the circuit: `let {} = \"edges.csv\"`, or as a parameter: `circuit C({} = \"edges.csv\")`",
                        n.node, n.node
                    )),
                );
                Ty::Error
            }
        }
    }

    fn check_rule(&mut self, env: &Env<'_>, rule: &ast::ConnectRule) {
        match &rule.kind.node {
            RuleKind::Named { name, args } => {
                let Some(params) = builtins::rule(&name.node) else {
                    let mut d = Diagnostic::error(
                        "unknown-rule",
                        format!("unknown connection rule `{}`", name.node),
                        env.file,
                        name.span,
                        "not a rule",
                    );
                    let list = format!(
                        "rules: {}, `where COND`, `from \"file\"`",
                        builtins::RULE_NAMES.join(", ")
                    );
                    d = suggest(
                        d,
                        &name.node,
                        builtins::RULE_NAMES.iter().copied(),
                        Some(list),
                    );
                    self.diags.push(d);
                    return;
                };
                if args.len() != params.len() {
                    self.diags.push(Diagnostic::error(
                        "argument-count",
                        format!(
                            "`{}` takes {} argument{}, but {} were given",
                            name.node,
                            params.len(),
                            if params.len() == 1 { "" } else { "s" },
                            args.len()
                        ),
                        env.file,
                        rule.kind.span,
                        if params.is_empty() {
                            "takes no arguments".to_string()
                        } else {
                            format!(
                                "needs `{}`",
                                params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                            )
                        },
                    ));
                    return;
                }
                for (a, p) in args.iter().zip(params) {
                    if let Some(n) = &a.name
                        && n.node != p.name
                    {
                        self.diags.push(Diagnostic::error(
                            "unknown-parameter",
                            format!("`{}` has no parameter `{}`", name.node, n.node),
                            env.file,
                            n.span,
                            format!("expected `{}`", p.name),
                        ));
                        continue;
                    }
                    let aenv = Env {
                        allow: Allow {
                            distance: name.node == "distance",
                            ..env.allow
                        },
                        locals: RefCell::new(env.locals.borrow().clone()),
                        ..Env::new(env.module, env.file)
                    };
                    let t = self.expr(&aenv, &a.value);
                    let what = format!("`{}` of `{}`", p.name, name.node);
                    match p.kind {
                        ParamKind::Count => {
                            self.need_count(&aenv, &a.value, t, &what);
                        }
                        _ if name.node == "matrix" => {
                            if !matches!(t, Ty::Array(_) | Ty::File | Ty::Error) {
                                self.diags.push(Diagnostic::error("type-mismatch", format!("`matrix` needs an array of rows, `[[0, 1], [1, 0]]`, but this is {}", t.describe()), env.file, a.value.span, "not an array"));
                            }
                        }
                        _ => {
                            if self.need_dim(
                                &aenv,
                                &a.value,
                                t,
                                Dim::ONE,
                                "argument-dimension",
                                &format!("the probability {what}"),
                            ) && let Some(k) = t.konst()
                                && !(0.0..=1.0).contains(&k)
                            {
                                self.diags.push(Diagnostic::error(
                                    "invalid-value",
                                    format!(
                                        "a probability must be between 0 and 1, but this is {k}"
                                    ),
                                    env.file,
                                    a.value.span,
                                    "out of range",
                                ));
                            }
                        }
                    }
                }
            }
            RuleKind::Where(c) => {
                let t = self.expr(env, c);
                self.need_bool(env, c, t, "a `where` rule");
            }
            RuleKind::File { args, .. } | RuleKind::FileNamed { args, .. } => {
                if let RuleKind::FileNamed { name, .. } = &rule.kind.node {
                    self.file_named(env, name);
                }
                for a in args {
                    let t = self.expr(env, &a.value);
                    if a.name.is_none() || !matches!(t, Ty::Str | Ty::Error) {
                        self.diags.push(
                            Diagnostic::error("type-mismatch", "a file rule binds names to column names: `from \"edges.csv\"(source = \"pre\", target = \"post\", w = \"weight\")`", env.file, a.value.span, "expected `name = \"column\"`"),
                        );
                    }
                }
                for required in ["source", "target"] {
                    if !args
                        .iter()
                        .any(|a| a.name.as_ref().is_some_and(|n| n.node == required))
                    {
                        self.diags.push(
                            Diagnostic::error("missing-parameter", format!("a file rule needs the column of the {required} indices: `{required} = \"column\"`"), env.file, rule.kind.span, format!("`{required}` not given"))
                                .with_help("e.g. `from \"edges.csv\"(source = \"pre\", target = \"post\")`"),
                        );
                    }
                }
            }
        }
        if let Some(f) = &rule.filter {
            let t = self.expr(env, f);
            self.need_bool(env, f, t, "a `where` condition");
        }
    }

    /// A subgroup of a population at the end of a projection: `[a..b]`, one
    /// index, or an array of increasing indices, all constants within the
    /// population's `size`.
    fn check_subgroup(&mut self, env: &Env<'_>, ix: &Expr, pop: &str, size: Option<f64>) {
        let mut consts: Vec<(f64, Span)> = vec![];
        let mut ok = true;
        let need = |this: &mut Self, e: &Expr, consts: &mut Vec<(f64, Span)>| {
            let t = this.expr(env, e);
            match t.konst() {
                Some(k)
                    if matches!(t, Ty::Num { int: true, .. })
                        && t.dim().is_none_or(|d| d.is_dimensionless()) =>
                {
                    consts.push((k, e.span));
                    true
                }
                _ if matches!(t, Ty::Error) => false,
                _ => {
                    this.diags.push(Diagnostic::error(
                        "not-constant",
                        "a subgroup's indices are constant integers: `E[0..5]`, `E[3]`, `E[[0, 4, 9]]`",
                        env.file,
                        e.span,
                        t.describe(),
                    ));
                    false
                }
            }
        };
        match &ix.node {
            ExprKind::Range(lo, hi) => {
                for (e, default) in [(lo, Some(0.0)), (hi, size)] {
                    match e {
                        Some(e) => ok &= need(self, e, &mut consts),
                        None => {
                            if let Some(d) = default {
                                consts.push((d, ix.span));
                            }
                        }
                    }
                }
                if let [(a, _), (b, sp)] = consts[..]
                    && b <= a
                {
                    self.diags.push(Diagnostic::error(
                        "invalid-value",
                        format!("this subgroup of `{pop}` is empty: {a}..{b}"),
                        env.file,
                        sp,
                        "empty",
                    ));
                    return;
                }
                // A range's end is one past its last neuron.
                if let Some(last) = consts.last_mut() {
                    last.0 -= 1.0;
                }
            }
            ExprKind::Array(items) => {
                for e in items {
                    ok &= need(self, e, &mut consts);
                }
                if ok && consts.windows(2).any(|w| w[1].0 <= w[0].0) {
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            format!("the neurons of a subgroup of `{pop}` are listed in increasing order, each once"),
                            env.file,
                            ix.span,
                            "not increasing",
                        )
                        .with_help("sort the indices and remove repeats"),
                    );
                    return;
                }
            }
            _ => ok &= need(self, ix, &mut consts),
        }
        if !ok {
            return;
        }
        if let Some(n) = size
            && let Some((k, sp)) = consts.iter().find(|(k, _)| *k < 0.0 || *k >= n)
        {
            self.diags.push(Diagnostic::error(
                "invalid-value",
                format!(
                    "`{pop}` has {n} neurons, numbered 0 to {}, so it has no neuron {k}",
                    n - 1.0
                ),
                env.file,
                *sp,
                "out of range",
            ));
        }
    }

    fn check_record(
        &mut self,
        env: &Env<'_>,
        r: &ast::Record,
        pops: &HashMap<String, PopInfo>,
        projections: &HashMap<String, Rc<ModelInfo>>,
    ) {
        let what = r.what.node.as_str();
        for sel in &r.of {
            if let Some(ix) = &sel.index {
                let t = self.expr(env, ix);
                let ok = match t {
                    Ty::Range(d) | Ty::Num { dim: d, .. } => d.is_none_or(|d| d.is_dimensionless()),
                    Ty::Error => true,
                    _ => false,
                };
                if !ok {
                    self.diags.push(Diagnostic::error(
                        "type-mismatch",
                        "a selection is an index or a range of indices: `[0..10]`",
                        env.file,
                        ix.span,
                        "not indices",
                    ));
                }
                if let ExprKind::Range(Some(lo), Some(hi)) = &ix.node
                    && let (Some(a), Some(b)) =
                        (self.expr(env, lo).konst(), self.expr(env, hi).konst())
                    && b < a
                {
                    self.diags.push(Diagnostic::error(
                        "invalid-value",
                        "this range is empty: its end comes before its start",
                        env.file,
                        ix.span,
                        "empty",
                    ));
                }
            }
            let pop = pops.get(&sel.name.node);
            let proj = projections.get(&sel.name.node);
            if pop.is_none() && proj.is_none() {
                let mut d = Diagnostic::error(
                    "unknown-name",
                    format!("nothing named `{}` to record", sel.name.node),
                    env.file,
                    sel.name.span,
                    "not a population or named projection",
                );
                let names = pops.keys().chain(projections.keys()).map(String::as_str);
                d = suggest(d, &sel.name.node, names, None);
                self.diags.push(d);
                continue;
            }
            match what {
                "connectivity" => {
                    if proj.is_none() {
                        self.diags.push(Diagnostic::error(
                            "unknown-member",
                            format!(
                                "`connectivity` is recorded from named projections, and `{}` is a population",
                                sel.name.node
                            ),
                            env.file,
                            sel.name.span,
                            "a population",
                        ));
                    }
                    if let Some(ix) = &sel.index {
                        self.diags.push(
                            Diagnostic::error(
                                "misplaced-member",
                                "a projection's connectivity is recorded whole",
                                env.file,
                                ix.span,
                                "no selection here",
                            )
                            .with_help("record every synapse's `i`, `j` and delay: `record connectivity of P`"),
                        );
                    }
                }
                "spikes" | "rate" => {
                    if proj.is_some() {
                        self.diags.push(Diagnostic::error(
                            "unknown-member",
                            format!(
                                "`{what}` are recorded from populations, and `{}` is a projection",
                                sel.name.node
                            ),
                            env.file,
                            sel.name.span,
                            "a projection",
                        ));
                    }
                }
                var => {
                    let info = match (pop.map(|p| &p.model), proj) {
                        (Some(PopModel::Neuron(i)), _) => Some(Rc::clone(i)),
                        (_, Some(i)) => Some(Rc::clone(i)),
                        (Some(PopModel::Generator(g)), _) => {
                            self.diags.push(Diagnostic::error(
                                "unknown-member",
                                format!(
                                    "a `{g}` input has no variable `{var}`; record its `spikes`"
                                ),
                                env.file,
                                r.what.span,
                                "no such variable",
                            ));
                            None
                        }
                        _ => None,
                    };
                    if let Some(info) = info
                        && info.var(var).is_none()
                    {
                        let mut d = Diagnostic::error(
                            "unknown-member",
                            format!("`{}` has no variable `{var}` to record", info.name),
                            env.file,
                            r.what.span,
                            "no such variable",
                        );
                        let cands: Vec<&str> = info
                            .vars
                            .iter()
                            .map(|v| v.name.as_str())
                            .chain(["spikes", "rate"])
                            .collect();
                        d = suggest(d, var, cands.iter().copied(), None);
                        self.diags.push(d);
                    }
                }
            }
        }
        if let Some(e) = &r.every {
            let t = self.expr(env, e);
            self.need_dim(
                env,
                e,
                t,
                builtins::time(),
                "argument-dimension",
                "a sampling period",
            );
        }
        for e in &r.at {
            if matches!(&e.node, ExprKind::Name(n) if n.node == "end") {
                continue;
            }
            let t = self.expr(env, e);
            self.need_dim(
                env,
                e,
                t,
                builtins::time(),
                "argument-dimension",
                "a sampling time",
            );
        }
        // What a recording's form does not allow.
        let misplaced = |why: &str, span: Span| {
            Diagnostic::error(
                "misplaced-member",
                why.to_string(),
                env.file,
                span,
                "not here",
            )
        };
        let at_span = r.at.first().map(|e| e.span);
        if let (Some(e), Some(span)) = (&r.every, at_span) {
            self.diags.push(
                misplaced(
                    "a recording samples `every` period or `at` given times, not both",
                    span,
                )
                .with_label(env.file, e.span, "a period")
                .with_help("keep one of them"),
            );
        }
        if let Some(span) = at_span
            && matches!(what, "spikes" | "rate" | "connectivity")
        {
            self.diags.push(misplaced(
                &format!("`record {what}` takes no sampling times: spikes and rates are recorded all along, connectivity at the end"),
                span,
            ));
        }
        if what == "connectivity"
            && let Some(e) = &r.every
        {
            self.diags.push(misplaced(
                "`record connectivity` takes no period: the synapses are written once, at the end",
                e.span,
            ));
        }
        if let Some(w) = &r.window {
            let t = self.expr(env, w);
            self.need_dim(
                env,
                w,
                t,
                builtins::time(),
                "argument-dimension",
                "a rate window",
            );
            if what != "rate" {
                self.diags.push(Diagnostic::error(
                    "misplaced-member",
                    "`window` applies to `record rate` only",
                    env.file,
                    w.span,
                    "not a rate recording",
                ));
            }
        } else if what == "rate" {
            self.diags.push(Diagnostic::error(
                "missing-parameter",
                "`record rate` needs a window: `record rate of E window 5 ms`",
                env.file,
                r.what.span,
                "no window",
            ));
        }
    }

    /// The types of a circuit's parameters, from their defaults (each may
    /// read the ones before it); recorded in the program for lowering and
    /// the command line's `--set`.
    fn circuit_param_types(&mut self, id: ItemId) -> Vec<(String, Ty)> {
        if let Some(done) = self.prog.circuit_params.get(&id) {
            return done.clone();
        }
        let (Some(file), Some(ast::Item::Circuit(c))) =
            (self.prog.file(id.module), self.prog.item(id).cloned())
        else {
            return vec![];
        };
        let env = Env::new(id.module, file);
        let mut out = vec![];
        for (n, default) in &c.params {
            let t = self.expr(&env, default);
            env.push_local(&n.node, t, LocalKind::Plain);
            out.push((n.node.clone(), t));
        }
        self.prog.circuit_params.insert(id, out.clone());
        out
    }

    /// `run C(N = 8000)`: each name a parameter of `C`, each value of its
    /// default's dimension.
    fn check_circuit_args(&mut self, env: &Env<'_>, id: ItemId, r: &ast::RunItem) {
        let params = self.circuit_param_types(id);
        for a in &r.args {
            let t = self.expr(env, &a.value);
            let Some(n) = &a.name else {
                self.diags.push(Diagnostic::error(
                    "argument-count",
                    "a circuit's parameters are given by name: `run Coba(N = 8000) for 1 s`",
                    env.file,
                    a.value.span,
                    "unnamed value",
                ));
                continue;
            };
            let Some((_, want)) = params.iter().find(|(p, _)| *p == n.node) else {
                let mut d = Diagnostic::error(
                    "unknown-parameter",
                    format!("circuit `{}` has no parameter `{}`", r.circuit.node, n.node),
                    env.file,
                    n.span,
                    "unknown parameter",
                );
                let list = if params.is_empty() {
                    format!(
                        "`{}` has no parameters; declare them: `circuit {}({} = ...) {{ ... }}`",
                        r.circuit.node, r.circuit.node, n.node
                    )
                } else {
                    format!(
                        "its parameters: {}",
                        params
                            .iter()
                            .map(|p| p.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                d = suggest(d, &n.node, params.iter().map(|p| p.0.as_str()), Some(list));
                self.diags.push(d);
                continue;
            };
            if *want == Ty::Str && !matches!(t, Ty::Str | Ty::Error) {
                self.diags.push(Diagnostic::error(
                    "type-mismatch",
                    format!(
                        "the parameter `{}` of `{}` names a file (a string), but this is {}",
                        n.node,
                        r.circuit.node,
                        t.describe()
                    ),
                    env.file,
                    a.value.span,
                    "expected a string",
                ));
            } else if let Some(d) = want.dim() {
                self.need_dim(
                    env,
                    &a.value,
                    t,
                    d,
                    "parameter-dimension",
                    &format!("the parameter `{}` of `{}`", n.node, r.circuit.node),
                );
            }
        }
    }

    fn check_run(&mut self, m: usize, file: FileId, r: &ast::RunItem) {
        let env = Env::new(m, file);
        match self.resolve(m, &r.circuit.node) {
            Some((id, ItemKind::Circuit)) => self.check_circuit_args(&env, id, r),
            Some((_, kind)) => self.diags.push(Diagnostic::error(
                "unknown-name",
                format!(
                    "`{}` is a {}, but `run` needs a circuit",
                    r.circuit.node,
                    kind.word()
                ),
                env.file,
                r.circuit.span,
                format!("a {}", kind.word()),
            )),
            None => {
                let circuits: Vec<String> = self
                    .visible_names(m)
                    .into_iter()
                    .filter(|n| matches!(self.resolve(m, n), Some((_, ItemKind::Circuit))))
                    .collect();
                let mut d = Diagnostic::error(
                    "unknown-name",
                    format!("no circuit named `{}`", r.circuit.node),
                    file,
                    r.circuit.span,
                    "not a circuit",
                );
                if let Some(c) =
                    circ_units::closest(&r.circuit.node, circuits.iter().map(String::as_str))
                {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                self.diags.push(d);
            }
        }
        let t = self.expr(&env, &r.duration);
        if self.need_dim(
            &env,
            &r.duration,
            t,
            builtins::time(),
            "argument-dimension",
            "the duration of a run",
        ) && let Some(k) = t.konst()
            && k <= 0.0
        {
            self.diags.push(Diagnostic::error(
                "invalid-value",
                "a run must last longer than zero",
                file,
                r.duration.span,
                "not positive",
            ));
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (n, v) in &r.settings {
            let t = self.expr(&env, v);
            if let Some(prev) = seen.insert(&n.node, n.span) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-definition",
                        format!("`{}` is set twice", n.node),
                        file,
                        n.span,
                        "set again",
                    )
                    .with_label(file, prev, "first set here"),
                );
                continue;
            }
            match builtins::run_setting(&n.node) {
                None => {
                    let mut d = Diagnostic::error(
                        "unknown-setting",
                        format!("`run` has no setting `{}`", n.node),
                        file,
                        n.span,
                        "unknown setting",
                    );
                    let list = format!("settings: {}", builtins::RUN_SETTINGS.join(", "));
                    d = suggest(
                        d,
                        &n.node,
                        builtins::RUN_SETTINGS.iter().copied(),
                        Some(list),
                    );
                    self.diags.push(d);
                }
                Some(ParamKind::Time) => {
                    if self.need_dim(
                        &env,
                        v,
                        t,
                        builtins::time(),
                        "argument-dimension",
                        &format!("`{}`", n.node),
                    ) && let Some(k) = t.konst()
                        && k <= 0.0
                    {
                        self.diags.push(Diagnostic::error(
                            "invalid-value",
                            format!("`{}` must be positive", n.node),
                            file,
                            v.span,
                            "not positive",
                        ));
                    }
                }
                Some(_) => {
                    self.need_count(&env, v, t, &format!("`{}`", n.node));
                }
            }
        }
    }
}

use circ_syntax::ast::ExprKind;

/// Which handler a statement is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    Reset,
    OnPre,
    OnPost,
}

fn member_name_span(m: &ast::Member) -> Option<Span> {
    match &m.node {
        MemberKind::Parameter(d) | MemberKind::State(_, d) => Some(d.name.span),
        MemberKind::Input { name, .. }
        | MemberKind::Let { name, .. }
        | MemberKind::SideLet { name, .. }
        | MemberKind::Modulator { name, .. } => Some(name.span),
        _ => None,
    }
}
