"""What the counter page says when an action is refused: the code, and the counter's words for it
with their blanks filled in. An offline limit fills in its limit; a server refusal that carries a
list of per-row ``details`` (the error family's field for refusals of many things at once) is
shown with its code and the counter's words, not turned into a crash of the page."""

from __future__ import annotations

from agent.counter.limits import OfflineRefused
from agent.counter.service import refusal
from mkp_core.client import ApiError


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
