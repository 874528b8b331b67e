"""LED states (SPEC 8) from the active codes, the outputs and wireless access."""

from __future__ import annotations

from collections.abc import Iterable

from smallbms.core.types import Leds, LedState, OutputState

NO_LEDS = Leds()


def error_led(active_codes: Iterable[str]) -> LedState:
    """On for an alarm or error, blinking for a warning only, off otherwise."""
    state: LedState = "off"
    for code in active_codes:
        if code[0] in "AE":
            return "on"
        state = "blink"
    return state


def bluetooth_led(wireless_available: bool, client_connected: bool) -> LedState:
    if not wireless_available:
        return "off"
    return "on" if client_connected else "blink"


_NG_LEDS: dict[tuple[LedState, LedState], Leds] = {
    (e, b): Leds(error=e, bluetooth=b)
    for e in ("off", "blink", "on") for b in ("off", "blink", "on")
}


def ng_leds(active_codes: Iterable[str], wireless_available: bool, connected: bool) -> Leds:
    return _NG_LEDS[error_led(active_codes), bluetooth_led(wireless_available, connected)]


_CLASSIC_LEDS: dict[tuple[bool, bool], Leds] = {
    (load, ovp): Leds(load_on="on" if load else "off", temp_ovp="on" if ovp else "off")
    for load in (False, True) for ovp in (False, True)
}


def classic_leds(load_disconnect: OutputState, charge_disconnect: OutputState) -> Leds:
    """Blue 'Load ON' follows the load disconnect; red 'Temp or OVP' lights when charging is off."""
    return _CLASSIC_LEDS[load_disconnect == "high", charge_disconnect == "floating"]
