"""User-defined presets in files: a flat JSON object or TOML table of :class:`Preset` fields, read by
``Preset.from_file`` (and ``inverse-mel --preset path.json``) and written by ``Preset.to_file``.

Reading checks every key (unknown keys, wrong types) before ``Preset``'s own validation checks the
values. TOML is read with the standard library's ``tomllib`` and written by hand (the dataclass is
flat: strings, numbers, booleans); TOML has no null, so ``None`` fields are left out when written
and take their default (``None``) when read.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from typing import Any, Dict

SUFFIXES = (".json", ".toml")


class PresetFileError(ValueError):
    """A preset file that cannot be read as a Preset: the message names the file, the key and the fix."""


def _kinds(preset_cls) -> Dict[str, tuple]:
    """field name -> (python type, may be None) from the dataclass annotations."""
    hints = typing.get_type_hints(preset_cls)
    kinds = {}
    for field in dataclasses.fields(preset_cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        kinds[field.name] = (base, optional)
    return kinds


def _checked(path: str, key: str, value: Any, kind: type, optional: bool):
    where = f"preset file {path}: {key}"
    if value is None:
        if optional:
            return None
        raise PresetFileError(f"{where} must be a {kind.__name__}, found null")
    if kind is bool:
        if not isinstance(value, bool):
            raise PresetFileError(f"{where} must be true or false, found {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PresetFileError(f"{where} must be an integer, found {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PresetFileError(f"{where} must be a number, found {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise PresetFileError(f"{where} must be a string, found {value!r}")
        return value
    raise PresetFileError(f"{where}: unsupported field type {kind!r}")  # pragma: no cover - the dataclass is flat


def read(preset_cls, path: str):
    """A validated Preset from a .json or .toml file."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise PresetFileError(f"preset file {path}: name it .json or .toml, found {suffix or 'no suffix'}")
    try:
        if suffix == ".json":
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        else:
            import tomllib

            with open(path, "rb") as f:
                data = tomllib.load(f)
    except OSError as exc:
        raise PresetFileError(f"preset file {path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        first_line = str(exc).splitlines()[0]
        raise PresetFileError(f"preset file {path}: not valid {suffix[1:].upper()}: {first_line}") from None
    if not isinstance(data, dict):
        raise PresetFileError(f"preset file {path}: expected an object of Preset fields, found {type(data).__name__}")
    kinds = _kinds(preset_cls)
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise PresetFileError(f"preset file {path}: unknown key(s) {unknown}; the Preset fields are {sorted(kinds)}")
    missing = sorted(f.name for f in dataclasses.fields(preset_cls)
                     if f.default is dataclasses.MISSING and f.name not in data)
    if missing:
        raise PresetFileError(f"preset file {path}: missing required key(s) {missing}")
    values = {key: _checked(path, key, value, *kinds[key]) for key, value in data.items()}
    try:
        return preset_cls(**values)
    except ValueError as exc:
        raise PresetFileError(f"preset file {path}: {exc}") from None


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):  # pragma: no cover - Preset rejects these
            raise ValueError(f"cannot write {value!r} to TOML")
        return repr(value)  # always has a '.' or an exponent: a TOML float
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def write(preset, path: str) -> None:
    """``preset`` as a .json or .toml file that :func:`read` reads back to an equal Preset."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise PresetFileError(f"preset file {path}: name it .json or .toml, found {suffix or 'no suffix'}")
    fields = dataclasses.asdict(preset)
    if suffix == ".json":
        text = json.dumps(fields, indent=1) + "\n"
    else:
        text = "".join(f"{key} = {_toml_value(value)}\n" for key, value in fields.items() if value is not None)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
