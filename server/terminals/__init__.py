"""Terminals: places, enrollment codes, the terminal CA, signed requests, downloads."""
