"""municipalities."""
