"""People act through their folders, mail and SMS: no text they read tells them to run a
``resultat`` command, to give a command-line option, or to use the shared ``inbox/``.

Every shipped template (mails and SMS in ``templates/mail/``, receipts, merge receipts, the
workbook layouts) and every catalogue text (``templates/messages*.yaml``,
``templates/texts/*.yaml``) is read as it is shipped, in both languages, every branch of a
Jinja2 template included. What only administrators read at the shell is listed below with
the reason; a new template or catalogue file is checked unless it is added there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import yaml

from pipeline import resources

TEMPLATES = resources.default_dir("templates")

#: Files only administrators read (at the shell): they may name commands and options.
ADMIN_FILES = {
    "texts/cli.sv.yaml": "the command line's own messages and help",
    "texts/cli.en.yaml": "the command line's own messages and help",
    "texts/demo.sv.yaml": "what `resultat demo` prints at the shell",
    "texts/demo.en.yaml": "what `resultat demo` prints at the shell",
    "mail/tampered.sv.txt": "goes to the administrators only ([contacts] maintainers)",
    "mail/tampered.en.txt": "goes to the administrators only ([contacts] maintainers)",
    "mail/admin_owner_mismatch.sv.txt": "goes to the administrators only ([contacts] maintainers)",
    "mail/admin_owner_mismatch.en.txt": "goes to the administrators only ([contacts] maintainers)",
}
#: Catalogue keys (a key or a prefix ending in ".") only administrators read.
ADMIN_KEYS = {
    "errors.admin-required": "administration mode is a command-line flag",
    "people.rule.reporter-self": "only the CLI names another reporter (--reporter)",
    "people.as-needs-admin": "--as is a command-line option",
    "errors.workspace.": "a broken workspace is the administrator's to mend",
    "cli.": "the command line's own messages and help, in whichever catalogue file",
}

COMMAND = re.compile(
    r"\bresultat (approve|reject|issue|resend-code|registered|signed|new|add-students|merge|"
    r"settings|process|dispatch|watch|init|import|demo|verify|archive|correct)\b"
)
#: The shared drop folder named bare: everyone has their own inbox folder now.
BARE_INBOX = re.compile(r"(?<![\w/])inbox/(?![<{\w])")
#: "the inbox" without saying whose.
SHARED_INBOX = re.compile(r"\b(i inkorgen|in the inbox|to the inbox)\b", re.IGNORECASE)
CLI_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
RULES = {
    "a resultat command": COMMAND,
    "the bare inbox/": BARE_INBOX,
    "the shared inbox": SHARED_INBOX,
    "a command-line option": CLI_OPTION,
}


def _template_files() -> list[str]:
    names = [
        *(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("*.txt")),
        *(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("*.yaml")),
        *(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("mail/*.txt")),
        *(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("texts/*.yaml")),
    ]
    return sorted(name for name in names if name not in ADMIN_FILES)


PEOPLE_FILES = _template_files()


def _admin_key(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in ADMIN_KEYS)


def _strings(node: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) for every string of a YAML tree, dotted keys."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{key}[{index}]")
    elif isinstance(node, str):
        yield key, node


def _yaml(name: str) -> Iterator[tuple[str, str]]:
    return _strings(yaml.safe_load((TEMPLATES / name).read_text(encoding="utf-8")))


def _texts(name: str) -> Iterator[tuple[str, str]]:
    """(where, text) for every text of a template file: the whole source of a Jinja2
    template, each string of a YAML file."""
    if name.endswith(".txt"):
        yield name, (TEMPLATES / name).read_text(encoding="utf-8")
    else:
        for key, text in _yaml(name):
            if not _admin_key(key):
                yield f"{name}: {key}", text


def test_every_people_facing_file_is_read_in_both_languages() -> None:
    mails = [name for name in PEOPLE_FILES if name.startswith("mail/")]
    assert len(mails) >= 20 and "receipt.sv.txt" in PEOPLE_FILES
    assert {"messages.en.yaml", "texts/intake.sv.yaml", "texts/lifecycle.en.yaml"} <= set(
        PEOPLE_FILES
    )
    for name in PEOPLE_FILES:
        for lang, other in ((".sv.", ".en."), (".en.", ".sv.")):
            if lang in name:
                assert name.replace(lang, other) in PEOPLE_FILES, f"{name} has no {other} twin"


def test_the_exceptions_are_not_stale() -> None:
    for name in ADMIN_FILES:
        assert (TEMPLATES / name).is_file(), name
    keys = {key for name in PEOPLE_FILES if name.endswith(".yaml") for key, _ in _yaml(name)}
    for key in ADMIN_KEYS:
        assert any(k == key or (key.endswith(".") and k.startswith(key)) for k in keys), key


@pytest.mark.parametrize("name", PEOPLE_FILES)
def test_no_text_tells_people_to_use_the_shell_or_the_shared_inbox(name: str) -> None:
    found = [
        f"{where}: {what} ({match.group(0)!r})"
        for where, text in _texts(name)
        for what, rule in RULES.items()
        if (match := rule.search(text))
    ]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Begär en ny: resultat resend-code 1001.",
        "hämta en ny med resultat issue {{ listnr }}",
        "lägg filen i inbox/.",
        "Lägg den i inkorgen.",
        "drop it in the inbox.",
        "Ange poänggränser (--thresholds).",
    ],
)
def test_the_rules_catch_the_old_instructions(text: str) -> None:
    assert any(rule.search(text) for rule in RULES.values())


@pytest.mark.parametrize(
    "text",
    [
        "Lägg filen i din inkorg.",
        "Drop the file in your inbox folder.",
        "inbox/<username>/ and inbox/utbildningsstod/",
        "Nytt resultat på DV1599; resultat på modul",
        "Det här mejlet skickades automatiskt av resultat.",
        "Svara på SMS:et med NY 1001.",
    ],
)
def test_the_rules_let_the_new_instructions_pass(text: str) -> None:
    assert not any(rule.search(text) for rule in RULES.values())
