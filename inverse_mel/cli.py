"""``inverse-mel``: invert mel spectrograms to linear spectrograms and audio.

    inverse-mel INPUT... --output OUT [--preset NAME] [--solver lstsq|nnls] [--device cpu|cuda]
                         [--griffin-lim-iters N] [--plot PNG]

INPUT is a mel array (.npy, .npz, .pt: the preset's model features, e.g. HiFi-GAN's ln-mel, or a
linear mel with --input-scale linear), an audio file (its mel is computed with the preset, and the
result is compared with the original), or a folder of those. OUT is a file for one input (.wav for
audio, .npy/.pt for the linear spectrogram) or a folder (one output per input, see --write).
Without arguments it runs the built-in demo.

Errors print one line and exit non-zero; in a run over several files a failed file is reported
and skipped, the others are still written, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import List, Optional

import torch

from . import _io
from .functional.filterbank import mel_scale
from .pipeline import preset_griffin_lim
from .presets import PRESETS, get_preset

PROG = "inverse-mel"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        sys.stderr.write(f"{PROG}: error: {message} (see {PROG} --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="mel arrays, audio files or folders")
    p.add_argument("-o", "--output", help="output file (one input) or folder")
    p.add_argument("--preset", default="hifigan", help=f"analysis settings: {', '.join(sorted(PRESETS))} (default hifigan)")
    g = p.add_argument_group("explicit settings (override the preset's)")
    g.add_argument("--sample-rate", type=int)
    g.add_argument("--n-fft", type=int)
    g.add_argument("--hop-length", type=int)
    g.add_argument("--win-length", type=int)
    g.add_argument("--n-mels", type=int)
    g.add_argument("--f-min", type=float)
    g.add_argument("--f-max", type=float)
    g.add_argument("--norm", choices=["none", "slaney"])
    g.add_argument("--mel-scale", choices=["htk", "slaney"])
    g.add_argument("--power", type=float, choices=[1.0, 2.0])
    g.add_argument("--log", choices=["none", "ln", "log10"], help="the features' log compression")
    p.add_argument("--input-scale", choices=["features", "linear"], default="features",
                   help="arrays hold the preset's features (default) or a linear mel")
    p.add_argument("--key", help="array name inside .npz/.pt dicts")
    p.add_argument("--solver", choices=["lstsq", "nnls"], default="nnls", help="mel inverse (default nnls)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--griffin-lim-iters", type=int, default=32, metavar="N", help="Griffin-Lim iterations (default 32)")
    p.add_argument("--write", action="append", choices=["wav", "npy", "pt"],
                   help="what to write per input into a folder OUT (repeatable; default wav)")
    p.add_argument("--plot", metavar="PNG", help="draw the inversion (a folder when there are several inputs)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--repeats", type=int, default=20, help="demo only: timing repeats")
    return p


def _preset_from_args(args):
    preset = get_preset(args.preset)
    overrides = {
        "sample_rate": args.sample_rate, "n_fft": args.n_fft, "hop_length": args.hop_length,
        "win_length": args.win_length, "n_mels": args.n_mels, "f_min": args.f_min, "f_max": args.f_max,
        "mel_scale": args.mel_scale, "power": args.power, "log": args.log,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if args.norm is not None:
        changes["norm"] = None if args.norm == "none" else args.norm
    if changes:
        preset = preset.replace(name=f"{preset.name}+custom", **changes)
    return preset


def _collect_inputs(paths: List[str]) -> List[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(path, name) for name in os.listdir(path)
                if _io.suffix(name) in _io.ARRAY_SUFFIXES + _io.AUDIO_SUFFIXES
            )
            if not found:
                raise _io.InputError(f"{path}: folder holds no .npy, .npz, .pt or audio files")
            files.extend(found)
        else:
            files.append(path)  # a missing file is reported when it is processed
    return files


class Job:
    """Inverts one file with shared modules (built once per run)."""

    def __init__(self, preset, args, device, wants_audio: bool):
        self.preset, self.args, self.device, self.wants_audio = preset, args, device, wants_audio
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.inverse = preset.inverse_mel_scale(solver=args.solver).to(device)
        self.notes = [str(w.message) for w in caught]

    def run(self, path: str):
        preset, args = self.preset, self.args
        if not os.path.exists(path):
            raise _io.InputError("no such file")
        ext = _io.suffix(path)
        original = None
        if ext in _io.AUDIO_SUFFIXES:
            audio, rate = _io.load_audio(path)
            audio = _io.resample(audio, rate, preset.sample_rate)
            if audio.numel() <= preset.n_fft:
                raise _io.InputError(f"audio of {audio.numel()} samples is shorter than n_fft={preset.n_fft}")
            original = preset.spectrogram(audio)
            mel = mel_scale(original, preset.fbanks())
            mel = preset.to_linear_mel(preset.compress(mel))  # what a model's features hold
        elif ext in _io.ARRAY_SUFFIXES:
            array = _io.load_array(path, args.key)
            if array.dim() == 3 and array.shape[0] == 1:
                array = array[0]
            if array.dim() != 2 or array.shape[0] != preset.n_mels:
                hint = "; it looks transposed: save it as (n_mels, frames)" if array.dim() == 2 and array.shape[1] == preset.n_mels else ""
                raise _io.InputError(
                    f"expected mel features of shape ({preset.n_mels}, frames) for preset {preset.name}, "
                    f"found {tuple(array.shape)}{hint}"
                )
            if not bool(torch.isfinite(array).all()):
                raise _io.InputError("the array contains NaN or Inf")
            mel = array if args.input_scale == "linear" else preset.to_linear_mel(array)
            if args.input_scale == "linear" and bool((mel < 0).any()):
                raise _io.InputError("a linear mel spectrogram must be non-negative (is it log-scaled? drop --input-scale linear)")
        else:
            raise _io.InputError(f"unsupported file type {ext or '(none)'}; use .npy, .npz, .pt or audio")
        mel = mel.to(self.device)
        estimate = self.inverse(mel)
        audio_out = None
        if self.wants_audio:
            audio_out = preset_griffin_lim(estimate, preset, args.griffin_lim_iters, 0.99, None, True, seed=0)
        quality = {}
        if original is not None:
            mag = original if preset.power == 1 else original.sqrt()
            est_cpu = estimate.cpu()
            mag_est = est_cpu if preset.power == 1 else est_cpu.sqrt()
            quality["SC"] = _io.spectral_convergence(mag, mag_est)
            quality["LSD"] = _io.log_spectral_distance(mag.square(), mag_est.square())
            if audio_out is not None:
                again = preset.spectrogram(audio_out.cpu())
                again = again if preset.power == 1 else again.sqrt()
                n = min(again.shape[-1], mag.shape[-1])
                quality["SC audio"] = _io.spectral_convergence(mag[..., :n], again[..., :n])
        return mel.cpu(), estimate.cpu(), original, audio_out, quality


def _stems(files: List[str]) -> List[str]:
    """Output names per input: the file's stem, or stem_ext where two inputs share a stem."""
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
    return [
        s if stems.count(s) == 1 else f"{s}_{_io.suffix(f).lstrip('.') or 'noext'}" for s, f in zip(stems, files)
    ]


