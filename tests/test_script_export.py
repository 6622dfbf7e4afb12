"""TorchScript, torch.export and the clean public namespace: what a deployed torchaudio pipeline
relies on when it swaps in inverse_mel (the upstream TorchScript tests are in
test_torchaudio_ported.py)."""
import io
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F


def _tts(**kwargs):
    return inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney", **kwargs)


def _whisper(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank-deficient bank
        return inverse_mel.InverseMelScale(201, 80, 16000, norm="slaney", mel_scale="slaney", **kwargs)


def _melspec(module, *lead, frames=37, dtype=torch.float32):
    spec = torch.rand(*lead, module.n_stft, frames, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 2
    return (module.fb.double().T @ spec).to(dtype)


@pytest.mark.parametrize("make", [_tts, _whisper])
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scripted_inverse_equals_eager_with_and_without_info(make, solver, dtype):
    module = make(solver=solver).to(dtype)
    scripted = torch.jit.script(module)
    melspec = _melspec(module, 2, dtype=dtype)
    assert torch.equal(scripted(melspec), module(melspec))
    for got, want in zip(scripted.forward_with_info(melspec), module.forward_with_info(melspec)):
        assert torch.equal(got, want)
    # a half input is computed in float32 there too
    assert torch.equal(scripted(melspec.half()), module(melspec.half()))


def test_scripted_module_saves_loads_and_moves():
    module = _tts(solver="nnls")
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    melspec = _melspec(module, 3)
    assert torch.equal(loaded(melspec), module(melspec))
    assert torch.equal(loaded.double()(melspec.double()), module.double()(melspec.double()))


def test_scripted_errors_are_still_clear():
    scripted = torch.jit.script(_tts())
    with pytest.raises(Exception, match="Expected an input with 80 mel bins. Found: 40"):
        scripted(torch.rand(2, 40, 5))
    bad = torch.rand(80, 5)
    bad[3, 2] = float("nan")
    with pytest.raises(Exception, match=r"melspec contains NaN or Inf \(first at index \(3, 2\)"):
        scripted(bad)


@pytest.mark.parametrize("module", [_tts(), _tts(solver="nnls"), _whisper(), _whisper(solver="nnls"),
                                    inverse_mel.MelScale(n_mels=80, sample_rate=22050, f_max=8000.0, n_stft=513)],
                         ids=["lstsq", "nnls", "whisper-lstsq", "whisper-nnls", "MelScale"])
def test_exported_program_runs_and_equals_eager(module):
    if isinstance(module, inverse_mel.MelScale):
        example = torch.rand(2, 513, 37, generator=torch.Generator().manual_seed(1))
    else:
        example = _melspec(module, 2)
    program = torch.export.export(module, (example,))
    assert torch.equal(program.module()(example), module(example))
    # the program carries the factored operator (non-persistent buffers) as constants or buffers
    other = example * 3.0
    torch.testing.assert_close(program.module()(other), module(other))


def test_scripted_griffin_lim_with_a_seed_equals_eager():
    spec = torch.rand(2, 201, 12, generator=torch.Generator().manual_seed(0)) ** 2
    module = inverse_mel.GriffinLim(n_iter=4, seed=5)
    scripted = torch.jit.script(module)
    assert torch.equal(scripted(spec), module(spec))
    assert torch.equal(module(spec), module(spec))  # the seed makes it repeatable
    assert not torch.equal(module(spec), inverse_mel.GriffinLim(n_iter=4, seed=6)(spec))


@pytest.mark.parametrize("shape", [(0, 201, 6), (2, 201, 0), (3, 0, 201, 4)])
def test_griffin_lim_and_mel_scale_on_empty_input(shape):
    spec = torch.rand(shape)
    hop = 200
    frames = shape[-1]
    natural = hop * (frames - 1) if frames else 0
    assert inverse_mel.GriffinLim(n_fft=400)(spec).shape == (*shape[:-2], natural)
    assert inverse_mel.GriffinLim(n_fft=400, length=1000)(spec).shape == (*shape[:-2], 1000)
    assert F.griffinlim(spec, torch.hann_window(400), 400, hop, 400, 2.0, 4, 0.99, None, True).shape == (*shape[:-2], natural)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert inverse_mel.MelScale(n_stft=201)(spec).shape == (*shape[:-2], 128, frames)


def test_functional_namespace_is_clean():
    public = set(F.__all__)
    extra = {name for name in dir(F) if not name.startswith("_")} - public
    assert extra <= {"filterbank", "inverse", "phase", "pghi", "mel_consistent"}, extra  # the submodules, nothing re-exported by accident
    assert {"torch", "math", "Optional", "Tensor", "warnings"}.isdisjoint(dir(F))
    assert all(callable(getattr(F, name)) or name.isupper() for name in public)
    top = {name for name in dir(inverse_mel) if not name.startswith("_")} - set(inverse_mel.__all__)
    assert "torch" not in top and "warnings" not in top


def _saved_and_loaded(scripted):
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def test_scripted_functions_survive_save_and_load_called_as_torchaudios():
    # torch.jit.save keeps no default values of a scripted function: a deployed pipeline calls the
    # loaded copy with torchaudio's positional arguments, so the signatures must be torchaudio's.
    fb_args = (201, 0.0, 8000.0, 40, 16000, "slaney", "slaney")
    loaded = _saved_and_loaded(torch.jit.script(F.melscale_fbanks))
    assert torch.equal(loaded(*fb_args), F.melscale_fbanks(*fb_args))
    on_device = _saved_and_loaded(torch.jit.script(F.melscale_fbanks_on_device))
    assert torch.equal(on_device(*fb_args, torch.device("cpu")), F.melscale_fbanks(*fb_args))
    spec = torch.rand(2, 201, 9, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(400)
    gl_args = (spec, window, 400, 160, 400, 2.0, 3, 0.99, None, False)  # torchaudio's griffinlim, no random start
    loaded_gl = _saved_and_loaded(torch.jit.script(F.griffinlim))
    torch.testing.assert_close(loaded_gl(*gl_args), F.griffinlim(*gl_args))
    fb = F.melscale_fbanks(*fb_args)
    loaded_mel = _saved_and_loaded(torch.jit.script(F.mel_scale))
    assert torch.equal(loaded_mel(spec, fb), F.mel_scale(spec, fb))


@pytest.mark.parametrize("make", [
    lambda: _tts(),
    lambda: _tts(solver="nnls"),
    lambda: inverse_mel.MelScale(80, 22050, 0.0, 8000.0, 513, "slaney", "slaney"),
    lambda: inverse_mel.GriffinLim(n_fft=1024, n_iter=3, rand_init=False),
])
def test_scripted_modules_survive_save_and_load(make):
    module = make()
    if isinstance(module, inverse_mel.InverseMelScale):
        x = _melspec(module, 2)
    else:
        x = torch.rand(2, 513, 9, generator=torch.Generator().manual_seed(0))
    loaded = _saved_and_loaded(torch.jit.script(module))
    torch.testing.assert_close(loaded(x), module(x), rtol=0, atol=0)


@pytest.mark.parametrize("make", [lambda: _tts(), lambda: _tts(solver="nnls"),
                                  lambda: inverse_mel.MelScale(80, 22050, 0.0, 8000.0, 513, "slaney", "slaney")])
def test_exported_programs_survive_save_and_load(make, tmp_path):
    module = make()
    x = _melspec(module, 2) if isinstance(module, inverse_mel.InverseMelScale) else torch.rand(2, 513, 9)
    path = tmp_path / "program.pt2"
    torch.export.save(torch.export.export(module, (x,)), str(path))
    loaded = torch.export.load(str(path)).module()
    torch.testing.assert_close(loaded(x), module(x), rtol=0, atol=0)
