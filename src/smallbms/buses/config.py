"""The ``[bus]`` table of the run configuration: where the batteries' readings come from.

```toml
[bus]
kind = "victron-ble"          # "twin" (default), "victron-ble", "aiobmsble", "mqtt", "twin-ble"
replay = "boat.jsonl"         # play a capture back through the same decode path (optional)
stale_after_s = 3.0           # a value older than this counts as no reading (SPEC 19)

[[bus.devices]]
address = "C0:3B:12:34:56:78"
role = "battery"              # "battery" (default) or "shunt"
key = "0df4d0395b7d1a876c0c33ecb9e70dcd"  # Victron devices: the Instant Readout key
model = "smart-12.8/100"      # batteries: the catalogue model (the adverts do not carry it)
series_position = 0           # place in its string from bank minus (default 0)

[bus.custom]                  # only for model = "custom"
cells_in_series = 4
capacity_ah = 280
```

Validated strictly (unknown keys refused, keys checked for shape, a Victron device without a
key refused), each problem naming the key path.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, model_validator
from pydantic.functional_validators import PlainValidator

from smallbms.catalog import CATALOGUE, BatteryModel, Family
from smallbms.schema import Choice, Range, Table, Text, problem

BusKind = Literal["twin", "victron-ble", "aiobmsble", "mqtt", "twin-ble"]
Role = Literal["battery", "shunt"]
CUSTOM_MODEL = "custom"
#: SPEC 19 (P): data older than this is no reading (below the 5 s of W-B05)
DEFAULT_STALE_AFTER_S = 3.0

_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$|^[A-Za-z0-9_.-]{1,64}$")
_KEY = re.compile(r"^[0-9A-Fa-f]{32}$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise problem(f"must be a Bluetooth address like C0:3B:12:34:56:78 (or, for MQTT, a "
                      f"name of letters, digits, '.', '_' or '-'), got {value!r}")
    return value.upper() if ":" in value else value


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise problem("must be 32 hex characters (the Instant Readout key from VictronConnect: "
                      "the device's Product info page, 'Instant readout details')")
    return value.lower()


class CustomBattery(Table):
    """``[bus.custom]``: a battery that is not in the catalogue (a BMS board read with
    aiobmsble or over MQTT). LFP cells of 3.2 V nominal; the core's cell thresholds are the
    SPEC 6 ones and cannot be changed here (docs/bus-aiobmsble.md)."""

    where = "[bus.custom]"
    cells_in_series: Annotated[int, AfterValidator(Range(4, 16))] = 4
    capacity_ah: Annotated[float, AfterValidator(Range(5.0, 1000.0, unit="Ah"))] = 100.0
    cont_discharge_a: Annotated[float, AfterValidator(Range(1.0, 1000.0, unit="A"))] | None = None
    cont_charge_a: Annotated[float, AfterValidator(Range(1.0, 1000.0, unit="A"))] | None = None

    @model_validator(mode="after")
    def _cells(self) -> CustomBattery:
        if self.cells_in_series not in (4, 8, 16):
            raise problem("cells_in_series must be 4, 8 or 16 (a 12.8, 25.6 or 51.2 V battery, "
                          "SPEC 4)")
        return self

    def model(self, family: Family = "ng") -> BatteryModel:
        """The catalogue entry this table describes (currents default to 1C); ``family``
        follows the device profile, so the bank rules accept it."""
        nominal = 3.2 * self.cells_in_series
        dis = self.cont_discharge_a if self.cont_discharge_a is not None else self.capacity_ah
        chg = self.cont_charge_a if self.cont_charge_a is not None else self.capacity_ah
        return BatteryModel(
            model_id=CUSTOM_MODEL, family=family, nominal_voltage_v=round(nominal, 1),
            cells_in_series=self.cells_in_series, capacity_ah=self.capacity_ah,
            cont_discharge_a=dis, pulse_discharge_a=2 * dis, cont_charge_a=chg,
            pulse_charge_a=2 * chg, internal_resistance_mohm=2.0 * self.cells_in_series / 4)


class BusDevice(Table):
    """One ``[[bus.devices]]`` entry."""

    where = "a [[bus.devices]] entry"
    address: Annotated[str, AfterValidator(_address)] = Field(
        description="missing: the device's Bluetooth address (or its MQTT name)")
    role: Annotated[Role, PlainValidator(Choice(*get_args(Role)))] = "battery"
    key: Annotated[str, AfterValidator(_key)] | None = None
    model: Text | None = None
    name: Text | None = None
    series_position: Annotated[int, AfterValidator(Range(0, 3))] = 0
    #: aiobmsble: the BMS type (its module name, e.g. "jbd_bms", "jikong_bms", "daly_bms")
    bms: Text | None = None

    @model_validator(mode="after")
    def _model(self) -> BusDevice:
        if self.role == "battery":
            if self.model is None:
                raise problem("a battery needs its catalogue `model` (e.g. \"12.8/100\", "
                              "\"smart-12.8/100\" or \"custom\"): the adverts do not carry the "
                              "capacity")
            if self.model != CUSTOM_MODEL and self.model not in CATALOGUE:
                raise problem(f"model {self.model!r} is not in the catalogue; known: "
                              f"{', '.join(CATALOGUE)}, custom")
        elif self.model is not None:
            raise problem("a shunt has no `model`")
        return self

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})" if self.name else self.address


class BusTable(Table):
    """``[bus]``: every key optional; the twin is the default."""

    where = "[bus]"
    kind: Annotated[BusKind, PlainValidator(Choice(*get_args(BusKind)))] = "twin"
    replay: Text | None = None
    stale_after_s: Annotated[float, AfterValidator(Range(0.5, 4.5, unit="s"))] = (
        DEFAULT_STALE_AFTER_S)
    devices: list[BusDevice] = Field(default_factory=list)
    custom: CustomBattery | None = None
    #: MQTT: the broker and the topic filter the readings arrive on (``<prefix>/<address>``)
    mqtt_host: Text = "127.0.0.1"
    mqtt_port: Annotated[int, AfterValidator(Range(1, 65535))] = 1883
    mqtt_username: Text | None = None
    mqtt_password: Text | None = None
    mqtt_topic_prefix: Text = "smallbms/bus"
    #: MQTT: at most this many messages a second per device are looked at (a flood is cut)
    max_rate_hz: Annotated[float, AfterValidator(Range(0.1, 100.0, unit="Hz"))] = 10.0

    @model_validator(mode="after")
    def _devices(self) -> BusTable:
        if self.kind == "twin":
            return self
        if self.kind == "twin-ble":
            if self.devices:
                raise problem("twin-ble makes its devices (addresses and keys) from the twin's "
                              "bank: leave out [[bus.devices]]")
            return self
        seen: set[str] = set()
        for n, dev in enumerate(self.devices):
            if dev.address in seen:
                raise problem(f"devices[{n}]: address {dev.address} is listed twice")
            seen.add(dev.address)
            if self.kind == "victron-ble" and dev.key is None:
                raise problem(f"devices[{n}]: a Victron device needs its `key` (32 hex "
                              "characters, from VictronConnect)")
        batteries = [d for d in self.devices if d.role == "battery"]
        if not batteries:
            raise problem(f"kind {self.kind!r} needs at least one [[bus.devices]] battery")
        if len([d for d in self.devices if d.role == "shunt"]) > 1:
            raise problem("at most one shunt")
        if self.kind == "aiobmsble" and any(d.role == "battery" and d.bms is None for d in batteries):
            raise problem("aiobmsble: every battery needs `bms` (the aiobmsble module, e.g. "
                          "\"jbd_bms\")")
        models = {d.model for d in batteries}
        if len(models) > 1:
            raise problem(f"all batteries must be of one model (SPEC 4), got {sorted(map(str, models))}")
        if CUSTOM_MODEL in models and self.custom is None:
            raise problem("model \"custom\" needs a [bus.custom] table (cells_in_series, "
                          "capacity_ah)")
        return self

    @property
    def batteries(self) -> tuple[BusDevice, ...]:
        return tuple(d for d in self.devices if d.role == "battery")

    @property
    def shunt(self) -> BusDevice | None:
        return next((d for d in self.devices if d.role == "shunt"), None)
