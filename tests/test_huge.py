"""Outputs with more than 2**31 elements: no int32 overflow, no silent wrap.

The input is expanded (stride 0 over the batch), so only the output is large: 2**31 + a few
float32 elements, 8.6 GB. Skipped where the machine has less memory available than that needs.
"""
import warnings

import pytest
import torch

import inverse_mel

INT32_LIMIT = 2**31


def _available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _needs(bytes_needed):
    return pytest.mark.skipif(
        _available_bytes() < bytes_needed,
        reason=f"needs {bytes_needed / 2**30:.0f} GiB of available memory",
    )


@_needs(14 * 2**30)
@pytest.mark.slow
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_output_above_int32_elements(solver):
    n_stft, n_mels = 513, 80
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(n_stft, n_mels, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney", solver=solver)
    batch = 4
    frames = INT32_LIMIT // (batch * n_stft) + 3  # batch * n_stft * frames > 2**31
    assert batch * n_stft * frames > INT32_LIMIT
    gen = torch.Generator().manual_seed(0)
    # Distinct frames, so a wrapped index would land on a frame with a different solution.
    item = module.fb.T @ (torch.rand(n_stft, 64, generator=gen) ** 2)
    item = item.repeat(1, frames // 64 + 1)[:, :frames]
    item[:, -1] *= 3.0  # the very last frame differs from its period
    melspec = item.unsqueeze(0).expand(batch, n_mels, frames)  # stride 0: 4x the frames, no copy
    out = module(melspec)
    assert out.shape == (batch, n_stft, frames) and out.numel() > INT32_LIMIT
    # The last frames of the last item, past element 2**31, against a small independent call.
    tail = module(item[:, -70:].contiguous())
    for b in (0, batch - 1):
        assert torch.equal(out[b, :, -70:], tail)
    assert torch.equal(out[batch - 1, :, :64], module(item[:, :64].contiguous()))
    del out
