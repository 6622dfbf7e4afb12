"""Many threads share one module and call forward at once, on first use too (while the solve
operator is being built): results are correct, nothing raises, and the cache holds exactly one
operator, built once, and one cast per dtype."""
import threading
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F

N_THREADS = 16


def _run_threads(worker):
    barrier = threading.Barrier(N_THREADS)
    errors = []

    def run(k):
        try:
            barrier.wait()
            worker(k)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


@pytest.mark.slow  # 4 s
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_first_use_from_many_threads_builds_the_operator_once(monkeypatch, solver):
    builds = []
    real = inverse_mel.transforms.lstsq_operator

    def counting(*args, **kwargs):
        builds.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(inverse_mel.transforms, "lstsq_operator", counting)
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney", solver=solver)
    assert len(builds) == 1  # the constructor's
    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
    gen = torch.Generator().manual_seed(0)
    melspecs = {d: (module.fb.T @ torch.rand(2, 513, 40, generator=gen) ** 2).to(d) for d in dtypes}
    reference = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney", solver=solver)
    expected = {d: reference(m) for d, m in melspecs.items()}
    builds.clear()
    with torch.no_grad():
        module.fb.mul_(1.0)  # in-place edit: every thread's first forward finds the cache stale
    seen_operators = [dict() for _ in range(N_THREADS)]
    results = [dict() for _ in range(N_THREADS)]

    def worker(k):
        for step in range(4):
            dtype = dtypes[(k + step) % len(dtypes)]
            results[k][dtype] = module(melspecs[dtype])
            seen_operators[k][dtype] = module._gram_pinv64 if dtype == torch.float64 else module._gram_pinv32

    errors = _run_threads(worker)
    assert errors == []
    assert len(builds) == 1  # exactly one rebuild after the edit, not one per thread
    for k in range(N_THREADS):
        for dtype, out in results[k].items():
            assert torch.equal(out, expected[dtype]), (k, dtype)
    # One operator per compute dtype, shared by every thread (no duplicate or torn rebuild).
    for compute in (torch.float32, torch.float64):
        objects = {id(ops[d]) for ops in seen_operators for d in ops if (d == torch.float64) == (compute == torch.float64)}
        assert len(objects) == 1


def test_threads_with_their_own_inputs_and_return_info():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Whisper's bank is rank-deficient
        module = inverse_mel.InverseMelScale(201, 80, 16000, norm="slaney", mel_scale="slaney", solver="nnls")
    inputs = [module.fb.T @ torch.rand(1 + k % 3, 201, 30 + k, generator=torch.Generator().manual_seed(k)) ** 2
              for k in range(N_THREADS)]
    expected = [module.forward_with_info(m) for m in inputs]
    results = [None] * N_THREADS

    def worker(k):
        for _ in range(3):
            results[k] = module.forward_with_info(inputs[k])

    assert _run_threads(worker) == []
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            assert torch.equal(a, b)
