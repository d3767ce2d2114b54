#!/usr/bin/env python3
"""circ against Brian2 (C++ standalone) and NEST, side by side, on this machine.

One command builds circ in release mode, makes a Python venv with Brian2 2.11
and NEST 3.10 from PyPI (bench/.venv; Brian2 2.11 needs Python >= 3.13, taken
from pyenv when the system Python is older; with no such Python the newest
Brian2 the interpreter accepts is installed and the table says so), then runs
each benchmark in circ, Brian2 and NEST, interleaved, --repeats times, and
prints one table of medians with circ/peer ratios. The table is also written
to bench/RESULTS.md with the machine, the versions and the date.

  python3 bench/bench.py                       # every benchmark, 1 and 2 threads
  python3 bench/bench.py --only coba1,cuba --threads 1 --repeats 3
  python3 bench/bench.py --backends llvm       # circ on one backend only
  python3 bench/bench.py --list

The models are the same in all three (bench/peers/*.py are the peers' side,
the examples the circ side; differences of method are stated per row in
MODELS below and in RESULTS.md). Times are wall-clock seconds: `build` from
the command's start to the first step (circ: parse, kernels, connectivity;
Brian2: the standalone binary's network construction, its C++ compile only
in the cold column; NEST: Create..Prepare), `loop` the simulation loop,
`total` the whole process (results written), `peak` its maximum resident set.
Every configuration asserts that circ's mean rate is within 10 % of each
peer's; the script exits with status 1 if one is not.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CIRC = os.path.join(ROOT, "target", "release", "circ")
VENV = os.path.join(HERE, ".venv")
PEERS = os.path.join(HERE, "peers")
BUILD = os.path.join(HERE, ".build")

# name: (circ example, circ populations whose spikes count, peer script,
#        peer arguments, duration in s, N for the scaling template or None,
#        what the peers run that differs)
MODELS = {
    "coba1": ("coba.circ", ["E", "I"], "coba.py", [], 1.0, None,
              "Brian2 forward Euler; NEST iaf_cond_exp (RKF45), delay dt; circ exact v with conductances held over a step"),
    "coba10": ("coba.circ", ["E", "I"], "coba.py", [], 10.0, None, "as coba1"),
    "cuba": ("cuba.circ", ["P"], "cuba.py", [], 1.0, None,
             "Brian2 exact; NEST iaf_psc_exp, delay dt"),
    "brunel": ("brunel2000.circ", ["E", "I"], "brunel.py", [], 1.0, None,
               "peers: independent Poisson drive per neuron; circ: fixed in-degree from a pool of 12,500 sources"),
    "cobahh": ("cobahh.circ", ["E", "I"], "cobahh.py", [], 1.0, None,
               "Brian2 exponential Euler (as circ); NEST hh_cond_exp_traub (RKF45)"),
    "stdp": ("stdp_song2000.circ", ["Out"], "stdp.py", [], 100.0, None,
             "NEST stdp_synapse (all-to-all pairing, as circ's traces)"),
    "bhnoise": ("brunel_hakim1999.circ", ["P"], "brunel_hakim.py", [], 1.0, None,
                "per-neuron white noise: Brian2 Euler (Euler-Maruyama, as circ); Brian2 only"),
    "wbgamma": ("wang_buzsaki1996.circ", ["P"], "wang_buzsaki.py", [], 1.0, None,
                "Hodgkin-Huxley-type interneurons with a summed synaptic current: RK4 at dt 0.05 ms in both; Brian2 only"),
}
for _n in (1000, 4000, 16000, 64000, 256000):
    MODELS[f"scale{_n // 1000}k"] = ("coba.circ", ["E", "I"], "coba.py",
                                     ["--n-neurons", str(_n)], 1.0, _n,
                                     "COBA with p = 80/N, as coba1")
# NEST takes minutes on the largest COBA networks (shared/peers/RESULTS.md:
# 164 s at 64k); a peer is skipped where it would take longer than this.
SKIP = {("nest", "coba10"), ("nest", "scale64k"), ("nest", "scale256k"),
        ("brian2", "scale256k"), ("nest", "bhnoise"), ("nest", "wbgamma")}


def sh(cmd, **kw):
    """Runs a command, echoing it; raises on failure."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def python313():
    """A Python >= 3.13 for Brian2 2.11: this one, else pyenv's newest."""
    if sys.version_info >= (3, 13):
        return sys.executable, True
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
        versions = sorted((v for v in os.listdir(os.path.join(root, "versions"))
                           if re.fullmatch(r"3\.1[3-9]\.\d+", v)),
                          key=lambda v: tuple(map(int, v.split("."))))
        if versions:
            return os.path.join(root, "versions", versions[-1], "bin", "python3"), True
    except (OSError, subprocess.CalledProcessError):
        pass
    return sys.executable, False


