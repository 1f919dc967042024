"""Settlement (会計データ連携): closing a municipality's month and its statement."""
