"""Japan's local government codes (MIC, 2024-01-01 edition), shipped with the package."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from mkp_core.ids import InvalidId, validate_municipality_code


@dataclass(frozen=True)
class MunicipalityInfo:
    code: str
    prefecture: str
    name: str
    kana: str
    kind: str


@cache
def all_municipalities() -> dict[str, MunicipalityInfo]:
    """Every code in the shipped list, keyed by code (loaded once)."""
    text = resources.files("mkp_core").joinpath("data/municipalities.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return {
        r["code"]: MunicipalityInfo(r["code"], r["prefecture"], r["name"], r["kana"], r["kind"]) for r in rows
    }


def lookup_municipality(code: str) -> MunicipalityInfo:
    """The municipality with this code; ``InvalidId`` if malformed or not in MIC's list."""
    validate_municipality_code(code)
    info = all_municipalities().get(code)
    if info is None:
        raise InvalidId("unknown_municipality", f"municipality code {code} is not in MIC's list")
    return info
