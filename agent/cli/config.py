"""`mkp-agent config ...`: device profiles and terminal configuration.

Exit codes: 0 all good, 1 a profile is invalid or unknown (one line per problem on stderr),
2 usage error (click's own: missing argument, no such file).
"""

import sys

import click

from drivers.profiles import ProfileError, load_printer_profile, load_profile, printer_memory_plan


@click.group()
def config() -> None:
    """Validate device profiles and terminal configuration."""


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check profile FILES against the schema; print one line per problem."""
    failed = False
    for name in files:
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            failed = True
            for line in exc.errors:
                click.echo(line, err=True)
            continue
        click.echo(f"{name}: ok ({profile.kind} {profile.id})")
    sys.exit(1 if failed else 0)


@config.command("show-printer-settings")
@click.argument("profile")
def show_printer_settings(profile: str) -> None:
    """Show what provisioning would write into the memory of the PROFILE printer (id or file).

    Nothing is sent to any printer: this is the preview a technician confirms first.
    """
    try:
        printer = load_printer_profile(profile)
    except ProfileError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(1)
    click.echo(
        f"{printer.vendor} {printer.model} ({printer.id}; python-escpos profile {printer.escpos_profile})"
    )
    plan = printer_memory_plan(printer)
    if not plan:
        click.echo("No settings are written into this printer's memory by provisioning.")
        return
    click.echo("Provisioning would write into the printer's memory:")
    width = max(len(name) for name, _, _ in plan)
    for name, value, how in plan:
        click.echo(f"  {name:<{width}}  {value:<8}  ({how})")
    click.echo("Nothing has been written yet.")
