"""The Victron "CAN-bus BMS" protocol: the BMS as the managed battery of a GX device or inverter.

The frame set is the de-facto one that Victron GX devices, and many inverters that speak the
Pylontech-compatible dialect, accept from a third-party BMS: standard 11-bit identifiers, 500
kbit/s, little-endian fields, one full set about every second. Two profiles: ``victron`` and
``pylontech`` (adds 0x359 and 0x35C, names itself "PYLON", sends at least every second). See
docs/canbus.md for the frame table, the alarm mapping and how to connect, and docs/canbus.dbc
for the frames in DBC form.

Two layers:

- :func:`frames_from_snapshot` turns one device snapshot (smallbms.model.snapshot) into the
  frames of one set. It is a pure function: the same snapshot gives the same bytes. :func:`decode_frame`
  is its inverse, for tests and for anyone debugging a bus.
- :class:`CanBmsService` runs on its own thread, follows the device's snapshots through a
  subscription, and sends the frame set every ``period_s`` on a python-can bus. It never runs
  on the tick thread. When no new snapshot has arrived for ``STALE_AFTER_S`` it sends zero
  charge and discharge current limits (fail safe) until snapshots flow again. After each set it
  reads the peer's keepalive (0x305) and identification (0x307) when they are there.

:func:`limits_from_snapshot` is also what the Venus OS D-Bus service publishes as its DVCC
limits (SPEC 20: one function for both).
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import can

from smallbms import __version__
from smallbms.catalog import END_OF_DISCHARGE_CELL_V, BatteryModel, UnknownBatteryModel, get_model
from smallbms.config.integrations import CAN_PROFILES as CAN_PROFILES
from smallbms.config.integrations import CHARGE_LIMITS as CHARGE_LIMITS
from smallbms.config.integrations import CanConfig as CanConfig
from smallbms.config.integrations import CanProfile, ChargeLimit
from smallbms.integrations.ports import SnapshotSource, WakeableFeed
from smallbms.model.codes import Code, infos_of
from smallbms.model.reasons import Reason
from smallbms.worker import Worker

log = logging.getLogger(__name__)

# --- identifiers and constants ---------------------------------------------------------------

ID_LIMITS = 0x351  #: charge voltage, charge current, discharge current, discharge voltage limits
ID_SOC = 0x355  #: state of charge and health
ID_MEASURE = 0x356  #: voltage, current, temperature
ID_ALARMS = 0x35A  #: alarm and warning flags (2 bits each)
ID_NAME = 0x35E  #: manufacturer name, 8 ASCII characters
ID_INFO = 0x35F  #: chemistry, hardware version, capacity, software version
ID_MODULES = 0x372  #: battery (module) counts
ID_CELLS = 0x373  #: lowest/highest cell voltage and temperature
ID_CAPACITY = 0x379  #: installed capacity
ID_PROTECTION = 0x359  #: Pylontech dialect: protection and warning flags, module count, "PN"
ID_REQUEST = 0x35C  #: Pylontech dialect: charge/discharge enable and request flags
ID_KEEPALIVE = 0x305  #: received: the inverter's (or GX's) keepalive
ID_PEER_INFO = 0x307  #: received: the inverter's identification

#: The identifiers of one frame set of the "victron" profile, in the order they are sent.
FRAME_IDS: tuple[int, ...] = (
    ID_LIMITS, ID_SOC, ID_MEASURE, ID_ALARMS, ID_NAME, ID_INFO, ID_MODULES, ID_CELLS,
    ID_CAPACITY,
)
#: The "pylontech" profile: the same frames plus the two its inverters require.
PYLONTECH_FRAME_IDS: tuple[int, ...] = (
    ID_LIMITS, ID_SOC, ID_MEASURE, ID_PROTECTION, ID_REQUEST, ID_ALARMS, ID_NAME, ID_INFO,
    ID_MODULES, ID_CELLS, ID_CAPACITY,
)
PROFILE_FRAME_IDS: dict[str, tuple[int, ...]] = {
    "victron": FRAME_IDS, "pylontech": PYLONTECH_FRAME_IDS,
}

#: Every frame carries 8 data bytes (unused ones are zero).
DLC = 8
#: What the BMS calls itself in frame 0x35E.
MANUFACTURER = b"SMALLBMS"
#: What a Pylontech-dialect inverter expects in 0x35E (it checks the name before it trusts
#: the rest): "PYLON" padded with spaces to 8 bytes.
PYLONTECH_NAME = b"PYLON   "
PROFILE_NAMES: dict[str, bytes] = {"victron": MANUFACTURER, "pylontech": PYLONTECH_NAME}
#: The Pylontech profile sends at least this often: its inverters give up on a quieter BMS.
PYLONTECH_MAX_PERIOD_S = 1.0
#: A peer whose keepalive (0x305) has not been heard for this long is reported gone.
KEEPALIVE_TIMEOUT_S = 5.0
#: Cell chemistry in frame 0x35F: two ASCII characters, "LF" for LiFePO4 (every catalogue model).
CHEMISTRY = b"LF"
#: Hardware version in frame 0x35F (major, minor): a software BMS has no hardware revision.
HARDWARE_VERSION = (0, 0)
#: Charge voltage limit per 12.8 V of nominal bank voltage: the datasheet's absorption voltage
#: (S, the top of its 14.0-14.2 V range), the same number as BatteryModel.charge_voltage_v.
CHARGE_VOLTAGE_PER_12V8 = 14.2
#: The battery is never reported less healthy than this: the BMS has no health estimate.
STATE_OF_HEALTH_PCT = 100
#: No new snapshot for this long → the device is stale and the limits go to zero (P).
STALE_AFTER_S = 5.0
KELVIN_OFFSET = 273.15


# --- 0x35A: two bits per flag ----------------------------------------------------------------

#: Values of one 2-bit field of frame 0x35A.
FLAG_UNSUPPORTED = 0b00
FLAG_ACTIVE = 0b01
FLAG_OK = 0b10

#: (name, byte, first bit) of every 0x35A field the BMS reports; alarms in bytes 0-3, warnings
#: in bytes 4-7 at the same positions. Fields not listed are sent as 00 (not supported).
ALARM_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("general_alarm", 0, 0),
    ("high_voltage_alarm", 0, 2),
    ("low_voltage_alarm", 0, 4),
    ("high_temperature_alarm", 0, 6),
    ("low_temperature_alarm", 1, 0),
    ("high_temperature_charge_alarm", 1, 2),
    ("low_temperature_charge_alarm", 1, 4),
    ("internal_failure_alarm", 2, 6),
    ("cell_imbalance_alarm", 3, 0),
    ("general_warning", 4, 0),
    ("high_voltage_warning", 4, 2),
    ("low_voltage_warning", 4, 4),
    ("high_temperature_warning", 4, 6),
    ("low_temperature_warning", 5, 0),
    ("high_temperature_charge_warning", 5, 2),
    ("low_temperature_charge_warning", 5, 4),
    ("internal_failure_warning", 6, 6),
    ("cell_imbalance_warning", 7, 0),
)
ALARM_FIELD_NAMES: tuple[str, ...] = tuple(n for n, _, _ in ALARM_FIELDS)

#: The 0x35A items (field names without ``_alarm`` / ``_warning``) each code of the code table
#: raises besides the general flag. Whether the alarm or the warning field of an item goes up
#: follows from the code's kind (an error counts as an alarm), and every error is an internal
#: failure. Codes not listed (low SoC) raise only the general flag: the set has no item for them.
CODE_ITEMS: dict[Code, tuple[str, ...]] = {
    Code.W_B01: ("low_voltage",),
    Code.A_B01: ("low_voltage",),
    Code.A_B08: ("low_voltage",),
    Code.W_B05: ("internal_failure",),
    Code.A_B05: ("internal_failure",),
    Code.A_B09: ("high_temperature", "high_temperature_charge"),
}

# --- 0x359 and 0x35C (the Pylontech dialect) ---------------------------------------------------

#: (name, byte, bit) of every 0x359 flag we set, and the 0x35A field it follows: protections
#: (bytes 0-1) follow the alarm fields, warnings (bytes 2-3) the warning fields, so both frames
#: always tell the same story. Flags not listed (over current) are always 0.
PROTECTION_FLAGS: tuple[tuple[str, int, int, str], ...] = (
    ("high_voltage_protection", 0, 1, "high_voltage_alarm"),
    ("low_voltage_protection", 0, 2, "low_voltage_alarm"),
    ("high_temperature_protection", 0, 3, "high_temperature_alarm"),
    ("low_temperature_protection", 0, 4, "low_temperature_alarm"),
    ("system_error_protection", 1, 3, "internal_failure_alarm"),
    ("high_voltage_warning", 2, 1, "high_voltage_warning"),
    ("low_voltage_warning", 2, 2, "low_voltage_warning"),
    ("high_temperature_warning", 2, 3, "high_temperature_warning"),
    ("low_temperature_warning", 2, 4, "low_temperature_warning"),
    ("communication_warning", 3, 3, "internal_failure_warning"),
)
PROTECTION_FLAG_NAMES: tuple[str, ...] = tuple(n for n, _, _, _ in PROTECTION_FLAGS)
#: Bytes 5-6 of 0x359: the two letters Pylontech batteries send there.
PYLONTECH_PN = b"PN"

#: (name, bit) of byte 0 of 0x35C.
REQUEST_FLAGS: tuple[tuple[str, int], ...] = (
    ("charge_enable", 7),
    ("discharge_enable", 6),
    ("force_charge_1", 5),
    ("force_charge_2", 4),
    ("full_charge_request", 3),
)


# --- helpers -----------------------------------------------------------------------------------

def _num(x: Any) -> float | None:
    """A finite number from the snapshot, or None (missing, null, NaN, not a number)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        v = float(x)
    except OverflowError:  # an integer no float can hold: not a measurement
        return None
    return v if math.isfinite(v) else None


