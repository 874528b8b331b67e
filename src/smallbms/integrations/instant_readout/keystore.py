"""Where the Instant Readout device key lives: the secret store, as 32 hex characters."""

from __future__ import annotations

import logging
from typing import Protocol

from smallbms.integrations.instant_readout.crypto import new_key, parse_key

log = logging.getLogger(__name__)

KEY_SECRET_NAME = "instant_readout_key"  #: the secret-store name of the per-device key

class SecretStore(Protocol):
    """Where the device key lives (the service's SQLite store is one)."""

    def get_secret(self, name: str) -> str | None: ...

    def set_secret(self, name: str, value: str) -> None: ...


def ensure_key(store: SecretStore) -> bytes:
    """The device's key from the store; made and stored on first use (or if the stored one is
    unreadable, with a warning: decoders then need the new key)."""
    stored = store.get_secret(KEY_SECRET_NAME)
    if stored is not None:
        try:
            return parse_key(stored)
        except ValueError:
            log.warning("the stored Instant Readout key is unreadable; making a new one")
    return regenerate_key(store)


def regenerate_key(store: SecretStore) -> bytes:
    """Make, store and return a new key (every decoder then needs the new one)."""
    key = new_key()
    store.set_secret(KEY_SECRET_NAME, key.hex())
    return key

