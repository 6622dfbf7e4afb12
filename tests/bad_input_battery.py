"""The bad-input battery: every public function and op, fed every kind of bad input.

Each case is ``(name, call, exception type, regex)``: ``call()`` must raise that exception
type with a message matching ``regex``, which names the argument and what was expected.
``tests/test_bad_input_battery.py`` runs this file in a subprocess (``python
bad_input_battery.py``), so that a segfault or an abort fails the test instead of killing the
run; the subprocess prints one JSON line per case, and a ``START`` line before it, so a crash
is pinned to its case.
"""
import json
import sys
import warnings

import torch

import inverse_mel
from inverse_mel import functional as F

N_STFT, N_MELS, SR = 201, 40, 16000
OPS = torch.ops.inverse_mel

CASES = []


def case(name, exc, regex):
    def register(call):
        CASES.append((name, call, exc, regex))
        return call

    return register


def _module(**kwargs):
    args = dict(n_stft=N_STFT, n_mels=N_MELS, sample_rate=SR)
    args.update(kwargs)
    return inverse_mel.InverseMelScale(**args)


def _mel(*shape, dtype=torch.float32):
    return torch.rand(*(shape or (N_MELS, 5)), dtype=dtype)


def _fb(dtype=torch.float32):
    return F.melscale_fbanks(N_STFT, 0.0, 8000.0, N_MELS, SR).to(dtype)


def _op(dtype=torch.float32):
    return F.lstsq_operator(_fb()).to(dtype)


# -- constructors: absurd configuration values ---------------------------------------------
CONSTRUCTOR_CASES = [
    ("n_mels_zero", dict(n_mels=0), ValueError, r"n_mels must be an int >= 1, found 0"),
    ("n_mels_negative", dict(n_mels=-3), ValueError, r"n_mels must be an int >= 1, found -3"),
    ("n_mels_float", dict(n_mels=40.5), ValueError, r"n_mels must be an int >= 1, found 40.5"),
    ("n_mels_bool", dict(n_mels=True), ValueError, r"n_mels must be an int >= 1, found True"),
    ("n_stft_one", dict(n_stft=1), ValueError, r"n_stft must be an int >= 2.*found 1"),
    ("n_stft_zero", dict(n_stft=0), ValueError, r"n_stft must be an int >= 2.*found 0"),
    ("n_stft_float", dict(n_stft=201.0), ValueError, r"n_stft must be an int >= 2.*found 201.0"),
    ("f_min_above_f_max", dict(f_min=9000.0, f_max=8000.0), ValueError, r"Require f_min: 9000.0 <= f_max: 8000.0"),
    ("f_min_equals_f_max", dict(f_min=4000.0, f_max=4000.0), ValueError, r"f_max must be greater than f_min, found both 4000.0 Hz"),
    ("f_min_negative", dict(f_min=-20.0), ValueError, r"f_min must be a finite number of Hz >= 0, found -20.0"),
    ("f_min_nan", dict(f_min=float("nan")), ValueError, r"f_min must be a finite number"),
    ("f_max_above_nyquist", dict(f_max=9000.0), ValueError, r"f_max=9000.0 Hz is above the Nyquist frequency.*8000"),
    ("f_max_inf", dict(f_max=float("inf")), ValueError, r"f_max must be a finite number"),
    ("f_max_string", dict(f_max="8k"), ValueError, r"f_max must be a finite number.*'8k'"),
    ("sample_rate_negative", dict(sample_rate=-16000), ValueError, r"sample_rate must be a positive number of Hz, found -16000"),
    ("sample_rate_zero", dict(sample_rate=0), ValueError, r"sample_rate must be a positive number of Hz, found 0"),
    ("sample_rate_nan", dict(sample_rate=float("nan")), ValueError, r"sample_rate must be a positive number"),
    ("sample_rate_string", dict(sample_rate="16k"), ValueError, r"sample_rate must be a positive number.*'16k'"),
    ("norm_unknown", dict(norm="l1"), ValueError, r'norm must be one of None or "slaney"'),
    ("mel_scale_unknown", dict(mel_scale="bark"), ValueError, r'mel_scale should be one of "htk" or "slaney"'),
]
for _name, _kwargs, _exc, _regex in CONSTRUCTOR_CASES:
    case(f"InverseMelScale.__init__/{_name}", _exc, _regex)(lambda kw=_kwargs: _module(**kw))
    mel_kwargs = dict(n_stft=N_STFT, n_mels=N_MELS, sample_rate=SR)
    mel_kwargs.update(_kwargs)
    case(f"MelScale.__init__/{_name}", _exc, _regex)(lambda kw=mel_kwargs: inverse_mel.MelScale(**kw))

