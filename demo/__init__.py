"""`mkp-demo`: the whole system end to end on SQLite, with no set-up."""
