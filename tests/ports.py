"""A TCP port for a server a test starts in another process or thread.

The port is only reserved while this function holds it, so something else could take it before
the server binds it. Two things make that unlikely: ports are picked below the kernel's
ephemeral range, where outgoing connections (browsers, MQTT and HTTP clients, the tests' own)
never get their local port, and at random, so two servers started one after the other do not
pick the same one.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: the lowest port picked: above the well-known and most registered service ports
LOWEST = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to now on ``host``, outside the ephemeral range if possible."""
    high = _ephemeral_low() - 1
    if high > LOWEST:
        for _ in range(50):
            port = random.randint(LOWEST, high)
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:  # no room below the ephemeral range: let the kernel choose
        s.bind((host, 0))
        chosen: int = s.getsockname()[1]
        return chosen
