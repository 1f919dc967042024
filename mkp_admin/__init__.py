"""mkp-admin, the central operator's CLI: an HTTP client of the server, nothing more.

Its own package (not under ``server/``) so that an operator's machine installs it without the
server's libraries: it imports ``mkp_core`` only. One module per part of the platform;
``mkp_admin/cli.py`` joins them into the ``mkp-admin`` group.
"""
