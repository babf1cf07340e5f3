"""The one door to people-facing text: ``t(key, lang, **params)``.

Every string a person reads — workbook labels, receipts, problem messages, mails, SMS, PDF
labels, CLI messages and the command-line parser's own errors — comes from the YAML
catalogue in ``templates/``: every ``templates/texts/*.<lang>.yaml`` file plus the problem
catalogues ``templates/messages*.<lang>.yaml``, merged into one tree per language. Keys are
dotted paths into that tree (``problems.unreadable-file``, ``cli.not-found``). A workspace's
own copy of a catalogue file overrides the shipped one (:mod:`pipeline.resources`).

Owns: finding the catalogue files, merging them, looking up a key and filling its
placeholders (``str.format`` fields). Leaves to callers: which language a person reads
(their registry setting, else ``[language] default``).

Mail, SMS and receipt *layouts* stay Jinja2 templates in ``templates/``; their words come
from here where they are shared.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from pipeline import resources

LANGUAGES: Final = ("sv", "en")
DEFAULT_LANGUAGE: Final = "sv"


class Key(str):
    """A catalogue key (with its own parameters) passed as a parameter: filled in as its
    text in the same language as the text it is part of."""

    params: dict[str, Any]

    def __new__(cls, key: str, **params: Any) -> Key:
        made = super().__new__(cls, key)
        made.params = params
        return made


class MissingText(KeyError):
    """A key that is not in the catalogue of a language: a defect of ours, not of the input."""


def _catalogue_files(lang: str, workspace: Path | None) -> list[tuple[str, float]]:
    """Every catalogue file of ``lang`` as (path, mtime), shipped ones overridden by name."""
    suffix = f".{lang}.yaml"
    found: dict[str, tuple[str, float]] = {}
    roots = [resources.default_dir("templates")]
    if workspace is not None:
        roots.append(Path(workspace) / "templates")
    for root in roots:
        for sub in ("", "texts"):
            folder = os.path.join(root, sub)
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if not name.endswith(suffix):
                    continue
                if sub == "" and not name.startswith("messages"):
                    continue
                path = os.path.join(folder, name)
                try:
                    found[os.path.join(sub, name)] = (path, os.stat(path).st_mtime)
                except OSError:
                    continue
    return [found[key] for key in sorted(found)]


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@lru_cache(maxsize=16)
def _tree(files: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, mtime in files:
        data = resources._load_yaml_cached(path, mtime)
        if isinstance(data, dict):
            # A copy: merging into the tree must never change another file's cached YAML
            # (two catalogues with the same top-level key shared one dict before).
            _merge(tree, copy.deepcopy(data))
    return tree


def catalogue(lang: str, workspace: Path | None = None) -> dict[str, Any]:
    """The merged catalogue tree of ``lang`` (cached per set of files and their mtimes)."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    return _tree(tuple(_catalogue_files(lang, workspace)))


def has(key: str, lang: str = DEFAULT_LANGUAGE, workspace: Path | None = None) -> bool:
    node: Any = catalogue(lang, workspace)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, str)


def t(key: str, lang: str = DEFAULT_LANGUAGE, workspace: Path | None = None, **params: Any) -> str:
    """The text of ``key`` in ``lang`` with ``params`` filled in.

    A missing key raises :class:`MissingText` (a test checks both languages hold every key);
    a placeholder without a value is left as written, so a text never fails for want of one.
    A parameter that is a :class:`Key` is filled in as its own text in ``lang``.
    """
    node: Any = catalogue(lang, workspace)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MissingText(f"{key} ({lang})")
        node = node[part]
    if not isinstance(node, str):
        raise MissingText(f"{key} ({lang}) is not a text")
    if not params and "{" not in node:
        return node
    filled = {
        name: t(value, lang, workspace, **value.params) if isinstance(value, Key) else value
        for name, value in params.items()
    }
    return node.format_map(_Params(filled))


def keys(lang: str, workspace: Path | None = None) -> set[str]:
    """Every dotted key of ``lang`` whose value is a text."""
    out: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, f"{prefix}{name}.")
        elif isinstance(node, str):
            out.add(prefix[:-1])

    walk(catalogue(lang, workspace), "")
    return out


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
