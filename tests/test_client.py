from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pandas as pd
import pytest

from stewrd_lab import (
    KEY_PREFIX,
    Client,
    ConnectError,
    Emulator,
    InvalidAPIKeyError,
    PlanRestrictedError,
    RateLimitedError,
    RequestTimeoutError,
    Rules,
    Session,
    SessionLimitReachedError,
    StewrdError,
    Target,
    UnexpectedResponseError,
    UsageError,
)

# Built in code so that no full-looking key is ever written in the repository.
LIVE_KEY = KEY_PREFIX + "live" + "7" * 28
LIVE_URL = "https://api.stewrd.dev"


def remote(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    """A client for the live URL whose answers come from ``handler``."""
    return Client(LIVE_KEY, base_url=LIVE_URL, transport=httpx.MockTransport(handler))


def answer(status: int, **kwargs: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_stewrd_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWRD_BASE_URL", raising=False)
    monkeypatch.delenv("STEWRD_API_KEY", raising=False)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=1)


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return Client(emulator=emulator)


# -- targets -------------------------------------------------------------------


def test_default_target__is_the_embedded_emulator_with_its_scale_key() -> None:
    client = Client()

    assert client.target == Target("embedded emulator", "http://emulator.invalid")
    assert str(client.target) == (
        "embedded emulator (in-process, no network, no real sessions)"
    )
    assert client.emulator is not None
    assert repr(client) == (
        "<Client embedded emulator key=sk-stw_emu_…"
        + client.emulator.key_for("scale")[-4:]
        + ">"
    )


def test_environment__base_url_and_key_pick_a_live_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEWRD_BASE_URL", "https://api.stewrd.dev/")
    monkeypatch.setenv("STEWRD_API_KEY", LIVE_KEY)

    client = Client()

    assert client.target == Target("live API", LIVE_URL)
    assert str(client.target) == (
        "live API at https://api.stewrd.dev (real sessions, real requests)"
    )
    assert client.emulator is None
    assert repr(client) == "<Client live API key=sk-stw_…7777>"


def test_environment__key_alone_is_never_sent_to_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEWRD_API_KEY", LIVE_KEY)

    client = Client()
    client.create_session()

    assert client.target.kind == "embedded emulator"
    assert client.history()["key"].tolist() == [
        "sk-stw_emu_…" + client.emulator.key_for("scale")[-4:]
    ]


def test_emulator_key_with_a_base_url__is_a_served_emulator() -> None:
    client = Client(KEY_PREFIX + "emu_" + "0" * 32, base_url="http://127.0.0.1:8000")

    assert str(client.target) == (
        "served emulator at http://127.0.0.1:8000 (no real sessions)"
    )


@pytest.mark.parametrize("url", ["api.stewrd.dev", "ftp://api.stewrd.dev", "http://"])
def test_bad_base_url__is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        Client(LIVE_KEY, base_url=url)

    assert str(caught.value) == (
        "The base URL must be an http or https URL such as "
        f"https://api.stewrd.dev; got {url!r}."
    )


def test_base_url_and_emulator_together__is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        Client(base_url=LIVE_URL, emulator=Emulator())

    assert str(caught.value) == (
        "Pass either base_url (a served or live target) or emulator (the "
        "embedded one), not both."
    )


# -- creating sessions -----------------------------------------------------------


def test_create_session__returns_the_session_and_records_it(client: Client) -> None:
    session = client.create_session()

    assert session == Session(session.id, "session", "active")
    assert client.history()["session_id"].tolist() == [session.id]


def test_history__has_fixed_columns_dtypes_and_values(
    client: Client, emulator: Emulator
) -> None:
    session = client.create_session()
    with pytest.raises(PlanRestrictedError):
        client.create_session(api_key=emulator.key_for("free"))

    history = client.history()

    assert history["elapsed_ms"].gt(0).all()
    expected = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-01-01T00:00:00Z"] * 2),
            "target": ["embedded emulator"] * 2,
            "method": ["POST"] * 2,
            "path": ["/v1/sessions"] * 2,
            "attempt": [1, 1],
            "scheme": ["Bearer"] * 2,
            "key": [
                "sk-stw_emu_…" + emulator.key_for("scale")[-4:],
                "sk-stw_emu_…" + emulator.key_for("free")[-4:],
            ],
            "status": [201, 403],
            "code": [None, "plan_restricted"],
            "message": ["", "Persistent sessions require the Scale plan or higher."],
            "session_id": [session.id, None],
            "elapsed_ms": history["elapsed_ms"].tolist(),
            "error": ["", "PlanRestrictedError"],
            "conforms": [True, True],
            "violation": ["", ""],
        }
    ).astype(
        {
            "time": "datetime64[ns, UTC]",
            "target": "category",
            "method": "category",
            "path": "category",
            "scheme": "category",
            "key": "string",
            "status": "Int64",
            "code": "category",
            "message": "string",
            "session_id": "string",
            "error": "category",
            "conforms": "boolean",
            "violation": "category",
        }
    )
    pd.testing.assert_frame_equal(history, expected)