# The functional accepts what torchaudio's accepts (f_min > f_max, f_max above Nyquist, n_mels=0,
# ...: tests/test_torchaudio_drop_in.py); it rejects what torchaudio's cannot compute or turns into NaN.
for _name, _kwargs, _regex in [
    ("n_mels_negative", dict(n_mels=-3), r"n_mels must be an int >= 0, found -3"),
    ("n_mels_float", dict(n_mels=40.5), r"n_mels must be an int >= 0, found 40.5"),
    ("n_mels_bool", dict(n_mels=True), r"n_mels must be an int >= 0, found True"),
    ("n_freqs_zero", dict(n_freqs=0), r"n_freqs must be an int >= 1 \(n_fft // 2 \+ 1\), found 0"),
    ("n_freqs_float", dict(n_freqs=201.0), r"n_freqs must be an int >= 1.*found 201.0"),
    ("f_min_equals_f_max", dict(f_min=4000.0, f_max=4000.0, norm="slaney"), r"NaN or Inf.*use f_max > f_min"),
    ("f_min_nan", dict(f_min=float("nan")), r"f_min must be a finite number of Hz, found nan"),
    ("f_min_below_htk_pole", dict(f_min=-800.0), r"f_min must be above -700 Hz, found -800.0"),
    ("f_max_inf", dict(f_max=float("inf")), r"f_max must be a finite number of Hz, found inf"),
    ("f_max_string", dict(f_max="8k"), r"f_max must be a finite number of Hz, found '8k'"),
    ("sample_rate_nan", dict(sample_rate=float("nan")), r"sample_rate must be a finite number of Hz"),
    ("sample_rate_string", dict(sample_rate="16k"), r"sample_rate must be a finite number of Hz, found '16k'"),
    ("norm_unknown", dict(norm="l1"), r'norm must be one of None or "slaney"'),
    ("mel_scale_unknown", dict(mel_scale="bark"), r'mel_scale should be one of "htk" or "slaney"'),
]:
    fb_kwargs = dict(n_freqs=N_STFT, f_min=0.0, f_max=8000.0, n_mels=N_MELS, sample_rate=SR)
    fb_kwargs.update(_kwargs)
    case(f"melscale_fbanks/{_name}", ValueError, _regex)(lambda kw=fb_kwargs: F.melscale_fbanks(**kw))

for _name, _kwargs, _regex in [
    ("driver_unknown", dict(driver="qr"), r'driver must be one of \["gels", "gelsy", "gelsd", "gelss"\]. Found qr.'),
    ("solver_unknown", dict(solver="lbfgs"), r"solver must be one of \['lstsq', 'nnls'\], found 'lbfgs'"),
    ("max_iter_negative", dict(solver="nnls", max_iter=-1), r"max_iter must be an int >= 0, found -1"),
    ("max_iter_float", dict(solver="nnls", max_iter=2.5), r"max_iter must be an int >= 0, found 2.5"),
    ("tol_negative", dict(solver="nnls", tol=-1e-3), r"tol must be a finite number >= 0, found -0.001"),
    ("tol_nan", dict(solver="nnls", tol=float("nan")), r"tol must be a finite number >= 0, found nan"),
    ("rcond_above_one", dict(rcond=1.5), r"rcond must be a float in \[0, 1\), found 1.5; or None"),
    ("rcond_negative", dict(rcond=-0.1), r"rcond must be a float in \[0, 1\), found -0.1"),
    ("rcond_nan", dict(rcond=float("nan")), r"rcond must be a float in \[0, 1\), found nan"),
]:
    case(f"InverseMelScale.__init__/{_name}", ValueError, _regex)(lambda kw=_kwargs: _module(**kw))


