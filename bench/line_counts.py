#!/usr/bin/env python3
"""Lines of model code: each example with a Brian2 twin in bench/peers
against that twin's Brian2 model (issue 15: circ needs no more lines than
Brian2 for the same model).

circ: the example's lines that are neither blank nor comments.
Brian2: the lines of `run_brian2` in bench/peers/NAME.py that are neither
blank nor comments, without the benchmark harness (lines calling `common.`,
and the `def` line itself), and with a multi-line string counted as its
lines (equations are model code in both).

Prints a Markdown table. Run: python3 bench/line_counts.py
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAIRS = [
    ("coba.circ", "coba.py"),
    ("cuba.circ", "cuba.py"),
    ("cobahh.circ", "cobahh.py"),
    ("brunel2000.circ", "brunel.py"),
    ("stdp_song2000.circ", "stdp.py"),
]


def circ_lines(path):
    n = 0
    for line in path.read_text().splitlines():
        s = line.strip()
        if s and not s.startswith("//"):
            n += 1
    return n


def brian2_lines(path):
    text = path.read_text()
    m = re.search(r"^def run_brian2\(.*?\):\n(.*?)(?=^def |\Z)", text, re.S | re.M)
    if not m:
        raise SystemExit(f"{path}: no run_brian2")
    n = 0
    for line in m.group(1).splitlines():
        s = line.strip()
        if not s or s.startswith("#") or "common." in s:
            continue
        n += 1
    return n


def main():
    print("| model | circ lines | Brian2 lines | circ / Brian2 |")
    print("| --- | ---: | ---: | ---: |")
    for circ, peer in PAIRS:
        c = circ_lines(ROOT / "examples" / circ)
        b = brian2_lines(ROOT / "bench" / "peers" / peer)
        print(f"| {circ} | {c} | {b} | {c / b:.2f} |")


if __name__ == "__main__":
    main()
