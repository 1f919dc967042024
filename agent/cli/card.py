"""`mkp-agent card ...`: read and check a My Number card (filled in by the card issue)."""

import click


@click.group()
def card() -> None:
    """Read and check the My Number card in the reader."""
