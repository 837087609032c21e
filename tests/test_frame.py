"""The history frame: fixed columns, fixed dtypes, whole values."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pandas as pd

import stewrd_lab
from stewrd_lab._recording import frame_from_records

ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(name): str(dtype) for name, dtype in frame.dtypes.items()}


def _plain_frame(records: list[stewrd_lab.Exchange]) -> pd.DataFrame:
    """The obvious way to build the frame, as an oracle for the fast one."""
    frame = pd.DataFrame(
        [record._asdict() for record in records], columns=list(stewrd_lab.COLUMNS)
    ).astype(object)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.astype(stewrd_lab.DTYPES)


def test_empty_history_has_every_column_and_dtype() -> None:
    frame = stewrd_lab.Client().history()

    assert list(frame.columns) == list(stewrd_lab.COLUMNS)
    assert _dtypes(frame) == stewrd_lab.DTYPES
    assert len(frame) == 0


def test_history_of_created_refused_and_unsent_requests() -> None:
    client = stewrd_lab.Client()
    key = client.emulator.key_for("scale") if client.emulator else ""
    client.create_session()
    with contextlib.suppress(stewrd_lab.StewrdError):
        client.create_session(authorization=None)
    with contextlib.suppress(stewrd_lab.StewrdError):
        client.create_session(
            authorization="Bearer cl\N{LATIN SMALL LETTER E WITH ACUTE}"
        )

    history = client.history()
    session_id = history["session_id"].iloc[0]
    expected = pd.DataFrame(
        {
            "time": [stewrd_lab.EMULATOR_EPOCH] * 3,
            "target": ["embedded emulator"] * 3,
            "method": ["POST"] * 3,
            "path": ["/v1/sessions"] * 3,
            "attempt": [1, 1, 1],
            "scheme": ["Bearer", "", "Bearer"],
            "key": [stewrd_lab.redact_key(key), "", ELLIPSIS],
            "status": [201, 401, None],
            "code": [None, "invalid_api_key", None],
            "message": [
                "",
                "Invalid or missing API key.",
                "The Authorization header holds characters HTTP cannot carry "
                "(only printable ASCII can be sent); copy the key again from the "
                "Stewrd dashboard.",
            ],
            "session_id": [session_id, None, None],
            "elapsed_ms": history["elapsed_ms"].tolist(),
            "error": ["", "InvalidAPIKeyError", "UsageError"],
            "conforms": [True, True, None],
            "violation": ["", "", "not checked: no HTTP answer"],
        }
    ).astype(stewrd_lab.DTYPES)

    pd.testing.assert_frame_equal(history, expected)
    assert len(session_id) == 36
    assert (history["elapsed_ms"] > 0).all()


def test_fast_frame_matches_the_plain_pandas_build() -> None:
    epoch = stewrd_lab.EMULATOR_EPOCH
    records = [
        stewrd_lab.Exchange(
            epoch, "embedded emulator", "POST", "/v1/sessions", 1, "Bearer",
            "sk-stw_emu_" + ELLIPSIS + "0001", 201, None, "",
            "3f0c2a4e-8d1b-4c6f-9a7e-2b5d8c1e4f60", 0.25, "", True, "",
        ),
        stewrd_lab.Exchange(
            epoch + timedelta(seconds=1), "http://127.0.0.1:8000", "POST",
            "/v1/sessions", 2, "", "", None, None, "Could not reach it.", None,
            1.5, "ConnectError", None, "not checked: no HTTP answer",
        ),
        stewrd_lab.Exchange(
            epoch + timedelta(minutes=31), "https://api.stewrd.dev", "POST",
            "/v1/sessions", 1, "Bearer", "sk-stw_" + ELLIPSIS + "abcd", 500,
            None, "500 Internal Server Error, not the error envelope", None,
            80.0, "UnexpectedResponseError", False,
            "POST /v1/sessions answered 500, a status the seed OpenAPI document "
            "does not list for it (it lists 201, 401, 403, 429).",
        ),
    ]  # fmt: skip

    for rows in (records, records[1:2], records[:1], []):
        frame = frame_from_records(rows)
        pd.testing.assert_frame_equal(frame, _plain_frame(rows))
        assert _dtypes(frame) == stewrd_lab.DTYPES

    # Any iterable will do, not only a list.
    pd.testing.assert_frame_equal(
        frame_from_records(iter(records)), _plain_frame(records)
    )
