"""Paper point vouchers (issue 12): the server's voucher keys, issuing, printing's outcome,
redeeming once, expiry. ``keys`` and ``service`` know no HTTP; ``api`` and ``phone`` are the
blueprints."""
