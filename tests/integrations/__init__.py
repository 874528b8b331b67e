"""Tests of the hardware integrations."""
