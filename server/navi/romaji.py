"""Readings in Latin letters, made from the katakana readings MIC's list already gives.

Why: a visitor from abroad, or a phone without a Japanese keyboard, types "yokosuka" or "Sapporo".
The list has no romaji, and no source of it ships with the platform; but every row has its
official reading in katakana, and romaji is a fixed spelling of kana. So each reading is spelt
here, in the two systems people type: Hepburn (shi, chi, tsu, fu, ja) and Kunrei (si, ti, tu, hu,
zya); and each also with its long vowels written short, as signs and maps do (トウキョウ is
"toukyou" and "tokyo", オオサカ "oosaka" and "osaka").

ン before b, m, p is spelt both ways: "n" as typed on a keyboard (Monbetsu) and "m" as the
traditional Hepburn of road signs and stations writes it (Mombetsu). What it does not do: an
apostrophe after ン ("Kan'onji") is not written: type "kanonji".
"""

from __future__ import annotations

import re

# Each kana: (Hepburn, Kunrei). The small vowels and ャュョ are handled by the spelling itself.
_KANA: dict[str, tuple[str, str]] = {}
for row, (hepburn, kunrei) in {
    "アイウエオ": ("a i u e o", "a i u e o"),
    "カキクケコ": ("ka ki ku ke ko", "ka ki ku ke ko"),
    "サシスセソ": ("sa shi su se so", "sa si su se so"),
    "タチツテト": ("ta chi tsu te to", "ta ti tu te to"),
    "ナニヌネノ": ("na ni nu ne no", "na ni nu ne no"),
    "ハヒフヘホ": ("ha hi fu he ho", "ha hi hu he ho"),
    "マミムメモ": ("ma mi mu me mo", "ma mi mu me mo"),
    "ヤユヨ": ("ya yu yo", "ya yu yo"),
    "ラリルレロ": ("ra ri ru re ro", "ra ri ru re ro"),
    "ワヰヱヲン": ("wa i e o n", "wa i e o n"),
    "ガギグゲゴ": ("ga gi gu ge go", "ga gi gu ge go"),
    "ザジズゼゾ": ("za ji zu ze zo", "za zi zu ze zo"),
    "ダヂヅデド": ("da ji zu de do", "da zi zu de do"),
    "バビブベボ": ("ba bi bu be bo", "ba bi bu be bo"),
    "パピプペポ": ("pa pi pu pe po", "pa pi pu pe po"),
    "ヴヶヵ": ("vu ke ka", "vu ke ka"),
}.items():
    _KANA.update(zip(row, zip(hepburn.split(), kunrei.split(), strict=True), strict=True))

_SMALL_Y = {"ャ": "a", "ュ": "u", "ョ": "o"}
_SMALL_VOWEL = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o"}
_LONG_VOWELS = re.compile(r"ou|oo|uu")
# Only ン ends a syllable with "n", so an "n" before b, m or p is always ン.
_N_BEFORE_LIPS = re.compile(r"n(?=[bmp])")


def _spell(kana: str, system: int) -> str:
    """``kana`` (katakana) in Hepburn (``system`` 0) or Kunrei (1); anything else is kept."""
    out: list[str] = []
    double_next = False
    for i, char in enumerate(kana):
        if char == "ッ":
            double_next = True
            continue
        if char in _SMALL_Y and out and out[-1].endswith("i") and i > 0 and kana[i - 1] in _KANA:
            stem = out.pop()[:-1]
            syllable = (
                stem + _SMALL_Y[char] if stem.endswith(("sh", "ch", "j")) else stem + "y" + _SMALL_Y[char]
            )
        elif char in _SMALL_VOWEL and out:
            previous = out.pop()
            syllable = (previous[:-1] if previous[-1] in "aiueo" else previous) + _SMALL_VOWEL[char]
        elif char == "ー" and out:
            syllable = out[-1][-1] if out[-1][-1] in "aiueo" else ""
        else:
            syllable = _KANA[char][system] if char in _KANA else char
        if double_next and syllable and syllable[0] not in "aiueon":
            syllable = ("t" if syllable.startswith("ch") else syllable[0]) + syllable
        double_next = False
        out.append(syllable)
    return "".join(out)


def readings(kana: str) -> list[str]:
    """``kana`` in romaji as people type it: Hepburn and Kunrei, each also with long vowels short,
    and Hepburn with ン before b, m, p as "m"."""
    spelt = [_spell(kana, 0), _spell(kana, 1)]
    shortened = [_LONG_VOWELS.sub(lambda m: m.group()[0], s) for s in spelt]
    signs = [_N_BEFORE_LIPS.sub("m", s) for s in (spelt[0], shortened[0])]  # Hepburn's m
    return list(dict.fromkeys(spelt + shortened + signs))
