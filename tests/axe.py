"""axe-core run inside a page the browser tests opened: serious or critical faults fail the test.

axe-core comes from npm (tests/web_tools, installed by install.sh with ``npm ci``), never from a
CDN. It is evaluated through the DevTools protocol, so the page's Content-Security-Policy (no
inline script) stays on while it runs: the page is tested as its users get it.

    from axe import assert_no_serious_violations
    assert_no_serious_violations(page)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).with_name("web_tools") / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run ./install.sh (npm ci in tests/web_tools)")
    return AXE.read_text(encoding="utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on ``page`` as it is now (WCAG 2.1 A and AA rules, best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}
        })).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                  targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"""
    )
    return found


def assert_no_serious_violations(page: Any) -> None:
    """Fail with each serious or critical fault, its rule and where it is."""
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    assert not blocking, "axe-core found:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {', '.join(v['targets'])}" for v in blocking
    )
