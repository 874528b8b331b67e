"""The device PIN, login sessions and wireless access (SPEC 13).

- **PIN**: made at first start (a random 6-digit number from :mod:`secrets`), shown once by the
  caller and stored only as a salted scrypt hash in the secret store. There is no default PIN
  (the UK PSTI rules the manual declares forbid universal default passwords).
- **Sessions**: a correct PIN gives a random 32-byte token, kept in memory only with an expiry.
  Each session also has its own CSRF token for cookie-authenticated requests.
- **Slowing**: after each wrong PIN, the next attempt from the same client is refused for a
  delay that doubles each time (1 s, 2 s, 4 s … at most 5 min); after 10 consecutive wrong PINs
  the client is locked out for 15 min. Nothing sleeps: a refused attempt is answered at once
  with the time to wait. The clock is passed in, so tests drive a fake one.
- **Wireless access**: when the user has disabled it, the API refuses everything except during
  the 30 s after each power-up (the core decides when that is; see
  :func:`wireless_refusal`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

PIN_SECRET_NAME = "device_pin_hash"  # the secret-store key holding the PIN hash
NEW_PIN_DIGITS = 6  # (P) length of the PIN made at first start
PIN_MIN_DIGITS = 6  # (P) shortest PIN the user may choose
PIN_MAX_DIGITS = 12  # (P) longest PIN the user may choose
SESSION_TTL_S = 12 * 3600.0  # (P) a session lasts this long after login
FIRST_DELAY_S = 1.0  # (P) wait after the first wrong PIN; doubles with each further one
MAX_DELAY_S = 300.0  # (P) the longest wait between two attempts
LOCKOUT_AFTER_FAILURES = 10  # (P) consecutive wrong PINs that lock the client out
LOCKOUT_S = 15 * 60.0  # (P) how long a lockout lasts
MAX_TRACKED_CLIENTS = 10_000  # (P) bound on the failure table (idle entries are dropped first)
#: (P) wrong PINs from all clients together, since the last successful login, after which every
#: client is slowed down as well: one who guesses from many addresses gets no more tries than
#: one who guesses from one. It slows (doubling from FIRST_DELAY_S up to MAX_DELAY_S) and never
#: locks out, so the owner can always still log in.
DEVICE_SLOWDOWN_AFTER = 20

# scrypt cost: n = 2**14, r = 8 needs 16 MiB and ~50 ms per check; stored with each hash so it
# can be raised later without invalidating existing PINs.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16


class SecretStore(Protocol):
    """Where the PIN hash lives (implemented by :class:`smallbms.service.store.Store`)."""

    def get_secret(self, name: str) -> str | None: ...

    def set_secret(self, name: str, value: str) -> None: ...


class AuthError(Exception):
    """A refused login or PIN change.

    ``status`` is the HTTP status that fits (401 wrong PIN, 429 slowed down or locked out: the
    PIN was not checked, 422 a PIN that is not 6-12 digits: not counted as a wrong PIN);
    ``retry_after_s`` says when the client may try again, if relevant.
    """

    def __init__(self, message: str, status: int = 401, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


# --- hashing ----------------------------------------------------------------------------------


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The storable form of a PIN: ``scrypt$n$r$p$salt_hex$hash_hex``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_pin_hash(pin: str, stored: str) -> bool:
    """True when ``pin`` matches the stored hash (constant-time comparison)."""
    try:
        kind, n, r, p, salt_hex, hash_hex = stored.split("$")
        if kind != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` is not an acceptable PIN, or None when it is."""
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        return "the PIN must consist of digits only"
    if not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        return f"the PIN must have {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits, got {len(pin)}"
    return None


def wait_text(seconds: float) -> str:
    """A wait as people read it: whole seconds rounded up (never "0 s"), minutes from 2 min."""
    whole = max(1, math.ceil(seconds))
    return f"{whole} s" if whole < 120 else f"{math.ceil(whole / 60)} min"


def new_pin() -> str:
    """A uniformly random PIN of :data:`NEW_PIN_DIGITS` digits (leading zeros allowed)."""
    return f"{secrets.randbelow(10**NEW_PIN_DIGITS):0{NEW_PIN_DIGITS}d}"


def reset_pin(store: SecretStore) -> str:
    """Replace the device PIN by a new random one and return it (for ``smallbms pin reset``,
    which needs access to the machine; the history and settings are left alone)."""
    pin = new_pin()
    store.set_secret(PIN_SECRET_NAME, hash_pin(pin))
    return pin


def ensure_pin(store: SecretStore) -> str | None:
    """Make the device PIN if there is none yet.

    Returns the new PIN only when it was just created, so the caller can show it once; returns
    None when a PIN already exists (it cannot be recovered from its hash).
    """
    if store.get_secret(PIN_SECRET_NAME):
        return None
    pin = new_pin()
    store.set_secret(PIN_SECRET_NAME, hash_pin(pin))
    return pin


# --- wireless ---------------------------------------------------------------------------------

WIRELESS_OFF_MESSAGE = (
    "Wireless access is disabled on this BMS. It is available for 30 seconds after each "
    "power-up: power-cycle the BMS, log in within that time and enable wireless access again."
)
NO_POWER_MESSAGE = "The BMS has no power, so wireless access is off."
STARTING_MESSAGE = "The BMS is starting; try again in a moment."


def wireless_refusal(status: Mapping[str, Any] | None) -> str | None:
    """Why the app connection is refused now, from a snapshot's ``status``; None = allowed.

    The core decides ``wireless_available`` (enabled, or within 30 s of power-up); this only
    turns its answer into a message.
    """
    if not status:
        return STARTING_MESSAGE
    if not status.get("powered", False):
        return NO_POWER_MESSAGE
    if not status.get("wireless_available", False):
        return WIRELESS_OFF_MESSAGE
    return None


