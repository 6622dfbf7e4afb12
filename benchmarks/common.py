"""Helpers shared by the benchmark scripts: timing, the inline torchaudio method, the machine."""
import os

import torch

from inverse_mel._timing import median_time  # noqa: F401  (the one timer, re-exported for the scripts)


def torchaudio_method(fb):
    """torchaudio.transforms.InverseMelScale's forward, written inline (torchaudio has no CPU
    build for this torch): relu(lstsq(fb.T[None], melspec).solution) with gels, or gelsd where gels
    raises on a rank-deficient filterbank. Returns (fn(melspec (..., n_mels, time)), driver).
    gels "succeeds" on some ill-conditioned banks (Whisper) with an unstable result."""
    a = fb.T[None]
    try:
        torch.linalg.lstsq(a, torch.rand(1, fb.shape[1], 4), driver="gels")
        driver = "gels"
    except RuntimeError:
        driver = "gelsd"
    return (lambda m: torch.relu(torch.linalg.lstsq(a, m, driver=driver).solution)), driver


def machine():
    """CPU model, core count, torch version and threads, for the results files."""
    cpu = "?"
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), cpu)
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def write_results(out_path, text, data):
    """Print the Markdown table and write it to out_path, with a .json copy of data beside it."""
    import json

    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump(data, f, indent=1)
