"""Points: point-code rules and agreements, spending at places and refunds, price lists, balances
with their expiry, and the expiry sweep. Expiry lots themselves live in the ledger."""
