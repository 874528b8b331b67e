"""BMS settings (SPEC 9): names, defaults, ranges and validation, as data.

Every change goes through :func:`change_setting`, which either returns new settings or raises
:class:`SettingError` naming the setting and what is wrong; the old settings are never touched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any


class SettingError(ValueError):
    """A refused setting change. ``name`` is the setting, the message says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.reason = message


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    label: str
    unit: str
    default: float
    minimum: float
    maximum: float
    step: float
    help: str
    reset_by_defaults: bool = True


SETTING_SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "charged_voltage_v", "Charged voltage", "V per 12.8 V", 14.0, 13.0, 14.6, 0.01,
        "The bank counts as full when its voltage stays at or above this (scaled to the bank: "
        "x2 for 24 V, x4 for 48 V) while the current is below the tail current for the charged "
        "detection time.",
    ),
    SettingSpec(
        "tail_current_pct", "Tail current", "% of capacity", 4.0, 0.5, 10.0, 0.1,
        "Charge current, as a share of the bank capacity, under which the bank counts as full "
        "(together with the charged voltage and detection time).",
    ),
    SettingSpec(
        "charged_detection_time_min", "Charged detection time", "min", 3.0, 1.0, 50.0, 1.0,
        "How long the charged voltage and tail current conditions must both hold before the "
        "monitor resets the state of charge to 100 %.",
    ),
    SettingSpec(
        "low_soc_warning_pct", "Low SoC warning level", "%", 20.0, 0.0, 99.0, 1.0,
        "At or below this state of charge the BMS warns (W-B07) and raises the pre-alarm output, "
        "giving time to recharge before the discharge floor. Must not be below the floor.",
    ),
    SettingSpec(
        "discharge_floor_pct", "Discharge floor", "%", 10.0, 0.0, 99.0, 1.0,
        "At or below this state of charge the BMS switches the loads off at once (A-B07) and "
        "keeps a reserve for self-discharge. Also the end point of 'time remaining'. 0 turns "
        "the floor off (not recommended).",
    ),
    SettingSpec(
        "pre_alarm_level_v", "Pre-alarm level", "V per cell", 3.10, 2.85, 3.15, 0.01,
        "Cell voltage under which the pre-alarm output goes high and W-B01 is raised, at least "
        "30 s before a low-cell-voltage shutdown.",
        reset_by_defaults=False,
    ),
)

SPECS_BY_NAME: dict[str, SettingSpec] = {s.name: s for s in SETTING_SPECS}


@dataclass(frozen=True, slots=True)
class Settings:
    charged_voltage_v: float = 14.0
    tail_current_pct: float = 4.0
    charged_detection_time_min: float = 3.0
    low_soc_warning_pct: float = 20.0
    discharge_floor_pct: float = 10.0
    pre_alarm_level_v: float = 3.10

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_SETTINGS = Settings()


def _check_value(name: str, value: Any) -> float:
    spec = SPECS_BY_NAME.get(name)
    if spec is None:
        raise SettingError(name, "no such setting; known: " + ", ".join(SPECS_BY_NAME))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingError(name, f"must be a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an integer no float can hold (JSON and TOML allow them)
        digits = int(int(value).bit_length() * math.log10(2)) + 1
        raise SettingError(name, f"a whole number of about {digits} digits is out of range "
                                 f"{spec.minimum:g}..{spec.maximum:g} {spec.unit}") from None
    if not math.isfinite(v):
        raise SettingError(name, f"must be a finite number, got {value!r}")
    if not spec.minimum <= v <= spec.maximum:
        raise SettingError(
            name, f"{v:g} is out of range {spec.minimum:g}..{spec.maximum:g} {spec.unit}"
        )
    return v


def _check_consistency(s: Settings, name: str) -> None:
    if s.low_soc_warning_pct < s.discharge_floor_pct:
        raise SettingError(
            name,
            f"low SoC warning level ({s.low_soc_warning_pct:g} %) must be at or above the "
            f"discharge floor ({s.discharge_floor_pct:g} %)",
        )


def change_setting(settings: Settings, name: str, value: Any) -> Settings:
    """Return settings with one value changed, or raise SettingError (nothing is changed)."""
    v = _check_value(name, value)
    new = replace(settings, **{name: v})
    _check_consistency(new, name)
    return new


def change_settings(settings: Settings, values: dict[str, Any]) -> Settings:
    """Apply several changes at once, all or nothing (consistency is checked at the end)."""
    new = settings
    for name, value in values.items():
        new = replace(new, **{name: _check_value(name, value)})
    if values:
        # name a setting of the rule that failed, if the change touched one
        rule = [n for n in ("low_soc_warning_pct", "discharge_floor_pct") if n in values]
        _check_consistency(new, rule[0] if rule else next(iter(values)))
    return new


def reset_to_defaults(settings: Settings) -> Settings:
    """Restore exactly the monitor settings SPEC 9 lists; the pre-alarm level is left alone."""
    values = {s.name: s.default for s in SETTING_SPECS if s.reset_by_defaults}
    return replace(settings, **values)


def settings_from_dict(values: dict[str, Any]) -> Settings:
    """Build settings from defaults plus the given values, validating each."""
    return change_settings(DEFAULT_SETTINGS, values)