# -- forward and functional: bad melspec ----------------------------------------------------
def _bad_melspecs():
    nan = _mel(2, N_MELS, 5)
    nan[1, 3, 2] = float("nan")
    inf = _mel(N_MELS, 5)
    inf[0, 4] = float("inf")
    return [
        ("rank_1", _mel(N_MELS), ValueError, r"melspec must have shape \(\.\.\., n_mels, time\) with at least 2 dims, found shape \(40,\)"),
        ("rank_0", torch.tensor(1.0), ValueError, r"melspec must have shape .* found shape \(\)"),
        ("wrong_n_mels", _mel(2, 80, 5), ValueError, r"Expected an input with 40 mel bins. Found: 80"),
        ("transposed", _mel(5, N_MELS), ValueError, r"Expected an input with 40 mel bins. Found: 5"),
        ("int64", torch.ones(N_MELS, 5, dtype=torch.int64), TypeError, r"melspec must be a real floating-point tensor.*found torch.int64"),
        ("int32", torch.ones(N_MELS, 5, dtype=torch.int32), TypeError, r"melspec must be a real floating-point tensor.*found torch.int32"),
        ("uint8", torch.ones(N_MELS, 5, dtype=torch.uint8), TypeError, r"melspec must be a real floating-point tensor.*found torch.uint8"),
        ("bool", torch.ones(N_MELS, 5, dtype=torch.bool), TypeError, r"melspec must be a real floating-point tensor.*found torch.bool"),
        ("complex64", torch.ones(N_MELS, 5, dtype=torch.complex64), TypeError, r"melspec must be a real floating-point tensor.*found torch.complex64"),
        ("nan", nan, ValueError, r"melspec contains NaN or Inf \(first at index \(1, 3, 2\)"),
        ("inf", inf, ValueError, r"melspec contains NaN or Inf \(first at index \(0, 4\)"),
        ("list", [[0.0] * 5] * N_MELS, TypeError, r"melspec must be a torch.Tensor, found list"),
        ("meta_device", torch.empty(N_MELS, 5, device="meta"), ValueError, r"melspec is on meta but .*fb is on cpu"),
    ]


for _name, _melspec, _exc, _regex in _bad_melspecs():
    for _solver in ("lstsq", "nnls"):
        case(f"InverseMelScale.forward[{_solver}]/{_name}", _exc, _regex)(
            lambda m=_melspec, s=_solver: _module(solver=s)(m)
        )
        case(f"inverse_mel_scale[{_solver}]/{_name}", _exc, _regex)(
            lambda m=_melspec, s=_solver: F.inverse_mel_scale(m, _fb(), solver=s)
        )


# -- functional: bad filterbank -------------------------------------------------------------
def _negative_fb():
    fb = _fb()
    fb[10, 3] = -0.5
    return fb


def _nan_fb():
    fb = _fb()
    fb[10, 3] = float("nan")
    return fb


for _name, _fb_maker, _exc, _regex in [
    ("fb_rank_1", lambda: torch.rand(N_STFT), ValueError, r"fb must have shape \(n_freqs, n_mels\), found shape \(201,\)"),
    ("fb_librosa_layout", lambda: _fb().T.contiguous(), ValueError, r"Expected an input with 201 mel bins. Found: 40"),
    ("fb_int", lambda: torch.ones(N_STFT, N_MELS, dtype=torch.int64), TypeError, r"fb must be a real floating-point tensor, found torch.int64"),
    ("fb_complex", lambda: torch.ones(N_STFT, N_MELS, dtype=torch.complex64), TypeError, r"fb must be a real floating-point tensor"),
    ("fb_nan", _nan_fb, ValueError, r"fb contains NaN or Inf"),
    ("fb_empty", lambda: torch.rand(0, N_MELS), ValueError, r"fb is empty \(shape \(0, 40\)\)"),
    ("fb_not_tensor", lambda: _fb().numpy(), TypeError, r"fb must be a torch.Tensor .* found ndarray"),
    ("fb_dtype_mismatch", lambda: _fb(torch.float64), TypeError, r"fb is torch.float64 but melspec is torch.float32; pass fb.to\(melspec.dtype\)"),
    ("fb_device_mismatch", lambda: torch.empty(N_STFT, N_MELS, device="meta"), ValueError, r"melspec is on cpu but fb is on meta"),
]:
    case(f"inverse_mel_scale/{_name}", _exc, _regex)(lambda f=_fb_maker: F.inverse_mel_scale(_mel(), f()))

