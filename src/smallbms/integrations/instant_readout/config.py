"""The ``[instant_readout]`` table of the ``smallbms run`` configuration."""

from __future__ import annotations

# The table is a pydantic model in smallbms.config.integrations (with the other run tables).
from smallbms.config.integrations import INTERVAL_RANGE_S, InstantReadoutConfig

__all__ = ["INTERVAL_RANGE_S", "InstantReadoutConfig"]
