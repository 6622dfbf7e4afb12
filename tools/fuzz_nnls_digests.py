"""Digests of the batch NNLS solver on random problems of the property-test space, to find inputs
that reach a branch: run it under two builds (one with a constant of nnls_constants.h moved) and
compare. tools/make_edge_snapshot.py keeps the problems found this way.

    PYTHONPATH=BUILD_TREE python tools/fuzz_nnls_digests.py FIRST_SEED END_SEED [--tol T] > digests.json
    python tools/fuzz_nnls_digests.py --compare a.json b.json       # the problems whose digests differ

--tol replaces each problem's tol (e.g. 1e-300: every frame runs until it stalls or hits max_iter).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_edge_snapshot import fuzz_problem  # noqa: E402  (also puts tests/ on the path)
from snapshot_cases import _digest  # noqa: E402  (the snapshots' digest)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", nargs="?", type=int)
    parser.add_argument("end", nargs="?", type=int)
    parser.add_argument("--tol", type=float)
    parser.add_argument("--compare", nargs=2, metavar="JSON")
    args = parser.parse_args()
    if args.compare:
        a, b = (json.load(open(path)) for path in args.compare)
        changed = [key for key in a if a[key] != b.get(key)]
        print(f"{len(changed)} of {len(a)} solves changed: {changed}")
        return
    from inverse_mel.functional.inverse import filterbank_taps
    out = {}
    for seed in range(args.first, args.end):
        problem = fuzz_problem(seed)
        if problem is None:
            continue
        fb, mel, tol = problem
        tol = tol if args.tol is None else args.tol
        tap_index, tap_weight = filterbank_taps(fb)
        for dtype in (torch.float32, torch.float64):
            result = torch.ops.inverse_mel.nnls(mel.to(dtype), tap_index, tap_weight.to(dtype), 200, tol, None)
            out[f"{seed}/{str(dtype)[6:]}"] = "".join(_digest(part) for part in result)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
