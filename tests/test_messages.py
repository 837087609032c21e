from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pandas as pd
import pytest

from served import Served
from stewrd_lab import (
    AsyncClient,
    BadRequestError,
    Client,
    Emulator,
    EmulatorTransport,
    InsufficientCreditsError,
    InvalidAPIKeyError,
    Message,
    RateLimitedError,
    Rules,
    SessionNotFoundError,
    UsageError,
)

REPLY = (
    "[emulated reply] The Stewrd emulator received your message (11 "
    "characters). No agent ran: this fixed answer is emulator-specific."
)


@pytest.fixture(params=["embedded", "served"])
def client(request: pytest.FixtureRequest, served: Served) -> Iterator[Client]:
    """A client on a new Scale project with 1000 credits, embedded or served."""
    if request.param == "embedded":
        with Client() as embedded:
            yield embedded
        return

    with Client(served.emulator.key_for("scale"), base_url=served.base_url) as setup:
        assert setup.emulator is not None
        key = setup.emulator.add_project("scale", credits=1000).key
    with Client(key, base_url=served.base_url) as remote:
        yield remote


def _project_id(client: Client) -> str:
    assert client.emulator is not None
    state = client.emulator.state()
    key = client._api_key
    return next(p["id"] for p in state["projects"] if p["key"] == key)


def test_send_message__returns_the_documented_shape_typed(client: Client) -> None:
    session = client.create_session()

    message = client.send_message(session.id, "hello there")

    assert message == Message(
        session_id=session.id,
        reply=REPLY,
        capabilities_used=(),
        files=(),
        credits_this_request=1,
        credits_remaining=999,
        tokens_used=20,
        duration_ms=0,
        project_id=_project_id(client),
        plan="scale",
    )


def test_send_message__is_recorded_like_create(client: Client) -> None:
    session = client.create_session()
    client.send_message(session.id, "hello there")

    row = client.history().iloc[-1]

    path = f"/v1/sessions/{session.id}/messages"
    assert (row["method"], row["path"], row["status"]) == ("POST", path, 200)
    assert (row["session_id"], row["error"]) == (session.id, "")
    assert pd.isna(row["code"])


def test_send_message__unknown_session_is_404_emulator_specific(client: Client) -> None:
    with pytest.raises(SessionNotFoundError) as caught:
        client.send_message("no-such-session", "hello")

    assert str(caught.value) == (
        "404 session_not_found: No active session no-such-session in this "
        "project: it is unknown, expired or another project's. (This 404 is "
        "emulator-specific.) Create a new session: an idle session expires "
        "after 30 minutes."
    )
    row = client.history().iloc[-1]
    assert (row["status"], row["code"], row["session_id"]) == (
        404,
        "session_not_found",
        "no-such-session",
    )


def test_send_message__other_projects_session_is_404(client: Client) -> None:
    assert client.emulator is not None
    other = client.emulator.add_project("scale", credits=5).key
    session = client.create_session(api_key=other)

    with pytest.raises(SessionNotFoundError):
        client.send_message(session.id, "hello")


def test_send_message__empty_text_is_missing_message(client: Client) -> None:
    session = client.create_session()

    with pytest.raises(BadRequestError) as caught:
        client.send_message(session.id, "   ")

    assert str(caught.value) == (
        '400 missing_message: The request body needs a non-empty "message" '
        'string. Send a JSON object with a non-empty "message" string.'
    )


def test_send_message__bad_key_is_401(client: Client) -> None:
    session = client.create_session()

    with pytest.raises(InvalidAPIKeyError):
        client.send_message(session.id, "hello", api_key="sk-stw_emu_" + "0" * 32)


def test_send_message__not_a_str_is_a_recorded_usage_error() -> None:
    client = Client()
    session = client.create_session()

    with pytest.raises(UsageError) as caught:
        client.send_message(session.id, 42)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "The message must be a str, not int; send text such as 'Summarise the "
        "last report'."
    )
    row = client.history().iloc[-1]
    assert (row["error"], row["message"]) == ("UsageError", str(caught.value))
    assert pd.isna(row["status"])


def test_message__keeps_the_session_active() -> None:
    emulator = Emulator()
    client = Client(emulator=emulator)
    session = client.create_session()

    emulator.advance(timedelta(minutes=29))
    client.send_message(session.id, "still here")
    emulator.advance(timedelta(minutes=29))

    assert emulator.active_sessions("scale") == 1
    client.send_message(session.id, "still here")


def test_message__to_an_expired_session_is_404() -> None:
    emulator = Emulator()
    client = Client(emulator=emulator)
    session = client.create_session()

    emulator.advance(timedelta(minutes=30))

    with pytest.raises(SessionNotFoundError):
        client.send_message(session.id, "too late")
    assert emulator.active_sessions("scale") == 0


