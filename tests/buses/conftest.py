"""The bus tests register the ``custom`` battery in the catalogue; take it out again after each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smallbms.catalog import CATALOGUE


@pytest.fixture(autouse=True)
def _no_custom_battery_left() -> Iterator[None]:
    before = CATALOGUE.get("custom")
    yield
    if before is None:
        CATALOGUE.pop("custom", None)
    else:
        CATALOGUE["custom"] = before
