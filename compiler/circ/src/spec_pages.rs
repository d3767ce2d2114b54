//! The language reference (`spec/*.md`), embedded so that `circ doc lang`
//! works with the executable alone. A test fails when a page of `spec/` is
//! not listed here.

/// Every page of `spec/`: (name, Markdown).
pub const PAGES: &[(&str, &str)] = &[
    ("README", include_str!("../../../spec/README.md")),
    ("lexical", include_str!("../../../spec/lexical.md")),
    ("items", include_str!("../../../spec/items.md")),
    ("units", include_str!("../../../spec/units.md")),
    ("neuron", include_str!("../../../spec/neuron.md")),
    ("synapse", include_str!("../../../spec/synapse.md")),
    ("circuit", include_str!("../../../spec/circuit.md")),
    ("run", include_str!("../../../spec/run.md")),
    ("semantics", include_str!("../../../spec/semantics.md")),
    ("math", include_str!("../../../spec/math.md")),
];

/// A page's title: its first heading.
pub fn title(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or("")
}

/// The page named `name` (`circuit`, `spec/circuit`, `circuit.md`).
pub fn page(name: &str) -> Option<&'static str> {
    let n = name
        .trim_start_matches("lang/")
        .trim_start_matches("spec/")
        .trim_end_matches(".md");
    PAGES.iter().find(|(p, _)| *p == n).map(|(_, t)| *t)
}

/// Where the reference speaks of `word` (a keyword): (page, line number,
/// line) for each line that shows it in code (`` `word ``) or opens a
/// section on it.
pub fn mentions(word: &str) -> Vec<(&'static str, usize, &'static str)> {
    let code = format!("`{word}");
    let mut out = vec![];
    for (name, text) in PAGES {
        for (i, line) in text.lines().enumerate() {
            let heading = line.starts_with('#') && line.to_lowercase().contains(word);
            if heading || line.contains(&code) {
                out.push((*name, i + 1, line));
            }
        }
    }
    out
}
