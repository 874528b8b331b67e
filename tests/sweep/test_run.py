"""Running a whole sweep: the files, Ctrl-C keeping the finished rows, and Dask (a real local
cluster of 2 worker processes) giving exactly the rows of a serial run, also when a worker dies."""

from __future__ import annotations

import csv
import importlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from smallbms.sweep import run as sweep_run
from smallbms.sweep.metrics import run_chunk
from smallbms.sweep.run import ResultFiles, chunks, run_dask, run_sweep
from smallbms.sweep.spec import Sweep, load_sweep

pq: Any = importlib.import_module("pyarrow.parquet")  # no type information shipped
BASE = Path(__file__).resolve().parents[2] / "examples" / "system_solar_batteryprotect.toml"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    path = tmp_path_factory.mktemp("sweep") / "sweep.toml"
    path.write_text(f"""base = "{BASE}"
duration = "1d"
seeds = [1, 2]
[[axis]]
key = "battery"
values = ["12.8/100", "12.8/200"]
[[axis]]
key = "peak_w"
values = [50, 400]
[[axis]]
key = "soc_pct"
values = [20]
""", encoding="utf-8")
    return load_sweep(path)


@pytest.fixture(scope="module")
def serial(sweep: Sweep, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    out = tmp_path_factory.mktemp("serial")
    outcome = run_sweep(sweep, out, serial=True, chunk_size=3)
    return out, outcome.rows


def test_a_serial_sweep_writes_csv_parquet_and_a_page(
        sweep: Sweep, serial: tuple[Path, list[Any]]) -> None:
    out, rows = serial
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, s) for v in range(4) for s in (1, 2)]
    with (out / "results.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8
    assert table[0]["battery"] == "12.8/100" and table[0]["peak_w"] == "50"
    assert "soc_day_min" not in table[0]
    pq_rows = pq.read_table(out / "results.parquet").to_pylist()
    assert [r["days_loads_cut"] for r in pq_rows] == [r["days_loads_cut"] for r in rows]
    assert pq_rows[0]["soc_day_min"] == rows[0]["soc_day_min"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "smallest system with no load cut" in page or "no variant kept the loads on" in page
    assert page.count("<svg") >= 1 + 4  # a heat map and a band per variant
    assert "8 of 8 runs" in page


def test_ctrl_c_keeps_the_finished_rows(sweep: Sweep, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = run_chunk

    def interrupted_after_two(s: Sweep, chunk: list[Any]) -> list[Any]:
        calls.append(chunk)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(s, chunk)

    monkeypatch.setattr(sweep_run, "run_chunk", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, tmp_path, serial=True, chunk_size=1)
    with (tmp_path / "results.csv").open(encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert pq.read_table(tmp_path / "results.parquet").num_rows == 2
    assert "interrupted" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_dask_on_two_worker_processes_equals_the_serial_run(
        sweep: Sweep, serial: tuple[Path, list[Any]], tmp_path: Path) -> None:
    out, rows = serial
    outcome = run_sweep(sweep, tmp_path, workers=2, chunk_size=1)
    assert outcome.rows == rows
    assert (tmp_path / "results.csv").read_bytes() == (out / "results.csv").read_bytes()


def test_a_lost_workers_chunk_is_run_again(
        sweep: Sweep, serial: tuple[Path, list[Any]], tmp_path: Path) -> None:
    dd: Any = importlib.import_module("dask.distributed")
    _, rows = serial
    # no Client of its own here: a second Client in this process would run its own event loop,
    # and Dask futures awaited across two loops fail now and then ("bound to a different event
    # loop"); the nannies know their worker processes' pids
    with dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=":0") as cluster:
        pids = [nanny.pid for nanny in cluster.workers.values()]
        assert all(pids)
        files = ResultFiles(sweep, tmp_path)
        killed: list[int] = []

        def sink(new: list[Any]) -> None:
            files.add(new)
            if not killed:  # the first chunk is back: kill a worker while others run
                killed.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)

        run_dask(sweep, chunks(sweep.variants(), 1), sink, scheduler=cluster.scheduler_address)
    assert killed
    assert files.rows == rows
