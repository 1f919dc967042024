"""Operators: people and systems that run the platform, authenticated by bearer tokens."""
