"""The JSON Lines event contract of ``smallbms simulate`` (SPEC 17).

This format is public: field names, types and line order are stable. New fields may be added to
``sample`` and ``summary`` lines; nothing is renamed or removed.

Line order within one time: ``output`` lines (load disconnect, charge disconnect, pre-alarm),
then ``code`` lines (in code-table order), then ``led`` lines, then the ``sample`` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from smallbms.core.types import OUTPUT_NAMES, Decision, Profile
from smallbms.model.fields import SAMPLE_LINE, contract_rounded, summary_history_precision
from smallbms.model.snapshot import Status

LED_NAMES: dict[str, tuple[str, ...]] = {
    "ng": ("error", "bluetooth"),
    "classic": ("load_on", "temp_ovp"),
}


def _t(t_s: float) -> float:
    return round(float(t_s), 3)


# Where each sample-line value comes from; its key and rounding are in the field table's
# SAMPLE_LINE (the contract's names, kept as they were).
_SAMPLE_SOURCES: dict[str, Callable[[Status, Decision], Any]] = {
    "status.soc_pct": lambda st, d: st.soc_pct,
    "status.voltage_v": lambda st, d: st.voltage_v,
    "status.current_a": lambda st, d: st.current_a,
    "status.power_w": lambda st, d: st.power_w,
    "status.consumed_ah": lambda st, d: st.consumed_ah,
    "status.time_remaining_s": lambda st, d: st.time_remaining_s,
    "status.min_cell_voltage_v": lambda st, d: st.min_cell_voltage_v,
    "status.max_cell_voltage_v": lambda st, d: st.max_cell_voltage_v,
    "status.max_temperature_c": lambda st, d: st.max_temperature_c,
    "status.allowed_to_charge": lambda st, d: d.allowed_to_charge,
    "status.allowed_to_discharge": lambda st, d: d.allowed_to_discharge,
    "status.mode": lambda st, d: st.mode,
}
_SAMPLE: tuple[tuple[str, Callable[[Status, Decision], Any], int | None], ...] = tuple(
    (key, _SAMPLE_SOURCES[fid], precision) for key, fid, precision in SAMPLE_LINE
)


def sample_fields(status: Status, decision: Decision) -> dict[str, Any]:
    """The fields of a ``sample`` line, rounded as the contract says (``SAMPLE_LINE``)."""
    return {key: contract_rounded(get(status, decision), precision)
            for key, get, precision in _SAMPLE}


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
    """Round history values for the summary line (the contract's own rounding)."""
    return {k: round(v, summary_history_precision(k)) if isinstance(v, float) else v
            for k, v in history.items()}
