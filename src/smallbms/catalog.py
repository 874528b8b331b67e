"""Battery catalogue (SPEC 3): every battery model the BMS knows and its limits.

Numbers: current limits from the smallBMS NG manual (M); cell counts, capacities, charge voltages
and temperature windows from the Lithium NG and Lithium Battery Smart datasheets (S).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["ng", "smart"]


@dataclass(frozen=True, slots=True)
class BatteryModel:
    """One battery model of the catalogue. Units are in every field name."""

    model_id: str
    family: Family
    nominal_voltage_v: float
    cells_in_series: int
    capacity_ah: float
    cont_discharge_a: float
    pulse_discharge_a: float
    cont_charge_a: float
    pulse_charge_a: float
    internal_resistance_mohm: float

    @property
    def energy_kwh(self) -> float:
        return self.nominal_voltage_v * self.capacity_ah / 1000.0

    @property
    def charge_voltage_v(self) -> float:
        """Absorption voltage a charger should use: 14.2 V per 12.8 V (datasheet range 14.0-14.2)."""
        return 14.2 * self.nominal_voltage_v / 12.8

    @property
    def float_voltage_v(self) -> float:
        """Float voltage: 13.5 V per 12.8 V (S)."""
        return 13.5 * self.nominal_voltage_v / 12.8

    @property
    def recommended_charge_a(self) -> float:
        """0.3C (M)."""
        return 0.3 * self.capacity_ah

    @property
    def recommended_discharge_a(self) -> float:
        """0.5C (M)."""
        return 0.5 * self.capacity_ah


#: End-of-discharge cell voltage from the NG datasheet (S).
END_OF_DISCHARGE_CELL_V = 2.8
#: Temperature windows from the NG datasheet (S).
CHARGE_TEMPERATURE_RANGE_C = (5.0, 50.0)
DISCHARGE_TEMPERATURE_RANGE_C = (-20.0, 50.0)


def _ng(
    nominal_v: float, ah: float, dis: float, dis_pulse: float, chg: float, chg_pulse: float,
    r_mohm: float,
) -> BatteryModel:
    cells = round(nominal_v / 3.2)
    return BatteryModel(
        model_id=f"{nominal_v:g}/{ah:g}", family="ng", nominal_voltage_v=nominal_v,
        cells_in_series=cells, capacity_ah=ah, cont_discharge_a=dis, pulse_discharge_a=dis_pulse,
        cont_charge_a=chg, pulse_charge_a=chg_pulse, internal_resistance_mohm=r_mohm,
    )


def _smart(nominal_v: float, ah: float, r_mohm: float) -> BatteryModel:
    # Lithium Battery Smart: recommended 0.5C discharge / 0.3C charge; the datasheet gives
    # continuous limits of 1C for discharge and charge on the 12.8 V models (S).
    cells = round(nominal_v / 3.2)
    return BatteryModel(
        model_id=f"smart-{nominal_v:g}/{ah:g}", family="smart", nominal_voltage_v=nominal_v,
        cells_in_series=cells, capacity_ah=ah, cont_discharge_a=ah, pulse_discharge_a=2 * ah,
        cont_charge_a=ah, pulse_charge_a=2 * ah, internal_resistance_mohm=r_mohm,
    )


_MODELS: tuple[BatteryModel, ...] = (
    _ng(12.8, 100, 100, 200, 100, 200, 2.0),
    _ng(12.8, 150, 150, 300, 150, 225, 1.5),
    _ng(12.8, 200, 200, 400, 200, 400, 1.2),
    _ng(12.8, 300, 300, 600, 300, 450, 1.0),
    _ng(25.6, 100, 100, 200, 100, 200, 4.0),
    _ng(25.6, 200, 200, 400, 200, 400, 2.4),
    _ng(25.6, 300, 300, 600, 300, 450, 2.0),
    _ng(51.2, 100, 100, 200, 100, 200, 8.0),
    _smart(12.8, 50, 4.0),
    _smart(12.8, 100, 2.0),
    _smart(12.8, 160, 1.5),
    _smart(12.8, 200, 1.2),
    _smart(12.8, 330, 1.0),
    _smart(25.6, 100, 4.0),
    _smart(25.6, 200, 2.4),
)

CATALOGUE: dict[str, BatteryModel] = {m.model_id: m for m in _MODELS}


class UnknownBatteryModel(KeyError):
    """A model id that is not in the catalogue."""

    def __init__(self, model_id: str) -> None:
        known = ", ".join(CATALOGUE)
        super().__init__(f"unknown battery model {model_id!r}; known models: {known}")
        self.model_id = model_id

    def __str__(self) -> str:
        return str(self.args[0])


def get_model(model_id: str) -> BatteryModel:
    """Look a model up by id, with a clear error naming the known ids."""
    try:
        return CATALOGUE[model_id]
    except KeyError:
        raise UnknownBatteryModel(model_id) from None


def register_custom(model: BatteryModel) -> None:
    """Add (or replace) the ``custom`` battery that a ``[bus.custom]`` table describes (a BMS
    board that is not in the catalogue, read over a battery bus; docs/bus-aiobmsble.md)."""
    if model.model_id != "custom":
        raise ValueError(f"only the 'custom' model can be registered, got {model.model_id!r}")
    CATALOGUE["custom"] = model


def models_for_profile(profile: str) -> tuple[BatteryModel, ...]:
    """The models a device profile accepts: `ng` takes Lithium NG, `classic` Lithium Battery Smart."""
    family: Family = "ng" if profile == "ng" else "smart"
    return tuple(m for m in _MODELS if m.family == family)
