//! `circ lsp`: a language server on standard input and output (lsp-server
//! for the JSON-RPC transport, lsp-types for the messages). Every request
//! checks the document's current text with the same front end as `circ
//! check` (it takes milliseconds), so what the editor shows is what `circ
//! check` and `circ run` say: diagnostics as the text changes, hover with an
//! expression's dimension and unit or a standard model's documentation, go
//! to definition (into the standard library too: its modules are written
//! to a cache folder to be opened), completion of names, standard models,
//! units and keywords, and the document's symbols.

use circ_diag::{FileId, SourceMap};
use circ_sema::{Analysis, ItemId, Res};
use circ_syntax::ast;
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types as lt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The server's capabilities: full text sync, hover, definition,
/// completion, document symbols.
fn capabilities() -> lt::ServerCapabilities {
    lt::ServerCapabilities {
        text_document_sync: Some(lt::TextDocumentSyncCapability::Kind(
            lt::TextDocumentSyncKind::FULL,
        )),
        hover_provider: Some(lt::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lt::OneOf::Left(true)),
        completion_provider: Some(lt::CompletionOptions {
            trigger_characters: Some(vec![":".into(), ".".into()]),
            ..Default::default()
        }),
        document_symbol_provider: Some(lt::OneOf::Left(true)),
        ..Default::default()
    }
}

/// Runs the server until the client says `exit`; the exit code.
pub fn serve() -> ExitCode {
    let (conn, io) = Connection::stdio();
    let caps = match serde_json::to_value(capabilities()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: circ lsp: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = conn.initialize(caps) {
        eprintln!("error: circ lsp: the client did not initialise: {e}");
        return ExitCode::from(1);
    }
    let mut server = Server::default();
    let code = match server.main_loop(&conn) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: circ lsp: {e}");
            ExitCode::from(1)
        }
    };
    drop(conn);
    let _ = io.join();
    code
}

/// Open documents and the standard library's files on disk.
#[derive(Default)]
struct Server {
    docs: HashMap<lt::Url, String>,
    /// Where `<std>/NAME.circ` was written for go to definition.
    std_files: HashMap<String, PathBuf>,
}

/// A document checked: its files and analysis, with every diagnostic
/// `circ check` gives (file 0 is the document).
struct Checked {
    map: SourceMap,
    analysis: Analysis,
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

impl Server {
    fn main_loop(&mut self, conn: &Connection) -> Result<(), Failed> {
        for msg in &conn.receiver {
            match msg {
                Message::Request(req) => {
                    if conn.handle_shutdown(&req)? {
                        return Ok(());
                    }
                    let resp = self.request(req);
                    conn.sender.send(Message::Response(resp))?;
                }
                Message::Notification(n) => {
                    if let Some(uri) = self.notification(n) {
                        let params = self.publish(&uri);
                        conn.sender.send(Message::Notification(Notification::new(
                            "textDocument/publishDiagnostics".into(),
                            params,
                        )))?;
                    }
                }
                Message::Response(_) => {}
            }
        }
        Ok(())
    }