case("inverse_mel_scale[nnls]/fb_negative", ValueError, r'solver="nnls" needs a non-negative filterbank.*use solver="lstsq"')(
    lambda: F.inverse_mel_scale(_mel(), _negative_fb(), solver="nnls")
)
case("inverse_mel_scale/driver_unknown", ValueError, r"driver must be one of")(
    lambda: F.inverse_mel_scale(_mel(), _fb(), driver="qr")
)


def _module_with_negative_fb():
    module = _module(solver="nnls")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.fb[10, 3] = -0.5
    return module


case("InverseMelScale.forward[nnls]/fb_edited_negative", ValueError, r"needs a non-negative filterbank")(
    lambda: _module_with_negative_fb()(_mel())
)

for _name, _fb_maker, _exc, _regex in [
    ("fb_rank_3", lambda: torch.rand(2, N_STFT, N_MELS), ValueError, r"fb must have shape \(n_freqs, n_mels\), found shape \(2, 201, 40\)"),
    ("fb_int", lambda: torch.ones(N_STFT, N_MELS, dtype=torch.int32), TypeError, r"fb must be a real floating-point tensor"),
    ("fb_inf", lambda: torch.full((N_STFT, N_MELS), float("inf")), ValueError, r"fb contains NaN or Inf"),
    ("fb_empty", lambda: torch.rand(N_STFT, 0), ValueError, r"fb is empty"),
]:
    case(f"lstsq_operator/{_name}", _exc, _regex)(lambda f=_fb_maker: F.lstsq_operator(f()))
case("lstsq_operator/rcond_string", ValueError, r"rcond must be a float in \[0, 1\), found '1e-2'")(
    lambda: F.lstsq_operator(_fb(), "1e-2")
)

# -- mel_scale / MelScale.forward ----------------------------------------------------------
_nan_spec = torch.rand(N_STFT, 5)
_nan_spec[7, 1] = float("nan")
for _name, _spec, _exc, _regex in [
    ("rank_1", torch.rand(N_STFT), ValueError, r"specgram must have shape \(\.\.\., n_freqs, time\)"),
    ("wrong_n_freqs", torch.rand(3, 513, 5), ValueError, r"specgram must have shape \(\.\.\., 201, time\), found \(3, 513, 5\)"),
    ("int64", torch.ones(N_STFT, 5, dtype=torch.int64), TypeError, r"specgram must be a real floating-point tensor"),
    ("complex", torch.ones(N_STFT, 5, dtype=torch.complex64), TypeError, r"specgram must be a real floating-point tensor.*complex64"),
    ("nan", _nan_spec, ValueError, r"specgram contains NaN or Inf \(first at index \(7, 1\)"),
    ("meta_device", torch.empty(N_STFT, 5, device="meta"), ValueError, r"specgram is on meta but fb is on cpu"),
]:
    case(f"MelScale.forward/{_name}", _exc, _regex)(
        lambda s=_spec: inverse_mel.MelScale(n_mels=N_MELS, sample_rate=SR, n_stft=N_STFT)(s)
    )
    case(f"mel_scale/{_name}", _exc, _regex)(lambda s=_spec: F.mel_scale(s, _fb()))

case("hz_to_mel/mel_scale_unknown", ValueError, r'mel_scale should be one of "htk" or "slaney"')(lambda: F.hz_to_mel(440.0, "bark"))
case("mel_to_hz/mel_scale_unknown", ValueError, r'mel_scale should be one of "htk" or "slaney"')(lambda: F.mel_to_hz(10.0, "mel"))


# -- the ops themselves (torch.ops.inverse_mel.*): RuntimeError from TORCH_CHECK -----------
def _lstsq(melspec=None, **over):
    op = _op(over.pop("dtype", torch.float32))
    args = dict(
        melspec=_mel() if melspec is None else melspec, gram_pinv=op.gram_pinv, tap_index=op.tap_index,
        tap_weight=op.tap_weight, band=op.gram_cholesky_band,
    )
    args.update(over)
    return OPS.lstsq_apply(args["melspec"], args["gram_pinv"], args["tap_index"], args["tap_weight"], args["band"])


def _nnls(melspec=None, max_iter=50, tol=1e-4, **over):
    op = _op()
    index = over.get("tap_index", op.tap_index)
    weight = over.get("tap_weight", op.tap_weight)
    return OPS.nnls(_mel() if melspec is None else melspec, index, weight, max_iter, tol, over.get("band_edge_fill"))


