"""circ from Python: run, check and sweep neural circuit models.

``circ.run("examples/coba.circ", duration="1 s", seed=1)`` checks the model,
compiles it and runs it as ``circ run`` does (the same front end, backends
and runtime, so the same bits), and returns its recordings as NumPy arrays
(``result.spikes["E"].t``, ``result.states["E.v"].values``) with the run's
summary as a dict, writing no file unless ``out=`` names a folder.
``circ.Model(path_or_text)`` keeps the checked model, its lowerings and
its compiled code for repeated runs: another seed, or values seen before,
neither lower nor compile again. ``circ.check(text)`` returns diagnostics.
Runs release the GIL; Ctrl-C stops one at a step boundary and raises
KeyboardInterrupt.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Union

import numpy as np

from . import _core
from ._errors import CircError

__all__ = [
    "CircError",
    "Diagnostic",
    "Model",
    "Result",
    "Spikes",
    "Trace",
    "backends",
    "check",
    "run",
]
__version__ = _core.__version__

Time = Union[str, float, None]


class Spikes(NamedTuple):
    """A population's spikes in time order: times (s) and neuron indices."""

    t: np.ndarray
    i: np.ndarray


class Trace(NamedTuple):
    """Samples of a recording: times (s), values (one row per time, one
    column per recorded element) in ``unit`` (SI: ``V``, ``Hz``, ``S``)."""

    t: np.ndarray
    values: np.ndarray
    unit: str


@dataclass
class Diagnostic:
    """One diagnostic of ``circ check``, at 1-based ``line`` and ``column``."""

    severity: str
    code: str
    message: str
    line: Optional[int]
    column: Optional[int]
    end_line: Optional[int]
    end_column: Optional[int]
    file: Optional[str]
    help: Optional[str]
    notes: List[str]
    rendered: str

    def __str__(self) -> str:
        return self.rendered


@dataclass
class Result:
    """What a run recorded, as NumPy arrays equal to ``circ run``'s ``.npy`` files.

    ``spikes[pop]``: Spikes; ``states["pop.var"]``, ``rates[pop]`` and
    ``synapses["proj.var"]``: Trace; ``connectivity[proj]``: ``(i, j,
    delay)``; ``arrays``: every ``.npy`` file by name; ``summary``:
    ``summary.json``; ``stopped``: why the run ended early (else None).
    """

    summary: Dict[str, Any]
    arrays: Dict[str, np.ndarray]
    files: Dict[str, bytes]
    spikes: Dict[str, Spikes] = field(default_factory=dict)
    states: Dict[str, Trace] = field(default_factory=dict)
    rates: Dict[str, Trace] = field(default_factory=dict)
    synapses: Dict[str, Trace] = field(default_factory=dict)
    connectivity: Dict[str, tuple] = field(default_factory=dict)
    stopped: Optional[str] = None
    warnings: List[str] = field(default_factory=list)
    lowered: bool = True
    compiled: bool = True
    timings: Dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        pops = ", ".join(
            f"{name}: {p['spikes']} spikes" for name, p in self.summary.get("populations", {}).items()
        )
        return f"<circ.Result {self.summary.get('circuit')} {self.summary.get('duration_s')} s; {pops}>"


def _result(report: Mapping[str, Any]) -> Result:
    files: Dict[str, bytes] = dict(report["files"])
    summary = json.loads(files["summary.json"])
    arrays = {
        name: np.load(io.BytesIO(data), allow_pickle=False)
        for name, data in files.items()
        if name.endswith(".npy")
    }
    r = Result(
        summary=summary,
        arrays=arrays,
        files=files,
        stopped=report["stopped"],
        warnings=list(report["warnings"]),
        lowered=report["lowered"],
        compiled=report["compiled"],
        timings=dict(report["timings"]),
    )
    for rec in summary.get("recordings", []):
        kind, of, var, fs = rec["kind"], rec["of"], rec["variable"], rec["files"]
        unit = _core.unit_symbol(rec["unit"])
        if kind == "spikes":
            r.spikes[of] = Spikes(t=arrays[fs[0]], i=arrays[fs[1]])
        elif kind == "state":
            r.states[f"{of}.{var}"] = Trace(t=arrays[fs[1]], values=arrays[fs[0]], unit=unit)
        elif kind == "rate":
            r.rates[of] = Trace(t=arrays[fs[1]], values=arrays[fs[0]], unit=unit)
        elif kind == "synapses":
            r.synapses[f"{of}.{var}"] = Trace(t=arrays[fs[1]], values=arrays[fs[0]], unit=unit)
        elif kind == "connectivity":
            r.connectivity[of] = tuple(arrays[f] for f in fs)
    return r