def _scaled(x: float | None, scale: float, lo: int, hi: int) -> int:
    """``x / scale`` rounded and clamped into a field's range; an unknown value is 0."""
    if x is None:
        return 0
    q = x / scale
    if not math.isfinite(q):  # a finite value past the float range once scaled
        return hi if q > 0 else lo
    return max(lo, min(hi, round(q)))


def _u16(x: float | None, scale: float) -> int:
    return _scaled(x, scale, 0, 0xFFFF)


def _i16(x: float | None, scale: float) -> int:
    return _scaled(x, scale, -0x8000, 0x7FFF)


def _message(arbitration_id: int, payload: bytes) -> can.Message:
    data = payload.ljust(DLC, b"\x00")
    assert len(data) == DLC, (hex(arbitration_id), data)
    return can.Message(arbitration_id=arbitration_id, is_extended_id=False, data=data, dlc=DLC)


def _version_bytes(version: str) -> tuple[int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]]
    parts += [0] * (2 - len(parts))
    return min(parts[0], 255), min(parts[1], 255)


def _bank_model(snap: dict[str, Any]) -> tuple[dict[str, Any], BatteryModel] | None:
    bank = snap.get("bank")
    if not isinstance(bank, dict):
        return None
    try:
        return bank, get_model(str(bank.get("model_id")))
    except UnknownBatteryModel:
        return None


