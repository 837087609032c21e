"""The async client and the session-cap probe, on every kind of target."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from stewrd_lab import (
    AsyncClient,
    Client,
    Emulator,
    RateLimitedError,
    RetryPolicy,
    Rules,
    Session,
    SessionLimitReachedError,
    UsageError,
    probe_session_cap,
)
from stewrd_lab._cli import main


def test_async_client__creates_concurrently_up_to_the_cap() -> None:
    emulator = Emulator()

    async def run() -> list[Session | Exception]:
        async with AsyncClient(emulator=emulator, concurrency=3) as client:
            return list(await client.create_sessions(12))

    outcomes = asyncio.run(run())

    kinds = [type(o).__name__ for o in outcomes]
    assert kinds.count("Session") == 10
    assert kinds.count("SessionLimitReachedError") == 2
    assert emulator.active_sessions("scale") == 10


def test_async_client__shares_rows_and_retries_with_the_sync_client() -> None:
    emulator = Emulator(rules=Rules(rate_limit=2, session_cap=None))
    client = Client(emulator=emulator)

    async def run() -> None:
        async with AsyncClient.from_client(client, concurrency=1) as twin:
            await twin.create_sessions(2)
            with pytest.raises(RateLimitedError):
                await twin.create_session()

    client.retry = RetryPolicy(max_attempts=5)
    asyncio.run(run())

    history = client.history()
    assert list(history["attempt"]) == [1, 1, 1, 2, 3, 4, 5]
    assert list(history["status"]) == [201, 201] + [429] * 5


def test_async_client__repr_and_bad_concurrency() -> None:
    client = AsyncClient(emulator=Emulator(seed=3), concurrency=2)
    try:
        assert repr(client).startswith(
            "<AsyncClient embedded emulator key=sk-stw_emu_…"
        )
        assert repr(client).endswith(" concurrency=2>")
    finally:
        asyncio.run(client.aclose())

    with pytest.raises(UsageError) as caught:
        AsyncClient(concurrency=0)
    assert str(caught.value) == "concurrency must be a whole number >= 1; got 0."


EXPECTED_COLUMNS = [
    "target",
    "requests",
    "created",
    "refused_at_cap",
    "other_errors",
    "session_cap",
    "verdict",
]


def test_probe__embedded_finds_the_documented_cap() -> None:
    client = Client()

    report = probe_session_cap(client, attempts=12, concurrency=1)

    assert list(report.columns) == EXPECTED_COLUMNS
    assert report.iloc[0].to_dict() == {
        "target": "embedded emulator",
        "requests": 11,
        "created": 10,
        "refused_at_cap": 1,
        "other_errors": 0,
        "session_cap": 10,
        "verdict": "The cap was met after 10 new sessions (the documented cap is "
        "10; sessions already active count toward it).",
    }
    assert list(client.history()["status"]) == [201] * 10 + [429]


def test_probe__concurrent_requests_in_flight_at_the_cap_are_refused_too() -> None:
    emulator = Emulator(rules=Rules(session_cap=3))
    client = Client(emulator=emulator)

    report = probe_session_cap(client, attempts=12, concurrency=4)

    row = report.iloc[0]
    assert (row["created"], row["session_cap"]) == (3, 3)
    assert row["requests"] == row["created"] + row["refused_at_cap"]
    assert 1 <= row["refused_at_cap"] <= 4


def test_probe__not_reaching_the_cap_says_so() -> None:
    report = probe_session_cap(Client(), attempts=4)

    assert pd.isna(report["session_cap"].iloc[0])
    assert report["verdict"].iloc[0] == (
        "All 4 creates succeeded: the cap is above 4, or sessions expired during "
        "the probe."
    )
    assert report.dtypes.astype(str).to_dict() == {
        "target": "string",
        "requests": "int64",
        "created": "int64",
        "refused_at_cap": "int64",
        "other_errors": "int64",
        "session_cap": "Int64",
        "verdict": "string",
    }


def test_probe__stops_at_the_first_other_error() -> None:
    client = Client(api_key="not-a-key")

    report = probe_session_cap(client, attempts=12, concurrency=1)

    assert report.iloc[0][["requests", "created", "other_errors"]].tolist() == [1, 0, 1]
    assert report["verdict"].iloc[0] == (
        "The probe stopped after 0 new sessions because a create failed: 401 "
        "invalid_api_key: Invalid or missing API key. From the client's side: "
        "the key … does not start with sk-stw_."
    )


def test_probe__refuses_a_live_key_without_confirmation(
    live_project: tuple[str, str],
) -> None:
    base, key = live_project
    client = Client(key, base_url=base)

    with pytest.raises(UsageError) as caught:
        probe_session_cap(client, attempts=12)

    assert str(caught.value) == (
        "probe_session_cap would send up to 12 create requests to the live API "
        f"at {base} and leave up to 10 sessions active in the project for 30 "
        "minutes, and the API has no way to close them; pass confirm_live=True "
        "(stewrd-lab probe --confirm-live) to run it anyway."
    )
    assert len(client.history()) == 0
    client.close()


def test_probe__a_live_key_with_confirmation(live_project: tuple[str, str]) -> None:
    base, key = live_project
    with Client(key, base_url=base) as client:
        report = probe_session_cap(
            client, attempts=12, concurrency=4, confirm_live=True
        )

    assert report.iloc[0][["target", "created", "session_cap"]].tolist() == [
        base,
        10,
        10,
    ]
    assert client.history()["key"].unique().tolist() == ["sk-stw_…6789"]


def test_probe__works_inside_a_running_event_loop() -> None:
    # A notebook cell runs inside a loop; the probe must not need one of its own.
    async def cell() -> pd.DataFrame:
        return probe_session_cap(Client(), attempts=3)

    report = asyncio.run(cell())

    assert report["created"].iloc[0] == 3


def test_probe__bad_arguments() -> None:
    with pytest.raises(UsageError) as caught:
        probe_session_cap(Client(), attempts=0)
    assert str(caught.value) == "attempts must be a whole number >= 1; got 0."


def test_cli_probe__embedded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--attempts", "12", "--concurrency", "1"]) == 0

    assert capsys.readouterr().out == (
        "target: embedded emulator\n"
        "requests: 11\n"
        "created: 10\n"
        "refused_at_cap: 1\n"
        "other_errors: 0\n"
        "session_cap: 10\n"
        "verdict: The cap was met after 10 new sessions (the documented cap is "
        "10; sessions already active count toward it).\n"
    )


def test_cli_probe__live_key_needs_confirmation(
    live_project: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, key = live_project
    monkeypatch.setenv("STEWRD_API_KEY", key)

    assert main(["probe", "--base-url", base, "--attempts", "3"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "stewrd-lab: probe_session_cap would send up to 3 create requests to the "
        f"live API at {base} and leave up to 3 sessions active in the project for "
        "30 minutes, and the API has no way to close them; pass "
        "confirm_live=True (stewrd-lab probe --confirm-live) to run it anyway.\n",
    )

    assert main(["probe", "--base-url", base, "--attempts", "3", "--confirm-live"]) == 0
    assert "created: 3\n" in capsys.readouterr().out


def test_session_limit_reached__is_refused_not_retried_in_async() -> None:
    emulator = Emulator(rules=Rules(session_cap=0))

    async def run() -> None:
        async with AsyncClient(emulator=emulator) as client:
            with pytest.raises(SessionLimitReachedError):
                await client.create_session()

    asyncio.run(run())


def test_async_client__embedded_answers_one_at_a_time_so_waits_follow_in_turn() -> None:
    # The in-process transport never suspends, so "concurrent" creates reach
    # the emulator one after another and each retry wait moves its clock on.
    emulator = Emulator(rules=Rules(rate_limit=2, session_cap=None))
    client = Client(emulator=emulator, retry=RetryPolicy(max_attempts=2, jitter=0))

    async def run() -> None:
        async with AsyncClient.from_client(client, concurrency=4) as twin:
            await twin.create_sessions(2)
            await twin.create_sessions(4)

    asyncio.run(run())

    history = client.history()
    second = history[history["attempt"] == 2]
    assert (second["time"] - history["time"].iloc[0]).tolist() == [
        pd.Timedelta(seconds=n) for n in (1, 2, 3, 4)
    ]
