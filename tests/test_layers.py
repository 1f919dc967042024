"""Dependencies run one way: the import-linter contracts in setup.cfg hold for the code as it is.

A wrong import (drivers importing the agent, mkp_core importing the server, certcheck and crl
importing each other, a kiosk module pulling in Flask...) fails this test with the offending
import chain. The rules themselves are in setup.cfg, section ``[importlinter]``; run them alone
with ``.venv/bin/lint-imports``.
"""

from __future__ import annotations

import configparser
import logging
import sys
from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[1]
SETUP_CFG = ROOT / "setup.cfg"


def test_every_import_contract_is_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Under pytest, ``server`` may be the namespace package of tests/server (pytest's pythonpath
    # puts tests/ first): let the linter find the project's own packages, as lint-imports does.
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(
        sys, "path", [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "tests")]
    )
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    for package in config["importlinter"]["root_packages"].split():
        monkeypatch.delitem(sys.modules, package, raising=False)

    # lint_imports configures logging with dictConfig, which disables every logger that exists
    # already (the server's among them): tests after this one would then see no log lines.
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg: lg.disabled for lg in loggers}
    try:
        status = lint_imports(config_filename=str(SETUP_CFG), no_cache=True, no_logo=True)
    finally:
        for logger, was in disabled.items():
            logger.disabled = was

    report = capsys.readouterr().out
    assert status == EXIT_STATUS_SUCCESS, report
    assert " 0 broken" in report
