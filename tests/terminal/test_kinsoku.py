"""Line breaks on receipts keep the Japanese rules (kinsoku): no line begins with 。、」 or a small
kana, none ends with 「; a Latin word stays whole; a line never overflows its paper."""

from __future__ import annotations

import pytest

from drivers.printer.japanese import break_lines, kanji_mode_lines, load_font, wrap


def width_of(n: int):
    """A paper that holds ``n`` characters a line."""
    return lambda line: len(line) <= n


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("おつりは出ません。", 8, ["おつりは出ませ", "ん。"]),  # 。 takes ん with it
        ("はい、そうです", 2, ["は", "い、", "そう", "です"]),
        ("「券」をお持ちください", 3, ["「券」", "をお持", "ちくだ", "さい"]),
        ("金額は「千円」です", 4, ["金額は", "「千円」", "です"]),  # 「 goes with what it opens
        ("まちょう", 2, ["ま", "ちょ", "う"]),  # a small kana goes with the kana before it
    ],
)
def test_a_line_breaks_where_the_rules_allow(text, n, expected):
    lines = break_lines(text, width_of(n))
    assert lines == expected
    assert "".join(lines) == text


def test_no_line_begins_or_ends_against_the_rules_in_a_long_text():
    text = "この券は1回限り有効です。おつりは出ません。「ポイント」は、ご本人だけが使えます。" * 3
    for n in range(3, 30):
        lines = break_lines(text, width_of(n))
        assert "".join(lines) == text
        assert all(len(line) <= n for line in lines)
        assert [line for line in lines[1:] if line[0] in "。、」ょ"] == [], n
        assert [line for line in lines if line[-1] == "「"] == [], n


def test_a_latin_word_stays_whole_and_the_space_is_not_printed():
    assert break_lines("Thank you for coming", width_of(10)) == ["Thank you", "for coming"]


def test_a_line_of_only_held_back_characters_still_breaks():
    assert break_lines("。。。。", width_of(2)) == ["。。", "。。"]


def test_kanji_mode_counts_half_width_as_half_a_cell():
    # 512 dots: 21 two-byte characters (504 dots) and one one-byte (12) fill a line exactly.
    lines = kanji_mode_lines("この券は1回限り有効です。おつりは出ません。", 512)
    assert lines == ["この券は1回限り有効です。おつりは出ませ", "ん。"]
    assert kanji_mode_lines("この券は1回限り有効です。", 512, scale=2) == ["この券は1回限り有効で", "す。"]


def test_drawn_text_keeps_the_rules_too():
    font = load_font(24)
    width = int(font.getlength("おつりは出ません"))  # 。 would be the first of the next line
    assert wrap("おつりは出ません。", font, width) == ["おつりは出ませ", "ん。"]
