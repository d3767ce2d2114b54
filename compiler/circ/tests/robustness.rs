//! The front end never panics and never hangs: thousands of random and
//! mutated inputs (truncations, character flips, deleted, duplicated and
//! swapped tokens of real models, random token soup) go through parsing,
//! checking and both renderers. The seed is fixed so a failure reproduces;
//! `fuzz/` has a cargo-fuzz target for longer, coverage-guided runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<PathBuf> = vec![];
    for dir in [
        "examples",
        "compiler/circ/tests/diagnostics",
        "compiler/circ/tests/data",
    ] {
        for e in std::fs::read_dir(root.join(dir)).expect("corpus dir") {
            let p = e.expect("entry").path();
            if p.extension().and_then(|x| x.to_str()) == Some("circ") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    texts.extend(circ_stdlib::MODULES.iter().map(|(_, t)| t.to_string()));
    texts
}

const SOUP: &[&str] = &[
    "neuron",
    "synapse",
    "circuit",
    "run",
    "use",
    "std",
    "::",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "+=",
    "/",
    "*",
    "^",
    "-",
    "..",
    ",",
    ";",
    ":",
    "->",
    "dv",
    "dt",
    "v",
    "post",
    "pre",
    ".",
    "on",
    "state",
    "parameter",
    "spike",
    "when",
    "1",
    "0",
    "2.5e3",
    "mV",
    "ms",
    "[mV/ms]",
    "\"f.csv\"",
    "from",
    "if",
    "then",
    "else",
    "clip",
    "per",
    "project",
    "population",
    "connect",
    "record",
    "of",
    "every",
    "\n",
    " ",
    "µ",
    "Ω",
    "/*",
    "*/",
    "//",
    "$",
    "\u{0}",
    "99999999999999999999999",
    "1e999",
    "x^-3",
    "exp(",
    "where",
    "i",
    "j",
    "d",
    "t",
    "noise",
    "unless",
    "refractory",
];

fn mutate(rng: &mut Rng, src: &str) -> String {
    let toks = circ_syntax::lexer::lex(src).0;
    let spans: Vec<(usize, usize)> = toks.iter().map(|t| (t.0, t.2)).collect();
    let boundary = |s: &str, mut i: usize| {
        i = i.min(s.len());
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match rng.below(7) {
        0 => src[..boundary(src, rng.below(src.len() + 1))].to_string(),
        1 => {
            let mut chars: Vec<char> = src.chars().collect();
            for _ in 0..=rng.below(4) {
                if chars.is_empty() {
                    break;
                }
                let k = rng.below(chars.len());
                chars[k] = char::from_u32((rng.next() % 0x3000) as u32).unwrap_or('?');
            }
            chars.into_iter().collect()
        }
        2 | 3 if !spans.is_empty() => {
            let (a, b) = spans[rng.below(spans.len())];
            if rng.below(2) == 0 {
                format!("{}{}", &src[..a], &src[b..])
            } else {
                format!("{}{}{}", &src[..b], &src[a..b], &src[b..])
            }
        }
        4 if spans.len() > 2 => {
            let (a1, b1) = spans[rng.below(spans.len())];
            let (a2, b2) = spans[rng.below(spans.len())];
            let ((a1, b1), (a2, b2)) = if a1 <= a2 {
                ((a1, b1), (a2, b2))
            } else {
                ((a2, b2), (a1, b1))
            };
            if b1 > a2 {
                return src.to_string();
            }
            format!(
                "{}{}{}{}{}",
                &src[..a1],
                &src[a2..b2],
                &src[b1..a2],
                &src[a1..b1],
                &src[b2..]
            )
        }
        5 => {
            let at = boundary(src, rng.below(src.len() + 1));
            let ins: String = (0..=rng.below(6))
                .map(|_| SOUP[rng.below(SOUP.len())])
                .collect::<Vec<_>>()
                .join(" ");
            format!("{}{}{}", &src[..at], ins, &src[at..])
        }
        _ => (0..rng.below(60))
            .map(|_| SOUP[rng.below(SOUP.len())])
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[test]
fn front_end_survives_mutated_inputs() {
    let corpus = corpus();
    let done = Arc::new(AtomicBool::new(false));
    let current = Arc::new(std::sync::Mutex::new(String::new()));
    {
        // Watchdog: a hang would otherwise block the suite forever.
        let (done, current) = (Arc::clone(&done), Arc::clone(&current));
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if start.elapsed() > Duration::from_secs(600) {
                    eprintln!(
                        "front end hung on input:\n{}",
                        current.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let mut rng = Rng(0x5eed_c1c0_2026_0001);
    let n = 4000;
    let mut slowest = Duration::ZERO;
    let mut with_errors = 0;
    for k in 0..n {
        let base = &corpus[rng.below(corpus.len())];
        let mut input = mutate(&mut rng, base);
        if rng.below(3) == 0 {
            input = mutate(&mut rng, &input);
        }
        if let Ok(mut c) = current.lock() {
            c.clone_from(&input);
        }
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let (map, analysis) = circ_sema::check_source("fuzz.circ", &input);
            let text = circ_diag::render_all_text(&analysis.diagnostics, &map, false);
            let json = circ_diag::render_json(&analysis.diagnostics, &map);
            (analysis.has_errors(), text.len() + json.len())
        }));
        let elapsed = t.elapsed();
        slowest = slowest.max(elapsed);
        match result {
            Ok((errors, _)) => with_errors += usize::from(errors),
            Err(_) => panic!("front end panicked on mutated input #{k}:\n{input}"),
        }
        assert!(
            elapsed < Duration::from_secs(5),
            "input #{k} took {elapsed:?}:\n{input}"
        );
    }
    done.store(true, Ordering::Relaxed);
    // The mutations must actually break things, or the test proves nothing.
    assert!(
        with_errors > n / 2,
        "only {with_errors} of {n} mutated inputs had errors"
    );
    eprintln!("{n} mutated inputs, {with_errors} with errors, slowest {slowest:?}");
}

#[test]
fn pathological_inputs() {
    let long = format!("const a = {}", vec!["1"; 19_000].join(" + "));
    let neg = format!("const a = {}1", "-".repeat(19_000));
    let nested = format!("const a = {}1{}", "(".repeat(250), ")".repeat(250));
    for input in [&long, &neg, &nested] {
        let (map, analysis) = circ_sema::check_source("p.circ", input);
        assert!(
            analysis.diagnostics.is_empty(),
            "{}",
            circ_diag::render_all_text(&analysis.diagnostics, &map, false)
        );
    }
    for input in [
        "",
        "\u{feff}",
        "{",
        "}",
        "neuron",
        "neuron N {",
        "\"",
        "/*",
        "..",
        "1e400 mV",
        "const a = 1 [",
        "use",
        "use \"\"::{}",
    ] {
        let (map, analysis) = circ_sema::check_source("p.circ", input);
        let _ = circ_diag::render_all_text(&analysis.diagnostics, &map, false);
    }
    // Past the limits: refused with a diagnostic, never a stack overflow.
    let too_long = format!("const a = {}", vec!["1"; 30_000].join(" * "));
    let too_deep = format!(
        "const a = {}1{}\nconst b = 2",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    for input in [too_long, too_deep] {
        let (_, analysis) = circ_sema::check_source("p.circ", &input);
        let codes: Vec<&str> = analysis.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["too-complex"]);
    }
}

/// Runs `circ check` on `src`; a hang guard (not a speed test) kills it
/// after a minute. Returns the exit code and stderr.
fn check_cli(name: &str, src: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("circ-robust-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(name);
    std::fs::write(&file, src).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["check", "--color", "never"])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("circ");
    let mut err = String::new();
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("circ check {name} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.join().expect("reader");
    let _ = std::fs::remove_dir_all(&dir);
    (code, err)
}

/// Inlining is bounded: functions or model `let`s that double at each of
/// 30 levels (10^9 nodes once inlined) are a `too-complex` error at the use,
/// at once; 12 levels (4,096 nodes) are fine.
#[test]
fn inlining_is_bounded() {
    let funcs = |levels: usize| {
        let mut s = String::from("fn f0(x: dimensionless) -> dimensionless = x\n");
        for k in 1..=levels {
            s += &format!(
                "fn f{k}(x: dimensionless) -> dimensionless = f{}(x) + f{}(x)\n",
                k - 1,
                k - 1
            );
        }
        s + &format!(
            "neuron N {{\n    state v = 0\n    dv/dt = f{levels}(v) / 1 ms\n}}\ncircuit C {{\n    population A = N[2]\n}}\nrun C for 1 ms\n"
        )
    };
    let lets = |levels: usize| {
        let mut s = String::from("neuron N {\n    state v = 0\n    let a0 = v\n");
        for k in 1..=levels {
            s += &format!("    let a{k} = a{} + a{}\n", k - 1, k - 1);
        }
        s + &format!(
            "    dv/dt = a{levels} / 1 ms\n}}\ncircuit C {{\n    population A = N[2]\n}}\nrun C for 1 ms\n"
        )
    };
    let (code, err) = check_cli("funcs.circ", &funcs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("[too-complex] Error: `f30` expands to more than 200000 operations"),
        "{err}"
    );
    assert!(err.contains("funcs.circ:34:13"), "{err}");
    let (code, err) = check_cli("lets.circ", &lets(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("[too-complex] Error: `a30` expands"), "{err}");
    for ok in [funcs(12), lets(12)] {
        let (code, err) = check_cli("ok.circ", &ok);
        assert_eq!(code, Some(0), "{err}");
    }
}

/// 20,000 copies of one mistake: reported in linear time, ten shown and the
/// rest counted; different mistakes are each shown.
#[test]
fn repeated_errors_are_counted_not_repeated() {
    let mut src = String::new();
    for k in 0..20_000 {
        src += &format!("const a{k} = 1 mV + 1 ms\n");
    }
    src += "const b = 1 mV * unknown\n";
    let (code, err) = check_cli("many.circ", &src);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.matches("[unit-mismatch] Error").count(),
        10,
        "{}",
        &err[..2000.min(err.len())]
    );
    assert!(err.contains(
        "... and 19990 more like this: [unit-mismatch] cannot add voltage (mV) to time (ms)"
    ));
    assert!(err.contains("[unknown-name] Error"));
    assert!(err.contains("20001 errors found"));
}
