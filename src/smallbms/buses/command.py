"""The ``smallbms scan`` command (added to the CLI by :mod:`smallbms.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None, help="A run configuration: devices with a key in its [bus] table are "
                                 "shown as configured.")
@click.option("--seconds", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="How long to listen (0: until Ctrl-C).")
@click.option("--record", "record_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write every advert received to FILE, one JSON line each, "
                                 "for `[bus] replay`.")
def scan(config_file: Path | None, seconds: float, record_file: Path | None) -> None:
    """List the Victron Bluetooth devices in range (address, kind, signal, key configured)."""
    from smallbms.buses.scan import configured_keys
    from smallbms.buses.scan import scan as listen
    from smallbms.errors import ConfigError

    try:
        keys = configured_keys(config_file)
        if record_file is None:
            listen(seconds, keys, None, click.echo)
        else:
            with record_file.open("w", encoding="utf-8") as f:
                listen(seconds, keys, f, click.echo)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except OSError as e:
        click.echo(f"error: {record_file}: {e.strerror or e}", err=True)
        sys.exit(2)
