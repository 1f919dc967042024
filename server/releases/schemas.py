"""Request and response schemas of agent releases.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    ClientId,
    FileName,
    Memo,
    Out,
    ReleaseFileInfo,
    ReleaseVersion,
    Strict,
)


class ReleasePublish(Strict):
    client_id: ClientId
    manifest: Annotated[str, Field(min_length=1, description="manifest.json, base64")]
    signature: Annotated[str, Field(min_length=1, max_length=200, description="Ed25519 signature, base64")]
    files: Annotated[
        dict[FileName, str], Field(min_length=1, max_length=32, description="name -> base64 content")
    ]


class ReleaseInfo(Out):
    version: str
    created: str
    files: list[ReleaseFileInfo]
    published_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None


class ReleaseList(Out):
    releases: list[ReleaseInfo]


class ReleasePath(Strict):
    version: ReleaseVersion


class ReleaseWithdraw(Strict):
    """Stop offering a release to terminals; the newest remaining one is offered instead."""

    client_id: ClientId
    reason: Memo | None = None


class ReleaseDownload(Out):
    version: str
    manifest: str
    signature: str


class ReleaseFilePath(Strict):
    version: ReleaseVersion
    name: FileName
