//! Where the REPL's lines come from: a line editor on a terminal (history,
//! completion of names, units and commands), plain lines when piped.

use super::Session;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, error::ReadlineError};
use std::io::BufRead;

/// A source of input lines.
pub trait Lines {
    /// The next line (without its newline), or `None` at the end.
    fn read(&mut self, prompt: &str, session: &Session) -> Option<String>;
}

/// Lines from a pipe or file: no prompt, no editing.
pub struct Piped<R: BufRead>(pub R);

impl<R: BufRead> Lines for Piped<R> {
    fn read(&mut self, _prompt: &str, _session: &Session) -> Option<String> {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

/// Commands completion offers after `:`.
const COMMANDS: &[&str] = &[
    ":type",
    ":load",
    ":instantiate",
    ":run",
    ":set",
    ":reset",
    ":spikes",
    ":show",
    ":save",
    ":items",
    ":explain",
    ":help",
    ":quit",
];

/// Keywords completion offers.
const WORDS: &[&str] = &[
    "neuron",
    "synapse",
    "circuit",
    "const",
    "fn",
    "use",
    "run",
    "parameter",
    "state",
    "input",
    "population",
    "project",
    "connect",
    "record",
    "spikes",
    "of",
    "every",
    "window",
    "threshold",
    "reset",
    "refractory",
    "unless",
    "on",
    "pre",
    "post",
    "method",
    "per",
];

/// The units modelers type most (the REPL's and the language server's completion).
pub(crate) const UNITS: &[&str] = &[
    "mV", "V", "ms", "us", "s", "Hz", "kHz", "nS", "uS", "mS", "pF", "nF", "uF", "pA", "nA", "uA",
    "Mohm", "kohm", "ohm", "mM", "um", "cm", "cm2",
];

/// Completion of commands, names and units.
#[derive(Default)]
pub struct Helper {
    names: Vec<String>,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, vec![]));
        }
        let pool: Vec<&str> = if start == 0 && word.starts_with(':') {
            COMMANDS.to_vec()
        } else {
            self.names
                .iter()
                .map(String::as_str)
                .chain(WORDS.iter().copied())
                .chain(UNITS.iter().copied())
                .collect()
        };
        let mut found: Vec<&str> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
        found.sort_unstable();
        found.dedup();
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.to_string(),
                replacement: c.to_string(),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for Helper {
    type Hint = String;
}
impl Highlighter for Helper {}
impl Validator for Helper {}
impl rustyline::Helper for Helper {}

/// The line editor, with history kept in `~/.circ_history`.
pub struct Editor {
    ed: rustyline::Editor<Helper, DefaultHistory>,
    history: Option<std::path::PathBuf>,
}

impl Editor {
    /// An editor for `session`'s names.
    pub fn new(session: &Session) -> Result<Editor, ReadlineError> {
        let mut ed = rustyline::Editor::<Helper, DefaultHistory>::new()?;
        ed.set_helper(Some(Helper {
            names: session.names(),
        }));
        let history =
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".circ_history"));
        if let Some(h) = &history {
            // No history yet is normal.
            let _ = ed.load_history(h);
        }
        Ok(Editor { ed, history })
    }
}

impl Lines for Editor {
    fn read(&mut self, prompt: &str, session: &Session) -> Option<String> {
        if let Some(h) = self.ed.helper_mut() {
            h.names = session.names();
        }
        match self.ed.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.ed.add_history_entry(line.as_str());
                    if let Some(h) = &self.history {
                        let _ = self.ed.save_history(h);
                    }
                }
                Some(line)
            }
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => Some(String::new()),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(h: &Helper, line: &str) -> Vec<String> {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let (_, found) = h.complete(line, line.len(), &ctx).unwrap_or((0, vec![]));
        found.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn completes_commands_names_and_units() {
        let h = Helper {
            names: vec!["LIFCond".into(), "Coba".into()],
        };
        assert_eq!(complete(&h, ":lo"), [":load"]);
        assert_eq!(complete(&h, ":s"), [":save", ":set", ":show", ":spikes"]);
        assert_eq!(complete(&h, "population E = LIF"), ["LIFCond"]);
        assert!(complete(&h, "v = -65 m").contains(&"mV".to_string()));
        assert!(complete(&h, "tau = 10 m").contains(&"ms".to_string()));
        // Commands only at the start of a line.
        assert!(complete(&h, "x :lo").is_empty());
    }
}
