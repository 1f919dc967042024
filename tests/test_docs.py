"""README stays true to the command-line tools: a docs test in the spirit of sqlite-utils' own.

An operator or technician learns mkp's commands from README, so README must neither miss one nor
name one that does not exist. Two directions, both checked in-process against the click tree:

- every command and every option of the ``mkp-*`` console scripts appears in the docs (README, or a
  ``docs/`` page README links to): a command as a command line in a code block or an inline code
  span (``mkp-admin voucher key rotate``); an option in the section that shows its command. An
  option that most of a program's commands share (``--json``, ``--client-id``, ``--home``...) is
  documented once for the program: it must appear somewhere in the docs;
- every command line in the docs' code blocks (a line that starts with a ``mkp-*`` command, bare or
  as ``.venv/bin/mkp-*``, also after ``sudo``, ``NAME=value``, ``&&``, ``|`` or ``;``) and every
  inline code span that starts with one names a command and options that exist.

README's own shorthands count as what they mean: alternatives after ``|`` (``mkp-admin partner
list | revoke ANA``), and, in a paragraph that has named a program, a code span that starts with
one of its commands (``event handover CODE`` after ``mkp-admin event add ...``).

The click groups are found through the installed console-script entry points (group
``console_scripts``, names ``mkp-*``), never by importing a module by name: the entry points are
what a user runs, wherever a command's code lives.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import click
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Where ``.venv/bin/...`` in the docs points: a command line may name a program either way.
VENV_BIN = ".venv/bin/"
#: An option that at least this share of a program's commands take is documented once for the
#: program (README says so in words: "Every command takes ``--json``").
SHARED_SHARE = 0.5
#: Shell words that end one command and may start another on the same line.
SHELL_SEPARATORS = {"&&", "||", "|", ";", "&"}
#: README is read as GitHub shows it: CommonMark with tables.
MARKDOWN = MarkdownIt("commonmark").enable("table")


# --- the click tree, from the console-script entry points ------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command of one program: its words (``("mkp-admin", "voucher", "key", "rotate")``)."""

    path: tuple[str, ...]
    command: click.Command

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def options(self) -> list[click.Option]:
        return [p for p in self.command.params if isinstance(p, click.Option) and not p.hidden]


def programs() -> dict[str, click.Command]:
    """Each ``mkp-*`` console script the installed project declares, loaded as a user runs it."""
    found: dict[str, click.Command] = {}
    for ep in entry_points(group="console_scripts"):
        if not ep.name.startswith("mkp-"):
            continue
        try:
            loaded = ep.load()
        except ImportError as e:
            raise AssertionError(
                f"console script {ep.name} = {ep.value} does not import ({e}): the installed "
                "entry points are stale, reinstall the project (pip install -e '.[dev]')"
            ) from e
        assert isinstance(loaded, click.Command), (
            f"{ep.name} ({ep.value}) is not a click command: the docs test cannot read its options"
        )
        found[ep.name] = loaded
    assert found, "no mkp-* console scripts installed: run ./install.sh (pip install -e .[dev])"
    return dict(sorted(found.items()))


def subcommands(group: click.Group, *, hidden: bool) -> dict[str, click.Command]:
    """A group's commands by the name a user types (an alias is a name of its own)."""
    ctx = click.Context(group)
    named = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {n: c for n, c in named.items() if c is not None and (hidden or not c.hidden)}


def walk(path: tuple[str, ...], command: click.Command, *, hidden: bool) -> Iterator[Command]:
    yield Command(path, command)
    if isinstance(command, click.Group):
        for name, sub in subcommands(command, hidden=hidden).items():
            yield from walk((*path, name), sub, hidden=hidden)


