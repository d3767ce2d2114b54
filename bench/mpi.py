#!/usr/bin/env python3
"""circ across MPI ranks: Brunel (2000) and the Potjans-Diesmann microcircuit.

  python3 bench/mpi.py [--pd14-scale 0.25] [--duration 1] [--ranks 1,2,4]

Runs each model once in one process (no launcher) and under
`mpirun --oversubscribe -n R` for each R, with LLVM's code and one thread
per rank; checks that every rank count wrote the one process's files byte
for byte; and reports per rank count the loop time per biological second,
rank 0's share of it spent exchanging (summary.json's
`communication_seconds`), the build time and the largest resident set of
any rank. NEST's Brunel runs beside it (bench/.venv, as bench/bench.py
makes it) on 1 and 2 threads: NEST from PyPI is built without MPI
(`have_mpi` is false), so threads are what it can split across here. The
table replaces the "Across MPI ranks" section of bench/RESULTS.md.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CIRC = os.path.join(ROOT, "target", "release", "circ")
RESULTS = os.path.join(HERE, "RESULTS.md")
START, END = "<!-- mpi.py: start -->", "<!-- mpi.py: end -->"


def folder_digest(out):
    """A digest of every file a run wrote but its summary (times differ)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(out)):
        if name != "summary.json":
            h.update(name.encode())
            with open(os.path.join(out, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def run_circ(model, sets, duration, ranks, work):
    """One run: `ranks` 0 is one process without a launcher."""
    tag = f"{os.path.basename(model)}-{ranks}"
    out = os.path.join(work, f"out-{tag}")
    rss = os.path.join(work, f"rss-{tag}")
    args = [CIRC, "run", model, "--backend", "llvm", "--threads", "1",
            "--duration", f"{duration} s", "--out", out] + sum((["--set", s] for s in sets), [])
    # Each process's peak resident set, one file per rank.
    timed = ["sh", "-c", f'exec /usr/bin/time -f %M -o "{rss}.${{OMPI_COMM_WORLD_RANK:-0}}" "$@"', "sh"] + args
    cmd = timed if ranks == 0 else ["mpirun", "--oversubscribe", "--allow-run-as-root",
                                    "-n", str(ranks)] + timed
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    peaks = []
    for name in os.listdir(work):
        if name.startswith(f"rss-{tag}."):
            with open(os.path.join(work, name)) as f:
                peaks.append(int(f.read().split()[-1]) / 1024)
    spikes = sum(p["spikes"] for p in s["populations"].values())
    return dict(build=s["build_seconds"], loop=s["loop_seconds"],
                comm=s.get("communication_seconds", 0.0), ranks=s.get("ranks", 1),
                every=s.get("exchange_every_steps", 1),
                events=s["synaptic_events"], spikes=spikes, peak=max(peaks, default=0),
                digest=folder_digest(out), steps=s["steps"], dt=s["dt_s"])


def run_nest(threads, duration):
    py = os.path.join(HERE, ".venv", "bin", "python")
    if not os.path.exists(py):
        return None
    p = subprocess.run([py, os.path.join(HERE, "peers", "brunel.py"), "--simulator", "nest",
                        "--threads", str(threads), "--duration", str(duration)],
                       capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        return None
    r = json.loads(lines[-1])
    return dict(build=r["build_s"], loop=r["run_s"], spikes=r["n_spikes"])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1.0, help="biological seconds")
    ap.add_argument("--pd14-scale", default="0.25")
    ap.add_argument("--ranks", default="1,2,4")
    args = ap.parse_args()
    if not os.path.exists(CIRC):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "circ"], cwd=ROOT, check=True)
    ranks = [int(r) for r in args.ranks.split(",")]
    cases = [("brunel", os.path.join(ROOT, "examples", "brunel2000.circ"), []),
             (f"pd14 (scale {args.pd14_scale})", os.path.join(ROOT, "examples", "pd14.circ"),
              [f"scale={args.pd14_scale}"])]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, model, sets in cases:
            base = run_circ(model, sets, args.duration, 0, work)
            rows.append((name, "one process", base, base))
            for r in ranks:
                res = run_circ(model, sets, args.duration, r, work)
                if res["digest"] != base["digest"]:
                    sys.exit(f"{name} on {r} ranks wrote other files than one process")
                rows.append((name, f"{r} rank{'s' if r > 1 else ''}", res, base))
                print(name, r, res, file=sys.stderr)
    nest = {t: run_nest(t, args.duration) for t in (1, 2)}
    cpu = platform.processor() or platform.machine()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [START, "", "## Across MPI ranks", "",
             f"Made by `python3 bench/mpi.py {' '.join(sys.argv[1:])}` at circ {commit}: "
             f"{os.cpu_count()} CPUs ({cpu}), Open MPI with `--oversubscribe` (more ranks "
             "than cores share them), LLVM's code, one thread per rank, "
             f"{args.duration} s of biological time. Every rank count wrote the one process's "
             "files byte for byte (checked by digest). `exchange every`: steps between spike "
             "exchanges (half the shortest delay, each overlapped with the next that many steps; "
             "1 step: blocking, every step). `comm share` is rank 0's time in exchanges "
             "(waiting for slower ranks included, time computing while an exchange travels "
             "excluded) over its loop time; `peak MB` the largest resident set of any rank.", "",
             "| model | processes | build s | loop s per biological s | exchange every | comm share | "
             "synaptic events per s | peak MB | loop / one process |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, procs, r, base in rows:
        per_bio = r["loop"] / (r["steps"] * r["dt"])
        share = r["comm"] / r["loop"] if r["loop"] > 0 else 0.0
        every = f"{r['every']} steps" if r["ranks"] > 1 else ""
        lines.append(f"| {name} | {procs} | {r['build']:.2f} | {per_bio:.3f} | {every} | {share:.0%} | "
                     f"{r['events'] / r['loop']:.3g} | {r['peak']:.0f} | "
                     f"{r['loop'] / base['loop']:.2f} |")
    lines.append("")
    for t, n in nest.items():
        if n:
            lines.append(f"NEST 3.10 (PyPI, `have_mpi` false: no MPI ranks) on Brunel with {t} "
                         f"thread{'s' if t > 1 else ''}: build {n['build']:.2f} s, loop "
                         f"{n['loop']:.2f} s per biological s, {n['spikes']} spikes.  ")
        else:
            lines.append(f"NEST on {t} thread(s): not run (bench/.venv missing; "
                         "`python3 bench/bench.py` makes it).  ")
    lines += ["", END]
    text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    section = "\n".join(lines)
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    open(RESULTS, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