def _count(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) and x > 0 else 0


# --- what the frames say -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Limits:
    """The content of frame 0x351, in volts and amperes."""

    charge_voltage_v: float
    charge_current_a: float
    discharge_current_a: float
    discharge_voltage_v: float


def limits_from_snapshot(
    snap: dict[str, Any], *, stale: bool = False, charge_limit: ChargeLimit = "continuous",
) -> Limits:
    """Charge/discharge limits for one snapshot (see docs/canbus.md for the rules)."""
    found = _bank_model(snap)
    if found is None:
        return Limits(0.0, 0.0, 0.0, 0.0)
    bank, model = found
    series = _count(bank.get("series")) or 1
    parallel = _count(bank.get("parallel")) or 1
    cells_in_series = model.cells_in_series * series
    cvl = CHARGE_VOLTAGE_PER_12V8 * model.nominal_voltage_v * series / 12.8
    dvl = END_OF_DISCHARGE_CELL_V * cells_in_series
    per_battery_charge = (model.recommended_charge_a if charge_limit == "recommended"
                          else model.cont_charge_a)
    status = snap.get("status")
    outputs = status.get("outputs") if isinstance(status, dict) else None
    outputs = outputs if isinstance(outputs, dict) else {}
    # Anything but an explicit "high" blocks: a missing output state is not a permission.
    charge_ok = not stale and outputs.get("charge_disconnect") == "high"
    discharge_ok = not stale and outputs.get("load_disconnect") == "high"
    ccl = per_battery_charge * parallel if charge_ok else 0.0
    dcl = model.cont_discharge_a * parallel if discharge_ok else 0.0
    return Limits(cvl, ccl, dcl, dvl)


