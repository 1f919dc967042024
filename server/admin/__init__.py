"""mkp-admin's commands, one module per part of the platform (``server/admin_cli.py`` joins them)."""
