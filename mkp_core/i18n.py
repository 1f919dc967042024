"""One message catalogue for every face of mkp: the web pages, mkp-admin, mkp-agent, mkp-server.

Why one: a resident reads the same refusal at the counter, on My Page and in a letter from the
town office; three catalogues would drift into three wordings. The source strings are English (the
gettext convention, and what the logs and tests read); ``mkp_core/locale/ja`` carries Japanese, the
language every face starts in. ``en`` needs no translations and exists so a new English wording can
be proposed without touching the code.

The ``.po`` files are the only source: they are read with Babel once per process and language, so
nothing compiled (``.mo``) is kept in the repository or must be rebuilt at install. Mark a string
for the catalogue with ``_()`` (or ``N_()`` where it must be translated later, at display time);
``tests/core/test_i18n.py`` fails when a marked string has no Japanese.

Choosing the language:
- a command line follows the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``): Japanese
  for ``ja_*``, English otherwise (``C`` and ``POSIX`` are English, as every Unix tool does);
- a web page negotiates (``server.site``): ``?lang=`` first, then ``Accept-Language``, else Japanese.
"""

from __future__ import annotations

import gettext as _gettext
import io
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("ja", "en")
"""Every language the catalogue speaks, the default first."""
DEFAULT_LANGUAGE = "ja"
DOMAIN = "mkp"
LOCALE_DIR = Path(__file__).with_name("locale")
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalogue of ``lang`` (an unknown language gets the source strings, English)."""
    if lang not in LANGUAGES:
        return _gettext.NullTranslations()
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: an unchecked wording never shows
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def gettext(message: str, lang: str) -> str:
    """``message`` in ``lang``; the source string when the catalogue has no translation."""
    return translations(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int, lang: str) -> str:
    """The form of ``singular``/``plural`` for ``n`` in ``lang`` (Japanese has one form)."""
    return translations(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (translate at display time)."""
    return message


def language_from_locale(environ: Mapping[str, str] | None = None) -> str:
    """The language a command line speaks, from the POSIX locale variables (first one set wins)."""
    env = os.environ if environ is None else environ
    for variable in _LOCALE_VARIABLES:
        value = env.get(variable, "")
        if not value:
            continue
        first = value.split(":")[0]  # LANGUAGE may list several, best first
        return "ja" if first.lower().startswith("ja") else "en"
    return "en"


def cli_gettext(message: str) -> str:
    """``message`` in the language of this process's locale: what a CLI prints through ``_()``."""
    return gettext(message, language_from_locale())
