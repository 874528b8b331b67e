"""The integration tables of the ``smallbms run`` configuration as pydantic models.

Each model is the table as a file gives it and, once validated, the value its integration reads:
``[mqtt]`` (:class:`MqttConfig`, with :class:`TlsConfig`), ``[can]`` (:class:`CanConfig`),
``[instant_readout]`` (:class:`InstantReadoutConfig`) and ``[gpio]`` (:class:`GpioTable` as
written, :class:`GpioConfig` with :class:`OutputPins` as the adapter reads it). See docs/mqtt.md,
docs/canbus.md, docs/instant-readout.md and docs/gpio-wiring.md.

May import: :mod:`smallbms.schema`, :mod:`smallbms.errors`, the core's types. The integrations
import their configuration from here; nothing here imports an integration or the service.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import AfterValidator, Field, TypeAdapter, ValidationInfo, model_validator
from pydantic.functional_validators import PlainValidator

from smallbms.config.record import Record
from smallbms.config.venus import CHARGE_LIMITS as CHARGE_LIMITS
from smallbms.config.venus import ChargeLimit as ChargeLimit
from smallbms.config.venus import VenusConfig
from smallbms.core.types import OUTPUT_NAMES
from smallbms.errors import ConfigError
from smallbms.schema import Choice, Range, Table, Text, describe, problem, validate_value

# --- [mqtt] --------------------------------------------------------------------------------------

DEFAULT_MQTT_PORT: Final = 1883
DEFAULT_MQTT_TLS_PORT: Final = 8883
DEFAULT_PUBLISH_INTERVAL_S: Final = 5.0
DEFAULT_KEEPALIVE_S: Final = 30


def _file(value: object, info: ValidationInfo) -> Path:
    """A file that must exist; relative paths are taken from the configuration file's folder."""
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value:
        base = (info.context or {}).get("base") or Path.cwd()
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path(base) / path
    else:
        raise problem(f"must be a path, got {describe(value)}")
    if not path.is_file():
        raise problem(f"no such file: {path}")
    return path


ExistingFile: TypeAlias = Annotated[Path, PlainValidator(_file)]


def _topic(value: str) -> str:
    if not value.strip("/"):
        raise problem(f"must be a non-empty topic, got {describe(value)}")
    if any(c in value for c in "+#\0"):
        raise problem(f"must not contain the wildcards + or #, got {describe(value)}")
    if value.startswith("/") or value.endswith("/"):
        raise problem(f"must not start or end with /, got {describe(value)}")
    return value


def _client_id(value: str) -> str:
    if len(value.encode()) > 65535:
        raise problem("is too long")
    return value


Topic: TypeAlias = Annotated[str, AfterValidator(_topic)]


class TlsConfig(Record, kw_only=False):
    """TLS towards the broker. ``ca_file`` None = the system's trusted CAs."""

    table = "tls"
    ca_file: ExistingFile | None = None
    certfile: ExistingFile | None = None
    keyfile: ExistingFile | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.keyfile is not None and self.certfile is None:
            raise problem("is set but tls.certfile is not", "keyfile")
        return self


class MqttConfig(Record, kw_only=False):
    """The ``[mqtt]`` table of the ``smallbms run`` configuration."""

    table = "mqtt"
    enabled: bool = True
    host: Text = "localhost"
    port: Annotated[int, AfterValidator(Range(1, 65535))] | None = None  # None: 1883 / 8883 TLS
    username: Text | None = None
    password: Text | None = Field(default=None, repr=False)  # never in logs
    tls: TlsConfig | None = None
    base_topic: Topic | None = None  # None: smallbms/<device id>
    discovery_prefix: Topic = "homeassistant"
    publish_interval_s: Annotated[float, AfterValidator(Range(0.1, 3600.0, unit="s"))] = (
        DEFAULT_PUBLISH_INTERVAL_S
    )
    client_id: Annotated[Text, AfterValidator(_client_id)] | None = None  # None: smallbms-<id>
    device_id: Text | None = None  # None: the serial number of the bank's first battery
    device_name: Text = "smallBMS"
    keepalive_s: Annotated[int, AfterValidator(Range(5, 3600, unit="s"))] = DEFAULT_KEEPALIVE_S

    @property
    def broker_port(self) -> int:
        if self.port is not None:
            return self.port
        return DEFAULT_MQTT_TLS_PORT if self.tls is not None else DEFAULT_MQTT_PORT

    @model_validator(mode="after")
    def _password_needs_user(self) -> MqttConfig:
        if self.password is not None and self.username is None:
            raise problem("is set but mqtt.username is not", "password")
        return self


# --- [can] ---------------------------------------------------------------------------------------

