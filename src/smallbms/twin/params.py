"""LiFePO4 cell parameters for the twin: the OCV curve and the R0/R1/C1, thermal, self-discharge,
balancing and spread constants, loaded from ``smallbms/data/lfp_params.json``.

Provenance of every number is in ``smallbms/data/README.md``. The OCV curve is piecewise linear
between anchor points and is resampled on a uniform SoC grid (``grid_step_pct``) that contains
every anchor, so a linear lookup on the grid reproduces the anchor curve exactly; the numerical
kernels use this grid.

SoC here is a *fraction* (0 = empty at 2.0 V, 1 = full at 3.65 V). The curve extends a little
below 0 (voltage collapse) and above 1 (overcharge) so abuse is visible; the kernels clamp SoC to
``[soc_min, soc_max]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Molar gas constant, J/(mol K).
GAS_CONSTANT_J_PER_MOL_K = 8.314462618
#: 0 degC in kelvin.
ZERO_C_IN_K = 273.15
SECONDS_PER_MONTH = 30.0 * 86400.0


@dataclass(frozen=True, slots=True)
class OcvTable:
    """Open-circuit voltage on a uniform SoC grid (SoC as a fraction)."""

    soc_min: float
    soc_step: float
    volts: FloatArray = field(repr=False)

    @property
    def soc_max(self) -> float:
        """Upper end of the grid (fraction)."""
        return self.soc_min + self.soc_step * (len(self.volts) - 1)

    @property
    def soc_grid(self) -> FloatArray:
        """The SoC grid points (fraction)."""
        return self.soc_min + self.soc_step * np.arange(len(self.volts), dtype=np.float64)

    def ocv_v(self, soc: FloatArray | float) -> FloatArray:
        """Open-circuit voltage (V) at SoC fraction ``soc`` (clamped to the grid)."""
        return np.interp(np.asarray(soc, dtype=np.float64), self.soc_grid, self.volts)


@dataclass(frozen=True, slots=True)
class LfpParams:
    """All per-cell and per-battery constants of the twin (units in names)."""

    ocv: OcvTable
    #: R0 share of the catalogue DC resistance (R0 + R1 at reference conditions).
    r0_fraction: float
    #: DCIR rise at 0 % and 100 % SoC relative to 50 %: factor = 1 + k (2 soc - 1)^2.
    soc_factor_at_ends: float
    activation_energy_j_per_mol: float
    reference_temperature_c: float
    tau1_s: float
    heat_capacity_j_per_k_per_wh: float
    conductance_w_per_k_ref: float
    conductance_reference_wh: float
    self_discharge_pct_per_month: float
    self_discharge_relative_spread: float
    balance_start_cell_v: float
    balance_above_mean_v: float
    bleed_resistance_ohm: float
    capacity_relative_sigma: float
    resistance_relative_sigma: float
    initial_soc_sigma_pct: float
    damage_cell_v: float

    @property
    def ea_over_r_k(self) -> float:
        """Activation energy over the gas constant (K), for the Arrhenius factor."""
        return self.activation_energy_j_per_mol / GAS_CONSTANT_J_PER_MOL_K

    @property
    def reference_temperature_k(self) -> float:
        return self.reference_temperature_c + ZERO_C_IN_K

    @property
    def self_discharge_per_s(self) -> float:
        """Mean self-discharge as a SoC fraction per second."""
        return self.self_discharge_pct_per_month / 100.0 / SECONDS_PER_MONTH

    def rc_decay(self, dt_s: float) -> float:
        """Exact decay factor exp(-dt/tau1) of the RC pair over ``dt_s`` seconds."""
        return math.exp(-dt_s / self.tau1_s)

    def soc_factor(self, soc: FloatArray | float) -> FloatArray:
        """Resistance multiplier vs SoC fraction (1 at 50 %, 1 + k at 0 % and 100 %)."""
        s = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)
        d = 2.0 * s - 1.0
        return 1.0 + self.soc_factor_at_ends * d * d

    def arrhenius(self, temperature_c: FloatArray | float) -> FloatArray:
        """Resistance multiplier vs temperature (1 at the reference temperature)."""
        t_k = np.asarray(temperature_c, dtype=np.float64) + ZERO_C_IN_K
        return np.exp(self.ea_over_r_k * (1.0 / t_k - 1.0 / self.reference_temperature_k))

    def battery_heat_capacity_j_per_k(self, energy_wh: float) -> float:
        """Lumped heat capacity (J/K) of a battery of ``energy_wh`` nominal energy."""
        return self.heat_capacity_j_per_k_per_wh * energy_wh

    def battery_conductance_w_per_k(self, energy_wh: float) -> float:
        """Heat conductance battery → ambient (W/K); scales with surface, energy^(2/3)."""
        ratio = energy_wh / self.conductance_reference_wh
        return float(self.conductance_w_per_k_ref * ratio ** (2.0 / 3.0))


def build_ocv_table(soc_pct: list[float], volts: list[float], grid_step_pct: float) -> OcvTable:
    """Resample a piecewise-linear anchor curve on a uniform grid that contains every anchor."""
    anchors = np.asarray(soc_pct, dtype=np.float64)
    values = np.asarray(volts, dtype=np.float64)
    if anchors.shape != values.shape or len(anchors) < 2:
        raise ValueError("ocv.soc_pct and ocv.volts must be equal-length lists (>= 2 points)")
    if np.any(np.diff(anchors) <= 0) or np.any(np.diff(values) <= 0):
        raise ValueError("the OCV curve must be strictly increasing in SoC and in volts")
    steps = (anchors - anchors[0]) / grid_step_pct
    if not np.allclose(steps, np.round(steps), atol=1e-9):
        raise ValueError("every OCV anchor must lie on the uniform grid (grid_step_pct)")
    n = round(float(steps[-1])) + 1
    grid_pct = anchors[0] + grid_step_pct * np.arange(n, dtype=np.float64)
    grid_v = np.interp(grid_pct, anchors, values)
    return OcvTable(
        soc_min=float(anchors[0]) / 100.0, soc_step=grid_step_pct / 100.0, volts=grid_v
    )


def params_from_dict(raw: dict[str, Any]) -> LfpParams:
    """Build :class:`LfpParams` from the JSON structure of ``lfp_params.json``."""
    ocv = raw["ocv"]
    res = raw["resistance"]
    th = raw["thermal"]
    sd = raw["self_discharge"]
    bal = raw["balancing"]
    spr = raw["spread"]
    return LfpParams(
        ocv=build_ocv_table(ocv["soc_pct"], ocv["volts"], float(ocv["grid_step_pct"])),
        r0_fraction=float(res["r0_fraction"]),
        soc_factor_at_ends=float(res["soc_factor_at_ends"]),
        activation_energy_j_per_mol=float(res["activation_energy_j_per_mol"]),
        reference_temperature_c=float(res["reference_temperature_c"]),
        tau1_s=float(res["tau1_s"]),
        heat_capacity_j_per_k_per_wh=float(th["heat_capacity_j_per_k_per_wh"]),
        conductance_w_per_k_ref=float(th["conductance_w_per_k_ref"]),
        conductance_reference_wh=float(th["conductance_reference_wh"]),
        self_discharge_pct_per_month=float(sd["pct_per_month"]),
        self_discharge_relative_spread=float(sd["relative_spread"]),
        balance_start_cell_v=float(bal["start_cell_v"]),
        balance_above_mean_v=float(bal["above_mean_v"]),
        bleed_resistance_ohm=float(bal["bleed_resistance_ohm"]),
        capacity_relative_sigma=float(spr["capacity_relative_sigma"]),
        resistance_relative_sigma=float(spr["resistance_relative_sigma"]),
        initial_soc_sigma_pct=float(spr["initial_soc_sigma_pct"]),
        damage_cell_v=float(raw["limits"]["damage_cell_v"]),
    )


def load_params() -> LfpParams:
    """Load the packaged LFP parameter set (``smallbms/data/lfp_params.json``)."""
    text = resources.files("smallbms").joinpath("data/lfp_params.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return params_from_dict(raw)


#: The packaged default parameter set, loaded once.
DEFAULT_PARAMS: LfpParams = load_params()


def ideal_params(base: LfpParams | None = None) -> LfpParams:
    """A copy without spread, self-discharge, balancing or temperature dependence.

    Used by the validation against PyBaMM and by conservation tests: every cell identical,
    charge conserved exactly, resistance independent of temperature.
    """
    p = base or DEFAULT_PARAMS
    return replace(
        p,
        activation_energy_j_per_mol=0.0,
        self_discharge_pct_per_month=0.0,
        self_discharge_relative_spread=0.0,
        balance_start_cell_v=math.inf,
        capacity_relative_sigma=0.0,
        resistance_relative_sigma=0.0,
        initial_soc_sigma_pct=0.0,
    )
