"""The ``resultat`` command tree and what every command shares.

Owns: the typer apps (root, ``registry``, ``new``), the global options and their state, the
group class that lets a global option stand before or after the command, opening the
:class:`~pipeline.app.App`, printing a catalogue text, and turning :class:`ResultatError`
into a message and an exit code. The commands live in the sibling modules; the parser's own
errors and the help texts are rendered by :mod:`pipeline.cli.parser_texts`.

Heavy imports happen inside the commands (lazy, kept for start-up time: ``resultat --help``
and every command pay only for what they use).
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import typer
from typer.core import TyperGroup

from pipeline import texts
from pipeline.cli import parser_texts
from pipeline.cli.coercion import use_plain_values
from pipeline.errors import ResultatError
from pipeline.settings import interface_language, workspace_root

if TYPE_CHECKING:
    from pipeline.app import App

F = TypeVar("F", bound=Callable[..., Any])

GLOBAL_OPTIONS: Final = ("workspace", "as_user", "verbose")


class State:
    workspace: Path | None = None
    actor: str | None = None
    verbose: bool = False


state = State()


def _set_global(ctx: Any, param: Any, value: Any) -> Any:
    """A global option given after the command: it wins over the same option before it."""
    if param.name == "workspace" and value is not None:
        state.workspace = value
    elif param.name == "as_user" and value is not None:
        state.actor = value
    elif param.name == "verbose" and value:
        state.verbose = True
    return value


class _HelpOnly:
    """A command's ``--help`` flag seen as the only parameter (:func:`use_plain_values`)."""

    def __init__(self, option: Any) -> None:
        self.params = [option]


class ResultatGroup(TyperGroup):
    """A command group whose commands also take the root's global options.

    ``resultat -w WS demo`` and ``resultat demo -w WS`` both work: every subcommand gets a
    copy of the root's ``--workspace``, ``--as`` and ``--verbose`` that sets the same state.
    ``main`` renders the parser's own errors and the help in the person's language.
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            return None
        root = ctx.find_root().command
        present = {p.name for p in command.params}
        for param in root.params:
            if param.name in GLOBAL_OPTIONS and param.name not in present:
                added = copy.copy(param)
                added.expose_value = False
                added.callback = _set_global
                command.params.append(added)
        use_plain_values(command, ctx)
        return command

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            use_plain_values(_HelpOnly(option))
        return option

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        use_plain_values(self)
        language = interface_language(workspace_root(parser_texts.workspace_in(argv)))
        if parser_texts.wants_help(self, argv):
            parser_texts.translate_help(self, language)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except ResultatError as exc:  # raised outside a command (e.g. in the callback)
            typer.echo(texts.t("cli.error", language, message=exc.render(language)), err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:
            message = parser_texts.parser_error(exc, language)
            if message is None:
                raise
            if message:
                typer.echo(message, err=True)
            sys.exit(getattr(exc, "exit_code", 1))  # Abort has none: 1, as click gives it
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=ResultatGroup,
    help="cli.help.app",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
registry_app = typer.Typer(cls=ResultatGroup, help="cli.help.registry", no_args_is_help=True)
new_app = typer.Typer(cls=ResultatGroup, help="cli.help.new", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(new_app, name="new")


@app.callback()
def main_options(
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="cli.help.opt-workspace")
    ] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="cli.help.opt-as")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="cli.help.opt-verbose")] = False,
) -> None:
    state.workspace = workspace
    state.actor = as_user
    state.verbose = verbose


def root() -> Path:
    return workspace_root(state.workspace)


def language() -> str:
    """The language of this run's messages (see :func:`pipeline.settings.interface_language`)."""
    return interface_language(root())


def say(key: str, *, err: bool = False, **params: Any) -> None:
    """Print the catalogue text ``cli.<key>`` in this run's language."""
    typer.echo(texts.t(f"cli.{key}", language(), **params), err=err)


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ResultatError as exc:
            lang = language()
            typer.echo(texts.t("cli.error", lang, message=exc.render(lang)), err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def open_app(*, admin: bool = False, person: bool = False) -> App:
    """The workspace, with the acting person: the OS login mapped through the staff directory
    (:mod:`pipeline.people.acting`). ``--as`` needs ``admin`` (audited as "A acting as B");
    ``person`` refuses a login that is not in the directory (commands a person runs)."""
    # Lazy imports, kept for start-up time (the database layer is the heaviest).
    from pipeline import logs
    from pipeline.app import App
    from pipeline.audit import current_user
    from pipeline.errors import NotFound
    from pipeline.people import acting, directory

    application = App.open(root(), actor=current_user(), admin=admin)
    logs.configure(application.settings.var / "log", verbose=state.verbose)
    try:
        if state.actor is None:
            with application.db.read_session() as session:
                me = directory.by_login(session, application.actor)
            if me is None:
                if person and not admin:
                    raise NotFound.text("people.login-unknown", login=application.actor)
                return application  # an administrator's command: the login is the actor
        elif not person and admin:
            # An administrator's command on behalf of a name (a service account, a script):
            # allowed in administration mode only, and the audit log says who did it.
            application.actor = f"{application.actor} acting as {state.actor}"
            application.username = state.actor
            return application
        who = acting.resolve(application.db, application.actor, as_user=state.actor, admin=admin)
    except BaseException:
        application.close()
        raise
    application.actor = who.audit_name
    application.username = who.username
    return application


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def main() -> None:
    app()