def test_history__empty_frame_keeps_the_dtypes(client: Client) -> None:
    history = client.history()

    assert history.empty
    assert history.dtypes.astype(str).to_dict() == {
        "time": "datetime64[ns, UTC]",
        "target": "category",
        "method": "category",
        "path": "category",
        "attempt": "int64",
        "scheme": "category",
        "key": "string",
        "status": "Int64",
        "code": "category",
        "message": "string",
        "session_id": "string",
        "elapsed_ms": "float64",
        "error": "category",
        "conforms": "boolean",
        "violation": "category",
    }


INVALID = "401 invalid_api_key: Invalid or missing API key. From the client's side: "


@pytest.mark.parametrize(
    ("kwargs", "diagnosis"),
    [
        ({"authorization": None}, "no Authorization header was sent."),
        ({"authorization": ""}, "the Authorization header was empty."),
        (
            {"authorization": "Basic dXNlcjpwYXNz"},
            "the header uses the Basic scheme, not Bearer.",
        ),
        (
            {"authorization": LIVE_KEY},
            "the header uses the wrong scheme, not Bearer.",
        ),
        (
            {"api_key": "my-stewrd-key-0123456789"},
            "the key …6789 does not start with sk-stw_.",
        ),
        (
            {"api_key": LIVE_KEY},
            "the key sk-stw_…7777 is well-formed, so the project does not know it "
            "or it was revoked (regenerating a key revokes the old one).",
        ),
    ],
)
def test_invalid_key__message_adds_what_the_client_can_tell(
    client: Client, kwargs: dict[str, str | None], diagnosis: str
) -> None:
    with pytest.raises(InvalidAPIKeyError) as caught:
        client.create_session(**kwargs)  # type: ignore[arg-type]

    assert str(caught.value) == INVALID + diagnosis
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")
    assert caught.value.message == "Invalid or missing API key."
    assert (
        repr(caught.value) == "InvalidAPIKeyError(status=401, code='invalid_api_key')"
    )
    assert LIVE_KEY not in str(caught.value)


def test_plan_restricted__says_retrying_will_not_help(
    client: Client, emulator: Emulator
) -> None:
    with pytest.raises(PlanRestrictedError) as caught:
        client.create_session(api_key=emulator.key_for("dev"))

    assert str(caught.value) == (
        "403 plan_restricted: Persistent sessions require the Scale plan or "
        "higher. Retrying will not help: the project needs the Scale plan."
    )
    assert caught.value.retryable is False


def test_session_limit__says_when_a_slot_frees(client: Client) -> None:
    for _ in range(10):
        client.create_session()

    with pytest.raises(SessionLimitReachedError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "429 session_limit_reached: Maximum 10 active sessions per project. "
        "Retrying now will not help: a slot frees only when one of the "
        "project's sessions has been idle for 30 minutes."
    )
    assert caught.value.retryable is False


def test_rate_limited__is_retryable_and_says_so() -> None:
    # Retries off: this is the API's own refusal (test_retry.py retries it).
    client = Client(emulator=Emulator(rules=Rules(session_cap=None)), retry=False)
    for _ in range(60):
        client.create_session()

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "429 rate_limited: Too many requests. Limit: 60/minute. Wait and "
        "retry: the limit is 60 requests a minute."
    )
    assert caught.value.retryable is True


def test_every_error_is_a_stewrd_error_shown_in_one_line(client: Client) -> None:
    with pytest.raises(StewrdError) as caught:
        client.create_session(authorization=None)

    assert caught.value._render_traceback_() == [
        "InvalidAPIKeyError: " + INVALID + "no Authorization header was sent."
    ]


# -- answers that are not the documented shape ----------------------------------


def test_html_error_page__is_an_unexpected_response_with_the_body_start() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    client = remote(answer(502, text=page, headers={"content-type": "text/html"}))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "The live API at https://api.stewrd.dev (real sessions, real requests) "
        "answered 502 Bad Gateway with a body that is not the documented error "
        "envelope: text/html, starting "
        "'<html><body><h1>502 Bad Gateway</h1></body></html>'. It looks like a "
        "proxy's page: the API behind it may be down or overloaded, so try "
        "again in a minute."
    )
    assert (caught.value.status, caught.value.code) == (502, None)
    row = client.history().iloc[0]
    assert (row["status"], row["message"], row["error"]) == (
        502,
        "502 Bad Gateway, not the error envelope",
        "UnexpectedResponseError",
    )


