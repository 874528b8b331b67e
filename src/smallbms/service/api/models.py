"""The API's request and response models, and the error responses each operation documents.

Response models list the documented fields and pass any newer ones through (``extra="allow"``),
so a field added to the snapshot reaches clients before its model names it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model

from smallbms.core.settings import SettingSpec
from smallbms.model.fields import BANK_FIELDS, BATTERY_FIELDS, FIELDS, HISTORY_FIELDS, STATUS_FIELDS
from smallbms.model.fields import Field as DictField

DEFAULT_FIRMWARE_UPDATE_S = 20.0  # (P) simulated update duration, device seconds


class _Open(BaseModel):
    """Response models list the documented fields and pass through any newer ones."""

    model_config = ConfigDict(extra="allow")


class Outputs(_Open):
    load_disconnect: Literal["high", "floating"]
    charge_disconnect: Literal["high", "floating"]
    pre_alarm: Literal["high", "floating"]


class LedStates(_Open):
    error: Literal["off", "blink", "on"]
    bluetooth: Literal["off", "blink", "on"]
    load_on: Literal["off", "blink", "on"]
    temp_ovp: Literal["off", "blink", "on"]


def _values_model(name: str, fields: tuple[DictField, ...], base: type[BaseModel],
                  doc: str, nullable: bool = True, optional: bool = False,
                  first: dict[str, Any] | None = None, **extra: Any) -> type[BaseModel]:
    """A response model whose value fields come from the data dictionary: one per field, typed by
    its kind, described by its label and unit; ``extra`` adds the structural fields."""
    py: dict[str, type] = {"float": float, "int": int, "text": str, "bool": bool}
    defs: dict[str, Any] = dict(first or {})
    for f in fields:
        t: Any = py[f.kind] | None if nullable else py[f.kind]
        desc = f.label + (f", {f.unit}" if f.unit else "") + (f". {f.help}" if f.help else "")
        defs[f.key] = (t, Field(None, description=desc) if optional else Field(description=desc))
    defs.update(extra)
    model: type[BaseModel] = create_model(name, __base__=base, __doc__=doc, **defs)
    return model


_STATUS_NUMBERS = tuple(f for f in STATUS_FIELDS if f.kind in ("float", "int"))

StatusValues = _values_model(
    "StatusValues", _STATUS_NUMBERS, _Open, "The device's status (units in every name).",
    first={"powered": (bool, ...), "mode": (Literal["on", "off"], ...)},
    balancer=(str | None, ...),
    allowed_to_charge=(bool, ...),
    allowed_to_discharge=(Literal["yes", "no", "pre-alarm"], ...),
    charge_reasons=(list[str], ...),
    discharge_reasons=(list[str], ...),
    outputs=(Outputs, ...),
    leds=(LedStates, ...),
    wireless_available=(bool, ...),
    wireless_enabled=(bool, ...),
    firmware_update=(Literal["idle", "updating", "failed"], ...),
)


class ActiveCode(_Open):
    code: str
    name: str
    kind: Literal["warning", "alarm", "error"]
    effect: str
    advice: str


class StatusResponse(_Open):
    t_s: float = Field(description="device time, s since start")
    wall_s: float = Field(description="Unix time of this snapshot, s")
    profile: Literal["ng", "classic"]
    status: StatusValues  # type: ignore[valid-type]
    active_codes: list[ActiveCode]


BankInfo = _values_model("BankInfo", BANK_FIELDS, _Open, "The commissioned bank.",
                         nullable=False)

BatteryInfo = _values_model(
    "BatteryInfo", tuple(f for f in BATTERY_FIELDS if f.name != "cell_voltages_v"), _Open,
    "One battery slot of the bus; only index and reporting while it does not report.",
    optional=True, first={"index": (int, ...), "reporting": (bool, ...)},
    cell_voltages_v=(list[float] | None, Field(None, description="Cell voltages, V")),
)


BankResponse = _values_model(
    "BankResponse",
    tuple(FIELDS[f"status.{n}"] for n in (
        "min_cell_voltage_v", "max_cell_voltage_v", "min_temperature_c", "max_temperature_c")),
    _Open, "The bank, its batteries and the status values of the battery page.",
    first={
        "bank": (BankInfo | None,
                 Field(description="the commissioned bank; null before the first one")),
        "balancer": (str | None, ...),
    },
    batteries=(list[BatteryInfo], ...),  # type: ignore[valid-type]
)


class LastError(_Open):
    code: str
    t: float = Field(description="device time of the error, s")


HistoryValues = _values_model(
    "HistoryValues", HISTORY_FIELDS, _Open, "The history counters (SPEC 11).",
    last_errors=(list[LastError], ...),
)


_SPEC_HINTS = typing.get_type_hints(SettingSpec)
_SPEC_FIELDS: dict[str, Any] = {f.name: (_SPEC_HINTS[f.name], ...)
                                for f in dataclasses.fields(SettingSpec)}
#: One setting's definition, field for field the core's ``SettingSpec``.
SettingSpecModel: type[BaseModel] = create_model(
    "SettingSpecModel", __base__=_Open, __doc__="One setting's definition.", **_SPEC_FIELDS)


class SettingsResponse(_Open):
    values: dict[str, float]
    specs: list[SettingSpecModel]  # type: ignore[valid-type]


class SettingProblem(BaseModel):
    setting: str
    message: str


class FieldProblem(BaseModel):
    """One way a request does not fit the schema: where (``body.value``, ``query.limit``...)
    and what is wrong."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    detail: str


