"""The compiled kernels give the very bits they gave when tests/data/kernel_snapshot.npz was
written (tools/make_kernel_snapshot.py), at every vector width this CPU has. Restructuring the
kernels must keep this test green; a change of results must rewrite the snapshot on purpose.

The per-frame code that the CUDA kernels run (_nnls_per_frame and its backward, mel_projection,
pghi_integrate) has its digests in tests/data/per_frame_snapshot.json, on the same inputs. The NNLS
problems that reach the solver's rare branches (tools/make_edge_snapshot.py) have theirs in
tests/data/edge_snapshot.npz, for both solvers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from snapshot_cases import EDGE_CASES, _digest, digests_of_all_cases

DATA = os.path.join(os.path.dirname(__file__), "data", "kernel_snapshot.npz")
PER_FRAME = os.path.join(os.path.dirname(__file__), "data", "per_frame_snapshot.json")
EDGE = os.path.join(os.path.dirname(__file__), "data", "edge_snapshot.npz")


def _stored():
    arrays = dict(np.load(DATA))
    return arrays, json.loads(str(arrays.pop("digests")))


def test_snapshot_covers_every_op_and_case():
    _, digests = _stored()
    ops = {key.split("/")[4] for key in digests}
    assert ops == {"nnls", "nnls_backward", "lstsq"}
    assert len(digests) == 3 * 2 * 2 * 2 * (8 + 1 + 1) + 2 * 2 * 2 * 2  # docs/tts banded, whisper dense only


def test_a_one_ulp_change_changes_the_digest():
    arrays, _ = _stored()
    x = torch.from_numpy(arrays["tts_p2_clean"]).clone()
    before = _digest(x)
    x.view(-1)[1234] = torch.nextafter(x.view(-1)[1234], torch.tensor(float("inf")))
    assert _digest(x) != before


def _digests_in_fresh_process(function: str, isa: str, data: str = DATA) -> dict:
    """``snapshot_cases.<function>`` of the inputs stored in ``data``, run in a fresh process at
    vector width ``isa`` ("widest": the library's own choice)."""
    env = dict(os.environ)
    if isa != "widest":
        env["INVERSE_MEL_VECTOR_ISA"] = isa
    code = (
        "import json, sys, numpy as np; sys.path.insert(0, %r);"
        "from snapshot_cases import %s;"
        "a = dict(np.load(%r)); a.pop('digests');"
        "print(json.dumps(%s(a)))"
    ) % (os.path.dirname(__file__), function, data, function)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # 3-4 s a width: a subprocess runs every case
@pytest.mark.parametrize("isa", ["widest", "avx2", "baseline"])
def test_kernels_give_the_snapshot_bits(isa):
    # Each width in a fresh process: the width is read once, when the library first runs a kernel.
    got = _digests_in_fresh_process("digests_of_all_cases", isa)
    _, expected = _stored()
    changed = sorted(k for k in expected if got.get(k) != expected[k])
    assert not changed, f"{len(changed)} of {len(expected)} outputs changed, e.g. {changed[:6]}"


def _per_frame_stored():
    with open(PER_FRAME) as f:
        return json.load(f)


def test_per_frame_snapshot_covers_every_op_and_case():
    digests = _per_frame_stored()
    ops = {key.split("/")[4] for key in digests}
    assert ops == {"_nnls_per_frame", "_nnls_backward_per_frame", "mel_projection", "pghi_integrate"}
    # 3 banks x 2 powers x 2 kinds x 2 dtypes; per case 2 x 4 forward parts, 1 backward, 2 + 2.
    assert len(digests) == 3 * 2 * 2 * 2 * (8 + 1 + 2 + 2)


@pytest.mark.slow  # ~10 s a width: a subprocess runs every case
@pytest.mark.parametrize("isa", ["widest", "baseline"])
def test_per_frame_code_gives_the_snapshot_bits(isa):
    # The per-frame code is not dispatched by vector width, but the batch kernels it may share
    # helpers with are: both widths, in fresh processes.
    got = _digests_in_fresh_process("digests_of_per_frame_cases", isa)
    expected = _per_frame_stored()
    changed = sorted(k for k in expected if got.get(k) != expected[k])
    assert not changed, f"{len(changed)} of {len(expected)} outputs changed, e.g. {changed[:6]}"


def _edge_stored():
    arrays = dict(np.load(EDGE))
    return arrays, json.loads(str(arrays.pop("digests")))


def test_edge_snapshot_covers_every_problem_and_the_per_frame_solver_matches_the_batch_one():
    _, digests = _edge_stored()
    assert {key.split("/")[0] for key in digests} == set(EDGE_CASES)
    per_frame = {key for key in digests if "/_nnls_per_frame/" in key}
    banded = [name for name, (_, _, op_names) in EDGE_CASES.items() if "_nnls_per_frame" in op_names]
    assert len(banded) == len(EDGE_CASES) - 1  # all but the dense bank
    assert len(per_frame) == len(banded) * 2 * 4  # float32/64, 4 outputs
    # Written from both solvers: the per-frame one (the GPU's) gave the batch one's bits.
    assert all(digests[key] == digests[key.replace("/_nnls_per_frame/", "/nnls/")] for key in per_frame)


@pytest.mark.slow  # ~2 s a width
@pytest.mark.parametrize("isa", ["widest", "avx2", "baseline"])
def test_edge_problems_give_the_snapshot_bits(isa):
    got = _digests_in_fresh_process("digests_of_edge_cases", isa, EDGE)
    _, expected = _edge_stored()
    changed = sorted(k for k in expected if got.get(k) != expected[k])
    assert not changed, f"{len(changed)} of {len(expected)} outputs changed, e.g. {changed[:6]}"
