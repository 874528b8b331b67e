"""The persistent part of the core as plain JSON-able data, and back (no I/O here).

Stores keep these dictionaries; :func:`persistent_from_dict` checks every field and raises
:class:`PersistError` naming the field when stored data are damaged, so a caller can refuse to
start on corrupt state instead of guessing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, TypeGuard

from smallbms.bank import BankTopology
from smallbms.catalog import CATALOGUE
from smallbms.core.engine import Persistent
from smallbms.core.history import History
from smallbms.core.monitor import MonitorState
from smallbms.core.settings import SettingError, settings_from_dict
from smallbms.core.types import CodeEvent

FORMAT_VERSION = 1

_MONITOR_FIELDS = ("consumed_ah", "soc_known", "avg_current_a", "seconds_since_sync",
                   "battery_added_since_sync")


class PersistError(ValueError):
    """Stored core state that cannot be read back; the message names the field."""


def settings_to_dict(p: Persistent) -> dict[str, Any]:
    return p.settings.as_dict()


def monitor_to_dict(m: MonitorState) -> dict[str, Any]:
    return {k: getattr(m, k) for k in _MONITOR_FIELDS}


def history_to_dict(h: History) -> dict[str, Any]:
    d = asdict(h)
    d["last_errors"] = [[c, t] for c, t in h.last_errors]
    return d


def bank_to_dict(b: BankTopology | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"model_id": b.model_id, "serials": list(b.serials), "series": b.series,
            "parallel": b.parallel, "cells_per_battery": b.cells_per_battery}


def persistent_to_dict(p: Persistent) -> dict[str, Any]:
    """Everything that survives a power cycle, as JSON-able data."""
    return {
        "format": FORMAT_VERSION,
        "settings": settings_to_dict(p),
        "mode": p.mode,
        "wireless_enabled": p.wireless_enabled,
        "monitor": monitor_to_dict(p.monitor),
        "history": history_to_dict(p.history),
        "commissioned": bank_to_dict(p.commissioned),
    }


def _shown(v: Any, limit: int = 60) -> str:
    """A value for an error message, shortened (a damaged field can hold anything)."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 200:
        return "a very large integer"
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(v: Any) -> TypeGuard[int | float]:
    """A finite number a float can hold (not a boolean)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an integer too large for a float
        return False


def _num(d: dict[str, Any], key: str, where: str, none_ok: bool = False) -> float | None:
    v = d.get(key)
    if v is None and none_ok:
        return None
    if not _finite(v):
        raise PersistError(f"{where}.{key}: expected a finite number, got {_shown(v)}")
    return float(v)


def _monitor(d: Any) -> MonitorState:
    if not isinstance(d, dict):
        raise PersistError("monitor: expected a table")
    m = MonitorState()
    m.consumed_ah = _num(d, "consumed_ah", "monitor") or 0.0
    if m.consumed_ah > 0:
        raise PersistError("monitor.consumed_ah: must be <= 0")
    m.avg_current_a = _num(d, "avg_current_a", "monitor") or 0.0
    m.seconds_since_sync = _num(d, "seconds_since_sync", "monitor", none_ok=True)
    for key in ("soc_known", "battery_added_since_sync"):
        v = d.get(key)
        if not isinstance(v, bool):
            raise PersistError(f"monitor.{key}: expected true or false, got {_shown(v)}")
        setattr(m, key, v)
    return m


def _history(d: Any) -> History:
    if not isinstance(d, dict):
        raise PersistError("history: expected a table")
    h = History()
    for f in fields(History):
        if f.name == "last_errors":
            errs = d.get("last_errors", [])
            if not isinstance(errs, list) or not all(
                isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                and _finite(e[1]) for e in errs
            ):
                raise PersistError("history.last_errors: expected a list of [code, time]")
            h.last_errors = [(str(c), float(t)) for c, t in errs]
            continue
        v = d.get(f.name, getattr(h, f.name))
        if f.name in ("synchronisations", "cycles"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise PersistError(f"history.{f.name}: expected a count, got {_shown(v)}")
        elif f.name.startswith("fell_below"):
            if not isinstance(v, bool):
                raise PersistError(f"history.{f.name}: expected true or false, got {_shown(v)}")
        elif v is not None and not _finite(v):
            raise PersistError(f"history.{f.name}: expected a number or null, got {_shown(v)}")
        setattr(h, f.name, v)
    return h


def _bank(d: Any) -> BankTopology | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise PersistError("commissioned: expected a table or null")
    model = d.get("model_id")
    if not isinstance(model, str) or model not in CATALOGUE:
        raise PersistError(f"commissioned.model_id: unknown battery model {_shown(model)}")
    serials = d.get("serials")
    if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
        raise PersistError("commissioned.serials: expected a list of serial numbers")
    ints = []
    for key in ("series", "parallel", "cells_per_battery"):
        v = d.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise PersistError(f"commissioned.{key}: expected a positive whole number, got {_shown(v)}")
        ints.append(v)
    return BankTopology(str(model), tuple(serials), ints[0], ints[1], ints[2])


def persistent_from_dict(d: Any, code_log: list[CodeEvent] | None = None) -> Persistent:
    """Rebuild the persistent state, or raise PersistError naming the damaged field."""
    if not isinstance(d, dict):
        raise PersistError("state: expected a table")
    if type(d.get("format")) is not int or d.get("format") != FORMAT_VERSION:
        raise PersistError(f"format: expected {FORMAT_VERSION}, got {_shown(d.get('format'))}")
    settings = d.get("settings")
    if not isinstance(settings, dict):
        raise PersistError("settings: expected a table")
    try:
        s = settings_from_dict(settings)
    except SettingError as e:
        raise PersistError(f"settings.{e.name}: {e.reason}") from None
    mode = d.get("mode")
    if mode not in ("on", "off"):
        raise PersistError(f"mode: expected 'on' or 'off', got {_shown(mode)}")
    wireless = d.get("wireless_enabled")
    if not isinstance(wireless, bool):
        raise PersistError(f"wireless_enabled: expected true or false, got {_shown(wireless)}")
    return Persistent(
        settings=s, mode=mode, wireless_enabled=wireless, monitor=_monitor(d.get("monitor")),
        history=_history(d.get("history")), commissioned=_bank(d.get("commissioned")),
        code_log=list(code_log or []),
    )
