"""Broadcasters put the advertisement on the air; this one only keeps and logs it.

:class:`Broadcaster` is what the service needs; :class:`LogBroadcaster` needs no adapter (tests,
machines without Bluetooth), and :class:`~smallbms.integrations.instant_readout.bluez.BluezBroadcaster`
advertises through BlueZ.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from smallbms.integrations.instant_readout.crypto import COMPANY_ID

log = logging.getLogger(__name__)

class Broadcaster(Protocol):
    """Puts manufacturer data (after the company id) on the air."""

    def send(self, data: bytes) -> None:
        """Advertise ``data`` from now on (replacing what was advertised)."""

    def withdraw(self) -> None:
        """Stop advertising until the next :meth:`send` (wireless access off)."""

    def close(self) -> None:
        """Stop for good and free the adapter."""


class LogBroadcaster:
    """Keeps the last ``keep`` frames in :attr:`frames` and logs each at debug level."""

    def __init__(self, keep: int = 1000) -> None:
        self.frames: deque[bytes] = deque(maxlen=keep)
        self.advertising = False

    def send(self, data: bytes) -> None:
        self.frames.append(bytes(data))
        self.advertising = True
        log.debug("instant readout %04x:%s", COMPANY_ID, data.hex())

    def withdraw(self) -> None:
        self.advertising = False

    def close(self) -> None:
        self.advertising = False


