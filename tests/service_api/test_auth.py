"""Unit tests of the PIN, sessions and slowing (an in-memory secret store, a fake clock)."""

from __future__ import annotations

import pytest

from smallbms.service import auth as A
from smallbms.service.auth import Auth, AuthError, ensure_pin, wireless_refusal


class MemorySecrets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_secret(self, name: str) -> str | None:
        return self.values.get(name)

    def set_secret(self, name: str, value: str) -> None:
        self.values[name] = value


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup() -> tuple[Auth, str, Clock, MemorySecrets]:
    store = MemorySecrets()
    pin = ensure_pin(store)
    assert pin is not None
    clock = Clock()
    return Auth(store, clock=clock), pin, clock, store


def test_first_start_makes_a_six_digit_pin_stored_only_hashed() -> None:
    store = MemorySecrets()
    pin = ensure_pin(store)
    assert pin is not None and len(pin) == 6 and pin.isdigit()
    stored = store.values[A.PIN_SECRET_NAME]
    assert pin not in stored and stored.startswith("scrypt$")
    assert ensure_pin(store) is None  # shown once only
    assert store.values[A.PIN_SECRET_NAME] == stored


def test_pins_are_random_per_device() -> None:
    pins = {ensure_pin(MemorySecrets()) for _ in range(5)}
    assert len(pins) > 1


def test_hash_is_salted() -> None:
    assert A.hash_pin("123456") != A.hash_pin("123456")
    assert A.check_pin_hash("123456", A.hash_pin("123456"))
    assert not A.check_pin_hash("123457", A.hash_pin("123456"))
    assert not A.check_pin_hash("123456", "garbage")


def test_login_with_the_right_pin_gives_a_session(setup) -> None:
    auth, pin, _clock, _ = setup
    token = auth.login(pin, "c1")
    s = auth.session(token)
    assert s is not None and s.client_id == "c1" and s.csrf_token
    assert len(token) >= 43
    auth.logout(token)
    assert auth.session(token) is None


def test_sessions_expire(setup) -> None:
    auth, pin, clock, _ = setup
    token = auth.login(pin, "c1")
    clock.t += A.SESSION_TTL_S + 1
    assert auth.session(token) is None


def test_wrong_pins_are_slowed_exponentially_then_locked_out(setup) -> None:
    auth, pin, clock, _ = setup
    expected = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    for delay in expected:
        with pytest.raises(AuthError) as e:
            auth.login("000000" if pin != "000000" else "111111", "evil")
        assert e.value.status == 401 and e.value.retry_after_s == delay
        # even the right PIN is refused during the delay, without counting as a failure
        clock.t += delay - 0.5
        with pytest.raises(AuthError) as e2:
            auth.login(pin, "evil")
        assert e2.value.status == 429
        clock.t += 0.5
    with pytest.raises(AuthError) as e:
        auth.login("999999999", "evil")  # 10th failure: lockout
    assert e.value.retry_after_s == A.LOCKOUT_S
    clock.t += A.LOCKOUT_S - 1
    with pytest.raises(AuthError) as e:
        auth.login(pin, "evil")
    assert e.value.status == 429 and "locked out" in e.value.message
    # another client is not affected
    assert auth.login(pin, "friend")
    clock.t += 1
    assert auth.login(pin, "evil")  # success resets the count
    assert auth.retry_after_s("evil") == 0


def test_guessing_from_many_addresses_slows_every_client_down(setup) -> None:
    """Per-client slowing alone would give an attacker 10 fast tries per address."""
    auth, pin, clock, _ = setup
    wrong = "000000" if pin != "000000" else "111111"
    for k in range(A.DEVICE_SLOWDOWN_AFTER):  # one wrong PIN each from many addresses
        with pytest.raises(AuthError) as e:
            auth.login(wrong, f"10.0.{k // 250}.{k % 250}")
        assert e.value.retry_after_s == A.FIRST_DELAY_S  # only the guessing client waits
    assert auth.retry_after_s("owner") == 0
    with pytest.raises(AuthError) as e:  # one more: now everybody waits
        auth.login(wrong, "10.9.9.9")
    assert e.value.retry_after_s == A.FIRST_DELAY_S
    assert auth.retry_after_s("owner") == A.FIRST_DELAY_S
    with pytest.raises(AuthError) as e:
        auth.login(pin, "owner")
    assert e.value.status == 429 and "on this device" in e.value.message
    waits: list[float] = []
    for k in range(12):  # the device-wide wait doubles up to the cap, from new addresses too
        clock.t += auth.retry_after_s(f"new-{k}")
        with pytest.raises(AuthError) as e:
            auth.login(wrong, f"new-{k}")
        waits.append(e.value.retry_after_s or 0.0)
    assert waits[:4] == [2, 4, 8, 16] and max(waits) == A.MAX_DELAY_S
    # never a lockout: the owner gets in after the wait, and that ends the device-wide slowing
    clock.t += auth.retry_after_s("owner")
    assert auth.login(pin, "owner")
    assert auth.retry_after_s("somebody-else") == 0
    assert A.device_delay_after_failures(10_000) == A.MAX_DELAY_S