def _sets(values: Optional[Mapping[str, Any]]) -> List[str]:
    """``{"N": 8000, "exc.w": "5 nS"}`` as ``circ run --set`` arguments."""
    if not values:
        return []
    out = []
    for target, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(
                f"set[{target!r}]: give a number or a value with its unit such as \"5 nS\", not {type(value).__name__}"
            )
        out.append(f"{target}={value!r}" if isinstance(value, float) else f"{target}={value}")
    return out


def _is_path(model: Union[str, os.PathLike]) -> bool:
    if isinstance(model, os.PathLike):
        return True
    return "\n" not in model and (model.endswith(".circ") or os.path.exists(model))


class Model:
    """A checked model that keeps its lowerings and compiled code.

    ``Model("examples/coba.circ")`` or ``Model(text)``. Each ``run`` takes
    the settings of :func:`run`; a run with another seed (or settings seen
    before) neither lowers nor compiles again (``result.compiled`` says
    whether it did). Raises CircError when the model does not check.
    """

    def __init__(self, model: Union[str, os.PathLike], name: str = "<text>"):
        if _is_path(model):
            self._core = _core.Model(path=os.fspath(model))
            self.source = os.fspath(model)
        else:
            self._core = _core.Model(text=str(model), name=name)
            self.source = name

    def run(
        self,
        duration: Time = None,
        *,
        seed: Optional[int] = None,
        set: Optional[Mapping[str, Any]] = None,  # noqa: A002 (circ run's --set)
        dt: Time = None,
        circuit: Optional[str] = None,
        threads: Optional[int] = None,
        backend: str = "auto",
        out: Union[str, os.PathLike, None] = None,
        final_state: bool = False,
        allow_long_run: bool = False,
    ) -> Result:
        """Runs the model with these settings (see :func:`run`); a Result."""
        report = self._core.run(
            circuit=circuit,
            duration=duration,
            dt=dt,
            seed=seed,
            sets=_sets(set),
            final_state=final_state,
            backend=backend,
            threads=threads,
            out=None if out is None else os.fspath(out),
            allow_long_run=allow_long_run,
        )
        result = _result(report)
        # As `circ run` exits 1: a state that became NaN or a device that
        # failed is an error, not a result to overlook (Ctrl-C raised
        # KeyboardInterrupt already).
        if result.stopped is not None and report["signal"] is None:
            raise CircError(f"error: {result.stopped}", 1, result)
        return result

    def __repr__(self) -> str:
        return f"<circ.Model {self.source}>"


def run(model: Union[str, os.PathLike], duration: Time = None, **settings: Any) -> Result:
    """Checks, compiles and runs a model (a ``.circ`` path or its text).

    ``duration`` and ``dt`` as text with a unit (``"1 s"``, ``"0.1 ms"``) or
    seconds; ``seed``; ``set``: parameter values as for ``circ run --set``
    (``{"exc.w": "5 nS"}``); ``threads`` (default: every core; results are
    the same for any count); ``backend``: ``auto``, ``jit``, ``llvm``,
    ``gpu`` or ``interp``; ``out``: also write ``circ run``'s files there;
    ``circuit``, ``final_state``, ``allow_long_run`` as ``circ run``'s flags
    (every keyword of :meth:`Model.run`). Raises CircError with the rendered
    diagnostic when the model or a setting is wrong.
    """
    return Model(model).run(duration, **settings)


def check(model: Union[str, os.PathLike], name: str = "<text>") -> List[Diagnostic]:
    """The diagnostics ``circ check`` gives a model (its text, or a ``.circ`` path).

    An empty list means it is clean; errors have ``severity == "error"``.
    """
    if _is_path(model):
        path = os.fspath(model)
        with open(path, encoding="utf-8") as f:
            text, name = f.read(), path
    else:
        text = str(model)
    out = []
    for d in json.loads(_core.check(text, name)):
        p = d.get("primary") or {}
        out.append(
            Diagnostic(
                severity=d["severity"],
                code=d["code"],
                message=d["message"],
                line=p.get("line"),
                column=p.get("column"),
                end_line=p.get("end_line"),
                end_column=p.get("end_column"),
                file=p.get("file"),
                help=d.get("help"),
                notes=list(d.get("notes") or []),
                rendered=d["rendered"],
            )
        )
    return out


def backends() -> List[tuple]:
    """The backends of this build: (name, what it is)."""
    return list(_core.backends())
