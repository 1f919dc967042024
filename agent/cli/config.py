"""`mkp-agent config ...`: device profiles and terminal configuration (filled in by the terminals issue)."""

import click


@click.group()
def config() -> None:
    """Validate device profiles and terminal configuration."""
