"""Battery sources: where the core's readings come from (scripted points, the digital twin).

What it holds: a source builds one ``Reading`` per tick and obeys the core's decision (the twin
switches its chargers and loads with the outputs).

May import: :mod:`smallbms.core` (types and the quiet region), :mod:`smallbms.model`,
:mod:`smallbms.twin`, :mod:`smallbms.catalog`, :mod:`smallbms.durations`.
"""