    /// Applies an open, change or close; the document whose diagnostics
    /// changed.
    fn notification(&mut self, n: Notification) -> Option<lt::Url> {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let p: lt::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.docs
                    .insert(p.text_document.uri.clone(), p.text_document.text);
                Some(p.text_document.uri)
            }
            "textDocument/didChange" => {
                let p: lt::DidChangeTextDocumentParams = serde_json::from_value(n.params).ok()?;
                // Full sync: the last change is the whole text.
                let text = p.content_changes.into_iter().last()?.text;
                self.docs.insert(p.text_document.uri.clone(), text);
                Some(p.text_document.uri)
            }
            "textDocument/didClose" => {
                let p: lt::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.docs.remove(&p.text_document.uri);
                None
            }
            _ => None,
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            "textDocument/hover" => parse(req)
                .map(|p: lt::HoverParams| json(self.hover(&p.text_document_position_params))),
            "textDocument/definition" => parse(req).map(|p: lt::GotoDefinitionParams| {
                json(self.definition(&p.text_document_position_params))
            }),
            "textDocument/completion" => parse(req)
                .map(|p: lt::CompletionParams| json(self.completion(&p.text_document_position))),
            "textDocument/documentSymbol" => parse(req)
                .map(|p: lt::DocumentSymbolParams| json(self.symbols(&p.text_document.uri))),
            other => Err(format!("circ lsp does not handle `{other}`")),
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => error(id, e),
        }
    }

    /// Checks the open document `uri`.
    fn check(&self, uri: &lt::Url) -> Option<(Checked, String)> {
        let text = self.docs.get(uri)?.clone();
        let name = uri
            .to_file_path()
            .map_or_else(|()| uri.to_string(), |p| p.to_string_lossy().into_owned());
        let source = circ_driver::Source::text(name, text.clone());
        let (map, analysis, _) = circ_driver::diagnose(&source, None);
        Some((Checked { map, analysis }, text))
    }

    /// `publishDiagnostics` for `uri`: each diagnostic at its primary
    /// label, those in other files (an imported module) at the top with
    /// where they are.
    fn publish(&self, uri: &lt::Url) -> serde_json::Value {
        let mut out = vec![];
        if let Some((c, text)) = self.check(uri) {
            for d in &c.analysis.diagnostics {
                let d = c.map.resolve_labels(d);
                let Some(primary) = d.primary() else { continue };
                let mut message = d.message.clone();
                if let Some(h) = &d.help {
                    message.push_str(&format!("\nhelp: {h}"));
                }
                for n in &d.notes {
                    message.push_str(&format!("\nnote: {n}"));
                }
                let range = if primary.file == FileId(0) {
                    range_of(&text, primary.span.start, primary.span.end)
                } else {
                    let (line, col) = c.map.line_col(primary.file, primary.span.start);
                    let name = c.map.get(primary.file).map_or("", |f| f.name.as_str());
                    message = format!("in {name}:{line}:{col}: {message}");
                    lt::Range::default()
                };
                let related: Vec<lt::DiagnosticRelatedInformation> = d
                    .labels
                    .iter()
                    .skip(1)
                    .filter(|l| l.file == FileId(0) && !l.message.is_empty())
                    .map(|l| lt::DiagnosticRelatedInformation {
                        location: lt::Location::new(
                            uri.clone(),
                            range_of(&text, l.span.start, l.span.end),
                        ),
                        message: l.message.clone(),
                    })
                    .collect();
                out.push(lt::Diagnostic {
                    range,
                    severity: Some(if d.is_error() {
                        lt::DiagnosticSeverity::ERROR
                    } else {
                        lt::DiagnosticSeverity::WARNING
                    }),
                    code: Some(lt::NumberOrString::String(d.code.to_string())),
                    source: Some("circ".into()),
                    message,
                    related_information: (!related.is_empty()).then_some(related),
                    ..Default::default()
                });
            }
        }
        json(lt::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics: out,
            version: None,
        })
    }

    /// The model named `word` as seen from the document, with its module's
    /// name (`std::neurons`) when it is a standard one.
    fn item_named(c: &Checked, word: &str) -> Option<ItemId> {
        c.analysis.program.resolve(0, word).map(|(id, _)| id)
    }

    fn hover(&self, at: &lt::TextDocumentPositionParams) -> Option<lt::Hover> {
        let (c, text) = self.check(&at.text_document.uri)?;
        let offset = offset_of(&text, at.position)?;
        // A model's name: its documentation.
        if let Some((ws, we)) = word_at(&text, offset) {
            let word = &text[ws..we];
            if let Some(id) = Self::item_named(&c, word)
                && let Some(ast::Item::Model(m)) = c.analysis.program.item(id)
            {
                let module = self_module_name(&c, id);
                let doc = circ_stdlib::find(&format!("{module}::{word}"));
                let kind = match m.kind {
                    ast::ModelKind::Neuron => "neuron",
                    ast::ModelKind::Synapse => "synapse",
                };
                let mut value = format!("**{module}::{word}** ({kind})");
                if let Some(d) = doc {
                    value.push_str("\n\n");
                    value.push_str(&d.doc);
                }
                if let Some(info) = c.analysis.program.model_info(id) {
                    value.push_str("\n\n");
                    for v in &info.vars {
                        value.push_str(&format!("- `{}`: {}\n", v.name, v.dim.describe()));
                    }
                }
                return Some(markdown(value, range_of(&text, ws as u32, we as u32)));
            }
        }
        // An expression: its dimension and unit.
        let (span, ty) = c.analysis.program.type_at(FileId(0), offset as u32)?;
        let what = describe(ty)?;
        let code = text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("");
        let value = format!("`{}`: {what}", code.trim());
        Some(markdown(value, range_of(&text, span.start, span.end)))
    }

    fn definition(
        &mut self,
        at: &lt::TextDocumentPositionParams,
    ) -> Option<lt::GotoDefinitionResponse> {
        let uri = &at.text_document.uri;
        let (c, text) = self.check(uri)?;
        let offset = offset_of(&text, at.position)?;
        let (ws, we) = word_at(&text, offset)?;
        let word = &text[ws..we];
        let span = circ_syntax::Span::new(ws, we);
        // A model's variable: where the model declares it.
        if let Some(Res::ModelVar(name)) = c.analysis.program.resolution(FileId(0), span) {
            let info = model_around(&c, ws)?;
            let v = info.vars.iter().find(|v| v.name == *name)?;
            let (file, vspan) = c.map.resolve(info.file, v.span);
            return self.location(&c, uri, file, vspan.start, vspan.end);
        }
        // An item: a model, circuit, constant or function, here or in a module.
        let id = match c.analysis.program.resolution(FileId(0), span) {
            Some(Res::Const(id) | Res::Fn(id)) => Some(*id),
            _ => Self::item_named(&c, word),
        };
        if let Some(id) = id {
            let name = match c.analysis.program.item(id)? {
                ast::Item::Model(m) => &m.name,
                ast::Item::Circuit(x) => &x.name,
                ast::Item::Const(x) => &x.name,
                ast::Item::Fn(x) => &x.name,
                _ => return None,
            };
            let file = c.analysis.program.file(id.module)?;
            return self.location(&c, uri, file, name.span.start, name.span.end);
        }
        // A population of the circuit around the cursor.
        let ast = c.analysis.program.ast(0)?;
        for item in &ast.items {
            if let ast::Item::Circuit(circuit) = item
                && circuit.span.start as usize <= ws
                && we <= circuit.span.end as usize
            {
                for m in &circuit.members {
                    if let ast::CircuitMemberKind::Population(p) = &m.node
                        && p.name.node == word
                    {
                        return self.location(
                            &c,
                            uri,
                            FileId(0),
                            p.name.span.start,
                            p.name.span.end,
                        );
                    }
                }
            }
        }
        None
    }

    /// The location of `start..end` in `file`: the document, another file
    /// on disk, or a standard module (written out once to be opened).
    fn location(
        &mut self,
        c: &Checked,
        uri: &lt::Url,
        file: FileId,
        start: u32,
        end: u32,
    ) -> Option<lt::GotoDefinitionResponse> {
        let f = c.map.get(file)?;
        let target = if file == FileId(0) {
            uri.clone()
        } else if let Some(module) = f.name.strip_prefix("<std>/") {
            let path = self.std_file(module, &f.text)?;
            lt::Url::from_file_path(path).ok()?
        } else {
            let path = std::path::absolute(&f.name).ok()?;
            lt::Url::from_file_path(path).ok()?
        };
        Some(lt::GotoDefinitionResponse::Scalar(lt::Location::new(
            target,
            range_of(&f.text, start, end),
        )))
    }

    /// `<std>/NAME` written under the cache folder (once per server), read-only.
    fn std_file(&mut self, name: &str, text: &str) -> Option<PathBuf> {
        if let Some(p) = self.std_files.get(name) {
            return Some(p.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("circ-{}", env!("CARGO_PKG_VERSION")))
            .join("std");
        std::fs::create_dir_all(&base).ok()?;
        let path = base.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            circ_runtime::outdir::write_atomic(&path, text.as_bytes()).ok()?;
        }
        self.std_files.insert(name.to_string(), path.clone());
        Some(path)
    }

    fn completion(&self, at: &lt::TextDocumentPositionParams) -> Option<lt::CompletionResponse> {
        let (c, text) = self.check(&at.text_document.uri)?;
        let offset = offset_of(&text, at.position)?;
        let before = &text[..offset];
        let start = before
            .rfind(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .map_or(0, |i| i + ch_len(before, i));
        let prefix = &before[start..];
        let mut items: Vec<(String, lt::CompletionItemKind, Option<String>)> = vec![];
        // `std::neurons::` offers that module's models; `std::` its modules.
        let path = before[..start].trim_end_matches(':');
        if before[..start].ends_with("::") {
            let module = path
                .rsplit(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ':'))
                .next()
                .unwrap_or("");
            if module == "std" {
                for (m, _) in circ_stdlib::MODULES {
                    items.push((m.to_string(), lt::CompletionItemKind::MODULE, None));
                }
            }
            for d in circ_stdlib::models() {
                if format!("std::{}", d.module) == module {
                    let summary = d.doc.lines().next().map(str::to_string);
                    items.push((d.name.clone(), lt::CompletionItemKind::CLASS, summary));
                }
            }
        } else {
            for d in circ_stdlib::models() {
                let summary = d.doc.lines().next().map(str::to_string);
                items.push((d.name.clone(), lt::CompletionItemKind::CLASS, summary));
            }
            if let Some(ast) = c.analysis.program.ast(0) {
                for item in &ast.items {
                    let (name, kind) = match item {
                        ast::Item::Model(m) => (&m.name, lt::CompletionItemKind::CLASS),
                        ast::Item::Circuit(x) => (&x.name, lt::CompletionItemKind::MODULE),
                        ast::Item::Const(x) => (&x.name, lt::CompletionItemKind::CONSTANT),
                        ast::Item::Fn(x) => (&x.name, lt::CompletionItemKind::FUNCTION),
                        _ => continue,
                    };
                    items.push((name.node.clone(), kind, None));
                }
            }
            // The variables of the model around the cursor.
            if let Some(m) = model_around(&c, offset) {
                for v in &m.vars {
                    items.push((
                        v.name.clone(),
                        lt::CompletionItemKind::VARIABLE,
                        Some(v.dim.describe()),
                    ));
                }
            }
            for k in circ_syntax::lexer::KEYWORDS {
                items.push((k.to_string(), lt::CompletionItemKind::KEYWORD, None));
            }
            for u in crate::repl::UNITS {
                let detail = circ_units::lookup(u).map(|x| x.dim.describe());
                items.push((u.to_string(), lt::CompletionItemKind::UNIT, detail));
            }
        }
        items.retain(|(label, ..)| label.starts_with(prefix));
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.dedup_by(|a, b| a.0 == b.0);
        Some(lt::CompletionResponse::Array(
            items
                .into_iter()
                .map(|(label, kind, detail)| lt::CompletionItem {
                    label,
                    kind: Some(kind),
                    detail,
                    ..Default::default()
                })
                .collect(),
        ))
    }

    fn symbols(&self, uri: &lt::Url) -> Option<lt::DocumentSymbolResponse> {
        let (c, text) = self.check(uri)?;
        let ast = c.analysis.program.ast(0)?;
        let sym = |name: &str, kind, span: circ_syntax::Span, sel: circ_syntax::Span, children| {
            #[allow(deprecated)]
            lt::DocumentSymbol {
                name: name.to_string(),
                detail: None,
                kind,
                tags: None,
                deprecated: None,
                range: range_of(&text, span.start, span.end),
                selection_range: range_of(&text, sel.start, sel.end),
                children,
            }
        };
        let mut out = vec![];
        for item in &ast.items {
            // Each item's name and kind, and its members' (name, kind, span).
            type Kids<'a> = Vec<(&'a ast::Ident, lt::SymbolKind, circ_syntax::Span)>;
            let (name, kind, kids): (&ast::Ident, _, Kids<'_>) = match item {
                ast::Item::Model(m) => (
                    &m.name,
                    lt::SymbolKind::CLASS,
                    m.members
                        .iter()
                        .filter_map(|member| {
                            let (name, kind) = match &member.node {
                                ast::MemberKind::Parameter(v) => (&v.name, lt::SymbolKind::FIELD),
                                ast::MemberKind::State(_, v) => (&v.name, lt::SymbolKind::VARIABLE),
                                ast::MemberKind::Input { name, .. } => {
                                    (name, lt::SymbolKind::PROPERTY)
                                }
                                _ => return None,
                            };
                            Some((name, kind, member.span))
                        })
                        .collect(),
                ),
                ast::Item::Circuit(x) => (
                    &x.name,
                    lt::SymbolKind::MODULE,
                    x.members
                        .iter()
                        .filter_map(|member| match &member.node {
                            ast::CircuitMemberKind::Population(p) => {
                                Some((&p.name, lt::SymbolKind::OBJECT, member.span))
                            }
                            ast::CircuitMemberKind::Project(p) => p
                                .name
                                .as_ref()
                                .map(|n| (n, lt::SymbolKind::INTERFACE, member.span)),
                            _ => None,
                        })
                        .collect(),
                ),
                ast::Item::Const(x) => (&x.name, lt::SymbolKind::CONSTANT, vec![]),
                ast::Item::Fn(x) => (&x.name, lt::SymbolKind::FUNCTION, vec![]),
                ast::Item::Run(r) => {
                    let label = format!("run {}", r.circuit.node);
                    out.push(sym(
                        &label,
                        lt::SymbolKind::EVENT,
                        r.span,
                        r.circuit.span,
                        None,
                    ));
                    continue;
                }
                ast::Item::Use(_) | ast::Item::Error(_) => continue,
            };
            let children = kids
                .into_iter()
                .map(|(n, k, span)| sym(&n.node, k, span, n.span, None))
                .collect::<Vec<_>>();
            let nested = matches!(item, ast::Item::Model(_) | ast::Item::Circuit(_));
            out.push(sym(
                &name.node,
                kind,
                item.span(),
                name.span,
                nested.then_some(children),
            ));
        }
        Some(lt::DocumentSymbolResponse::Nested(out))
    }
}

