"""The web app in a real browser: login, live status, settings, battery page, charts, phone
layout, screenshots.

Screenshots go to a temporary folder; ``SMALLBMS_SCREENSHOTS=docs/screenshots`` refreshes the
docs' pictures (status, battery, history, charts, settings and log, at phone and desktop size).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smallbms.core.types import SetSoc

from .conftest import Server, serving

expect = pytest.importorskip("playwright.sync_api").expect

SHOTS = Path(os.environ.get("SMALLBMS_SCREENSHOTS") or tempfile.mkdtemp(prefix="smallbms-shots-"))
PHONES = [360, 390]
PHONE_HEIGHT = 844
DESKTOP = {"width": 1366, "height": 900}
TABS = ["status", "battery", "history", "charts", "settings", "log"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "system_solar_batteryprotect.toml"


def login(page: Any, server: Server) -> None:
    server.clock.advance(900)  # past any slowing left by a wrong-PIN test
    page.goto(server.url + "/")
    page.wait_for_selector("#login-form:visible, #app-view:visible")
    if page.locator("#login-form").is_visible():  # the browser profile may hold a session
        page.fill("#pin", server.pin)
        page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#soc")).not_to_have_text("--")


@pytest.fixture
def page(server: Server, browser_context: Any) -> Iterator[Any]:
    p = browser_context.new_page()
    p.set_viewport_size(DESKTOP)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    login(p, server)
    yield p
    p.close()
    assert not errors, errors


def tab(page: Any, name: str) -> None:
    page.click(f".tabs a[data-tab={name}]")
    expect(page.locator(f"#page-{name}")).to_be_visible()


def no_sideways_scroll(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide on a {width} px screen"


def test_wrong_pin_shows_a_message(server: Server, browser_context: Any) -> None:
    page = browser_context.new_page()
    server.clock.advance(900)
    browser_context.clear_cookies()
    page.goto(server.url + "/")
    wrong = "000000" if server.pin != "000000" else "111111"
    page.fill("#pin", wrong)
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("wrong PIN")
    page.close()


def test_status_live_battery_history_and_settings(server: Server, page: Any) -> None:
    # status page with live values
    expect(page.locator("#voltage")).to_contain_text("V")
    expect(page.locator("#conn-text")).to_have_text("live")
    expect(page.locator("#allowed-charge")).to_have_text("Yes")
    first = page.locator("#foot").get_attribute("data-t")
    page.wait_for_function(
        "(t) => document.getElementById('foot').dataset.t !== t", arg=first, timeout=10_000)
    # battery page with cell voltages
    tab(page, "battery")
    expect(page.locator("#cells .cell")).to_have_count(4)
    expect(page.locator("#cells .cell-v").first).to_contain_text(" V")
    expect(page.locator("#battery-info")).to_contain_text("HQ")
    # history page, labels from the field table
    tab(page, "history")
    expect(page.locator("#history")).to_contain_text("Deepest discharge")
    # settings: a refused value shows the server's message; an accepted one is saved
    tab(page, "settings")
    floor = page.locator("#set-discharge_floor_pct")
    expect(floor).to_have_value("10")
    floor.fill("50")
    page.click("#settings-save")
    expect(page.locator("#msg-discharge_floor_pct")).to_contain_text("must be at or above")
    expect(page.locator("#settings-msg")).to_contain_text("Not saved")
    assert server.device.snapshot["settings"]["values"]["discharge_floor_pct"] == 10
    floor.fill("15")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_have_text("Saved.")
    assert server.device.snapshot["settings"]["values"]["discharge_floor_pct"] == 15
    floor.fill("10")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_have_text("Saved.")


def test_a_value_that_rounds_to_zero_shows_no_minus_sign(page: Any) -> None:
    """Issue 15.12: "-0.0 A", "-0.0 W" for a current that rounds to zero."""
    got = page.evaluate("""() => [window.smallbmsFormat.fixed(-0.004, 2),
                                   window.smallbmsFormat.fixed(-0.04, 1),
                                   window.smallbmsFormat.fixed(-0.4, 0),
                                   window.smallbmsFormat.fixed(-1.25, 1)]""")
    assert got == ["0.00", "0.0", "0", "-1.3"] or got == ["0.00", "0.0", "0", "-1.2"]
    assert "-0.0" not in page.locator("#page-status").inner_text()


@pytest.mark.parametrize("width", [*PHONES, DESKTOP["width"]])
def test_error_led_is_seen_blinking_for_a_warning_and_lit_for_an_alarm(
        server: Server, page: Any, width: int) -> None:
    """Issue 15.2: the `.error:empty` rule for messages hid the (empty) Error LED always."""
    page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    led = page.locator("#led-error")
    try:
        server.device.command(SetSoc(15.0))  # under the low-SoC warning level: W-B07
        expect(page.locator("#led-error-text")).to_have_text("blinking")
        expect(led).to_be_visible()
        assert led.evaluate("e => getComputedStyle(e).animationName") == "blink"
        box = led.bounding_box()
        assert box is not None and box["width"] >= 10 and box["height"] >= 10
        server.device.command(SetSoc(5.0))  # under the discharge floor: A-B07
        expect(page.locator("#led-error-text")).to_have_text("on")
        expect(led).to_be_visible()
        assert led.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(209, 67, 67)"
        assert led.evaluate("e => getComputedStyle(e).animationName") == "none"
    finally:
        server.device.command(SetSoc(80.0))
    expect(page.locator("#led-error-text")).to_have_text("off")


@pytest.mark.parametrize("width", PHONES)
def test_tabs_fit_on_a_phone_and_have_urls(page: Any, width: int) -> None:
    """Issue 15.9: the tab bar ran off a phone screen; a reload always went back to Status."""
    page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    for name in TABS:
        box = page.locator(f".tabs a[data-tab={name}]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, name
        label = page.locator(f".tabs a[data-tab={name}]")
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{name} is cut"
    no_sideways_scroll(page, width)
    tab(page, "log")
    assert page.url.endswith("#log")
    page.reload()
    expect(page.locator("#page-log")).to_be_visible()
    expect(page.locator(".tabs a.active")).to_have_text("Log")
    tab(page, "battery")
    page.go_back()
    expect(page.locator("#page-log")).to_be_visible()
    page.go_forward()
    expect(page.locator("#page-battery")).to_be_visible()


@pytest.mark.parametrize("width", PHONES)
def test_log_state_column_and_battery_labels_fit_on_a_phone(
        server: Server, page: Any, width: int) -> None:
    try:  # a raise and a clear in the log
        server.device.command(SetSoc(15.0))
        expect(page.locator("#led-error-text")).to_have_text("blinking")
    finally:
        server.device.command(SetSoc(80.0))
    page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    tab(page, "log")
    expect(page.locator("#log-body td.state").first).to_be_visible()
    for cell in page.locator("#log-body tr:nth-child(-n+5) td.state").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width - 8, cell.inner_text()
    no_sideways_scroll(page, width)
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the log table scrolls sideways"
    tab(page, "battery")
    expect(page.locator("#bank-info dt").first).to_be_visible()
    expect(page.locator("#battery-info dt").first).to_be_visible()
    labels = page.evaluate("""() => [...document.querySelectorAll('#bank-info dt, #battery-info dt')]
        .map(e => { const r = e.getBoundingClientRect();
                    return [e.textContent, r.height, r.right,
                            parseFloat(getComputedStyle(e).fontSize)]; })""")
    assert len(labels) >= 10
    for text, height, right, font in labels:  # one line is about 1.2 font sizes high, two 2.4
        assert height < 1.8 * font, f"{text!r} wraps"
        assert right <= width, f"{text!r} runs off the screen"
    no_sideways_scroll(page, width)


@pytest.mark.parametrize("width", [*PHONES, DESKTOP["width"]])
def test_charts_use_device_time_with_readable_distinct_ticks(
        server: Server, page: Any, width: int) -> None:
    """Issue 15.4: text in SVG units, repeated tick labels, wall-clock axes at --speed."""
    page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    tab(page, "charts")
    page.select_option("#chart-span", "3600")
    for box in ("soc", "voltage", "current", "power", "temperature", "cells"):
        expect(page.locator(f"#chart-{box} .uplot")).to_be_visible()
    t_now = float(page.locator("#foot").get_attribute("data-t") or "nan")
    for box in ("soc", "voltage", "current", "power", "temperature", "cells"):
        chart = page.locator(f"#chart-{box}")
        xticks = json.loads(chart.get_attribute("data-xticks") or "[]")
        yticks = [t for t in json.loads(chart.get_attribute("data-yticks") or "[]") if t]
        assert len(xticks) >= 2 and len(set(xticks)) == len(xticks), (box, xticks)
        assert len(yticks) >= 2 and len(set(yticks)) == len(yticks), (box, yticks)
        # device time (seconds since the start), not Unix time, and within the 1 h span
        xmin, xmax = float(chart.get_attribute("data-xmin")), float(chart.get_attribute("data-xmax"))
        assert xmax <= t_now + 60 and xmax - xmin <= 3600 + 60, (box, xmin, xmax, t_now)
        # the canvas is drawn at its shown size, so the 12 px tick font stays 12 px
        canvas = chart.locator("canvas")
        shown = canvas.evaluate("e => e.getBoundingClientRect().width")
        plot = chart.locator(".plot").evaluate("e => e.clientWidth")
        assert abs(shown - plot) <= 2 and shown <= width
    legend = page.locator("#chart-temperature .u-legend")
    expect(legend).to_contain_text("lowest")
    expect(legend).to_contain_text("highest")
    no_sideways_scroll(page, width)


def test_settings_blank_rounding_and_floor_confirmation(server: Server, page: Any) -> None:
    """Issue 15.8: "must be a number, got None"; arbitrary precision; loads cut unasked."""
    tab(page, "settings")
    warn = page.locator("#set-low_soc_warning_pct")
    warn.fill("")
    page.click("#settings-save")
    expect(page.locator("#msg-low_soc_warning_pct")).to_have_text("enter a value")
    expect(page.locator("#settings-msg")).to_contain_text("Not saved")
    warn.fill("20")
    # rounded to the setting's step (0.01 V) by the page, which says so
    page.fill("#set-charged_voltage_v", "14.123")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_contain_text("rounded to 14.12 V")
    expect(page.locator("#set-charged_voltage_v")).to_have_value("14.12")
    assert server.device.snapshot["settings"]["values"]["charged_voltage_v"] == 14.12
    # a floor above the present state of charge asks first
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))  # the context accepts it
    soc = server.device.snapshot["status"]["soc_pct"]
    above = min(99, int(soc) + 5)
    page.fill("#set-low_soc_warning_pct", str(above))
    page.fill("#set-discharge_floor_pct", str(above))
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_contain_text("Saved")
    assert dialogs and "switches the loads off at once" in dialogs[0], dialogs
    # back to the defaults for the other tests
    page.fill("#set-discharge_floor_pct", "10")
    page.fill("#set-low_soc_warning_pct", "20")
    page.fill("#set-charged_voltage_v", "14")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_have_text("Saved.")


@pytest.mark.parametrize("width", [*PHONES, DESKTOP["width"]])
def test_simulation_controls_are_apart_and_ask_first(
        server: Server, page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    tab(page, "settings")
    sim = page.locator("#sim-card")
    expect(sim).to_contain_text("Simulation")
    expect(sim.locator("#act-accept-bank")).to_be_visible()
    expect(sim.locator("#firmware-form")).to_be_visible()
    assert page.locator("#settings-form #act-accept-bank").count() == 0
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    box = sim.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.click("#act-accept-bank")
    expect(page.locator("#sim-msg")).to_have_text("Bank accepted.")
    assert dialogs and dialogs[0].startswith("Simulation:")
    no_sideways_scroll(page, width)


@pytest.fixture(scope="module")
def server_24v(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same system with two batteries in series: a 25.6 V bank."""
    d = tmp_path_factory.mktemp("e2e24")
    text = EXAMPLE.read_text().replace('soc_pct = 60', 'soc_pct = 60\nseries = 2')
    scenario = d / "system_24v.toml"
    scenario.write_text(text)
    with serving(d, scenario) as s:
        yield s


