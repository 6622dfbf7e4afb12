"""Build the wheel with tools/build_wheel.sh (pip wheel + auditwheel repair; here in this venv and
without the CUDA library, which would need a CUDA torch and minutes of nvcc: tools/check_torch_versions.sh
proves the full wheel), install it into a fresh venv with nothing but torch and what the wheel itself
declares, then run an op and the inverse-mel command there on an Ogg file, writing a FLAC.
"""
import json
import os
import subprocess
import sys
import zipfile

import pytest
import soundfile
import torch

import inverse_mel
from helpers import synthetic_audio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_VERSION = torch.__version__.split("+")[0]


def _clean_env():
    # A PYTHONPATH (set by tools/sanitize.sh, or by a user) would put a checkout ahead of the wheel.
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _run(cmd, **kwargs):
    res = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=_clean_env(), **kwargs)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    env = dict(_clean_env(), BUILD_VENV=sys.prefix, INVERSE_MEL_WHEEL_CUDA="0")
    res = subprocess.run(["bash", os.path.join(REPO, "tools", "build_wheel.sh"), str(dist)], capture_output=True,
                         text=True, env=env, timeout=1800)
    assert res.returncode == 0, f"build_wheel.sh failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    assert len(wheels) == 1, wheels
    return os.path.join(dist, wheels[0])


@pytest.mark.slow
def test_wheel_tags_metadata_and_license(wheel):
    name = os.path.basename(wheel)
    # One manylinux wheel for every CPython >= 3.10 (py_limited_api) and every torch >= 2.11 (stable ABI).
    assert name.startswith("inverse_mel-") and "-cp310-abi3-manylinux_" in name and name.endswith("_x86_64.whl"), name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        licenses = [n for n in names if n.endswith("LICENSE")]
        license_text = z.read(licenses[0]).decode() if licenses else ""
    assert any(n.startswith("inverse_mel/_C") and n.endswith(".so") for n in names)  # the compiled extension
    assert not any("libtorch" in n or "libc10" in n for n in names)  # torch's libraries come from torch
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: torch")]
    assert requires == ["Requires-Dist: torch>=2.11"], requires  # never an exact pin (the README's own may be)
    for requirement in ("numpy", "soundfile", "soxr", "tqdm"):
        assert f"Requires-Dist: {requirement}" in metadata, requirement
    assert "inverse-mel = inverse_mel.cli:main" in entry_points
    assert "BSD 3-Clause License" in license_text


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_converts_ogg_to_flac(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    # torch as a user gets it, then the wheel with the dependencies it declares (and nothing else).
    _run([python, "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}"], timeout=1200)
    _run([python, "-m", "pip", "install", "-q", wheel], timeout=1200)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()

    probe = (
        "import json, torch, inverse_mel\n"
        "m = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm='slaney', mel_scale='slaney')\n"
        "x = torch.rand(2, 80, 50, generator=torch.Generator().manual_seed(0))\n"
        "op = m.operator(torch.float32)\n"
        "y = torch.ops.inverse_mel.lstsq_apply(x, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)\n"
        "print(json.dumps(dict(file=inverse_mel.__file__, so=inverse_mel._C.__file__, sum=float(y.double().sum()),"
        " equal=bool(torch.equal(y, m(x))))))\n"
    )
    out = json.loads(_run([python, "-c", probe], cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert out["file"].startswith(site) and out["so"].startswith(site), out  # from the wheel, not this checkout
    assert out["equal"]
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney")
    expected = float(module(torch.rand(2, 80, 50, generator=torch.Generator().manual_seed(0))).double().sum())
    assert out["sum"] == pytest.approx(expected, rel=1e-12)

    # The console script: an Ogg Vorbis file (.oga) in, a FLAC out, no warnings.
    source = tmp_path / "speech.oga"
    soundfile.write(source, synthetic_audio(22050, seconds=1.0).numpy(), 22050, format="OGG", subtype="VORBIS")
    result = _run([venv / "bin" / "inverse-mel", source, "-o", tmp_path / "speech.flac", "--griffin-lim-iters", "4"],
                  cwd=tmp_path)
    assert "warn" not in result.stderr.lower() and ": ok (" in result.stderr, result.stderr
    info = soundfile.info(tmp_path / "speech.flac")
    assert info.format == "FLAC" and info.samplerate == 22050 and info.frames > 20000
