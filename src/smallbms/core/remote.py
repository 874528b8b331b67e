"""Remote on/off terminal decoding (SPEC 5)."""

from __future__ import annotations

from smallbms.core.types import RemoteInput

#: (M) L pulled below this counts as pulled to battery minus.
REMOTE_L_ON_BELOW_V = 3.5
#: (M) H above this (and up to the battery voltage) counts as high.
REMOTE_H_ON_ABOVE_V = 2.9
#: (P) H may sit this far above the battery voltage the BMS measures and still count as high:
#: the manual's own wiring puts a switch between battery plus and H, so V_H equals V_bat.
REMOTE_H_TOLERANCE_V = 0.5


def remote_on(remote: RemoteInput, bank_voltage_v: float) -> bool:
    """True when the remote input says ON.

    ON when L and H are bridged; or L is pulled to battery minus (V_L < 3.5 V); or H is high
    (2.9 V < V_H, up to the battery voltage plus a small tolerance, because a switch to battery
    plus puts H at V_bat). OFF in every other case, including a disconnected terminal and an H
    well above the battery voltage (a wiring fault).
    """
    if remote.bridged:
        return True
    if remote.l_volts is not None and remote.l_volts < REMOTE_L_ON_BELOW_V:
        return True
    h = remote.h_volts
    return h is not None and REMOTE_H_ON_ABOVE_V < h <= bank_voltage_v + REMOTE_H_TOLERANCE_V
