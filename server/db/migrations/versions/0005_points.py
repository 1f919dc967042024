"""Municipal points: expiry lots and their moves, point rules (versioned) and たすきがけ agreements,
departments with budgets (account floors), grant kinds, grants and CSV batches, price lists,
event pools and supporters, special rewards and their claims, transit exchanges.

Wallets that hold points already get one lot each for their balance, never expiring, so that
the lots sum to the balances from the first day.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("remaining > 0")


def upgrade() -> None:
    op.add_column("accounts", sa.Column("floor", sa.BigInteger, nullable=True))
    _lots()
    _rules()
    _departments_and_grants()
    _places_events_rewards_transit()
    _make_lot_moves_append_only()
    _carry_balances_over_into_lots()


def _lots() -> None:
    op.create_table(
        "lots",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
    )
    op.create_index("ix_lots_account", "lots", ["account_id", "expires_at"])
    op.create_index(
        "ix_lots_open_by_expiry", "lots", ["expires_at"], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.create_index("ix_lots_transfer", "lots", ["transfer_id"])
    op.create_table(
        "lot_moves",
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), primary_key=True),
        sa.Column("lot_id", Id, sa.ForeignKey("lots.id"), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
    )


def _rules() -> None:
    op.create_table(
        "point_rules",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("place_kinds", sa.String(128), nullable=False),
        sa.Column("expiry_policy", sa.String(16), nullable=False),
        sa.Column("expiry_count", sa.Integer, nullable=True),
        sa.Column("expiry_date", sa.Date, nullable=True),
        sa.Column("min_amount", sa.BigInteger, nullable=False),
        sa.Column("max_amount", sa.BigInteger, nullable=True),
        sa.Column("vouchers", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("point_code", "effective_from", name="uq_point_rules_point_code_effective_from"),
    )
    op.create_table(
        "point_rule_places",
        sa.Column("rule_id", Id, sa.ForeignKey("point_rules.id"), primary_key=True),
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), primary_key=True),
    )
    op.create_table(
        "agreements",
        sa.Column("points_of", sa.String(6), sa.ForeignKey("municipalities.code"), primary_key=True),
        sa.Column("usable_in", sa.String(6), sa.ForeignKey("municipalities.code"), primary_key=True),
        sa.Column("points_of_recorded_at", TS, nullable=True),
        sa.Column("usable_in_recorded_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("ended_by", sa.String(6), nullable=True),
    )


def _departments_and_grants() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "grant_kinds",
        sa.Column("department_id", sa.String(40), sa.ForeignKey("departments.id"), primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("max_amount", sa.BigInteger, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "grant_batches",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("file_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("department_id", sa.String(40), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("filename", sa.String(200), nullable=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("holders", sa.Integer, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), primary_key=True),
        sa.Column("department_id", sa.String(40), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("grant_kind", sa.String(32), nullable=False),
        sa.Column("batch_id", Id, sa.ForeignKey("grant_batches.id"), nullable=True),
        sa.Column("line", sa.Integer, nullable=True),
    )
    op.create_index("ix_grants_department_kind", "grants", ["department_id", "grant_kind"])


def _places_events_rewards_transit() -> None:
    op.create_table(
        "price_items",
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), primary_key=True),
        sa.Column("organiser", sa.String(40), sa.ForeignKey("places.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("handed_over_at", TS, nullable=True),
        sa.Column("handover_transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=True),
    )
    op.create_table(
        "event_supports",
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), primary_key=True),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("events.point_code"), nullable=False),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("nickname", sa.String(32), nullable=True),
    )
    op.create_index("ix_event_supports_point_code", "event_supports", ["point_code"])
    op.create_table(
        "rewards",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(400), nullable=True),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("claimed", sa.Integer, nullable=False),
        sa.Column("per_holder", sa.Integer, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("claimed >= 0 AND claimed <= stock", name="claimed_within_stock"),
    )
    op.create_table(
        "reward_claims",
        sa.Column("claim_number", sa.String(48), primary_key=True),
        sa.Column("reward_code", sa.String(32), sa.ForeignKey("rewards.code"), nullable=False),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=False, unique=True),
        sa.Column("claimed_at", TS, nullable=False),
    )
    op.create_index("ix_reward_claims_reward_mykey", "reward_claims", ["reward_code", "mykey"])
    op.create_table(
        "transit_exchanges",
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), primary_key=True),
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), nullable=False),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_transit_exchanges_place_created", "transit_exchanges", ["place_id", "created_at"])


def _make_lot_moves_append_only() -> None:
    """Which lots a transfer moved is history too: the database refuses UPDATE and DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION mkp_lot_moves_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'lot moves are append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER lot_moves_append_only BEFORE UPDATE OR DELETE ON lot_moves "
            "FOR EACH ROW EXECUTE FUNCTION mkp_lot_moves_append_only()"
        )
        op.execute(
            "CREATE TRIGGER lot_moves_no_truncate BEFORE TRUNCATE ON lot_moves "
            "FOR EACH STATEMENT EXECUTE FUNCTION mkp_lot_moves_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER lot_moves_no_{action.lower()} BEFORE {action} ON lot_moves "
                "BEGIN SELECT RAISE(ABORT, 'lot moves are append-only'); END"
            )


def _carry_balances_over_into_lots() -> None:
    op.execute(
        "INSERT INTO lots (account_id, transfer_id, expires_at, amount, remaining) "
        "SELECT id, NULL, NULL, credits_posted - debits_posted, credits_posted - debits_posted "
        "FROM accounts WHERE kind = 'wallet' AND credits_posted - debits_posted > 0 ORDER BY id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS lot_moves_no_truncate ON lot_moves")
        op.execute("DROP TRIGGER IF EXISTS lot_moves_append_only ON lot_moves")
        op.execute("DROP FUNCTION IF EXISTS mkp_lot_moves_append_only()")
    for table in (
        "transit_exchanges",
        "reward_claims",
        "rewards",
        "event_supports",
        "events",
        "price_items",
        "grants",
        "grant_batches",
        "grant_kinds",
        "departments",
        "agreements",
        "point_rule_places",
        "point_rules",
        "lot_moves",
        "lots",
    ):
        op.drop_table(table)
    op.drop_column("accounts", "floor")
