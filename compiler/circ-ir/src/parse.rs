//! Reads the IR's text form ([`crate::print`]) back into a `Network`, so
//! `.ir` files can be written by hand and run on every backend, and the
//! output of `circ run --emit ir` can be edited and run again. Omitted
//! attributes take their defaults (no recorders, no stream, ...), so a test
//! needs only populations, variables and kernels.

use crate::print::{RESERVED, bin_symbol, domain_name};
use crate::{
    Bin, Dist, Domain, Expr, Func, Kernel, Network, PopKernels, PopLayout, ProjKernels, ProjLayout,
    ProjVar, Space, Stmt, Un, VarId, VarLayout, VarRole,
};
use circ_runtime::connect::Rule;
use circ_runtime::layout::Connect;

/// What is wrong with a text, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// The line (from 1).
    pub line: usize,
    /// The problem.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

type R<T> = Result<T, String>;

/// Reads a network from its text form.
pub fn parse(text: &str) -> Result<Network, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut p = Parser {
        lines: &lines,
        at: 0,
        net: Network::default(),
    };
    p.network().map_err(|message| ParseError {
        line: p.at + 1,
        message,
    })?;
    Ok(p.net)
}

struct Parser<'a> {
    lines: &'a [&'a str],
    at: usize,
    net: Network,
}

/// Where kernels go while a population or projection is read.
enum Owner {
    Pop(usize),
    Proj(usize),
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> R<T> {
    serde_json::from_str(s.trim()).map_err(|e| format!("{e} in `{}`", s.trim()))
}

/// Splits a leading JSON string (`"a b"`) from the rest.
fn json_string(s: &str) -> R<(String, &str)> {
    let s = s.trim_start();
    if !s.starts_with('"') {
        return Err(format!("expected a quoted name, found `{s}`"));
    }
    let bytes = s.as_bytes();
    let mut k = 1;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'"' => {
                let name: String = json(&s[..=k])?;
                return Ok((name, &s[k + 1..]));
            }
            _ => k += 1,
        }
    }
    Err("a name without its closing quote".into())
}

