"""The data dictionary: every value the device shows, stores or sends, named once.

What it holds:

- :mod:`.fields` - the field table: for each value its name (units in the name), unit, precision,
  human label and Home Assistant device and state class, plus the explicit maps to the public
  names that must stay as they are (the sample line of the event contract);
- :mod:`.codes` - the warning, alarm and error codes as a ``StrEnum`` with one table saying, per
  code, its kind, name, advice and which outputs it floats;
- :mod:`.reasons` - why charging or discharging is not allowed, as an ``enum.Flag`` with named
  charge and discharge blocker masks;
- :mod:`.snapshot` - the frozen, typed snapshot of the device that the core produces
  (``Core.snapshot``) and every surface reads.

What it may import: the standard library only. Everything else in the package may import it.
"""
