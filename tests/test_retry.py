"""Retries: only rate_limited, every attempt a row, waits within a budget."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from conftest import live_format_key
from stewrd_lab import (
    Client,
    Emulator,
    InvalidAPIKeyError,
    PlanRestrictedError,
    RateLimitedError,
    RetryPolicy,
    Rules,
    SessionLimitReachedError,
    UsageError,
)
from stewrd_lab._retry import retry_after_seconds

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rate_limited_emulator(**rules: object) -> Emulator:
    return Emulator(rules=Rules(rate_limit=2, session_cap=None, **rules))


def test_retry_after__seconds_and_http_dates() -> None:
    assert retry_after_seconds("7", T0) == 7.0
    assert retry_after_seconds(" 0 ", T0) == 0.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:01:30 GMT", T0) == 90.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:00:00 GMT", T0) == 0.0
    assert retry_after_seconds("soon", T0) is None
    assert retry_after_seconds("", T0) is None
    assert retry_after_seconds(None, T0) is None


def test_rate_limited__embedded_waits_advance_the_clock_and_each_attempt_is_a_row() -> (
    None
):
    emulator = _rate_limited_emulator()
    client = Client(emulator=emulator, retry=RetryPolicy(max_attempts=5))
    client.create_session()
    client.create_session()

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    history = client.history()
    assert list(history["attempt"]) == [1, 1, 1, 2, 3, 4, 5]
    assert list(history["status"]) == [201, 201] + [429] * 5
    # Backoff 1, 2, 4, 8 s plus up to 1 s of jitter each, on the emulator's clock.
    waits = history["time"].diff().dt.total_seconds().iloc[3:].tolist()
    assert [int(w) for w in waits] == [1, 2, 4, 8]
    assert emulator.clock.now() == history["time"].iloc[-1]
    spent = (history["time"].iloc[-1] - history["time"].iloc[2]).total_seconds()
    assert str(caught.value) == (
        "429 rate_limited: Too many requests. Limit: 60/minute. Wait and retry: "
        "the limit is 60 requests a minute. stewrd-lab sent the request 5 times "
        f"over {spent:.1f} s and stopped: 5 attempts are the most its retry "
        "policy allows."
    )


def test_rate_limited__embedded_retries_are_repeatable() -> None:
    def run() -> list[object]:
        client = Client(emulator=_rate_limited_emulator())
        for _ in range(3):
            with contextlib.suppress(RateLimitedError):
                client.create_session()
        return client.history()["time"].tolist()

    assert run() == run()


def test_rate_limited__succeeds_once_the_window_passes() -> None:
    emulator = _rate_limited_emulator(rate_window=timedelta(seconds=5))
    client = Client(emulator=emulator, retry=RetryPolicy(jitter=0))
    client.create_session()
    client.create_session()

    session = client.create_session()

    history = client.history()
    assert list(history["attempt"]) == [1, 1, 1, 2, 3, 4]
    assert list(history["status"]) == [201, 201, 429, 429, 429, 201]
    assert history["session_id"].iloc[-1] == session.id


def test_rate_limited__retry_after_longer_than_the_budget_stops_at_once() -> None:
    client = Client(
        emulator=_rate_limited_emulator(retry_after=True),
        retry=RetryPolicy(budget=30),
    )
    client.create_session()
    client.create_session()

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "429 rate_limited: Too many requests. Limit: 60/minute. Wait and retry: "
        "the limit is 60 requests a minute. stewrd-lab sent the request once and "
        "stopped: the server asked to wait 60 s (Retry-After), longer than what "
        "is left of the 30 s retry budget."
    )
    assert list(client.history()["attempt"]) == [1, 1, 1]


def test_rate_limited__retry_after_is_honoured_within_the_budget() -> None:
    client = Client(
        emulator=_rate_limited_emulator(retry_after=True),
        retry=RetryPolicy(budget=120),
    )
    client.create_session()
    client.create_session()

    client.create_session()

    history = client.history()
    assert list(history["status"]) == [201, 201, 429, 201]
    assert (history["time"].iloc[3] - history["time"].iloc[2]) == timedelta(seconds=60)


def test_rate_limited__budget_bounds_the_backoff() -> None:
    client = Client(
        emulator=_rate_limited_emulator(), retry=RetryPolicy(budget=5, jitter=0)
    )
    client.create_session()
    client.create_session()

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    # Waits of 1 and 2 s fit in 5 s; the next, 4 s, would end at 7 s.
    assert list(client.history()["attempt"]) == [1, 1, 1, 2, 3]
    assert str(caught.value).endswith(
        "stewrd-lab sent the request 3 times over 3.0 s and stopped: the next "
        "wait (4.0 s) would go past the 5 s retry budget."
    )


def test_retry_off__rate_limited_is_raised_as_the_api_said() -> None:
    client = Client(emulator=_rate_limited_emulator(), retry=False)
    client.create_session()
    client.create_session()

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "429 rate_limited: Too many requests. Limit: 60/minute. Wait and retry: "
        "the limit is 60 requests a minute."
    )
    assert len(client.history()) == 3


def test_never_retried__session_limit_plan_and_key() -> None:
    emulator = Emulator(rules=Rules(session_cap=1))
    client = Client(emulator=emulator)
    client.create_session()

    with pytest.raises(SessionLimitReachedError) as at_cap:
        client.create_session()
    with pytest.raises(PlanRestrictedError) as restricted:
        client.create_session(api_key=emulator.key_for("free"))
    with pytest.raises(InvalidAPIKeyError):
        client.create_session(api_key="nope")

    assert list(client.history()["attempt"]) == [1, 1, 1, 1]
    assert str(at_cap.value) == (
        "429 session_limit_reached: Maximum 10 active sessions per project. "
        "Retrying now will not help: a slot frees only when one of the "
        "project's sessions has been idle for 30 minutes."
    )
    assert str(restricted.value) == (
        "403 plan_restricted: Persistent sessions require the Scale plan or "
        "higher. Retrying will not help: the project needs the Scale plan."
    )


@pytest.mark.parametrize("mode", ["flaky", "flakydate"])
def test_rate_limited__served_retry_after_seconds_or_date(
    server: str, mode: str
) -> None:
    base = f"{server}/{mode}/{uuid.uuid4().hex}/2"
    with Client(live_format_key("retry"), base_url=base) as client:
        session = client.create_session()

    history = client.history()
    assert list(history["attempt"]) == [1, 2, 3]
    assert list(history["code"].astype(object).fillna("-")) == [
        "rate_limited",
        "rate_limited",
        "-",
    ]
    assert history["session_id"].iloc[-1] == session.id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("budget", -1, "RetryPolicy.budget must be a number of seconds >= 0; got -1."),
        (
            "max_attempts",
            0,
            "RetryPolicy.max_attempts counts the first attempt and must be a "
            "whole number >= 1; got 0.",
        ),
        (
            "jitter",
            "1",
            "RetryPolicy.jitter must be a number of seconds >= 0; got '1'.",
        ),
    ],
)
def test_retry_policy__bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_rate_limited__each_wait_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stewrd_lab")
    emulator = _rate_limited_emulator(rate_window=timedelta(seconds=2))
    client = Client(emulator=emulator, retry=RetryPolicy(jitter=0))
    client.create_session()
    client.create_session()
    caplog.clear()

    client.create_session()

    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert waits == [
        "rate_limited: waiting 1.0 s before attempt 2 (emulator clock advanced, "
        "no real wait)",
        "rate_limited: waiting 2.0 s before attempt 3 (emulator clock advanced, "
        "no real wait)",
    ]


def test_default_policy__rides_out_a_burst_over_the_minute_limit() -> None:
    # Sixty creates at one instant fill the documented window; the default
    # budget is sized so that the sixty-first still gets through.
    emulator = Emulator(rules=Rules(session_cap=None))
    client = Client(emulator=emulator)
    for _ in range(60):
        client.create_session()

    session = client.create_session()

    history = client.history().iloc[60:]
    assert list(history["attempt"]) == [1, 2, 3, 4, 5, 6, 7]
    assert list(history["status"]) == [429] * 6 + [201]
    assert list(history["session_id"])[-1] == session.id
    waited = (history["time"].iloc[-1] - history["time"].iloc[0]).total_seconds()
    assert 61 <= waited <= 61 + 6  # 1+2+4+8+16+30 s, plus up to 1 s jitter each