def _outputs_for(stem: str, args, single: bool) -> List[str]:
    if single:
        return [args.output]
    kinds = args.write or ["wav"]
    return [os.path.join(args.output, f"{stem}.{kind}") for kind in kinds]


def _progress(i: int, n: int, width: int = 24) -> str:
    done = int(width * i / n)
    return f"[{'#' * done}{'.' * (width - done)}] {i}/{n}"


def run(args) -> int:
    try:
        preset = _preset_from_args(args)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        print(f"{PROG}: error: --output is required (a file for one input, or a folder)", file=sys.stderr)
        return 2
    if args.griffin_lim_iters < 0:
        print(f"{PROG}: error: --griffin-lim-iters must be >= 0, found {args.griffin_lim_iters}", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"{PROG}: error: --device cuda, but no CUDA device is available to this torch ({torch.__version__})",
              file=sys.stderr)
        return 2
    try:
        files = _collect_inputs(args.inputs)
    except _io.InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    out_suffix = _io.suffix(args.output)
    single = len(files) == 1 and not os.path.isdir(args.output) and out_suffix in (".wav", ".npy", ".pt")
    if len(files) > 1 and out_suffix in (".wav", ".npy", ".pt"):
        print(f"{PROG}: error: {len(files)} inputs need a folder as --output, found the file name {args.output}",
              file=sys.stderr)
        return 2
    try:
        if single:
            parent = os.path.dirname(os.path.abspath(args.output))
            if not os.path.isdir(parent):
                raise _io.InputError(f"output folder {parent} does not exist")
        else:
            os.makedirs(args.output, exist_ok=True)
        if args.plot and len(files) > 1:
            os.makedirs(args.plot, exist_ok=True)
    except (OSError, _io.InputError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"{PROG}: error: cannot create output: {message}", file=sys.stderr)
        return 2

    stems = _stems(files)
    outputs_needed = [_outputs_for(stem, args, single) for stem in stems]
    wants_audio = any(_io.suffix(o) == ".wav" for outs in outputs_needed for o in outs)
    job = Job(preset, args, torch.device(args.device), wants_audio)
    if not args.quiet:
        print(f"{PROG}: preset {preset.name} ({preset.sample_rate} Hz, n_fft {preset.n_fft}, hop {preset.hop_length}, "
              f"{preset.n_mels} mels), solver {args.solver}, device {args.device}, "
              f"{len(files)} input(s)", file=sys.stderr)
        for note in job.notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
    failed = 0
    for i, (path, stem, outputs) in enumerate(zip(files, stems, outputs_needed), start=1):
        t0 = time.perf_counter()
        try:
            mel, estimate, original, audio_out, quality = job.run(path)
            for out in outputs:
                try:
                    if _io.suffix(out) == ".wav":
                        _io.write_wav(out, audio_out, preset.sample_rate)
                    else:
                        _io.write_array(out, estimate)
                except OSError as exc:
                    raise _io.InputError(f"cannot write {out}: {exc.strerror or exc}") from None
            if args.plot:
                plot_path = args.plot if len(files) == 1 else os.path.join(args.plot, stem + ".png")
                from .plot import plot_inversion

                title = f"{os.path.basename(path)}: preset {preset.name}, solver {args.solver}"
                if quality:
                    title += ", " + ", ".join(f"{k} {v:.3f}" + (" dB" if k == "LSD" else "") for k, v in quality.items())
                try:
                    plot_inversion(plot_path, preset, mel, estimate, original, title=title)
                except ImportError as exc:
                    raise _io.InputError(str(exc)) from None
                except OSError as exc:
                    raise _io.InputError(f"cannot write the plot {plot_path}: {exc.strerror or exc}") from None
                outputs = outputs + [plot_path]
            if not args.quiet:
                q = "".join(f", {k} {v:.3f}" + (" dB" if k == "LSD" else "") for k, v in quality.items())
                print(f"{_progress(i, len(files))} {path}: ok ({time.perf_counter() - t0:.2f} s{q}) -> "
                      f"{', '.join(outputs)}", file=sys.stderr)
        except _io.InputError as exc:
            failed += 1
            print(f"{_progress(i, len(files))} {path}: error: {exc}", file=sys.stderr)
        except (ValueError, TypeError, RuntimeError) as exc:
            failed += 1
            print(f"{_progress(i, len(files))} {path}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
    if failed:
        print(f"{PROG}: {failed} of {len(files)} input(s) failed", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.inputs:
        if args.output is not None:
            print(f"{PROG}: error: no INPUT given", file=sys.stderr)
            return 2
        from .demo import demo_main

        return demo_main(args.preset, repeats=args.repeats)
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