impl Parser<'_> {
    fn network(&mut self) -> R<()> {
        let mut owner: Option<Owner> = None;
        while self.at < self.lines.len() {
            let raw = self.lines[self.at];
            let line = raw.trim();
            if line.is_empty() || (line.starts_with(';') && !line.starts_with("; solver:")) {
                self.at += 1;
                continue;
            }
            let indented = raw.starts_with(' ');
            if !indented {
                owner = None;
                self.top(line, &mut owner)?;
            } else {
                let Some(o) = &owner else {
                    return Err(format!("`{line}` outside a population or projection"));
                };
                match *o {
                    Owner::Pop(p) => self.pop_line(p, line)?,
                    Owner::Proj(p) => self.proj_line(p, line)?,
                }
            }
            self.at += 1;
        }
        Ok(())
    }

    fn top(&mut self, line: &str, owner: &mut Option<Owner>) -> R<()> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "table" => {
                let (col, used) = split_json_pair(rest)?;
                self.net.layout.tables.push((json(col)?, json(used)?));
            }
            "record" => self.net.layout.records.push(json(rest)?),
            "population" => {
                let (name, rest) = json_string(rest)?;
                let rest = rest.trim_start().strip_prefix('=').ok_or("expected `=`")?;
                let (model, rest) = json_string(rest)?;
                let size = rest
                    .trim()
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .ok_or("expected `[size]`")?;
                let size = size.parse().map_err(|_| format!("bad size `{size}`"))?;
                self.net.layout.pops.push(PopLayout {
                    name,
                    model,
                    size,
                    ..PopLayout::default()
                });
                self.net.pops.push(PopKernels::default());
                *owner = Some(Owner::Pop(self.net.pops.len() - 1));
            }
            "projection" => {
                let (name, rest) = json_string(rest)?;
                let rest = rest.trim_start().strip_prefix(':').ok_or("expected `:`")?;
                let (pre, rest) = json_string(rest)?;
                let rest = rest
                    .trim_start()
                    .strip_prefix("->")
                    .ok_or("expected `->`")?;
                let (post, _) = json_string(rest)?;
                let find = |n: &str| {
                    self.net
                        .layout
                        .pops
                        .iter()
                        .position(|p| p.name == n)
                        .ok_or(format!("no population `{n}` (declare it first)"))
                };
                let (pre, post) = (find(&pre)?, find(&post)?);
                self.net.layout.projs.push(ProjLayout {
                    name,
                    origin: String::new(),
                    pre,
                    post,
                    vars: vec![],
                    connect: Connect::Rule(Rule::AllToAll),
                    autapses: false,
                    filtered: false,
                    delay_var: None,
                    delay_bound: None,
                    on_post_delay: 0.0,
                    post_added: vec![],
                    stream: 0,
                    pre_sel: None,
                    post_sel: None,
                });
                self.net.projs.push(ProjKernels::default());
                *owner = Some(Owner::Proj(self.net.projs.len() - 1));
            }
            _ => return Err(format!("unknown item `{word}`")),
        }
        Ok(())
    }

    fn pop_line(&mut self, p: usize, line: &str) -> R<()> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let pop = &mut self.net.layout.pops[p];
        match word {
            "stream" => pop.stream = rest.trim().parse().map_err(|_| "bad stream")?,
            "poisson_rate" => pop.poisson_rate = Some(number(rest.trim())?),
            "rate_unit" => pop.rate_unit = true,
            "refractory_flag" => pop.refractory_flag = Some(percent(rest.trim())?),
            "adaptive" => {
                let v: Vec<&str> = rest.split_whitespace().collect();
                let [a, r, m] = v[..] else {
                    return Err("expected `adaptive %ACCEPTED %REJECTED %SMALLEST`".into());
                };
                pop.adaptive = Some(circ_runtime::layout::AdaptiveVars {
                    accepted: percent(a)?,
                    rejected: percent(r)?,
                    smallest: percent(m)?,
                });
            }
            "held" => pop.held = json(rest)?,
            "schedule" => pop.schedule = json(rest)?,
            "schedule_source" => pop.schedule_source = Some(json(rest)?),
            ";" => self.net.pops[p].solver_notes.push(note(line)),
            "var" => {
                let (k, name, rest) = var_head(rest)?;
                if k != pop.vars.len() {
                    return Err(format!("expected var %{}, found %{k}", pop.vars.len()));
                }
                let (role, scalar) = match rest.split_once(',') {
                    Some((r, s)) if s.trim() == "scalar" => (r, true),
                    Some(_) => return Err(format!("unexpected `{rest}`")),
                    None => (rest, false),
                };
                pop.vars.push(VarLayout {
                    name,
                    role: role_of(role)?,
                    scalar,
                });
            }
            "kernel" => {
                let names: Vec<String> = pop.vars.iter().map(|v| v.name.clone()).collect();
                let (phase, kernel) = self.kernel(rest, &names)?;
                let k = &mut self.net.pops[p];
                match phase.as_str() {
                    "init" => k.init = kernel,
                    "dynamic" => k.dynamic = kernel,
                    "drive" => k.drive = kernel,
                    "update" => k.update = kernel,
                    "threshold" => k.threshold = Some(kernel),
                    "reset" => k.reset = Some(kernel),
                    other => return Err(format!("a population has no `{other}` kernel")),
                }
            }
            _ => return Err(format!("unknown line `{line}` in a population")),
        }
        Ok(())
    }

    fn proj_line(&mut self, p: usize, line: &str) -> R<()> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let proj = &mut self.net.layout.projs[p];
        match word {
            "origin" => proj.origin = json(rest)?,
            "connect" => proj.connect = json(rest)?,
            "autapses" => proj.autapses = true,
            "filtered" => proj.filtered = true,
            "delay" => proj.delay_var = Some(percent(rest.trim())?),
            "delay_bound" => proj.delay_bound = Some(json(rest)?),
            "on_post_delay" => proj.on_post_delay = json(rest)?,
            "post_added" => proj.post_added = json(rest)?,
            "stream" => proj.stream = rest.trim().parse().map_err(|_| "bad stream")?,
            "pre_sel" => proj.pre_sel = Some(json(rest)?),
            "post_sel" => proj.post_sel = Some(json(rest)?),
            ";" => self.net.projs[p].solver_notes.push(note(line)),
            "var" => {
                let (k, name, rest) = var_head(rest)?;
                if k != proj.vars.len() {
                    return Err(format!("expected var %{}, found %{k}", proj.vars.len()));
                }
                let (role, space) = rest
                    .trim()
                    .split_once(' ')
                    .ok_or("expected a role and a space")?;
                proj.vars.push(ProjVar {
                    name,
                    space: space_of(space.trim())?,
                    role: role_of(role)?,
                });
            }
            "where" => {
                let names: Vec<String> = proj.vars.iter().map(|v| v.name.clone()).collect();
                let e = Exprs::new(rest, &names).whole()?;
                self.net.projs[p].filter = Some(e);
            }
            "kernel" => {
                let names: Vec<String> = proj.vars.iter().map(|v| v.name.clone()).collect();
                let (phase, kernel) = self.kernel(rest, &names)?;
                let k = &mut self.net.projs[p];
                match phase.as_str() {
                    "init" => k.init.push(kernel),
                    "dynamic" => k.dynamic = kernel,
                    "couple" => k.couple.push(kernel),
                    "update" => k.update.push(kernel),
                    "on_pre" => k.on_pre.push(kernel),
                    "on_post" => k.on_post.push(kernel),
                    other => return Err(format!("a projection has no `{other}` kernel")),
                }
            }
            _ => return Err(format!("unknown line `{line}` in a projection")),
        }
        Ok(())
    }

    /// `PHASE ["NAME"] (DOMAIN, N temps) {` and the body to its `}` (or `{}`).
    fn kernel(&mut self, head: &str, names: &[String]) -> R<(String, Kernel)> {
        let (phase, rest) = head.split_once(' ').ok_or("expected a kernel's phase")?;
        let rest = rest.trim_start();
        let (name, rest) = if rest.starts_with('"') {
            json_string(rest)?
        } else {
            (phase.to_string(), rest)
        };
        let rest = rest.trim_start().strip_prefix('(').ok_or("expected `(`")?;
        let (inside, rest) = rest.split_once(')').ok_or("expected `)`")?;
        let (domain, temps) = inside
            .rsplit_once(',')
            .ok_or("expected `DOMAIN, N temps`")?;
        let domain = DOMAINS
            .iter()
            .copied()
            .find(|d| domain_name(*d) == domain.trim())
            .ok_or(format!("unknown domain `{}`", domain.trim()))?;
        let temps = temps
            .trim()
            .strip_suffix("temps")
            .and_then(|n| n.trim().parse().ok())
            .ok_or("expected `N temps`")?;
        let mut kernel = Kernel {
            name,
            domain,
            temps,
            body: vec![],
        };
        match rest.trim() {
            "{}" => {}
            "{" => {
                self.at += 1;
                let (body, end) = self.block(names)?;
                if end != "}" {
                    return Err(format!("a kernel ends with `}}`, not `{end}`"));
                }
                kernel.body = body;
            }
            other => return Err(format!("expected `{{`, found `{other}`")),
        }
        Ok((phase.to_string(), kernel))
    }

    /// Statements up to a closing line (`}` or `} else {`), which it returns;
    /// `self.at` is left on that line.
    fn block(&mut self, names: &[String]) -> R<(Vec<Stmt>, String)> {
        let mut body = vec![];
        while self.at < self.lines.len() {
            let line = self.lines[self.at].trim();
            let line = line.split_once("  ;").map_or(line, |(s, _)| s).trim();
            if line.is_empty() || line.starts_with(';') {
                self.at += 1;
                continue;
            }
            if line == "}" || line == "} else {" {
                return Ok((body, line.to_string()));
            }
            body.push(self.stmt(line, names)?);
            self.at += 1;
        }
        Err("a block without its `}`".into())
    }

    fn stmt(&mut self, line: &str, names: &[String]) -> R<Stmt> {
        if let Some(c) = line.strip_prefix("if ") {
            let c = c
                .strip_suffix('{')
                .ok_or("expected `{` after the condition")?;
            let c = Exprs::new(c, names).whole()?;
            self.at += 1;
            let (a, end) = self.block(names)?;
            let b = if end == "} else {" {
                self.at += 1;
                let (b, end) = self.block(names)?;
                if end != "}" {
                    return Err("an `else` block ends with `}`".into());
                }
                b
            } else {
                vec![]
            };
            return Ok(Stmt::If(c, a, b));
        }
        if let Some(c) = line.strip_prefix("while ") {
            let c = c
                .strip_suffix('{')
                .ok_or("expected `{` after the loop's condition")?;
            let c = Exprs::new(c, names).whole()?;
            self.at += 1;
            let (a, end) = self.block(names)?;
            if end != "}" {
                return Err("a `while` block has no `else`".into());
            }
            return Ok(Stmt::While(c, a));
        }
        if let Some(c) = line.strip_prefix("spike if ") {
            return Ok(Stmt::Spike(Exprs::new(c, names).whole()?));
        }
        if let Some(e) = line.strip_prefix("refractory ") {
            return Ok(Stmt::SetRefractory(Exprs::new(e, names).whole()?));
        }
        if let Some(t) = line.strip_prefix("$t") {
            let (t, e) = t.split_once(" = ").ok_or("expected `$tN = EXPR`")?;
            let t = t.parse().map_err(|_| format!("bad temporary `$t{t}`"))?;
            return Ok(Stmt::Let(t, Exprs::new(e, names).whole()?));
        }
        if let Some((v, e)) = line.split_once(" <- ") {
            return Ok(Stmt::Store(
                var_id(v, names)?,
                Exprs::new(e, names).whole()?,
            ));
        }
        if let Some((v, e)) = line.split_once(" += ") {
            return Ok(Stmt::AddTo(
                var_id(v, names)?,
                Exprs::new(e, names).whole()?,
            ));
        }
        Err(format!("not a statement: `{line}`"))
    }
}