def test_error_page_echoing_the_key__never_quotes_it() -> None:
    client = remote(answer(400, text=f"bad header Authorization: Bearer {LIVE_KEY}"))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "The live API at https://api.stewrd.dev (real sessions, real requests) "
        "answered 400 Bad Request with a body that is not the documented error "
        "envelope: text/plain; charset=utf-8, starting "
        "'bad header Authorization: Bearer sk-stw_…7777'."
    )


def test_empty_error_body__is_named_as_empty() -> None:
    client = remote(answer(503))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "The live API at https://api.stewrd.dev (real sessions, real requests) "
        "answered 503 Service Unavailable with a body that is not the documented "
        "error envelope: an empty body (no content type). It looks like a "
        "proxy's page: the API behind it may be down or overloaded, so try "
        "again in a minute."
    )


def test_undocumented_code__keeps_status_code_and_message() -> None:
    body = {"error": {"code": "compute_error", "message": "Compute failed."}}
    client = remote(answer(502, json=body))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "502 compute_error: Compute failed. stewrd-lab does not know "
        "this code; see the Stewrd error docs."
    )
    assert (caught.value.code, caught.value.message) == (
        "compute_error",
        "Compute failed.",
    )


def test_docs_link__is_kept_on_the_error() -> None:
    body = {
        "error": {
            "code": "plan_restricted",
            "message": "Persistent sessions require the Scale plan or higher.",
            "docs": "https://docs.stewrd.dev/errors",
        }
    }
    client = remote(answer(403, json=body))

    with pytest.raises(PlanRestrictedError) as caught:
        client.create_session()

    assert caught.value.docs == "https://docs.stewrd.dev/errors"


def test_success_without_a_session_body__is_an_unexpected_response() -> None:
    client = remote(answer(201, json={"id": 5}))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "https://api.stewrd.dev answered 201 but the body is not a session: "
        "application/json, starting '{\"id\":5}'."
    )
    assert client.history()["status"].tolist() == [201]


# -- no answer at all ---------------------------------------------------------------


def raise_(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_refused_connection__is_a_connect_error_naming_the_target() -> None:
    client = remote(raise_(httpx.ConnectError("[Errno 111] Connection refused")))

    with pytest.raises(ConnectError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "Could not connect to the live API at https://api.stewrd.dev: [Errno "
        "111] Connection refused; check the base URL and the network."
    )
    assert caught.value.target == LIVE_URL
    assert caught.value.__cause__ is None
    row = client.history().iloc[0]
    assert row["status"] is pd.NA
    assert pd.isna(row["code"])
    assert row["error"] == "ConnectError"


def test_timeout__is_a_request_timeout_error() -> None:
    client = remote(raise_(httpx.ReadTimeout("timed out")))

    with pytest.raises(RequestTimeoutError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "The live API at https://api.stewrd.dev did not answer within the "
        "timeout (ReadTimeout); the request may still have created a session, "
        "so check before sending it again, or raise the client's timeout."
    )


@pytest.mark.parametrize("key", ["sk-stw_clé", "sk-stw_line\nbreak"])
def test_unsendable_key__is_a_usage_error_and_a_row(client: Client, key: str) -> None:
    with pytest.raises(UsageError) as caught:
        client.create_session(api_key=key)

    assert str(caught.value) == (
        "The Authorization header holds characters HTTP cannot carry (only "
        "printable ASCII can be sent); copy the key again from the Stewrd "
        "dashboard."
    )
    row = client.history().iloc[0]
    assert (row["status"], row["key"], row["error"]) == (
        pd.NA,
        "sk-stw_…",
        "UsageError",
    )


# -- logging ---------------------------------------------------------------------


def test_each_exchange__logs_one_info_line_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = remote(answer(201, json={"id": "x", "object": "session"}))
    caplog.set_level(logging.DEBUG, logger="stewrd_lab")

    client.create_session()

    [record] = [r for r in caplog.records if r.name == "stewrd_lab"]
    assert record.levelno == logging.INFO
    assert record.msg == "%s %s -> %s %s (%s, %.1f ms)"
    assert record.args[:5] == ("POST", "/v1/sessions", 201, "ok", LIVE_URL)
    assert LIVE_KEY not in record.getMessage()


# -- refused before sending ----------------------------------------------------------


def test_explicit_emulator__wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEWRD_BASE_URL", LIVE_URL)

    client = Client(emulator=Emulator())

    assert client.target.kind == "embedded emulator"


def test_closed_client__is_a_usage_error_and_a_row() -> None:
    with Client() as client:
        client.create_session()

    with pytest.raises(UsageError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "This client is closed (a `with` block around it has ended, or close() "
        "was called); make a new Client to send more requests."
    )
    assert client.history()["error"].tolist() == ["", "UsageError"]


@pytest.mark.parametrize("timeout", [-1, 0, "abc", True, float("nan")])
def test_bad_timeout__is_a_usage_error(timeout: object) -> None:
    with pytest.raises(UsageError) as caught:
        Client(timeout=timeout)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "timeout must be a number of seconds > 0, an httpx.Timeout, or None "
        f"for no limit; got {timeout!r}."
    )


