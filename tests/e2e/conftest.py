"""End-to-end fixtures: a real uvicorn server (device + real SQLite store) and Debian Chromium.

The browser is the system's ``/usr/bin/chromium`` driven by Playwright (never a downloaded
browser); the tests skip, saying why, when it is not installed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smallbms.service.device import Device
from smallbms.service.store import Store
from tests.ports import free_port
from tests.service_api.conftest import EXAMPLE, FakeClock, make_device

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]




@dataclass
class Server:
    url: str
    pin: str
    device: Device
    store: Store
    clock: FakeClock  # the login-slowing clock: tests move it instead of sleeping


@contextlib.contextmanager
def serving(data_dir: Path, scenario_path: Path | None = None, *, speed: float = 10.0,
            tick_s: float = 0.2, sample_every_s: float = 5.0) -> Iterator[Server]:
    """The device (twin at 10x) with its store, PIN and API, served by uvicorn in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    from smallbms.service.api import create_app
    from smallbms.service.auth import Auth, ensure_pin

    store = Store(data_dir / "smallbms.sqlite3")
    pin = ensure_pin(store)
    assert pin is not None
    device = make_device(store, speed=speed, tick_s=tick_s, sample_every_s=sample_every_s,
                         scenario_path=scenario_path or EXAMPLE)
    clock = FakeClock()
    app = create_app(device, store, Auth(store, clock=clock))
    device.start()
    assert device.wait_ready(10)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", pin, device, store, clock)
    finally:
        app.state.ctx.close_streams()  # as `smallbms run` does, so the server stops at once
        srv.should_exit = True
        thread.join(10)
        device.stop()
        store.flush()
        store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The twin of the manual's first system example (one 12.8 V battery)."""
    with serving(tmp_path_factory.mktemp("e2e")) as s:
        yield s


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    """A headless Chromium context with a fresh profile in a temporary directory."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # CI installs it (tools/test.sh): missing there is a failure
            pytest.fail(f"{CHROMIUM} is missing in CI: tools/test.sh should have installed it")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the "
                    "browser tests")
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with tempfile.TemporaryDirectory(prefix="smallbms-chromium-") as profile, \
            playwright_sync.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800}, service_workers="block")
        ctx.on("dialog", lambda d: d.accept())
        try:
            yield ctx
        finally:
            ctx.close()
