#!/usr/bin/env python3
"""circ JIT benchmark: latency to the first step and COBA speed, against Brian2.

Prints one table. circ rows come from `circ run` (its summary.json gives the
time from start to the first step, `build_seconds`, and the loop time);
Brian2 rows from the peer script shared/peers/coba.py in C++ standalone
mode, run in the same invocation so the ratios compare like with like.

  python3 bench/jit.py                      # circ only
  python3 bench/jit.py --brian2-python ../shared/peers/.venv/bin/python

Brian2 must be installed in that interpreter (see shared/peers/RESULTS.md:
brian2 2.11 needs Python >= 3.13). Numbers are wall-clock seconds, medians
of --repeats runs; the machine should be otherwise idle.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIRC = os.path.join(ROOT, "target", "release", "circ")
COBA = os.path.join(ROOT, "examples", "coba.circ")
PEERS = os.path.join(os.path.dirname(ROOT), "shared", "peers")


def circ_run(duration, threads):
    """Runs COBA; returns (process wall, build_seconds, loop_seconds)."""
    out = tempfile.mkdtemp(prefix="circ-bench-")
    try:
        t0 = time.perf_counter()
        subprocess.run([CIRC, "run", COBA, "--duration", duration, "--threads", str(threads),
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        return wall, s["build_seconds"], s["loop_seconds"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def brian2_run(python, duration, build_dir):
    """Runs the peer COBA script in C++ standalone mode; returns its JSON line."""
    cmd = [python, os.path.join(PEERS, "coba.py"), "--simulator", "brian2", "--mode",
           "cpp_standalone", "--threads", "1", "--duration", str(duration),
           "--build-dir", build_dir]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    r["wall_s"] = wall
    return r


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brian2-python", help="a Python with brian2 installed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="COBA biological time [s]")
    args = ap.parse_args()
    if not os.path.exists(CIRC):
        sys.exit("build first: cargo build --release")

    rows = []
    # Latency: a run of one step; build_seconds is start -> first step.
    lat = [circ_run("0.1 ms", 1) for _ in range(args.repeats)]
    rows.append(("circ JIT: start -> first step (COBA)", med([x[1] for x in lat])))
    rows.append(("circ JIT: whole 1-step process (COBA)", med([x[0] for x in lat])))
    speed = [circ_run(f"{args.duration} s", 1) for _ in range(args.repeats)]
    circ_loop = med([x[2] for x in speed])
    rows.append((f"circ JIT: COBA {args.duration:g} s loop, 1 thread", circ_loop))

    b2_loop = None
    if args.brian2_python:
        build_dir = tempfile.mkdtemp(prefix="circ-bench-b2-")
        try:
            cold = brian2_run(args.brian2_python, args.duration, build_dir)
            rows.append(("Brian2 standalone: cold start -> first step (compile)",
                         cold.get("build_s", float("nan"))))
            runs = [brian2_run(args.brian2_python, args.duration, build_dir)
                    for _ in range(args.repeats)]
            b2_loop = med([r["run_s"] for r in runs])
            rows.append((f"Brian2 standalone: COBA {args.duration:g} s loop, 1 thread", b2_loop))
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  seconds")
    for name, v in rows:
        print(f"{name.ljust(width)}  {v:8.3f}")
    if b2_loop:
        print(f"\ncirc / Brian2 standalone loop time: {circ_loop / b2_loop:.2f}"
              " (below 1: circ faster)")
    else:
        print("\nBrian2 not measured (pass --brian2-python).")


if __name__ == "__main__":
    main()
