"""The one message catalogue: every string marked in the code has its Japanese, and the language
each face speaks is the one its user asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from mkp_core import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mkp_core", "mkp_admin", "server", "agent", "drivers", "provisioning", "demo")
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "say": None}  # say(): a CLI line with its values
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.do"}}


def marked_messages() -> dict[str, str]:
    """Every msgid marked in the packages' code and templates, with where it was first seen."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / package, METHODS, options_map=OPTIONS, keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            found.setdefault(msgid, f"{package}/{filename}:{lineno}")
    return found


def catalogue(lang: str):  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "mkp.po").open("rb") as po:
        return read_po(po, locale=lang)


def test_every_marked_message_has_its_japanese() -> None:
    ja = catalogue("ja")
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in sorted(marked_messages().items(), key=lambda item: item[1])
        if not (ja.get(msgid) and ja.get(msgid).string and not ja.get(msgid).fuzzy)
    ]
    assert not missing, "add these to mkp_core/locale/ja/LC_MESSAGES/mkp.po:\n" + "\n".join(missing)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_translations_keep_their_placeholders(lang: str) -> None:
    problems = [f"{message.id!r}: {error}" for message, errors in catalogue(lang).check() for error in errors]
    assert not problems, "\n".join(problems)


def test_japanese_is_read_from_the_catalogue_and_english_is_the_source() -> None:
    assert i18n.gettext("Japanese", "ja") == "日本語"
    assert i18n.gettext("Japanese", "en") == "Japanese"
    assert i18n.gettext("a message nobody translated", "ja") == "a message nobody translated"
    assert i18n.gettext("Japanese", "fr") == "Japanese"


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "ja_JP.UTF-8"}, "ja"),
        ({"LANGUAGE": "en:ja", "LANG": "ja_JP.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ja_JP.eucJP"}, "ja"),
    ],
)
def test_a_command_line_speaks_its_locale(environ: dict[str, str], lang: str) -> None:
    assert i18n.language_from_locale(environ) == lang