# --- sessions and slowing ---------------------------------------------------------------------


@dataclass
class Session:
    """One logged-in client."""

    token: str
    csrf_token: str
    client_id: str
    expires_at: float


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0


def device_delay_after_failures(count: int) -> float:
    """Seconds every client must wait after ``count`` wrong PINs device-wide (0 for few)."""
    over = count - DEVICE_SLOWDOWN_AFTER
    if over <= 0:
        return 0.0
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** min(over - 1, 30)))


def delay_after_failures(count: int) -> float:
    """Seconds a client must wait after ``count`` consecutive wrong PINs (0 for none)."""
    if count <= 0:
        return 0.0
    if count >= LOCKOUT_AFTER_FAILURES:
        return LOCKOUT_S
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (count - 1)))


class Auth:
    """PIN checks, login sessions and brute-force slowing; thread-safe."""

    def __init__(
        self, store: SecretStore, *, clock: Callable[[], float] = time.monotonic,
        session_ttl_s: float = SESSION_TTL_S,
    ) -> None:
        self.store = store
        self.clock = clock
        self.session_ttl_s = session_ttl_s
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, _Failures] = {}
        self._device = _Failures()  # every client's wrong PINs together
        self._lock = threading.Lock()

    # --- the PIN ------------------------------------------------------------------------------

    def verify(self, pin: str) -> bool:
        """True when ``pin`` is the device PIN. Does not count failures (see :meth:`login`)."""
        if pin_problem(pin) is not None:
            return False
        stored = self.store.get_secret(PIN_SECRET_NAME)
        return stored is not None and check_pin_hash(pin, stored)

    def change_pin(self, old: str, new: str, client_id: str = "local",
                   keep_token: str | None = None) -> None:
        """Replace the PIN. A wrong ``old`` PIN counts as a failed attempt for ``client_id``.

        Every session except ``keep_token`` ends, so other devices must log in with the new PIN.
        Raises :class:`AuthError` when refused.
        """
        problem = pin_problem(old)
        if problem is not None:
            raise AuthError(f"current PIN: {problem} (not counted as a wrong PIN)", status=422)
        self._check_not_blocked(client_id)
        if not self.verify(old):
            raise self._fail(client_id, "wrong PIN: the current PIN is not this one")
        problem = pin_problem(new)
        if problem is not None:
            raise AuthError(f"new PIN refused: {problem}", status=422)
        self.store.set_secret(PIN_SECRET_NAME, hash_pin(new))
        with self._lock:
            self._failures.pop(client_id, None)
            self._device = _Failures()
            self._sessions = {t: s for t, s in self._sessions.items() if t == keep_token}

    # --- sessions -----------------------------------------------------------------------------

    def retry_after_s(self, client_id: str) -> float:
        """Seconds until ``client_id`` may try a PIN again (0 = now)."""
        now = self.clock()
        with self._lock:
            f = self._failures.get(client_id)
            own = 0.0 if f is None else f.blocked_until - now
            return max(0.0, own, self._device.blocked_until - now)

    def _check_not_blocked(self, client_id: str) -> None:
        wait = self.retry_after_s(client_id)
        if wait > 0:
            with self._lock:
                f = self._failures.get(client_id)
                locked = f is not None and f.count >= LOCKOUT_AFTER_FAILURES
                own = f is not None and f.blocked_until > self.clock()
            # the PIN sent now is not checked at all, so the message must not call it wrong
            why = ("too many wrong PINs in a row: locked out" if locked
                   else "too soon after a wrong PIN" if own
                   else "many wrong PINs were entered on this device")
            raise AuthError(f"PIN not checked: {why}; try again in {wait_text(wait)}",
                            status=429, retry_after_s=wait)

    def _fail(self, client_id: str, message: str) -> AuthError:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_TRACKED_CLIENTS:
                self._failures = {c: f for c, f in self._failures.items() if f.blocked_until > now}
            f = self._failures.setdefault(client_id, _Failures())
            f.count += 1
            delay = delay_after_failures(f.count)
            f.blocked_until = now + delay
            count = f.count
            self._device.count += 1
            device_delay = device_delay_after_failures(self._device.count)
            self._device.blocked_until = now + device_delay
        delay = max(delay, device_delay)
        if count >= LOCKOUT_AFTER_FAILURES:
            message += f"; {count} wrong PINs in a row: locked out"
        message += f"; try again in {wait_text(delay)}"
        return AuthError(message, status=401, retry_after_s=delay)

    def login(self, pin: str, client_id: str) -> str:
        """Check ``pin`` and open a session; returns its token or raises :class:`AuthError`."""
        problem = pin_problem(pin)
        if problem is not None:  # a typing slip, not a guess: not counted as a wrong PIN
            raise AuthError(f"{problem} (not counted as a wrong PIN)", status=422)
        self._check_not_blocked(client_id)
        if not self.verify(pin):
            raise self._fail(client_id, "wrong PIN")
        now = self.clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._failures.pop(client_id, None)
            self._device = _Failures()
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires_at > now}
            self._sessions[token] = Session(token, secrets.token_urlsafe(32), client_id,
                                            now + self.session_ttl_s)
        return token

    def session(self, token: str | None) -> Session | None:
        """The live session for ``token``, or None (unknown or expired)."""
        if not token:
            return None
        with self._lock:
            s = self._sessions.get(token)
            if s is None:
                return None
            if s.expires_at <= self.clock():
                del self._sessions[token]
                return None
            return s

    def logout(self, token: str) -> None:
        """End the session (no error if it is already gone)."""
        with self._lock:
            self._sessions.pop(token, None)

    @property
    def session_count(self) -> int:
        """How many sessions are live now."""
        now = self.clock()
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.expires_at > now)
