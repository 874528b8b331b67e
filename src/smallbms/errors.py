"""Errors shared by every layer (no imports from the rest of the package)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem; the message names the file and key."""
