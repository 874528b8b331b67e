"""Instant Readout: the BMS state broadcast in Victron's encrypted BLE advertisement format (SPEC 13).

One module per concern; every public name is re-exported here, so
``from smallbms.integrations.instant_readout import X`` works for all of them:

- :mod:`.record`: the 16-byte BMS record 0x0A (bit layout, codec) and how our status, codes
  and outputs fill it. Pure.
- :mod:`.crypto`: device keys, AES-128-CTR, the advertisement envelope around a record, and
  :class:`InstantReadout`, which numbers the records of one device (the nonce).
- :mod:`.keystore`: the device key in the secret store (made on first use).
- :mod:`.config`: the ``[instant_readout]`` table of the run configuration.
- :mod:`.broadcaster`: what puts an advertisement on the air, and :class:`LogBroadcaster`,
  which only keeps and logs it (no adapter needed).
- :mod:`.bluez`: :class:`BluezBroadcaster`, a BlueZ LE advertisement over D-Bus (optional
  ``dbus-fast`` or ``dbus-next``, imported only when used).
- :mod:`.service`: :class:`InstantReadoutService`, the thread inside ``smallbms run``.

The package reads the device through a small protocol (a snapshot subscription). May import:
:mod:`smallbms.model`, :mod:`smallbms.core.types`, :mod:`smallbms.config`,
:mod:`smallbms.worker` and :mod:`smallbms.integrations.ports`; never the service layer. See
docs/instant-readout.md.
"""

from smallbms.integrations.instant_readout.bluez import BluezBroadcaster
from smallbms.integrations.instant_readout.broadcaster import Broadcaster, LogBroadcaster
from smallbms.integrations.instant_readout.config import INTERVAL_RANGE_S, InstantReadoutConfig
from smallbms.integrations.instant_readout.crypto import (
    ADVERT_PREFIX,
    COMPANY_ID,
    HEADER_BYTES,
    KEY_BYTES,
    NONCE_MODULUS,
    PRODUCT_ID,
    InstantReadout,
    OpenedAdvert,
    advert_hex_for_sample,
    key_for_seed,
    new_key,
    open_advert,
    parse_key,
    seal,
)
from smallbms.integrations.instant_readout.keystore import (
    KEY_SECRET_NAME,
    SecretStore,
    ensure_key,
    regenerate_key,
)
from smallbms.integrations.instant_readout.record import (
    ALARM_SLOTS,
    CODE_SLOTS,
    ERROR_NUMBERS,
    IO_ALLOWED_TO_CHARGE,
    IO_ALLOWED_TO_DISCHARGE,
    IO_EXTERNAL_RELAY,
    IO_NA,
    IO_OFF,
    IO_ON,
    KIND_LEVELS,
    LEVEL_ALARM,
    LEVEL_NA,
    LEVEL_OK,
    LEVEL_WARNING,
    NA_CONSUMED,
    NA_CURRENT,
    NA_SOC,
    NA_TEMPERATURE,
    NA_TIME_TO_GO,
    NA_VOLTAGE,
    RECORD_BYTES,
    RECORD_LAYOUT,
    RECORD_TYPE_BMS,
    SLOT_BMS_CABLE,
    SLOT_CONTACTOR,
    SLOT_HIGH_CURRENT,
    SLOT_HIGH_INTERNAL_TEMPERATURE,
    SLOT_HIGH_TEMPERATURE,
    SLOT_LOAD_DISCONNECT,
    SLOT_LOW_CELL_VOLTAGE,
    SLOT_LOW_SOC,
    SUPERVISED_SLOTS,
    TEMPERATURE_OFFSET_C,
    BmsValues,
    alarm_flags,
    decode_bms_record,
    encode_bms_record,
    error_code,
    io_status,
    values_from_status,
)
from smallbms.integrations.instant_readout.service import InstantReadoutService

__all__ = [
    "ADVERT_PREFIX", "ALARM_SLOTS", "CODE_SLOTS", "COMPANY_ID", "ERROR_NUMBERS", "HEADER_BYTES",
    "INTERVAL_RANGE_S", "IO_ALLOWED_TO_CHARGE", "IO_ALLOWED_TO_DISCHARGE", "IO_EXTERNAL_RELAY",
    "IO_NA", "IO_OFF", "IO_ON", "KEY_BYTES", "KEY_SECRET_NAME", "KIND_LEVELS", "LEVEL_ALARM", "LEVEL_NA",
    "LEVEL_OK", "LEVEL_WARNING", "NA_CONSUMED", "NA_CURRENT", "NA_SOC", "NA_TEMPERATURE",
    "NA_TIME_TO_GO", "NA_VOLTAGE", "NONCE_MODULUS", "PRODUCT_ID", "RECORD_BYTES", "RECORD_LAYOUT",
    "RECORD_TYPE_BMS", "SLOT_BMS_CABLE", "SLOT_CONTACTOR", "SLOT_HIGH_CURRENT",
    "SLOT_HIGH_INTERNAL_TEMPERATURE", "SLOT_HIGH_TEMPERATURE", "SLOT_LOAD_DISCONNECT",
    "SLOT_LOW_CELL_VOLTAGE", "SLOT_LOW_SOC", "SUPERVISED_SLOTS", "TEMPERATURE_OFFSET_C",
    "BluezBroadcaster", "BmsValues", "Broadcaster", "InstantReadout", "InstantReadoutConfig",
    "InstantReadoutService", "LogBroadcaster", "OpenedAdvert", "SecretStore",
    "advert_hex_for_sample", "alarm_flags", "decode_bms_record",
    "encode_bms_record", "ensure_key", "error_code", "io_status", "key_for_seed", "new_key",
    "open_advert", "parse_key", "regenerate_key", "seal", "values_from_status",
]
