"""Integrations: the device's links to other systems and hardware.

What it holds: MQTT with Home Assistant discovery, the Victron CAN-bus BMS protocol, the
Instant Readout broadcast, and the Raspberry Pi GPIO outputs and inputs. Each reads the device's
latest snapshot and sends commands through the small protocols of :mod:`.ports` (or, for GPIO,
one it defines); none reaches into the core or the service.

May import: :mod:`smallbms.model`, :mod:`smallbms.core.types` (commands and readings),
:mod:`smallbms.catalog`, :mod:`smallbms.config`, :mod:`smallbms.errors`, :mod:`smallbms.worker`,
and each other's modules; never the service package.
"""
