"""The checks tools/check_torch_versions.sh runs in each fresh venv, against the installed wheel
(never the checkout), and the table it writes from their results.

  python tools/torch_version_battery.py run --root CHECKOUT --out RESULT.json
  python tools/torch_version_battery.py summarize --wheel WHEEL --out benchmarks/results/torch_versions.md RESULT.json...

Checks: opcheck of every op (the opcheck tests of the suite, plus melscale_fbanks_triangles), parity
with the stored torchaudio outputs, the kernel-snapshot digests, and the CLI turning an .oga file
into FLAC; under a CUDA build of torch also that inverse_mel._C_cuda loaded and every op has a CUDA
kernel (no GPU needed).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time


def _pytest(root, *files, keyword=None, marks="not slow"):
    tests = os.path.join(root, "tests")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(["-m", marks] if marks else []),
           *[os.path.join(tests, f) for f in files]]
    if keyword:
        cmd += ["-k", keyword]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    last = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    return run.returncode == 0, last if run.returncode == 0 else (run.stdout[-1500:] + run.stderr[-1500:])


def _fbanks_opcheck():
    import torch
    import inverse_mel  # noqa: F401
    hz = torch.linspace(0.0, 8000.0, 42)
    freqs = torch.linspace(0.0, 8000.0, 201)
    torch.library.opcheck(torch.ops.inverse_mel.melscale_fbanks_triangles.default, (hz, freqs, True))
    return True, "opcheck passed"


def _cli_oga_to_flac():
    import numpy as np
    import soundfile
    with tempfile.TemporaryDirectory() as tmp:
        sr = 22050
        t = np.arange(int(1.5 * sr)) / sr
        audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        src, dst = os.path.join(tmp, "in.oga"), os.path.join(tmp, "out.flac")
        soundfile.write(src, audio, sr, format="OGG", subtype="VORBIS")
        exe = os.path.join(os.path.dirname(sys.executable), "inverse-mel")
        run = subprocess.run([exe, src, "-o", dst], capture_output=True, text=True, cwd=tmp)
        if run.returncode != 0:
            return False, run.stderr[-1500:]
        info = soundfile.info(dst)
        ok = info.format == "FLAC" and info.frames > 0
        return ok, f"{info.format}, {info.frames} frames at {info.samplerate} Hz"


def _cuda_kernels():
    import torch
    import inverse_mel
    from inverse_mel import _extension
    if torch.version.cuda is None:
        return None, "CPU build of torch: not applicable"
    if "inverse_mel._C_cuda" not in sys.modules:
        return False, f"inverse_mel._C_cuda did not load: {_extension.CUDA_UNAVAILABLE_REASON}"
    missing = [op for op in _extension.OPS
               if not torch._C._dispatch_has_kernel_for_dispatch_key(f"inverse_mel::{op}", "CUDA")]
    if missing:
        return False, f"no CUDA kernel for {missing}"
    return True, f"_C_cuda loaded ({os.path.basename(inverse_mel._C_cuda.__file__)}), {len(_extension.OPS)} ops"


def run(args):
    import torch
    import inverse_mel
    checkout = os.path.realpath(args.root)
    where = os.path.realpath(inverse_mel.__file__)
    assert not where.startswith(checkout + os.sep), f"inverse_mel was imported from the checkout ({where})"
    checks = {}
    started = time.time()
    checks["opcheck (suite's opcheck tests)"] = _pytest(
        args.root, "test_ops.py", "test_per_frame.py", "test_phase_reconstruction.py", keyword="opcheck")
    checks["opcheck melscale_fbanks_triangles"] = _fbanks_opcheck()
    checks["torchaudio fixtures"] = _pytest(
        args.root, "test_fbanks.py", "test_inverse_mel_scale.py",
        keyword="matches_torchaudio or independent_float64_reference or torchaudio_compatible")
    checks["kernel snapshot"] = _pytest(args.root, "test_kernel_snapshot.py", marks=None)  # every vector width
    checks["CLI .oga to FLAC"] = _cli_oga_to_flac()
    cuda = _cuda_kernels()
    if cuda[0] is not None:
        checks["CUDA kernels registered"] = cuda
    result = dict(torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0],
                  inverse_mel=where, seconds=round(time.time() - started, 1),
                  checks={name: dict(ok=bool(ok), detail=detail) for name, (ok, detail) in checks.items()})
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v["ok"] for k, v in result["checks"].items()}))
    return 0 if all(v["ok"] for v in result["checks"].values()) else 1


def summarize(args):
    with open(args.wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    results = []
    for path in args.results:
        with open(path) as f:
            results.append(json.load(f))
    names = []
    for r in results:
        names += [n for n in r.get("checks", {}) if n not in names]
    lines = ["# One wheel under several torch versions (`tools/check_torch_versions.sh`)", "",
             f"Wheel: `{os.path.basename(args.wheel)}`, sha256 `{digest}`, installed unchanged into a fresh venv "
             "per torch version (no GPU on this machine: the CUDA kernels are loaded and registered, not run).", "",
             "| torch | torch CUDA | python | " + " | ".join(names) + " |",
             "|---" * (3 + len(names)) + "|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['torch']} | - | - | " + " | ".join(["not run"] * len(names)) + f" |  ({r['error']})")
            continue
        cells = []
        for n in names:
            c = r["checks"].get(n)
            cells.append("n/a" if c is None else ("pass" if c["ok"] else "FAIL"))
        lines.append(f"| {r['torch']} | {r['cuda'] or 'CPU'} | {r['python']} | " + " | ".join(cells) + " |")
    lines += ["", "Details:", ""]
    for r in results:
        for n, c in r.get("checks", {}).items():
            detail = str(c["detail"]).strip().splitlines()[-1] if str(c["detail"]).strip() else ""
            lines.append(f"- torch {r['torch']}, {n}: {'pass' if c['ok'] else 'FAIL'} ({detail})")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(dict(wheel=os.path.basename(args.wheel), sha256=digest, results=results), f, indent=1)
    print("\n".join(lines))
    failed = [r for r in results if "error" not in r and not all(c["ok"] for c in r["checks"].values())]
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--root", required=True)
    p_run.add_argument("--out", required=True)
    p_sum = sub.add_parser("summarize")
    p_sum.add_argument("--wheel", required=True)
    p_sum.add_argument("--out", required=True)
    p_sum.add_argument("results", nargs="+")
    args = parser.parse_args()
    sys.exit(run(args) if args.command == "run" else summarize(args))


if __name__ == "__main__":
    main()