const DOMAINS: [Domain; 10] = [
    Domain::Once,
    Domain::Each,
    Domain::Spiking,
    Domain::PreNeurons,
    Domain::PostNeurons,
    Domain::Synapses,
    Domain::SpikingPre,
    Domain::Arriving,
    Domain::SpikingPost,
    Domain::PostSpikeSynapses,
];

fn note(line: &str) -> String {
    line.trim_start_matches("; solver:").trim().to_string()
}

fn split_json_pair(s: &str) -> R<(&str, &str)> {
    // `{...} "..."`: the object ends where its braces balance.
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    for (k, c) in s.char_indices() {
        if in_str {
            match c {
                _ if esc => esc = false,
                '\\' => esc = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&s[..=k], &s[k + 1..]));
                }
            }
            _ => {}
        }
    }
    Err(format!("expected two JSON values in `{s}`"))
}

fn percent(s: &str) -> R<usize> {
    s.strip_prefix('%')
        .and_then(|n| n.parse().ok())
        .ok_or(format!("expected `%N`, found `{s}`"))
}

/// `%K "NAME": REST` → (K, NAME, REST).
fn var_head(s: &str) -> R<(usize, String, &str)> {
    let (k, rest) = s
        .trim()
        .split_once(' ')
        .ok_or("expected `%N \"name\": ...`")?;
    let k = percent(k)?;
    let (name, rest) = json_string(rest)?;
    let rest = rest.trim_start().strip_prefix(':').ok_or("expected `:`")?;
    Ok((k, name, rest.trim()))
}

