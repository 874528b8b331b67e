"""The core's snapshot of itself: the typed record every client reads (see smallbms.model)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from smallbms.bank import BankTopology
from smallbms.core.history import History
from smallbms.core.settings import SETTING_SPECS
from smallbms.core.types import BatteryReport, Decision
from smallbms.model.codes import CODE_INFO
from smallbms.model.snapshot import (
    BankSnapshot,
    BatterySnapshot,
    DeviceSnapshot,
    HistorySnapshot,
    LoggedError,
    OutputsSnapshot,
    SettingsSnapshot,
    Status,
    StatusSnapshot,
)


def build_snapshot(
    *, st: Status, d: Decision, profile: str, wireless_enabled: bool, bank: BankTopology | None,
    reports: tuple[BatteryReport | None, ...], history: History, settings: Mapping[str, float],
    t_s: float, wall_s: float,
) -> DeviceSnapshot:
    """The snapshot of one tick, from the core's status, decision and state (``Core.snapshot``)."""
    status = StatusSnapshot(
        **{f.name: getattr(st, f.name) for f in fields(Status)},
        allowed_to_charge=d.allowed_to_charge, allowed_to_discharge=d.allowed_to_discharge,
        charge_reasons=d.charge_reasons, discharge_reasons=d.discharge_reasons,
        outputs=OutputsSnapshot(d.load_disconnect, d.charge_disconnect, d.pre_alarm),
        leds=d.leds, wireless_enabled=wireless_enabled,
    )
    b = bank
    bank_snap = None if b is None else BankSnapshot(
        model_id=b.model_id, batteries=b.batteries, series=b.series, parallel=b.parallel,
        cells_total=b.cells_total, capacity_ah=b.capacity_ah,
        nominal_voltage_v=b.nominal_voltage_v, energy_kwh=b.energy_kwh,
    )
    capacity = b.model.capacity_ah if b is not None else None
    batteries = tuple(
        BatterySnapshot(index=i, reporting=False) if r is None else BatterySnapshot(
            index=i, reporting=True, serial=r.serial, model_id=r.model_id, capacity_ah=capacity,
            firmware=r.firmware, series_position=r.series_position,
            temperature_c=r.temperature_c, voltage_v=sum(r.cell_voltages_v),
            current_a=r.current_a, cell_voltages_v=r.cell_voltages_v,
        )
        for i, r in enumerate(reports)
    )
    h = history
    history_snap = HistorySnapshot(
        deepest_discharge_ah=h.deepest_discharge_ah, cumulative_ah_drawn=h.cumulative_ah_drawn,
        discharged_energy_kwh=h.discharged_energy_kwh, charged_energy_kwh=h.charged_energy_kwh,
        synchronisations=h.synchronisations, cycles=h.cycles,
        seconds_since_full_charge=h.seconds_since_full_charge,
        min_battery_voltage_v=h.min_battery_voltage_v, max_battery_voltage_v=h.max_battery_voltage_v,
        min_cell_voltage_v=h.min_cell_voltage_v, max_cell_voltage_v=h.max_cell_voltage_v,
        min_battery_temperature_c=h.min_battery_temperature_c,
        max_battery_temperature_c=h.max_battery_temperature_c,
        last_errors=tuple(LoggedError(c, t) for c, t in h.last_errors),
    )
    return DeviceSnapshot(
        t_s=t_s, wall_s=wall_s, profile=profile, status=status,
        active_codes=tuple(CODE_INFO[c] for c in d.active_codes), bank=bank_snap,
        batteries=batteries, history=history_snap,
        settings=SettingsSnapshot(values=dict(settings), specs=SETTING_SPECS),
    )
