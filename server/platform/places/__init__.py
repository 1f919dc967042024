"""Places: the shops, counters and offices where terminals stand, each of one municipality."""
