"""One snapshot of the device, as plain data: what the pages, API, MQTT and CLI clients show.

The names here are the public data dictionary: units in every name, the same names as the
event contract's sample lines where both exist.
"""

from __future__ import annotations

from typing import Any

from smallbms.core.codes import CODE_INFO
from smallbms.core.engine import Core
from smallbms.core.history import History
from smallbms.core.settings import SETTING_SPECS
from smallbms.core.types import Decision


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def status_dict(core: Core, d: Decision) -> dict[str, Any]:
    st = core.status()
    return {
        "powered": st.powered,
        "mode": st.mode,
        "soc_pct": _r(st.soc_pct, 1),
        "voltage_v": _r(st.voltage_v, 2),
        "current_a": _r(st.current_a, 2),
        "power_w": _r(st.power_w, 1),
        "consumed_ah": _r(st.consumed_ah, 2),
        "time_remaining_s": st.time_remaining_s,
        "min_cell_v": _r(st.min_cell_v, 3),
        "max_cell_v": _r(st.max_cell_v, 3),
        "min_temperature_c": _r(st.min_temperature_c, 1),
        "max_temperature_c": _r(st.max_temperature_c, 1),
        "balancer": st.balancer,
        "allowed_to_charge": d.allowed_to_charge,
        "allowed_to_discharge": d.allowed_to_discharge,
        "charge_reasons": list(d.charge_reasons),
        "discharge_reasons": list(d.discharge_reasons),
        "outputs": {
            "load_disconnect": d.load_disconnect,
            "charge_disconnect": d.charge_disconnect,
            "pre_alarm": d.pre_alarm,
        },
        "leds": {"error": d.leds.error, "bluetooth": d.leds.bluetooth,
                 "load_on": d.leds.load_on, "temp_ovp": d.leds.temp_ovp},
        "wireless_available": st.wireless_available,
        "wireless_enabled": core.p.wireless_enabled,
        "firmware_update": st.firmware_update,
    }


def codes_list(codes: tuple[str, ...]) -> list[dict[str, str]]:
    out = []
    for c in codes:
        info = CODE_INFO[c]
        out.append({"code": c, "name": info.name, "kind": info.kind, "effect": info.effect,
                    "advice": info.advice})
    return out


def bank_dict(core: Core) -> dict[str, Any] | None:
    b = core.p.commissioned
    if b is None:
        return None
    return {
        "model_id": b.model_id, "batteries": b.batteries, "series": b.series,
        "parallel": b.parallel, "cells_total": b.cells_total, "capacity_ah": b.capacity_ah,
        "nominal_voltage_v": b.nominal_voltage_v, "energy_kwh": round(b.energy_kwh, 3),
    }


def batteries_list(core: Core) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    b = core.p.commissioned
    capacity = b.model.capacity_ah if b is not None else None
    for i, r in enumerate(core.m.reports):
        if r is None:
            out.append({"index": i, "reporting": False})
            continue
        out.append({
            "index": i, "reporting": True, "serial": r.serial, "model_id": r.model_id,
            "capacity_ah": capacity, "firmware": r.firmware, "series_position": r.series_position,
            "temperature_c": r.temperature_c, "voltage_v": round(sum(r.cell_voltages_v), 3),
            "current_a": r.current_a, "cell_voltages_v": list(r.cell_voltages_v),
        })
    return out


def history_dict(h: History) -> dict[str, Any]:
    return h.as_dict()


def settings_dict(core: Core) -> dict[str, Any]:
    values = core.p.settings.as_dict()
    return {
        "values": values,
        "specs": [
            {"name": s.name, "label": s.label, "unit": s.unit, "default": s.default,
             "minimum": s.minimum, "maximum": s.maximum, "step": s.step, "help": s.help,
             "reset_by_defaults": s.reset_by_defaults}
            for s in SETTING_SPECS
        ],
    }


def build_snapshot(core: Core, d: Decision, sim_t: float, wall_s: float) -> dict[str, Any]:
    """Everything a client may show for this tick."""
    return {
        "t_s": sim_t,
        "wall_s": wall_s,
        "profile": core.profile,
        "status": status_dict(core, d),
        "active_codes": codes_list(d.active_codes),
        "bank": bank_dict(core),
        "batteries": batteries_list(core),
        "history": history_dict(core.p.history),
        "settings": settings_dict(core),
    }
