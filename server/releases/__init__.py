"""Agent software releases: published by the operator (signed), fetched and verified by terminals."""
