"""Protection thresholds and timers (SPEC 6), one named constant each, with their source.

(M) = smallBMS manuals, (S) = sibling product datasheets, (P) = project default.
"""

from __future__ import annotations

# Cell voltage, V per cell.
CELL_UNDERVOLTAGE_TRIP_V = 2.80  # (S) A-B01 trips below this
CELL_UNDERVOLTAGE_CLEAR_V = 3.20  # (S) all cells at or above this clears A-B01
CELL_OVERVOLTAGE_TRIP_V = 3.75  # (S) charge disconnect at or above this
CELL_OVERVOLTAGE_CLEAR_V = 3.60  # (S) all cells at or below this clears it
PRE_ALARM_CLEAR_MARGIN_V = 0.10  # (P) W-B01 clears at pre-alarm level + this

#: (M) load disconnect for undervoltage no sooner than this after the pre-alarm output went high.
PRE_ALARM_LEAD_S = 30.0

# Battery temperature, degC.
LOW_CHARGE_TEMP_TRIP_C = 5.0  # (M) charging stops below this
LOW_CHARGE_TEMP_CLEAR_C = 6.0  # (P)
HIGH_TEMP_TRIP_C = 50.0  # (S) A-B09 above this
HIGH_TEMP_CLEAR_C = 45.0  # (P)

# Low bank voltage backstop (A-B08), V per cell in series.
LOW_BANK_TRIP_V_PER_CELL = 2.50  # (P)
LOW_BANK_CLEAR_V_PER_CELL = 3.20  # (P)
LOW_BANK_DELAY_S = 10.0  # (P)

# Communication with the batteries.
COMMS_WARNING_DELAY_S = 5.0  # (P) W-B05 after this long without a complete valid reading
COMMS_ALARM_DELAY_S = 30.0  # (P) A-B05 after W-B05 has been active this long

# Low SoC and discharge floor: clear margins in SoC points.
LOW_SOC_CLEAR_MARGIN_PCT = 5.0  # (P)
DISCHARGE_FLOOR_CLEAR_MARGIN_PCT = 5.0  # (P)


def soc_clear_level(level_pct: float, margin_pct: float) -> float:
    """Where a SoC warning/alarm clears: level + margin, but never above 100 % (so a level of
    99 % can still clear at a full charge)."""
    return min(level_pct + margin_pct, 100.0)

# Bank voltage allowed (E-B09) and BMS supply.
BANK_VOLTAGE_MIN_V = 9.0  # (M)
BANK_VOLTAGE_MAX_V = 60.0  # (M)
BANK_VOLTAGE_CLEAR_MARGIN_V = 0.2  # (P) E-B09 clears this far inside the window
SUPPLY_MIN_V = 8.0  # (M) below this the BMS has no power

# Firmware update.
FIRMWARE_FAIL_LOAD_OFF_DELAY_S = 120.0  # (M)

# Wireless access window after power-up (seed 003 section 4.5).
WIRELESS_WINDOW_AFTER_POWER_UP_S = 30.0  # (M)

# Plausibility of a battery report; values outside are treated as invalid data (P).
CELL_V_PLAUSIBLE = (0.0, 5.0)
TEMPERATURE_PLAUSIBLE_C = (-60.0, 150.0)

# Output read-back (E-B11): an output whose read-back disagrees with its command this long is at
# fault (the relay's switching time; the GPIO adapter's `readback_ticks` sets it per device), and
# the fault is held until every read-back has followed this long (against flapping).
READBACK_DEBOUNCE_S = 2.0  # (P)
READBACK_CLEAR_HOLD_S = 30.0  # (P)