PROGRAMS = programs()
#: Every command a user is told about by ``--help`` (hidden ones need no docs).
COMMANDS = [c for name, program in PROGRAMS.items() for c in walk((name,), program, hidden=False)]
#: What a user runs: a command that is not a group (a group is documented through its commands).
LEAVES = [c for c in COMMANDS if not isinstance(c.command, click.Group)]
#: Every command a command line may name, hidden ones too (they still run).
BY_PATH = {c.path: c for name, program in PROGRAMS.items() for c in walk((name,), program, hidden=True)}


def shared_options(program: str) -> set[str]:
    """The options most of a program's commands take, by their first name."""
    leaves = [c for c in LEAVES if c.path[0] == program]
    counts: dict[str, int] = {}
    for leaf in leaves:
        for option in leaf.options:
            counts[option.opts[0]] = counts.get(option.opts[0], 0) + 1
    return {name for name, n in counts.items() if len(leaves) > 1 and n >= SHARED_SHARE * len(leaves)}


SHARED = {program: shared_options(program) for program in PROGRAMS}


# --- the docs: README and the docs/ pages it links to -----------------------------------------------


@dataclass
class Mention:
    """A place in the docs that names a command: a line of a code block, or an inline code span."""

    where: str  # "README.md:123"
    text: str
    in_code_block: bool


@dataclass
class Section:
    """The text under one heading (up to the next heading, of any level)."""

    page: str
    heading: str
    text: list[str] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)


def page_sections(path: Path) -> list[Section]:
    name = path.relative_to(ROOT).as_posix()
    sections = [Section(name, "(top of the page)")]
    tokens = MARKDOWN.parse(path.read_text(encoding="utf-8"))
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            sections.append(Section(name, f"{token.markup} {tokens[i + 1].content}"))
        section = sections[-1]
        first_line = (token.map[0] + 1) if token.map else 0
        if token.type in ("fence", "code_block"):
            section.text.append(token.content)
            for offset, line in enumerate(joined_lines(token.content)):
                if command_words(line):
                    section.mentions.append(Mention(f"{name}:{first_line + 1 + offset}", line, True))
        elif token.type == "inline":
            section.text.append(token.content)
            spans = [c.content for c in token.children or [] if c.type == "code_inline"]
            for span in with_program(spans):
                section.mentions.append(Mention(f"{name}:{first_line}", span, False))
    return sections


def with_program(spans: list[str]) -> Iterator[str]:
    """The code spans of one paragraph that name a command. After a paragraph names a program
    (`mkp-admin event add ...`), README goes on with its commands alone (`event handover CODE`):
    such a span is read as that program's command."""
    program = ""
    for span in spans:
        if command_words(span):
            program = command_words(span)[-1][0]
            yield span
            continue
        words = shell_words(span)
        group = PROGRAMS.get(program)
        if words and isinstance(group, click.Group) and words[0] in subcommands(group, hidden=True):
            yield f"{program} {span}"


def joined_lines(code: str) -> list[str]:
    """A code block's lines, a line ending in ``\\`` joined to the next (kept at the first's place)."""
    lines, pending = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            lines.append("")
            continue
        if pending:
            lines.append(pending + line)
            pending = ""
        else:
            lines.append(line)
    return lines


def linked_pages(tokens: list[Token]) -> Iterator[Path]:
    for token in tokens:
        for child in token.children or []:
            href = str(child.attrs.get("href", "")) if child.type == "link_open" else ""
            if href.startswith("docs/") and href.split("#")[0].endswith(".md"):
                yield ROOT / href.split("#")[0]


LINKED_PAGES = list(dict.fromkeys(linked_pages(MARKDOWN.parse(README.read_text(encoding="utf-8")))))


def docs_sections() -> list[Section]:
    pages = [README, *(page for page in LINKED_PAGES if page.is_file())]
    return [section for page in pages for section in page_sections(page)]


