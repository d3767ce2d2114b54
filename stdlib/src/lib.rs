//! circ-stdlib owns the standard library's source text: models written in
//! circ, embedded in the binary. It must not interpret them: circ-sema loads
//! `std::NAME` from here like any other module.

/// Every standard module: its path after `std::` and its source.
pub const MODULES: &[(&str, &str)] = &[
    ("neurons", include_str!("../neurons.circ")),
    ("synapses", include_str!("../synapses.circ")),
    ("plasticity", include_str!("../plasticity.circ")),
];

/// The source of `std::NAME`, if that module exists.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|m| m.0 == name).map(|m| m.1)
}

/// A standard model's documentation, as its source writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDoc {
    /// The module, after `std::` (`neurons`).
    pub module: &'static str,
    /// `neuron` or `synapse`.
    pub kind: &'static str,
    /// The model's name (`AdEx`).
    pub name: String,
    /// Its `///` comment, without the slashes.
    pub doc: String,
    /// Its definition, from the keyword to the closing brace.
    pub source: String,
}

impl ModelDoc {
    /// `std::MODULE::NAME`.
    pub fn path(&self) -> String {
        format!("std::{}::{}", self.module, self.name)
    }

    /// The complete programs in its documentation (```` ```circ ```` blocks).
    pub fn examples(&self) -> Vec<String> {
        let mut out = vec![];
        let mut current: Option<String> = None;
        for line in self.doc.lines() {
            let t = line.trim();
            match &mut current {
                None if t == "```circ" => current = Some(String::new()),
                Some(block) if t == "```" => {
                    out.push(std::mem::take(block));
                    current = None;
                }
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None => {}
            }
        }
        out
    }
}

/// Every model of the standard library, in module and source order.
pub fn models() -> Vec<ModelDoc> {
    let mut out = vec![];
    for &(module, src) in MODULES {
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let kind = if line.starts_with("neuron ") {
                "neuron"
            } else if line.starts_with("synapse ") {
                "synapse"
            } else {
                continue;
            };
            let name: String = line[kind.len() + 1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The comment: the `///` lines right above.
            let mut first = i;
            while first > 0 && lines[first - 1].starts_with("///") {
                first -= 1;
            }
            let doc: Vec<&str> = lines[first..i]
                .iter()
                .map(|l| {
                    let l = &l[3..];
                    l.strip_prefix(' ').unwrap_or(l)
                })
                .collect();
            // The body: up to the first line that is a lone closing brace.
            let end = lines[i..]
                .iter()
                .position(|l| *l == "}")
                .map_or(lines.len(), |k| i + k + 1);
            out.push(ModelDoc {
                module,
                kind,
                name,
                doc: doc.join("\n"),
                source: lines[i..end].join("\n"),
            });
        }
    }
    out
}

/// The model a path names: `std::neurons::AdEx`, `neurons::AdEx` or `AdEx`.
pub fn find(path: &str) -> Option<ModelDoc> {
    let parts: Vec<&str> = path.split("::").collect();
    let (module, name) = match parts[..] {
        ["std", m, n] | [m, n] => (Some(m), n),
        [n] => (None, n),
        _ => return None,
    };
    models()
        .into_iter()
        .find(|d| d.name == name && module.is_none_or(|m| m == d.module))
}
