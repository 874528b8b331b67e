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
Every key is optional; unknown keys are refused with the file and key named. The integrations
have tables of their own, validated by their modules: ``[mqtt]`` (integrations/mqtt.py),
``[can]`` (integrations/canbus.py), ``[gpio]`` (integrations/gpio.py) and ``[instant_readout]``
(integrations/instant_readout.py); see docs/mqtt.md, docs/canbus.md, docs/gpio-wiring.md and
docs/instant-readout.md.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smallbms.errors import ConfigError

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

    def integration(self, name: str) -> Any:
        """The validated config of one integration table, or None."""
        return dict(self.integrations).get(name)

    @property
    def data_path(self) -> Path:
        return (self.data_dir or default_data_dir()).expanduser()


_RANGES: dict[str, tuple[float, float]] = {
    "tick_s": (0.1, 10.0), "speed": (0.01, 10000.0), "sample_every_s": (0.1, 86400.0),
    "bus_delay_s": (0.0, 86400.0),
}


def _number(where: str, key: str, value: Any) -> float:
    # ints are always finite (and may be too large for math.isfinite): only floats are checked
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))):
        raise ConfigError(f"{where}: {key}: must be a number, got {value!r}")
    lo, hi = _RANGES[key]
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: {key}: {value!r} is out of range {lo:g}..{hi:g}")
    return float(value)


def apply_values(cfg: RunConfig, values: dict[str, Any], where: str, base: Path) -> RunConfig:
    """Validate and apply ``values`` (from a file's [run] table or the command line)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in _RANGES:
            out[key] = _number(where, key, value)
        elif key == "port":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ConfigError(f"{where}: port: must be a whole number 0-65535, got {value!r}")
            out[key] = value
        elif key == "host":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: host: must be a host name or address")
            out[key] = value
        elif key in ("scenario", "data_dir"):
            if not isinstance(value, str | Path) or not str(value):
                raise ConfigError(f"{where}: {key}: must be a path")
            p = Path(value).expanduser()
            out[key] = p if p.is_absolute() else base / p
        else:
            known = ", ".join(["scenario", "port", "host", "data_dir", *_RANGES])
            raise ConfigError(f"{where}: {key}: unknown key (known: {known})")
    return replace(cfg, **out)


INTEGRATION_TABLES = ("mqtt", "can", "gpio", "instant_readout")


def _parse_integration(name: str, table: Any, path: Path) -> Any:
    """Validate one integration table with its own module (imported only when configured)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name}: must be a table")
    if name == "mqtt":
        from smallbms.integrations.mqtt import MqttConfig

        return MqttConfig.from_table(table, str(path), path.parent)
    if name == "can":
        from smallbms.integrations.canbus import CanConfig

        return CanConfig.from_table(table, str(path))
    if name == "gpio":
        from smallbms.integrations.gpio import GpioConfig

        return GpioConfig.from_table(table, f"{path} [gpio]")
    from smallbms.integrations.instant_readout import InstantReadoutConfig

    return InstantReadoutConfig.from_table(table, str(path))


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """Defaults, then the file's [run] table, then command-line overrides."""
    cfg = RunConfig()
    if path is not None:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text: {e}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        except (ValueError, RecursionError) as e:  # an integer too long, nesting too deep
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        unknown = set(data) - {"run", *INTEGRATION_TABLES}
        if unknown:
            known = ", ".join(["run", *INTEGRATION_TABLES])
            raise ConfigError(f"{path}: {sorted(unknown)[0]}: unknown table (known: {known})")
        run = data.get("run", {})
        if not isinstance(run, dict):
            raise ConfigError(f"{path}: run: must be a table")
        cfg = apply_values(cfg, run, str(path), path.parent)
        found = []
        for name in INTEGRATION_TABLES:
            if name in data:
                try:
                    found.append((name, _parse_integration(name, data[name], path)))
                except ValueError as e:
                    msg = str(e)
                    raise ConfigError(msg if str(path) in msg else f"{path}: {msg}") from None
        cfg = replace(cfg, integrations=tuple(found))
    return apply_values(cfg, overrides, "command line", Path.cwd())