/// The checked model whose item holds byte `offset` of the document.
fn model_around(c: &Checked, offset: usize) -> Option<&circ_sema::ModelInfo> {
    let ast = c.analysis.program.ast(0)?;
    let idx = ast.items.iter().position(|item| {
        matches!(item, ast::Item::Model(m) if m.span.start as usize <= offset && offset <= m.span.end as usize)
    })?;
    c.analysis.program.model_info(ItemId { module: 0, idx })
}

/// The module an item is in, as written in code (`std::neurons`), or the
/// file's name for the document and other files.
fn self_module_name(c: &Checked, id: ItemId) -> String {
    let name = c
        .analysis
        .program
        .file(id.module)
        .and_then(|f| c.map.get(f))
        .map_or("", |f| f.name.as_str());
    match name
        .strip_prefix("<std>/")
        .and_then(|n| n.strip_suffix(".circ"))
    {
        Some(m) => format!("std::{m}"),
        None if id.module == 0 => "this file".into(),
        None => name.to_string(),
    }
}

/// What a hover says of a type: the dimension and its unit.
fn describe(t: circ_sema::Ty) -> Option<String> {
    match t {
        circ_sema::Ty::Num {
            dim: Some(d),
            konst,
            ..
        } => {
            let mut s = d.describe();
            if d.is_dimensionless() {
                s = "dimensionless".into();
            }
            if let Some(v) = konst {
                s.push_str(&format!(" = {}", crate::units_fmt::format_quantity(v, d)));
            }
            Some(s)
        }
        circ_sema::Ty::Num { dim: None, .. } => Some("a number (any dimension)".into()),
        circ_sema::Ty::Bool => Some("a condition (true or false)".into()),
        circ_sema::Ty::Str => Some("a string".into()),
        _ => None,
    }
}

