"""Municipalities on the platform and their point codes."""
