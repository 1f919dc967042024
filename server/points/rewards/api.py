"""HTTP for special rewards: offer one, claim one, the claims list; and the public listing."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import dates, wire
from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform import authority
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.points import holders, resident_points, schemas
from server.points.rewards import service
from server.web.context import Json, View, caller_key, config, engine, error_responses, limit_body

bp = APIBlueprint("rewards", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
# The Point Navi page lists rewards for anyone: no token, nothing but the offers.
public_bp = APIBlueprint("public_rewards", __name__, url_prefix="/v1/public")
tag = Tag(name="rewards", description="Special rewards (特典): offers, claims")
ERRORS = error_responses(401, 403, 404, 409, 422)


@public_bp.before_request
def limit_public_body() -> None:
    limit_body(config().max_request_bytes)


@bp.post("/rewards", tags=[tag], responses={201: schemas.Reward, **ERRORS})
def add_reward(body: schemas.RewardCreate) -> View:
    """Offer a reward: its price in points, stock, period and limit per holder."""
    op = operator()
    offer = {
        **body.model_dump(exclude={"client_id", "code", "municipality"}),
        "starts_at": dates.parse_instant(body.starts_at),
        "ends_at": dates.parse_instant(body.ends_at),
    }
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"rewards.add:{op.name}",
        body.model_dump(),
        lambda conn: service.add_reward(conn, op, body.code, body.municipality, offer),
    )


@bp.get("/rewards", tags=[tag], responses={200: schemas.RewardList, **ERRORS})
def list_rewards() -> View:
    """Every reward with its stock and claims count (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"rewards": service.list_rewards(conn, op)}


@bp.post("/rewards/<code>/claims", tags=[tag], responses={201: wire.Claim, **ERRORS})
def claim(path: schemas.RewardPath, body: schemas.ClaimCreate) -> View:
    """A correction: the central operator claims one for a resident on their behalf, with a
    ``reason``: atomic (the last item is never claimed twice); a claim number back. A scoped
    operator is refused (``out_of_scope``)."""
    proof = authority.OperatorCorrection(operator(), body.reason)
    authority.require_correction(proof.operator, proof.reason)

    def work(conn: Connection) -> Json:
        holder = holders.find(conn, body.mykey_id)
        service.get_reward(conn, path.code, proof.operator)
        return resident_points.claim(conn, holder, proof, caller_key(body.client_id), path.code)

    return run_write(engine(), work), 201


@bp.get("/rewards/<code>/claims", tags=[tag], responses={200: schemas.RewardClaims, **ERRORS})
def claims(path: schemas.RewardPath) -> View:
    """The municipality's list of claims of a reward."""
    op = operator()
    with read(engine()) as conn:
        return service.claims(conn, op, path.code)


@public_bp.get("/rewards", tags=[tag], responses={200: schemas.PublicRewardList})
def public_rewards() -> View:
    """Rewards on offer or coming (for the Point Navi page): no claims, no holders."""
    with read(engine()) as conn:
        offers = service.list_rewards(conn, None, datetime.now(UTC))
    return {"rewards": [service.public_view(r) for r in offers]}
