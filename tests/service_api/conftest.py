"""Fixtures: a real Device running the twin of the manual's first system example, a real Store,
and the API app on top."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from smallbms.core.engine import Core
from smallbms.core.types import Decision
from smallbms.scenario import load_scenario
from smallbms.service.api import create_app
from smallbms.service.auth import Auth, ensure_pin
from smallbms.service.device import Device
from smallbms.service.store import Store
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "system_solar_batteryprotect.toml"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def make_device(store: Store | None, *, speed: float = 10.0, tick_s: float = 0.1,
                sample_every_s: float = 1.0, wireless_enabled: bool = True,
                scenario_path: Path = EXAMPLE) -> Device:
    """The twin of system example 3.3.1 (or ``scenario_path``) in a running Device (not
    started)."""
    scenario = load_scenario(scenario_path)
    source = TwinSource(scenario)
    persistent = initial_persistent(scenario)
    persistent.wireless_enabled = wireless_enabled
    core = Core(scenario.profile, persistent)

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source, tick_s=tick_s, speed=speed, sink=store,
                  sample_every_s=sample_every_s, obey=obey)


class Rig:
    """Everything one test needs: device, store, auth, app, client and the PIN."""

    def __init__(self, tmp: Path, *, start: bool = True, **device_kw: Any) -> None:
        self.store = Store(tmp / "smallbms.sqlite3")
        pin = ensure_pin(self.store)
        assert pin is not None
        self.pin = pin
        self.clock = FakeClock()
        self.auth = Auth(self.store, clock=self.clock)
        self.device = make_device(self.store, **device_kw)
        self.app = create_app(self.device, self.store, self.auth)
        if start:
            self.device.start()
        else:  # the test drives the ticks itself: one now so there is a snapshot
            self.device.tick(0.0)
        assert self.device.wait_ready(10)
        self.client = TestClient(self.app)

    def token(self) -> str:
        self.clock.advance(self.auth.retry_after_s("testclient"))  # past any earlier slowing
        r = self.client.post("/api/login", json={"pin": self.pin})
        assert r.status_code == 200, r.text
        tok: str = r.json()["token"]
        return tok

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def close(self) -> None:
        self.client.close()
        self.device.stop()
        self.store.flush()
        self.store.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("rig"))
    yield r
    r.close()


@pytest.fixture
def fresh_rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()
