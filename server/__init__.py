"""The central ledger server: MyKey registry, point ledger, terminals, downloads (Flask)."""
