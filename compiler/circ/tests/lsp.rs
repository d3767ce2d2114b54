//! `circ lsp` driven as an editor drives it: JSON-RPC over its standard
//! input and output (the Language Server Protocol's framing), checking the
//! diagnostics it publishes, hover texts, definition locations (into the
//! standard library too), completion and document symbols.

mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

struct Client {
    /// Dropped at the end: the watchdog stands down.
    _watch: std::sync::mpsc::Sender<()>,
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next: i64,
    /// Notifications received while waiting for responses.
    notes: Vec<Value>,
}

impl Client {
    fn start(cache: &std::path::Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_circ"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("circ lsp starts");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        // A server that stops answering fails the test in a minute instead
        // of hanging it: its output closes.
        let (watch, done) = std::sync::mpsc::channel::<()>();
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(std::time::Duration::from_secs(60))
            {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        });
        let mut c = Client {
            _watch: watch,
            child,
            input,
            output,
            next: 1,
            notes: vec![],
        };
        let caps = c.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        assert!(
            caps["capabilities"]["hoverProvider"]
                .as_bool()
                .unwrap_or(false),
            "{caps}"
        );
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.input.flush().expect("flush");
    }

    fn receive(&mut self) -> Value {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            assert!(
                self.output.read_line(&mut line).expect("read") > 0,
                "the server closed its output"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().expect("a length");
            }
        }
        let mut body = vec![0; len];
        self.output.read_exact(&mut body).expect("a body");
        serde_json::from_slice(&body).expect("JSON")
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.receive();
            if msg["id"] == json!(id) {
                assert!(msg.get("error").is_none(), "{method}: {msg}");
                return msg["result"].clone();
            }
            self.notes.push(msg);
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            if let Some(k) = self.notes.iter().position(|n| {
                n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
            }) {
                let n = self.notes.remove(k);
                return n["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            let msg = self.receive();
            self.notes.push(msg);
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "circ", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: usize, character: usize) -> Value {
        self.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        )
    }

    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().expect("circ lsp exits");
        assert!(status.success(), "{status}");
    }
}

/// An example's path, without `..` (a URI's path is normalised).
fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .canonicalize()
        .expect("the example")
}

fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// (line, character) of the first `needle` in `text`, plus `plus` characters.
fn find(text: &str, needle: &str, plus: usize) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` in the text"));
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, col + plus)
}

const LEAKY: &str = "neuron Leaky {
    parameter tau = 10 ms
    state v = -65 mV
    dv/dt = (-65 mV - v) / tau
    spike when v > -50 mV { v = -65 mV }
}

circuit One {
    population P = Leaky[1]
    record spikes of P
}
";

#[test]
fn diagnostics_follow_the_text_as_it_changes() {
    let dir = common::TempDir::new("lsp-diag");
    let mut c = Client::start(&dir.0);
    let doc = uri(&dir.0.join("leaky.circ"));
    assert_eq!(c.open(&doc, LEAKY), Vec::<Value>::new(), "a clean model");
    let broken = LEAKY.replace("/ tau", "/ 10");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 2}, "contentChanges": [{"text": broken}]}),
    );
    let ds = c.diagnostics(&doc);
    assert_eq!(ds.len(), 1, "{ds:?}");
    let d = &ds[0];
    assert_eq!(d["code"], "derivative-dimension");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "circ");
    let (line, col) = find(&broken, "(-65 mV - v) / 10", 0);
    assert_eq!(d["range"]["start"], json!({"line": line, "character": col}));
    assert_eq!(
        d["range"]["end"],
        json!({"line": line, "character": col + "(-65 mV - v) / 10".len()})
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("voltage/time (mV/ms)"),
        "{d}"
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("help: divide by a time constant"),
        "{d}"
    );
    // Unknown names point at themselves.
    let typo = LEAKY.replace("Leaky[1]", "Leaki[1]");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 3}, "contentChanges": [{"text": typo}]}),
    );
    let ds = c.diagnostics(&doc);
    assert!(!ds.is_empty());
    let (line, col) = find(&typo, "Leaki[", 0);
    assert_eq!(
        ds[0]["range"]["start"],
        json!({"line": line, "character": col}),
        "{ds:?}"
    );
    c.stop();
}

#[test]
fn hover_shows_dimensions_units_and_standard_models() {
    let dir = common::TempDir::new("lsp-hover");
    let mut c = Client::start(&dir.0);
    let doc = uri(&dir.0.join("leaky.circ"));
    let text = LEAKY.replace("/ tau", "/ 10 ms");
    c.open(&doc, &text);
    // On the division of `(-65 mV - v) / 10 ms`.
    let (line, col) = find(&text, ") / 10 ms", 2);
    let h = c.at("textDocument/hover", &doc, line, col);
    let value = h["contents"]["value"].as_str().unwrap_or("");
    assert!(value.contains("voltage/time (mV/ms)"), "{h}");
    assert!(value.contains("(-65 mV - v) / 10 ms"), "{h}");
    // On `v`: the state's dimension.
    let (line, col) = find(&text, "- v)", 2);
    let h = c.at("textDocument/hover", &doc, line, col);
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("voltage (mV)"),
        "{h}"
    );
    // On a standard model in an example: its documentation.
    let path = example("coba.circ");
    let coba = std::fs::read_to_string(&path).expect("examples/coba.circ");
    let coba_uri = uri(&path);
    assert_eq!(c.open(&coba_uri, &coba), Vec::<Value>::new());
    let (line, col) = find(&coba, "LIFCond[3200]", 1);
    let h = c.at("textDocument/hover", &coba_uri, line, col);
    let value = h["contents"]["value"].as_str().unwrap_or("");
    assert!(value.contains("std::neurons::LIFCond"), "{h}");
    let doc_text = std::process::Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["doc", "std::neurons::LIFCond"])
        .output()
        .expect("circ doc");
    let first = String::from_utf8_lossy(&doc_text.stdout)
        .lines()
        .nth(2)
        .unwrap_or("")
        .to_string();
    assert!(
        !first.is_empty() && value.contains(first.trim()),
        "{first:?} in {value}"
    );
    c.stop();
}

#[test]
fn definitions_lead_to_models_populations_variables_and_the_standard_library() {
    let dir = common::TempDir::new("lsp-def");
    let mut c = Client::start(&dir.0);
    let path = example("coba.circ");
    let coba = std::fs::read_to_string(&path).expect("coba");
    let doc = uri(&path);
    c.open(&doc, &coba);
    // A standard model: its definition, written to the cache folder.
    let (line, col) = find(&coba, "LIFCond[3200]", 2);
    let loc = c.at("textDocument/definition", &doc, line, col);
    let target = loc["uri"].as_str().unwrap_or("");
    assert!(target.ends_with("/std/neurons.circ"), "{loc}");
    let file = target.strip_prefix("file://").expect("a file");
    assert!(
        file.starts_with(dir.0.to_str().unwrap_or("?")),
        "under XDG_CACHE_HOME: {file}"
    );
    let std_text = std::fs::read_to_string(file).expect("written");
    let l = loc["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
    let at_line = std_text.lines().nth(l).unwrap_or("");
    assert!(at_line.contains("neuron LIFCond"), "{at_line}");
    // A population named in a projection: its declaration.
    let (line, col) = find(&coba, "E -> E, I", 0);
    let loc = c.at("textDocument/definition", &doc, line, col);
    assert_eq!(loc["uri"], doc.as_str());
    let (pl, pc) = find(&coba, "E = LIFCond", 0);
    assert_eq!(
        loc["range"]["start"],
        json!({"line": pl, "character": pc}),
        "{loc}"
    );
    // A model's variable: where the model declares it.
    let leaky = dir.0.join("leaky.circ");
    let leaky_uri = uri(&leaky);
    c.open(&leaky_uri, LEAKY);
    let (line, col) = find(LEAKY, "/ tau", 2);
    let loc = c.at("textDocument/definition", &leaky_uri, line, col);
    let (dl, _) = find(LEAKY, "parameter tau", 0);
    assert_eq!(loc["range"]["start"]["line"], json!(dl), "{loc}");
    // The model named in the circuit.
    let (line, col) = find(LEAKY, "Leaky[1]", 1);
    let loc = c.at("textDocument/definition", &leaky_uri, line, col);
    assert_eq!(
        loc["range"]["start"],
        json!({"line": 0, "character": 7}),
        "{loc}"
    );
    c.stop();
}

#[test]
fn completion_offers_names_models_units_and_keywords_and_symbols_list_items() {
    let dir = common::TempDir::new("lsp-complete");
    let mut c = Client::start(&dir.0);
    let doc = uri(&dir.0.join("leaky.circ"));
    let text = LEAKY.replace("population P = Leaky[1]", "population P = LIFC");
    c.open(&doc, &text);
    let labels = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["label"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (line, col) = find(&text, "LIFC", 4);
    let got = labels(&c.at("textDocument/completion", &doc, line, col));
    assert!(got.contains(&"LIFCond".to_string()), "{got:?}");
    assert!(got.iter().all(|l| l.starts_with("LIFC")), "{got:?}");
    // In the model: its variables, units and keywords by prefix.
    let (line, col) = find(&text, "(-65 mV", 6);
    let got = labels(&c.at("textDocument/completion", &doc, line, col));
    assert!(
        got.contains(&"mV".to_string()) && got.contains(&"ms".to_string()),
        "{got:?}"
    );
    let (line, col) = find(&text, "tau\n", 1);
    let got = labels(&c.at("textDocument/completion", &doc, line, col));
    assert!(got.contains(&"tau".to_string()), "{got:?}");
    let (line, col) = find(&text, "population", 3);
    let got = labels(&c.at("textDocument/completion", &doc, line, col));
    assert!(got.contains(&"population".to_string()), "{got:?}");
    // A module path offers that module's models.
    let with_use = format!("use std::neurons::AdE\n{LEAKY}");
    c.open(&doc, &with_use);
    let got = labels(&c.at(
        "textDocument/completion",
        &doc,
        0,
        "use std::neurons::AdE".len(),
    ));
    assert!(got.contains(&"AdEx".to_string()), "{got:?}");
    assert!(got.iter().all(|l| l.starts_with("AdE")), "{got:?}");
    // Symbols: the model with its variables, the circuit with its population.
    c.open(&doc, LEAKY);
    let syms = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": doc}}),
    );
    let names: Vec<&str> = syms
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["Leaky", "One"], "{syms}");
    let kids: Vec<&str> = syms[0]["children"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kids, ["tau", "v"]);
    assert_eq!(syms[1]["children"][0]["name"], "P");
    c.stop();
}
