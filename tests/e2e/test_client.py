"""The stdlib CLI client against the real server."""

from __future__ import annotations

import pytest

from smallbms.service import client

from .conftest import Server


def test_client_login_status_and_settings(server: Server) -> None:
    with pytest.raises(client.ApiError) as e:
        client.login(server.url, "0000000" if server.pin != "0000000" else "1111111")
    assert e.value.status == 401 and "wrong PIN" in e.value.message
    with pytest.raises(client.ApiError) as e:
        client.login(server.url, server.pin)
    assert e.value.status == 429  # slowed down after the wrong PIN
    server.clock.advance(600)
    token = client.login(server.url, server.pin)
    st = client.get_status(server.url, token)
    assert "soc_pct" in st["status"]
    s = client.get_settings(server.url, token)
    assert "discharge_floor_pct" in s["values"]
    out = client.change_setting(server.url, token, "tail_current_pct", 5)
    assert out["values"]["tail_current_pct"] == 5
    with pytest.raises(client.ApiError) as e:
        client.change_setting(server.url, token, "tail_current_pct", 50)
    assert e.value.status == 422 and "tail_current_pct" in str(e.value)
    with pytest.raises(client.ApiError) as e:
        client.get_status("http://127.0.0.1:1", token)
    assert e.value.status == 0
