"""The web kernel every domain's blueprints stand on, and which knows no domain.

It holds what any endpoint needs whatever it does: the request's engine and config, the one
error shape and its handlers, JSON bodies, body limits, ETags, request ids in the logs, and
shortcuts that answer a request-free GET before Flask (``shortcuts``). A domain
(its tables, services and blueprints) lives in its own package and plugs in with ``init_app``;
nothing here imports one, so a new domain never edits this package.
"""
