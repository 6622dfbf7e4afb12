"""Bad input gets a clear Python exception that names the problem, never a crash."""
import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from devices import DEVICES


@pytest.fixture(scope="module")
def module():
    return inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000)


def test_wrong_n_mels(module):
    with pytest.raises(ValueError, match="Expected an input with 40 mel bins. Found: 80"):
        module(torch.rand(2, 80, 10))


def test_too_few_dims(module):
    with pytest.raises(ValueError, match=r"at least 2 dims.*unsqueeze"):
        module(torch.rand(40))
    with pytest.raises(ValueError, match="at least 2 dims"):
        module(torch.tensor(1.0))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64])
def test_non_float_dtypes(module, dtype):
    with pytest.raises(TypeError, match=r"floating-point tensor.*melspec.float\(\)"):
        module(torch.zeros(40, 3, dtype=dtype))


def test_not_a_tensor(module):
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        module([[0.0] * 3] * 40)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(driver="lstsq"), r'driver must be one of \["gels", "gelsy", "gelsd", "gelss"\]. Found lstsq.'),
        (dict(norm="l1"), 'norm must be one of None or "slaney"'),
        (dict(mel_scale="bark"), 'mel_scale should be one of "htk" or "slaney"'),
        (dict(f_min=9000.0), r"Require f_min: 9000.0 <= f_max: 8000.0"),
        (dict(n_mels=0), "n_mels must be an int >= 1, found 0"),
        (dict(n_stft=1), r"n_stft must be an int >= 2.*found 1"),
        (dict(sample_rate=-16000), "sample_rate must be a positive number"),
    ],
)
def test_invalid_constructor_arguments(kwargs, match):
    args = dict(n_stft=201, n_mels=40, sample_rate=16000)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        inverse_mel.InverseMelScale(**args)


def test_mel_scale_module_validation():
    with pytest.raises(ValueError, match="n_mels must be an int >= 1"):
        inverse_mel.MelScale(n_mels=0)
    with pytest.raises(ValueError, match="Require f_min"):
        inverse_mel.MelScale(f_min=9000.0)


def test_device_mismatch(module):
    with pytest.raises(ValueError, match=r"melspec is on meta but the module's fb is on cpu"):
        module(torch.empty(40, 3, device="meta"))
    with pytest.raises(ValueError, match=r"melspec is on meta but fb is on cpu"):
        F.inverse_mel_scale(torch.empty(40, 3, device="meta"), module.fb)


def test_functional_filterbank_checks():
    melspec = torch.rand(40, 5)
    with pytest.raises(ValueError, match=r"fb must have shape \(n_freqs, n_mels\).*pass fb.T"):
        F.inverse_mel_scale(melspec, torch.rand(201))
    with pytest.raises(ValueError, match="Expected an input with 201 mel bins. Found: 40"):
        F.inverse_mel_scale(melspec, torch.rand(40, 201))  # a librosa-shaped bank, not transposed
    with pytest.raises(TypeError, match="fb must be a real floating-point tensor"):
        F.inverse_mel_scale(melspec, torch.ones(201, 40, dtype=torch.int64))
    bad = torch.rand(201, 40)
    bad[3, 4] = float("nan")
    with pytest.raises(ValueError, match="fb contains NaN or Inf"):
        F.inverse_mel_scale(melspec, bad)
    with pytest.raises(ValueError, match="driver must be one of"):
        F.inverse_mel_scale(melspec, torch.rand(201, 40), driver="qr")


@pytest.mark.parametrize("device", DEVICES)
def test_op_checks_its_inputs(device):
    gram = torch.eye(4, device=device)
    idx = torch.zeros(9, 2, dtype=torch.int64, device=device)
    w = torch.ones(9, 2, device=device)
    rand = lambda *shape: torch.rand(*shape, device=device)  # noqa: E731
    with pytest.raises(RuntimeError, match="expected an input with 4 mel bins. Found: 5"):
        torch.ops.inverse_mel.lstsq_apply(rand(5, 3), gram, idx, w)
    if device == "cpu":  # a check of the index values: the CUDA op skips it (it would sync with the host)
        with pytest.raises(RuntimeError, match=r"tap_index entries must lie in \[0, 4\)"):
            torch.ops.inverse_mel.lstsq_apply(rand(4, 3), gram, idx + 7, w)
    with pytest.raises(RuntimeError, match="melspec must be float32 or float64"):
        torch.ops.inverse_mel.lstsq_apply(rand(4, 3).half(), gram, idx, w)
    with pytest.raises(RuntimeError, match="must have melspec's dtype"):
        torch.ops.inverse_mel.lstsq_apply(rand(4, 3).double(), gram, idx, w)
    with pytest.raises(RuntimeError, match="tap_index must be int64"):
        torch.ops.inverse_mel.lstsq_apply(rand(4, 3), gram, idx.int(), w)
    with pytest.raises(RuntimeError, match=r"gram_cholesky_band must have shape \(bands, n_mels\)"):
        torch.ops.inverse_mel.lstsq_apply(rand(4, 3), gram, idx, w, torch.ones(2, 5, device=device))
