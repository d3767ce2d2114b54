#!/usr/bin/env python3
"""Converts the C. elegans connectome of shared/data/celegans (Varshney et al.
2011: 281 neurons, edges by neuron name) into the index-based edge lists
examples/celegans.circ loads, so the example runs from this repository alone.

  python3 convert.py [SHARED_DATA_DIR]   # default: ../../../../shared/data/celegans

Writes, next to this script:
  neurons.csv         index,name,inhibitory (a copy of the source's order)
  chemical_exc.csv    pre,post,n   chemical synapses from non-GABAergic neurons
  chemical_inh.csv    pre,post,n   chemical synapses from the 26 GABAergic neurons
  gap.csv             pre,post,n   gap junctions (each direction listed)
  stimulus.csv        pre,post,n   the two stimulus inputs onto ASHL and ASHR
`n` is the number of synaptic contacts; the example scales it by a weight.
Only the standard library of Python is used.
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "..", "..", "..", "shared", "data", "celegans")

with open(os.path.join(SRC, "neurons.csv")) as f:
    neurons = list(csv.DictReader(f))
index = {n["name"]: int(n["index"]) for n in neurons}
inhibitory = {n["name"]: n["inhibitory"] == "1" for n in neurons}

with open(os.path.join(HERE, "neurons.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["index", "name", "inhibitory"])
    for n in neurons:
        w.writerow([n["index"], n["name"], n["inhibitory"]])

rows = {"chemical_exc": [], "chemical_inh": [], "gap": []}
with open(os.path.join(SRC, "varshney2011_edges.csv")) as f:
    for e in csv.DictReader(f):
        pre, post, n = index[e["pre"]], index[e["post"]], int(e["synapses"])
        if e["type"] == "electrical":
            rows["gap"].append((pre, post, n))
        elif inhibitory[e["pre"]]:
            rows["chemical_inh"].append((pre, post, n))
        else:
            rows["chemical_exc"].append((pre, post, n))
rows["stimulus"] = [(0, index["ASHL"], 1), (1, index["ASHR"], 1)]

for name, edges in rows.items():
    with open(os.path.join(HERE, f"{name}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pre", "post", "n"])
        w.writerows(sorted(edges))
    print(f"{name}: {len(edges)} edges")
