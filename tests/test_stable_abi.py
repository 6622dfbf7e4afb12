"""The op library is built on the LibTorch stable ABI only: what the built libraries link, and how
importing behaves when a torch is too old or the CUDA kernels cannot load."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import inverse_mel

PACKAGE = os.path.dirname(inverse_mel.__file__)
LIBRARIES = sorted(glob.glob(os.path.join(PACKAGE, "_C*.so")))
# Mangled C++ names in torch's unstable namespaces (c10::, at::, torch::, their vtables and typeinfo).
UNSTABLE_SYMBOL = re.compile(r"^_Z(T[VIS])?N?K?(3c10|2at|5torch)")


def _undefined_symbols(library):
    out = subprocess.run(["nm", "-D", "--undefined-only", library], capture_output=True, text=True, check=True)
    return [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]


def _needed(library):
    out = subprocess.run(["readelf", "-d", library], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.+?)\]", out)


@pytest.mark.skipif(shutil.which("nm") is None or shutil.which("readelf") is None, reason="needs binutils")
@pytest.mark.parametrize("library", LIBRARIES, ids=os.path.basename)
def test_library_uses_only_the_stable_surface(library):
    undefined = _undefined_symbols(library)
    unstable = [s for s in undefined if UNSTABLE_SYMBOL.match(s)]
    assert not unstable, f"{os.path.basename(library)} uses torch symbols outside the stable ABI: {unstable[:10]}"
    # What it takes from torch is the C shim (aoti_torch_*, torch_*): there must be some, or the
    # check above proves nothing.
    assert any(s.startswith(("aoti_torch_", "torch_")) for s in undefined)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils")
def test_cpu_library_links_no_cuda_library():
    main = [lib for lib in LIBRARIES if os.path.basename(lib).startswith("_C.")]
    assert len(main) == 1, LIBRARIES
    needed = _needed(main[0])
    assert not [n for n in needed if "cuda" in n or "cudart" in n], needed


def _python(code):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(PACKAGE) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_too_old_torch_raises_one_import_error_naming_both_versions():
    run = _python("import torch\ntorch.__version__ = '2.10.3'\nimport inverse_mel\n")
    assert run.returncode != 0
    assert "ImportError: inverse_mel needs torch >= 2.11, but torch 2.10.3 is installed" in run.stderr


def test_cuda_kernels_that_cannot_load_warn_once_and_raise_a_clear_error():
    # A CUDA build of torch whose _C_cuda fails to import (simulated: None in sys.modules makes the
    # import fail, as a missing libcudart of another CUDA major version would).
    code = """
import json, sys, warnings, torch
torch.version.cuda = '12.8'
sys.modules['inverse_mel._C_cuda'] = None
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    import inverse_mel
    import inverse_mel.functional
from inverse_mel import _extension
fb = inverse_mel.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, 'slaney', 'slaney')
cpu_ok = inverse_mel.InverseMelScale(201, 40, 16000, norm='slaney', mel_scale='slaney')(fb.T @ torch.rand(201, 5))
try:
    _extension.CUDA_FALLBACKS['nnls']()
    error = None
except RuntimeError as exc:
    error = str(exc)
print(json.dumps(dict(
    warnings=[str(w.message) for w in caught if '_C_cuda' in str(w.message)],
    cpu_shape=list(cpu_ok.shape),
    has_cuda_kernel=[torch._C._dispatch_has_kernel_for_dispatch_key('inverse_mel::' + op, 'CUDA')
                     for op in _extension.OPS],
    error=error)))
"""
    run = _python(code)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(result["warnings"]) == 1
    assert "could not be loaded" in result["warnings"][0] and "CUDA 12.8" in result["warnings"][0]
    assert result["cpu_shape"] == [201, 5]
    assert all(result["has_cuda_kernel"])
    assert "called on a CUDA tensor" in result["error"] and "could not be loaded" in result["error"]
    assert "move the tensors to the CPU" in result["error"]


def test_cpu_only_torch_never_loads_the_cuda_library():
    run = _python("import sys, torch, inverse_mel\nprint(torch.version.cuda, 'inverse_mel._C_cuda' in sys.modules)")
    assert run.returncode == 0, run.stderr
    cuda, loaded = run.stdout.split()
    if cuda == "None":
        assert loaded == "False"
