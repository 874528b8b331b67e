"""The JSON Lines event contract of ``smallbms simulate`` (SPEC 17).

This format is public: field names, types and line order are stable. New fields may be added to
``sample`` and ``summary`` lines; nothing is renamed or removed.

Line order within one time: ``output`` lines (load disconnect, charge disconnect, pre-alarm),
then ``code`` lines (in code-table order), then ``led`` lines, then the ``sample`` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

from smallbms.core.engine import Status
from smallbms.core.types import OUTPUT_NAMES, Decision, Profile

LED_NAMES: dict[str, tuple[str, ...]] = {
    "ng": ("error", "bluetooth"),
    "classic": ("load_on", "temp_ovp"),
}


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _t(t_s: float) -> float:
    return round(float(t_s), 3)


def sample_fields(status: Status, decision: Decision) -> dict[str, Any]:
    """The fields of a ``sample`` line, rounded for people (SoC 0.1 %, mV, 10 mA)."""
    tr = status.time_remaining_s
    return {
        "soc_pct": _r(status.soc_pct, 1),
        "voltage_v": _r(status.voltage_v, 2),
        "current_a": _r(status.current_a, 2),
        "power_w": _r(status.power_w, 1),
        "consumed_ah": _r(status.consumed_ah, 2),
        "time_remaining_s": None if tr is None else int(tr),
        "min_cell_v": _r(status.min_cell_v, 3),
        "max_cell_v": _r(status.max_cell_v, 3),
        "temperature_c": _r(status.max_temperature_c, 1),
        "allowed_to_charge": decision.allowed_to_charge,
        "allowed_to_discharge": decision.allowed_to_discharge,
        "mode": status.mode,
    }


@dataclass
class EventWriter:
    """Writes event lines, remembering the last output and LED states to report changes only."""

    out: IO[str]
    profile: Profile = "ng"

    def __post_init__(self) -> None:
        self._outputs: dict[str, str] = {}
        self._leds: dict[str, str] = {}
        self.lines_written = 0

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj))
        self.out.write("\n")
        self.lines_written += 1

    def decision(self, t_s: float, d: Decision) -> None:
        """Write the output, code and LED lines this decision changes."""
        t = _t(t_s)
        for name in OUTPUT_NAMES:
            state = d.output(name)
            if self._outputs.get(name) != state:
                self._outputs[name] = state
                self._write({"t": t, "type": "output", "output": name, "state": state})
        for ev in d.events:
            self._write({"t": _t(ev.t_s), "type": "code", "code": ev.code, "state": ev.state})
        for led in LED_NAMES[self.profile]:
            state = getattr(d.leds, led)
            if self._leds.get(led) != state:
                self._leds[led] = state
                self._write({"t": t, "type": "led", "led": led, "state": state})

    def sample(self, t_s: float, fields: dict[str, Any]) -> None:
        self._write({"t": _t(t_s), "type": "sample", **fields})

    def summary(
        self, t_s: float, history: dict[str, Any] | None, active_codes: tuple[str, ...],
        extra: dict[str, Any] | None = None,
    ) -> None:
        line: dict[str, Any] = {
            "t": _t(t_s), "type": "summary", "history": history, "active_codes": list(active_codes),
        }
        if extra:
            line.update(extra)
        self._write(line)


def history_summary(history: dict[str, Any]) -> dict[str, Any]:
    """Round history values for the summary line."""
    out: dict[str, Any] = {}
    for k, v in history.items():
        if isinstance(v, float):
            digits = 4 if k.endswith("_kwh") else 3 if k.endswith("_v") else 2
            out[k] = round(v, digits)
        else:
            out[k] = v
    return out
