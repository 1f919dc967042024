"""Shopping-street points migrated into a municipality's points."""