fn role_of(s: &str) -> R<VarRole> {
    Ok(match s.trim() {
        "Param" => VarRole::Param,
        "State" => VarRole::State,
        "Input" => VarRole::Input,
        "Internal" => VarRole::Internal,
        other => return Err(format!("unknown role `{other}`")),
    })
}

fn space_of(s: &str) -> R<Space> {
    let index = |inner: &str| inner.strip_suffix(')').and_then(|n| n.parse().ok());
    Ok(match s {
        "Scalar" => Space::Scalar,
        "Syn" => Space::Syn,
        "PreState" => Space::PreState,
        "PostState" => Space::PostState,
        _ => {
            if let Some(k) = s.strip_prefix("PreNeuron(").and_then(index) {
                Space::PreNeuron(k)
            } else if let Some(k) = s.strip_prefix("PostNeuron(").and_then(index) {
                Space::PostNeuron(k)
            } else {
                return Err(format!("unknown space `{s}`"));
            }
        }
    })
}

fn var_id(s: &str, names: &[String]) -> R<VarId> {
    let s = s.trim();
    if let Some(n) = s.strip_prefix('%') {
        let k: VarId = n.parse().map_err(|_| format!("bad variable `{s}`"))?;
        if (k as usize) < names.len() {
            return Ok(k);
        }
        return Err(format!("no variable {s} (there are {})", names.len()));
    }
    let mut found = names.iter().enumerate().filter(|(_, n)| *n == s);
    match (found.next(), found.next()) {
        (Some((k, _)), None) => Ok(k as VarId),
        (Some(_), Some(_)) => Err(format!("`{s}` names two variables: write `%N`")),
        _ => Err(format!("no variable `{s}`")),
    }
}

