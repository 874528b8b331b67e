"""The capture format: parsing, writing, clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallbms.buses.capture import Advert, CaptureError, CaptureWriter, parse_line, parse_lines, read_capture


def test_a_line_round_trips() -> None:
    a = Advert(12.5, "C0:3B:12:34:56:78", 737, bytes.fromhex("1002e5a005"), -70)
    assert parse_line(a.line()) == a


def test_writer_counts_time_from_its_start() -> None:
    out = io.StringIO()
    w = CaptureWriter(out, start_s=100.0)
    w.write(101.25, "c0:3b:12:34:56:78", 737, b"\x10\x02")
    (adv,) = list(parse_lines(out.getvalue().splitlines()))
    assert adv.t == 1.25 and adv.address == "C0:3B:12:34:56:78" and adv.data == b"\x10\x02"


@pytest.mark.parametrize(("line", "message"), [
    ("{", "not JSON"),
    ("[1]", "must be a JSON object"),
    ('{"t": 1, "address": "A", "manufacturer_id": 737}', "missing 'data'"),
    ('{"t": -1, "address": "A", "manufacturer_id": 737, "data": ""}', "t must be"),
    ('{"t": 1, "address": "A", "manufacturer_id": 70000, "data": ""}', "manufacturer_id"),
    ('{"t": 1, "address": "A", "manufacturer_id": 737, "data": "zz"}', "data must be hex"),
    ('{"t": 1, "address": "A", "manufacturer_id": 737, "data": "", "x": 1}', "unknown key 'x'"),
    ('{"t": true, "address": "A", "manufacturer_id": 737, "data": ""}', "t must be"),
])
def test_bad_lines_are_clear_errors(line: str, message: str) -> None:
    with pytest.raises(CaptureError, match=message):
        list(parse_lines([line], "cap"))


def test_time_going_back_names_the_line() -> None:
    lines = ['{"t": 2, "address": "A", "manufacturer_id": 1, "data": ""}',
             "# a comment", "",
             '{"t": 1, "address": "A", "manufacturer_id": 1, "data": ""}']
    with pytest.raises(CaptureError, match="cap line 4: t 1 is before"):
        list(parse_lines(lines, "cap"))


def test_unreadable_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        read_capture(tmp_path / "missing.jsonl")
    bad = tmp_path / "bin.jsonl"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(CaptureError, match="not UTF-8"):
        read_capture(bad)