def alarm_flags(snap: dict[str, Any], *, stale: bool = False) -> dict[str, int]:
    """The 0x35A fields for one snapshot: FLAG_ACTIVE or FLAG_OK for each reported field."""
    infos = infos_of(snap.get("active_codes") or ())
    status = snap.get("status")
    status = status if isinstance(status, dict) else {}
    charge_reasons = set(status.get("charge_reasons") or ())
    no_data = not status or Reason.NO_BATTERY_DATA.word in charge_reasons
    active = dict.fromkeys(ALARM_FIELD_NAMES, False)
    for info in infos:
        suffix = "_warning" if info.kind == "warning" else "_alarm"
        active["general" + suffix] = True
        for item in CODE_ITEMS.get(info.code, ()):
            active[item + suffix] = True
        if info.kind == "error":
            active["internal_failure_alarm"] = True
    active["high_voltage_alarm"] = Reason.HIGH_CELL_VOLTAGE.word in charge_reasons
    active["low_temperature_charge_alarm"] = Reason.LOW_TEMPERATURE.word in charge_reasons
    active["internal_failure_alarm"] |= stale or no_data
    active["cell_imbalance_warning"] = status.get("balancer") == "imbalanced"
    active["general_alarm"] |= any(v for k, v in active.items() if k.endswith("_alarm"))
    active["general_warning"] |= any(v for k, v in active.items() if k.endswith("_warning"))
    return {name: FLAG_ACTIVE if active[name] else FLAG_OK for name in ALARM_FIELD_NAMES}


def _alarm_bytes(flags: dict[str, int]) -> bytes:
    out = bytearray(DLC)
    for name, byte, bit in ALARM_FIELDS:
        out[byte] |= (flags.get(name, FLAG_UNSUPPORTED) & 0b11) << bit
    return bytes(out)


def module_counts(snap: dict[str, Any], *, stale: bool = False) -> tuple[int, int, int, int]:
    """(online, blocking charge, blocking discharge, offline) batteries for frame 0x372.

    A battery is online while it reports. The BMS decides for the whole bank, so while the
    charge (load) disconnect is floating every online battery counts as blocking charge
    (discharge).
    """
    batteries = snap.get("batteries")
    batteries = batteries if isinstance(batteries, list) else []
    online = sum(1 for b in batteries if isinstance(b, dict) and b.get("reporting") is True)
    listed = sum(1 for b in batteries if isinstance(b, dict))
    offline = listed - online
    bank = snap.get("bank")
    if isinstance(bank, dict):
        offline += max(0, _count(bank.get("batteries")) - listed)
    status = snap.get("status")
    outputs = status.get("outputs") if isinstance(status, dict) else None
    outputs = outputs if isinstance(outputs, dict) else {}
    blocking_charge = online if stale or outputs.get("charge_disconnect") != "high" else 0
    blocking_discharge = online if stale or outputs.get("load_disconnect") != "high" else 0
    return online, blocking_charge, blocking_discharge, offline


