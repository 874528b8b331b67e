"""What the battery service shows on the D-Bus: its paths, their wire types and texts, and their
values for one device snapshot. Pure: no bus, no clock, no threads.

A GX reads a battery service by these paths (Victron's D-Bus conventions for
``com.victronenergy.battery``). Signs follow Venus OS: current and power are positive while
charging; consumed Ah and the history's depths are zero or negative. An unknown value is
``None`` (sent as the empty ``ai`` array that means "invalid").

DVCC: ``/Info/MaxChargeVoltage``, ``/Info/MaxChargeCurrent`` and ``/Info/MaxDischargeCurrent``
come from :func:`smallbms.integrations.canbus.limits_from_snapshot`, the function the CAN frames
use (SPEC 20): the current limits are 0 whenever the charge (load) disconnect is floating, and
when the snapshot is stale. A GX stops the chargers and inverters through these limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from smallbms import __version__
from smallbms.integrations.canbus import limits_from_snapshot, module_counts
from smallbms.model.codes import Code, infos_of
from smallbms.model.reasons import Reason

WireType = Literal["d", "i", "s"]
Value = float | int | str | None
ChargeLimit = Literal["continuous", "recommended"]

#: /ProductId: not one of Victron's own products, and not an id Venus OS treats specially
#: (its battery quirks are keyed on the ids of particular CAN-bus batteries).
PRODUCT_ID: Final = 0xB5B1
PROCESS_NAME: Final = "smallbms"
#: More cells than this and the per-cell paths are left out (the GX's cell view is for one
#: string of a battery, not for a whole bank of many).
MAX_CELL_PATHS: Final = 32
#: /Mode values (Victron's switch positions: 3 = on, 4 = off).
MODE_ON: Final = 3
MODE_OFF: Final = 4
MODE_VALUES: Final = {"on": MODE_ON, "off": MODE_OFF}
#: Alarm levels (SPEC 20): a code's warning is 1, its alarm or error 2.
OK, WARNING, ALARM = 0, 1, 2
ALARM_TEXTS: Final = {OK: "ok", WARNING: "warning", ALARM: "alarm"}

#: The /Alarms/* paths a battery service offers, in the order they are exported.
ALARM_NAMES: Final[tuple[str, ...]] = (
    "LowVoltage", "HighVoltage", "LowCellVoltage", "HighCellVoltage", "LowSoc",
    "HighChargeTemperature", "LowChargeTemperature", "HighTemperature", "LowTemperature",
    "CellImbalance", "InternalFailure", "BmsCable",
)

#: The one place codes meet /Alarms: which alarms each code of the code table raises. The level
#: (1 or 2) follows from the code's kind in smallbms.model.codes.
CODE_ALARMS: Final[Mapping[Code, tuple[str, ...]]] = {
    Code.W_B01: ("LowCellVoltage",),
    Code.A_B01: ("LowCellVoltage",),
    Code.W_B05: ("BmsCable",),
    Code.A_B05: ("BmsCable",),
    Code.W_B07: ("LowSoc",),
    Code.A_B07: ("LowSoc",),
    Code.A_B08: ("LowVoltage",),
    Code.A_B09: ("HighTemperature", "HighChargeTemperature"),
    Code.E_B01: ("InternalFailure",),
    Code.E_B05: ("InternalFailure",),
    Code.E_B09: ("InternalFailure",),
    Code.E_B11: ("InternalFailure",),
}


@dataclass(frozen=True, slots=True)
class PathSpec:
    """One exported path: its D-Bus wire type, unit and decimals for its text, and whether a
    client may write it."""

    path: str
    wire: WireType
    unit: str = ""
    precision: int = 0
    writable: bool = False
    #: texts of an enumerated value (``/Mode`` 3 -> "on")
    texts: Mapping[int, str] | None = None


def _d(path: str, unit: str, precision: int) -> PathSpec:
    return PathSpec(path, "d", unit, precision)


def _i(path: str, unit: str = "", texts: Mapping[int, str] | None = None) -> PathSpec:
    return PathSpec(path, "i", unit, 0, texts=texts)


def _s(path: str, writable: bool = False) -> PathSpec:
    return PathSpec(path, "s", writable=writable)


_YES_NO: Final = {0: "no", 1: "yes"}

_FIXED: Final[tuple[PathSpec, ...]] = (
    _s("/Mgmt/ProcessName"), _s("/Mgmt/ProcessVersion"), _s("/Mgmt/Connection"),
    _s("/ProductName"), _i("/ProductId"), _i("/DeviceInstance"), _s("/FirmwareVersion"),
    _s("/HardwareVersion"), _i("/Connected"), _s("/CustomName", writable=True),
    _d("/Dc/0/Voltage", "V", 2), _d("/Dc/0/Current", "A", 2), _d("/Dc/0/Power", "W", 1),
    _d("/Dc/0/Temperature", "°C", 1),
    _d("/Soc", "%", 1), _d("/ConsumedAmphours", "Ah", 2), _i("/TimeToGo", "s"),
    _d("/Capacity", "Ah", 1), _d("/InstalledCapacity", "Ah", 1),
    _d("/Info/MaxChargeVoltage", "V", 1), _d("/Info/MaxChargeCurrent", "A", 1),
    _d("/Info/MaxDischargeCurrent", "A", 1), _d("/Info/BatteryLowVoltage", "V", 1),
    _i("/Io/AllowToCharge", texts=_YES_NO), _i("/Io/AllowToDischarge", texts=_YES_NO),
    _d("/System/MinCellVoltage", "V", 3), _d("/System/MaxCellVoltage", "V", 3),
    _d("/System/MinCellTemperature", "°C", 1), _d("/System/MaxCellTemperature", "°C", 1),
    _i("/System/NrOfModulesOnline"), _i("/System/NrOfModulesOffline"),
    _i("/System/NrOfModulesBlockingCharge"), _i("/System/NrOfModulesBlockingDischarge"),
    _i("/System/NrOfCellsPerBattery"),
    *(_i(f"/Alarms/{name}", texts=ALARM_TEXTS) for name in ALARM_NAMES),
    _d("/History/DeepestDischarge", "Ah", 2), _d("/History/TotalAhDrawn", "Ah", 2),
    _i("/History/ChargeCycles"), _d("/History/MinimumVoltage", "V", 2),
    _d("/History/MaximumVoltage", "V", 2), _d("/History/MinimumCellVoltage", "V", 3),
    _d("/History/MaximumCellVoltage", "V", 3), _i("/History/TimeSinceLastFullCharge", "s"),
    _i("/History/AutomaticSyncs"), _d("/History/ChargedEnergy", "kWh", 3),
    _d("/History/DischargedEnergy", "kWh", 3),
    _s("/Balancer"), _i("/Balancing", texts=_YES_NO), _d("/Settings/DischargeFloor", "%", 0),
    PathSpec("/Mode", "i", writable=True, texts={MODE_ON: "on", MODE_OFF: "off"}),
)


def cell_count(snap: Mapping[str, Any]) -> int:
    """How many /Voltages/Cell* paths a snapshot calls for: the bank's cells, when they fit."""
    bank = snap.get("bank")
    cells = bank.get("cells_total") if isinstance(bank, dict) else None
    if isinstance(cells, bool) or not isinstance(cells, int) or not 0 < cells <= MAX_CELL_PATHS:
        return 0
    return cells