def shell_words(line: str) -> list[str]:
    """A line split as the shell does; a ``# comment`` dropped. Lines shlex cannot split count as
    no command (they are prose or another language in a code block)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:
        return []


def command_words(line: str) -> list[list[str]]:
    """Each command on the line that runs a ``mkp-*`` program, its words from the program on.

    README writes alternatives as ``mkp-admin partner list | revoke ANA``: after ``|``, a command
    of the group the command before it belongs to is read as that group's command."""
    commands: list[list[str]] = []
    current: list[str] = []
    previous: list[str] = []
    separator = ""
    for word in [*shell_words(line.strip()), ";"]:
        if word not in SHELL_SEPARATORS:
            current.append(word)
            continue
        found: list[str] = []
        while current and (current[0] == "sudo" or re.fullmatch(r"[A-Za-z_]\w*=.*", current[0])):
            current = current[1:]
        if current and program_of(current[0]):
            found = [program_of(current[0]), *current[1:]]
        elif current and previous and separator == "|":
            group = group_of(previous)
            if (*group, current[0]) in BY_PATH:
                found = [*group, *current]
        if found:
            commands.append(found)
        current, previous, separator = [], found, word
    return commands


def group_of(words: list[str]) -> tuple[str, ...]:
    """The words of the group a command line's command belongs to (nothing if it names none)."""
    try:
        command, _ = resolve(words)
    except Unresolved:
        return ()
    return command.path[:-1]


def program_of(word: str) -> str:
    name = word.removeprefix(VENV_BIN)
    return name if name in PROGRAMS and word in (name, VENV_BIN + name) else ""


# --- resolving a command line in the click tree -------------------------------------------------------


class Unresolved(Exception):
    """A command line names a command or an option that does not exist."""

    def __init__(self, message: str, reached: Command) -> None:
        super().__init__(message)
        #: The command the line named correctly, up to its mistake.
        self.reached = reached


def find_option(command: click.Command, word: str) -> click.Option | None:
    ctx = click.Context(command)
    if word in ctx.help_option_names:
        return click.Option([word], is_flag=True)
    for option in (p for p in command.params if isinstance(p, click.Option)):
        if word in option.opts or word in option.secondary_opts:
            return option
    return None


def resolve(words: list[str]) -> tuple[Command, list[str]]:
    """The command a command line runs and the options it gives, as click would parse it."""
    here = BY_PATH[(words[0],)]
    given: list[str] = []
    rest = words[1:]
    while rest:
        word, rest = rest[0], rest[1:]
        if word == "--":
            break
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            option = find_option(here.command, name)
            if option is None:
                raise Unresolved(f"`{here.name}` has no option {name}", here)
            given.append(name)
            takes_value = not (option.is_flag or option.count) and "=" not in word
            rest = rest[max(option.nargs, 1) :] if takes_value else rest
        elif isinstance(here.command, click.Group):
            sub = BY_PATH.get((*here.path, word))
            if sub is None:
                raise Unresolved(f"`{here.name}` has no command {word!r}", here)
            here = sub
    return here, given


SECTIONS = docs_sections()
MENTIONS = [m for s in SECTIONS for m in s.mentions]


def documented() -> tuple[dict[tuple[str, ...], Counter[int]], dict[tuple[str, ...], set[str]]]:
    """For each command and group: how often each section (by index) mentions it or a command
    under it; for each command, the options its mentions give."""
    mentioned: dict[tuple[str, ...], Counter[int]] = {}
    options: dict[tuple[str, ...], set[str]] = {}
    for index, section in enumerate(SECTIONS):
        for mention in section.mentions:
            for words in command_words(mention.text):
                try:
                    command, given = resolve(words)
                except Unresolved as e:  # test_docs_name_only_commands_that_exist says so
                    command, given = e.reached, []
                for n in range(1, len(command.path) + 1):
                    mentioned.setdefault(command.path[:n], Counter())[index] += 1
                options.setdefault(command.path, set()).update(given)
    return mentioned, options


MENTIONED, OPTIONS_GIVEN = documented()
ALL_TEXT = "\n".join(t for s in SECTIONS for t in s.text)


