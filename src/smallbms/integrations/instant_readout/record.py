"""The Instant Readout record 0x0A ("(Lynx Smart) BMS"): its bit layout, the codec, and how our
state fills it.

The record is 16 bytes, fields packed least significant bit first, as Victron documents it::

    bits  field              unit       not available
    8     error              code       (0 = no error)
    16    time to go         1 min      0xFFFF
    16    battery voltage    0.01 V     0x7FFF (signed)
    16    battery current    0.1 A      0x7FFF (signed; positive = charging)
    16    IO status          2 bits per item: 0 = n/a, 1 = on/allowed, 2 = off/not allowed
    18    warnings/alarms    2 bits per item: 0 = n/a, 1 = ok, 2 = warning, 3 = alarm
    10    state of charge    0.1 %      0x3FF
    20    consumed Ah        0.1 Ah     0xFFFFF (sent as a positive count: consumed = -value)
    7     temperature        1 °C       0x7F (sent as value + 40, range -40..86 °C)
    1     unused

How our codes and outputs map onto the record is documented at :data:`ERROR_NUMBERS`,
:data:`ALARM_SLOTS` and :func:`io_status`. Pure functions only: no keys, no threads, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smallbms.model.codes import CODE_INFO, CODES, Code

RECORD_TYPE_BMS = 0x0A  #: the "(Lynx Smart) BMS" record
RECORD_BYTES = 16  #: 127 bits of fields + 1 unused bit

# --- the record: field widths and "not available" values -----------------------------------------

NA_TIME_TO_GO = 0xFFFF
NA_VOLTAGE = 0x7FFF
NA_CURRENT = 0x7FFF
NA_SOC = 0x3FF
NA_CONSUMED = 0xFFFFF
NA_TEMPERATURE = 0x7F
TEMPERATURE_OFFSET_C = 40

#: (name, bits) in the order they are packed, least significant bit first.
RECORD_LAYOUT: tuple[tuple[str, int], ...] = (
    ("error", 8), ("time_to_go", 16), ("voltage", 16), ("current", 16), ("io_status", 16),
    ("alarms", 18), ("soc", 10), ("consumed", 20), ("temperature", 7),
)

#: 2-bit levels of the warnings/alarms field: 0 = not supervised, 1 = ok, 2 = warning, 3 = alarm.
#: (Venus OS shows raw - 1, its usual 0 ok / 1 warning / 2 alarm; a published real Lynx Smart
#: BMS record has 1 in every supervised item and 0 where the sensor is missing.)
LEVEL_NA, LEVEL_OK, LEVEL_WARNING, LEVEL_ALARM = 0, 1, 2, 3
#: bit offsets of the 2-bit items inside the 18-bit warnings/alarms field (as Venus OS reads it)
SLOT_LOW_CELL_VOLTAGE = 0
SLOT_HIGH_CURRENT = 2
SLOT_HIGH_INTERNAL_TEMPERATURE = 4
SLOT_CONTACTOR = 6
SLOT_BMS_CABLE = 8
SLOT_LOAD_DISCONNECT = 10
SLOT_LOW_SOC = 12
SLOT_HIGH_TEMPERATURE = 16

#: The items this BMS supervises (reported as ok when no code is active); the others stay 0.
#: Low SoC is supervised only while the SoC is known (SPEC 9).
SUPERVISED_SLOTS: tuple[int, ...] = (
    SLOT_LOW_CELL_VOLTAGE, SLOT_BMS_CABLE, SLOT_LOW_SOC, SLOT_HIGH_TEMPERATURE)

#: The item of the warnings/alarms field that each warning and alarm code of the code table
#: raises (the record's own choice of items). A-B08 (low bank voltage) has no item of its own in
#: the record and is shown on the low-cell-voltage item, the nearest meaning.
CODE_SLOTS: dict[Code, int] = {
    Code.W_B01: SLOT_LOW_CELL_VOLTAGE,
    Code.A_B01: SLOT_LOW_CELL_VOLTAGE,
    Code.A_B08: SLOT_LOW_CELL_VOLTAGE,
    Code.W_B05: SLOT_BMS_CABLE,
    Code.A_B05: SLOT_BMS_CABLE,
    Code.W_B07: SLOT_LOW_SOC,
    Code.A_B07: SLOT_LOW_SOC,
    Code.A_B09: SLOT_HIGH_TEMPERATURE,
}
#: The level a code's kind (from the code table) shows at its item.
KIND_LEVELS: dict[str, int] = {"warning": LEVEL_WARNING, "alarm": LEVEL_ALARM}

#: Our warning/alarm codes as (slot, level): the slot from :data:`CODE_SLOTS`, the level from
#: the code's kind.
ALARM_SLOTS: dict[str, tuple[int, int]] = {
    code: (slot, KIND_LEVELS[CODE_INFO[code].kind]) for code, slot in CODE_SLOTS.items()}

#: The error codes of the code table as Victron BMS error numbers: our errors are numbered as
#: Victron's, E-Bnn is BMS error #nn (1 battery initialisation / configuration, 5 number of
#: batteries, 9 batteries in series, 11 hardware). Only one error fits in the record: the first
#: active one in code-table order.
ERROR_NUMBERS: dict[str, int] = {
    c.code: int(c.code.removeprefix("E-B")) for c in CODES if c.kind == "error"}

#: 2-bit items of the IO status field: bit offsets. 1 = on/allowed, 2 = off/not allowed, 0 = n/a.
IO_ALLOWED_TO_CHARGE = 2
IO_ALLOWED_TO_DISCHARGE = 4
IO_EXTERNAL_RELAY = 6  # we report the pre-alarm output here
IO_ON, IO_OFF, IO_NA = 1, 2, 0


@dataclass(frozen=True, slots=True)
class BmsValues:
    """What one Instant Readout record says. ``None`` = not available (sent as the layout's NA).

    ``consumed_ah`` is negative or zero (SPEC 1); ``error_code``, ``alarm_flags`` and
    ``io_status`` are the record's raw fields (see :func:`values_from_status` for how they are
    made from our codes and outputs).
    """

    voltage_v: float | None = None
    current_a: float | None = None
    soc_pct: float | None = None
    time_remaining_s: float | None = None
    temperature_c: float | None = None
    consumed_ah: float | None = None
    error_code: int = 0
    alarm_flags: int = 0
    io_status: int = 0

    def __post_init__(self) -> None:
        for name, bits in (("error_code", 8), ("alarm_flags", 18), ("io_status", 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (1 << bits):
                raise ValueError(f"{name} must be an integer 0..{(1 << bits) - 1}, got {v!r}")


# --- packing ------------------------------------------------------------------------------------


def _scaled(x: float | None, scale: float, lo: int, hi: int, na: int) -> int:
    """``round(x * scale)`` clamped to lo..hi, or ``na`` for None/NaN."""
    if x is None:
        return na
    try:
        y = float(x) * scale
    except OverflowError:  # an integer no float can hold
        y = math.inf if x > 0 else -math.inf
    if math.isnan(y):
        return na
    if math.isinf(y):  # infinite, or finite but past the float range once scaled
        return hi if y > 0 else lo
    return max(lo, min(hi, round(y)))


def encode_bms_record(values: BmsValues) -> bytes:
    """The 16-byte plaintext record 0x0A for ``values``; out-of-range values are clamped."""
    fields = {
        "error": values.error_code,
        "time_to_go": _scaled(values.time_remaining_s, 1 / 60, 0, NA_TIME_TO_GO - 1, NA_TIME_TO_GO),
        "voltage": _scaled(values.voltage_v, 100, -0x8000, NA_VOLTAGE - 1, NA_VOLTAGE) & 0xFFFF,
        "current": _scaled(values.current_a, 10, -0x8000, NA_CURRENT - 1, NA_CURRENT) & 0xFFFF,
        "io_status": values.io_status,
        "alarms": values.alarm_flags,
        "soc": _scaled(values.soc_pct, 10, 0, 1000, NA_SOC),
        "consumed": _scaled(None if values.consumed_ah is None else -values.consumed_ah, 10, 0,
                            NA_CONSUMED - 1, NA_CONSUMED),
        "temperature": _scaled(None if values.temperature_c is None
                               else values.temperature_c + TEMPERATURE_OFFSET_C, 1, 0,
                               NA_TEMPERATURE - 1, NA_TEMPERATURE),
    }
    acc = 0
    pos = 0
    for name, bits in RECORD_LAYOUT:
        acc |= fields[name] << pos
        pos += bits
    return acc.to_bytes(RECORD_BYTES, "little")


def _signed16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def decode_bms_record(record: bytes) -> BmsValues:
    """The inverse of :func:`encode_bms_record` (values at the record's resolution)."""
    if len(record) < RECORD_BYTES:
        raise ValueError(f"a BMS record has {RECORD_BYTES} bytes, got {len(record)}")
    acc = int.from_bytes(record[:RECORD_BYTES], "little")
    raw: dict[str, int] = {}
    for name, bits in RECORD_LAYOUT:
        raw[name] = acc & ((1 << bits) - 1)
        acc >>= bits
    ttg, v, i = raw["time_to_go"], raw["voltage"], raw["current"]
    soc, cah, tmp = raw["soc"], raw["consumed"], raw["temperature"]
    return BmsValues(
        voltage_v=None if v == NA_VOLTAGE else _signed16(v) / 100,
        current_a=None if i == NA_CURRENT else _signed16(i) / 10,
        soc_pct=None if soc == NA_SOC else soc / 10,
        time_remaining_s=None if ttg == NA_TIME_TO_GO else ttg * 60.0,
        temperature_c=None if tmp == NA_TEMPERATURE else float(tmp - TEMPERATURE_OFFSET_C),
        consumed_ah=None if cah == NA_CONSUMED else -cah / 10 + 0.0,
        error_code=raw["error"], alarm_flags=raw["alarms"], io_status=raw["io_status"],
    )


# --- our state -> record fields -------------------------------------------------------------------


def _code_names(active_codes: Iterable[str | Mapping[str, Any]]) -> list[str]:
    """Codes as strings, from a tuple of codes or the snapshot's list of code dicts."""
    return [c if isinstance(c, str) else str(c["code"]) for c in active_codes]


def error_code(codes: Iterable[str]) -> int:
    """The BMS error number for the first active error code, 0 when none."""
    for c in codes:
        if c in ERROR_NUMBERS:
            return ERROR_NUMBERS[c]
    return 0


def alarm_flags(codes: Iterable[str], soc_known: bool = True) -> int:
    """The 18-bit warnings/alarms field: every supervised item ok unless a code raises it (the
    worse level wins per item); low SoC not supervised while the SoC is unknown."""
    levels: dict[int, int] = {
        slot: LEVEL_OK for slot in SUPERVISED_SLOTS if soc_known or slot != SLOT_LOW_SOC}
    for c in codes:
        if c in ALARM_SLOTS:
            slot, level = ALARM_SLOTS[c]
            levels[slot] = max(levels.get(slot, LEVEL_NA), level)
    flags = 0
    for slot, level in levels.items():
        flags |= level << slot
    return flags


def _io_item(on: bool | None) -> int:
    return IO_NA if on is None else (IO_ON if on else IO_OFF)


def io_status(allowed_to_charge: bool | None, allowed_to_discharge: bool | None,
              pre_alarm_on: bool | None) -> int:
    """The IO status field: allowed to charge, allowed to discharge, pre-alarm (external relay)."""
    return ((_io_item(allowed_to_charge) << IO_ALLOWED_TO_CHARGE)
            | (_io_item(allowed_to_discharge) << IO_ALLOWED_TO_DISCHARGE)
            | (_io_item(pre_alarm_on) << IO_EXTERNAL_RELAY))


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        return float(x)
    except OverflowError:  # an integer no float can hold: as far out as a float goes
        return math.inf if x > 0 else -math.inf


def values_from_status(status: Mapping[str, Any],
                       active_codes: Iterable[str | Mapping[str, Any]]) -> BmsValues:
    """Record values from a status dict and the active codes.

    ``status`` is either ``snapshot.status_dict(core, decision)`` (the running device) or a
    sample line's fields (``events.sample_fields``); ``active_codes`` is a tuple of code
    strings or the snapshot's list of code dicts. The temperature is the warmest battery's
    (``max_temperature_c``, or ``temperature_c`` of a sample line). The pre-alarm item comes
    from ``outputs.pre_alarm`` when given, else from the active codes that raise it (code table).
    """
    codes = _code_names(active_codes)
    temperature = status.get("max_temperature_c", status.get("temperature_c"))
    charge = status.get("allowed_to_charge")
    discharge = status.get("allowed_to_discharge")
    outputs = status.get("outputs")
    if isinstance(outputs, Mapping) and outputs.get("pre_alarm") in ("high", "floating"):
        pre_alarm: bool | None = outputs["pre_alarm"] == "high"
    else:
        pre_alarm = any(info.pre_alarm for c in codes if (info := CODE_INFO.get(c)) is not None)
    return BmsValues(
        voltage_v=_num(status.get("voltage_v")),
        current_a=_num(status.get("current_a")),
        soc_pct=_num(status.get("soc_pct")),
        time_remaining_s=_num(status.get("time_remaining_s")),
        temperature_c=_num(temperature),
        consumed_ah=_num(status.get("consumed_ah")),
        error_code=error_code(codes),
        alarm_flags=alarm_flags(codes, soc_known=_num(status.get("soc_pct")) is not None),
        io_status=io_status(
            charge if isinstance(charge, bool) else None,
            None if discharge is None else discharge in ("yes", "pre-alarm", True),
            pre_alarm),
    )