DEFAULT_CAN_PERIOD_S: Final = 1.0
DEFAULT_CAN_BITRATE: Final = 500_000
CanProfile: TypeAlias = Literal["victron", "pylontech"]
CAN_PROFILES: Final[tuple[CanProfile, ...]] = ("victron", "pylontech")


class CanConfig(Record, kw_only=False):
    """The `[can]` table of the run configuration.

    ```toml
    [can]
    enabled = true
    interface = "socketcan"     # any python-can interface; "virtual" for tests
    channel = "can0"
    bitrate = 500000            # VE.Can and BMS-Can run at 500 kbit/s
    period_s = 1.0              # one full frame set per period, 0.1-10 s
    charge_limit = "continuous" # or "recommended" (0.3C)
    profile = "victron"         # or "pylontech" for inverters that speak that dialect
    ```
    """

    table = "can"
    enabled: bool = False
    interface: Text = "socketcan"
    channel: Text = "can0"
    bitrate: Annotated[int, AfterValidator(Range(10_000, 1_000_000, unit="bit/s"))] = (
        DEFAULT_CAN_BITRATE
    )
    period_s: Annotated[float, AfterValidator(Range(0.1, 10.0, unit="s"))] = DEFAULT_CAN_PERIOD_S
    charge_limit: Annotated[ChargeLimit, PlainValidator(Choice(*CHARGE_LIMITS))] = "continuous"
    profile: Annotated[CanProfile, PlainValidator(Choice(*CAN_PROFILES))] = "victron"


# --- [instant_readout] ---------------------------------------------------------------------------

INTERVAL_RANGE_S: Final = (0.1, 60.0)  #: allowed advertisement refresh periods
_KEY_HEX: Final = re.compile(r"[0-9a-fA-F]{32}")


def _key_hex(value: object) -> str:
    if not isinstance(value, str) or not _KEY_HEX.fullmatch(value.strip()):
        raise problem(f"must be 32 hex characters, got {describe(value)}")
    return value.strip().lower()


class InstantReadoutConfig(Record, kw_only=False):
    """The ``[instant_readout]`` table of the run configuration.

    ``key_hex`` overrides the stored per-device key (for a key already typed into decoders).
    """

    table = "instant_readout"
    enabled: bool = False
    interval_s: Annotated[float, AfterValidator(Range(*INTERVAL_RANGE_S, unit="s"))] = 1.0
    key_hex: Annotated[str, PlainValidator(_key_hex)] | None = None


# --- [gpio] --------------------------------------------------------------------------------------

PinFactoryName: TypeAlias = Literal["default", "mock"]
PIN_FACTORIES: Final[tuple[PinFactoryName, ...]] = ("default", "mock")
#: (P) BCM pins usable for the outputs and inputs (2-27 on a 40-pin header).
MIN_BCM_PIN: Final = 2
MAX_BCM_PIN: Final = 27
#: (P) device ticks a read-back may disagree before E-B11 is raised.
DEFAULT_READBACK_TICKS: Final = 2
MAX_READBACK_TICKS: Final = 3600

BcmPin: TypeAlias = Annotated[int, AfterValidator(Range(MIN_BCM_PIN, MAX_BCM_PIN))]


class GpioConfigError(ConfigError):
    """A bad ``[gpio]`` table; the message names the key."""


class OutputPins(Record, kw_only=False):
    """One output: the pin that drives the relay/opto, its polarity, and an optional read-back."""

    error = GpioConfigError
    pin: BcmPin
    active_high: bool = True
    readback: BcmPin | None = None


class GpioConfig(Record, kw_only=False):
    """The ``[gpio]`` configuration as the adapter reads it.

    ``outputs`` maps output names (``load_disconnect``, ``charge_disconnect``, ``pre_alarm``) to
    their pins; an output left out is not driven. ``remote`` is the remote on/off input pin or
    ``None``. Pins are BCM numbers 2-27, all distinct. The constructor checks everything.
    """

    error = GpioConfigError
    enabled: bool = False
    pin_factory: Annotated[PinFactoryName, PlainValidator(Choice(*PIN_FACTORIES))] = "default"
    outputs: dict[str, OutputPins] = Field(default_factory=dict)
    remote: BcmPin | None = None
    readback_ticks: Annotated[int, AfterValidator(Range(0, MAX_READBACK_TICKS))] = (
        DEFAULT_READBACK_TICKS
    )

    @classmethod
    def from_table(
        cls, table: Any, where: str = "[gpio]", base: Path | None = None
    ) -> GpioConfig:
        """Read a ``[gpio]`` table as written (:class:`GpioTable`); :class:`GpioConfigError`
        (a ValueError) names ``where`` and the key."""
        return GpioTable.from_table(table, where, base).config(where)

    def all_pins(self) -> dict[str, int]:
        """Every configured pin by its ``pins.`` key name."""
        out: dict[str, int] = {}
        for n, o in self.outputs.items():
            out[n] = o.pin
            if o.readback is not None:
                out[f"readback_{n}"] = o.readback
        if self.remote is not None:
            out["remote"] = self.remote
        return out

    @model_validator(mode="after")
    def _outputs_and_distinct_pins(self) -> GpioConfig:
        for n in self.outputs:
            if n not in OUTPUT_NAMES:
                raise problem(f"unknown output (known: {', '.join(OUTPUT_NAMES)})", "pins", n)
        if self.enabled and not self.outputs:
            raise problem(
                f"enabled but no output pin configured (set at least one of "
                f"{', '.join(OUTPUT_NAMES)})", "pins",
            )
        seen: dict[int, str] = {}
        for key, pin in self.all_pins().items():
            if pin in seen:
                raise problem(f"GPIO{pin} is already used by pins.{seen[pin]}", "pins", key)
            seen[pin] = key
        return self


