#!/usr/bin/env python3
"""Print one matrix from the result tables that run.py / run_extra.py wrote.

    python3 interop/matrix.py build-asan/interop-*.md

Rows: the pair (sluice's partner, sluice's role, and the variant: trickle, no trickle,
mdns, turn); columns: the scenarios; cells: PASS/FAIL/skip with the time. The last line
counts them. Exit status 1 when a cell failed. Standard library only.
"""
import os
import sys

SCENARIOS = ["echo", "bulk", "unreliable", "negotiated", "maxsize", "close", "restart"]


def rows_of(path):
    """(partner, sluice role, variant, scenario, result, time) of every table row."""
    section, head = "", None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("## "):  # a variant of the run (e.g. an impaired path)
            section = line[3:].split("(")[0].replace("Variant:", "").strip()[:16]
            head = None
            continue
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if head is None:
            head = cells
            continue
        if set(cells[0]) <= set("-"):
            continue
        r = dict(zip(head, cells))
        off, ans = r.get("offerer", ""), r.get("answerer", "")
        if "sluice" not in (off, ans):
            continue
        partner, role = (ans, "offer") if off == "sluice" else (off, "answer")
        variant = section or r.get("case") or (
            "trickle" if r.get("trickle", "yes") == "yes" else "no trickle")
        yield partner, role, variant, r.get("scenario", ""), r.get("result", ""), r.get("time", "")


def main(paths):
    cells = {}
    order = []
    for p in paths:
        if not os.path.exists(p):
            continue
        for partner, role, variant, sc, res, t in rows_of(p):
            key = (partner, role, variant)
            if key not in cells:
                cells[key] = {}
                order.append(key)
            cells[key][sc] = (res + " " + t).strip()
    if not order:
        print("interop matrix: no results (%s)" % " ".join(paths))
        return 0
    w = 15
    print("\nInterop matrix: sluice against each peer (role = sluice's role)\n")
    print("%-10s %-7s %-17s" % ("peer", "role", "variant") + "".join("%-*s" % (w, s) for s in SCENARIOS))
    counts = {}
    for key in order:
        row = cells[key]
        line = "%-10s %-7s %-17s" % key
        for s in SCENARIOS:
            c = row.get(s, "-")
            counts[c.split(" ")[0]] = counts.get(c.split(" ")[0], 0) + (c != "-")
            line += "%-*s" % (w, c)
        print(line)
    print("\n%d PASS, %d FAIL, %d skip" % (counts.get("PASS", 0), counts.get("FAIL", 0), counts.get("skip", 0)))
    return 1 if counts.get("FAIL", 0) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
