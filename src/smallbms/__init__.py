"""smallbms: an open software implementation of the smallBMS NG battery management system.

The package, from the bottom up (docs/architecture.md has the diagram): :mod:`.model` (the data
dictionary), :mod:`.core` (the rules), :mod:`.twin` and :mod:`.sources` (where readings come
from), :mod:`.scenario` and :mod:`.simulate` (scenario files and the runner), :mod:`.integrations`
(MQTT, CAN, Instant Readout, GPIO), :mod:`.service` (the running device) and :mod:`.cli`.
"""

__version__ = "0.1.0"
