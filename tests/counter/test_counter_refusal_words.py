"""What the counter page says when an action is refused: the code, and the counter's words for it
with their blanks filled in. An offline limit fills in its limit; a server refusal that carries a
list of per-row ``details`` (the error family's field for refusals of many things at once) is
shown with its code and the counter's words, not turned into a crash of the page. The words are
the one message catalogue's: every code has its Japanese there and its English as the source."""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.pofile import read_po

from agent.counter import messages
from agent.counter.limits import OfflineRefused
from agent.counter.service import refusal
from mkp_core import i18n
from mkp_core.client import ApiError

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@cache
def japanese_catalogue():  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / "ja" / "LC_MESSAGES" / "mkp.po").open("rb") as po:
        return read_po(po, locale="ja")


@pytest.mark.parametrize(
    "code", [*messages.MESSAGES, "voucher_bad_signature", "a_code_the_counter_has_no_words_for"]
)
def test_every_code_has_its_japanese_and_english_from_the_catalogue(code: str) -> None:
    msgid = messages.msgid_for(code)
    entry = japanese_catalogue().get(msgid)
    assert entry is not None and entry.string and not entry.fuzzy, f"no Japanese for {msgid!r}"

    words = messages.message(code)

    assert list(words) == ["ja", "en"]
    assert words["en"] == messages.fill(msgid, {}) and not JAPANESE.search(words["en"])
    assert words["ja"] == messages.fill(entry.string, {}) and JAPANESE.search(words["ja"])


def test_a_message_s_placeholder_is_filled_in_every_language() -> None:
    words = messages.message("wrong_pin", tries=2)
    assert words == {
        "ja": "暗証番号が違います。あと2回まちがえるとロックされます。",
        "en": "Wrong PIN. After 2 more wrong tries the card locks.",
    }


def test_a_placeholder_the_error_did_not_fill_shows_as_an_ellipsis() -> None:
    assert messages.message("wrong_pin")["ja"] == "暗証番号が違います。あと…回まちがえるとロックされます。"


def test_an_unknown_code_gets_the_generic_line_and_a_refused_voucher_its_own() -> None:
    assert messages.message("a_code_the_counter_has_no_words_for") == {
        "ja": "処理できませんでした。係の者をお呼びください。",
        "en": "This could not be done. Please call a member of staff.",
    }
    refused_voucher = messages.message("invalid_voucher_signature")
    assert refused_voucher["ja"] == "この券は使えません。係の者にお申し出ください。"


def test_an_offline_limit_fills_in_its_limit() -> None:
    out = refusal(OfflineRefused("offline_limit", "at most 3000 points a spend offline", limit=3000))

    assert out["ok"] is False
    assert out["error"]["code"] == "offline_limit"
    assert "3000" in out["error"]["message"]["en"]
    assert "3000" in out["error"]["message"]["ja"]
    assert out["error"]["detail"] == "at most 3000 points a spend offline"


def test_a_server_refusal_with_row_details_is_shown_by_its_code() -> None:
    rows = [{"row": 2, "code": "bad_amount", "message": "not a whole number"}]
    error = ApiError(400, "invalid_request", "the request was refused", details=rows)

    out = refusal(error)

    assert out["ok"] is False
    assert out["error"]["code"] == "invalid_request"
    assert out["error"]["detail"] == "the request was refused"
    assert set(out["error"]["message"]) == {"ja", "en"}


def test_a_server_limit_is_named_to_the_resident() -> None:
    error = ApiError(
        422, "above_maximum", "142018 points are spent at most 1000 at a time", [{"max_amount": 1000}]
    )
    out = refusal(error)
    assert out["error"]["message"]["ja"] == "1回にお使いいただけるのは1000ポイントまでです。"
    assert out["error"]["message"]["en"] == "One payment may be at most 1000 points."


def test_a_short_balance_is_named_to_the_resident() -> None:
    out = refusal(ApiError(409, "insufficient_points", "holds 120, 300 needed", [{"balance": 120}]))
    assert out["error"]["message"]["ja"] == "ポイントが足りません（残高 120ポイント）。"