def protection_flags(snap: dict[str, Any], *, stale: bool = False) -> dict[str, bool]:
    """The 0x359 flags for one snapshot (derived from the 0x35A fields, see PROTECTION_FLAGS)."""
    flags = alarm_flags(snap, stale=stale)
    return {name: flags[field] == FLAG_ACTIVE for name, _, _, field in PROTECTION_FLAGS}


def request_flags(snap: dict[str, Any], *, stale: bool = False) -> dict[str, bool]:
    """The 0x35C flags: charge and discharge enabled while their outputs are high (and the
    snapshot is fresh); a full charge requested while the SoC is unknown (the battery monitor
    needs one to synchronise). The BMS never asks for a forced charge."""
    status = snap.get("status")
    status = status if isinstance(status, dict) else {}
    outputs = status.get("outputs")
    outputs = outputs if isinstance(outputs, dict) else {}
    return {
        "charge_enable": not stale and outputs.get("charge_disconnect") == "high",
        "discharge_enable": not stale and outputs.get("load_disconnect") == "high",
        "force_charge_1": False,
        "force_charge_2": False,
        "full_charge_request": bool(status) and _num(status.get("soc_pct")) is None,
    }


def frames_from_snapshot(
    snap: dict[str, Any], *, stale: bool = False, last_soc_pct: float | None = None,
    charge_limit: ChargeLimit = "continuous", profile: CanProfile = "victron",
) -> list[can.Message]:
    """The full frame set (ids in ``PROFILE_FRAME_IDS[profile]`` order) for one device
    snapshot. Pure.

    ``stale``: the snapshot is old (the device stopped ticking): current limits go to zero and
    the internal-failure alarm is raised. ``last_soc_pct``: what to send while the snapshot's
    SoC is unknown (the last SoC that was known); without it an unknown SoC is sent as 0 %.
    ``charge_limit``: "continuous" (catalogue continuous charge current × parallel) or
    "recommended" (0.3C × parallel). ``profile``: "victron", or "pylontech" (adds 0x359 and
    0x35C and names itself "PYLON" in 0x35E).
    """
    status = snap.get("status")
    status = status if isinstance(status, dict) else {}

    lim = limits_from_snapshot(snap, stale=stale, charge_limit=charge_limit)
    f351 = struct.pack("<HhhH", _u16(lim.charge_voltage_v, 0.1), _i16(lim.charge_current_a, 0.1),
                       _i16(lim.discharge_current_a, 0.1), _u16(lim.discharge_voltage_v, 0.1))

    soc = _num(status.get("soc_pct"))
    if soc is None:
        soc = _num(last_soc_pct)
    soc = 0.0 if soc is None else max(0.0, min(100.0, soc))
    f355 = struct.pack("<HHH", _u16(soc, 1.0), STATE_OF_HEALTH_PCT, _u16(soc, 0.01))

    f356 = struct.pack("<hhh", _i16(_num(status.get("voltage_v")), 0.01),
                       _i16(_num(status.get("current_a")), 0.1),
                       _i16(_num(status.get("max_temperature_c")), 0.1))

    f35a = _alarm_bytes(alarm_flags(snap, stale=stale))

    found = _bank_model(snap)
    capacity = _num(found[0].get("capacity_ah")) if found is not None else None
    f35f = (CHEMISTRY + bytes(HARDWARE_VERSION) + struct.pack("<H", _u16(capacity, 1.0))
            + bytes(_version_bytes(__version__)))

    f372 = struct.pack("<HHHH", *(min(n, 0xFFFF) for n in module_counts(snap, stale=stale)))

    def kelvin(c: Any) -> float | None:
        v = _num(c)
        return None if v is None else v + KELVIN_OFFSET

    f373 = struct.pack("<HHHH", _u16(_num(status.get("min_cell_v")), 0.001),
                       _u16(_num(status.get("max_cell_v")), 0.001),
                       _u16(kelvin(status.get("min_temperature_c")), 1.0),
                       _u16(kelvin(status.get("max_temperature_c")), 1.0))

    f379 = struct.pack("<H", _u16(capacity, 1.0))

    counts = module_counts(snap, stale=stale)
    f359 = bytearray(DLC)
    for (_, byte, bit, _), on in zip(PROTECTION_FLAGS,
                                     protection_flags(snap, stale=stale).values(), strict=True):
        f359[byte] |= int(on) << bit
    f359[4] = min(counts[0], 0xFF)
    f359[5:7] = PYLONTECH_PN
    req = request_flags(snap, stale=stale)
    f35c = bytes([sum(int(req[name]) << bit for name, bit in REQUEST_FLAGS)])

    payloads = {ID_LIMITS: f351, ID_SOC: f355, ID_MEASURE: f356, ID_ALARMS: f35a,
                ID_NAME: PROFILE_NAMES[profile], ID_INFO: f35f, ID_MODULES: f372,
                ID_CELLS: f373, ID_CAPACITY: f379, ID_PROTECTION: bytes(f359),
                ID_REQUEST: f35c}
    return [_message(i, payloads[i]) for i in PROFILE_FRAME_IDS[profile]]