def venv():
    """bench/.venv with Brian2 and NEST; returns (python, note on versions)."""
    py = os.path.join(VENV, "bin", "python")
    note = ""
    if not os.path.exists(py):
        base, new_enough = python313()
        sh([base, "-m", "venv", VENV])
        if new_enough:
            sh([py, "-m", "pip", "install", "-q", "brian2==2.11.*", "nest-simulator==3.10.*"])
        else:
            sh([py, "-m", "pip", "install", "-q", "brian2", "nest-simulator==3.10.*"])
    if sys.version_info < (3, 13) and not python313()[1]:
        note = "no Python >= 3.13 here: the newest Brian2 this Python accepts, not 2.11"
    return py, note


def versions(py):
    out = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('brian2')); "
                          "print(m.version('nest-simulator'))"], capture_output=True, text=True)
    lines = out.stdout.split()
    return (lines + ["?", "?"])[:2]


def run_measured(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS in MB, stdout)."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{text[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, text


def circ_model(name, workdir):
    """The example as benchmarked: spikes recorded only (as the peers do)."""
    example, _, _, _, _, n, _ = MODELS[name]
    with open(os.path.join(ROOT, "examples", example)) as f:
        src = f.read()
    src = "\n".join(l for l in src.splitlines()
                    if not (l.strip().startswith("record") and "spikes" not in l))
    if n is not None:
        ne, ni, p = int(0.8 * n), n - int(0.8 * n), 80.0 / n
        src = src.replace("LIFCond[3200]", f"LIFCond[{ne}]").replace("LIFCond[800]", f"LIFCond[{ni}]")
        src = src.replace("bernoulli(0.02)", f"bernoulli({p!r})")
    path = os.path.join(workdir, f"{name}.circ")
    # Data files an example reads stay where the example's folder has them.
    with open(path, "w") as f:
        f.write(src)
    return path


def run_circ(name, threads, workdir, backend):
    _, pops, _, _, duration, _, _ = MODELS[name]
    out = os.path.join(workdir, f"out-{name}")
    shutil.rmtree(out, ignore_errors=True)
    wall, peak, _ = run_measured([CIRC, "run", circ_model(name, workdir), "--duration",
                                  f"{duration} s", "--threads", str(threads), "--out", out,
                                  "--backend", backend])
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    spikes = sum(s["populations"][p]["spikes"] for p in pops)
    size = sum(s["populations"][p]["size"] for p in pops)
    # `auto (llvm from step N, compiled in S s)`: when LLVM's code took over.
    m = re.search(r"from step (\d+), ([0-9.]+) s after the start, compiled in ([0-9.]+) s",
                  s.get("backend", ""))
    return dict(build=s["build_seconds"], loop=s["loop_seconds"], total=wall, peak=peak,
                spikes=spikes, rate=spikes / (size * duration),
                swap_step=int(m.group(1)) if m else None,
                swap_after=float(m.group(2)) if m else None,
                compile=float(m.group(3)) if m else None)


def run_peer(py, sim, name, threads, cold):
    _, _, script, extra, duration, _, _ = MODELS[name]
    cmd = [py, os.path.join(PEERS, script), "--simulator", sim, "--threads", str(threads),
           "--duration", str(duration)] + extra
    if sim == "brian2":
        d = os.path.join(BUILD, f"{name}-T{threads}")
        if cold:
            shutil.rmtree(d, ignore_errors=True)
        cmd += ["--mode", "cpp_standalone", "--build-dir", d]
    wall, peak, text = run_measured(cmd)
    r = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
    return dict(build=r["build_s"], loop=r["run_s"], total=wall, peak=peak,
                spikes=r["n_spikes"], rate=r["mean_rate_hz"])