fn number(s: &str) -> R<f64> {
    match s {
        "NaN" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad number `{s}`")),
    }
}

/// An expression's tokens, read front to back.
struct Exprs<'n> {
    toks: Vec<String>,
    at: usize,
    names: &'n [String],
}

impl<'n> Exprs<'n> {
    fn new(s: &str, names: &'n [String]) -> Self {
        Exprs {
            toks: tokens(s),
            at: 0,
            names,
        }
    }

    fn whole(mut self) -> R<Expr> {
        let e = self.expr()?;
        match self.toks.get(self.at) {
            None => Ok(e),
            Some(t) => Err(format!("unexpected `{t}` after an expression")),
        }
    }

    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> R<String> {
        let t = self
            .toks
            .get(self.at)
            .cloned()
            .ok_or("an expression ends too early")?;
        self.at += 1;
        Ok(t)
    }

    fn expect(&mut self, t: &str) -> R<()> {
        let got = self.next()?;
        if got == t {
            Ok(())
        } else {
            Err(format!("expected `{t}`, found `{got}`"))
        }
    }

    /// `NAME(args)`, after the name.
    fn args(&mut self) -> R<Vec<Expr>> {
        self.expect("(")?;
        let mut args = vec![];
        if self.peek() == Some(")") {
            self.at += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            match self.next()?.as_str() {
                "," => continue,
                ")" => return Ok(args),
                t => return Err(format!("expected `,` or `)`, found `{t}`")),
            }
        }
    }