def text_near(path: tuple[str, ...]) -> str:
    """The text of every section that mentions the command."""
    return "\n".join(t for i in MENTIONED.get(path, {}) for t in SECTIONS[i].text)


def appears(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def where_to_document(path: tuple[str, ...], *, itself: bool) -> str:
    """The section that mentions the command most (``itself``), else its closest relatives."""
    for n in range(len(path) if itself else len(path) - 1, 0, -1):
        sections = MENTIONED.get(path[:n])
        if sections:
            section = SECTIONS[sections.most_common(1)[0][0]]
            return f"{section.page}, section {section.heading!r}"
    return "README.md"


# --- the tests --------------------------------------------------------------------------------------


def test_the_docs_test_sees_every_program_and_the_docs() -> None:
    """A guard on the test itself: it reads all six programs and finds commands in README."""
    assert set(PROGRAMS) >= {
        "mkp-admin",
        "mkp-agent",
        "mkp-server",
        "mkp-provision",
        "mkp-demo",
        "mkp-vcard",
    }
    assert len(LEAVES) > 100
    assert len([m for m in MENTIONS if m.in_code_block]) > 50


def test_every_docs_page_readme_links_exists() -> None:
    missing = [page.relative_to(ROOT).as_posix() for page in LINKED_PAGES if not page.is_file()]
    assert not missing, f"README links {', '.join(missing)}, which do not exist"


# Each test below checks every case and lists every gap in one failure: one item each (not one per
# command, option or mention: xdist ships each item to a worker, and 565 of them cost more than
# the checks), and one run shows all that README misses.


def undocumented_command(command: Command) -> str | None:
    if command.path in MENTIONED:
        return None
    return (
        f"`{command.name}` appears nowhere in the docs: add a line `{command.name} ...  # what it "
        f"does` to a code block in {where_to_document(command.path, itself=False)}"
    )


def test_every_command_is_documented() -> None:
    gaps = [gap for command in LEAVES if (gap := undocumented_command(command))]
    assert not gaps, "\n".join(gaps)


OPTION_CASES = [
    (command, option)
    for command in COMMANDS
    for option in command.options
    if option.opts[0] not in SHARED[command.path[0]]
]


def undocumented_option(command: Command, option: click.Option) -> str | None:
    names = [*option.opts, *option.secondary_opts]
    given = OPTIONS_GIVEN.get(command.path, set())
    near = text_near(command.path)
    if any(n in given or appears(n, near) for n in names):
        return None
    return (
        f"`{command.name}` option {'/'.join(names)} is not documented: show it on a "
        f"`{command.name}` line, or say what it does, in "
        f"{where_to_document(command.path, itself=True)}"
    )


def test_every_option_is_documented_with_its_command() -> None:
    assert len(OPTION_CASES) > 100  # the cases are found (a guard on the test itself)
    gaps = [gap for command, option in OPTION_CASES if (gap := undocumented_option(command, option))]
    assert not gaps, "\n".join(gaps)


def test_every_shared_option_is_documented_once() -> None:
    gaps = [
        f"{option}, which most `{program}` commands take, appears nowhere in the docs: say once "
        f"what it does in {where_to_document((program,), itself=True)}"
        for program in PROGRAMS
        for option in sorted(SHARED[program])
        if not appears(option, ALL_TEXT)
    ]
    assert not gaps, "\n".join(gaps)


def unknown_commands(mention: Mention) -> str | None:
    problems = []
    for words in command_words(mention.text):
        try:
            resolve(words)
        except Unresolved as e:
            problems.append(f"{e} (see `{e.reached.name} --help`)")
    if not problems:
        return None
    return f"{mention.where}: `{mention.text.strip()}`: {'; '.join(problems)}"


def test_docs_name_only_commands_that_exist() -> None:
    problems = [problem for mention in MENTIONS if (problem := unknown_commands(mention))]
    assert not problems, "\n".join(problems)
