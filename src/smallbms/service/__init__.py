"""The running device (``smallbms run``): the real-time tick, storage, PIN, HTTP API and pages.

What it holds: ``device.py`` (the tick thread that owns the core and the source and publishes a
snapshot every tick), ``store.py`` (SQLite), ``auth.py`` (PIN and sessions), ``api/`` (the HTTP
routers), ``web/`` (the pages), ``config.py`` (the run configuration) and ``main.py`` (start-up and
shutdown). Web threads never read the core; they read the latest snapshot.

May import: everything below it - :mod:`smallbms.core`, :mod:`smallbms.model`,
:mod:`smallbms.sources`, :mod:`smallbms.integrations`, :mod:`smallbms.scenario` - but nothing
imports the service except the command line.
"""