def test_delay_is_capped_at_five_minutes() -> None:
    assert A.delay_after_failures(0) == 0
    assert A.delay_after_failures(1) == 1
    assert max(A.delay_after_failures(n) for n in range(1, A.LOCKOUT_AFTER_FAILURES)) <= A.MAX_DELAY_S
    assert A.delay_after_failures(A.LOCKOUT_AFTER_FAILURES) == A.LOCKOUT_S


def test_change_pin(setup) -> None:
    auth, pin, clock, _ = setup
    keep = auth.login(pin, "c1")
    other = auth.login(pin, "c2")
    with pytest.raises(AuthError) as e:
        auth.change_pin(pin, "12ab56", "c1")
    assert e.value.status == 422
    with pytest.raises(AuthError) as e:
        auth.change_pin(pin, "12345", "c1")
    assert e.value.status == 422
    with pytest.raises(AuthError) as e:
        auth.change_pin("0" * 13, "123456789", "c1")
    assert e.value.status == 422  # not a PIN at all: a format error, not a wrong try
    assert auth.retry_after_s("c1") == 0
    wrong = "000000" if pin != "000000" else "111111"
    with pytest.raises(AuthError) as e:
        auth.change_pin(wrong, "123456789", "c1")
    assert e.value.status == 401 and "wrong PIN" in e.value.message  # counts as a failure
    clock.t += 1
    auth.change_pin(pin, "123456789012", "c1", keep_token=keep)
    assert auth.verify("123456789012") and not auth.verify(pin)
    assert auth.session(keep) is not None and auth.session(other) is None


def test_wireless_refusal_decision() -> None:
    assert wireless_refusal({}) is not None
    assert wireless_refusal({"powered": False, "wireless_available": False}) == A.NO_POWER_MESSAGE
    assert wireless_refusal({"powered": True, "wireless_available": False}) == A.WIRELESS_OFF_MESSAGE
    assert wireless_refusal({"powered": True, "wireless_available": True}) is None


def test_the_right_pin_during_the_slow_down_is_not_called_wrong(setup) -> None:
    """Issue 15.7: the right PIN sent 0.4 s before the wait ends got 'Wrong PIN ...; wait 0 s'."""
    auth, pin, clock, _ = setup
    wrong = "000000" if pin != "000000" else "111111"
    with pytest.raises(AuthError):
        auth.login(wrong, "c1")
    clock.t += 0.6
    with pytest.raises(AuthError) as e:
        auth.login(pin, "c1")
    assert e.value.status == 429
    assert e.value.message.startswith("PIN not checked")  # not "wrong PIN": it was not checked
    assert e.value.message.endswith("try again in 1 s")  # rounded up, never "0 s"


def test_wrong_pin_and_slow_down_messages_share_their_wording(setup) -> None:
    auth, pin, _clock, _ = setup
    wrong = "000000" if pin != "000000" else "111111"
    with pytest.raises(AuthError) as e401:
        auth.login(wrong, "c1")
    with pytest.raises(AuthError) as e429:
        auth.login(pin, "c1")
    assert (e401.value.status, e429.value.status) == (401, 429)
    assert e401.value.message == "wrong PIN; try again in 1 s"
    assert e429.value.message == "PIN not checked: too soon after a wrong PIN; try again in 1 s"
    assert A.wait_text(0.01) == "1 s" and A.wait_text(119.2) == "2 min"
    assert A.wait_text(A.LOCKOUT_S) == "15 min"


def test_a_pin_of_the_wrong_length_is_a_format_error_not_a_wrong_try(setup) -> None:
    auth, pin, _clock, _ = setup
    for typo in ["12", "1234567890123", "12 456", ""] * 10:
        with pytest.raises(AuthError) as e:
            auth.login(typo, "c1")
        assert e.value.status == 422 and "not counted" in e.value.message
    assert auth.retry_after_s("c1") == 0
    assert auth.login(pin, "c1")


def test_pin_reset_makes_a_new_pin_and_keeps_the_other_secrets(setup) -> None:
    auth, pin, _clock, store = setup
    store.set_secret("instant_readout_key", "00" * 16)
    new = A.reset_pin(store)
    assert len(new) == A.NEW_PIN_DIGITS and new.isdigit()
    assert auth.verify(new) and (new == pin or not auth.verify(pin))
    assert store.get_secret("instant_readout_key") == "00" * 16
    assert new not in (store.get_secret(A.PIN_SECRET_NAME) or "")
