"""Fixtures for provisioning: ``platform`` (the real server app in-process, with mkp-provision,
mkp-admin and mkp-agent run through click) and ``virtual_reader`` are shared with the MyKey
tests and live in tests/conftest.py; ``live_server`` is the same with real processes, for the
tests where a process is the point.
"""
