"""``smallbms sweep`` on the command line: a refused file exits 2 naming the problem; a serial
run prints the recommendation and leaves the three files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from smallbms.cli import main

BASE = Path(__file__).resolve().parents[2] / "examples" / "system_solar_batteryprotect.toml"


def test_a_refused_sweep_file_exits_2_with_the_variant_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{BASE}"\n[[axis]]\nkey = "battery"\nvalues = ["12.8/999"]\n',
                    encoding="utf-8")
    result = CliRunner().invoke(main, ["sweep", str(path), "--serial"])
    assert result.exit_code == 2
    assert "12.8/999" in result.output
    assert not (tmp_path / "bad-sweep").exists()


def test_serial_and_workers_together_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sweep", str(tmp_path / "x.toml"), "--serial",
                                       "--workers", "2"])
    assert result.exit_code == 2
    assert "--serial" in result.output


def test_a_serial_sweep_prints_the_recommendation_and_writes_the_files(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(f'base = "{BASE}"\nduration = "1d"\n'
                    '[[axis]]\nkey = "peak_w"\nvalues = [300, 600]\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["sweep", str(path), "--serial", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "smallest system with no load cut: peak_w = 300" in result.output
    out = tmp_path / "small-sweep"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.csv",
                                                     "results.parquet"]


def test_the_scenario_of_a_variant_is_that_very_run(tmp_path: Path) -> None:
    """A sweep's runs are single runs: the printed scenario of a variant, simulated on its
    own, gives the events the sweep's run of it gives (event times equal to the second) and
    the figures of its row."""
    import io
    import json

    from smallbms.simulate import run_scenario
    from smallbms.sweep.metrics import run_variant
    from smallbms.sweep.spec import load_sweep

    path = tmp_path / "two.toml"
    path.write_text(f'base = "{BASE}"\nduration = "2d"\nseeds = [5, 6]\n'
                    '[[axis]]\nkey = "peak_w"\nvalues = [50, 400]\n'
                    '[[axis]]\nkey = "soc_pct"\nvalues = [25]\n', encoding="utf-8")
    printed = CliRunner().invoke(main, ["sweep", str(path), "--scenario-of", "0",
                                        "--seed", "6"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("# ") and "seed = 6" in printed.output
    variant_file = tmp_path / "variant0.toml"
    variant_file.write_text(printed.output, encoding="utf-8")
    alone = CliRunner().invoke(main, ["simulate", str(variant_file)])
    assert alone.exit_code == 0, alone.output
    spec = load_sweep(path)
    run = next(v for v in spec.variants() if (v.index, v.seed) == (0, 6))
    out = io.StringIO()
    run_scenario(spec.scenario(run), out, log=lambda _m: None)
    assert alone.output.splitlines() == out.getvalue().splitlines()
    events = [json.loads(line) for line in alone.output.splitlines()]
    cuts = [e["t"] for e in events if e["type"] == "output"
            and e["output"] == "load_disconnect" and e["state"] == "floating" and e["t"] > 0]
    assert cuts  # 50 W of solar from 25 %: the BMS cuts the loads
    row = run_variant(spec, run)
    assert row["days_loads_cut"] >= 1 and row["hours_without_load"] > 0
    assert row["hours_without_load"] * 3600.0 <= 2 * 86400.0 - cuts[0] + 1e-6


def test_scenario_of_names_a_missing_variant_or_seed(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text(f'base = "{BASE}"\n[[axis]]\nkey = "peak_w"\nvalues = [300, 600]\n',
                    encoding="utf-8")
    missing = CliRunner().invoke(main, ["sweep", str(path), "--scenario-of", "2"])
    assert missing.exit_code == 2 and "no variant 2" in missing.output and "0 to 1" in missing.output
    seed = CliRunner().invoke(main, ["sweep", str(path), "--scenario-of", "1", "--seed", "9"])
    assert seed.exit_code == 2 and "no seed 9" in seed.output
    alone = CliRunner().invoke(main, ["sweep", str(path), "--seed", "9"])
    assert alone.exit_code == 2 and "--scenario-of" in alone.output
