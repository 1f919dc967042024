"""The API's OpenAPI document read for people: endpoints grouped by tag, each with its auth.

Why built from ``app.api_doc`` and not written by hand: that document is generated from the
models that validate the requests, so this page lists exactly what the server answers, and
cannot fall behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
UNTAGGED = "other"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    auth: tuple[str, ...]
    """The security schemes that may authenticate the call; empty: no scheme (public, or a card proof)."""


@dataclass
class TagGroup:
    name: str
    description: str
    endpoints: list[Endpoint] = field(default_factory=list)


@dataclass(frozen=True)
class Scheme:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class ApiGuide:
    title: str
    version: str
    groups: list[TagGroup]
    schemes: list[Scheme]

    @property
    def endpoints(self) -> int:
        return sum(len(g.endpoints) for g in self.groups)


def api_guide(doc: dict[str, Any]) -> ApiGuide:
    """The document's endpoints by tag (in the document's tag order), and its auth schemes."""
    groups = {t["name"]: TagGroup(t["name"], t.get("description", "")) for t in doc.get("tags", [])}
    for path, operations in sorted(doc.get("paths", {}).items()):
        for method in METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or [UNTAGGED])[0]
            group = groups.setdefault(tag, TagGroup(tag, ""))
            group.endpoints.append(_endpoint(method, path, operation))
    schemes = [
        Scheme(name, _scheme_kind(scheme), scheme.get("description", ""))
        for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items()
    ]
    info = doc.get("info", {})
    return ApiGuide(
        info.get("title", ""),
        str(info.get("version", "")),
        [g for g in groups.values() if g.endpoints],
        schemes,
    )


def _endpoint(method: str, path: str, operation: dict[str, Any]) -> Endpoint:
    auth = tuple(name for requirement in operation.get("security") or [] for name in requirement)
    summary = operation.get("summary") or operation.get("description", "").split("\n")[0]
    return Endpoint(method.upper(), path, summary, auth)


def _scheme_kind(scheme: dict[str, Any]) -> str:
    if scheme.get("type") == "http":
        return f"HTTP {scheme.get('scheme', '')}".strip()
    if scheme.get("type") == "apiKey":
        return f"{scheme.get('in', '')} {scheme.get('name', '')}".strip()
    return str(scheme.get("type", ""))
