"""The ``[venus]`` table (defined with the other configuration tables in
:mod:`smallbms.config.venus`, re-exported here for the integration's users)."""

from __future__ import annotations

from smallbms.config.venus import CHARGE_LIMITS, SERVICE_PREFIX, VenusConfig

__all__ = ["CHARGE_LIMITS", "SERVICE_PREFIX", "VenusConfig"]
