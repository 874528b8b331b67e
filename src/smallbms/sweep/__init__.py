"""``smallbms sweep``: one base scenario run over every combination of some axes (battery,
solar power, loads, place, season, settings), BMS in the loop, boiled down to one row of
figures per variant, with a page of plots and a plain recommendation (docs/sweeps.md).

:mod:`~smallbms.sweep.spec` reads the sweep file, :mod:`~smallbms.sweep.metrics` runs one
variant, :mod:`~smallbms.sweep.run` runs them all (here or on Dask) and writes the CSV and
Parquet files, :mod:`~smallbms.sweep.report` the HTML page. :mod:`~smallbms.sweep.fleet` runs N
systems of one design, each its own run with its own seed and BMS core.

May import: the runners (:mod:`smallbms.simulate`), the scenario format, the twin, the core's
types, :mod:`smallbms.durations`; Dask, pyarrow and matplotlib only inside the functions that
need them, so ``smallbms --help`` stays quick. Nothing imports the sweep but the CLI.
"""
