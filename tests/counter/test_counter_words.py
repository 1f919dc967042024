"""The counter page's words are the one catalogue's: every key the page names has its Japanese and
its English there, the agent serves exactly those, and the page keeps no wording of its own."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from agent.counter import words
from mkp_core import i18n

STATIC = Path(words.__file__).with_name("static")
PAGE = (STATIC / "index.html").read_text(encoding="utf-8")
SCRIPT = (STATIC / "counter.js").read_text(encoding="utf-8")


def keys_the_page_names() -> set[str]:
    """Every key index.html and counter.js ask for: by name, and as counter.js makes them (an
    action's own name on the card screen, a form's title and its fields' labels)."""
    named = set(re.findall(r'data-t="(\w+)"', PAGE))
    named |= set(re.findall(r'\b(?:t|fill|everyLanguage)\("(\w+)"', SCRIPT))
    actions = set(re.findall(r'data-action="(\w+)"', PAGE))
    forms = re.findall(r'(\w+): \{[^}]*first: "form", fields: \[([^\]]*)\]', SCRIPT)
    assert actions and forms, "counter.js's ACTIONS or index.html's buttons changed shape"
    named |= actions - {"spend"}  # describe(): a spend is described by its amount
    named |= {f"{action}_title" for action, _fields in forms}
    named |= {field for _action, fields in forms for field in re.findall(r'"(\w+)"', fields)}
    return named


@cache
def catalogue(lang: str):  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "mkp.po").open("rb") as po:
        return read_po(po, locale=lang)


def test_every_key_the_page_names_is_a_word_and_every_word_is_used() -> None:
    served = set(words.words("ja"))
    assert keys_the_page_names() - served == set(), "add these to agent/counter/words.py"
    assert served - keys_the_page_names() == set(), "no longer on the page: remove from words.py"


def test_the_page_keeps_no_wording_of_its_own() -> None:
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", SCRIPT), "Japanese in counter.js"
    assert "const TEXT" not in SCRIPT


def test_every_word_has_its_japanese_and_is_served_in_both_languages() -> None:
    ja, english = words.words("ja"), words.words("en")
    problems = []
    for key, msgid in words.WORDS.items():
        entry = catalogue("ja").get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"{key}: no Japanese for {msgid!r}")
        elif ja[key] != entry.string:
            problems.append(f"{key}: served {ja[key]!r}, the catalogue says {entry.string!r}")
        if english[key] != i18n.gettext(msgid, "en") or english[key] != msgid:
            problems.append(f"{key}: English {english[key]!r} is not the source {msgid!r}")
    assert not problems, "\n".join(problems)


def test_the_language_switch_names_the_other_language_in_itself() -> None:
    assert words.words("ja")["language"] == "English"
    assert words.words("en")["language"] == "日本語"


def test_placeholders_are_the_catalogues_and_the_same_in_both_languages() -> None:
    for key, msgid in words.WORDS.items():
        names = sorted(re.findall(r"%\((\w+)\)s", msgid))
        assert sorted(re.findall(r"%\((\w+)\)s", words.words("ja")[key])) == names, key
        assert "{" not in msgid, f"{key}: a placeholder is %(name)s"


def test_the_page_title_before_its_words_are_read_is_the_catalogues() -> None:
    title = re.search(r"<title>(.*)</title>", PAGE)
    assert title is not None and title.group(1) == words.words("ja")["title"]