fn markdown(value: String, range: lt::Range) -> lt::Hover {
    lt::Hover {
        contents: lt::HoverContents::Markup(lt::MarkupContent {
            kind: lt::MarkupKind::Markdown,
            value,
        }),
        range: Some(range),
    }
}

fn parse<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, String> {
    serde_json::from_value(req.params)
        .map_err(|e| format!("bad parameters for {}: {e}", req.method))
}

fn json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn error(id: RequestId, message: String) -> Response {
    Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, message)
}

/// The byte length of the character at byte `i` of `s`.
fn ch_len(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(1, char::len_utf8)
}

/// The identifier around byte `offset` (start, end), if any.
fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let is = |c: char| c.is_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    (start < end).then_some((start, end))
}

/// The byte offset of an LSP position (UTF-16 columns).
fn offset_of(text: &str, p: lt::Position) -> Option<usize> {
    let mut line_start = 0;
    for _ in 0..p.line {
        line_start += text[line_start..].find('\n')? + 1;
    }
    let line = &text[line_start..];
    let mut units = 0u32;
    for (i, c) in line.char_indices() {
        if units >= p.character || c == '\n' {
            return Some(line_start + i);
        }
        units += c.len_utf16() as u32;
    }
    Some(text.len())
}

/// The LSP position of byte `offset` (UTF-16 columns).
fn position_of(text: &str, offset: u32) -> lt::Position {
    let offset = (offset as usize).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[start..].chars().map(|c| c.len_utf16() as u32).sum();
    lt::Position::new(line, character)
}

fn range_of(text: &str, start: u32, end: u32) -> lt::Range {
    lt::Range::new(position_of(text, start), position_of(text, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "a µ b\nτ = 1\n";
        let p = position_of(text, text.find('b').unwrap_or(0) as u32);
        assert_eq!((p.line, p.character), (0, 4));
        assert_eq!(offset_of(text, p), text.find('b'));
        let p = lt::Position::new(1, 2);
        assert_eq!(offset_of(text, p), text.find(" =").map(|i| i + 1));
        assert_eq!(word_at("x = tau_m + 1", 6), Some((4, 9)));
        assert_eq!(word_at("x = (", 5), None);
    }
}
