"""Battery buses: where a real bank's readings come from (SPEC 19, docs/bus-*.md).

What it holds: the ``[bus]`` table (:mod:`.config`), the gate that keeps only fresh, plausible
values and builds the core's ``Reading`` (:mod:`.gate`), the decoders (Victron Instant Readout
with ``victron-ble`` in :mod:`.victron`, ``aiobmsble`` samples in :mod:`.aiobmsble`, MQTT JSON in
:mod:`.mqtt`), the capture format and its replay (:mod:`.capture`), the BLE listener
(:mod:`.ble`), the twin on the air (:mod:`.twin_ble`) and the source the device ticks
(:mod:`.source`); :func:`~smallbms.buses.build.bus_source` puts one together from a table.

A bus decides nothing: every protection rule stays in the core.

May import: :mod:`smallbms.core` (types), :mod:`smallbms.catalog`, :mod:`smallbms.schema`,
:mod:`smallbms.integrations.instant_readout` (the envelope and its AES-CTR),
:mod:`smallbms.sources` (the twin, for twin-ble).
"""