class ValidationRefused(BaseModel):
    """A request that does not fit the schema (422): one entry per problem."""

    detail: list[FieldProblem]


class RequestRefused(BaseModel):
    """A 422 that is either a schema problem (a list, as ValidationRefused) or a refusal of
    well-formed values (one sentence)."""

    detail: str | list[FieldProblem]


class SettingsRefused(BaseModel):
    """A refused settings change (422): the setting at fault, or the request's schema problems."""

    detail: list[SettingProblem | FieldProblem]


class LoginRequest(BaseModel):
    pin: str = Field(description="the device PIN, 6 to 12 digits", max_length=64)


class LoginResponse(BaseModel):
    token: str = Field(description="bearer token for the Authorization header")
    csrf_token: str = Field(description="X-CSRF-Token value for cookie-authenticated changes")
    expires_in_s: float


class OkResponse(BaseModel):
    ok: bool = True
    message: str = ""


class InstantReadoutKey(BaseModel):
    """The per-device Instant Readout key (32 hex characters) decoders need."""

    key_hex: str
    broadcasting: bool


class ModeRequest(BaseModel):
    value: Literal["on", "off"]


class WirelessRequest(BaseModel):
    value: Literal["on", "off"]


# Body numbers are strict (a number, not `true` or "55"): lax parsing took `true` for 1 %.
class SetSocRequest(BaseModel):
    value_pct: float = Field(ge=0.0, le=100.0, strict=True,
                             validation_alias=AliasChoices("value_pct", "value"),
                             description="the new state of charge, % (also accepted as `value`)")


class FirmwareUpdateRequest(BaseModel):
    result: Literal["success", "fail"] = "success"
    duration_s: float = Field(default=DEFAULT_FIRMWARE_UPDATE_S, ge=0.0, le=3600.0, strict=True,
                              description="how long the simulated update takes, device seconds")


class ChangePinRequest(BaseModel):
    old: str = Field(max_length=64)
    new: str = Field(max_length=64)


class CodeLogEntry(_Open):
    wall_s: float | None = None
    t_s: float | None = None
    code: str
    state: Literal["active", "cleared"]
    name: str | None = None
    kind: str | None = None


class SeriesResponse(BaseModel):
    since_wall_s: float
    until_wall_s: float
    fields: list[str]
    points: list[dict[str, float | None]] = Field(
        description="oldest first; each point has wall_s (Unix time, s), n (samples merged), "
                    "and for each field f: f (mean), f_min and f_max")


class FieldInfo(_Open):
    """One value of the field table (:mod:`smallbms.model.fields`)."""

    id: str = Field(description="group.name, e.g. status.soc_pct")
    group: str
    name: str
    key: str = Field(description="the value's key in the API's JSON")
    label: str
    unit: str | None
    precision: int | None = Field(description="decimals shown")
    kind: str
    help: str


class FieldTable(_Open):
    fields: list[FieldInfo]
    reasons: dict[str, str] = Field(description="words for each charge/discharge reason")
    outputs: dict[str, str] = Field(description="words for each output")
    balancer: dict[str, str] = Field(description="words for each balancer state")
    leds: dict[str, str] = Field(description="words for each LED state")


# --- documented error responses -----------------------------------------------------------

#: Every API operation may answer these (login included: a wrong PIN is a 401).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no session, or a wrong PIN at login"},
    403: {"model": ErrorResponse,
          "description": "wireless access is disabled or the BMS has no power (SPEC 13), or a "
                         "cookie-authenticated change lacks its CSRF token"},
    503: {"model": ErrorResponse, "description": "the BMS is starting (no status yet)"},
}
#: Operations that take parameters or a body.
INVALID_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationRefused,
          "description": "the request does not fit the schema; each problem names its field"},
}
#: Operations that take a JSON body: one that cannot be read at all is a 400.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **INVALID_RESPONSES,
    400: {"model": ErrorResponse, "description": "the body cannot be parsed (not UTF-8 JSON)"},
}
#: Operations that send a command to the device.
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "the device refused the command (its reason)"},
    504: {"model": ErrorResponse, "description": "the device did not answer in time"},
}
