"""Write tests/data/torchaudio_2_11_griffinlim.npz: torchaudio 2.11's Griffin-Lim outputs with a
random initial phase under torch.manual_seed, for tests/test_torchaudio_ported.py.

Needs torchaudio's pure-Python parts (its Griffin-Lim is torch code):
    pip download --no-deps torchaudio==2.11.0 && pip install --no-deps torchaudio-2.11.0-*.whl
    rm "$(python -c 'import torchaudio, os; print(os.path.dirname(torchaudio.__file__))')"/lib/*.so
    python tools/make_torchaudio_fixtures.py
"""
import os

import numpy as np
import torch
import torchaudio

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data",
                   "torchaudio_2_11_griffinlim.npz")


def main():
    assert torchaudio.__version__.startswith("2.11"), torchaudio.__version__
    gen = torch.Generator().manual_seed(7)
    arrays = {}
    spec = torch.rand(2, 201, 20, generator=gen) ** 2  # power spectrogram, n_fft 400
    arrays["spec"] = spec.numpy()
    torch.manual_seed(0)
    arrays["module_default"] = torchaudio.transforms.GriffinLim()(spec).numpy()
    torch.manual_seed(1)
    arrays["module_momentum0_length"] = torchaudio.transforms.GriffinLim(n_iter=8, momentum=0.0, length=3850)(spec).numpy()
    spec64 = spec[:1].double()
    arrays["spec64"] = spec64.numpy()
    torch.manual_seed(2)
    arrays["functional_float64"] = torchaudio.functional.griffinlim(
        spec64, torch.hann_window(400, dtype=torch.float64), 400, 100, 400, 2.0, 16, 0.99, None, True).numpy()
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
