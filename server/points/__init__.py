"""Points: grants from a municipality's budget, spends at payees, balances, reversals."""
