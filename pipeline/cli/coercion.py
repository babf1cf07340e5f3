"""Plain option values without pydantic: start-up time of every command (issue 19, item 7).

typer 0.29 converts every option and argument that is not a flag through a pydantic
``TypeAdapter``, built the first time the parameter is read, even when its value is ``None``:
importing pydantic and building the adapters is about 50 ms of every ``resultat`` command.
:func:`use_plain_values` gives the parameters whose type is ``str``, ``int``, ``bool`` or
``Path`` (also ``X | None``) a conversion of their own for the values that need nothing more
— text as given, a path from its text, digits as an integer, a flag's bool — and leaves
everything else (a value it does not recognise, a range, a choice, a path with checks, a
list) to typer's own conversion, so a wrong value gets typer's message exactly as before.

This leans on typer's internals (``typer._coercion.RuntimeParam`` and the parameter's
``_runtime_param``), hence the pinned typer range in ``pyproject.toml``; when they are not
there, nothing is changed and typer converts as usual.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # a typer without these internals: its own conversion throughout
    RuntimeParam = None  # type: ignore[assignment,misc]

_INTEGER: Final = re.compile(r"-?[0-9]+")
_PLAIN_TYPES: Final = (str, int, bool, Path)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class PlainValue(RuntimeParam):
        """Text, a path or digits converted directly; anything else by typer (pydantic)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = self.annotation
            if isinstance(value, str):
                if kind is str:
                    return value
                if kind is Path and value:
                    # typer's checks of a plain path: only that one that exists is readable
                    path = Path(value)
                    if not path.exists() or (os.access(path, os.R_OK) and not writable(param)):
                        return path
                if kind is int and _INTEGER.fullmatch(value):
                    return int(value)
            elif type(value) is kind:
                return value
            typed = build_runtime_param(param.type_descriptor)
            return typed._coerce_value(value, param=param, ctx=ctx)


def writable(param: Any) -> bool:
    return bool(param.type_descriptor.parameter_info.writable)


def _plain(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", True) is not None:
        return False
    info = descriptor.parameter_info
    if descriptor.annotation not in _PLAIN_TYPES or descriptor.is_file or descriptor.is_ranged:
        return False
    if descriptor.is_choice or getattr(info, "parser", None) is not None:
        return False
    if param.multiple or param.nargs != 1:
        return False
    if descriptor.annotation is Path:
        checks = (info.exists, info.resolve_path, info.allow_dash, info.path_type)
        return not any(checks) and bool(info.file_okay) and bool(info.dir_okay)
    return True


def use_plain_values(command: Any, ctx: Any = None) -> None:
    """Give ``command``'s plain parameters (see the module's doc) the direct conversion; with
    ``ctx``, also its ``--help`` flag (made once per command, when first asked for)."""
    if RuntimeParam is None:
        return
    params = list(command.params)
    if ctx is not None:
        params.append(command.get_help_option(ctx))
    for param in params:
        if param is not None and _plain(param):
            param._runtime_param = PlainValue(
                parameter_info=param.type_descriptor.parameter_info,
                annotation=param.type_descriptor.annotation,
            )