def path_specs(cells: int = 0) -> tuple[PathSpec, ...]:
    """Every exported path, with ``cells`` cell-voltage paths (``/Voltages/Cell1`` ...)."""
    n = max(0, min(cells, MAX_CELL_PATHS))
    return _FIXED + tuple(_d(f"/Voltages/Cell{k}", "V", 3) for k in range(1, n + 1))


SPECS: Final[Mapping[str, PathSpec]] = {p.path: p for p in path_specs(MAX_CELL_PATHS)}


def text(spec: PathSpec, value: Value) -> str:
    """The GetText of a path: the value with its unit; ``---`` when invalid (as velib does)."""
    if value is None:
        return "---"
    if spec.texts is not None and isinstance(value, int) and value in spec.texts:
        return spec.texts[value]
    if isinstance(value, float):
        s = f"{value:.{spec.precision}f}"
        return f"{s} {spec.unit}" if spec.unit else s
    if isinstance(value, int) and spec.unit:
        return f"{value} {spec.unit}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the service says about itself (the fixed paths)."""

    device_instance: int
    product_name: str = "smallbms"
    custom_name: str = ""
    connection: str = "smallbms device snapshot"


def identity_values(ident: Identity) -> dict[str, Value]:
    """The values of the identity paths (``/Mgmt/*``, ``/ProductName``, ...)."""
    return {
        "/Mgmt/ProcessName": PROCESS_NAME,
        "/Mgmt/ProcessVersion": __version__,
        "/Mgmt/Connection": ident.connection,
        "/ProductName": ident.product_name,
        "/ProductId": PRODUCT_ID,
        "/DeviceInstance": ident.device_instance,
        "/FirmwareVersion": __version__,
        "/HardwareVersion": "software",
        "/Connected": 1,
        "/CustomName": ident.custom_name,
    }


