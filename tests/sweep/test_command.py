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
