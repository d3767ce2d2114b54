"""The Python package against the command line: same files, sweeps that
skip lowering and code generation, diagnostics as objects and exceptions,
the GIL released during runs, Ctrl-C."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import circ


def cli_run(circ_bin, model, out, *args):
    subprocess.run(
        [circ_bin, "run", str(model), "--out", str(out), *args],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize(
    "example,args",
    [
        ("coba.circ", {"duration": "200 ms", "seed": 7}),
        ("stdp_song2000.circ", {"duration": "300 ms"}),
        ("izhikevich2003.circ", {"duration": "100 ms", "set": {}}),
        ("celegans.circ", {"duration": "100 ms", "threads": 2}),
    ],
)
def test_arrays_equal_the_npy_files_of_circ_run(repo, circ_bin, tmp_path, example, args):
    model = repo / "examples" / example
    flags = ["--duration", args["duration"]]
    if "seed" in args:
        flags += ["--seed", str(args["seed"])]
    if "threads" in args:
        flags += ["--threads", str(args["threads"])]
    out = cli_run(circ_bin, model, tmp_path / "cli", *flags)
    r = circ.run(model, **args)
    on_disk = sorted(p.name for p in out.iterdir() if p.suffix == ".npy")
    assert on_disk == sorted(r.arrays), "the same files"
    assert on_disk, "the example records something"
    for name in on_disk:
        data = (out / name).read_bytes()
        assert r.files[name] == data, f"{name}: byte for byte"
        a = np.load(out / name)
        assert a.dtype == r.arrays[name].dtype and np.array_equal(a, r.arrays[name], equal_nan=True)
    summary = json.loads((out / "summary.json").read_text())
    assert r.summary["populations"] == summary["populations"]
    assert r.stopped is None and r.summary["completed"]


def test_result_names_recordings_with_their_units(repo):
    r = circ.run(repo / "examples" / "coba.circ", duration="100 ms", seed=3)
    e = r.spikes["E"]
    assert e.t.dtype == np.float64 and e.i.dtype == np.int64 and len(e.t) == len(e.i) > 0
    assert np.all(np.diff(e.t) >= 0) and e.i.max() < 3200
    v = r.states["E.v"]
    assert v.unit == "V" and v.values.shape == (len(v.t), 10)
    assert -0.09 < v.values.min() and v.values.max() < -0.04
    assert r.rates["E"].unit == "Hz"
    assert r.summary["populations"]["E"]["spikes"] == len(e.t)


def test_a_sweep_neither_lowers_nor_compiles_again(repo):
    m = circ.Model(repo / "examples" / "coba.circ")
    t0 = time.perf_counter()
    first = m.run("100 ms", seed=1)
    t_first = time.perf_counter() - t0
    assert first.lowered and first.compiled and first.timings["compile"] > 0
    seconds = []
    for seed in (2, 3, 4):
        t0 = time.perf_counter()
        r = m.run("100 ms", seed=seed)
        seconds.append(time.perf_counter() - t0)
        assert not r.lowered and not r.compiled, r.timings
        assert r.timings["lower"] == 0 and r.timings["compile"] == 0
        # What a fresh model gives for that seed.
        fresh = circ.run(repo / "examples" / "coba.circ", "100 ms", seed=seed)
        assert all(r.files[n] == fresh.files[n] for n in r.arrays)
    # The time it skips is most of a first run here (code generation).
    assert min(seconds) < t_first, (seconds, t_first)
    # A parameter compiled into the kernels compiles once per value; a
    # value seen before does not.
    a = m.run("100 ms", seed=1, set={"exc.w": "5 nS"})
    assert a.lowered and a.compiled
    b = m.run("100 ms", seed=1, set={"exc.w": "5 nS"})
    assert not b.lowered and not b.compiled
    c = m.run("100 ms", seed=1)
    assert not c.compiled and c.files["E_spikes_t.npy"] == first.files["E_spikes_t.npy"]
    assert a.files["E_spikes_t.npy"] != first.files["E_spikes_t.npy"]


def test_check_returns_diagnostics_as_objects():
    text = (
        "neuron Leaky {\n    state v = -65 mV\n    dv/dt = (-65 mV - v) / 10\n"
        "    spike when v > -50 mV { v = -65 mV }\n}\n"
    )
    ds = circ.check(text)
    errors = [d for d in ds if d.severity == "error"]
    assert len(errors) == 1, ds
    d = errors[0]
    assert d.code == "derivative-dimension"
    assert (d.line, d.column, d.end_line, d.end_column) == (3, 13, 3, 30)
    assert d.file == "<text>"
    assert "voltage/time (mV/ms)" in d.message
    assert "dv/dt = (-65 mV - v) / 10" in d.rendered and "3 │" in d.rendered
    clean = circ.check(text.replace("/ 10\n", "/ 10 ms\n"))
    assert [d for d in clean if d.severity == "error"] == []


def test_errors_are_exceptions_with_the_rendered_diagnostic(repo, tmp_path):
    bad = tmp_path / "bad.circ"
    bad.write_text("neuron X {\n    state v = 0 mV\n    dv/dt = v\n}\n")
    with pytest.raises(circ.CircError) as e:
        circ.run(bad)
    assert e.value.code == 1
    assert "bad.circ:3:13" in str(e.value) and "dv/dt = v" in str(e.value)
    with pytest.raises(circ.CircError) as e:
        circ.Model("neuron X { v: volt }\n")
    assert e.value.code == 1 and "<text>:1:13" in str(e.value)
    m = circ.Model(repo / "examples" / "coba.circ")
    with pytest.raises(circ.CircError) as e:
        m.run("100 parsecs")
    assert e.value.code == 2 and "duration" in str(e.value)
    with pytest.raises(circ.CircError) as e:
        m.run("10 ms", set={"exc.w": "5 mV"})
    assert "dimension" in str(e.value) or "conductance" in str(e.value), str(e.value)
    with pytest.raises(circ.CircError) as e:
        m.run("10 ms", backend="fpga")
    assert "no backend `fpga`" in str(e.value)
    with pytest.raises(FileNotFoundError):
        circ.check(tmp_path / "missing.circ")
    # The model still runs after its errors.
    assert m.run("10 ms").summary["completed"]


def test_a_run_that_blows_up_raises_with_what_it_recorded(tmp_path):
    model = (
        "neuron Runaway {\n    state v = 1 mV\n    dv/dt = v / 0.01 ms\n}\n"
        "circuit C {\n    population P = Runaway[2]\n    record v of P every 0.1 ms\n}\n"
        "run C for 100 ms\n"
    )
    with pytest.raises(circ.CircError) as e:
        circ.run(model, out=tmp_path / "out")
    assert e.value.code == 1
    assert "`v` of neuron 0 of population `P` became inf" in str(e.value), str(e.value)
    r = e.value.result
    assert r is not None and r.summary["completed"] is False
    v = r.states["P.v"]
    assert len(v.t) > 0 and np.isfinite(v.values[0]).all()
    # The files up to then were written, as by circ run.
    assert (tmp_path / "out" / "P_v.npy").exists()


def test_out_writes_the_files_of_circ_run(repo, circ_bin, tmp_path):
    model = repo / "examples" / "coba.circ"
    cli = cli_run(circ_bin, model, tmp_path / "cli", "--duration", "50ms")
    r = circ.run(model, "50 ms", out=tmp_path / "py")
    names = sorted(p.name for p in cli.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "py").iterdir())
    for n in names:
        if n.endswith(".npy") or n.endswith(".csv"):
            assert (cli / n).read_bytes() == (tmp_path / "py" / n).read_bytes(), n
    assert r.arrays.keys() <= set(names)


def test_runs_release_the_gil(repo):
    m = circ.Model(repo / "examples" / "coba.circ")
    m.run("10 ms")
    stamps = []
    done = threading.Event()

    def count():
        n = 0
        while not done.is_set():
            n += 1
            if n % 1000 == 0:
                stamps.append(time.perf_counter())

    t = threading.Thread(target=count)
    t.start()
    t0 = time.perf_counter()
    try:
        r = m.run("300 ms", backend="interp", threads=1)
    finally:
        t1 = time.perf_counter()
        done.set()
        t.join()
    # Python ran beside the simulation all along: with the GIL held by the
    # run, the counter would stand still in the middle of it.
    span = t1 - t0
    assert r.timings["run"] > 0.2, r.timings
    middle = [s for s in stamps if t0 + 0.25 * span < s < t1 - 0.25 * span]
    assert len(middle) > 20, (len(middle), len(stamps), span)


def test_ctrl_c_stops_a_run_and_raises_keyboard_interrupt(repo, tmp_path):
    m = circ.Model(repo / "examples" / "coba.circ")
    m.run("10 ms")
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.run("1000 s", backend="interp", out=tmp_path / "stopped")
    took = time.perf_counter() - t0
    assert took < 10, took
    # The files up to the interruption are complete and say so.
    summary = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert summary["completed"] is False
    assert "SIGINT" in summary["stopped_because"]
    spikes = np.load(tmp_path / "stopped" / "E_spikes_t.npy")
    assert 0 < spikes.max() < 1000
    # The model runs again afterwards.
    assert m.run("10 ms").stopped is None


def test_models_from_text_read_imports_beside_them(repo, tmp_path):
    (tmp_path / "cell.circ").write_text(
        "neuron Cell {\n    state v = -65 mV\n    dv/dt = (-65 mV - v) / 10 ms + 2 mV / 1 ms\n"
        "    spike when v > -50 mV { v = -65 mV }\n}\n"
    )
    text = (
        'use "cell.circ"::{Cell}\ncircuit C {\n    population P = Cell[3]\n    record spikes of P\n}\n'
        "run C for 100 ms\n"
    )
    r = circ.Model(text, name=str(tmp_path / "model.circ")).run()
    assert len(r.spikes["P"].t) > 0
    assert {"auto", "jit", "interp"} <= set(dict(circ.backends()))


def test_notebook_runs_headless_and_plots_a_raster(repo, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    path = repo / "bindings" / "python" / "notebooks" / "coba_raster.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}).execute()
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 1, "the raster is drawn"
    texts = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "spikes of E" in texts