def _fill(**entries):
    fill = torch.full((N_STFT,), -1, dtype=torch.int64)
    for f, j in entries.values():
        fill[f] = j
    return fill


_op32 = _op()
for _name, _call, _regex in [
    ("melspec_rank_1", lambda: _lstsq(_mel(N_MELS)), r"lstsq_apply: melspec must have shape \(\.\.\., n_mels, time\)"),
    ("melspec_int", lambda: _lstsq(torch.ones(N_MELS, 5, dtype=torch.int64)), r"lstsq_apply: melspec must be float32 or float64, found Long"),
    ("melspec_half", lambda: _lstsq(_mel().half()), r"lstsq_apply: melspec must be float32 or float64, found Half"),
    ("wrong_n_mels", lambda: _lstsq(_mel(80, 5)), r"lstsq_apply: expected an input with 40 mel bins. Found: 80"),
    ("gram_not_square", lambda: _lstsq(gram_pinv=torch.rand(40, 39)), r"gram_pinv must be a square \(n_mels, n_mels\) matrix"),
    ("dtype_mismatch", lambda: _lstsq(_mel(dtype=torch.float64)), r"gram_pinv and tap_weight must have melspec's dtype"),
    ("tap_index_int32", lambda: _lstsq(tap_index=_op32.tap_index.int()), r"tap_index must be int64, found Int"),
    ("tap_index_out_of_range", lambda: _lstsq(tap_index=_op32.tap_index + 40), r"tap_index entries must lie in \[0, 40\)"),
    ("tap_index_negative", lambda: _lstsq(tap_index=_op32.tap_index - 41), r"tap_index entries must lie in \[0, 40\)"),
    ("tap_shapes_differ", lambda: _lstsq(tap_weight=_op32.tap_weight[:, :1]), r"tap_index and tap_weight must both have shape \(n_freqs, taps\)"),
    ("band_wrong_shape", lambda: _lstsq(band=torch.ones(2, 39)), r"gram_cholesky_band must have shape \(bands, n_mels\)"),
    ("band_wrong_dtype", lambda: _lstsq(band=torch.ones(2, 40, dtype=torch.float64)), r"gram_cholesky_band must be a CPU tensor of melspec's dtype"),
]:
    case(f"ops.lstsq_apply/{_name}", RuntimeError, _regex)(_call)


def _lstsq_out(out):
    op = _op32
    return OPS.lstsq_apply_out(_mel(), op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band, out)


def _out_aliasing_input():
    op = _op32
    buffer = torch.rand(N_STFT * 5 + 1000)
    melspec = buffer[: N_MELS * 5].view(N_MELS, 5)
    out = buffer[:N_STFT * 5].view(N_STFT, 5)
    return OPS.lstsq_apply_out(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band, out)


for _name, _call, _regex in [
    ("out_wrong_shape", lambda: _lstsq_out(torch.empty(N_STFT, 4)), r"out must have shape \[201, 5\], found \[201, 4\]"),
    ("out_wrong_dtype", lambda: _lstsq_out(torch.empty(N_STFT, 5, dtype=torch.float64)), r"out must be a CPU tensor of melspec's dtype"),
    ("out_non_contiguous", lambda: _lstsq_out(torch.empty(5, N_STFT).T), r"out must be contiguous"),
    ("out_expanded", lambda: _lstsq_out(torch.empty(1, 5).expand(N_STFT, 5)), r"out must be contiguous"),
    ("out_aliases_melspec", _out_aliasing_input, r"out must not share memory with melspec"),
]:
    case(f"ops.lstsq_apply_out/{_name}", RuntimeError, _regex)(_call)


def _negative_weights():
    weight = _op32.tap_weight.clone()
    weight[5, 0] = -1.0
    return weight


