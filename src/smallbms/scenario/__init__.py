"""Scenario files (SPEC 17): the TOML format, checked by pydantic models, parsed into frozen,
fully typed objects.

The package holds :mod:`~smallbms.scenario.model` (the file's shape as pydantic models, also read
by ``smallbms check`` as a design file), :mod:`~smallbms.scenario.parse` (TOML text to a
:class:`Scenario`, problems in the project's words) and :mod:`~smallbms.scenario.types` (the
frozen dataclasses the runner reads). It may import the catalogue, the core's settings and
types, :mod:`smallbms.schema` and :mod:`smallbms.durations`; nothing that runs a scenario.

:func:`load_scenario` and :func:`parse_scenario` read a scenario and refuse every malformed file
before anything runs, with a :class:`ScenarioError` naming the file, the key path of the offending
key (``bank.battery``, ``component[2].controlled_by``, ``event[1].action``, ``reading[0].cells_v``)
and what is wrong. Unknown keys are errors at every level (with "did you mean"), so a typo
never passes silently.

What this module checks, and what it leaves to the run:

- It checks types, ranges, cross references (battery and cell indices against the bank, readings
  only with a script source, components only with the twin) and the scenario's own consistency.
- It does *not* check that the bank is one the BMS accepts (series voltage, mixed strings…): an
  invalid bank is a legitimate scenario, the BMS raises E-B01 at run time. Likewise a ``set``
  event's value is only checked to be a number: a refused setting change is a legitimate event.

Conventions of the typed model:

- Times are seconds from the start of the scenario, as floats, in fields ending ``_s``.
- ``bank.soc_pct`` is ``None`` when the file gives none; the runner decides what that means
  (script source: SoC unknown; twin source: the runner's default).
- Without a ``[remote]`` table the remote terminal has its wire loop (``bridged = True``). A
  ``[remote]`` table, like a ``remote`` event, sets the whole terminal state: omitted fields mean
  ``bridged = false`` and terminals not connected.
- Readings (script source): each ``[[reading]]`` inherits every field it omits from the previous
  reading (cell voltages, temperatures, current and ``voltage_v``); the first reading must give
  cell voltages, and its temperatures default to ``bank.temperature_c``, its current to 0 and its
  ``voltage_v`` to ``None`` (derived by the runner from the cells). Cell voltages are expanded to
  one tuple per battery in chain order. The runner interpolates between readings.
- Profile ``classic`` (no app, SoC monitor, settings or wireless, SPEC 2) refuses a non-empty
  ``[settings]``, ``bank.soc_pct`` with a script source, and the actions ``mode``, ``set``,
  ``sync_soc``, ``set_soc``, ``reset_defaults``, ``reset_history``, ``firmware_update``,
  ``wireless`` and ``accept_bank``.
- Time windows (``on``, ``running``) are absolute times from the start, not repeated daily.
- Unnamed components are named ``<kind>-<n>`` (``dc_load-1``); names are unique.
- Events are sorted by time, stably (file order is kept for equal times). Match them by class::

      for ev in scenario.events:
          match ev:
              case CommsLost(battery=b): ...
              case SetSetting(setting=name, value=v): ...
"""

from __future__ import annotations

from smallbms.scenario import types as _types
from smallbms.scenario.parse import load_scenario, parse_scenario
from smallbms.scenario.types import *  # noqa: F403 - the typed scenario is the package's API

__all__ = ["load_scenario", "parse_scenario"]
__all__ += _types.__all__
