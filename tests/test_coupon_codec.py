"""Coupon codes (mkp_core.coupon): 80 random bits, and a check character that catches every
single-character typo and every swap of two neighbours: tried here on fresh codes (every swap of
10,000 codes; every typo of 1,000 of them)."""

from __future__ import annotations

import pytest

from mkp_core import coupon


@pytest.fixture(scope="module")
def codes() -> list[str]:
    made = coupon.new_codes(10_000)
    assert len(set(made)) == len(made)
    return made


def test_shape(codes):
    assert all(len(c) == 17 and set(c) <= set(coupon.ALPHABET) and coupon.check_ok(c) for c in codes)
    assert coupon.RANDOM_CHARS * 5 >= 80  # 32 symbols: 5 random bits a character
    shown = coupon.pretty(codes[0])
    assert shown.count("-") == 4 and [len(g) for g in shown.split("-")] == [4, 4, 4, 4, 1]
    assert coupon.normalise(shown.lower().replace("-", " ")) == codes[0]
    single = coupon.new_code()
    assert coupon.check_ok(single) and len(single) == 17


#: Codes whose every single-character typo is tried: 17 positions x 31 wrong characters each, so
#: 527,000 typos (each position with each wrong character ~1,000 times, on random neighbours). The
#: check is a weighted sum with distinct non-zero weights, so a typo's effect does not depend on the
#: rest of the code: all 10,000 codes (5.3 million typos) took 10 s of a loaded run for nothing more.
TYPO_CODES = 1_000


def test_every_single_typo_is_caught(codes):
    missed = [
        (code, i, ch)
        for code in codes[:TYPO_CODES]
        for i in range(len(code))
        for ch in coupon.ALPHABET
        if ch != code[i] and coupon.check_ok(code[:i] + ch + code[i + 1 :])
    ]
    assert missed == []


def test_every_neighbour_swap_is_caught(codes):
    swaps = 0
    missed = []
    for code in codes:
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swaps += 1
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                if coupon.check_ok(swapped):
                    missed.append((code, i))
    assert swaps > 150_000 and missed == []


def test_look_alikes_read_as_what_they_look_like():
    code = coupon.new_code()
    typed = code.replace("0", "O").replace("1", "I")
    assert coupon.normalise(typed) == code


@pytest.mark.parametrize("typed", ["", "ABC", "U" * 17, "0" * 18, "!" * 17])
def test_not_a_code(typed):
    with pytest.raises(coupon.CouponFormatError):
        coupon.normalise(typed)
