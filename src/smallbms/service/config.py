"""The `smallbms run` configuration: a TOML file, command-line overrides, strict validation.

```toml
[run]
scenario = "my-system.toml"   # the twin scenario the bank comes from (default: the built-in
                              # twin of the manual's first system example)
tick_s = 1.0                  # control period, 0.1-10 s
speed = 1.0                   # simulated seconds per real second (twin only), 0.01-10000
host = "127.0.0.1"
port = 8080
data_dir = "~/.local/share/smallbms"
sample_every_s = 10.0         # time-series sample period (simulated seconds)
bus_delay_s = 0.0             # twin: simulated seconds after each start before the batteries
                              # answer on the bus (0: from the first tick)
```
Every key is optional. The file is checked against the models of :mod:`smallbms.config` (the
``[run]`` table, ``[bus]`` (where the readings come from, docs/bus-*.md) and the integration
tables ``[mqtt]``, ``[can]``, ``[gpio]``, ``[instant_readout]`` and ``[venus]``; see docs/mqtt.md,
docs/canbus.md, docs/gpio-wiring.md, docs/instant-readout.md and docs/venus-os.md): unknown keys
are refused with "did you mean", and every problem is a
:class:`~smallbms.errors.ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smallbms.config.integrations import INTEGRATION_TABLES, GpioConfigError, GpioTable
from smallbms.config.run import RunFile, RunTable
from smallbms.errors import ConfigError
from smallbms.schema import first_problem

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "INTEGRATION_TABLES",
    "RunConfig",
    "apply_values",
    "default_data_dir",
    "load_config",
]

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"


def default_data_dir() -> Path:
    """The user's data directory: $XDG_DATA_HOME/smallbms, else ~/.local/share/smallbms."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smallbms"


@dataclass(frozen=True)
class RunConfig:
    scenario: Path | None = None
    tick_s: float = 1.0
    speed: float = 1.0
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    sample_every_s: float = 10.0
    bus_delay_s: float = 0.0
    #: validated integration configs by table name (absent = not configured)
    integrations: tuple[tuple[str, Any], ...] = ()
    #: the ``[bus]`` table (:class:`smallbms.buses.config.BusTable`); None = the twin
    bus: Any = None

    def integration(self, name: str) -> Any:
        """The validated config of one integration table, or None."""
        return dict(self.integrations).get(name)

    @property
    def data_path(self) -> Path:
        return (self.data_dir or default_data_dir()).expanduser()


def _with_run_table(cfg: RunConfig, run: RunTable) -> RunConfig:
    return replace(cfg, **{key: getattr(run, key) for key in run.model_fields_set})


def apply_values(cfg: RunConfig, values: dict[str, Any], where: str, base: Path) -> RunConfig:
    """Validate and apply ``values`` (from a file's [run] table or the command line); ``None``
    values are not given. Relative paths are taken from ``base``."""
    given = {key: value for key, value in values.items() if value is not None}
    try:
        run = RunTable.model_validate(given, context={"base": base})
    except ValidationError as exc:
        key, message = first_problem(exc)
        raise ConfigError(f"{where}: {key}: {message}") from None
    return _with_run_table(cfg, run)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except (ValueError, RecursionError) as e:  # an integer too long, nesting too deep
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """Defaults, then the file's [run] table, then command-line overrides."""
    cfg = RunConfig()
    if path is not None:
        data = _read(path)
        try:
            checked = RunFile.model_validate(data, context={"base": path.parent})
        except ValidationError as exc:
            key, message = first_problem(exc)
            raise ConfigError(f"{path}: {key}: {message}") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply") from None
        if checked.run is not None:
            cfg = _with_run_table(cfg, checked.run)
        found: list[tuple[str, Any]] = []
        for name in INTEGRATION_TABLES:
            table = getattr(checked, name)
            if isinstance(table, GpioTable):
                try:
                    table = table.config("gpio")
                except GpioConfigError as e:  # "gpio: pins.remote: ..."
                    raise ConfigError(f"{path}: {str(e).replace(': ', '.', 1)}") from None
            if table is not None:
                found.append((name, table))
        bus = checked.bus
        if bus is not None and bus.replay is not None and not Path(bus.replay).is_absolute():
            bus = bus.model_copy(update={"replay": str(path.parent / bus.replay)})
        cfg = replace(cfg, integrations=tuple(found), bus=bus)
    return apply_values(cfg, overrides, "command line", Path.cwd())
