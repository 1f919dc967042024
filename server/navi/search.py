"""Finding a municipality in MIC's list the way a resident types it: by prefecture, by name, by kana,
by romaji.

Why a fold: the same name arrives in many shapes. A phone types hiragana (よこすか), a kiosk's
keyboard may give half-width katakana (ﾖｺｽｶ), the list has full-width katakana (ヨコスカシ) and
kanji (横須賀市), and 鶴ヶ島 is also written 鶴ケ島. :func:`fold` maps each of them onto one form
(Unicode NFKC, hiragana to katakana, small ヶ/ヵ to ケ/カ, case folded, spaces gone), and a
row matches when every word of the query is inside the fold of its prefecture, name or their
readings, the readings also in romaji (:mod:`server.navi.romaji`: "yokosuka", "Sapporo",
"tokyo"). A six-digit or shorter run of digits finds codes that start with it.

Nothing here reads the database: whether a municipality takes part is given by the caller, and
its rows come first in the results.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from mkp_core.municipalities import MunicipalityInfo, all_municipalities
from server.navi.romaji import readings

MAX_QUERY_CHARS = 64
"""The longest query taken (the longest name in the list, with its prefecture, is 20 characters)."""
MAX_WORDS = 8
PAGE_SIZE = 100
"""Results a page shows: 北海道 has 196 rows, so a prefecture is at most two pages."""

_HIRAGANA = range(0x3041, 0x3097)
_KATAKANA_SHIFT = 0x60
_SAME_KANA = str.maketrans({"ヶ": "ケ", "ヵ": "カ"})


def fold(text: str) -> str:
    """``text`` in the one form searches compare: NFKC, katakana, case folded, without spaces."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    kana = "".join(chr(ord(c) + _KATAKANA_SHIFT) if ord(c) in _HIRAGANA else c for c in normal)
    return "".join(kana.translate(_SAME_KANA).split())


@dataclass(frozen=True)
class Search:
    """What a visitor asked for: words (folded), a prefecture, a page of the results (from 1)."""

    text: str = ""
    prefecture: str | None = None
    page: int = 1

    @property
    def words(self) -> list[str]:
        return [w for w in (fold(part) for part in self.text.split()) if w]

    @property
    def asked(self) -> bool:
        return bool(self.words) or self.prefecture is not None


@dataclass(frozen=True)
class Found:
    """One page of the rows that match, participating ones first, and how many matched in all."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def prefectures() -> list[str]:
    """The 47 prefectures in MIC's order (北海道 first, 沖縄県 last)."""
    return [m.name for m in all_municipalities().values() if m.kind == "prefecture"]


def parse_search(args: Mapping[str, str]) -> Search:
    """The search in a request's query string; one clear refusal for a query we cannot take."""
    text = _printable(args.get("q", ""))
    if len(text) > MAX_QUERY_CHARS:
        raise MkpError("search_too_long", N_("The search is too long. Use at most 64 characters."))
    if len(text.split()) > MAX_WORDS:
        raise MkpError("search_too_many_words", N_("The search has too many words. Use at most 8."))
    prefecture = args.get("prefecture") or None
    if prefecture is not None and prefecture not in prefectures():
        raise MkpError("unknown_prefecture", N_("There is no such prefecture. Choose one from the list."))
    page = args.get("page", "1")
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= 100:
        raise MkpError("invalid_page", N_("There is no such page of results. Start from the first page."))
    return Search(text.strip(), prefecture, int(page))


def _printable(text: str) -> str:
    """``text`` without control characters (a pasted tab or newline is a space)."""
    return "".join(c if c.isprintable() else " " for c in text)


def find(search: Search, participating: Collection[str]) -> Found:
    """The rows ``search`` matches, participating ones first then by code, one page of them."""
    words = search.words
    matches = [
        m
        for m in all_municipalities().values()
        if (search.prefecture is None or m.prefecture == search.prefecture)
        and all(_matches(m, word) for word in words)
    ]
    matches.sort(key=lambda m: (m.code not in participating, m.code))
    pages = max(1, -(-len(matches) // PAGE_SIZE))
    start = (min(search.page, pages) - 1) * PAGE_SIZE
    rows = [row(m, m.code in participating) for m in matches[start : start + PAGE_SIZE]]
    return Found(rows, len(matches), min(search.page, pages), pages)


def row(m: MunicipalityInfo, participating: bool) -> dict[str, Any]:
    """A municipality as the search results and the JSON show it."""
    return {
        "code": m.code,
        "prefecture": m.prefecture,
        "name": m.name,
        "kana": m.kana,
        "kind": m.kind,
        "participating": participating,
    }


def _matches(m: MunicipalityInfo, word: str) -> bool:
    if word.isascii() and word.isdigit():
        return m.code.startswith(word)
    return word in _haystack(m.code)


@cache
def _haystack(code: str) -> str:
    """Everything a row is known by, folded: prefecture, name, their readings in kana and romaji."""
    m = all_municipalities()[code]
    prefecture_kana = _prefecture_kana().get(m.prefecture, "")
    parts = [m.prefecture + m.name, prefecture_kana + m.kana, m.name, m.kana]
    parts += readings(fold(prefecture_kana + m.kana)) + readings(fold(m.kana))
    return "\n".join(fold(part) for part in parts)


@cache
def _prefecture_kana() -> dict[str, str]:
    return {m.name: m.kana for m in all_municipalities().values() if m.kind == "prefecture"}
