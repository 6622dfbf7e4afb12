"""``inverse-mel``: invert mel spectrograms to linear spectrograms and audio, one file or millions.

    inverse-mel INPUT... --output OUT [--preset NAME] [--solver lstsq|nnls] [--device cpu|cuda]
                         [--write wav|flac|ogg|npy|pt] [--shard I/N] [--overwrite] [--plot PNG]

INPUT is a mel array (.npy, .npz, .pt: the preset's model features, e.g. HiFi-GAN's ln-mel, or a
linear mel with --input-scale linear; (n_mels, frames), or (batch, n_mels, frames) for a batch of a
model's outputs, written one output per item as NAME_0, NAME_1, ...), an audio file in any format libsndfile reads (its mel is
computed with the preset, and the result is measured against the original), or a folder of those.
OUT is a file for one input (.wav, .flac, .ogg for audio; .npy, .pt for the linear spectrogram) or a
folder: one output per input and --write kind, and a manifest (manifest.jsonl: each input's
status, error, seconds and metrics). Without arguments it runs the built-in demo.

Audio inputs longer than one piece (4096 frames, about 48 s at 22.05 kHz, hop 256) written to audio
outputs without --plot are read in blocks, inverted and reconstructed piece by piece with overlap,
and written as they come: the memory does not grow with the length.

Outputs appear only when complete (written to a hidden partial file, then renamed). A rerun into the
same folder skips the inputs whose outputs are complete (--overwrite converts them again), so a
killed run resumes where it stopped. Under torchrun every process converts its share of the sorted
inputs (RANK, WORLD_SIZE; --device cuda uses cuda:LOCAL_RANK); --shard I/N does the same without
torchrun, e.g. in a SLURM array job. Each shard writes its own manifest part.

--preset takes a preset name, a preset file (.json/.toml) or auto (the best fit to the first mel
array). When an array's values contradict the chosen preset (e.g. Whisper's normalised log10 given
to hifigan), one warning names the preset they look like and why; the conversion still runs.

Errors print one line and exit non-zero; in a run over several files a failed file is reported and
skipped, the others are still written, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

import torch

from . import _batch, _io
from ._convert import Converter, convert_long_audio, is_long
from .constants import METHODS
from .pipeline import DEFAULT_MCGL_ITER, DEFAULT_METHOD
from . import _preset_files
from .presets import PRESETS, Preset, detect, get_preset

PROG = "inverse-mel"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        sys.stderr.write(f"{PROG}: error: {message} (see {PROG} --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="mel arrays, audio files or folders")
    p.add_argument("-o", "--output", help="output file (one input) or folder")
    p.add_argument("--preset", default="hifigan",
                   help=f"analysis settings: {', '.join(sorted(PRESETS))} (default hifigan); a preset file "
                   "(.json or .toml, see Preset.to_file); or auto: the preset whose convention the first mel array "
                   "fits best (inverse_mel.presets.detect)")
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
    p.add_argument("--method", choices=list(METHODS), default=DEFAULT_METHOD,
                   help=f"phase reconstruction (default {DEFAULT_METHOD}): griffin_lim from a random phase, pghi "
                   "(phase-gradient start), mcgl (pghi, then mel-consistent iterations), auto (pghi, then 8 "
                   "mel-consistent iterations kept where the mel is consistent)")
    p.add_argument("--mcgl-iters", type=int, default=DEFAULT_MCGL_ITER, metavar="N",
                   help=f"mel-consistent iterations of --method mcgl (default {DEFAULT_MCGL_ITER})")
    p.add_argument("--write", action="append", choices=list(_batch.OUTPUT_KINDS),
                   help="what to write per input into a folder OUT (repeatable; default wav)")
    p.add_argument("--sample-format", choices=list(_io.SAMPLE_FORMATS), default="pcm16",
                   help="samples of .wav/.flac outputs (default pcm16; .ogg is Vorbis)")
    p.add_argument("--overwrite", action="store_true", help="convert inputs whose outputs already exist")
    p.add_argument("--shard", metavar="I/N", help="convert the I-th of N shares of the inputs (default: torchrun's "
                   "RANK/WORLD_SIZE, else all)")
    p.add_argument("--plot", metavar="PNG", help="draw the inversion (a folder when there are several inputs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-file lines (errors still print)")
    p.add_argument("--repeats", type=int, default=20, help="demo only: timing repeats")
    return p


def _base_preset(args):
    """--preset: a name, a .json/.toml preset file, or auto (the best fit to the first array input)."""
    name = args.preset
    if name == "auto":
        return _auto_preset(args)
    if _io.suffix(name) in _preset_files.SUFFIXES or os.path.sep in name:
        return Preset.from_file(name)
    return get_preset(name)


def _auto_preset(args):
    files = [f for f in _batch.discover(args.inputs) if _io.is_array_file(f)]
    if not files:
        raise ValueError("--preset auto recognises a model's features in mel arrays (.npy, .npz, .pt); the inputs "
                         "hold none: name the preset")
    found = detect(_io.load_array(files[0], args.key), sample_rate=args.sample_rate)
    if found.best is None:
        raise ValueError(f"--preset auto: {found.reason}; name the preset (or define one in a .json file)")
    if not args.quiet:
        tied = f" (tied: {', '.join(found.ties)})" if len(found.ties) > 1 else ""
        print(f"{PROG}: --preset auto: {found.best}{tied}, from {files[0]}: {found.reason}", file=sys.stderr)
    return get_preset(found.best)


def _preset_from_args(args):
    preset = _base_preset(args)
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


OUTPUT_SUFFIXES = tuple("." + kind for kind in _batch.OUTPUT_KINDS)


def _fail(message, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _device(name: str, shard: _batch.Shard) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device cuda, but no CUDA device is available to this torch ({torch.__version__})")
    count = torch.cuda.device_count()
    if shard.local_rank >= count:
        raise ValueError(f"LOCAL_RANK={shard.local_rank}, but this node has {count} CUDA device(s): start at most "
                         f"{count} process(es) per node (torchrun --nproc-per-node {count})")
    return torch.device("cuda", shard.local_rank)


def _output_is_a_file(output: str) -> bool:
    """A file for one input when its suffix is one we write; an existing folder, or a name without
    such a suffix, is a folder. An audio suffix we cannot write is refused (not made a folder)."""
    kind = _io.suffix(output)
    if os.path.isdir(output):
        return False
    if kind in OUTPUT_SUFFIXES:
        return True
    if kind in _io.AUDIO_NAME_SUFFIXES or kind == ".npz":
        raise ValueError(f"cannot write {kind} files; name the output .wav, .flac, .ogg, .npy or .pt, or give a folder")
    return False


def _encoder(out: str, result, preset, sample_format: str):
    kind = _io.suffix(out)
    if kind in _batch.AUDIO_OUTPUTS:
        return _io.audio_encoder(kind, result.audio, preset.sample_rate, sample_format)
    return _io.array_encoder(kind, result.estimate)


def _metrics_text(metrics) -> str:
    return "".join(f", {k} {v:.3f}" + (" dB" if k == "LSD" else "") for k, v in metrics.items())


def run(args) -> int:
    try:
        preset = _preset_from_args(args)
        shard = _batch.shard_from(args.shard, os.environ)
        device = _device(args.device, shard)
        if args.output is None:
            raise ValueError("--output is required (a file for one input, or a folder)")
        if args.griffin_lim_iters < 0:
            raise ValueError(f"--griffin-lim-iters must be >= 0, found {args.griffin_lim_iters}")
        if args.mcgl_iters < 0:
            raise ValueError(f"--mcgl-iters must be >= 0, found {args.mcgl_iters}")
        file_output = _output_is_a_file(args.output)
        files = _batch.discover(args.inputs)
    except (ValueError, _io.InputError) as exc:
        return _fail(exc)
    if len(files) > 1 and file_output:
        return _fail(f"{len(files)} inputs need a folder as --output, found the file name {args.output}")
    single = len(files) == 1 and file_output
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
        message = _io.reason(exc)
        return _fail(f"cannot create output: {message}")

    plans = shard.take(_batch.plan(files, args.output, args.write or ["wav"], single))
    for planned in plans:  # what a killed run left half-written
        for out in planned.outputs:
            _io.discard(_io.partial_path(out))
    manifest = None
    todo, done = plans, []
    if not single:  # a single output file is always rewritten; folder runs resume
        todo, done = _batch.split_done(plans, args.overwrite)
        try:
            manifest = _batch.Manifest(_batch.manifest_path(args.output, shard)).load_complete({p.path for p in done})
        except _io.InputError as exc:
            return _fail(exc)
        for planned in done:
            if planned.path not in manifest.records:
                manifest.append(dict(input=planned.path, outputs=planned.outputs, status="ok", error=None,
                                     seconds=None, metrics={}, shard=shard.label, note="complete before this run"))

    converter = Converter(preset, args.solver, device, args.griffin_lim_iters, args.input_scale, args.key, args.method,
                          args.mcgl_iters)
    if not args.quiet:
        share = f", shard {shard.label}: {len(plans)} of them" if shard.count > 1 else ""
        resumed = f", {len(done)} already complete" if done else ""
        print(f"{PROG}: preset {preset.name} ({preset.sample_rate} Hz, n_fft {preset.n_fft}, hop {preset.hop_length}, "
              f"{preset.n_mels} mels), solver {args.solver}, method {args.method}, device {device}, {len(files)} input(s)"
              f"{share}{resumed}",
              file=sys.stderr)
        note = converter.rank_note()
        if note and shard.index == 0:
            print(f"{PROG}: note: {note}", file=sys.stderr)
    failed = _convert_all(todo, converter, manifest, preset, shard, args, single=single, n_inputs=len(files))
    if failed:  # each failure has had its own error line
        where = f" in shard {shard.label}" if shard.count > 1 else ""
        print(f"{PROG}: {failed} of {len(plans)} input(s) failed{where}", file=sys.stderr)
        return 1
    return 0


def _convert_all(todo, converter, manifest, preset, shard, args, single: bool, n_inputs: int) -> int:
    from tqdm import tqdm

    failed = 0
    with tqdm(total=len(todo), unit="file", file=sys.stderr, disable=True if args.quiet else None,
              desc=f"shard {shard.label}" if shard.count > 1 else PROG) as progress:
        for planned in todo:
            started = time.perf_counter()
            partials = []
            outputs = list(planned.outputs)
            try:
                want_audio = any(_io.suffix(o) in _batch.AUDIO_OUTPUTS for o in outputs)
                if _long_audio_job(converter, planned.path, outputs, args):
                    # Long audio in, audio out: read, reconstructed and written piece by piece.
                    partials = [(_io.partial_path(out), out) for out in outputs]
                    metrics = convert_long_audio(converter, planned.path, outputs, args.sample_format)
                else:
                    result = converter.convert(planned.path, want_audio)
                    metrics = result.metrics
                    _print_notes(converter, args)
                    if result.batched:  # a batch of a model's outputs: one output per item, named by index
                        items = range(result.mel.shape[0])
                        outputs = [_item_path(out, index) for out in planned.outputs for index in items]
                    for out in outputs:
                        item = result.item(_item_index(out)) if result.batched else result
                        partials.append((_io.write_partial(out, _encoder(out, item, preset, args.sample_format)), out))
                    if args.plot and not result.batched:
                        plot_path = args.plot if n_inputs == 1 else os.path.join(
                            args.plot, os.path.splitext(os.path.basename(outputs[0]))[0] + ".png")
                        partials.append((_io.write_partial(plot_path, _plotter(planned.path, result, preset, args)),
                                         plot_path))
                        outputs.append(plot_path)
                record = dict(input=planned.path, outputs=outputs, status="ok", error=None,
                              seconds=round(time.perf_counter() - started, 4), metrics=metrics, shard=shard.label)
                if manifest is not None:
                    manifest.append(record)  # before the renames: every complete output has its record
                for partial, out in partials:
                    _io.commit(partial, out)
                if not args.quiet:
                    progress.write(f"{planned.path}: ok ({record['seconds']:.2f} s{_metrics_text(metrics)}) -> "
                                   f"{', '.join(outputs)}", file=sys.stderr)
            except (_io.InputError, ValueError, TypeError, RuntimeError, OSError, ImportError) as exc:
                for partial, _ in partials:
                    _io.discard(partial)
                failed += 1
                message = _io.reason(exc).splitlines()[0]
                if manifest is not None:
                    manifest.append(dict(input=planned.path, outputs=planned.outputs, status="error", error=message,
                                         seconds=round(time.perf_counter() - started, 4), metrics={}, shard=shard.label))
                progress.write(f"{planned.path}: error: {message}", file=sys.stderr)
            progress.update(1)
    return failed


def _long_audio_job(converter, path: str, outputs, args) -> bool:
    """Audio longer than one piece, to audio outputs only (a plot or a spectrogram output needs the
    whole spectrogram: those take the whole-file path)."""
    return (not args.plot and all(_io.suffix(o) in _batch.AUDIO_OUTPUTS for o in outputs)
            and is_long(path, converter.preset))


def _item_path(out: str, index: int) -> str:
    stem, ext = os.path.splitext(out)
    return f"{stem}_{index}{ext}"


def _item_index(out: str) -> int:
    return int(os.path.splitext(out)[0].rsplit("_", 1)[1])


def _print_notes(converter, args) -> None:
    """The converter's warnings on the arrays' scale, each once per run."""
    printed = getattr(converter, "notes_printed", 0)
    for note in converter.convention_notes[printed:]:
        print(f"{PROG}: warning: {note}", file=sys.stderr)
    converter.notes_printed = len(converter.convention_notes)


def _plotter(path: str, result, preset, args):
    from .plot import plot_inversion

    title = f"{os.path.basename(path)}: preset {preset.name}, solver {args.solver}{_metrics_text(result.metrics)}"
    return lambda f: plot_inversion(f, preset, result.mel, result.estimate, result.original, title=title)


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
