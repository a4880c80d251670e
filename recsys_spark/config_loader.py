"""Generic YAML -> frozen dataclass loading with layered sources and precise error messages.

Sources are merged in order (base file, environment file, ``--set`` overrides); every leaf key
remembers which source set it, so an error names the key *and* the file it came from.
Validation is driven by the dataclasses' type hints: nested dataclasses, ``int``, ``float``,
``str``, ``bool``, ``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]`` and
``dict[str, X]``. Unknown keys, wrong types and missing required keys are errors.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from recsys_spark.errors import ConfigError

T = TypeVar("T")

# Maps a dotted key ("spark.shuffle_partitions") to the source that set it.
Provenance = dict[str, str]


class FrozenMap(dict):
    """A read-only dict: frozen configs stay immutable, yet pickle (Spark ships closures)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config mappings are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Read one YAML mapping. Raises ConfigError when missing, unparsable or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def merge_layer(base: dict[str, Any], layer: Mapping[str, Any], source: str,
                provenance: Provenance, prefix: str = "") -> dict[str, Any]:
    """Deep-merge ``layer`` over ``base`` (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_layer(merged[key], value, source, provenance, dotted + ".")
        else:
            merged[key] = value
            _record(value, dotted, source, provenance)
    return merged


def _record(value: Any, dotted: str, source: str, provenance: Provenance) -> None:
    provenance[dotted] = source
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _record(sub, f"{dotted}.{key}", source, provenance)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``key.path=value`` override; the value is read as a YAML scalar/list."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def nest(path: list[str], value: Any) -> dict[str, Any]:
    """Turn ["a", "b"], v into {"a": {"b": v}}."""
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return out


def build(cls: type[T], data: Mapping[str, Any], provenance: Provenance, prefix: str = "") -> T:
    """Validate ``data`` against dataclass ``cls`` and build it. Raises ConfigError."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            dotted = f"{prefix}{key}"
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"{_where(dotted, provenance)}: unknown key {dotted!r} "
                              f"(allowed here: {allowed})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        dotted = f"{prefix}{name}"
        if name in data:
            values[name] = _coerce(hints[name], data[name], dotted, provenance)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                values[name] = build(hints[name], {}, provenance, dotted + ".")
            else:
                raise ConfigError(f"{_where(prefix.rstrip('.') or dotted, provenance)}: "
                                  f"missing required key {dotted!r}")
    try:
        return cls(**values)
    except ValueError as exc:  # __post_init__ checks; messages start with "field: ..."
        field_name = str(exc).partition(":")[0].strip()
        where = _where(f"{prefix}{field_name}" if field_name in fields else prefix.rstrip("."),
                       provenance)
        raise ConfigError(f"{where}: {prefix}{exc}") from None


def _where(dotted: str, provenance: Provenance) -> str:
    probe = dotted
    while probe:
        if probe in provenance:
            return provenance[probe]
        probe = probe.rpartition(".")[0]
    # A section that only has defaults: name the first source that mentions anything inside it.
    for key, source in provenance.items():
        if key.startswith(dotted + "."):
            return source
    return "config"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, dotted: str, provenance: Provenance) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{_where(dotted, provenance)}: {dotted}: expected {expected}, "
                           f"got {value!r} ({type(value).__name__})")

    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        non_none = [opt for opt in options if opt is not type(None)]
        errors = []
        for opt in non_none:
            try:
                return _coerce(opt, value, dotted, provenance)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise fail(" or ".join(_type_name(o) for o in options))
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise fail("one of " + ", ".join(repr(c) for c in choices))
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        return build(tp, value, provenance, dotted + ".")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise fail("a list")
        item_tp = get_args(tp)[0]
        items = [_coerce(item_tp, v, f"{dotted}[{i}]", provenance) for i, v in enumerate(value)]
        return tuple(items)  # frozen configs hold tuples
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        key_tp, val_tp = get_args(tp)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise fail("a mapping with string keys")
            out[k] = _coerce(val_tp, v, f"{dotted}.{k}", provenance)
        return FrozenMap(out)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        # YAML reads an unquoted 2026-11-01 as a date; a str setting (e.g. a start date) means
        # its text, so `--set simulate.start_date=2026-11-01` works unquoted.
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if tp is Any:
        return value
    raise TypeError(f"config type {tp!r} at {dotted} is not supported by the loader")