class GpioPins(Table):
    """``[gpio.pins]``: a BCM pin per output, its read-back, and the remote input."""

    where = "[gpio.pins]"
    load_disconnect: BcmPin | None = None
    charge_disconnect: BcmPin | None = None
    pre_alarm: BcmPin | None = None
    remote: BcmPin | None = None
    readback_load_disconnect: BcmPin | None = None
    readback_charge_disconnect: BcmPin | None = None
    readback_pre_alarm: BcmPin | None = None


class ActiveHigh(Table):
    """``[gpio.active_high]``: the polarity of each output (default true)."""

    where = "[gpio.active_high]"
    load_disconnect: bool | None = None
    charge_disconnect: bool | None = None
    pre_alarm: bool | None = None


assert GpioPins.keys() == (*OUTPUT_NAMES, "remote", *(f"readback_{n}" for n in OUTPUT_NAMES))
assert ActiveHigh.keys() == OUTPUT_NAMES
_ACTIVE_HIGH = TypeAdapter(ActiveHigh)


def _active_high(value: object) -> bool | ActiveHigh:
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        table: ActiveHigh = validate_value(_ACTIVE_HIGH, value)
        return table
    raise problem(f"must be true/false or a table per output, got {describe(value)}")


class GpioTable(Record, kw_only=False):
    """The ``[gpio]`` table as written (``pins`` and ``active_high`` by output name)."""

    error = GpioConfigError
    where = "[gpio]"
    enabled: bool = False
    pin_factory: Annotated[PinFactoryName, PlainValidator(Choice(*PIN_FACTORIES))] = "default"
    pins: GpioPins = GpioPins()
    active_high: Annotated[bool | ActiveHigh, PlainValidator(_active_high)] = True
    readback_ticks: Annotated[int, AfterValidator(Range(0, MAX_READBACK_TICKS))] = (
        DEFAULT_READBACK_TICKS
    )

    @model_validator(mode="after")
    def _pins_for_what_is_configured(self) -> GpioTable:
        pins = self.pins
        if isinstance(self.active_high, ActiveHigh):
            for n in OUTPUT_NAMES:
                if getattr(self.active_high, n) is not None and getattr(pins, n) is None:
                    raise problem(f"pins.{n} is not configured", "active_high", n)
        for n in OUTPUT_NAMES:
            if getattr(pins, f"readback_{n}") is not None and getattr(pins, n) is None:
                raise problem(f"pins.{n} is not configured", "pins", f"readback_{n}")
        return self

    def config(self, where: str = "[gpio]") -> GpioConfig:
        """The adapter's view; a clash between pins is a GpioConfigError naming ``where``."""
        outputs: dict[str, OutputPins] = {}
        for n in OUTPUT_NAMES:
            pin = getattr(self.pins, n)
            if pin is None:
                continue
            polarity = self.active_high
            if isinstance(polarity, ActiveHigh):
                given = getattr(polarity, n)
                polarity = True if given is None else given
            outputs[n] = OutputPins(pin, polarity, getattr(self.pins, f"readback_{n}"))
        try:
            return GpioConfig(
                enabled=self.enabled, pin_factory=self.pin_factory, outputs=outputs,
                remote=self.pins.remote, readback_ticks=self.readback_ticks,
            )
        except GpioConfigError as exc:
            raise GpioConfigError(f"{where}: {exc}") from None


#: The integration tables of the run configuration, by table name.
INTEGRATION_MODELS: Final[dict[str, type[Record]]] = {
    "mqtt": MqttConfig, "can": CanConfig, "gpio": GpioTable, "instant_readout": InstantReadoutConfig,
    "venus": VenusConfig,
}
#: Table names in the order messages list them.
INTEGRATION_TABLES: Final = tuple(INTEGRATION_MODELS)
