"""The nationwide simultaneous connection test (全国一斉同時アクセステスト): service and blueprint."""
