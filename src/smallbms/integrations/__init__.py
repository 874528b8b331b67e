"""Integrations of the smallBMS with real hardware (GPIO, ...)."""