def test_bad_retry__is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        Client(retry=None)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "retry must be True, False or a stewrd_lab.RetryPolicy; got NoneType."
    )


def test_non_text_authorization__is_a_usage_error(client: Client) -> None:
    with pytest.raises(UsageError) as caught:
        client.create_session(authorization=5)  # type: ignore[arg-type]

    assert str(caught.value) == "authorization must be a str (or None); got int."


def test_unencodable_message__names_the_message_not_the_key(client: Client) -> None:
    session = client.create_session()

    with pytest.raises(UsageError) as caught:
        client.send_message(session.id, "x\ud800")

    assert str(caught.value) == (
        "The message holds characters that cannot be encoded as UTF-8 (such as "
        "a lone surrogate); send ordinary text."
    )
    assert client.history()["error"].tolist() == ["", "UsageError"]


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{LIVE_KEY}@127.0.0.1:9",
        f"http://127.0.0.1:9/{LIVE_KEY}",
        f"http://127.0.0.1:9/?k={LIVE_KEY}",
        f"http://127.0.0.1:9#{LIVE_KEY}",
    ],
    ids=["userinfo", "path", "query", "fragment"],
)
def test_base_url_holding_a_key__is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        Client(base_url=url)

    assert str(caught.value) == (
        "The base URL must not hold a user name, password or key; pass the "
        "key as api_key or STEWRD_API_KEY instead."
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/?x=1", "http://127.0.0.1:9/#top"])
def test_base_url_with_a_query_or_fragment__is_refused(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        Client(LIVE_KEY, base_url=url)

    assert str(caught.value) == (
        "The base URL must not have a query (?...) or fragment (#...); use the "
        "API's address alone, such as https://api.stewrd.dev."
    )


def test_key_given_as_base_url__is_redacted_in_the_error() -> None:
    with pytest.raises(UsageError) as caught:
        Client(base_url=LIVE_KEY)

    assert str(caught.value) == (
        "The base URL must be an http or https URL such as "
        "https://api.stewrd.dev; got 'sk-stw_…7777'."
    )


# -- a server that echoes the key ---------------------------------------------------


def test_success_body_echoing_the_key__never_quotes_it() -> None:
    client = remote(answer(201, json={"echo": f"Bearer {LIVE_KEY}"}))

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "https://api.stewrd.dev answered 201 but the body is not a session: "
        'application/json, starting \'{"echo":"Bearer sk-stw_…7777"}\'.'
    )


def test_error_message_echoing_the_key__is_redacted_everywhere() -> None:
    body = {"error": {"code": "rate_limited", "message": f"Slow down, {LIVE_KEY}."}}
    client = Client(
        LIVE_KEY,
        base_url=LIVE_URL,
        transport=httpx.MockTransport(answer(429, json=body)),
        retry=False,
    )

    with pytest.raises(RateLimitedError) as caught:
        client.create_session()

    assert caught.value.message == "Slow down, sk-stw_…7777."
    assert str(caught.value) == (
        "429 rate_limited: Slow down, sk-stw_…7777. Wait and retry: the limit "
        "is 60 requests a minute."
    )
    assert client.history()["message"].tolist() == ["Slow down, sk-stw_…7777."]


def test_emulator_specific_code__is_named_as_the_emulators_own(
    client: Client,
) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        client._exchange("GET", "/v1/sessions", None, None, lambda r, t: r)

    assert str(caught.value) == (
        "405 method_not_allowed: GET is not allowed on /v1/sessions; use POST. "
        "(This 405 is emulator-specific.) The code is the emulator's own: the "
        "API documents no answer for this case."
    )


def test_session_id_echoing_the_key__is_not_a_session() -> None:
    client = remote(
        lambda request: httpx.Response(
            201,
            json={"id": request.headers["authorization"], "object": "session"},
        )
    )

    with pytest.raises(UnexpectedResponseError) as caught:
        client.create_session()

    assert str(caught.value) == (
        "https://api.stewrd.dev answered 201 but the body is not a session: "
        "application/json, starting "
        '\'{"id":"Bearer sk-stw_…7777","object":"session"}\'.'
    )
    assert client.history()["session_id"].tolist() == [pd.NA]


def test_empty_session_id__is_a_usage_error_and_a_row(client: Client) -> None:
    with pytest.raises(UsageError) as caught:
        client.send_message("", "hello")

    assert str(caught.value) == (
        "The session id must be a non-empty str; got ''. Use the id of a "
        "session from create_session()."
    )
    assert client.history()["error"].tolist() == ["UsageError"]
