"""What the counter says, in Japanese first and in English: one line per outcome, by error code.

Residents at a counter are often elderly and may not have used the card since they got it, so
each message says what happened and what to do next, in plain words, never a code. The code is
still sent with it (the page and the logs key on it); the wording lives only here.
"""

from __future__ import annotations

from typing import Any

#: code → (Japanese, English). ``{tries}`` and similar are filled from the error's details.
MESSAGES: dict[str, tuple[str, str]] = {
    # the card and the reader
    "no_card": ("カードをカードリーダーに置いてください。", "Please place the card on the card reader."),
    "card_removed": (
        "カードが離れました。もう一度カードを置いて、終わるまでそのままにしてください。",
        "The card was taken away. Place it again and leave it until the end.",
    ),
    "no_reader": (
        "カードリーダーがつながっていません。係の者をお呼びください。",
        "No card reader is connected. Please call a member of staff.",
    ),
    "pcscd_not_running": (
        "カードリーダーが使えません。係の者をお呼びください。",
        "The card reader is not working. Please call a member of staff.",
    ),
    "reader_error": (
        "カードリーダーが使えません。係の者をお呼びください。",
        "The card reader is not working. Please call a member of staff.",
    ),
    "not_my_number_card": (
        "マイナンバーカードではありません。マイナンバーカードを置いてください。",
        "This is not a My Number card. Please use your My Number card.",
    ),
    "invalid_pin_format": ("暗証番号は数字4けたです。", "The PIN is 4 digits."),
    "wrong_pin": (
        "暗証番号が違います。あと{tries}回まちがえるとロックされます。",
        "Wrong PIN. After {tries} more wrong tries the card locks.",
    ),
    "pin_blocked": (
        "暗証番号がロックされています。お住まいの市区町村の窓口で解除してください。",
        "The PIN is locked. Please have it reset at your municipal office.",
    ),
    "card_error": (
        "カードを読めませんでした。もう一度お試しください。",
        "The card could not be read. Please try again.",
    ),
    "card_command_failed": (
        "カードを読めませんでした。もう一度お試しください。",
        "The card could not be read. Please try again.",
    ),
    # the card's certificate
    "certificate_expired": (
        "カードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください。",
        "The card's certificate has expired. Please renew it at your municipal office.",
    ),
    "certificate_not_yet_valid": (
        "カードの電子証明書はまだ使えません。",
        "The card's certificate is not valid yet.",
    ),
    "certificate_revoked": (
        "このカードは使えません（電子証明書が失効しています）。市区町村の窓口にご相談ください。",
        "This card cannot be used (its certificate is revoked). Please ask your municipal office.",
    ),
    "certificate_untrusted": (
        "このカードの電子証明書を確認できません。",
        "This card's certificate cannot be verified.",
    ),
    "not_user_auth_certificate": (
        "このカードの電子証明書は使えません。",
        "This card's certificate cannot be used here.",
    ),
    "certificate_replaced": (
        "新しいカードに切り替わっています。新しいカードをお使いください。",
        "Your MyKey ID moved to your new card. Please use the new card.",
    ),
    "crl_stale": (
        "ただいまカードを確認できません。しばらくしてからお試しください。",
        "Cards cannot be checked just now. Please try again later.",
    ),
    # the MyKey ID
    "not_registered": (
        "マイキーIDがまだありません。係の者にお申し出ください（ここで作れます）。",
        "This card has no MyKey ID yet. Staff can create one for you here.",
    ),
    "mykey_suspended": (
        "このマイキーIDは利用停止中です。市区町村の窓口にご相談ください。",
        "This MyKey ID is suspended. Please ask your municipal office.",
    ),
    "not_linked": (
        "このお店のIDがまだ登録されていません。",
        "Your ID for this shop is not linked yet.",
    ),
    "link_pending": (
        "登録の確認待ちです。係の者にお申し出ください。",
        "Your link waits for staff to confirm it.",
    ),
    # points
    "insufficient_points": (
        "ポイントが足りません（残高 {balance}ポイント）。",
        "Not enough points (balance {balance} points).",
    ),
    "points_expired": ("ポイントの有効期限が切れています。", "These points have expired."),
    "not_allowed_here": (
        "このポイントはここでは使えません。",
        "These points cannot be used here.",
    ),
    "above_maximum": (
        "1回にお使いいただけるのは{max_amount}ポイントまでです。",
        "One payment may be at most {max_amount} points.",
    ),
    "below_minimum": (
        "1回に{min_amount}ポイント以上でお使いください。",
        "One payment must be at least {min_amount} points.",
    ),
    "refund_too_late": ("払い戻しの期限を過ぎています。", "The time for a refund has passed."),
    "not_refundable": ("この取引は払い戻しできません。", "This payment cannot be refunded here."),
    "refund_not_today": (
        "払い戻しは当日の取引だけです。市区町村の窓口にご相談ください。",
        "Only today's payments can be refunded here. Please ask your municipal office.",
    ),
    "not_this_card": (
        "お支払いに使ったカードを置いてください。",
        "Please place the card that paid.",
    ),
    # the resident's own affairs: services, partners, coupons
    "no_service": (
        "このお店には登録できるサービスがありません。",
        "This place has no service to link.",
    ),
    "invalid_service_id": (
        "会員番号は半角の英数字で入力してください。",
        "Enter the member number in letters and digits.",
    ),
    "service_exists": (
        "このサービスはもう登録されています。",
        "This service is linked already.",
    ),
    "member_taken": (
        "この会員番号は別のマイキーIDに登録されています。係の者にお申し出ください。",
        "This member number is linked to another MyKey ID. Please ask staff.",
    ),
    "unknown_partner": (
        "提携先のコードが違います。カードや案内の表記をご確認ください。",
        "There is no partner with this code. Please check it.",
    ),
    "invalid_partner": (
        "提携先コードは、カードや案内に書かれた英字と数字で入力してください。",
        "Enter the partner code in letters and digits, as on its card or leaflet.",
    ),
    "invalid_member": (
        "提携先の会員番号の形が違います。もう一度入力してください。",
        "That is not a member number of this partner. Please enter it again.",
    ),
    "partner_revoked": (
        "この提携先とはただいま連携できません。",
        "This partner cannot be linked now.",
    ),
    "invalid_coupon_code": (
        "クーポンコードの形が違います。もう一度入力してください。",
        "That is not a coupon code. Please enter it again.",
    ),
    "coupon_typo": (
        "クーポンコードに打ち間違いがあります。もう一度入力してください。",
        "The coupon code has a typo. Please enter it again.",
    ),
    "coupon_unknown": ("このクーポンコードはありません。", "There is no such coupon code."),
    "unknown_code": ("このクーポンコードはありません。", "There is no such coupon code."),
    "coupon_used": ("このクーポンはもう使われています。", "This coupon has been used."),
    "coupon_expired": ("このクーポンは有効期限が切れています。", "This coupon has expired."),
    "coupon_cancelled": ("このクーポンは取り消されています。", "This coupon was cancelled."),
    "too_many_attempts": (
        "続けてまちがえたため、しばらくお待ちください。",
        "Too many wrong tries: please wait a while.",
    ),
    # paper vouchers
    "no_scanner": (
        "この端末には読み取り用のカメラがありません。",
        "This terminal has no camera to read vouchers.",
    ),
    "no_code_found": (
        "QRコードが読み取れませんでした。券をカメラに向けて、もう一度お試しください。",
        "No QR code was read. Hold the voucher up to the camera and try again.",
    ),
    "camera_unavailable": (
        "カメラが使えません。係の者をお呼びください。",
        "The camera is not working. Please call a member of staff.",
    ),
    "camera_lost": (
        "カメラが使えません。係の者をお呼びください。",
        "The camera is not working. Please call a member of staff.",
    ),
    "voucher_used": ("この券はもう使われています。", "This voucher has been used."),
    "voucher_expired": ("この券は有効期限が切れています。", "This voucher has expired."),
    "voucher_voided": ("この券は無効です。", "This voucher is void."),
    "voucher_not_yet_valid": ("この券はまだ使えません。", "This voucher is not valid yet."),
    # offline
    "offline_limit": (
        "ネットワークにつながっていないため、この金額は受け付けられません（上限 {limit}ポイント）。",
        "The network is down: this amount cannot be taken now (limit {limit} points).",
    ),
    "offline_too_long": (
        "ネットワークに長くつながっていないため、受け付けられません。係の者をお呼びください。",
        "The network has been down too long: payments are stopped. Please call staff.",
    ),
    "offline_crl_too_old": (
        "カードの確認情報が古いため、受け付けられません。係の者をお呼びください。",
        "The card check data is too old: payments are stopped. Please call staff.",
    ),
    "offline_not_possible": (
        "ネットワークにつながっていないため、ただいまご利用いただけません。",
        "The network is down: this cannot be done just now.",
    ),
    "server_unreachable": (
        "ネットワークにつながっていません。",
        "The network is not reachable.",
    ),
    # the printer
    "offline": (
        "レシートを印刷できませんでした（プリンタ）。取引は完了しています。再印刷できます。",
        "The receipt could not be printed (printer). The payment is done; it can be reprinted.",
    ),
    "code_not_printed": (
        "コードを画面に表示しています。書き写してください。他の人には見せないでください。",
        "The code is shown here instead: please copy it down, and show it to nobody else.",
    ),
    "paper_out": (
        "レシートの紙がありません。取引は完了しています。紙を入れて再印刷してください。",
        "The printer is out of paper. The payment is done; add paper and reprint.",
    ),
}

GENERIC = (
    "処理できませんでした。係の者をお呼びください。",
    "This could not be done. Please call a member of staff.",
)


class _Details(dict[str, Any]):
    """Details to fill in; one the wording wants and the error did not carry shows as '…'."""

    def __missing__(self, key: str) -> str:
        return "…"


#: A paper voucher the terminal's check refused for a reason the resident cannot act on
#: (its signature, its key, its encoding): one line for all of them.
VOUCHER_REFUSED = (
    "この券は使えません。係の者にお申し出ください。",
    "This voucher cannot be used. Please ask a member of staff.",
)


def message(code: str, /, **details: Any) -> dict[str, str]:
    """The counter's words for ``code``: ``{"ja": ..., "en": ...}`` (a generic line if unknown)."""
    fallback = (
        VOUCHER_REFUSED if code.startswith(("voucher_", "invalid_voucher", "not_a_voucher")) else GENERIC
    )
    ja, en = MESSAGES.get(code, fallback)
    values = _Details(details)
    return {"ja": ja.format_map(values), "en": en.format_map(values)}
