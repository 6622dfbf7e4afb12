"""The plumbing of a run over many files: which files, this process's share of them, what each
input writes, what a rerun may skip, and the manifest.

Scale-out uses what launchers already provide: under ``torchrun`` every process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; ``--shard I/N`` does the same for schedulers without torchrun
(SLURM array jobs). Shard ``I`` of ``N`` takes every ``N``-th file of the sorted list from ``I``: each
file is converted exactly once, by a process that needs to talk to no other.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

from . import _io

ARRAY_OUTPUTS = (".npy", ".pt")
AUDIO_OUTPUTS = tuple(_io.AUDIO_OUTPUTS)
OUTPUT_KINDS = tuple(k.lstrip(".") for k in AUDIO_OUTPUTS + ARRAY_OUTPUTS)


class Shard(NamedTuple):
    index: int
    count: int
    local_rank: int  # the process's GPU on its node

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, items: List) -> List:
        return items[self.index::self.count]


def shard_from(option: Optional[str], environ: Mapping[str, str]) -> Shard:
    """``--shard I/N`` if given, else torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, else the
    whole list. Raises ``ValueError`` with the fix on a malformed value."""
    if option is not None:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", option)
        if not match or not int(match.group(2)) > int(match.group(1)) >= 0:
            raise ValueError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4 or $SLURM_ARRAY_TASK_ID/4), found {option!r}")
        return Shard(int(match.group(1)), int(match.group(2)), int(environ.get("LOCAL_RANK", 0) or 0))
    try:
        rank = int(environ.get("RANK", 0))
        world = int(environ.get("WORLD_SIZE", 1))
        local_rank = int(environ.get("LOCAL_RANK", 0))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if not world > rank >= 0:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} need 0 <= RANK < WORLD_SIZE")
    return Shard(rank, world, local_rank)


# -- inputs ----------------------------------------------------------------------------------------
def discover(paths: List[str]) -> List[str]:
    """The inputs, sorted: files as given (a bad one is reported when it is converted), and in each
    folder every mel array (.npy, .npz, .pt), every file libsndfile reads as audio whatever its
    name, and every file named as audio (.wav, .flac, .oga, .opus, ...; an unreadable one is
    reported when converted). Hidden files (and partial outputs) are skipped."""
    files = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if name.startswith(".") or not os.path.isfile(full):
                continue
            # An audio name that libsndfile cannot read is picked up too: reported, not silently skipped.
            if _io.is_array_file(full) or _io.suffix(name) in _io.AUDIO_NAME_SUFFIXES or _io.is_audio_file(full):
                found.append(full)
        if not found:
            raise _io.InputError(f"{path}: the folder holds no mel arrays (.npy, .npz, .pt) and no audio files")
        files.extend(found)
    return sorted(dict.fromkeys(files))  # a file named twice is converted once


def stems(files: List[str]) -> List[str]:
    """Output names per input: the file's stem, or stem_ext where two inputs share a stem. Computed
    over the whole list, so every shard names its outputs as a single process would."""
    bases = [os.path.splitext(os.path.basename(f))[0] for f in files]
    counts = Counter(bases)  # not bases.count per file: quadratic in a folder of a million files
    return [b if counts[b] == 1 else f"{b}_{_io.suffix(f).lstrip('.') or 'noext'}" for b, f in zip(bases, files)]


# -- the manifest ----------------------------------------------------------------------------------
def manifest_path(output_folder: str, shard: Shard) -> str:
    name = "manifest.jsonl" if shard.count == 1 else f"manifest.shard-{shard.index:05d}-of-{shard.count:05d}.jsonl"
    return os.path.join(output_folder, name)


class Manifest:
    """JSON Lines, one record per input of this shard: input, outputs, status ("ok" or "error"),
    error, seconds, metrics, shard. A record is appended (and flushed to disk) before the input's
    outputs are renamed into place, so every complete output has its record; on a rerun only the
    records of inputs it skips are kept (failures, incomplete and overwritten inputs get new ones)."""

    def __init__(self, path: str):
        self.path = path
        self.records: Dict[str, dict] = {}

    def load_complete(self, complete_inputs: Set[str]) -> "Manifest":
        """Keep the earlier run's "ok" records of ``complete_inputs`` (those this run skips) whose
        outputs all exist; rewrite the file to hold just those."""
        if os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a kill
                    if (record.get("input") in complete_inputs and record.get("status") == "ok"
                            and all(os.path.exists(o) for o in record.get("outputs", []))):
                        self.records[record["input"]] = record
        _io.commit(_io.write_partial(self.path, self._encode_all), self.path)
        return self

    def _encode_all(self, f) -> None:
        for record in self.records.values():
            f.write((json.dumps(record) + "\n").encode())

    def append(self, record: dict) -> None:
        self.records[record["input"]] = record
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


class Plan(NamedTuple):
    path: str
    outputs: List[str]


def plan(files: List[str], output: str, kinds: List[str], single: bool) -> List[Plan]:
    if single:
        return [Plan(files[0], [output])]
    return [Plan(f, [os.path.join(output, f"{stem}.{kind}") for kind in kinds]) for f, stem in zip(files, stems(files))]


def split_done(plans: List[Plan], overwrite: bool) -> Tuple[List[Plan], List[Plan]]:
    """(to convert, already complete): an input is complete when all its outputs exist (they appear
    only when complete). ``overwrite`` converts everything."""
    if overwrite:
        return plans, []
    complete = [all(os.path.exists(o) for o in p.outputs) for p in plans]
    return [p for p, c in zip(plans, complete) if not c], [p for p, c in zip(plans, complete) if c]
