//! circ-python owns `circ._core`, the extension module under the `circ`
//! Python package (`python/circ`): a model checked once and kept on a
//! thread of its own ([`Model`]), whose runs go through `circ-driver` and
//! `circ-exe` exactly as `circ run`'s do and come back as the bytes of the
//! files `circ run` writes; and `check`, the diagnostics `circ check`
//! gives. It must not hold the GIL while a model is checked, compiled or
//! run, print, or read the environment; turning files into NumPy arrays is
//! the Python side's.

use circ_driver::{Failure, Report, Request, Settings, Source};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

/// What the model's thread is asked: one run, answered on its channel.
type Job = (Request, Sender<Result<Report, Failure>>);

/// `circ.CircError(message, code)`, defined in Python (`circ/_errors.py`).
fn circ_error(py: Python<'_>, f: &Failure) -> PyErr {
    let made = py
        .import("circ._errors")
        .and_then(|m| m.getattr("CircError"))
        .and_then(|c| c.call1((f.message.trim_end(), f.code)));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// Waits for `rx` without the GIL, checking for Ctrl-C every 50 ms: the
/// first one sets `stop` (the run ends at a step boundary, its recordings
/// complete) and is raised once the answer has come.
fn wait<T: Send>(py: Python<'_>, mut rx: Receiver<T>, stop: &AtomicI32) -> PyResult<T> {
    let mut interrupted: Option<PyErr> = None;
    loop {
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
        rx = back;
        match got {
            Ok(v) => {
                return match interrupted {
                    Some(e) => Err(e),
                    None => Ok(v),
                };
            }
            Err(RecvTimeoutError::Timeout) => {
                if interrupted.is_none()
                    && let Err(e) = py.check_signals()
                {
                    // SIGINT's number: the run says "interrupted by SIGINT".
                    stop.store(2, Ordering::Relaxed);
                    interrupted = Some(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(interrupted.unwrap_or_else(|| {
                    circ_error(
                        py,
                        &Failure::new(1, "circ's worker thread stopped (an internal error)"),
                    )
                }));
            }
        }
    }
}

/// A time given as text with its unit (`"200 ms"`) or as seconds.
fn time(flag: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(text) = v.extract::<String>() {
        return circ_driver::parse_time(flag, &text)
            .map(Some)
            .map_err(|f| circ_error(v.py(), &f));
    }
    match v.extract::<f64>() {
        Ok(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(PyTypeError::new_err(format!(
            "{flag}: give a time with its unit (\"200 ms\") or seconds as a number"
        ))),
    }
}

/// A checked model on its own thread, keeping what it lowered and compiled.
#[pyclass(frozen, module = "circ._core")]
struct Model {
    /// Where runs are sent.
    jobs: Sender<Job>,
    /// Set to a signal's number to stop the current run.
    stop: Arc<AtomicI32>,
}

#[pymethods]
impl Model {
    /// Checks the model in `path`, or `text` under `name`; raises CircError
    /// with the rendered diagnostics when it has errors.
    #[new]
    #[pyo3(signature = (path=None, text=None, name="<text>"))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        text: Option<String>,
        name: &str,
    ) -> PyResult<Model> {
        let source = match (path, text) {
            (Some(p), None) => Source::file(&p).map_err(|f| circ_error(py, &f))?,
            (None, Some(t)) => Source::text(name, t),
            _ => return Err(PyTypeError::new_err("give a model's path or its text")),
        };
        let (jobs, inbox) = channel::<Job>();
        let (ready, checked) = channel::<Result<(), Failure>>();
        let stop = Arc::new(AtomicI32::new(0));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("circ-model".into())
            .stack_size(circ_driver::FRONT_END_STACK)
            .spawn(move || {
                let mut model = match circ_driver::check(source, false) {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        circ_driver::Model::new(c)
                    }
                    Err(f) => {
                        let _ = ready.send(Err(f));
                        return;
                    }
                };
                for (req, answer) in inbox {
                    let _ = answer.send(model.run(&req, &flag, None));
                }
            })
            .map_err(|e| circ_error(py, &Failure::new(1, format!("cannot start a thread: {e}"))))?;
        wait(py, checked, &stop)?.map_err(|f| circ_error(py, &f))?;
        Ok(Model { jobs, stop })
    }

    /// Runs the model; returns a dict of the run's files (name to bytes),
    /// why it stopped early (`stopped`), its warnings, whether it lowered
    /// and compiled, and its timings. Ctrl-C stops it at a step boundary
    /// and raises KeyboardInterrupt.
    #[pyo3(signature = (*, circuit=None, duration=None, dt=None, seed=None, sets=vec![], final_state=false, backend="auto", threads=None, out=None, allow_long_run=false))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        circuit: Option<String>,
        duration: Option<&Bound<'py, PyAny>>,
        dt: Option<&Bound<'py, PyAny>>,
        seed: Option<u64>,
        sets: Vec<String>,
        final_state: bool,
        backend: &str,
        threads: Option<usize>,
        out: Option<PathBuf>,
        allow_long_run: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let req = Request {
            settings: Settings {
                circuit,
                duration: time("duration", duration)?,
                dt: time("dt", dt)?,
                seed,
                final_state,
                sets,
            },
            backend: backend.into(),
            threads,
            out,
            memory_limit: None,
            allow_long: allow_long_run,
        };
        // This model's thread is its own: the stop flag of the run before
        // is cleared here, and its thread reads it through the stop below.
        self.stop.store(0, Ordering::Relaxed);
        let (answer, rx) = channel();
        self.jobs
            .send((req, answer))
            .map_err(|_| circ_error(py, &Failure::new(1, "this model's thread has stopped")))?;
        let report = wait(py, rx, &self.stop)?.map_err(|f| circ_error(py, &f))?;
        report_dict(py, report)
    }
}

/// A run's report as a dict.
fn report_dict(py: Python<'_>, r: Report) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let files = PyDict::new(py);
    for (name, bytes) in &r.files {
        files.set_item(name, PyBytes::new(py, bytes))?;
    }
    d.set_item("files", files)?;
    d.set_item("stopped", r.stopped)?;
    d.set_item("signal", r.signal)?;
    d.set_item("warnings", r.warnings)?;
    d.set_item("lowered", r.lowered)?;
    d.set_item("compiled", r.compiled)?;
    let t = PyDict::new(py);
    t.set_item("lower", r.timings.lower)?;
    t.set_item("compile", r.timings.compile)?;
    t.set_item("build", r.timings.build)?;
    t.set_item("run", r.timings.run)?;
    d.set_item("timings", t)?;
    Ok(d)
}

/// The diagnostics `circ check` gives the model `text` (named `name`, its
/// imports read beside it) as JSON: `circ check --format json`'s objects,
/// each with its `rendered` text.
#[pyfunction]
#[pyo3(signature = (text, name="<text>"))]
fn check(py: Python<'_>, text: String, name: &str) -> PyResult<String> {
    let source = Source::text(name, text);
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("circ-check".into())
        .stack_size(circ_driver::FRONT_END_STACK)
        .spawn(move || {
            let (map, analysis, _) = circ_driver::diagnose(&source, None);
            let items: Vec<serde_json::Value> = analysis
                .diagnostics
                .iter()
                .map(|d| {
                    let one = std::slice::from_ref(d);
                    let mut v: serde_json::Value =
                        serde_json::from_str(&circ_diag::render_json(one, &map))
                            .unwrap_or_default();
                    let mut item = v
                        .get_mut(0)
                        .map(serde_json::Value::take)
                        .unwrap_or_default();
                    if let Some(o) = item.as_object_mut() {
                        o.insert(
                            "rendered".into(),
                            circ_diag::render_all_text(one, &map, false).into(),
                        );
                    }
                    item
                })
                .collect();
            let _ = tx.send(serde_json::Value::Array(items).to_string());
        })
        .map_err(|e| circ_error(py, &Failure::new(1, format!("cannot start a thread: {e}"))))?;
    wait(py, rx, &AtomicI32::new(0))
}

/// The symbol of an SI unit as the run's summary writes it (`V` for
/// `m^2*kg*s^-3*A^-1`), else the unit as written.
#[pyfunction]
fn unit_symbol(si: &str) -> String {
    circ_runtime::output::unit_symbol(si)
}

/// The backends this build has, in the registry's order (name, summary).
#[pyfunction]
fn backends() -> Vec<(&'static str, &'static str)> {
    circ_backends::BACKENDS
        .iter()
        .map(|b| (b.name, b.summary))
        .collect()
}

/// The `circ._core` module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(unit_symbol, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
