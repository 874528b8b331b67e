"""`smallbms check FILE`: a system design reviewed from a file on disk, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smallbms.cli import main
from smallbms.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]

#: The manual's three system examples (sections 3.3.1-3.3.3) as design files.
SYSTEM_EXAMPLES = {
    "solar_battery_protect": """\
name = "3.3.1 SmartSolar charger and a BatteryProtect"
[bank]
battery = "12.8/200"
[bms]
supply_fuse_a = 1
[[component]]
kind = "solar"
device = "SmartSolar MPPT 75/15"
peak_w = 220
controlled_by = "charge_disconnect"
[[component]]
kind = "battery_protect"
name = "dc loads"
device = "Smart BatteryProtect 12/24V 65A"
current_a = 20
controlled_by = "load_disconnect"
""",
    "cyrix_combiner": """\
name = "3.3.2 Cyrix-Li-ct as a battery combiner"
[bank]
battery = "12.8/200"
[bms]
supply_fuse_a = 1
[[component]]
kind = "alternator"
device = "Cyrix-Li-ct"
current_a = 30
controlled_by = "charge_disconnect"
[[component]]
kind = "battery_protect"
device = "Smart BatteryProtect 12/24V 65A"
current_a = 20
controlled_by = "load_disconnect"
""",
    "inverter_ve_direct": """\
name = "3.3.3 Inverter VE.Direct"
[bank]
battery = "12.8/200"
[bms]
supply_fuse_a = 1
[[component]]
kind = "solar"
device = "SmartSolar MPPT 75/15"
peak_w = 220
[[component]]
kind = "inverter"
device = "Phoenix Inverter VE.Direct 12/375"
power_w = 375
controlled_by = "load_disconnect"
""",
}

UNCONTROLLED_CHARGER = """\
name = "charger on its own"
[bank]
battery = "12.8/100"
[bms]
supply_fuse_a = 1
[[component]]
kind = "ac_charger"
name = "shore charger"
current_a = 20
controlled_by = "none"
[[component]]
kind = "dc_load"
current_a = 5
"""


def check(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["check", str(path), *args])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("example", sorted(SYSTEM_EXAMPLES))
def test_the_manuals_system_examples_pass(tmp_path: Path, example: str) -> None:
    r = check(write(tmp_path, f"{example}.toml", SYSTEM_EXAMPLES[example]))
    assert r.exit_code == 0, r.output
    assert "Errors" not in r.stdout
    assert "0 errors" in r.stdout
    assert SYSTEM_EXAMPLES[example].splitlines()[0].split('"')[1] in r.stdout


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("system_*.toml")),
                         ids=lambda p: p.stem)
def test_the_shipped_system_scenarios_are_fused(example: Path) -> None:
    """Issue 15 item 12: the manual's own example systems carry their supply fuse ([bms]), so
    `check` has no fuse warning for them."""
    r = check(example)
    assert r.exit_code == 0, r.output
    assert "[fuse]" not in r.stdout
    assert load_scenario(example).supply_fuse_a == 1.0


def test_an_unfused_design_is_told_what_to_add(tmp_path: Path) -> None:
    text = SYSTEM_EXAMPLES["solar_battery_protect"].replace("[bms]\nsupply_fuse_a = 1\n", "")
    r = check(write(tmp_path, "unfused.toml", text))
    assert r.exit_code == 0, r.output
    assert "Warnings (1):" in r.stdout and "[fuse]" in r.stdout
    assert "[bms] table with supply_fuse_a = 1" in " ".join(r.stdout.split())


@pytest.mark.parametrize(
    ("old", "new", "key", "hint"),
    [
        ("[bank]\n", "[bank]\nparalel = 2\n", "bank.paralel", "did you mean 'parallel'?"),
        ("current_a = 20", "curent_a = 5", "component[1].curent_a", "did you mean 'current_a'?"),
    ],
    ids=["paralel", "curent_a"],
)
def test_a_mistyped_key_is_refused_like_in_simulate(
    tmp_path: Path, old: str, new: str, key: str, hint: str
) -> None:
    """Issue 15 item 3: `check` reads the file with the scenario's model, so a mistyped key
    exits 2 naming the file, the key and the likely intended key instead of being ignored."""
    path = write(tmp_path, "typo.toml", SYSTEM_EXAMPLES["solar_battery_protect"].replace(old, new))
    r = check(path)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: {path}: {key}: unknown key"), first
    assert hint in first


def test_check_refuses_what_simulate_refuses(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "system_cyrix_combiner.toml").read_text()
    path = write(tmp_path, "bad.toml", text.replace("current_a = 40", "current_a = true"))
    r = check(path)
    assert r.exit_code == 2
    assert "component[0].current_a: must be a number, got true" in r.stderr
    sim = CliRunner().invoke(main, ["simulate", str(path)])
    assert sim.exit_code == 2
    assert "component[0].current_a: must be a number, got true" in sim.stderr


def test_an_uncontrolled_charger_is_an_error_naming_it(tmp_path: Path) -> None:
    r = check(write(tmp_path, "bad.toml", UNCONTROLLED_CHARGER))
    assert r.exit_code == 1
    assert "Errors (1):" in r.stdout
    errors = r.stdout.split("Errors (1):")[1].split("\n\n")[0]
    assert "[charger-not-controlled] shore charger:" in errors
    assert "Fix the errors" in r.stdout


def test_json_lists_every_finding(tmp_path: Path) -> None:
    r = check(write(tmp_path, "bad.toml", UNCONTROLLED_CHARGER), "--json")
    assert r.exit_code == 1
    findings = json.loads(r.stdout)
    assert {"severity", "code", "component", "message"} == set(findings[0])
    assert findings[0] == {**findings[0], "severity": "error", "code": "charger-not-controlled",
                           "component": "shore charger"}
    assert [f["severity"] for f in findings] == sorted(
        (f["severity"] for f in findings), key=["error", "warning", "info"].index)


def test_plain_output_groups_by_severity_in_order(tmp_path: Path) -> None:
    text = UNCONTROLLED_CHARGER.replace("supply_fuse_a = 1", "supply_fuse_a = 5")
    out = check(write(tmp_path, "d.toml", text)).stdout
    assert out.index("Errors (") < out.index("Warnings (") < out.index("Notes (")
    assert all(len(line) <= 100 for line in out.splitlines())


def test_malformed_toml_exits_2_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.toml", "name = \"x\"\n[bank\nbattery = 1\n")
    r = check(path)
    assert r.exit_code == 2
    assert str(path) in r.stderr
    assert "not valid TOML" in r.stderr
    assert r.stdout == ""


def test_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    r = check(tmp_path / "nowhere.toml")
    assert r.exit_code == 2
    assert "nowhere.toml" in r.stderr
    assert "cannot read" in r.stderr


def test_unusable_design_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "k.toml", "[[component]]\nkind = \"toaster\"\n")
    r = check(path)
    assert r.exit_code == 2
    assert str(path) in r.stderr and "kind" in r.stderr


def test_scenario_bms_table_carries_the_supply_fuse(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "system_solar_batteryprotect.toml").read_text()
    path = write(tmp_path, "fused.toml", text.replace("supply_fuse_a = 1", "supply_fuse_a = 5"))
    assert load_scenario(path).supply_fuse_a == 5.0
    r = check(path)
    assert r.exit_code == 0
    assert "[fuse] A 5 A fuse on the BMS supply is larger" in " ".join(r.stdout.split())
