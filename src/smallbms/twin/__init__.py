"""The digital twin (SPEC 16): a vectorised physical model of the batteries, chargers and loads.

What it holds: the LiFePO4 cell model (``cell.py``, ``params.py``), batteries and banks
(``bank.py``), components (``components.py``, ``profiles.py``, ``solar.py``), cheap copies for
the twin source's trial skips (``snapshots.py``) and the wiring facts of the manual's Appendix A.

May import: :mod:`smallbms.catalog`, :mod:`smallbms.core.types` (the reading it produces),
:mod:`smallbms.durations`; not the scenario format and not the runners.
"""
