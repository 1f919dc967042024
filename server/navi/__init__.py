"""自治体ポイントナビ (Point Navi): where a town's points are used, public, for any browser or phone.

Why: the 2017 system's Navi ran only in Internet Explorer 11 with a card reader; a resident
could not even look up whether their town takes part. Navi answers, without a login, for every
one of the 1,965 rows of MIC's list: a municipality on the platform shows its point codes and
their rules in plain words, its places with addresses, events, rewards, premium campaigns and
whether it takes paper vouchers; one that is not on says so. The partners page gives their
rates and hold days. Each page also answers JSON.

Parts: ``search`` (the kana-aware search over the shipped list), ``directory`` (the public reads
from the ledger), ``words`` (rules as sentences), ``pages`` (the blueprint).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Serve Navi's pages under /navi/."""
    from server.navi.pages import bp

    app.register_blueprint(bp)
