"""Regenerate the PyBaMM validation trace for the twin's cell model.

Runs PyBaMM's Thevenin equivalent-circuit model (``pybamm.equivalent_circuit.Thevenin``, one RC
pair) with *identical* parameters to the twin's cell of a ``12.8/100`` battery: the same OCV
table (linear interpolation on the same uniform grid), R0/R1 with the same SoC factor,
``C1 = tau1 / R1``, constant temperature (no Arrhenius, no entropic term), over 24 h of a
repeating charge / rest / discharge / pulse / rest profile, and writes
``tests/twin/data/pybamm_thevenin_24h.csv`` (time, current, voltage, SoC every 10 s).

PyBaMM is only needed here (``pip install pybamm``); the package and the test suite do not
import it. Usage: ``python tools/make_pybamm_reference.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from smallbms.catalog import get_model
from smallbms.twin.params import ideal_params

#: Battery model whose cell is validated.
MODEL_ID = "12.8/100"
#: Initial SoC (%) and temperature (°C) of the reference run.
INITIAL_SOC_PCT = 12.0
TEMPERATURE_C = 25.0
#: Output sampling period (s); every profile segment is a multiple of it.
PERIOD_S = 10
#: Total duration (s).
DURATION_S = 24 * 3600
#: One cycle of the profile: (current A, + = charging; minutes). Net charge per cycle is zero
#: (85 Ah in, 85 Ah out), SoC runs 12 % → 97 % → 12 %, crossing both knees' shoulders.
CYCLE: tuple[tuple[float, float], ...] = (
    (0.0, 10),
    (30.0, 170),
    (0.0, 20),
    (-50.0, 80),
    (-100.0, 5),
    (0.0, 5),
    (-25.0, 24),
    (0.0, 20),
)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests/twin/data/pybamm_thevenin_24h.csv"


def profile_segments() -> list[tuple[float, int]]:
    """The 24 h profile as (current A, duration s) segments, cut at ``DURATION_S``."""
    out: list[tuple[float, int]] = []
    total = 0
    while total < DURATION_S:
        for current, minutes in CYCLE:
            dur = min(int(minutes * 60), DURATION_S - total)
            if dur <= 0:
                break
            out.append((current, dur))
            total += dur
    return out


def cell_constants() -> dict[str, float]:
    """Cell parameters of the twin for ``MODEL_ID`` without spread (reference conditions)."""
    p = ideal_params()
    m = get_model(MODEL_ID)
    r_cell = m.internal_resistance_mohm / 1000.0 / m.cells_in_series
    return {
        "capacity_ah": m.capacity_ah,
        "r0_ohm": r_cell * p.r0_fraction,
        "r1_ohm": r_cell * (1.0 - p.r0_fraction),
        "tau1_s": p.tau1_s,
        "k_soc": p.soc_factor_at_ends,
    }


def pybamm_parameters(pybamm: Any) -> Any:
    """PyBaMM ParameterValues equal to the twin's cell (constant temperature)."""
    p = ideal_params()
    c = cell_constants()
    grid = p.ocv.soc_grid
    volts = p.ocv.volts

    def ocv(soc: Any) -> Any:
        return pybamm.Interpolant(grid, volts, soc, name="twin_ocv", interpolator="linear")

    def soc_factor(soc: Any) -> Any:
        return 1.0 + c["k_soc"] * (2.0 * soc - 1.0) ** 2

    def r0(_t: Any, _i: Any, soc: Any) -> Any:
        return c["r0_ohm"] * soc_factor(soc)

    def r1(_t: Any, _i: Any, soc: Any) -> Any:
        return c["r1_ohm"] * soc_factor(soc)

    def c1(_t: Any, _i: Any, soc: Any) -> Any:
        return c["tau1_s"] / (c["r1_ohm"] * soc_factor(soc))

    def dudt(_ocv: Any, _t: Any) -> Any:
        return pybamm.Scalar(0.0)

    values = pybamm.ParameterValues("ECM_Example")
    values.update({
        "Cell capacity [A.h]": c["capacity_ah"],
        "Nominal cell capacity [A.h]": c["capacity_ah"],
        "Initial SoC": INITIAL_SOC_PCT / 100.0,
        "Initial temperature [K]": TEMPERATURE_C + 273.15,
        "Ambient temperature [K]": TEMPERATURE_C + 273.15,
        "Upper voltage cut-off [V]": 5.0,
        "Lower voltage cut-off [V]": 0.5,
        "Open-circuit voltage [V]": ocv,
        "R0 [Ohm]": r0,
        "R1 [Ohm]": r1,
        "C1 [F]": c1,
        "Element-1 initial overpotential [V]": 0.0,
        "Entropic change [V/K]": dudt,
        "RCR lookup limit [A]": 1000.0,
    })
    return values


def experiment_steps(pybamm: Any) -> list[Any]:
    """The profile as PyBaMM experiment steps (PyBaMM: + = discharge)."""
    steps = []
    for current, dur in profile_segments():
        steps.append(pybamm.step.current(-current, duration=dur, period=PERIOD_S))
    return steps


def run() -> np.ndarray[Any, np.dtype[np.float64]]:
    """Solve and return rows (t_s, current_a, voltage_v, soc_pct), + = charging."""
    import pybamm

    model = pybamm.equivalent_circuit.Thevenin()
    sim = pybamm.Simulation(
        model, parameter_values=pybamm_parameters(pybamm),
        experiment=pybamm.Experiment(experiment_steps(pybamm)),
        solver=pybamm.IDAKLUSolver(rtol=1e-10, atol=1e-12),
    )
    sol = sim.solve()
    rows: list[tuple[float, float, float, float]] = []
    steps = [st for cycle in sol.cycles for st in cycle.steps]
    for k, (step, (current, _dur)) in enumerate(zip(steps, profile_segments(), strict=True)):
        t = step["Time [s]"].entries
        v = step["Voltage [V]"].entries
        soc = step["SoC"].entries
        start = 0 if k == 0 else 1
        for i in range(start, len(t)):
            rows.append((t[i], current if i > 0 else 0.0, v[i], 100.0 * soc[i]))
    return np.asarray(rows, dtype=np.float64)


def write_csv(rows: np.ndarray[Any, np.dtype[np.float64]], out: Path) -> None:
    """Write the trace with a provenance header."""
    import pybamm

    c = cell_constants()
    header = (
        f"# PyBaMM {pybamm.__version__} Thevenin ECM (1 RC), generated by "
        "tools/make_pybamm_reference.py\n"
        f"# cell of {MODEL_ID}: Q={c['capacity_ah']} Ah, R0={c['r0_ohm']:.6g} ohm, "
        f"R1={c['r1_ohm']:.6g} ohm (x soc factor k={c['k_soc']}), tau1={c['tau1_s']} s, "
        f"T={TEMPERATURE_C} degC, SoC0={INITIAL_SOC_PCT} %\n"
        "# current_a is the constant current over (previous row, this row]; + = charging\n"
        "t_s,current_a,voltage_v,soc_pct\n"
    )
    with out.open("w", encoding="utf-8") as fh:
        fh.write(header)
        for t, i, v, s in rows:
            fh.write(f"{t:.0f},{i:.3f},{v:.7f},{s:.7f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
