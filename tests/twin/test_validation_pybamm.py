"""Validation of the twin's cell model against PyBaMM's Thevenin ECM (SPEC 16).

``tests/twin/data/pybamm_thevenin_24h.csv`` was produced by ``tools/make_pybamm_reference.py``
with ``pybamm.equivalent_circuit.Thevenin`` and identical parameters (same OCV table, R0/R1/C1 at
constant temperature) over 24 h of cycling. This test needs no PyBaMM: it replays the same
current profile through :class:`BankModel` and compares cell voltage and SoC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smallbms.twin.bank import BankModel
from smallbms.twin.params import ideal_params

TRACE = Path(__file__).parent / "data" / "pybamm_thevenin_24h.csv"
RMSE_LIMIT_V = 0.002
SOC_LIMIT_PCT = 0.1


def _load_trace() -> np.ndarray:
    return np.loadtxt(TRACE, delimiter=",", comments="#", skiprows=4)


def _replay(trace: np.ndarray, kernel_name: str) -> tuple[np.ndarray, np.ndarray]:
    bank = BankModel(
        "12.8/100", 1, 1, soc_pct=float(trace[0, 3]), temperature_c=25.0, seed=0,
        params=ideal_params(), kernel_name=kernel_name,  # type: ignore[arg-type]
    )
    volts = [float(bank.cell_voltages_v[0, 0, 0])]
    socs = [float(bank.cell_soc_pct[0, 0, 0])]
    for k in range(1, len(trace)):
        bank.step(float(trace[k, 0] - trace[k - 1, 0]), float(trace[k, 1]))
        volts.append(float(bank.cell_voltages_v[0, 0, 0]))
        socs.append(float(bank.cell_soc_pct[0, 0, 0]))
    return np.asarray(volts), np.asarray(socs)


def test_trace_is_24h_of_cycling() -> None:
    trace = _load_trace()
    assert trace[-1, 0] == pytest.approx(24 * 3600)
    assert np.all(np.diff(trace[:, 0]) > 0)
    assert trace[:, 1].max() > 0 and trace[:, 1].min() < 0
    assert trace[:, 3].min() < 15 and trace[:, 3].max() > 95  # both shoulders of the plateau


@pytest.mark.parametrize("kernel_name", ["auto", "numpy"])
def test_cell_matches_pybamm_thevenin(kernel_name: str) -> None:
    trace = _load_trace()
    volts, socs = _replay(trace, kernel_name)
    rmse = float(np.sqrt(np.mean((volts - trace[:, 2]) ** 2)))
    soc_err = float(np.max(np.abs(socs - trace[:, 3])))
    assert rmse <= RMSE_LIMIT_V, f"terminal-voltage RMSE {rmse * 1000:.3f} mV"
    assert soc_err <= SOC_LIMIT_PCT, f"max SoC error {soc_err:.4f} %"