def median(rows, key):
    return statistics.median(r[key] for r in rows) if rows else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated benchmarks (default: all)")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peers", default="brian2,nest", help="peers to run ('' for none)")
    ap.add_argument("--backends", default="jit,llvm,auto",
                    help="circ backends, comma-separated (jit: Cranelift, llvm, auto: tiered)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = ap.parse_args()
    if args.list:
        for k, v in MODELS.items():
            print(f"{k:10} examples/{v[0]} vs peers/{v[2]}{''.join(' ' + a for a in v[3])} ({v[4]:g} s): {v[6]}")
        return 0
    names = args.only.split(",") if args.only else list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit(f"unknown benchmark {n!r}; --list shows them")
    threads = [int(t) for t in args.threads.split(",")]
    peers = [p for p in args.peers.split(",") if p]
    circs = [f"circ/{b}" for b in args.backends.split(",") if b]
    sh(["cargo", "build", "--release", "-q", "-p", "circ"], cwd=ROOT)
    py, note = venv() if peers else (None, "")
    b2v, nestv = versions(py) if peers else ("-", "-")
    os.makedirs(BUILD, exist_ok=True)
    results = {}  # (name, threads, sim) -> list of runs; cold Brian2 runs apart
    cold = {}
    work = tempfile.mkdtemp(prefix="circ-bench-")
    def report(name, t, sim, r, tag=""):
        print(f"{name} T{t} {sim}{tag}: loop {r['loop']:.3f} s, total {r['total']:.2f} s,"
              f" {r['rate']:.2f} Hz", file=sys.stderr, flush=True)

    try:
        # Brian2's first run of each configuration compiles its C++ project:
        # the cold total a new user waits for. The timed runs reuse it.
        if "brian2" in peers:
            for name in names:
                for t in threads:
                    if ("brian2", name) not in SKIP:
                        cold[(name, t)] = run_peer(py, "brian2", name, t, cold=True)
                        report(name, t, "brian2", cold[(name, t)], " (cold)")
        for _ in range(args.repeats):
            for name in names:
                for t in threads:
                    for sim in circs + [p for p in peers if (p, name) not in SKIP]:
                        if sim.startswith("circ/"):
                            r = run_circ(name, t, work, sim.split("/", 1)[1])
                        else:
                            r = run_peer(py, sim, name, t, cold=False)
                        results.setdefault((name, t, sim), []).append(r)
                        report(name, t, sim, r)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines, failures = table(names, threads, circs, peers, results, cold)
    head = header(b2v, nestv, note, args)
    text = head + "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
            f.write(text)
    for f in failures:
        print("RATE CHECK FAILED:", f, file=sys.stderr)
    return 1 if failures else 0


def table(names, threads, circs, peers, results, cold):
    """One row per simulator (circ once per backend); circ's rows give its
    loop time over each peer's, and its total over Brian2's cold total."""
    cols = "".join(f" circ loop / {p} loop |" for p in peers)
    lines = ["| benchmark | threads | simulator | backend | build s | loop s | total s | peak MB | spikes | rate Hz |"
             + cols + " circ total / brian2 cold total | LLVM took over (step; s after the start; compile s) |",
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(peers) + "---|---|"]
    failures = []
    for name in names:
        for t in threads:
            for sim in circs + peers:
                rows = results.get((name, t, sim), [])
                if not rows:
                    continue
                who, backend = (sim.split("/", 1) + [""])[:2]
                ratios = ""
                cold_ratio = ""
                for p in peers:
                    theirs = results.get((name, t, p), [])
                    if sim in circs and theirs:
                        ratios += f" {median(rows, 'loop') / median(theirs, 'loop'):.2f} |"
                        rc, rp = median(rows, "rate"), median(theirs, "rate")
                        if abs(rc - rp) > 0.1 * rp:
                            failures.append(f"{name} T{t} {sim}: {rc:.2f} Hz, {p} {rp:.2f} Hz")
                    else:
                        ratios += " |"
                if sim in circs and (name, t) in cold:
                    cold_ratio = f"{median(rows, 'total') / cold[(name, t)]['total']:.3f}"
                swaps = [r for r in rows if r.get("swap_step") is not None]
                took = ""
                if swaps:
                    took = (f"{statistics.median(r['swap_step'] for r in swaps):.0f}; "
                            f"{statistics.median(r['swap_after'] for r in swaps):.3f}; "
                            f"{statistics.median(r['compile'] for r in swaps):.3f}")
                elif backend == "auto":
                    took = "not before the end"
                lines.append(f"| {name} | {t} | {who} | {backend} | {median(rows, 'build'):.3f} | {median(rows, 'loop'):.3f} "
                             f"| {median(rows, 'total'):.2f} | {median(rows, 'peak'):.0f} | {median(rows, 'spikes'):.0f} "
                             f"| {median(rows, 'rate'):.2f} |{ratios} {cold_ratio} | {took} |")
            if (name, t) in cold:
                c = cold[(name, t)]
                lines.append(f"| {name} | {t} | brian2 cold | | {c['build']:.3f} | {c['loop']:.3f} | {c['total']:.2f} "
                             f"| {c['peak']:.0f} | {c['spikes']:.0f} | {c['rate']:.2f} |" + " |" * len(peers) + " | |")
    lines.append("")
    lines.append("Models (circ example vs peer script; what differs):")
    lines.append("")
    for name in names:
        v = MODELS[name]
        args = "".join(f" {a}" for a in v[3])
        lines.append(f"- {name}: examples/{v[0]} vs bench/peers/{v[2]}{args}, {v[4]:g} s: {v[6]}.")
    skipped = sorted(f"{p} {n}" for p, n in SKIP if n in names and p in peers)
    if skipped:
        lines.append(f"- Not run (minutes each, or no such model in the peer): {', '.join(skipped)}.")
    if failures:
        lines.append("")
        lines.append("Rate checks failed (circ more than 10 % from a peer): " + "; ".join(failures) + ".")
    return lines, failures


def header(b2v, nestv, note, args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    out = [
        "# circ against Brian2 and NEST",
        "",
        f"Made by `python3 bench/bench.py {' '.join(sys.argv[1:])}` on "
        f"{datetime.date.today().isoformat()}: {cpu}, {os.cpu_count()} CPUs, {mem:.0f} GiB, "
        f"{platform.platform()}.",
        f"Versions: circ {rev} ({rustc}), Brian2 {b2v} (C++ standalone), NEST {nestv}; "
        f"medians of {args.repeats} runs, interleaved.",
    ]
    if note:
        out.append(f"Note: {note}.")
    out += ["", "Seconds of wall-clock time; `peak` is the process's maximum resident set. "
            "Brian2's `cold` row is its first run, which compiles its C++; its other rows reuse the build.", "", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
