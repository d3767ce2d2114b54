//! The editor packages (editors/): the tree-sitter grammar passes its
//! corpus and parses every model of the repository without an error node,
//! its highlight queries compile; the VS Code extension's TextMate grammar
//! gives units, keywords and names their scopes (VS Code's own engine), it
//! names every keyword of the lexer, and `vsce package` makes the
//! extension. `scripts/install-deps` installs the tree-sitter CLI (into
//! `.tools`) and the extension's npm packages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// Every model of the repository that `circ check` parses: the examples,
/// the standard library and the test models (the diagnostics tests hold
/// syntax errors on purpose).
fn models(repo: &Path) -> Vec<PathBuf> {
    let mut v = vec![];
    for dir in [
        "examples",
        "stdlib",
        "compiler/circ/tests/data",
        "compiler/circ/tests/data/reference",
    ] {
        for e in std::fs::read_dir(repo.join(dir))
            .expect("a folder")
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "circ") {
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

#[test]
fn tree_sitter_grammar_passes_its_corpus_and_parses_every_model() {
    let repo = repo();
    let cli = repo.join(".tools/bin/tree-sitter");
    assert!(
        cli.exists(),
        "no {}: run scripts/install-deps",
        cli.display()
    );
    let tmp = common::TempDir::new("tree-sitter");
    // A copy, generated there: the repository keeps only the sources.
    let g = tmp.0.join("tree-sitter-circ");
    for f in [
        "grammar.js",
        "tree-sitter.json",
        "src/scanner.c",
        "queries/highlights.scm",
        "test/corpus/items.txt",
        "test/corpus/expressions.txt",
    ] {
        let to = g.join(f);
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("mkdir");
        std::fs::copy(repo.join("editors/tree-sitter-circ").join(f), &to).expect("copy");
    }
    let config = tmp.0.join("config");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::write(config.join("config.json"), r#"{"parser-directories": []}"#).expect("config");
    let ts = |args: &[&str]| {
        let mut c = Command::new(&cli);
        c.args(args)
            .current_dir(&g)
            .env("TREE_SITTER_DIR", &config)
            .env("TREE_SITTER_LIBDIR", tmp.0.join("lib"))
            .env("XDG_CACHE_HOME", tmp.0.join("cache"));
        c
    };
    run(&mut ts(&["generate"]), "tree-sitter generate");
    let corpus = run(&mut ts(&["test"]), "tree-sitter test");
    assert!(!corpus.contains('✗'), "{corpus}");
    assert!(
        corpus.contains("A circuit and its run")
            && corpus.contains("Units belong to the number on their line"),
        "{corpus}"
    );
    let files = models(&repo);
    assert!(files.len() > 40, "{} models", files.len());
    let mut parse = ts(&["parse", "--quiet", "--stat"]);
    parse.args(&files);
    let stats = run(&mut parse, "tree-sitter parse of every model");
    assert!(
        stats.contains(&format!("successful parses: {}", files.len())),
        "{stats}"
    );
    // It does see errors: a member with no name.
    let bad = tmp.0.join("bad.circ");
    std::fs::write(&bad, "neuron X { state = 1 }\n").expect("write");
    let out = ts(&["parse", "--quiet"]).arg(&bad).output().expect("parse");
    assert!(!out.status.success(), "a syntax error is an error");
    run(
        ts(&["query", "queries/highlights.scm"]).arg(repo.join("examples/coba.circ")),
        "the highlight queries",
    );
}

#[test]
fn vscode_extension_highlights_and_packages() {
    let repo = repo();
    let ext = repo.join("editors/vscode");
    assert!(
        ext.join("node_modules/@vscode/vsce").exists(),
        "no {}/node_modules: run scripts/install-deps",
        ext.display()
    );
    let tokens = run(
        Command::new("node")
            .arg("test/grammar.test.js")
            .current_dir(&ext),
        "the TextMate grammar's test",
    );
    assert!(tokens.contains(", 0 failed"), "{tokens}");
    // Every keyword of the lexer is highlighted as one.
    let grammar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ext.join("syntaxes/circ.tmLanguage.json")).expect("grammar"),
    )
    .expect("JSON");
    let keywords = grammar["repository"]["keywords"]["patterns"].to_string();
    for k in circ_syntax::lexer::KEYWORDS {
        assert!(
            keywords.contains(&format!("|{k}|"))
                || keywords.contains(&format!("({k}|"))
                || keywords.contains(&format!("|{k})")),
            "the TextMate grammar does not know the keyword `{k}`"
        );
    }
    let tmp = common::TempDir::new("vsce");
    let vsix = tmp.0.join("circ.vsix");
    run(
        Command::new(ext.join("node_modules/.bin/vsce"))
            .args(["package", "--skip-license", "-o"])
            .arg(&vsix)
            .current_dir(&ext),
        "vsce package",
    );
    let listing = run(
        Command::new(repo.join(".venv/bin/python"))
            .args(["-m", "zipfile", "-l"])
            .arg(&vsix),
        "reading the .vsix",
    );
    for f in [
        "extension/package.json",
        "extension/extension.js",
        "extension/syntaxes/circ.tmLanguage.json",
        "extension/language-configuration.json",
        "extension/node_modules/vscode-languageclient/package.json",
    ] {
        assert!(listing.contains(f), "{f} not in the package:\n{listing}");
    }
}
