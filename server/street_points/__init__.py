"""Shopping-street points migrated into a municipality's points (#10 item 6)."""
