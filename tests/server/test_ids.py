"""Municipality codes and point codes: the rules every part shares."""

import csv
from pathlib import Path

import pytest

from mkp_core import ids
from mkp_core.municipalities import all_municipalities, lookup_municipality

SHARED_CSV = Path(__file__).parents[3] / "shared" / "data" / "municipalities.csv"


def test_every_shipped_code_has_a_valid_check_digit():
    codes = all_municipalities()
    assert len(codes) == 1965
    for code in codes:
        assert ids.validate_municipality_code(code) == code


def test_shipped_list_is_mic_list_unchanged():
    if not SHARED_CSV.exists():
        pytest.skip("shared/ data folder not beside the checkout")
    with SHARED_CSV.open(encoding="utf-8") as f:
        rows = {r["code"]: r["name"] for r in csv.DictReader(f)}
    assert rows == {code: m.name for code, m in all_municipalities().items()}


@pytest.mark.parametrize(
    "code,name",
    [
        ("011002", "札幌市"),
        ("131016", "千代田区"),
        ("142018", "横須賀市"),
        ("262048", "宇治市"),
        ("472018", "那覇市"),
    ],
)
def test_known_codes(code, name):
    assert lookup_municipality(code).name == name


@pytest.mark.parametrize("code", ["142019", "142010", "011003", "131017"])
def test_wrong_check_digit(code):
    with pytest.raises(ids.InvalidId) as e:
        ids.validate_municipality_code(code)
    assert e.value.code == "bad_check_digit"


@pytest.mark.parametrize("code", ["14201", "1420188", "14201x", "", "１４２０１８", "142018\n", None, 142018])
def test_malformed_codes(code):
    with pytest.raises(ids.InvalidId) as e:
        ids.validate_municipality_code(code)
    assert e.value.code == "invalid_municipality_code"


def test_valid_but_unlisted_code():
    # 99999 + its check digit is well formed but no municipality has it.
    code = "99999" + str(ids.municipality_check_digit("99999"))
    with pytest.raises(ids.InvalidId) as e:
        lookup_municipality(code)
    assert e.value.code == "unknown_municipality"


@pytest.mark.parametrize("code", ["142018", "142018-FEST2026", "011002-A"])
def test_point_codes(code):
    assert ids.validate_point_code(code) == code
    assert ids.point_code_municipality(code) == code[:6]


@pytest.mark.parametrize("code", ["142019", "142018-", "142018-fest", "142018-" + "A" * 17, "X42018"])
def test_bad_point_codes(code):
    with pytest.raises(ids.InvalidId):
        ids.validate_point_code(code)
