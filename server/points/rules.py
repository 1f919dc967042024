"""A point code's rules: where its points may be spent, when they expire, how much one spend may
move, whether paper vouchers may be printed. Points are not money: each municipality decides.

Rules are versioned. A version applies from its ``effective_from`` (never a moment in the past)
until the next version's; nothing already spent is ever looked at again, and a lot keeps the
expiry the version in force at its credit gave it. A point code with no version recorded has
:data:`DEFAULT_RULE`: spendable at every place of its own municipality, never expiring, no
limit, no vouchers.

Where points are spendable: a place the rule lists, wherever it is (the antenna shop in Tokyo);
or a place of one of the rule's kinds in the point code's own municipality, or in a
municipality that agreed to take them (たすきがけ, :mod:`server.points.agreements`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from mkp_core.dates import jst_date, last_valid_day
from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import PLACE_KINDS, point_code_municipality
from server.db.engine import chunked
from server.ledger.tables import point_codes
from server.platform import config_versions
from server.platform.operators.service import Operator
from server.platform.tables import places
from server.points.expiry_policy import ExpiryPolicy
from server.points.tables import point_rule_places, point_rules


@dataclass(frozen=True)
class Rule:
    point_code: str
    version: int | None = None  # None: no version recorded, the default applies
    effective_from: datetime | None = None
    place_kinds: tuple[str, ...] = PLACE_KINDS
    places: tuple[str, ...] = ()
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    min_amount: int = 1
    max_amount: int | None = None
    vouchers: bool = False

    @property
    def municipality(self) -> str:
        return point_code_municipality(self.point_code)

    def allows(self, place: dict[str, Any], agreed: AbstractSet[tuple[str, str]]) -> bool:
        """May these points be spent at ``place``? ``agreed``: (points of, usable in) in force."""
        if place["id"] in self.places:
            return True
        if place["kind"] not in self.place_kinds:
            return False
        where = place["municipality"]
        return where == self.municipality or (self.municipality, where) in agreed

    def check_amount(self, amount: int) -> None:
        """Refuse a spend below the rule's minimum or above its maximum (per transaction)."""
        if amount < self.min_amount:
            raise MkpError(
                "below_minimum",
                f"{self.point_code} points are spent {self.min_amount} or more at a time",
                details=[{"min_amount": self.min_amount}],  # a counter names it to the resident
            )
        if self.max_amount is not None and amount > self.max_amount:
            raise MkpError(
                "above_maximum",
                f"{self.point_code} points are spent at most {self.max_amount} at a time",
                details=[{"max_amount": self.max_amount}],  # a counter names it to the resident
            )

    def expires_at(self, credited_at: datetime) -> datetime | None:
        """The expiry of points credited now; refused once a fixed last day has passed."""
        expires = self.expiry.expires_at(credited_at)
        if expires is not None and expires <= credited_at:
            raise Conflict(
                "point_code_expired",
                f"{self.point_code} points expire after {last_valid_day(expires)}: none can be granted now",
            )
        return expires

    def to_dict(self) -> dict[str, Any]:
        return {
            "point_code": self.point_code,
            "version": self.version,
            "effective_from": self.effective_from,
            "place_kinds": list(self.place_kinds),
            "places": list(self.places),
            "expiry": self.expiry.to_dict(),
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
            "vouchers": self.vouchers,
        }


def default_rule(point_code: str) -> Rule:
    return Rule(point_code)


@dataclass(frozen=True)
class RuleChange:
    """A new version as an operator asks for it (``effective_from`` None: from now)."""

    effective_from: datetime | None
    place_kinds: Sequence[str]
    places: Sequence[str]
    expiry: ExpiryPolicy
    min_amount: int
    max_amount: int | None
    vouchers: bool