for _name, _call, _regex in [
    ("melspec_int", lambda: _nnls(torch.ones(N_MELS, 5, dtype=torch.int32)), r"nnls: melspec must be float32 or float64"),
    ("melspec_rank_1", lambda: _nnls(_mel(N_MELS)), r"nnls: melspec must have shape \(\.\.\., n_mels, time\)"),
    ("max_iter_negative", lambda: _nnls(max_iter=-2), r"nnls: max_iter must be >= 0, found -2"),
    ("tol_negative", lambda: _nnls(tol=-1.0), r"nnls: tol must be a finite number >= 0, found -1"),
    ("tol_nan", lambda: _nnls(tol=float("nan")), r"nnls: tol must be a finite number >= 0, found nan"),
    ("negative_weights", lambda: _nnls(tap_weight=_negative_weights()), r"nnls: .*negative weights"),
    ("tap_index_out_of_range", lambda: _nnls(_mel(30, 5)), r"nnls: tap_index entries must lie in \[0, 30\)"),
    ("weight_dtype_mismatch", lambda: _nnls(tap_weight=_op32.tap_weight.double()), r"nnls: tap_weight must have the input's dtype Float, found Double"),
    ("tap_index_float", lambda: _nnls(tap_index=_op32.tap_index.float()), r"nnls: tap_index must be int64, found Float"),
    ("band_edge_fill_float", lambda: _nnls(band_edge_fill=_fill().float()), r"nnls: band_edge_fill must be a CPU int64 tensor of shape \(201,\)"),
    ("band_edge_fill_short", lambda: _nnls(band_edge_fill=_fill()[:10]), r"nnls: band_edge_fill must be a CPU int64 tensor of shape \(201,\)"),
    ("band_edge_fill_out_of_range", lambda: _nnls(band_edge_fill=_fill(a=(0, 500))), r"nnls: band_edge_fill\[0\] = 500 is not a bin index"),
    ("band_edge_fill_below_minus_one", lambda: _nnls(band_edge_fill=_fill(a=(0, -3))), r"nnls: band_edge_fill entries must be -1 or a bin index, found -3"),
    ("band_edge_fill_weighed_bin", lambda: _nnls(band_edge_fill=_fill(a=(5, 6))), r"nnls: band_edge_fill may only fill bins that no filter weighs, but bin 5 has weights"),
    ("band_edge_fill_unweighed_source", lambda: _nnls(band_edge_fill=_fill(a=(200, 0))), r"nnls: band_edge_fill\[200\] = 0 must name a bin that some filter weighs"),
]:
    case(f"ops.nnls/{_name}", RuntimeError, _regex)(_call)

case("inverse_mel_scale[nnls]/band_edge_fill_wrong_shape", ValueError, r"band_edge_fill must be an int64 tensor of shape \(201,\)")(
    lambda: F.inverse_mel_scale(_mel(), _fb(), solver="nnls", band_edge_fill=torch.zeros(3, dtype=torch.int64))
)
case("inverse_mel_scale[lstsq]/band_edge_fill_given", ValueError, r'band_edge_fill applies to solver="nnls" only')(
    lambda: F.inverse_mel_scale(_mel(), _fb(), band_edge_fill=_fill())
)


def _nnls_backward(grad_shape=(N_STFT, 5), solution_shape=(N_STFT, 5), n_mels=N_MELS, dtype=torch.float32):
    return OPS.nnls_backward(
        torch.rand(grad_shape, dtype=dtype), torch.rand(solution_shape), _op32.tap_index, _op32.tap_weight, n_mels
    )


for _name, _call, _regex in [
    ("shapes_differ", lambda: _nnls_backward(grad_shape=(N_STFT, 4)), r"nnls_backward: grad and solution must have the same shape"),
    ("wrong_n_freqs", lambda: _nnls_backward((100, 5), (100, 5)), r"nnls_backward: tap_index must have shape \(100, taps\), found \[201, 2\]"),
    ("n_mels_negative", lambda: _nnls_backward(n_mels=-1), r"nnls_backward: n_mels must be >= 0, found -1"),
    ("dtype_mismatch", lambda: _nnls_backward(dtype=torch.float64), r"nnls_backward: grad and solution must have one dtype, float32 or float64, found Double and Float"),
]:
    case(f"ops.nnls_backward/{_name}", RuntimeError, _regex)(_call)


def run_all():
    """Run every case, print a START line and then one JSON result line per case."""
    import re

    warnings.simplefilter("ignore")
    for name, call, exc, regex in CASES:
        print(f"START {name}", flush=True)
        try:
            call()
        except Exception as raised:  # noqa: BLE001 - the point is to see what is raised
            message = str(raised)
            ok = isinstance(raised, exc) and re.search(regex, message) is not None
            result = dict(name=name, ok=ok, raised=type(raised).__name__, message=message[:600])
        else:
            result = dict(name=name, ok=False, raised=None, message="no exception")
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    run_all()
    sys.exit(0)
