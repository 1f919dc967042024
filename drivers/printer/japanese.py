"""Japanese on receipt printers: Shift JIS for a printer's Kanji mode, or text drawn as an image.

python-escpos 3.1 has no Japanese: it sends kanji as GB18030 and full-width kana as ``?``. A
Japanese model has a Kanji font; it is given the text in Shift JIS (the Windows form, cp932, which
is what Japanese ESC/POS models read in FS C 1 mode). A model without one gets the text drawn with
a Japanese font from Debian (IPA Gothic, package ``fonts-ipafont-gothic``) as a bitmap.

Half-width katakana (ｶﾀｶﾅ) become full-width first: in Shift JIS they are one-byte codes that the
printer takes from its current single-byte code page, which may not be the Katakana page.

A long line is broken here, not by the printer, because the printer breaks anywhere: a line of a
voucher began with 「。」. :func:`break_lines` keeps the Japanese line-breaking rules (kinsoku
shori): no line begins with closing punctuation or a small kana, none ends with an opening
bracket; the character that would break a rule takes its neighbour to the next line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.printer.errors import PrinterError

FONT_ENV = "MKP_JAPANESE_FONT"
#: Where Debian's fonts-ipafont-gothic puts IPA Gothic (the file, then the alternatives link).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
_INSTALL_HINT = (
    "install Debian's fonts-ipafont-gothic (./install.sh does) or set MKP_JAPANESE_FONT to a .ttf file"
)

_HALF_WIDTH_KANA = re.compile(r"[\uff61-\uff9f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def normalise(text: str) -> str:
    """The text as printed: half-width katakana made full-width; control characters refused.

    A control character in a name from the ledger would otherwise reach the printer as a command.
    """
    bad = _CONTROL.search(text)
    if bad:
        raise PrinterError(
            "invalid_text", f"{text!r}: control character {bad.group()!r} at {bad.start()} cannot be printed"
        )
    return _HALF_WIDTH_KANA.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def shift_jis(text: str) -> bytes:
    """``text`` in Shift JIS (cp932) for Kanji mode; ``no_kanji`` for a character outside it."""
    try:
        return normalise(text).encode("cp932")
    except UnicodeEncodeError as exc:
        raise PrinterError(
            "no_kanji", f"{exc.object[exc.start : exc.end]!r} is not in the printer's Shift JIS set"
        ) from None


# --- line breaks (kinsoku) -------------------------------------------------------------------------

#: What may not begin a line (行頭禁則): closing punctuation and brackets, the iteration and
#: prolonged-sound marks, small kana.
NO_LINE_START = frozenset(
    "、。，．,.・：；:;？！?!ー―‐〜～ゝゞヽヾ々」』）］｝〕〉》】〙〗〟’”)]}"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ"
)
#: What may not end a line (行末禁則): opening brackets.
NO_LINE_END = frozenset("「『（［｛〔〈《【〘〖〝‘“([{")


def break_lines(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` in lines that each ``fits``, filled greedily, that keep the kinsoku rules.

    A full line breaks after its last space when it has one inside (a word of Latin letters stays
    whole), else between two characters; where the next line would begin with a
    :data:`NO_LINE_START` character or this one end with a :data:`NO_LINE_END` one, the break
    moves back a character at a time (追い出し). A line of nothing but such characters is broken
    where it is full: no rule can be kept there.
    """
    lines: list[str] = []
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and fits(text[start : end + 1]):
            end += 1
        if end == len(text):
            lines.append(text[start:])
            break
        cut, after = _break_point(text, start, end)
        lines.append(text[start:cut])
        start = after
    return lines


def _break_point(text: str, start: int, end: int) -> tuple[int, int]:
    """(where the full line ``text[start:end]`` ends, where the next one begins)."""
    space = text.rfind(" ", start + 1, end)
    if space > start and text[space + 1] not in NO_LINE_START:
        return space, space + 1  # the space itself is printed on neither line
    cut = end
    while cut - start > 1 and (text[cut] in NO_LINE_START or text[cut - 1] in NO_LINE_END):
        cut -= 1
    if text[cut] in NO_LINE_START or text[cut - 1] in NO_LINE_END:
        cut = end  # nothing but characters the rules hold back: break where the line is full
    return cut, cut


# --- the font -----------------------------------------------------------------------------------


def find_japanese_font(candidates: tuple[str, ...] = FONT_CANDIDATES) -> Path:
    """The Japanese font file: ``$MKP_JAPANESE_FONT``, else IPA Gothic where Debian puts it, else
    the first Japanese Gothic font fontconfig knows; ``no_japanese_font`` with what to do if none.
    """
    override = os.environ.get(FONT_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise PrinterError("no_japanese_font", f"{FONT_ENV}={override}: no such font file")
        return path
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    found = _fontconfig_japanese_font()
    if found is None:
        raise PrinterError("no_japanese_font", f"no Japanese font on this machine: {_INSTALL_HINT}")
    return found


def _fontconfig_japanese_font() -> Path | None:
    """A font fontconfig says covers Japanese, Gothic (sans) ones first; None without fontconfig."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=ja", "file", "family"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fonts = [line.partition(":")[::2] for line in out.splitlines() if line.strip()]
    fonts.sort(key=lambda f: ("gothic" not in f[1].lower(), f[0]))
    return Path(fonts[0][0]) if fonts else None


@lru_cache(maxsize=8)
def load_font(size: int, path: str | None = None) -> ImageFont.FreeTypeFont:
    """The Japanese font at ``size`` pixels (dots); ``no_japanese_font`` if it cannot be read."""
    font_path = path or str(find_japanese_font())
    try:
        return ImageFont.truetype(font_path, size)
    except OSError as exc:
        raise PrinterError(
            "no_japanese_font", f"{font_path}: not a font this printer driver can read: {exc}"
        ) from None


# --- text as an image ---------------------------------------------------------------------------


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` dots, by the kinsoku rules (an empty text
    is one empty line)."""
    return break_lines(text, lambda line: font.getlength(line) <= width) or [""]


#: A Kanji-mode character's cell in Font A, in dots: a two-byte character, a one-byte one.
KANJI_CELL_DOTS, ANK_CELL_DOTS = 24, 12


def kanji_mode_lines(text: str, width: int, scale: int = 1) -> list[str]:
    """Break ``text`` into the lines a Kanji-mode printer ``width`` dots wide prints at ``scale``
    (2: double width), by the kinsoku rules, so that the printer itself never breaks one."""

    def fits(line: str) -> bool:
        cells = sum(ANK_CELL_DOTS if ch.isascii() else KANJI_CELL_DOTS for ch in line)
        return cells * scale <= width

    return break_lines(text, fits) or [""]


def text_image(
    text: str, *, width: int, size: int, align: str = "left", font_path: str | None = None
) -> Image.Image:
    """``text`` drawn black on white at ``size`` dots a line, ``width`` dots wide, as a 1-bit image.

    Each line is one em high plus a quarter for line spacing; the image is as wide as the print
    area so the printer's own alignment plays no part.
    """
    font = load_font(size, font_path)
    lines = wrap(normalise(text), font, width)
    pitch = size + size // 4
    image = Image.new("L", (width, pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        length = font.getlength(line)
        x = {"left": 0, "center": (width - length) / 2, "right": width - length}[align]
        draw.text((x, i * pitch + size // 8), line, font=font, fill=0)
    # A hard threshold, not dithering: a thermal head prints a dot or none.
    return image.point(lambda v: 255 if v >= 128 else 0).convert("1")
