"""The field table: one name, unit, precision and label for every value the device shows.

Every surface takes its names, units, rounding and labels from here: the API's snapshot and
history answers, the store's sample columns, Home Assistant discovery, the web pages (served as
JSON at ``/api/fields``), ``smallbms status``, the report's tables and the sample line of the event
contract. A field is known by its group and name (``"status.soc_pct"``); units are in every name.

Two kinds of public name are older than this table and must stay as they are; they are mapped
here, explicitly, and nowhere else:

- :attr:`Field.key` - the key in the snapshot's JSON (API answers, the MQTT state payload) where it
  differs from the field's name (``status.min_cell_v`` for the field ``min_cell_voltage_v``);
- :data:`SAMPLE_LINE` - the keys of the event contract's ``sample`` line (SPEC 17), where the
  highest battery temperature is called ``temperature_c``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Group = Literal["status", "history", "bank", "battery"]
Kind = Literal["float", "int", "text", "bool"]

DASH = "—"


def rounded(x: float | None, precision: int | None) -> float | int | None:
    """``x`` rounded to ``precision`` decimals (an int for precision 0); None and NaN give None.

    Negative zero becomes zero: a rounded current of ``-0.004`` A is ``0.0``, not ``-0.0``.
    """
    if x is None:
        return None
    if precision is None:
        return x
    if x != x:  # NaN
        return None
    if precision == 0:
        return round(x)
    r = round(x, precision)
    return r + 0.0  # -0.0 + 0.0 == 0.0


@dataclass(frozen=True, slots=True)
class Field:
    """One value: where it lives, what it is called, how it is rounded and shown."""

    group: Group
    name: str
    label: str
    unit: str | None = None
    precision: int | None = None
    kind: Kind = "float"
    ha_device_class: str | None = None
    ha_state_class: str | None = None
    #: the key in the snapshot's JSON where it differs from ``name`` (older public name)
    json_key: str | None = None
    #: kept as a REAL column of every raw sample in the store (and aggregated hourly)
    stored: bool = False
    help: str = ""

    @property
    def id(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def key(self) -> str:
        """The public key of this value in the snapshot's JSON."""
        return self.json_key or self.name

    def round(self, x: float | None) -> float | int | None:
        return rounded(x, self.precision) if self.kind in ("float", "int") else x

    def text(self, x: Any) -> str:
        """The value for a person: rounded, with its unit; a dash when unknown."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return DASH
        if self.kind == "bool":
            return "yes" if x else "no"
        if self.kind in ("float", "int") and not isinstance(x, bool):
            v = self.round(float(x))
            p = self.precision or 0
            s = f"{v:.{p}f}" if p > 0 else f"{v}"
            return f"{s} {self.unit}" if self.unit else s
        return str(x)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "group": self.group, "name": self.name, "key": self.key,
            "label": self.label, "unit": self.unit, "precision": self.precision,
            "kind": self.kind, "ha_device_class": self.ha_device_class,
            "ha_state_class": self.ha_state_class, "help": self.help,
        }


def _s(name: str, label: str, unit: str | None = None, precision: int | None = None,
       kind: Kind = "float", dc: str | None = None, sc: str | None = "measurement",
       key: str | None = None, stored: bool = False, help: str = "") -> Field:
    return Field("status", name, label, unit, precision, kind, dc, sc if kind != "text" else None,
                 key, stored, help)


STATUS_FIELDS: tuple[Field, ...] = (
    _s("soc_pct", "State of charge", "%", 1, dc="battery", stored=True,
       help="Unknown until the first synchronisation to 100 %."),
    _s("voltage_v", "Voltage", "V", 2, dc="voltage", stored=True,
       help="The bank voltage the BMS measures at its own battery terminal."),
    _s("current_a", "Current", "A", 2, dc="current", stored=True,
       help="Positive while charging, negative while discharging."),
    _s("power_w", "Power", "W", 1, dc="power", stored=True,
       help="Positive while charging, negative while discharging."),
    _s("consumed_ah", "Consumed", "Ah", 2, stored=True,
       help="Charge taken out since the bank was last full (zero or negative)."),
    _s("time_remaining_s", "Time remaining", "s", 0, kind="int", dc="duration", stored=True,
       help="Until the discharge floor at the averaged discharge current."),
    _s("min_cell_voltage_v", "Lowest cell voltage", "V", 3, dc="voltage", key="min_cell_v",
       stored=True),
    _s("max_cell_voltage_v", "Highest cell voltage", "V", 3, dc="voltage", key="max_cell_v",
       stored=True),
    _s("min_temperature_c", "Lowest battery temperature", "°C", 1, dc="temperature", stored=True),
    _s("max_temperature_c", "Highest battery temperature", "°C", 1, dc="temperature", stored=True),
    _s("balancer", "Balancer", kind="text", dc="enum"),
    _s("mode", "Mode", kind="text"),
    _s("allowed_to_charge", "Allowed to charge", kind="bool", sc=None),
    _s("allowed_to_discharge", "Allowed to discharge", kind="text", dc="enum"),
    _s("consumption_state", "Self-consumption state", kind="text", dc="enum"),
)


def _h(name: str, label: str, unit: str | None = None, precision: int | None = None,
       kind: Kind = "float", dc: str | None = None, sc: str | None = None,
       help: str = "") -> Field:
    return Field("history", name, label, unit, precision, kind, dc, sc, None, False, help)


HISTORY_FIELDS: tuple[Field, ...] = (
    _h("deepest_discharge_ah", "Deepest discharge", "Ah", 2,
       help="The most charge ever taken out between two full charges (negative)."),
    _h("cumulative_ah_drawn", "Cumulative Ah drawn", "Ah", 2,
       help="All the charge ever taken out of the bank (negative)."),
    _h("discharged_energy_kwh", "Discharged energy", "kWh", 3, dc="energy", sc="total_increasing"),
    _h("charged_energy_kwh", "Charged energy", "kWh", 3, dc="energy", sc="total_increasing"),
    _h("synchronisations", "Synchronisations", None, 0, kind="int", sc="total_increasing",
       help="Automatic synchronisations to 100 % after the bank had been below 90 %."),
    _h("cycles", "Charge cycles", None, 0, kind="int", sc="total_increasing",
       help="Counted when the state of charge rises above 90 % after falling below 65 %."),
    _h("seconds_since_full_charge", "Time since the last full charge", "s", 0, kind="int",
       dc="duration"),
    _h("min_battery_voltage_v", "Lowest bank voltage", "V", 2, dc="voltage"),
    _h("max_battery_voltage_v", "Highest bank voltage", "V", 2, dc="voltage"),
    _h("min_cell_voltage_v", "Lowest cell voltage", "V", 3, dc="voltage"),
    _h("max_cell_voltage_v", "Highest cell voltage", "V", 3, dc="voltage"),
    _h("min_battery_temperature_c", "Lowest battery temperature", "°C", 1, dc="temperature"),
    _h("max_battery_temperature_c", "Highest battery temperature", "°C", 1, dc="temperature"),
)


def _b(name: str, label: str, unit: str | None = None, precision: int | None = None,
       kind: Kind = "float") -> Field:
    return Field("bank", name, label, unit, precision, kind)


BANK_FIELDS: tuple[Field, ...] = (
    _b("model_id", "Battery model", kind="text"),
    _b("batteries", "Batteries", None, 0, kind="int"),
    _b("series", "Batteries in series", None, 0, kind="int"),
    _b("parallel", "Batteries in parallel", None, 0, kind="int"),
    _b("cells_total", "Battery cells", None, 0, kind="int"),
    _b("capacity_ah", "Capacity", "Ah", 1),
    _b("nominal_voltage_v", "Nominal voltage", "V", 1),
    _b("energy_kwh", "Energy", "kWh", 3),
)


def _bat(name: str, label: str, unit: str | None = None, precision: int | None = None,
         kind: Kind = "float", dc: str | None = None) -> Field:
    return Field("battery", name, label, unit, precision, kind, dc, "measurement" if dc else None)


BATTERY_FIELDS: tuple[Field, ...] = (
    _bat("serial", "Serial number", kind="text"),
    _bat("model_id", "Model", kind="text"),
    _bat("capacity_ah", "Nominal capacity", "Ah", 1),
    _bat("firmware", "Firmware", kind="text"),
    _bat("series_position", "Place in its string", None, 0, kind="int"),
    _bat("temperature_c", "Temperature", "°C", 1, dc="temperature"),
    _bat("voltage_v", "Voltage", "V", 3, dc="voltage"),
    _bat("current_a", "Current", "A", 2, dc="current"),
    _bat("cell_voltages_v", "Cell voltage", "V", 3, dc="voltage"),
)

ALL_FIELDS: tuple[Field, ...] = STATUS_FIELDS + HISTORY_FIELDS + BANK_FIELDS + BATTERY_FIELDS

#: Every field by its id (``"status.soc_pct"``).
FIELDS: Mapping[str, Field] = {f.id: f for f in ALL_FIELDS}


def field(field_id: str) -> Field:
    """The field with this id; KeyError names the id when there is none."""
    return FIELDS[field_id]


def group_fields(group: Group) -> tuple[Field, ...]:
    return tuple(f for f in ALL_FIELDS if f.group == group)


#: The numeric status fields kept as REAL columns of every raw sample (and aggregated hourly),
#: by their public key - the store's column names.
SAMPLE_COLUMNS: tuple[Field, ...] = tuple(f for f in STATUS_FIELDS if f.stored)

#: The event contract's ``sample`` line (SPEC 17): its public keys in line order, the field
#: each one carries, and its decimals. The contract is frozen, so its precision is written here
#: and not taken from the field (a page's decimals may change; the sample line may not); a test
#: checks that the two agree today. The sign of a rounded zero is kept, unlike :func:`rounded`.
SAMPLE_LINE: tuple[tuple[str, str, int | None], ...] = (
    ("soc_pct", "status.soc_pct", 1),
    ("voltage_v", "status.voltage_v", 2),
    ("current_a", "status.current_a", 2),
    ("power_w", "status.power_w", 1),
    ("consumed_ah", "status.consumed_ah", 2),
    ("time_remaining_s", "status.time_remaining_s", 0),
    ("min_cell_v", "status.min_cell_voltage_v", 3),
    ("max_cell_v", "status.max_cell_voltage_v", 3),
    ("temperature_c", "status.max_temperature_c", 1),
    ("allowed_to_charge", "status.allowed_to_charge", None),
    ("allowed_to_discharge", "status.allowed_to_discharge", None),
    ("mode", "status.mode", None),
)


def contract_rounded(x: float | None, precision: int | None) -> float | int | None:
    """Rounding as the event contract has always done it: ``round``, keeping a zero's sign."""
    if x is None or precision is None:
        return x
    if precision == 0:
        return int(x)
    return round(x, precision)


def summary_history_precision(name: str) -> int:
    """Decimals of a history value in the event contract's ``summary`` line (frozen by SPEC 17;
    finer than the field table's display precision): energies 4, voltages 3, the rest 2."""
    return 4 if name.endswith("_kwh") else 3 if name.endswith("_v") else 2


def table_json() -> list[dict[str, Any]]:
    """The whole table as plain data (served to the web pages)."""
    return [f.as_dict() for f in ALL_FIELDS]