def test_charged_voltage_shows_the_bank_value_on_a_24v_bank(
        server_24v: Server, browser_context: Any) -> None:
    """Issue 15.8: "14 V per 12.8 V" on a 24 V bank; owners expect 28.0 V."""
    page = browser_context.new_page()
    page.set_viewport_size(DESKTOP)
    login(page, server_24v)
    tab(page, "settings")
    field = page.locator("#set-charged_voltage_v")
    expect(field).to_have_value("28.00")
    expect(page.locator("#unit-charged_voltage_v")).to_have_text("V")
    expect(page.locator("#help-charged_voltage_v")).to_contain_text("14.00 V per 12.8 V battery")
    field.fill("28.4")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_have_text("Saved.")
    assert server_24v.device.snapshot["settings"]["values"]["charged_voltage_v"] == 14.2
    expect(page.locator("#help-charged_voltage_v")).to_contain_text("14.20 V per 12.8 V battery")
    page.close()


@pytest.fixture(scope="module")
def server_fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The first system example at 360x, so the charts hold hours of device time."""
    with serving(tmp_path_factory.mktemp("e2efast"), speed=360.0, tick_s=0.1,
                 sample_every_s=60.0) as s:
        yield s


def test_screenshots_at_phone_and_desktop_size(server_fast: Server, browser_context: Any) -> None:
    """The pictures in docs/screenshots/ (looked at by a person after each refresh)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    page.set_viewport_size(DESKTOP)
    login(page, server_fast)
    # three hours of device time (30 s here), then something in the log and a warning showing
    page.wait_for_function("() => Number(document.getElementById('foot').dataset.t) > 3 * 3600",
                           timeout=180_000)
    server_fast.device.command(SetSoc(18.0))
    expect(page.locator("#led-error-text")).to_have_text("blinking")
    for size, viewport in (("phone", {"width": 390, "height": PHONE_HEIGHT}), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        for name in TABS:
            tab(page, name)
            if name == "charts":
                page.select_option("#chart-span", "21600")
                expect(page.locator("#chart-cells .uplot")).to_be_visible()
            if name == "log":
                expect(page.locator("#log-body tr").first).to_be_visible()
            page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.close()