def add_rule(
    conn: Connection, op: Operator, point_code: str, change: RuleChange, now: datetime | None = None
) -> Rule:
    """Record a new version of ``point_code``'s rules; refused if dated in the past."""
    now = now or datetime.now(UTC)
    op.require_scope(point_code_municipality(point_code))
    _require_point_code(conn, point_code)
    effective = change.effective_from or now
    if effective < now:
        raise MkpError(
            "rule_in_past",
            f"a rule change cannot apply from {effective.isoformat()}, which is past: "
            "give a later date, or none to apply it from now on",
        )
    _check_change(conn, change, effective)
    if conn.execute(
        select(point_rules.c.id).where(
            point_rules.c.point_code == point_code, point_rules.c.effective_from == effective
        )
    ).first():
        raise Conflict("rule_exists", f"{point_code} has a rule version from {effective.isoformat()} already")
    version = conn.execute(
        insert(point_rules)
        .values(
            point_code=point_code,
            effective_from=effective,
            place_kinds=",".join(sorted(set(change.place_kinds), key=PLACE_KINDS.index)),
            expiry_policy=change.expiry.policy,
            expiry_count=change.expiry.count,
            expiry_date=change.expiry.last_day,
            min_amount=change.min_amount,
            max_amount=change.max_amount,
            vouchers=change.vouchers,
            created_by=op.actor,
            created_at=now,
        )
        .returning(point_rules.c.id)
    ).scalar_one()
    if change.places:
        conn.execute(
            insert(point_rule_places),
            [{"rule_id": version, "place_id": p} for p in sorted(set(change.places))],
        )
    config_versions.bump(conn, now)  # terminals' configs list the codes spendable at their place
    return _versions(conn, [point_code], point_rules.c.id == version)[point_code][0]


def _check_change(conn: Connection, change: RuleChange, effective: datetime) -> None:
    unknown_kinds = sorted(set(change.place_kinds) - set(PLACE_KINDS))
    if unknown_kinds:
        raise MkpError("invalid_place_kind", f"no place kind {unknown_kinds[0]!r}: {', '.join(PLACE_KINDS)}")
    if not change.place_kinds and not change.places:
        raise MkpError(
            "nowhere_to_spend", "a rule must name place kinds or places where the points are spent"
        )
    known = _existing_places(conn, set(change.places))
    missing = sorted(set(change.places) - known)
    if missing:
        raise NotFound("unknown_place", f"no place {missing[0]}")
    if change.max_amount is not None and change.max_amount < change.min_amount:
        raise MkpError(
            "invalid_limits", f"the maximum {change.max_amount} is below the minimum {change.min_amount}"
        )
    last = change.expiry.last_day
    if last is not None and last < jst_date(effective):
        raise MkpError("invalid_expiry", f"the fixed last day {last} is before the rule applies")


def rule_at(conn: Connection, point_code: str, at: datetime) -> Rule:
    """The version of ``point_code``'s rules in force at ``at``."""
    return rules_at(conn, [point_code], at)[point_code]


def rules_at(conn: Connection, codes: Iterable[str], at: datetime) -> dict[str, Rule]:
    """The version in force at ``at`` for each of ``codes`` (the default where none is recorded)."""
    wanted = sorted(set(codes))
    found = {code: default_rule(code) for code in wanted}
    for code, versions in _versions(conn, wanted, point_rules.c.effective_from <= at).items():
        found[code] = versions[-1]
    return found


def versions_of(conn: Connection, codes: Iterable[str]) -> dict[str, tuple[Rule, ...]]:
    """Every version of each of ``codes``' rules, oldest first, future ones included (none: a code
    with no version recorded): what :func:`in_force` picks from at any moment."""
    wanted = sorted(set(codes))
    found = {code: tuple(versions) for code, versions in _versions(conn, wanted).items()}
    return {code: found.get(code, ()) for code in wanted}


def in_force(point_code: str, versions: Sequence[Rule], at: datetime) -> Rule:
    """The version of ``versions`` (oldest first, :func:`versions_of`) in force at ``at``."""
    for rule in reversed(versions):
        if rule.effective_from is not None and rule.effective_from <= at:
            return rule
    return default_rule(point_code)


def history(conn: Connection, point_code: str) -> list[Rule]:
    """Every version of ``point_code``'s rules, oldest first (future ones included)."""
    _require_point_code(conn, point_code)
    return _versions(conn, [point_code]).get(point_code, [])


