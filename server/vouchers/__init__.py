"""Paper point vouchers: the server's voucher keys, issuing, printing's outcome,
redeeming once, expiry. ``keys`` and ``service`` know no HTTP; ``api`` and ``phone`` are the
blueprints."""
