"""Every way a target can fail becomes one sentence and one history row.

Run against a real uvicorn server that misbehaves on purpose (see
``misbehaving.py``), a port where nothing listens, and a ``.invalid`` host.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conftest import live_format_key
from stewrd_lab import (
    Client,
    ConnectError,
    RequestTimeoutError,
    StewrdError,
    TransportError,
    UnexpectedResponseError,
    UsageError,
)

KEY = live_format_key("fail")

Make = Callable[..., Client]


@pytest.fixture
def make() -> Iterator[Make]:
    """Make clients that are closed when the test ends."""
    made: list[Client] = []

    def make(*args: Any, **kwargs: Any) -> Client:
        made.append(Client(*args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _fail(client: Client) -> StewrdError:
    with pytest.raises(StewrdError) as caught:
        client.create_session()
    return caught.value


def _row(client: Client) -> dict[str, object]:
    history = client.history()
    assert len(history) == 1
    row = history.iloc[0]
    return {
        "status": None if row.isna()["status"] else int(row["status"]),
        "code": None if row.isna()["code"] else row["code"],
        "error": row["error"],
        "message": row["message"],
        "key": row["key"],
    }


def test_create_session__dns_failure_is_one_sentence_and_a_row(make: Make) -> None:
    client = make(KEY, base_url="http://api.stewrd.invalid")

    error = _fail(client)

    expected = (
        "The host name api.stewrd.invalid of the live API at "
        "http://api.stewrd.invalid does not resolve (DNS); check the base URL "
        "for a typo, and the network."
    )
    assert type(error) is ConnectError
    assert str(error) == expected
    assert error.target == "http://api.stewrd.invalid"
    assert _row(client) == {
        "status": None,
        "code": None,
        "error": "ConnectError",
        "message": expected,
        "key": "sk-stw_…6789",
    }


def test_create_session__refused_connection(free_port: int, make: Make) -> None:
    client = make(KEY, base_url=f"http://127.0.0.1:{free_port}")

    error = _fail(client)

    expected = (
        f"Nothing accepts connections at 127.0.0.1:{free_port}, the address of "
        f"the live API at http://127.0.0.1:{free_port}; check the base URL, or "
        "start the server it names."
    )
    assert type(error) is ConnectError
    assert str(error) == expected
    assert _row(client)["message"] == expected


def test_create_session__tls_to_a_plain_http_port(server: str, make: Make) -> None:
    base = server.replace("http://", "https://") + "/ok"
    client = make(KEY, base_url=base)

    error = _fail(client)

    host = server.removeprefix("http://")
    expected = (
        f"The TLS handshake with {host} failed, so nothing was sent to the "
        f"live API at {base}; if that server speaks plain HTTP, use http:// in "
        "the base URL."
    )
    assert type(error) is ConnectError
    assert str(error) == expected
    assert _row(client)["error"] == "ConnectError"


def test_create_session__read_timeout(server: str, make: Make) -> None:
    client = make(KEY, base_url=f"{server}/slow", timeout=0.2)

    error = _fail(client)

    expected = (
        f"The live API at {server}/slow did not answer within the timeout "
        "(ReadTimeout); the request may still have created a session, so check "
        "before sending it again, or raise the client's timeout."
    )
    assert type(error) is RequestTimeoutError
    assert str(error) == expected
    assert _row(client) == {
        "status": None,
        "code": None,
        "error": "RequestTimeoutError",
        "message": expected,
        "key": "sk-stw_…6789",
    }


@pytest.mark.parametrize(
    ("mode", "status", "reason", "body"),
    [
        (
            "html502",
            502,
            "Bad Gateway",
            "'<html><head><title>502 Bad Gateway</title></head><body><center>"
            "<h1>502 Bad Gateway</h1></center><hr><center>nginx</cente'...",
        ),
        (
            "html503",
            503,
            "Service Unavailable",
            "'<html><head><title>503 Service Temporarily Unavailable</title>"
            "</head><body><center><h1>503 Service Temporarily Unavailab'...",
        ),
    ],
)
def test_create_session__proxy_html_page(
    server: str, mode: str, status: int, reason: str, body: str, make: Make
) -> None:
    base = f"{server}/{mode}"
    client = make(KEY, base_url=base)

    error = _fail(client)

    expected = (
        f"The live API at {base} (real sessions, real requests) answered "
        f"{status} {reason} with a body that is not the documented error "
        f"envelope: text/html, starting {body}. It looks like a proxy's page: "
        "the API behind it may be down or overloaded, so try again in a minute."
    )
    assert type(error) is UnexpectedResponseError
    assert str(error) == expected
    assert _row(client) == {
        "status": status,
        "code": None,
        "error": "UnexpectedResponseError",
        "message": f"{status} {reason}, not the error envelope",
        "key": "sk-stw_…6789",
    }


def test_create_session__truncated_json(server: str, make: Make) -> None:
    base = f"{server}/truncated"
    client = make(KEY, base_url=base)

    error = _fail(client)

    expected = (
        f"{base} answered 201 but the body is not a session: application/json, "
        """starting '{"id": "6f1c2b9e-1b7a-4c55-9d1e-2f0c8a4b7d31", "obj'."""
    )
    assert type(error) is UnexpectedResponseError
    assert str(error) == expected
    assert _row(client) == {
        "status": 201,
        "code": None,
        "error": "UnexpectedResponseError",
        "message": "the body is not a session",
        "key": "sk-stw_…6789",
    }


def test_create_session__connection_dropped_mid_body(server: str, make: Make) -> None:
    base = f"{server}/cut"
    client = make(KEY, base_url=base)

    error = _fail(client)

    expected = (
        f"The connection to the live API at {base} broke before a complete "
        "answer arrived (RemoteProtocolError); the request may still have "
        "created a session, so check before sending it again."
    )
    assert type(error) is TransportError
    assert str(error) == expected
    assert _row(client)["error"] == "TransportError"


def test_create_session__created_but_not_a_session(server: str, make: Make) -> None:
    base = f"{server}/notsession"
    client = make(KEY, base_url=base)

    error = _fail(client)

    assert str(error) == (
        f"{base} answered 201 but the body is not a session: application/json, "
        """starting '{"ok": true}'."""
    )
    assert repr(error) == "UnexpectedResponseError(status=201, code=None)"
    assert _row(client)["status"] == 201


def test_failures__are_rows_in_order_and_the_client_keeps_working(
    server: str, free_port: int, make: Make
) -> None:
    from stewrd_lab import Recorder

    recorder = Recorder()
    bases = [f"{server}/html502", f"http://127.0.0.1:{free_port}", f"{server}/ok"]
    outcomes = []
    for base in bases:
        client = make(KEY, base_url=base, recorder=recorder)
        try:
            outcomes.append(client.create_session().status)
        except StewrdError as error:
            outcomes.append(type(error).__name__)

    assert outcomes == ["UnexpectedResponseError", "ConnectError", "active"]
    assert list(recorder.frame()["error"].astype(str)) == [
        "UnexpectedResponseError",
        "ConnectError",
        "",
    ]


def test_create_session__spaces_around_the_key_are_refused_before_sending(
    server: str, make: Make
) -> None:
    client = make(KEY, base_url=f"{server}/ok")

    with pytest.raises(UsageError) as caught:
        client.create_session(api_key=KEY + " ")

    expected = (
        "The Authorization header starts or ends with a space, which HTTP does "
        "not allow; remove the spaces around the key."
    )
    assert str(caught.value) == expected
    assert _row(client) == {
        "status": None,
        "code": None,
        "error": "UsageError",
        "message": expected,
        "key": "sk-stw_…6789",
    }


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def test_create_session__connect_timeout_says_nothing_was_sent(make: Make) -> None:
    # A connect timeout cannot be staged on loopback, so this one is mocked.
    transport = _raising(httpx.ConnectTimeout("timed out"))
    client = make(KEY, base_url="https://api.stewrd.dev", transport=transport)

    error = _fail(client)

    assert type(error) is RequestTimeoutError
    assert str(error) == (
        "Could not connect to the live API at https://api.stewrd.dev within 10 s, "
        "so nothing was sent; check the network, or raise the client's timeout."
    )


def test_create_session__untrusted_certificate(make: Make) -> None:
    # Staging a certificate authority is out of scope here; the chain httpx
    # builds for a failed verification is reproduced instead.
    wrapped = httpx.ConnectError("certificate verify failed")
    wrapped.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    client = make(KEY, base_url="https://api.stewrd.dev", transport=_raising(wrapped))

    error = _fail(client)

    assert type(error) is ConnectError
    assert str(error) == (
        "The TLS certificate of api.stewrd.dev could not be verified, so nothing "
        "was sent to the live API at https://api.stewrd.dev; check the base "
        "URL's host name."
    )
