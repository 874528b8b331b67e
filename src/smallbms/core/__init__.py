"""The pure core: the BMS firmware logic as a sans-IO state machine (SPEC 4-14).

What it holds: ``Core`` (``engine.py``) with its public boundary - ``step``, ``apply``,
``snapshot``, ``status``, ``next_deadline_s``, ``quiet_region`` and the persistent state - and the
rules behind it: latches and thresholds, the battery monitor, history, balancer, LEDs, settings.
It never reads a clock, does no I/O and starts no thread; the same inputs give the same
decisions. Every SPEC rule lives here and nowhere else.

May import: :mod:`smallbms.model` (the data dictionary), :mod:`smallbms.catalog`,
:mod:`smallbms.bank` and :mod:`smallbms.errors`; nothing else of the package.
"""
