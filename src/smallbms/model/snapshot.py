"""The device snapshot: one frozen, typed record of what a client may show for one tick.

The core produces it (``Core.snapshot``); the running device publishes the latest one, and the
web threads, the API, MQTT, CAN and Instant Readout read that and never the core. Values are kept
as measured; :meth:`DeviceSnapshot.as_dict` rounds them with the field table and uses the public
JSON keys (the shape of ``GET /api/snapshot`` and of the MQTT state payload).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from smallbms.model.codes import CodeInfo
from smallbms.model.fields import (
    BANK_FIELDS,
    BATTERY_FIELDS,
    FIELDS,
    HISTORY_FIELDS,
    Field,
)

OutputState = Literal["high", "floating"]
LedState = Literal["off", "blink", "on"]
Mode = Literal["on", "off"]
FirmwareState = Literal["idle", "updating", "failed"]
BalancerState = Literal["unknown", "balancing", "imbalanced", "balanced"]


class SettingSpecLike(Protocol):
    """What the snapshot shows of one setting's definition (the core's ``SettingSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def default(self) -> float: ...
    @property
    def minimum(self) -> float: ...
    @property
    def maximum(self) -> float: ...
    @property
    def step(self) -> float: ...
    @property
    def help(self) -> str: ...
    @property
    def reset_by_defaults(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class OutputsSnapshot:
    load_disconnect: OutputState
    charge_disconnect: OutputState
    pre_alarm: OutputState


@dataclass(frozen=True, slots=True)
class Leds:
    """LED states. NG: ``error`` and ``bluetooth``. Classic: ``load_on`` and ``temp_ovp``."""

    error: LedState = "off"
    bluetooth: LedState = "off"
    load_on: LedState = "off"
    temp_ovp: LedState = "off"


@dataclass(frozen=True, slots=True)
class Status:
    """What the core computes for people from its state (``Core.status()``): the values of the
    field table's status group. Units in every name; None where unknown."""

    powered: bool
    mode: Mode
    soc_pct: float | None
    voltage_v: float | None
    current_a: float | None
    power_w: float | None
    consumed_ah: float | None
    time_remaining_s: int | None
    min_cell_voltage_v: float | None
    max_cell_voltage_v: float | None
    min_temperature_c: float | None
    max_temperature_c: float | None
    balancer: BalancerState | None
    wireless_available: bool
    firmware_update: FirmwareState


@dataclass(frozen=True, slots=True)
class StatusSnapshot(Status):
    """The status with what the core decided in the same tick."""

    allowed_to_charge: bool
    allowed_to_discharge: str
    charge_reasons: tuple[str, ...]
    discharge_reasons: tuple[str, ...]
    outputs: OutputsSnapshot
    leds: Leds
    wireless_enabled: bool


@dataclass(frozen=True, slots=True)
class BankSnapshot:
    model_id: str
    batteries: int
    series: int
    parallel: int
    cells_total: int
    capacity_ah: float
    nominal_voltage_v: float
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class BatterySnapshot:
    """One battery slot of the bus: ``reporting`` False when its frames are missing."""

    index: int
    reporting: bool
    serial: str | None = None
    model_id: str | None = None
    capacity_ah: float | None = None
    firmware: str | None = None
    series_position: int | None = None
    temperature_c: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    cell_voltages_v: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggedError:
    code: str
    t_s: float


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    deepest_discharge_ah: float
    cumulative_ah_drawn: float
    discharged_energy_kwh: float
    charged_energy_kwh: float
    synchronisations: int
    cycles: int
    seconds_since_full_charge: float | None
    min_battery_voltage_v: float | None
    max_battery_voltage_v: float | None
    min_cell_voltage_v: float | None
    max_cell_voltage_v: float | None
    min_battery_temperature_c: float | None
    max_battery_temperature_c: float | None
    last_errors: tuple[LoggedError, ...]


@dataclass(frozen=True, slots=True)
class SettingsSnapshot:
    values: Mapping[str, float]
    specs: tuple[SettingSpecLike, ...]


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """Everything a client may show for one tick. ``t_s`` is device time, ``wall_s`` Unix time."""

    t_s: float
    wall_s: float
    profile: str
    status: StatusSnapshot
    active_codes: tuple[CodeInfo, ...]
    bank: BankSnapshot | None
    batteries: tuple[BatterySnapshot, ...]
    history: HistorySnapshot
    settings: SettingsSnapshot

    def as_dict(self) -> dict[str, Any]:
        """The public JSON shape (API, MQTT state), rounded with the field table."""
        return {
            "t_s": self.t_s,
            "wall_s": self.wall_s,
            "profile": self.profile,
            "status": status_json(self.status),
            "active_codes": [code_json(c) for c in self.active_codes],
            "bank": None if self.bank is None else _fields_json(BANK_FIELDS, self.bank),
            "batteries": [battery_json(b) for b in self.batteries],
            "history": history_json(self.history),
            "settings": settings_json(self.settings),
        }


def _fields_json(fields: tuple[Field, ...], obj: object) -> dict[str, Any]:
    return {f.key: f.round(getattr(obj, f.name)) for f in fields}


_STATUS_NUMBERS: tuple[Field, ...] = tuple(
    FIELDS[f"status.{n}"] for n in (
        "soc_pct", "voltage_v", "current_a", "power_w", "consumed_ah", "time_remaining_s",
        "min_cell_voltage_v", "max_cell_voltage_v", "min_temperature_c", "max_temperature_c",
    )
)


def status_json(st: StatusSnapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"powered": st.powered, "mode": st.mode}
    out.update(_fields_json(_STATUS_NUMBERS, st))
    out.update({
        "balancer": st.balancer,
        "allowed_to_charge": st.allowed_to_charge,
        "allowed_to_discharge": st.allowed_to_discharge,
        "charge_reasons": list(st.charge_reasons),
        "discharge_reasons": list(st.discharge_reasons),
        "outputs": {
            "load_disconnect": st.outputs.load_disconnect,
            "charge_disconnect": st.outputs.charge_disconnect,
            "pre_alarm": st.outputs.pre_alarm,
        },
        "leds": {"error": st.leds.error, "bluetooth": st.leds.bluetooth,
                 "load_on": st.leds.load_on, "temp_ovp": st.leds.temp_ovp},
        "wireless_available": st.wireless_available,
        "wireless_enabled": st.wireless_enabled,
        "firmware_update": st.firmware_update,
    })
    return out


def code_json(c: CodeInfo) -> dict[str, str]:
    return {"code": str(c.code), "name": c.name, "kind": c.kind, "effect": c.effect,
            "advice": c.advice}


_CELL_V = FIELDS["battery.cell_voltages_v"]


def battery_json(b: BatterySnapshot) -> dict[str, Any]:
    if not b.reporting:
        return {"index": b.index, "reporting": False}
    out: dict[str, Any] = {"index": b.index, "reporting": True}
    out.update(_fields_json(tuple(f for f in BATTERY_FIELDS if f.name != "cell_voltages_v"), b))
    out["cell_voltages_v"] = [_CELL_V.round(v) for v in b.cell_voltages_v]
    return out


def history_json(h: HistorySnapshot) -> dict[str, Any]:
    out = _fields_json(HISTORY_FIELDS, h)
    out["last_errors"] = [{"code": e.code, "t": e.t_s} for e in h.last_errors]
    return out


def settings_json(s: SettingsSnapshot) -> dict[str, Any]:
    return {
        "values": dict(s.values),
        "specs": [
            {"name": p.name, "label": p.label, "unit": p.unit, "default": p.default,
             "minimum": p.minimum, "maximum": p.maximum, "step": p.step, "help": p.help,
             "reset_by_defaults": p.reset_by_defaults}
            for p in s.specs
        ],
    }
