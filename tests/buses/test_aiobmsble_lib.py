"""The real aiobmsble library, on the recorded frames of its own test-suite, through our adapter.

aiobmsble needs Python 3.12+, this suite runs on 3.11: the library runs in the second venv
``.venv-aiobmsble`` (tools/aiobmsble_venv.sh, called by tools/test.sh), as a subprocess
(aiobmsble_lib/drive.py) whose JSON output is checked here. The values asserted are the ones the
recorded frames encode (aiobmsble's own tests expect the same; data/README.md names the files).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smallbms.buses.aiobmsble import sample_values

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).parent / "aiobmsble_lib" / "drive.py"
VENV_PYTHON = ROOT / ".venv-aiobmsble" / "bin" / "python"
#: the driver answers in about a second; this only stops a hung library from hanging the suite
DRIVER_TIMEOUT_S = 600


def python_312() -> str | None:
    """A Python 3.12+ interpreter on this machine (as tools/aiobmsble_venv.sh looks for one)."""
    candidates = [shutil.which(f"python3.{m}") for m in range(12, 20)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for c in candidates:
        if c is None:
            continue
        ok = subprocess.run([c, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                            capture_output=True, check=False)
        if ok.returncode == 0:
            return c
    return None


@pytest.fixture(scope="module")
def driven() -> dict[str, Any]:
    if not VENV_PYTHON.exists():
        if python_312() is None:
            pytest.skip("no Python 3.12+ on this machine: aiobmsble needs it, so it cannot run here")
        pytest.fail("Python 3.12+ is here but .venv-aiobmsble is not: run tools/aiobmsble_venv.sh "
                    "(tools/test.sh does)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([str(VENV_PYTHON), str(DRIVER)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=DRIVER_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def board(driven: dict[str, Any], name: str) -> dict[str, Any]:
    b: dict[str, Any] = driven["boards"][name]
    assert b["unanswered"] == []  # the library asked only what the recording answers
    return b


def test_the_library_ran_on_python_3_12(driven: dict[str, Any]) -> None:
    assert tuple(driven["python"]) >= (3, 12)
    assert driven["aiobmsble"] == "0.31.0"  # the version tools/aiobmsble_venv.sh installs
    assert set(driven["boards"]) == {"jbd_bms", "daly_bms", "seplos_bms", "jikong_bms"}


def test_jbd_frames_to_a_reading(driven: dict[str, Any]) -> None:
    b = board(driven, "jbd_bms")
    s = b["sample"]
    assert s["cell_voltages"] == [3.43, 3.425, 3.432, 3.417]
    assert s["temp_values"] == [22.4, 22.3, 21.7]
    assert s["voltage"] == 15.6 and s["current"] == -2.87
    assert b["reading"] == {"cell_voltages_v": [3.43, 3.425, 3.432, 3.417],
                            "temperature_c": 21.7,  # of 22.4, 22.3, 21.7: farthest from 25 °C
                            "bank_current_a": -2.87, "model_id": "custom"}
    assert b["refused"] == []


def test_daly_frames_to_a_reading_with_the_mos_sensor(driven: dict[str, Any]) -> None:
    b = board(driven, "daly_bms")
    s = b["sample"]
    assert s["cell_voltages"] == [4.127, 4.137, 4.147, 4.157]
    assert s["temp_values"] == [38.0, 20.0, 21.0, 22.0, 23.0]  # the MOS sensor first
    assert s["temperature"] == 24.8  # the library's mean, which our adapter does not take
    assert b["values"]["voltage_v"] == 14.0
    assert b["reading"] == {"cell_voltages_v": [4.127, 4.137, 4.147, 4.157],
                            "temperature_c": 38.0, "bank_current_a": 3.0, "model_id": "custom"}


def test_jk_frames_after_the_handshake_to_a_reading(driven: dict[str, Any]) -> None:
    """JK (SW 11.48): the library finds its characteristics in the GATT table, asks the device
    info, waits for the board's ready message, then asks the cells."""
    b = board(driven, "jikong_bms")
    s = b["sample"]
    assert s["cell_voltages"] == [3.315, 3.315, 3.315, 3.312, 3.313, 3.312, 3.313, 3.313]
    assert s["temp_values"] == [31.0, 28.4, 29.2, 31.0]  # MOSFET, two probes, MOSFET
    assert s["voltage"] == 26.509
    assert b["reading"] == {"cell_voltages_v": [3.315, 3.315, 3.315, 3.312, 3.313, 3.312, 3.313,
                                                3.313],
                            "temperature_c": 31.0, "bank_current_a": -7.063, "model_id": "custom"}


def test_seplos_two_packs_are_refused_as_one_16_cell_battery(driven: dict[str, Any]) -> None:
    b = board(driven, "seplos_bms")
    s = b["sample"]
    assert s["pack_count"] == 2 and [len(p["cell_voltages"]) for p in s["packs"]] == [16, 16]
    v = b["values"]
    assert v["cells_v"][:16] == [3.272, 3.272, 3.272, 3.271, 3.271, 3.271, 3.271, 3.27, 3.27,
                                 3.271, 3.271, 3.271, 3.271, 3.272, 3.272, 3.272]
    assert v["cells_v"][16:] == [3.528, 3.528, 3.528, 3.527, 3.527, 3.527, 3.527, 3.526, 3.526,
                                 3.527, 3.527, 3.527, 3.527, 3.528, 3.528, 3.529]
    assert v["temperature_c"] == 24.4  # no top-level sensor list: the board's temperature
    assert v["current_a"] == -6.7 and v["voltage_v"] == 52.34
    assert b["reading"] is None
    assert b["refused"] == [
        "bus: refused a reading from AA:BB:CC:00:00:01: cells: 32 cell voltages, "
        "the custom battery has 16"]


def test_our_poller_reads_the_recorded_board(driven: dict[str, Any]) -> None:
    p = driven["poller"]
    assert p["address"] == "AA:BB:CC:00:00:01"
    assert p["sample"]["cell_voltages"] == [3.43, 3.425, 3.432, 3.417]
    assert p["sample"]["current"] == -2.87


class Sensor:
    """Shaped like aiobmsble's temperature sensor entries: a value and a kind, and ``float()``."""

    def __init__(self, value: float, kind: int = 0) -> None:
        self.value = value
        self.kind = kind

    def __float__(self) -> float:
        return float(self.value)


def test_sensor_objects_count_as_temperatures() -> None:
    v = sample_values({"cell_voltages": [3.3, 3.3], "temperature": 24.8,
                       "temp_values": [Sensor(38.0, 4), Sensor(20.0)]})
    assert v.temperature_c == 38.0  # not the mean 24.8