    fn expr(&mut self) -> R<Expr> {
        let t = self.next()?;
        let first = t.chars().next().unwrap_or(' ');
        if t == "(" {
            let a = self.expr()?;
            let op = self.next()?;
            let op = BINS
                .iter()
                .copied()
                .find(|b| bin_symbol(*b) == Some(op.as_str()))
                .ok_or(format!("unknown operator `{op}`"))?;
            let b = self.expr()?;
            self.expect(")")?;
            return Ok(Expr::bin(op, a, b));
        }
        if t == "-" {
            let a = self.args()?;
            return one(a).map(|a| Expr::Un(Un::Neg, Box::new(a)));
        }
        if first.is_ascii_digit() || t.starts_with('-') || t == "NaN" || t == "inf" {
            return number(&t).map(Expr::Const);
        }
        if let Some(n) = t.strip_prefix("$t") {
            return n
                .parse()
                .map(Expr::Temp)
                .map_err(|_| format!("bad temporary `{t}`"));
        }
        if let Some(rest) = t.strip_prefix("table#") {
            let k = rest.parse().map_err(|_| format!("bad table `{t}`"))?;
            self.expect("[")?;
            let a = self.expr()?;
            self.expect("]")?;
            return Ok(Expr::Table(k, Box::new(a)));
        }
        for (prefix, dist) in [("uniform#", Dist::Uniform), ("normal#", Dist::Normal)] {
            if let Some(rest) = t.strip_prefix(prefix) {
                let s = rest.parse().map_err(|_| format!("bad stream `{t}`"))?;
                self.expect("(")?;
                self.expect(")")?;
                return Ok(Expr::Rand(dist, s));
            }
        }
        let called = self.peek() == Some("(");
        match t.as_str() {
            "t" => return Ok(Expr::Time),
            "dt" => return Ok(Expr::Dt),
            "index" => return Ok(Expr::Index),
            "i" => return Ok(Expr::PreIndex),
            "j" => return Ok(Expr::PostIndex),
            "refractory" => return Ok(Expr::Refractory),
            "not" => return one(self.args()?).map(|a| Expr::Un(Un::Not, Box::new(a))),
            "select" => {
                let mut a = self.args()?;
                if a.len() != 3 {
                    return Err("`select` takes three arguments".into());
                }
                let (z, y, x) = (a.remove(2), a.remove(1), a.remove(0));
                return Ok(Expr::Select(Box::new(x), Box::new(y), Box::new(z)));
            }
            "min" | "max" => {
                let mut a = self.args()?;
                if a.len() != 2 {
                    return Err(format!("`{t}` takes two arguments"));
                }
                let op = if t == "min" { Bin::Min } else { Bin::Max };
                let (y, x) = (a.remove(1), a.remove(0));
                return Ok(Expr::bin(op, x, y));
            }
            _ => {}
        }
        if called && let Some(f) = Func::ALL.iter().copied().find(|f| f.name() == t) {
            let args = self.args()?;
            if args.len() != f.arity() {
                return Err(format!("`{t}` takes {} argument(s)", f.arity()));
            }
            return Ok(Expr::Call(f, args));
        }
        if RESERVED.contains(&t.as_str()) {
            return Err(format!("`{t}` cannot be used here"));
        }
        var_id(&t, self.names).map(Expr::Load)
    }
}

fn one(mut a: Vec<Expr>) -> R<Expr> {
    if a.len() == 1 {
        Ok(a.remove(0))
    } else {
        Err("expected one argument".into())
    }
}

const BINS: [Bin; 14] = [
    Bin::Add,
    Bin::Sub,
    Bin::Mul,
    Bin::Div,
    Bin::Rem,
    Bin::Pow,
    Bin::Lt,
    Bin::Le,
    Bin::Gt,
    Bin::Ge,
    Bin::Eq,
    Bin::Ne,
    Bin::And,
    Bin::Or,
];

/// Splits an expression into tokens. A `-` directly before a digit or `inf`
/// starts a number (binary minus is written with spaces around it); one
/// before `(` is a negation.
fn tokens(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = vec![];
    let mut k = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '%' | '#');
    while k < chars.len() {
        let c = chars[k];
        if c.is_whitespace() {
            k += 1;
            continue;
        }
        let starts_number = |at: usize| {
            chars
                .get(at)
                .is_some_and(|c| c.is_ascii_digit() || *c == 'i' || *c == 'N')
        };
        if c == '-' && starts_number(k + 1) {
            let start = k;
            k += 1;
            while k < chars.len() && (word(chars[k]) || is_exp_sign(&chars, k)) {
                k += 1;
            }
            out.push(chars[start..k].iter().collect());
            continue;
        }
        if word(c) {
            let start = k;
            while k < chars.len() && (word(chars[k]) || is_exp_sign(&chars, k)) {
                k += 1;
            }
            out.push(chars[start..k].iter().collect());
            continue;
        }
        let two: String = chars[k..(k + 2).min(chars.len())].iter().collect();
        if matches!(two.as_str(), "<=" | ">=" | "==" | "!=") {
            out.push(two);
            k += 2;
            continue;
        }
        out.push(c.to_string());
        k += 1;
    }
    out
}

/// A sign inside a number's exponent (`1e-3`): part of the number.
fn is_exp_sign(chars: &[char], k: usize) -> bool {
    matches!(chars[k], '-' | '+')
        && k >= 2
        && matches!(chars[k - 1], 'e' | 'E')
        && chars[k - 2].is_ascii_digit()
        && chars.get(k + 1).is_some_and(char::is_ascii_digit)
}
