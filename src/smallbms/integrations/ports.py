"""What the integrations need from the running device, as small protocols.

MQTT, the CAN-bus BMS and Instant Readout follow the device through these and never import
the service layer: its ``Device`` (and its ``Subscription``) satisfy them
structurally, and so do the small fakes in the tests. A snapshot is the plain dict the device
publishes after every tick (see smallbms.model.snapshot for its keys).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from smallbms.core.types import Command, CommandResult


class SnapshotFeed(Protocol):
    """The snapshots published after a subscription began, one at a time."""

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        """The next snapshot, or None when none came within ``timeout_s``."""


class WakeableFeed(SnapshotFeed, Protocol):
    """A feed one can also put a value into (to end a waiting ``get`` at once)."""

    def put(self, snap: dict[str, Any]) -> None: ...


class Subscribable(Protocol):
    """A device whose snapshots can be followed."""

    def subscribe(self) -> AbstractContextManager[SnapshotFeed]: ...


class SnapshotSource(Protocol):
    """A device with a latest snapshot and a wakeable snapshot feed (what CAN needs)."""

    @property
    def snapshot(self) -> dict[str, Any]: ...

    def subscribe(self) -> AbstractContextManager[WakeableFeed]: ...


class CommandTarget(Protocol):
    """A device that can be followed and commanded (what the MQTT bridge needs)."""

    @property
    def snapshot(self) -> dict[str, Any]:
        """The latest snapshot ({} before the first tick)."""

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the device has produced its first snapshot."""

    def subscribe(self) -> AbstractContextManager[SnapshotFeed]: ...

    def command(self, cmd: Command) -> CommandResult:
        """Hand ``cmd`` to the next tick and wait for its result."""
