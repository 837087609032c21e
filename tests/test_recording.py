from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from stewrd_lab import COLUMNS, Client, Emulator, Exchange, Recorder
from stewrd_lab._recording import frame_from_records


def exchange(**changes: object) -> Exchange:
    base = Exchange(
        time=datetime(2026, 1, 1, tzinfo=UTC),
        target="embedded emulator",
        method="POST",
        path="/v1/sessions",
        attempt=1,
        scheme="Bearer",
        key="sk-stw_…abcd",
        status=201,
        code=None,
        message="",
        session_id="s-1",
        elapsed_ms=0.5,
        error="",
    )
    return base._replace(**changes)


def test_columns__follow_the_exchange_fields() -> None:
    assert list(COLUMNS) == list(Exchange._fields)


def test_frame__keeps_missing_status_as_na() -> None:
    frame = frame_from_records(
        [exchange(), exchange(status=None, error="ConnectError")]
    )

    assert frame["status"].tolist() == [201, pd.NA]
    assert frame["error"].tolist() == ["", "ConnectError"]


def test_recorder__is_shared_between_clients() -> None:
    recorder = Recorder()
    emulator = Emulator()
    Client(emulator=emulator, recorder=recorder).create_session()
    Client(emulator=emulator, recorder=recorder).create_session()

    assert len(recorder) == 2
    assert recorder.frame()["status"].tolist() == [201, 201]
    assert repr(recorder) == "<Recorder 2 exchanges>"


def test_recorder__clear_empties_it() -> None:
    recorder = Recorder()
    recorder.add(exchange())
    recorder.clear()

    assert list(recorder) == []
    assert recorder.frame().empty
