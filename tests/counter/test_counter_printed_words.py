"""What the counter prints, as the resident reads it on the paper: the receipt of a spend or a
refund and the My Page code slip, word for word in Japanese. The words are the one catalogue's
(drivers/printer/printed_words.py); these pin that the paper reads as it always has."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from agent import mypage
from agent.counter import messages, receipts
from agent.counter.receipts import job_for, receipt_body
from agent.mypage import activation_lines
from drivers.printer import voucher
from drivers.printer.printed_words import printed, printed_day, printed_points, printed_time
from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from mkp_core.i18n import gettext

AT = datetime(2026, 12, 8, 3, 5, tzinfo=UTC)  # 12:05 in Japan


def paper(profile: str, body: dict[str, object]) -> list[str]:
    """The receipt's lines as the printer prints them."""
    return render(load_printer_profile(profile), job_for(profile, body).data).lines


@pytest.mark.parametrize("profile", ["epson-tm-t88vi", "seiko-rp-f10-58"])  # Kanji mode, drawn text
def test_an_offline_spend_s_receipt_says_it_is_sent_later(profile: str) -> None:
    result = {"amount": 600, "point_name": "よこすか開国祭ポイント", "reference": "R-9"}
    result["item"] = {"name": "大人", "code": "adult", "quantity": 2}
    body = receipt_body("spend", "横須賀美術館", result, True, AT)

    assert paper(profile, body) == [
        "横須賀美術館",
        "ポイントご利用明細",
        "2026年12月8日 12:05",
        "【オフライン取引】",
        "大人 ×2",
        "よこすか開国祭ポイント",
        "-600ポイント",
        "控え番号 R-9",
        "通信回復後に処理されます。",
    ]


def test_a_refund_s_receipt_names_the_transaction_and_the_balance() -> None:
    result = {"amount": 1300, "point_code": "142018", "balance_after": 12345, "id": "T-9"}
    body = receipt_body("refund", "市民プール", result, False, AT)

    assert paper("epson-tm-t88vi", body) == [
        "市民プール",
        "ポイント払い戻し明細",
        "2026年12月8日 12:05",
        "142018",
        "+1,300ポイント",
        "残高 12,345ポイント",
        "取引番号 T-9",
    ]


def test_the_my_page_code_slip_says_where_to_type_the_code() -> None:
    lines = activation_lines("横須賀美術館", "ABCD-EFGH-J", AT, "https://mkp.example/")

    assert lines == [
        "横須賀美術館",
        "マイページ登録コード",
        "ABCD-EFGH-J",
        "有効期限 2026年12月8日 12:05まで",
        "ご自宅のパソコンやスマートフォンで",
        "https://mkp.example/mypage/signup",
        "を開き、このコードを入力してください。",
        "コードは一度だけ使えます。",
        "他の人に見せないでください。",
    ]


def test_printed_words_are_the_catalogue_s_japanese_with_their_blanks_filled() -> None:
    assert printed("Transaction number %(id)s", id="T-1") == "取引番号 T-1"
    assert printed("Offline transaction") == gettext("Offline transaction", "ja") == "オフライン取引"
    assert printed_points(3000) == "3,000ポイント" and printed_points(5, "+") == "+5ポイント"
    assert printed_day(date(2027, 1, 5)) == "2027年1月5日"
    assert printed_time(datetime(2027, 1, 5, 9, 7)) == "2027年1月5日 09:07"


@pytest.mark.parametrize("module", [messages, receipts, mypage, voucher], ids=lambda m: m.__name__)
def test_the_code_keeps_no_japanese_words_of_its_own(module) -> None:
    """Kana or kanji in a string of the code (a docstring aside) is wording outside the catalogue;
    the voucher's list bullet 「・」 (U+30FB) is typography, not a word."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    japanese = [
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        if re.search(r"[\u3040-\u30fa\u30fc-\u30ff\u4e00-\u9fff]", node.value)
    ]
    assert not japanese, "mark these with N_() and add them to the catalogue:\n" + "\n".join(japanese)
