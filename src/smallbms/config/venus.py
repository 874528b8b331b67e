"""The ``[venus]`` table of the ``smallbms run`` configuration.

```toml
[venus]
enabled = true
bus = "system"               # "system" (on the GX itself), "session", or a D-Bus address
                             # such as "tcp:host=192.168.1.20,port=78" (a GX on the network)
device_instance = 100        # the battery's instance on the GX (VRM shows it)
product_name = "smallbms"    # /ProductName
custom_name = ""             # /CustomName (the GX may rename it)
suffix = ""                  # appended to com.victronenergy.battery.smallbms
charge_limit = "continuous"  # or "recommended" (0.3C), as in [can]
```

The table lives with the other configuration tables (this package imports no integration and
no ``dbus-fast``); :mod:`smallbms.integrations.venus.config` re-exports it. See docs/venus-os.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator
from pydantic.functional_validators import PlainValidator

from smallbms.config.record import Record
from smallbms.schema import Choice, Range, describe, problem

#: The well-known name every battery service on a GX starts with, plus our product.
SERVICE_PREFIX: Final = "com.victronenergy.battery.smallbms"
DEFAULT_DEVICE_INSTANCE: Final = 100
BUS_KINDS: Final = ("system", "session")
#: How the charge current limit is chosen, in [can] and [venus] alike.
ChargeLimit = Literal["continuous", "recommended"]
CHARGE_LIMITS: Final[tuple[ChargeLimit, ...]] = ("continuous", "recommended")

_SUFFIX: Final = re.compile(r"[A-Za-z0-9_]{0,32}")
#: A D-Bus server address: ``transport:key=value,...`` (unix:path=..., tcp:host=...,port=...).
_ADDRESS: Final = re.compile(r"[a-z]+:[A-Za-z0-9_-]+=[^;]*(;[a-z]+:[A-Za-z0-9_-]+=[^;]*)*")


def _bus(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem(f"must be \"system\", \"session\" or a D-Bus address, got {describe(value)}")
    if value in BUS_KINDS or _ADDRESS.fullmatch(value):
        return value
    raise problem("must be \"system\", \"session\" or a D-Bus address such as "
                  f"\"tcp:host=192.168.1.20,port=78\", got {describe(value)}")


def _suffix(value: str) -> str:
    if not _SUFFIX.fullmatch(value):
        raise problem("must be up to 32 letters, digits or underscores (it ends a D-Bus name), "
                      f"got {describe(value)}")
    return value


def _name(value: str) -> str:
    if len(value) > 64 or any(ord(c) < 32 for c in value):
        raise problem(f"must be at most 64 printable characters, got {describe(value)}")
    return value


class VenusConfig(Record):
    """The ``[venus]`` table: where the battery service is published and what it calls itself."""

    table = "venus"
    enabled: bool = False
    bus: Annotated[str, PlainValidator(_bus)] = "system"
    device_instance: Annotated[int, AfterValidator(Range(0, 1023))] = DEFAULT_DEVICE_INSTANCE
    product_name: Annotated[str, AfterValidator(_name)] = "smallbms"
    custom_name: Annotated[str, AfterValidator(_name)] = ""
    suffix: Annotated[str, AfterValidator(_suffix)] = ""
    charge_limit: Annotated[ChargeLimit, PlainValidator(Choice(*CHARGE_LIMITS))] = "continuous"

    @property
    def service_name(self) -> str:
        """The bus name the service claims: ``com.victronenergy.battery.smallbms<suffix>``."""
        return SERVICE_PREFIX + self.suffix