def _versions(conn: Connection, codes: Sequence[str], condition: Any = None) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for part in chunked(list(codes)):
        query = select(point_rules).where(point_rules.c.point_code.in_(part))
        if condition is not None:
            query = query.where(condition)
        rows = conn.execute(query.order_by(point_rules.c.point_code, point_rules.c.effective_from)).all()
        listed = _listed_places(conn, [r.id for r in rows])
        for r in rows:
            out.setdefault(r.point_code, []).append(_rule(r, listed.get(r.id, ())))
    return out


def _rule(row: Any, listed: Sequence[str]) -> Rule:
    return Rule(
        point_code=row.point_code,
        version=row.id,
        effective_from=row.effective_from,
        place_kinds=tuple(k for k in row.place_kinds.split(",") if k),
        places=tuple(listed),
        expiry=ExpiryPolicy(row.expiry_policy, row.expiry_count, _as_date(row.expiry_date)),
        min_amount=int(row.min_amount),
        max_amount=None if row.max_amount is None else int(row.max_amount),
        vouchers=bool(row.vouchers),
    )


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _listed_places(conn: Connection, rule_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for part in chunked(list(rule_ids)):
        for rule_id, place_id in conn.execute(
            select(point_rule_places.c.rule_id, point_rule_places.c.place_id)
            .where(point_rule_places.c.rule_id.in_(part))
            .order_by(point_rule_places.c.place_id)
        ):
            out.setdefault(rule_id, []).append(place_id)
    return {k: tuple(v) for k, v in out.items()}


def _existing_places(conn: Connection, ids: set[str]) -> set[str]:
    found: set[str] = set()
    for part in chunked(sorted(ids)):
        found.update(conn.execute(select(places.c.id).where(places.c.id.in_(part))).scalars())
    return found


def _require_point_code(conn: Connection, code: str) -> None:
    if conn.execute(select(point_codes.c.code).where(point_codes.c.code == code)).first() is None:
        raise NotFound("unknown_point_code", f"point code {code} does not exist")


def codes_spendable_at(
    conn: Connection, place: dict[str, Any], agreed: AbstractSet[tuple[str, str]], at: datetime
) -> list[str]:
    """The point codes whose rules in force at ``at`` let their points be spent at ``place``."""
    return codes_spendable_until(conn, place, agreed, at)[0]


def codes_spendable_until(
    conn: Connection, place: dict[str, Any], agreed: AbstractSet[tuple[str, str]], at: datetime
) -> tuple[list[str], datetime | None]:
    """:func:`codes_spendable_at`, and until when that answer holds without any write: the next
    ``effective_from`` after ``at`` of a version of any code that may be spendable at ``place``
    (None: no version is dated later). What else it reads changes only by a write."""
    municipalities = {place["municipality"]} | {points_of for points_of, _ in agreed}
    candidates = set(
        conn.execute(
            select(point_codes.c.code).where(point_codes.c.municipality_code.in_(sorted(municipalities)))
        ).scalars()
    )
    candidates |= set(
        conn.execute(
            select(point_rules.c.point_code)
            .join(point_rule_places, point_rule_places.c.rule_id == point_rules.c.id)
            .where(point_rule_places.c.place_id == place["id"])
        ).scalars()
    )
    in_force = rules_at(conn, candidates, at)
    codes = sorted(code for code, rule in in_force.items() if rule.allows(place, agreed))
    return codes, _next_version_after(conn, sorted(candidates), at)


def _next_version_after(conn: Connection, codes: Sequence[str], at: datetime) -> datetime | None:
    """The earliest ``effective_from`` after ``at`` among the versions of ``codes``."""
    found: list[datetime] = []
    for part in chunked(list(codes)):
        first = conn.execute(
            select(func.min(point_rules.c.effective_from)).where(
                point_rules.c.point_code.in_(part), point_rules.c.effective_from > at
            )
        ).scalar_one_or_none()
        if first is not None:
            found.append(first)
    return min(found, default=None)
