"""Finding the data files that shape the system: ``schemas/`` and ``templates/``.

A workspace's own copy of a file wins; otherwise the default that ships with the package
(inside the wheel under ``pipeline/_defaults``, or the repository's folders in a checkout).
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=8)
def default_dir(kind: str) -> Path:
    """The shipped default folder for ``kind`` (``schemas`` or ``templates``)."""
    bundled = _PACKAGE_DIR / "_defaults" / kind
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / kind


def _regular_mtime(path: str) -> float | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime if stat.S_ISREG(info.st_mode) else None


def locate(kind: str, name: str, workspace: Path | None = None) -> tuple[str, float]:
    """Path and modification time of ``kind/name`` (one or two ``stat`` calls: this runs
    several times for every file the inbox takes)."""
    if workspace is not None:
        own = os.path.join(workspace, kind, name)
        mtime = _regular_mtime(own)
        if mtime is not None:
            return own, mtime
    path = os.path.join(default_dir(kind), name)
    mtime = _regular_mtime(path)
    if mtime is None:
        raise FileNotFoundError(f"{kind}/{name} not found in the workspace or the package")
    return path, mtime


def find(kind: str, name: str, workspace: Path | None = None) -> Path:
    """Path of ``kind/name``, preferring the workspace's own copy."""
    return Path(locate(kind, name, workspace)[0])


_SAFE_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=64)
def _load_yaml_cached(path: str, mtime: float) -> Any:
    with open(path, encoding="utf-8") as fh:
        # libyaml's parser when PyYAML has it (the same safe constructor, so the same values):
        # the pure-Python one took most of `resultat --help` parsing the text catalogue.
        return yaml.load(fh, Loader=_SAFE_LOADER)


def load_yaml(kind: str, name: str, workspace: Path | None = None) -> Any:
    """Parsed YAML of ``kind/name`` (cached per file and modification time)."""
    return _load_yaml_cached(*locate(kind, name, workspace))


def read_text(kind: str, name: str, workspace: Path | None = None) -> str:
    return find(kind, name, workspace).read_text(encoding="utf-8")