# --- snapshot values -----------------------------------------------------------------------------

def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        v = float(x)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def _int(x: Any) -> int | None:
    v = _num(x)
    return None if v is None or abs(v) >= 2**31 else round(v)


def _neg(x: Any) -> float | None:
    """A depth as Venus OS shows it: zero or negative."""
    v = _num(x)
    return None if v is None else -abs(v) + 0.0


def _table(snap: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    t = snap.get(key)
    return t if isinstance(t, dict) else {}


def alarm_levels(snap: Mapping[str, Any], *, stale: bool = False) -> dict[str, int]:
    """/Alarms/<name> -> 0, 1 or 2 for one snapshot.

    Each active code raises the alarms :data:`CODE_ALARMS` lists at the level of its kind.
    Besides the codes: an imbalanced bank is a CellImbalance warning, and a stale snapshot or a
    bank without data an InternalFailure alarm (the service cannot vouch for the battery).
    """
    levels = dict.fromkeys(ALARM_NAMES, OK)
    infos = infos_of(snap.get("active_codes") or ())
    for info in infos:
        level = WARNING if info.kind == "warning" else ALARM
        for name in CODE_ALARMS.get(info.code, ()):
            levels[name] = max(levels[name], level)
    status = _table(snap, "status")
    if status.get("balancer") == "imbalanced":
        levels["CellImbalance"] = max(levels["CellImbalance"], WARNING)
    no_data = not status or Reason.NO_BATTERY_DATA.word in (status.get("charge_reasons") or ())
    if stale or no_data:
        levels["InternalFailure"] = ALARM
    return levels


def snapshot_values(
    snap: Mapping[str, Any], *, stale: bool = False, charge_limit: ChargeLimit = "continuous",
    cells: int = 0,
) -> dict[str, Value]:
    """The value of every snapshot-driven path (all but the identity paths) for one snapshot.

    ``stale``: no snapshot has arrived for a while (the device stopped ticking): the current
    limits go to 0 and charging and discharging are not allowed, as on the CAN bus.
    """
    snap_d = dict(snap)
    status = _table(snap, "status")
    bank = _table(snap, "bank")
    history = _table(snap, "history")
    outputs = status.get("outputs")
    outputs = outputs if isinstance(outputs, dict) else {}
    lim = limits_from_snapshot(snap_d, stale=stale, charge_limit=charge_limit)
    online, blocking_charge, blocking_discharge, offline = module_counts(snap_d, stale=stale)
    soc = _num(status.get("soc_pct"))
    capacity = _num(bank.get("capacity_ah"))
    batteries = _int(bank.get("batteries"))
    cells_total = _int(bank.get("cells_total"))
    per_battery = (cells_total // batteries if cells_total is not None and batteries
                   else None)
    balancer = status.get("balancer")
    mode = status.get("mode")
    settings = _table(_table(snap, "settings"), "values") if "settings" in snap else {}

    out: dict[str, Value] = {
        "/Dc/0/Voltage": _num(status.get("voltage_v")),
        "/Dc/0/Current": _num(status.get("current_a")),
        "/Dc/0/Power": _num(status.get("power_w")),
        "/Dc/0/Temperature": _num(status.get("max_temperature_c")),
        "/Soc": soc,
        "/ConsumedAmphours": _neg(status.get("consumed_ah")),
        "/TimeToGo": _int(status.get("time_remaining_s")),
        "/Capacity": (round(capacity * soc / 100.0, 1)
                      if capacity is not None and soc is not None else None),
        "/InstalledCapacity": capacity,
        # always valid: a GX treats a battery service as a BMS (and limits the system through it)
        # only while /Info/MaxChargeVoltage is valid; without a known bank every limit is 0
        "/Info/MaxChargeVoltage": round(lim.charge_voltage_v, 2),
        "/Info/MaxChargeCurrent": round(lim.charge_current_a, 2),
        "/Info/MaxDischargeCurrent": round(lim.discharge_current_a, 2),
        "/Info/BatteryLowVoltage": round(lim.discharge_voltage_v, 2),
        "/Io/AllowToCharge": int(not stale and outputs.get("charge_disconnect") == "high"),
        "/Io/AllowToDischarge": int(not stale and outputs.get("load_disconnect") == "high"),
        "/System/MinCellVoltage": _num(status.get("min_cell_v")),
        "/System/MaxCellVoltage": _num(status.get("max_cell_v")),
        "/System/MinCellTemperature": _num(status.get("min_temperature_c")),
        "/System/MaxCellTemperature": _num(status.get("max_temperature_c")),
        "/System/NrOfModulesOnline": online,
        "/System/NrOfModulesOffline": offline,
        "/System/NrOfModulesBlockingCharge": blocking_charge,
        "/System/NrOfModulesBlockingDischarge": blocking_discharge,
        "/System/NrOfCellsPerBattery": per_battery,
        "/History/DeepestDischarge": _neg(history.get("deepest_discharge_ah")),
        "/History/TotalAhDrawn": _neg(history.get("cumulative_ah_drawn")),
        "/History/ChargeCycles": _int(history.get("cycles")),
        "/History/MinimumVoltage": _num(history.get("min_battery_voltage_v")),
        "/History/MaximumVoltage": _num(history.get("max_battery_voltage_v")),
        "/History/MinimumCellVoltage": _num(history.get("min_cell_voltage_v")),
        "/History/MaximumCellVoltage": _num(history.get("max_cell_voltage_v")),
        "/History/TimeSinceLastFullCharge": _int(history.get("seconds_since_full_charge")),
        "/History/AutomaticSyncs": _int(history.get("synchronisations")),
        "/History/ChargedEnergy": _num(history.get("charged_energy_kwh")),
        "/History/DischargedEnergy": _num(history.get("discharged_energy_kwh")),
        "/Balancer": balancer if isinstance(balancer, str) else None,
        "/Balancing": None if not isinstance(balancer, str) else int(balancer == "balancing"),
        "/Settings/DischargeFloor": _num(settings.get("discharge_floor_pct")),
        "/Mode": MODE_VALUES.get(mode) if isinstance(mode, str) else None,
    }
    for name, level in alarm_levels(snap, stale=stale).items():
        out[f"/Alarms/{name}"] = level
    volts: list[float | None] = []
    for b in snap.get("batteries") or ():
        if isinstance(b, dict):
            vs = b.get("cell_voltages_v") if b.get("reporting") is True else None
            if isinstance(vs, list) and vs:
                volts.extend(_num(v) for v in vs)
            else:  # a silent battery: its cells are unknown, the numbering keeps its place
                cells_each = per_battery or 0
                volts.extend([None] * cells_each)
    for k in range(1, cells + 1):
        out[f"/Voltages/Cell{k}"] = volts[k - 1] if k <= len(volts) else None
    return {p: typed(SPECS[p], v) for p, v in out.items()}


def typed(spec: PathSpec, value: Value) -> Value:
    """``value`` as the Python type of the path's wire type (a limit of 200 A is 200.0)."""
    if value is None:
        return None
    if spec.wire == "d":
        return float(value)
    if spec.wire == "i":
        return int(value)
    return str(value)
