"""Finding the data files that shape the system: ``schemas/`` and ``templates/``.

A workspace's own copy of a file wins; otherwise the default that ships with the package
(inside the wheel under ``pipeline/_defaults``, or the repository's folders in a checkout).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_dir(kind: str) -> Path:
    """The shipped default folder for ``kind`` (``schemas`` or ``templates``)."""
    bundled = _PACKAGE_DIR / "_defaults" / kind
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / kind


def find(kind: str, name: str, workspace: Path | None = None) -> Path:
    """Path of ``kind/name``, preferring the workspace's own copy."""
    if workspace is not None:
        own = workspace / kind / name
        if own.is_file():
            return own
    path = default_dir(kind) / name
    if not path.is_file():
        raise FileNotFoundError(f"{kind}/{name} not found in the workspace or the package")
    return path


@lru_cache(maxsize=64)
def _load_yaml_cached(path: str, mtime: float) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml(kind: str, name: str, workspace: Path | None = None) -> Any:
    """Parsed YAML of ``kind/name`` (cached per file and modification time)."""
    path = find(kind, name, workspace)
    return _load_yaml_cached(str(path), path.stat().st_mtime)


def read_text(kind: str, name: str, workspace: Path | None = None) -> str:
    return find(kind, name, workspace).read_text(encoding="utf-8")
