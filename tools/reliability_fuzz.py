"""The "bad input" part of the reliability campaign: every fuzzer, many more examples, counted.

    python tools/reliability_fuzz.py [--examples N] [--json docs/reliability/fuzz.json]

It runs the fuzz tests of tests/reliability/ (the scenario parser, settings, the run
configuration, saved state, Instant Readout and CAN frames, and schemathesis against the
running API) with ``N`` examples per Hypothesis property instead of CI's hundred or so, in the
mode where a broken property is counted and the run goes on (see
tests/reliability/fuzz_support.py). It then reports, per target, the inputs tried, how many
were accepted, refused with the project's own error, or failed; and for the API, the operations
covered, the cases sent, the status codes seen and the failures per check.

The target is met when no target has a failure and every target saw inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = (
    "tests/reliability/test_fuzz_scenario.py",
    "tests/reliability/test_fuzz_settings.py",
    "tests/reliability/test_fuzz_config_and_state.py",
    "tests/reliability/test_fuzz_frames.py",
    "tests/reliability/test_api_schemathesis.py",
)
#: API cases per operation and generation mode, as a share of ``--examples`` (each case is a
#: real request to the running device, some wait for a tick).
API_SHARE = 0.1

#: What building this part found, each fixed and pinned by a regression test (file::test).
FINDINGS: tuple[tuple[str, str, str], ...] = (
    ("Settings: an integer too large for a float (valid JSON and TOML, e.g. 10**400) raised "
     "OverflowError instead of a refusal; through `PUT /api/settings` it was a 500.",
     "core/settings.py: refused, naming the setting",
     "test_fuzz_settings.py::test_an_integer_too_large_for_a_float_is_refused_by_name, "
     "::test_put_settings_huge_integer_is_a_422_naming_the_setting"),
    ("Run configuration: a file that is not UTF-8, an integer of more than 4300 digits and "
     "nesting past the recursion limit raised UnicodeDecodeError, ValueError and "
     "RecursionError; `smallbms run` only catches ConfigError, so each was a traceback.",
     "service/config.py: ConfigError naming the file",
     "test_fuzz_config_and_state.py::test_undecodable_configs_are_config_errors"),
    ("Run configuration: an integer too large for a float in `tick_s`, `speed`, "
     "`sample_every_s`, `[can] period_s`, `[instant_readout] interval_s` or "
     "`[mqtt] publish_interval_s` raised OverflowError (math.isfinite on an int).",
     "service/config.py, integrations/canbus.py, instant_readout.py, mqtt.py: only floats are "
     "checked for finiteness, the range check refuses the rest",
     "test_fuzz_config_and_state.py::test_undecodable_configs_are_config_errors"),
    ("Saved state: a text or table time in `history.last_errors`, a list as "
     "`commissioned.model_id` and integers too large for a float raised ValueError, TypeError "
     "or OverflowError instead of PersistError; `format = true` passed for 1. (The store "
     "already caught these, so a running device was not affected; the contract was.)",
     "core/persist.py: PersistError naming the field; values shortened in messages",
     "test_fuzz_config_and_state.py::test_damaged_fields_are_persist_errors"),
    ("CAN and Instant Readout encoders: a finite value that overflows once scaled (1e308 V) or "
     "an integer too large for a float raised OverflowError. Both services run the encoder on "
     "their own thread, and an exception there ends the thread: the GX would lose the BMS.",
     "integrations/canbus.py, instant_readout.py: clamped to the field (CAN: an integer no "
     "float holds is 'unknown', 0)",
     "test_fuzz_frames.py::test_values_past_the_float_range_once_scaled_are_clamped"),
    ("OpenAPI: the 422 bodies the API sends (`{detail: [{field, message}]}`) were documented "
     "as FastAPI's default shape; 400 (unparseable body), 401/403/503 (no session, wireless "
     "off or CSRF, starting) and 409/504 (device refusal, time-out) were not documented on "
     "most operations; no security scheme was declared, so no client or checker could know "
     "the API needs a token.",
     "service/api.py: every operation documents its errors with models; bearer and cookie "
     "schemes declared on every operation but login",
     "test_api_schemathesis.py::test_every_operation_is_documented_with_its_errors"),
    ("`POST /api/actions/set_soc` with `{\"value_pct\": true}` set the SoC to 1 % (found by "
     "schemathesis' negative_data_rejection in the first full run): request bodies were "
     "parsed laxly, so `true` became 1 and `\"55\"` became 55; the same held for "
     "`firmware_update`'s `duration_s`.",
     "service/api.py: numbers in request bodies are strict (a JSON number, nothing else)",
     "test_api_schemathesis.py::test_body_numbers_are_numbers"),
    ("`GET /api/series?since=-inf&until=inf` answered 200 with `null` where the schema "
     "promises numbers (the query strings `inf`/`nan` parse as floats).",
     "service/api.py: 422, 'must be a finite Unix time'",
     "test_api_schemathesis.py::test_series_refuses_times_that_are_not_finite"),
)


def run_tests(examples: int) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Run the fuzz tests in this process; returns pytest's exit code and the tallies."""
    os.environ["SMALLBMS_FUZZ_EXAMPLES"] = str(examples)
    os.environ["SMALLBMS_FUZZ_COLLECT"] = "1"
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    import pytest

    rc = int(pytest.main(["-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                          *TEST_FILES]))
    support = sys.modules.get("tests.reliability.fuzz_support")
    api = sys.modules.get("tests.reliability.test_api_schemathesis")
    tallies = {k: v.as_dict() for k, v in support.TALLIES.items()} if support else {}
    api_tallies = {k: v.as_dict() for k, v in api.API_TALLIES.items()} if api else {}
    return rc, tallies, api_tallies


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(examples: int, rc: int, tallies: dict[str, Any], api: dict[str, Any],
             checks: list[str], skipped: dict[tuple[str, str], str], ok: bool) -> str:
    lines: list[str] = []
    total_inputs = sum(t["inputs"] for t in tallies.values())
    total_failures = sum(t["failures"] for t in tallies.values())
    api_cases = sum(t["cases"] for t in api.values())
    api_failures = sum(sum(t["failures"].values()) for t in api.values())
    lines += [
        "Every input the BMS reads from outside — scenario files, the run configuration, "
        "settings, saved state, the API — and every byte format it builds was fed random and "
        "near-valid input with Hypothesis, and the published OpenAPI was checked with "
        "schemathesis against the running service. The property everywhere: the input is "
        "accepted as a valid object, or refused with the project's own error naming the file, "
        "key, setting or field; never another exception, a 5xx, an undocumented answer or a "
        "lost value.",
        "",
        f"**Target:** no failure in any target. **Result: {'met' if ok else 'NOT met'}** — "
        f"{total_inputs:,} parser inputs, {total_failures} failures; {api_cases:,} API cases "
        f"over {len(api)} operations, {api_failures} failures (pytest exit code {rc}).",
        "",
        f"### Parsers and formats ({examples:,} examples per property)",
        "",
        "| target | inputs | accepted | refused cleanly | failures | slowest input |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in tallies.values():
        lines.append(f"| {_cell(t['target'])} | {t['inputs']:,} | {t['accepted']:,} | "
                     f"{t['refused']:,} | {t['failures']} | {t['slowest_ms']:.1f} ms |")
    lines += [
        "",
        "Inputs include Hypothesis' shrinking attempts. Raw junk: random bytes and random TOML "
        "or JSON documents. Near-valid: a valid file (every scenario in examples/, a run "
        "configuration with every table, a saved state) with one key changed — wrong type, out "
        "of range, NaN, infinities, integers no float can hold, negative or absurd durations, "
        "unknown keys and actions, battery and cell indices past the bank — or removed, or an "
        "unknown key added. Settings are also changed through `PUT /api/settings` on the "
        "running service, checking after each refusal that the settings in force and the "
        "saved state are unchanged; and the store is handed a damaged newest state row to "
        "check that it falls back to the last good one. The slowest single input is shown as "
        "evidence that nothing hangs (it is measured, not asserted).",
        "",
        "There is no battery-bus frame parser in the product: battery reports reach the core "
        "as typed values from the twin or a script, never as bytes, so none was fuzzed. The "
        "byte formats the BMS does build — Instant Readout adverts and the CAN frame set — were "
        "fuzzed both ways: our decoders on arbitrary bytes (ValueError only, and what they "
        "decode encodes back to the same bytes), and junk states through the encoders (still "
        "a full frame set / an advert the public victron-ble decoder reads, values clamped, "
        "never wrapped).",
        "",
        f"### API: schemathesis against `/openapi.json` ({max(1, int(examples * API_SHARE))} "
        "cases per operation and mode)",
        "",
        "The real app in-process over ASGI (a Device ticking the twin, SQLite in a fresh data "
        "directory), logged in with the PIN; half the cases with the bearer token, half with "
        "the session cookie and its CSRF header. Positive cases fit the schema, negative ones "
        "do not (operations without parameters or body have none). Checks: "
        + ", ".join(f"`{c}`" for c in checks) + ".",
        "",
        "| operation | cases | status codes seen | failures |",
        "|---|---:|---|---|",
    ]
    for t in api.values():
        statuses = ", ".join(f"{k}×{v}" for k, v in t["statuses"].items())
        failures = ", ".join(f"{k}×{v}" for k, v in t["failures"].items()) or "0"
        lines.append(f"| `{t['operation']}` | {t['cases']:,} | {statuses} | {failures} |")
    for (method, path), why in skipped.items():
        lines.append(f"| `{method} {path}` | not run | {why} | — |")
    lines += [
        "",
        "Operations that would spoil the rest of the run are let through and undone: "
        "disabling wireless access (switched back on after the case, as the owner would "
        "within 30 s of a power-up), logging out (the harness logs in again), wrong PINs at "
        "login and PIN change (the fake clock is moved past the wait on half the cases, so "
        "both the 429 and the next 401 are seen).",
        "",
    ]
    failing = [t for t in tallies.values() if t["failure_examples"]]
    failing_api = [t for t in api.values() if t["failure_examples"]]
    if failing or failing_api:
        lines += ["### Failures in this run", ""]
        for t in failing:
            for ex in t["failure_examples"][:3]:
                lines.append(f"- {t['target']}: `{_cell(ex[:300])}`")
        for t in failing_api:
            for ex in t["failure_examples"][:2]:
                lines.append(f"- `{t['operation']}`: `{_cell(ex[:300])}`")
        lines.append("")
    lines += [
        "### Weaknesses found while building this part, all fixed",
        "",
        "Each was found by these fuzzers (or by probing around what they found) and is pinned "
        "by a regression test that runs in CI.",
        "",
        "| found | fix | regression test (tests/reliability/) |",
        "|---|---|---|",
    ]
    for found, fix, test in FINDINGS:
        lines.append(f"| {_cell(found)} | {_cell(fix)} | {_cell(test)} |")
    lines += [
        "",
        "### Limits",
        "",
        "- schemathesis draws numbers from JSON Schema, so query strings such as `inf` or "
        "`nan` are rare; the non-finite times of `/api/series` were found by probing by hand "
        "and are now a regression test.",
        "- `/api/stream` (Server-Sent Events) never ends by design and is not run through "
        "schemathesis; tests/service_api covers it.",
        "- The CI run (`pytest tests/reliability`) uses about a hundred examples per property "
        "and 12 API cases per operation and mode; this campaign is the long run.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=2000,
                    help="examples per Hypothesis property (API: a tenth of it per operation "
                         "and mode); default 2000")
    ap.add_argument("--json", type=Path, default=None, help="write the part's result here")
    args = ap.parse_args(argv)
    if args.examples < 1:
        ap.error("--examples must be at least 1")

    sys.path.insert(0, str(ROOT))
    from tools.reliability_part import PartTimer

    timer = PartTimer()
    rc, tallies, api = run_tests(args.examples)
    schemathesis_tests = sys.modules.get("tests.reliability.test_api_schemathesis")
    checks = list(getattr(schemathesis_tests, "CHECKS", {}))
    skipped = dict(getattr(schemathesis_tests, "SKIPPED", {}))

    parser_failures = sum(t["failures"] for t in tallies.values())
    api_failures = sum(sum(t["failures"].values()) for t in api.values())
    ok = (rc == 0 and parser_failures == 0 and api_failures == 0 and bool(tallies) and bool(api)
          and all(t["inputs"] > 0 for t in tallies.values())
          and all(t["cases"] > 0 for t in api.values()))
    figures: dict[str, Any] = {
        "examples_per_property": args.examples,
        "parser_targets": len(tallies),
        "parser_inputs": sum(t["inputs"] for t in tallies.values()),
        "parser_failures": parser_failures,
        "api_operations_covered": len(api),
        "api_operations_skipped": len(skipped),
        "api_cases": sum(t["cases"] for t in api.values()),
        "api_failures": api_failures,
        "api_checks": checks,
        "pytest_exit_code": rc,
        "targets": {k: {n: v for n, v in t.items() if n != "failure_examples"}
                    for k, t in tallies.items()},
        "operations": {k: {n: v for n, v in t.items() if n != "failure_examples"}
                       for k, t in api.items()},
        "bugs_found_and_fixed": len(FINDINGS),
    }
    text = markdown(args.examples, rc, tallies, api, checks, skipped, ok)
    print()
    print(text)
    if args.json is not None:
        timer.write(args.json, part="fuzz", title="Bad input: fuzzing and schemathesis", ok=ok,
                    figures=figures, markdown=text, argv=sys.argv if argv is None else
                    ["tools/reliability_fuzz.py", *argv])
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
