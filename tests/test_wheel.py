"""Build the wheel, install it into a fresh venv, import it there and run an op.

The fresh venv sees this environment's torch (through a .pth line pointing at torch's
site-packages, whose own .pth files are not processed, so this checkout's editable install
stays invisible) and nothing else: the package it imports must come from the wheel.
"""
import json
import os
import subprocess
import sys
import zipfile

import pytest
import torch

import inverse_mel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clean_env():
    # A PYTHONPATH (set by tools/sanitize.sh, or by a user) would put a checkout ahead of the wheel.
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _run(cmd, **kwargs):
    res = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(), **kwargs)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(dist), REPO],
         timeout=1200)
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    assert len(wheels) == 1, wheels
    return os.path.join(dist, wheels[0])


@pytest.mark.slow
def test_wheel_tags_and_torch_pin(wheel):
    name = os.path.basename(wheel)
    # One wheel per torch version for every CPython >= 3.10 (py_limited_api).
    assert name.startswith("inverse_mel-") and "-cp310-abi3-" in name, name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert any(n.startswith("inverse_mel/_C") and n.endswith(".so") for n in names)  # the compiled extension
    assert f"Requires-Dist: torch=={torch.__version__.split('+')[0]}" in metadata
    assert "inverse-mel = inverse_mel.cli:main" in entry_points


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    torch_site = os.path.dirname(os.path.dirname(torch.__file__))
    with open(os.path.join(site, "_parent_torch.pth"), "w") as f:
        f.write(torch_site + "\n")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], timeout=600)

    probe = (
        "import json, torch, inverse_mel\n"
        "m = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm='slaney', mel_scale='slaney')\n"
        "x = torch.rand(2, 80, 50, generator=torch.Generator().manual_seed(0))\n"
        "op = m.operator(torch.float32)\n"
        "y = torch.ops.inverse_mel.lstsq_apply(x, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)\n"
        "print(json.dumps(dict(file=inverse_mel.__file__, so=inverse_mel._C.__file__, sum=float(y.double().sum()),"
        " equal=bool(torch.equal(y, m(x))))))\n"
    )
    out = json.loads(_run([str(python), "-c", probe], cwd=str(tmp_path)).stdout.strip().splitlines()[-1])
    assert out["file"].startswith(site) and out["so"].startswith(site), out  # from the wheel, not this checkout
    assert out["equal"]
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney")
    expected = float(module(torch.rand(2, 80, 50, generator=torch.Generator().manual_seed(0))).double().sum())
    assert out["sum"] == pytest.approx(expected, rel=1e-12)
    # The console script is installed too.
    help_text = _run([str(venv / "bin" / "inverse-mel"), "--help"], cwd=str(tmp_path)).stdout
    assert "usage: inverse-mel" in help_text


