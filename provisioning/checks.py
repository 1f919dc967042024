"""The technician's checklist. The checks live in :mod:`agent.checklist`: the agent's connection
test runs the same ones, and provisioning stands on the agent, never the reverse."""

from agent.checklist import (
    CLOCK_FAIL,
    CLOCK_WARN,
    PING_FIXES,
    PRINTER_SPEC_HELP,
    CheckResult,
    check_clock,
    check_crl,
    check_downloads,
    check_ping,
    check_printer,
    check_reader,
    check_server,
    format_checklist,
    passed,
    server_time,
)

__all__ = [
    "CLOCK_FAIL",
    "CLOCK_WARN",
    "PING_FIXES",
    "PRINTER_SPEC_HELP",
    "CheckResult",
    "check_clock",
    "check_crl",
    "check_downloads",
    "check_ping",
    "check_printer",
    "check_reader",
    "check_server",
    "format_checklist",
    "passed",
    "server_time",
]
