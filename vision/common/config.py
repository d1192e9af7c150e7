"""Typed configs from YAML: dataclasses with strict keys.

``load_config(path, MyConfig)`` reads a YAML mapping into ``MyConfig`` (nested dataclasses, lists,
tuples, Optional and Literal fields are supported). An unknown key, a missing required key or a value
of the wrong type is a :class:`~vision.common.errors.UserError` naming the key and the file. Every run
saves its resolved config beside its outputs with :func:`save_config`.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from vision.common.atomic import write_text_atomic
from vision.common.errors import UserError, require_file

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str, source: str) -> Any:
    """Convert a YAML value to type ``tp``; ``where`` is the dotted key used in error messages."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where, source)
            except UserError as err:
                errors.append(err)
        raise errors[0] if errors else UserError(f"key '{where}' must not be null", source)
    if origin is typing.Literal:
        if value not in get_args(tp):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise UserError(f"key '{where}' is {value!r}; expected one of {allowed}", source)
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise UserError(f"key '{where}' must be a mapping", source)
        return _build_dataclass(value, tp, where, source)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise UserError(f"key '{where}' must be a list", source)
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise UserError(f"key '{where}' must have {len(args)} items, got {len(value)}", source)
            return tuple(_convert(v, a, f"{where}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{where}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserError(f"key '{where}' must be a mapping", source)
        args = get_args(tp)
        val_tp = args[1] if args else Any
        return {k: _convert(v, val_tp, f"{where}.{k}", source) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"key '{where}' must be a number, got {value!r}", source)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"key '{where}' must be an integer, got {value!r}", source)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"key '{where}' must be true or false, got {value!r}", source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"key '{where}' must be a string, got {value!r}", source)
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise UserError(f"key '{where}' must be a path string, got {value!r}", source)
        return Path(value)
    raise UserError(f"key '{where}' has unsupported type {_type_name(tp)}", source)


def _build_dataclass(data: dict[str, Any], cls: type[T], prefix: str, source: str) -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            where = f"{prefix}.{key}" if prefix else str(key)
            known = ", ".join(sorted(fields))
            raise UserError(f"unknown key '{where}' (known keys: {known})", source)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        where = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], where, source)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UserError(f"missing required key '{where}'", source)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:  # __post_init__ validation
        raise UserError(f"invalid config: {err}", source) from err


def config_from_dict(data: dict[str, Any], cls: type[T], source: str = "<config>") -> T:
    """Build dataclass ``cls`` from a plain dict with the same strict rules as :func:`load_config`."""
    if not isinstance(data, dict):
        raise UserError("config must be a mapping at the top level", source)
    return _build_dataclass(data, cls, "", source)


def load_config(path: str | os.PathLike[str], cls: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Load YAML file ``path`` into dataclass ``cls``.

    Args:
        path: YAML file whose top level is a mapping.
        cls: the dataclass type.
        overrides: dotted keys (``"train.steps"``) replacing values from the file, e.g. from CLI flags.
    """
    p = require_file(path, "config file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"not valid YAML: {str(err).splitlines()[0]}", p) from err
    if not isinstance(data, dict):
        raise UserError("config must be a mapping at the top level", p)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _build_dataclass(data, cls, "", str(p))


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain YAML-safe data (Paths become strings, tuples lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(cfg)


def save_config(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config ``cfg`` (a dataclass) as YAML, atomically."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    return write_text_atomic(path, text)
