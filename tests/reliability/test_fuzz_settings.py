"""Bad input: settings changes, in the core and through the running service.

The property: an invalid value is refused with a message naming the setting, and the settings
that were in force stay exactly as they were (in the core, in the API's answer and in the saved
state); a valid change is applied whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.core.settings import (
    DEFAULT_SETTINGS,
    SPECS_BY_NAME,
    SettingError,
    Settings,
    change_setting,
    change_settings,
)

from .fuzz_support import EDGE_NUMBERS, checking, fuzz_settings, junk_values, tally

pytest.importorskip("httpx")
from tests.service_api.conftest import Rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NAMES = sorted(SPECS_BY_NAME)
names = st.one_of(st.sampled_from(NAMES), st.text(max_size=20))


def near_value(name: str) -> st.SearchStrategy[Any]:
    """Values around a setting's range: inside, just outside, far outside, not finite."""
    spec = SPECS_BY_NAME.get(name)
    if spec is None:
        return junk_values(nulls=True)
    lo, hi = spec.minimum, spec.maximum
    return st.one_of(
        st.floats(lo, hi), st.floats(lo - 10, hi + 10, allow_nan=False),
        st.sampled_from([lo, hi, lo - 1e-9, hi + 1e-9, *EDGE_NUMBERS]),
        junk_values(nulls=True),
    )


def in_range(s: Settings) -> None:
    for name, spec in SPECS_BY_NAME.items():
        v = getattr(s, name)
        assert isinstance(v, float) and spec.minimum <= v <= spec.maximum, (name, v)
    assert s.low_soc_warning_pct >= s.discharge_floor_pct


# --- the core's validation ----------------------------------------------------------------------

@fuzz_settings(ci=300)
@given(name=names, data=st.data())
def test_change_setting_refuses_with_the_name_or_applies(name: str, data: st.DataObject) -> None:
    value = data.draw(near_value(name))
    before = DEFAULT_SETTINGS
    t = tally("settings: one change (core)")
    with checking(t, (name, value)):
        try:
            after = change_setting(before, name, value)
        except SettingError as e:
            assert e.name == name and str(e).startswith(f"{name}: ") and e.reason.strip(), e
            assert before == Settings(), "the old settings changed"
            t.refusal()
            return
        in_range(after)
        assert getattr(after, name) == float(value)
        changed = {k for k, v in after.as_dict().items() if v != before.as_dict()[k]}
        assert changed <= {name}, changed
        t.ok()


@fuzz_settings(ci=300)
@given(values=st.dictionaries(names, junk_values(nulls=True) | st.sampled_from(EDGE_NUMBERS),
                              max_size=6))
def test_change_settings_is_all_or_nothing(values: dict[str, Any]) -> None:
    t = tally("settings: several changes (core)")
    with checking(t, values):
        try:
            after = change_settings(DEFAULT_SETTINGS, values)
        except SettingError as e:
            assert e.name in values and str(e).startswith(f"{e.name}: "), (e, values)
            t.refusal()
            return
        in_range(after)
        for k, v in values.items():
            assert getattr(after, k) == float(v)
        t.ok()


def test_an_integer_too_large_for_a_float_is_refused_by_name() -> None:
    """Regression: 10**400 (valid JSON, valid TOML) raised OverflowError instead of a refusal."""
    with pytest.raises(SettingError, match=r"^tail_current_pct: "):
        change_setting(DEFAULT_SETTINGS, "tail_current_pct", 10**400)


# --- through the running service ----------------------------------------------------------------

@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("settings-rig"))
    yield r
    r.close()


def stored_settings(rig: Rig) -> dict[str, float] | None:
    rig.store.flush()
    state = rig.store.load_state()
    return None if state is None else dict(state["settings"])


bodies = st.one_of(
    st.dictionaries(st.sampled_from(NAMES), st.floats(0, 100) | junk_values(nulls=True),
                    max_size=4),
    st.dictionaries(names, junk_values(nulls=True), max_size=3),
    junk_values(nulls=True),
)


@fuzz_settings(ci=60, scale=0.1)
@given(body=bodies)
def test_put_settings_refuses_by_name_and_loses_nothing(rig: Rig, body: Any) -> None:
    t = tally("settings: PUT /api/settings (running service)")
    headers = {"Authorization": f"Bearer {token(rig)}", "Content-Type": "application/json"}
    with checking(t, body):
        before = rig.device.core.p.settings
        saved_before = stored_settings(rig)
        r = rig.client.put("/api/settings", content=json.dumps(body), headers=headers)
        assert r.status_code in (200, 422), (r.status_code, r.text)
        now = rig.device.core.p.settings
        if r.status_code == 422:
            detail = r.json()["detail"]
            assert isinstance(detail, list) and detail, detail
            for problem in detail:
                named = problem.get("setting", problem.get("field"))
                assert named is not None and problem["message"].strip(), problem
                if "setting" in problem:
                    assert isinstance(body, dict) and problem["setting"] in body, (problem, body)
            assert now == before, "a refused change altered the settings"
            assert stored_settings(rig) == saved_before, "a refused change altered the saved state"
            t.refusal()
            return
        assert isinstance(body, dict)
        want = before.as_dict() | {k: float(v) for k, v in body.items()}
        assert now.as_dict() == want, (now, want)
        assert r.json()["values"] == want
        assert stored_settings(rig) == want, "the accepted change is not in the saved state"
        t.ok()


_TOKENS: dict[int, str] = {}


def token(rig: Rig) -> str:
    """One session per rig (the PIN hash check is slow by design)."""
    tok = _TOKENS.get(id(rig))
    if tok is None or rig.auth.session(tok) is None:
        tok = rig.auth.login(rig.pin, "fuzz-settings")
        _TOKENS[id(rig)] = tok
    return tok


def test_put_settings_huge_integer_is_a_422_naming_the_setting(rig: Rig) -> None:
    """Regression: a JSON integer too large for a float was a 500."""
    before = rig.device.core.p.settings
    r = rig.client.put("/api/settings", content='{"tail_current_pct": 1' + "0" * 400 + "}",
                       headers={"Authorization": f"Bearer {token(rig)}",
                                "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["setting"] == "tail_current_pct"
    assert rig.device.core.p.settings == before


def test_put_settings_nan_is_refused(rig: Rig) -> None:
    """JSON parsers here accept the NaN token; the value must still be refused by name."""
    r = rig.client.put("/api/settings", content='{"discharge_floor_pct": NaN}',
                       headers={"Authorization": f"Bearer {token(rig)}",
                                "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["setting"] == "discharge_floor_pct"
    assert not math.isnan(rig.device.core.p.settings.discharge_floor_pct)
