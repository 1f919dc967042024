"""A browser's name as people recognise it ("Chrome · Android"), from its User-Agent string.

Why in the logins: a list of sessions or passkeys names each by the browser that made it, on My
Page and in the console alike; nothing here is kept but that short name.
"""

from __future__ import annotations

#: (token in the User-Agent, name shown), first match wins: Edge and Opera say "Chrome" too.
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_name(user_agent: str) -> str:
    """``Chrome · Android`` from a User-Agent string (what a resident recognises in a session list)."""
    browser = next((name for token, name in BROWSERS if token in user_agent), "")
    system = next((name for token, name in SYSTEMS if token in user_agent), "")
    return " · ".join(part for part in (browser, system) if part)