def decode_frame(msg: can.Message) -> dict[str, Any]:
    """The fields of one frame of the set, in engineering units (the inverse of the encoder)."""
    data = bytes(msg.data)
    if msg.is_extended_id or len(data) < DLC:
        raise ValueError(f"not a frame of the set: {msg}")
    i = msg.arbitration_id
    if i == ID_LIMITS:
        cvl, ccl, dcl, dvl = struct.unpack_from("<HhhH", data)
        return {"charge_voltage_v": cvl / 10, "charge_current_a": ccl / 10,
                "discharge_current_a": dcl / 10, "discharge_voltage_v": dvl / 10}
    if i == ID_SOC:
        soc, soh, soc_hr = struct.unpack_from("<HHH", data)
        return {"soc_pct": float(soc), "soh_pct": float(soh), "soc_hr_pct": soc_hr / 100}
    if i == ID_MEASURE:
        v, a, t = struct.unpack_from("<hhh", data)
        return {"voltage_v": v / 100, "current_a": a / 10, "temperature_c": t / 10}
    if i == ID_ALARMS:
        return {name: data[byte] >> bit & 0b11 for name, byte, bit in ALARM_FIELDS}
    if i == ID_NAME:
        return {"manufacturer": data.rstrip(b"\x00 ").decode("ascii")}
    if i == ID_INFO:
        (cap,) = struct.unpack_from("<H", data, 4)
        return {"chemistry": data[0:2].decode("ascii"), "hardware_version": (data[2], data[3]),
                "capacity_ah": float(cap), "software_version": (data[6], data[7])}
    if i == ID_MODULES:
        on, bc, bd, off = struct.unpack_from("<HHHH", data)
        return {"online": on, "blocking_charge": bc, "blocking_discharge": bd, "offline": off}
    if i == ID_CELLS:
        vmin, vmax, tmin, tmax = struct.unpack_from("<HHHH", data)
        return {"min_cell_v": vmin / 1000, "max_cell_v": vmax / 1000,
                "min_temperature_k": float(tmin), "max_temperature_k": float(tmax)}
    if i == ID_CAPACITY:
        (cap,) = struct.unpack_from("<H", data)
        return {"installed_capacity_ah": float(cap)}
    if i == ID_PROTECTION:
        out: dict[str, Any] = {name: bool(data[byte] >> bit & 1)
                               for name, byte, bit, _ in PROTECTION_FLAGS}
        out["module_count"] = data[4]
        out["pn"] = data[5:7].decode("ascii", "replace")
        return out
    if i == ID_REQUEST:
        return {name: bool(data[0] >> bit & 1) for name, bit in REQUEST_FLAGS}
    raise ValueError(f"unknown frame id 0x{i:03X}")


