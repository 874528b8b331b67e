"""The gate between what devices send and the core: freshness and plausibility, then a Reading.

Every value that passes is kept with the device time it arrived at; :meth:`Gate.reading` builds
the core's :class:`~smallbms.core.types.Reading` from the values that are still fresh and
nothing else (SPEC 19). A battery with no fresh data is ``None`` in ``Reading.batteries``, so the
core's comms-lost rules (W-B05, A-B05) and its fail-safe start apply unchanged; nothing is
extrapolated. The gate decides nothing else: the SPEC 9 current threshold and every protection
rule stay in the core.

Every reading says how old the oldest value it was built from is (``Reading.data_age_s``), so
the core's comms-lost timer runs from when the data arrived, not from the last tick it was
still fresh at.

Refused values are logged with the device and the value (once per device and reason every
:data:`LOG_EVERY_S` of device time, with a count) and counted in :attr:`Gate.refused`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from smallbms.buses.config import BusDevice, BusTable
from smallbms.catalog import BatteryModel
from smallbms.core.types import BatteryReport, Reading

log = logging.getLogger(__name__)

#: SPEC 19 (P): the plausible ranges; a value outside is refused (no reading)
CELL_V_RANGE = (1.5, 4.5)
TEMPERATURE_RANGE_C = (-40.0, 100.0)
BANK_V_RANGE = (0.0, 70.0)
#: SPEC 19 (P): a bank current beyond this many times the bank's continuous rating is refused
CURRENT_RATING_FACTOR = 10.0
#: (P) a wild jump: a cell this far from the same device's previous value is refused once
JUMP_CELL_V = 0.5
#: (P) the same for a temperature
JUMP_TEMPERATURE_C = 20.0
#: SPEC 19: a Smart Lithium record sends a cell below 2.61 V or above 3.85 V as "below" or
#: "above"; the decoder gives these values for them. They are real readings at that end of the
#: range (undervoltage, overvoltage), so the jump filter never refuses a cell at one of them
BELOW_RANGE_V = 2.60
ABOVE_RANGE_V = 3.86
#: the bus kinds whose battery records use those two values
RANGE_END_KINDS = frozenset({"victron-ble", "twin-ble"})
#: (P) a refusal is logged at most once per device and reason in this much device time
LOG_EVERY_S = 10.0
FIRMWARE = "bus"


class Refused(ValueError):
    """A value the gate does not accept; the message names what and why."""


@dataclass(frozen=True, slots=True)
class BatteryValues:
    """What one battery said in one message. ``None`` = the message does not carry it."""

    cells_v: tuple[float, ...]
    temperature_c: float | None
    voltage_v: float | None = None
    current_a: float | None = None


@dataclass(frozen=True, slots=True)
class ShuntValues:
    """What a battery monitor (SmartShunt, BMV) said in one message."""

    current_a: float | None
    voltage_v: float | None = None
    soc_pct: float | None = None


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _in(x: float, lo_hi: tuple[float, float]) -> bool:
    return lo_hi[0] <= x <= lo_hi[1]


def serial_of(address: str) -> str:
    """A battery's serial on this bus: its address without separators (stable, unique)."""
    return "".join(ch for ch in address.upper() if ch.isalnum())


