"""The Python layer's seams: no module imports another's non-public names, the CUDA limits come
from the extension, and the renamed helpers keep their old names."""
import ast
import importlib
import pathlib

import pytest
import torch

import inverse_mel
from inverse_mel import _ops, _validation as V
from inverse_mel import functional as F

PACKAGE = pathlib.Path(inverse_mel.__file__).parent


def _imports_within_the_package():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = base + ("." + node.module if node.module else "")
                for alias in node.names:
                    yield module, target, alias.name


def test_no_module_imports_another_modules_non_public_names():
    offences = []
    for module, target, name in _imports_within_the_package():
        try:  # a submodule (from . import _io) is a module import, not a name
            importlib.import_module(target + "." + name)
            continue
        except ImportError:
            pass
        if name.startswith("__") and name.endswith("__"):  # __version__ and the like are public
            continue
        public = getattr(importlib.import_module(target), "__all__", None)
        if name.startswith("_") or (public is not None and name not in public):
            offences.append(f"{module} imports {name} from {target}")
    assert offences == []


def test_cuda_nnls_limits_come_from_the_extension():
    limits = (_ops.CUDA_NNLS_MAX_MELS, _ops.CUDA_NNLS_MAX_BANDS)
    assert limits == (inverse_mel._C.CUDA_NNLS_MAX_MELS, inverse_mel._C.CUDA_NNLS_MAX_BANDS)
    assert V.cuda_nnls_refusal(limits[0], limits[1], "fn") == ""
    assert f"at most {limits[0]} mels" in V.cuda_nnls_refusal(limits[0] + 1, 2, "fn")
    assert f"at most {limits[1]} adjacent filters" in V.cuda_nnls_refusal(80, limits[1] + 1, "fn")
    module = inverse_mel.InverseMelScale(513, 80, 22050, solver="nnls")
    assert module._cuda_nnls_refusal == ""  # decided when the operator is built, not per call


def test_operator_reports_singular_values_without_an_svd_per_call(monkeypatch):
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney")
    expected = torch.linalg.svdvals(module.fb.double())

    def no_svd(*args, **kwargs):
        raise AssertionError("an SVD per call")

    monkeypatch.setattr(torch.linalg, "svdvals", no_svd)
    monkeypatch.setattr(torch.linalg, "svd", no_svd)
    op = module.operator(torch.float32)
    torch.testing.assert_close(op.singular_values, expected)
    assert isinstance(op, F.FactoredFilterbank) and F.LstsqOperator is F.FactoredFilterbank
    module(module.fb.T @ torch.rand(1, 513, 5))


def test_functional_nnls_computes_no_svd(monkeypatch):
    fb = F.melscale_fbanks(513, 0.0, 8000.0, 80, 22050, "slaney", "slaney")
    melspec = fb.T @ torch.rand(2, 513, 6)
    expected = F.inverse_mel_scale(melspec, fb, solver="nnls")

    def no_svd(*args, **kwargs):
        raise AssertionError("the NNLS path factored the filterbank")

    monkeypatch.setattr(torch.linalg, "svd", no_svd)
    assert torch.equal(F.inverse_mel_scale(melspec, fb, solver="nnls"), expected)
    with pytest.raises(ValueError, match="rcond must be a float in"):  # still validated
        F.inverse_mel_scale(melspec, fb, solver="nnls", rcond=2.0)


def test_renamed_helpers_keep_their_old_names():
    from inverse_mel import pipeline

    assert pipeline.preset_griffin_lim is pipeline.reconstruct_waveform
    assert inverse_mel.constants.SOLVERS == F.SOLVERS and inverse_mel.constants.DRIVERS == F.DRIVERS