def test_message__expiry_keeps_only_the_recently_active() -> None:
    emulator = Emulator()
    client = Client(emulator=emulator)
    first, second = client.create_session(), client.create_session()

    emulator.advance(timedelta(minutes=20))
    client.send_message(first.id, "keep me")
    emulator.advance(timedelta(minutes=10))

    assert emulator.active_sessions("scale") == 1
    client.send_message(first.id, "kept")
    with pytest.raises(SessionNotFoundError):
        client.send_message(second.id, "gone")


def test_message__costs_a_credit_and_402_when_none_left() -> None:
    emulator = Emulator()
    key = emulator.add_project("scale", credits=1).key
    client = Client(key, emulator=emulator)
    session = client.create_session()

    assert client.send_message(session.id, "one").credits_remaining == 0
    with pytest.raises(InsufficientCreditsError) as caught:
        client.send_message(session.id, "two")

    assert str(caught.value) == (
        "402 insufficient_credits: The project has no credits left for this "
        "request. Retrying will not help: the project needs more credits."
    )


def test_message__counts_toward_the_rate_limit() -> None:
    emulator = Emulator(rules=Rules(rate_limit=2))
    client = Client(emulator=emulator, retry=False)
    session = client.create_session()
    client.send_message(session.id, "two")

    with pytest.raises(RateLimitedError):
        client.send_message(session.id, "three")


@pytest.mark.parametrize(
    ("content_type", "body", "code", "message"),
    [
        (
            "application/json",
            b"{",
            "invalid_body",
            "The request body is not valid JSON.",
        ),
        (
            "application/json; charset=utf-8",
            b'["hi"]',
            "invalid_body",
            "The request body must be a JSON object.",
        ),
        (
            "application/json",
            b'{"text": "hi"}',
            "missing_message",
            'The request body needs a non-empty "message" string.',
        ),
        (
            "text/plain",
            b'{"message": "hi"}',
            "invalid_body",
            "The request body must be JSON sent with Content-Type: "
            "application/json; got text/plain. (Checking the content type is "
            "emulator-specific.)",
        ),
    ],
)
def test_message_body_checks__in_process(
    content_type: str, body: bytes, code: str, message: str
) -> None:
    emulator = Emulator()
    headers = {
        "Authorization": f"Bearer {emulator.key_for('scale')}",
        "Content-Type": content_type,
    }
    with httpx.Client(
        transport=EmulatorTransport(emulator), base_url="http://emulator.invalid"
    ) as http:
        session = http.post("/v1/sessions", headers=headers).json()["id"]
        answer = http.post(
            f"/v1/sessions/{session}/messages", headers=headers, content=body
        )

    assert (answer.status_code, answer.json()) == (
        400,
        {"error": {"code": code, "message": message}},
    )


def test_message__parses_the_older_usage_fields() -> None:
    def old_api(request: httpx.Request) -> httpx.Response:
        body = {
            "object": "session.message",
            "session_id": "s1",
            "message": "done",
            "usage": {"requests_used": 3, "requests_limit": 100},
        }
        return httpx.Response(200, json=body)

    client = Client(
        "sk-stw_" + "live" + "x" * 28,
        base_url="https://api.example.test",
        transport=httpx.MockTransport(old_api),
    )

    assert client.send_message("s1", "go") == Message(
        session_id="s1", reply="done", requests_used=3, requests_limit=100
    )


def test_message__rate_limited_is_retried_like_create() -> None:
    emulator = Emulator(rules=Rules(rate_limit=2, rate_window=timedelta(seconds=2)))
    client = Client(emulator=emulator)
    session = client.create_session()
    client.send_message(session.id, "two")

    # The retry waits move the embedded clock on, past the 2 s window.
    client.send_message(session.id, "three")

    history = client.history()
    assert list(zip(history["status"], history["attempt"], strict=True)) == [
        (201, 1),
        (200, 1),
        (429, 1),
        (429, 2),
        (200, 3),
    ]


def test_async_send_message__same_answer_and_row_as_sync(served: Served) -> None:
    with Client(served.emulator.key_for("scale"), base_url=served.base_url) as setup:
        assert setup.emulator is not None
        key = setup.emulator.add_project("scale", credits=5).key

    async def talk() -> tuple[Message, pd.DataFrame]:
        async with AsyncClient(key, base_url=served.base_url) as client:
            session = await client.create_session()
            answer = await client.send_message(session.id, "hello there")
            return answer, client.history()

    answer, history = asyncio.run(talk())

    assert (answer.reply, answer.credits_remaining, answer.plan) == (REPLY, 4, "scale")
    assert list(history["status"]) == [201, 200]
    assert history["session_id"].iloc[1] == answer.session_id


def test_async_send_message__not_a_str_is_a_recorded_usage_error() -> None:
    async def talk() -> AsyncClient:
        client = AsyncClient()
        with pytest.raises(UsageError):
            await client.send_message("s", None)  # type: ignore[arg-type]
        await client.aclose()
        return client

    client = asyncio.run(talk())

    assert list(client.history()["error"]) == ["UsageError"]