class Gate:
    """Fresh, plausible values of the configured devices, and the Reading made of them."""

    def __init__(self, table: BusTable, model: BatteryModel | None) -> None:
        self.table = table
        self.model = model
        self.stale_after_s = table.stale_after_s
        self.batteries: tuple[BusDevice, ...] = table.batteries
        self.shunt = table.shunt
        self._by_address = {d.address: d for d in table.devices}
        series = 1 + max((d.series_position for d in self.batteries), default=0)
        self.series = series
        self.parallel = max(1, len(self.batteries) // series)
        rating = 0.0 if model is None else max(model.cont_discharge_a, model.cont_charge_a)
        self.max_current_a = CURRENT_RATING_FACTOR * rating * self.parallel if rating else math.inf
        self._battery: dict[str, tuple[float, BatteryValues]] = {}
        self._shunt: tuple[float, ShuntValues] | None = None
        self._last_seen: dict[str, BatteryValues] = {}
        self._range_ends: tuple[float, ...] = (
            (BELOW_RANGE_V, ABOVE_RANGE_V) if table.kind in RANGE_END_KINDS else ())
        self._heard_battery = False
        #: the BMS's own supply is not on the radio: until a bank voltage is measured, the
        #: bank's nominal voltage stands for it (the BMS is running, so it has power)
        self._last_bank_v = (model.nominal_voltage_v if model is not None else 12.8) * series
        self._logged: dict[tuple[str, str], float] = {}
        self._quiet: Counter[tuple[str, str]] = Counter()
        self.refused: Counter[str] = Counter()
        #: a decoder's last decoded message per device (its raw bytes and values), so a repeat
        #: of the same advert is not decrypted again; the key is the device's, fixed per gate
        self.decoded: dict[str, tuple[bytes, object]] = {}
        self.accepted: Counter[str] = Counter()

    # --- the devices' messages ---------------------------------------------------------------

    def device(self, address: str) -> BusDevice | None:
        return self._by_address.get(address.upper() if ":" in address else address)

    def refuse(self, address: str, t_s: float, reason: str) -> None:
        """Count and log (rate-limited) a refused message."""
        dev = self.device(address)
        label = dev.label if dev is not None else address
        self.refused[label] += 1
        kind = reason.split(":", 1)[0]
        key = (label, kind)
        last = self._logged.get(key)
        if last is None or t_s - last >= LOG_EVERY_S or t_s < last:
            more = self._quiet.pop(key, 0)
            extra = f" ({more} more since the last line)" if more else ""
            log.warning("bus: refused a reading from %s: %s%s", label, reason, extra)
            self._logged[key] = t_s
        else:
            self._quiet[key] += 1

    def _check_battery(self, v: BatteryValues) -> None:
        """The range checks of one message (Refused when one fails)."""
        model = self.model
        if model is not None and len(v.cells_v) != model.cells_in_series:
            raise Refused(f"cells: {len(v.cells_v)} cell voltages, the {model.model_id} battery "
                          f"has {model.cells_in_series}")
        for n, c in enumerate(v.cells_v):
            if not _finite(c) or not _in(c, CELL_V_RANGE):
                raise Refused(f"cell: cell {n + 1} at {c!r} V is implausible (outside "
                              f"{CELL_V_RANGE[0]}-{CELL_V_RANGE[1]} V)")
        if v.temperature_c is None:
            raise Refused("temperature: the message has no temperature")
        if not _finite(v.temperature_c) or not _in(v.temperature_c, TEMPERATURE_RANGE_C):
            raise Refused(f"temperature: {v.temperature_c!r} °C is implausible (outside "
                          f"{TEMPERATURE_RANGE_C[0]:g}..{TEMPERATURE_RANGE_C[1]:g} °C)")
        if v.voltage_v is not None and (not _finite(v.voltage_v) or not _in(v.voltage_v, BANK_V_RANGE)):
            raise Refused(f"voltage: {v.voltage_v!r} V is implausible")
        if v.current_a is not None and (not _finite(v.current_a) or abs(v.current_a) > self.max_current_a):
            raise Refused(f"current: {v.current_a!r} A is implausible (beyond "
                          f"{self.max_current_a:g} A, {CURRENT_RATING_FACTOR:g} x the bank's rating)")

    def _check_jump(self, v: BatteryValues, previous: BatteryValues | None) -> None:
        """The jump check against the device's previous in-range message (Refused on a jump).

        A cell at the record's "below" or "above" value, or coming from one, is left out: its
        true value is somewhere beyond that end, so the step says nothing (SPEC 19: such a cell
        is never dropped)."""
        if previous is None:
            return
        if len(previous.cells_v) == len(v.cells_v):
            ends = self._range_ends
            for n, (a, b) in enumerate(zip(previous.cells_v, v.cells_v, strict=True)):
                if a in ends or b in ends:
                    continue
                if abs(b - a) > JUMP_CELL_V:
                    raise Refused(f"jump: cell {n + 1} jumped from {a:g} V to {b:g} V")
        a_t, b_t = previous.temperature_c, v.temperature_c
        if a_t is not None and b_t is not None and abs(b_t - a_t) > JUMP_TEMPERATURE_C:
            raise Refused(f"jump: temperature jumped from {a_t:g} °C to {b_t:g} °C")

    def battery(self, address: str, t_s: float, values: BatteryValues) -> bool:
        """A battery's message at device time ``t_s``; True when accepted."""
        dev = self.device(address)
        if dev is None or dev.role != "battery":
            return False
        try:
            self._check_battery(values)
        except Refused as e:
            # out of range: a glitch, not a value to measure the next message's step from
            self.refuse(dev.address, t_s, str(e))
            return False
        previous = self._last_seen.get(dev.address)
        # in range, so the next message is compared with this one even if it jumped: a value
        # that stays where it jumped to is real and accepted the second time
        self._last_seen[dev.address] = values
        try:
            self._check_jump(values, previous)
        except Refused as e:
            self.refuse(dev.address, t_s, str(e))
            return False
        self._battery[dev.address] = (t_s, values)
        self._heard_battery = True
        self.accepted[dev.address] += 1
        return True

    def shunt_values(self, address: str, t_s: float, values: ShuntValues) -> bool:
        """The shunt's message at device time ``t_s``; True when accepted."""
        dev = self.device(address)
        if dev is None or dev.role != "shunt":
            return False
        try:
            if not _finite(values.current_a) or abs(values.current_a) > self.max_current_a:  # type: ignore[arg-type]
                raise Refused(f"current: {values.current_a!r} A is implausible (unknown, or beyond "
                              f"{self.max_current_a:g} A)")
            if values.voltage_v is not None and (
                    not _finite(values.voltage_v) or not _in(values.voltage_v, BANK_V_RANGE)):
                raise Refused(f"voltage: {values.voltage_v!r} V is implausible")
        except Refused as e:
            self.refuse(dev.address, t_s, str(e))
            return False
        self._shunt = (t_s, values)
        self.accepted[dev.address] += 1
        return True

    # --- the reading -------------------------------------------------------------------------

    def _fresh(self, at: float, t_s: float) -> bool:
        return t_s - at <= self.stale_after_s

    def fresh_batteries(self, t_s: float) -> list[BatteryValues | None]:
        out: list[BatteryValues | None] = []
        for dev in self.batteries:
            got = self._battery.get(dev.address)
            out.append(got[1] if got is not None and self._fresh(got[0], t_s) else None)
        return out

    def fresh_shunt(self, t_s: float) -> ShuntValues | None:
        if self._shunt is not None and self._fresh(self._shunt[0], t_s):
            return self._shunt[1]
        return None

    def _bank_voltage(self, values: Sequence[BatteryValues | None], shunt: ShuntValues | None) -> float:
        if shunt is not None and shunt.voltage_v is not None:
            return shunt.voltage_v
        by_position: dict[int, float] = {}
        for dev, v in zip(self.batteries, values, strict=True):
            if v is not None and dev.series_position not in by_position:
                by_position[dev.series_position] = (
                    v.voltage_v if v.voltage_v is not None else sum(v.cells_v))
        if len(by_position) == self.series:
            return sum(by_position.values())
        return self._last_bank_v

    def _data_age(self, t_s: float, values: Sequence[BatteryValues | None],
                  shunt: ShuntValues | None) -> float:
        """How old, at ``t_s``, the oldest value of this reading is (0 when it uses none)."""
        arrivals = [self._battery[dev.address][0]
                    for dev, v in zip(self.batteries, values, strict=True) if v is not None]
        if shunt is not None and self._shunt is not None:
            arrivals.append(self._shunt[0])
        return max(0.0, t_s - min(arrivals)) if arrivals else 0.0

    def reading(self, t_s: float) -> Reading:
        """The reading at device time ``t_s`` from fresh values only.

        Nothing heard from any battery since the start: no batteries at all (the bus is
        silent, the core's fail-safe start). With a shunt configured, the reading is complete
        only while the shunt is fresh too: a silent shunt leaves every battery without a
        reading (SPEC 19). The bank voltage is the shunt's, else a fresh string's; while
        neither is fresh it stays at the last one seen (the BMS's supply does not go away
        with the radio), the bank's nominal voltage before any (the BMS runs, so it is
        powered; 0 V would read as "no power" and switch off wireless access).
        ``data_age_s`` is the age of the oldest value used (0 when none is).
        """
        values = self.fresh_batteries(t_s)
        shunt = self.fresh_shunt(t_s)
        if self.shunt is not None and shunt is None:
            values = [None] * len(values)
        bank_v = self._bank_voltage(values, shunt)
        self._last_bank_v = bank_v
        if not self._heard_battery:
            return Reading(bank_voltage_v=bank_v, batteries=(), current_a=None)
        age = self._data_age(t_s, values, shunt)
        current: float | None
        if self.shunt is not None:
            current = None if shunt is None else shunt.current_a
        else:
            firsts = [v.current_a if v is not None else None
                      for dev, v in zip(self.batteries, values, strict=True) if dev.series_position == 0]
            current = (sum(c for c in firsts if c is not None)
                       if firsts and all(c is not None for c in firsts) else None)
        model_id = self.model.model_id if self.model is not None else "custom"
        slots: list[BatteryReport | None] = []
        for dev, v in zip(self.batteries, values, strict=True):
            if v is None:
                slots.append(None)
                continue
            own = v.current_a if v.current_a is not None else (
                current / self.parallel if current is not None else 0.0)
            slots.append(BatteryReport(
                serial=serial_of(dev.address), model_id=dev.model or model_id, firmware=FIRMWARE,
                series_position=dev.series_position, cell_voltages_v=v.cells_v,
                temperature_c=float(v.temperature_c if v.temperature_c is not None else math.nan),
                current_a=own))
        return Reading(bank_voltage_v=bank_v, batteries=tuple(slots), current_a=current,
                       data_age_s=age)
