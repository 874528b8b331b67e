"""The ``[run]`` table and the whole ``smallbms run`` configuration file as pydantic models.

May import: :mod:`smallbms.schema`, this package's integration models and the ``[bus]`` table
(:mod:`smallbms.buses.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeAlias

from pydantic import AfterValidator, ValidationInfo
from pydantic.functional_validators import PlainValidator

from smallbms.buses.config import BusTable
from smallbms.config.integrations import (
    CanConfig,
    GpioTable,
    InstantReadoutConfig,
    MqttConfig,
)
from smallbms.config.venus import VenusConfig
from smallbms.schema import Range, Table, Text, describe, problem


def _path(value: object, info: ValidationInfo) -> Path:
    """A path; relative ones are taken from the configuration file's folder (or, on the
    command line, from the working directory)."""
    if not isinstance(value, str | Path) or not str(value):
        raise problem(f"must be a path, got {describe(value)}")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base") or Path.cwd()
    return path if path.is_absolute() else Path(base) / path


RelativePath: TypeAlias = Annotated[Path, PlainValidator(_path)]


class RunTable(Table):
    """``[run]`` (and the command-line overrides): every key optional, ``None`` = not given."""

    scenario: RelativePath | None = None
    tick_s: Annotated[float, AfterValidator(Range(0.1, 10.0, unit="s"))] | None = None
    speed: Annotated[float, AfterValidator(Range(0.01, 10000.0))] | None = None
    host: Text | None = None
    port: Annotated[int, AfterValidator(Range(0, 65535))] | None = None
    data_dir: RelativePath | None = None
    sample_every_s: Annotated[float, AfterValidator(Range(0.1, 86400.0, unit="s"))] | None = None
    bus_delay_s: Annotated[float, AfterValidator(Range(0.0, 86400.0, unit="s"))] | None = None


class RunFile(Table):
    """A whole configuration file: ``[run]`` and the integration tables, each optional."""

    where = "the configuration"
    run: RunTable | None = None
    mqtt: MqttConfig | None = None
    can: CanConfig | None = None
    gpio: GpioTable | None = None
    instant_readout: InstantReadoutConfig | None = None
    venus: VenusConfig | None = None
    bus: BusTable | None = None
