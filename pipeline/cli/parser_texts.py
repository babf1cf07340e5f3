"""The command-line parser's own words in the person's language.

Owns: rendering typer/click's usage errors ("No such option", "Missing argument", ...)
through the catalogue (keys ``cli.parser.*``), translating the help texts of the command
tree (which are catalogue keys ``cli.help.*`` in the code) just before help is shown, and
finding ``--workspace`` in raw arguments before they are parsed (the language is that
workspace's). Leaves to :mod:`pipeline.cli.core` when to call these.

The parser's exceptions are recognised by class name, not imported: typer ≥ 0.26 vendors
click as a private module, older typer uses click itself, and the names are the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from pipeline import texts

WORKSPACE_FLAGS: Final = ("-w", "--workspace")
VALUE_FLAGS: Final = ("-w", "--workspace", "--as")
HELP_FLAG: Final = "--help"
HELP_KEY_PREFIX: Final = "cli.help."
# typer's help headings (module constants of typer.rich_utils) and their catalogue keys.
RICH_HEADINGS: Final = {
    "ARGUMENTS_PANEL_TITLE": "cli.parser.heading-arguments",
    "OPTIONS_PANEL_TITLE": "cli.parser.heading-options",
    "COMMANDS_PANEL_TITLE": "cli.parser.heading-commands",
    "ERRORS_PANEL_TITLE": "cli.parser.heading-error",
    "DEFAULT_STRING": "cli.parser.default",
    "REQUIRED_LONG_STRING": "cli.parser.required",
}

_NO_SUCH_COMMAND: Final = re.compile(r"No such command '(?P<name>.*)'")
_EXTRA: Final = re.compile(r"unexpected extra argument(s|\(s\))? \((?P<args>.*)\)")
_NOT_INTEGER: Final = re.compile(
    r"valid int"
)  # click: "is not a valid integer", typer 0.29: "should be a valid integer"
_NOT_EXISTING: Final = re.compile(r"'(?P<path>.*)' does not exist")


def workspace_in(argv: Sequence[str]) -> Path | None:
    """The last ``-w``/``--workspace`` value in raw arguments (before ``--``), if any."""
    found: str | None = None
    tokens = list(argv)
    for i, token in enumerate(tokens):
        if token == "--":
            break
        if token in WORKSPACE_FLAGS and i + 1 < len(tokens):
            found = tokens[i + 1]
        elif token.startswith("--workspace="):
            found = token.split("=", 1)[1]
        elif token.startswith("-w") and len(token) > 2 and not token.startswith("--"):
            found = token[2:]
    return Path(found) if found else None


def wants_help(group: Any, argv: Sequence[str]) -> bool:
    """True when these arguments end in help: ``--help``, or no command below a group."""
    if HELP_FLAG in argv:
        return True
    command = group
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in VALUE_FLAGS:
            skip = True
            continue
        if token.startswith("-"):
            continue
        command = getattr(command, "commands", {}).get(token)
        if command is None or not hasattr(command, "commands"):
            return False
    return True


def _tree(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _tree(sub)


def _translated(value: Any, lang: str) -> Any:
    if isinstance(value, str) and value.startswith(HELP_KEY_PREFIX) and texts.has(value, lang):
        return texts.t(value, lang)
    return value


def translate_help(group: Any, lang: str) -> None:
    """Replace every help key in the command tree (and typer's headings) by its text."""
    for command in _tree(group):
        for attr in ("help", "short_help", "epilog"):
            setattr(command, attr, _translated(getattr(command, attr, None), lang))
        for param in command.params:
            if hasattr(param, "help"):
                param.help = _translated(param.help, lang)
        # The --help option is made on demand and kept by the command (typer >= 0.26); made
        # here once, it is the one the help then shows.
        help_option = command.get_help_option(command.context_class(command))
        if help_option is not None:
            help_option.help = texts.t("cli.parser.help-option", lang)
    try:
        from typer import rich_utils  # lazy: only when help is shown, and rich may be absent
    except ImportError:
        return
    for name, key in RICH_HEADINGS.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, texts.t(key, lang))


def _kinds(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _hint(exc: Any) -> str:
    param = getattr(exc, "param", None)
    if param is None:
        hint = getattr(exc, "param_hint", None) or ""
        return hint if isinstance(hint, str) else " / ".join(hint)
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "option" and opts:
        return " / ".join(opts)
    return str(getattr(param, "human_readable_name", None) or param.name).upper()


def _message(exc: Any, kinds: set[str], lang: str) -> str:
    def t(key: str, **params: Any) -> str:
        return texts.t(f"cli.parser.{key}", lang, **params)

    detail = str(getattr(exc, "message", "") or exc)
    if "NoSuchOption" in kinds:
        possible = sorted(getattr(exc, "possibilities", None) or ())
        if possible:
            return t(
                "no-such-option-possible", option=exc.option_name, possible=", ".join(possible)
            )
        return t("no-such-option", option=exc.option_name)
    if "MissingParameter" in kinds:
        param = getattr(exc, "param", None)
        if getattr(param, "param_type_name", "") == "option":
            return t("missing-option", name=_hint(exc))
        return t("missing-argument", name=_hint(exc))
    if "BadOptionUsage" in kinds and "requires an argument" in detail:
        return t("option-needs-value", option=exc.option_name)
    if "BadParameter" in kinds:
        if _NOT_INTEGER.search(detail):
            return t("not-an-integer", name=_hint(exc))
        if match := _NOT_EXISTING.search(detail):
            return t("path-missing", name=_hint(exc), path=match["path"])
        return t("bad-value", name=_hint(exc), detail=detail)
    if match := _NO_SUCH_COMMAND.search(detail):
        return t("no-such-command", command=match["name"])
    if match := _EXTRA.search(detail):
        return t("extra-arguments", arguments=match["args"])
    if "Missing command" in detail:
        return t("missing-command")
    return t("usage-error", detail=detail)


def parser_error(exc: BaseException, lang: str) -> str | None:
    """The text for a parser exception in ``lang``; None if ``exc`` is not the parser's."""
    kinds = _kinds(exc)
    if "NoArgsIsHelpError" in kinds:
        return exc.format_message() if hasattr(exc, "format_message") else ""
    if "Abort" in kinds:
        return texts.t("cli.parser.aborted", lang)
    if "ClickException" not in kinds:
        return None
    message = texts.t("cli.parser.error", lang, message=_message(exc, kinds, lang))
    ctx = getattr(exc, "ctx", None)
    if ctx is None or "UsageError" not in kinds:
        return message
    pieces = " ".join(ctx.command.collect_usage_pieces(ctx))
    usage = texts.t("cli.parser.usage", lang, command=ctx.command_path, arguments=pieces)
    hint = texts.t("cli.parser.try-help", lang, command=ctx.command_path)
    return f"{usage}\n{hint}\n\n{message}"