def decode_frames(msgs: Iterable[can.Message]) -> dict[int, dict[str, Any]]:
    """Decode a frame set, keyed by identifier (a later frame replaces an earlier one)."""
    return {m.arbitration_id: decode_frame(m) for m in msgs}


# --- configuration -----------------------------------------------------------------------------
# The [can] table (CanConfig) is a pydantic model in smallbms.config.integrations.


# --- the service -------------------------------------------------------------------------------

BusFactory = Callable[[CanConfig], can.BusABC]


def open_bus(config: CanConfig) -> can.BusABC:
    """A python-can bus for the configuration (the bitrate is passed where it applies)."""
    kwargs: dict[str, Any] = {}
    if config.interface not in ("socketcan", "virtual"):
        # socketcan takes the bitrate from `ip link`; most other interfaces set it themselves.
        kwargs["bitrate"] = config.bitrate
    return can.Bus(interface=config.interface, channel=config.channel, **kwargs)


class CanBmsService:
    """Sends the frame set every ``config.period_s`` on its own thread.

    ``start()`` opens the bus and starts the thread; ``stop()`` ends it and closes the bus (it
    is also a context manager). While no new snapshot has arrived for ``stale_after_s`` the
    frames carry zero current limits and the internal-failure alarm.

    The peer's keepalive (0x305) and identification (0x307), when an inverter or GX sends
    them, are read after every frame set: :attr:`keepalives`, :attr:`peer_present` and
    :attr:`peer_text` report them, and the log says when a peer appears and when it goes quiet.
    """

    def __init__(
        self, device: SnapshotSource, config: CanConfig, *,
        stale_after_s: float = STALE_AFTER_S, bus_factory: BusFactory = open_bus,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        self.device = device
        self.config = config
        self.stale_after_s = stale_after_s
        self.bus_factory = bus_factory
        self.clock = clock
        self.frame_sets_sent = 0
        self.send_errors = 0
        self.last_frames: list[can.Message] = []
        #: 0x305 keepalive frames heard, and when the last one came (``clock`` time)
        self.keepalives = 0
        self.last_keepalive_s: float | None = None
        #: the peer's 0x307 identification: its bytes, and as text where they are printable
        self.peer_info: bytes | None = None
        self._peer_announced = False
        self._bus: can.BusABC | None = None
        self._worker = Worker("bms-canbus", self._run)
        self._started = threading.Event()
        self._feed: WakeableFeed | None = None
        self._wake: dict[str, Any] = {}  # put into the feed by stop() to end a wait at once

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker.started:
            raise RuntimeError("CAN service already started")
        self._bus = self.bus_factory(self.config)
        self._started.clear()
        self._worker.start()
        self._started.wait(5.0)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._worker.stop(timeout_s, wake=self._wake_feed)
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def _wake_feed(self) -> None:
        feed = self._feed
        if feed is not None:
            feed.put(self._wake)

    @property
    def running(self) -> bool:
        return self._worker.running

    @property
    def period_s(self) -> float:
        """The send period: the configured one, at most 1 s for the Pylontech profile."""
        if self.config.profile == "pylontech":
            return min(self.config.period_s, PYLONTECH_MAX_PERIOD_S)
        return self.config.period_s

    @property
    def peer_present(self) -> bool:
        """True while a peer's keepalive has been heard within the last few seconds."""
        last = self.last_keepalive_s
        return last is not None and self.clock() - last <= KEEPALIVE_TIMEOUT_S

    @property
    def peer_text(self) -> str | None:
        """The peer's 0x307 identification as text (printable ASCII only), if it sent one."""
        info = self.peer_info
        if info is None:
            return None
        text = info.rstrip(b"\x00 ").decode("ascii", "replace")
        return "".join(c if c.isprintable() and c.isascii() else "?" for c in text)

    def __enter__(self) -> CanBmsService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            with self.device.subscribe() as feed:
                self._feed = feed
                self._started.set()
                self._loop(feed)
        except Exception:  # pragma: no cover - logged, the thread must not die silently
            log.exception("CAN service stopped by an error")
        finally:
            self._feed = None
            self._started.set()

    def _loop(self, feed: WakeableFeed) -> None:
        latest: dict[str, Any] = dict(self.device.snapshot or {})
        last_rx: float | None = None  # nothing fresh yet: stale until the first snapshot
        last_soc: float | None = None
        period = self.period_s
        next_send = self.clock()
        stopping = self._worker.stopping
        while not stopping.is_set():
            wait = max(0.0, next_send - self.clock())
            snap = feed.get(wait) if wait > 0 else None
            if snap is self._wake or stopping.is_set():
                break
            if snap is not None:
                latest, last_rx = snap, self.clock()
                status = snap.get("status")
                soc = _num(status.get("soc_pct")) if isinstance(status, dict) else None
                if soc is not None:
                    last_soc = soc
                continue
            now = self.clock()
            if now < next_send:
                continue
            stale = last_rx is None or now - last_rx > self.stale_after_s
            self._send(frames_from_snapshot(latest, stale=stale, last_soc_pct=last_soc,
                                            charge_limit=self.config.charge_limit,
                                            profile=self.config.profile))
            self._receive()
            next_send += period
            if next_send <= now:  # fell behind (bus blocked): start the rhythm again from now
                next_send = now + period
        # stopping: one last frame set as for a stale snapshot (charge and discharge current
        # limits 0, both requests off), so an inverter or GX does not keep the last limits
        # until its own time-out (SPEC 20, 21)
        self._send(frames_from_snapshot(latest, stale=True, last_soc_pct=last_soc,
                                        charge_limit=self.config.charge_limit,
                                        profile=self.config.profile))

    def _send(self, frames: list[can.Message]) -> None:
        bus = self._bus
        if bus is None:
            return
        failed = 0
        for msg in frames:
            try:
                bus.send(msg, timeout=0.1)
            except can.CanError as e:
                failed += 1
                if self.send_errors == 0 or self.send_errors % 100 == 0:
                    log.warning("CAN send of 0x%03X failed: %s", msg.arbitration_id, e)
                self.send_errors += 1
        self.last_frames = frames
        if not failed:
            self.frame_sets_sent += 1

    def _receive(self) -> None:
        """Read what the peer sent since the last frame set (without waiting)."""
        bus = self._bus
        if bus is None:
            return
        for _ in range(256):  # a flooded bus must not hold up the next frame set
            try:
                msg = bus.recv(0.0)
            except can.CanError as e:
                log.debug("CAN receive failed: %s", e)
                return
            if msg is None:
                break
            if msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
                continue
            if msg.arbitration_id == ID_KEEPALIVE:
                self.keepalives += 1
                self.last_keepalive_s = self.clock()
                if not self._peer_announced:
                    self._peer_announced = True
                    log.info("CAN: the inverter/GX keepalive (0x305) is being received")
            elif msg.arbitration_id == ID_PEER_INFO:
                info = bytes(msg.data)
                if info != self.peer_info:
                    self.peer_info = info
                    log.info("CAN: the peer identifies itself (0x307) as %r", self.peer_text)
        if self._peer_announced and not self.peer_present:
            self._peer_announced = False
            log.warning("CAN: no keepalive (0x305) from the inverter/GX for %.0f s",
                        KEEPALIVE_TIMEOUT_S)
