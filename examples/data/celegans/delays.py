#!/usr/bin/env python3
"""Adds a `delay` column (seconds) to the chemical edge lists, for
examples/celegans_sweep.circ, which loads per-edge delays from a file.

The connectome (Varshney et al. 2011) has no conduction delays: these are
stand-ins, drawn once per edge, uniformly from 0.5 to 3 ms and rounded to
0.1 ms (the examples' time step), with Python's random.Random(2011), so the
file is the same on every machine. Replace the column with measured delays
where you have them.

  python3 delays.py    # writes chemical_exc_delays.csv, chemical_inh_delays.csv
"""
import csv
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(2011)
for kind in ("exc", "inh"):
    with open(os.path.join(HERE, f"chemical_{kind}.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(HERE, f"chemical_{kind}_delays.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pre", "post", "n", "delay"])
        for r in rows:
            d = round(rng.uniform(0.5, 3.0), 1) * 1e-3
            w.writerow([r["pre"], r["post"], r["n"], f"{d:.4g}"])
