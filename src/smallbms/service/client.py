"""A small HTTP client for the device API, for the command line (stdlib :mod:`urllib` only).

    token = login("http://127.0.0.1:8080", "123456")
    status = get_status("http://127.0.0.1:8080", token)
    change_setting("http://127.0.0.1:8080", token, "discharge_floor_pct", 15)

Bearer-token requests need no CSRF token. Every failure raises :class:`ApiError` with the
server's message (or the network error) and the HTTP status (0 when there was no answer).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

DEFAULT_TIMEOUT_S = 15.0


class ApiError(Exception):
    """A refused or failed request: ``status`` is the HTTP status (0 = no answer)."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.detail = detail


def _message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                where = d.get("setting") or d.get("field")
                msg = str(d.get("message", d))
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(str(d))
        return "; ".join(parts)
    return json.dumps(detail)


def request(method: str, url: str, path: str, token: str | None = None, body: Any = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """Send one JSON request to ``url`` + ``path`` and return the decoded JSON answer."""
    if not url.startswith(("http://", "https://")):
        raise ApiError(0, f"the URL must start with http:// or https://, got {url!r}")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read() or b"null").get("detail")
        except (ValueError, AttributeError):
            detail = e.reason
        raise ApiError(e.code, _message(detail), detail) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ApiError(0, f"cannot reach {url}: {reason}") from None
    return json.loads(raw) if raw else None


def login(url: str, pin: str) -> str:
    """Log in with the device PIN; returns the bearer token."""
    out = request("POST", url, "/api/login", body={"pin": pin})
    token: str = out["token"]
    return token


def logout(url: str, token: str) -> None:
    """End the session."""
    request("POST", url, "/api/logout", token)


def get_status(url: str, token: str) -> dict[str, Any]:
    """The status page: ``{"status": {...}, "active_codes": [...], ...}``."""
    out: dict[str, Any] = request("GET", url, "/api/status", token)
    return out


def get_settings(url: str, token: str) -> dict[str, Any]:
    """Settings: ``{"values": {name: value}, "specs": [...]}``."""
    out: dict[str, Any] = request("GET", url, "/api/settings", token)
    return out


def change_settings(url: str, token: str, values: dict[str, float]) -> dict[str, Any]:
    """Change several settings at once (all or nothing); returns the new settings."""
    out: dict[str, Any] = request("PUT", url, "/api/settings", token, body=values)
    return out


def change_setting(url: str, token: str, name: str, value: float) -> dict[str, Any]:
    """Change one setting; raises :class:`ApiError` (status 422) with the reason if refused."""
    return change_settings(url, token, {name: value})


def action(url: str, token: str, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run an action (``sync_soc``, ``set_soc``, ``mode``, ``wireless``, …)."""
    out: dict[str, Any] = request("POST", url, f"/api/actions/{name}", token, body=body)
    return out
