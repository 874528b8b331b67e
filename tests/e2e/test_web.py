"""The web app in a real browser: login, live status, settings, battery page, screenshots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server

expect = pytest.importorskip("playwright.sync_api").expect

# screenshots go to a temporary folder; SMALLBMS_SCREENSHOTS=docs/screenshots refreshes the docs
SHOTS = Path(os.environ.get("SMALLBMS_SCREENSHOTS") or tempfile.mkdtemp(prefix="smallbms-shots-"))


def login(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#pin", server.pin)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()


def test_wrong_pin_shows_a_message(server: Server, browser_context: Any) -> None:
    page = browser_context.new_page()
    page.goto(server.url + "/")
    wrong = "000000" if server.pin != "000000" else "111111"
    page.fill("#pin", wrong)
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("wrong PIN")
    page.close()


def test_status_live_settings_battery_and_screenshots(server: Server, browser_context: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    server.clock.advance(600)  # past any slowing left by the wrong-PIN test
    login(page, server)

    # status page with live values
    expect(page.locator("#soc")).not_to_have_text("--")
    expect(page.locator("#voltage")).to_contain_text("V")
    expect(page.locator("#conn-text")).to_have_text("live")
    expect(page.locator("#allowed-charge")).to_have_text("Yes")
    # a live update arrives without reload: the device time shown in the footer moves on
    first = page.locator("#foot").get_attribute("data-t")
    page.wait_for_function(
        "(t) => document.getElementById('foot').dataset.t !== t", arg=first, timeout=10_000)
    page.screenshot(path=str(SHOTS / "status-desktop.png"), full_page=True)

    # battery page with cell voltages
    page.click("button[data-tab=battery]")
    expect(page.locator("#cells .cell")).to_have_count(4)
    expect(page.locator("#cells .cell-v").first).to_contain_text(" V")
    expect(page.locator("#battery-info")).to_contain_text("HQ")
    page.screenshot(path=str(SHOTS / "battery-desktop.png"), full_page=True)

    # history page
    page.click("button[data-tab=history]")
    expect(page.locator("#history")).to_contain_text("Deepest discharge")

    # settings: a refused value shows the server's message; an accepted one is saved
    page.click("button[data-tab=settings]")
    floor = page.locator("#set-discharge_floor_pct")
    expect(floor).to_have_value("10")
    floor.fill("50")
    page.click("#settings-save")
    expect(page.locator("#msg-discharge_floor_pct")).to_contain_text("must be at or above")
    expect(page.locator("#settings-msg")).to_contain_text("Not saved")
    assert server.device.core.p.settings.discharge_floor_pct == 10
    floor.fill("15")
    page.click("#settings-save")
    expect(page.locator("#settings-msg")).to_have_text("Saved.")
    assert server.device.core.p.settings.discharge_floor_pct == 15
    page.screenshot(path=str(SHOTS / "settings-desktop.png"), full_page=True)

    # charts from the stored series
    page.click("button[data-tab=charts]")
    expect(page.locator("#chart-soc svg")).to_be_visible()
    page.screenshot(path=str(SHOTS / "charts-desktop.png"), full_page=True)

    # phone-sized screen
    page.set_viewport_size({"width": 375, "height": 812})
    page.click("button[data-tab=status]")
    expect(page.locator("#soc")).not_to_have_text("--")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page is {width} px wide on a 375 px screen"
    page.screenshot(path=str(SHOTS / "status-phone.png"), full_page=True)
    page.click("button[data-tab=battery]")
    expect(page.locator("#cells .cell")).to_have_count(4)
    page.screenshot(path=str(SHOTS / "battery-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert not errors, errors
    page.close()
