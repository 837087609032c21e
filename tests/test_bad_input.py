"""Malformed requests against a real served emulator, one test each.

Requests go over raw sockets so that nothing (no client library) cleans them
up first. Every socket has a timeout, so a hang fails the test instead of
stalling the run, and after every test the server must still answer.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from served import BODY_TIMEOUT, Served

TIMEOUT = 5.0

INVALID_KEY = (401, "invalid_api_key", "Invalid or missing API key.")
NO_CREATE_BODY = (
    400,
    "invalid_body",
    "POST /v1/sessions takes no request body; send none. (Refusing a body is "
    "emulator-specific.)",
)
NOT_JSON = (400, "invalid_body", "The request body is not valid JSON.")
NOT_OBJECT = (400, "invalid_body", "The request body must be a JSON object.")
MISSING_MESSAGE = (
    400,
    "missing_message",
    'The request body needs a non-empty "message" string.',
)
TOO_LARGE = (
    413,
    "body_too_large",
    "The request body is larger than 1048576 bytes. (This limit is emulator-specific.)",
)
CREATED = re.compile(
    rb'\{"id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",'
    rb'"object":"session","status":"active"\}'
)


@dataclass(frozen=True)
class Context:
    key: str
    session: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> tuple[int, str, str]:
        error = json.loads(self.body)["error"]
        assert set(error) == {"code", "message"}
        return self.status, error["code"], error["message"]


@pytest.fixture
def ctx(served: Served) -> Context:
    """A new Scale project (fresh rate limit) with one active session."""
    project = httpx.post(
        f"{served.base_url}/_emulator/projects", json={"plan": "scale", "credits": 9}
    ).json()
    session = httpx.post(
        f"{served.base_url}/v1/sessions",
        headers={"Authorization": f"Bearer {project['key']}"},
    ).json()
    return Context(project["key"], session["id"])


@pytest.fixture(autouse=True)
def still_serving(served: Served) -> Iterator[None]:
    yield
    state = httpx.get(f"{served.base_url}/_emulator/state", timeout=TIMEOUT)
    assert (state.status_code, state.json()["object"]) == (200, "emulator.state")


def request(
    method: str,
    path: str,
    headers: list[tuple[str, str | bytes]] = (),  # type: ignore[assignment]
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    for name, value in headers:
        value = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + value)
    if not any(name.lower() == "transfer-encoding" for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def read_answer(sock: socket.socket, *, head: bool = False) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"The server closed before answering: {data!r}")
        data += chunk

    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()

    # A HEAD answer has the length of the body it leaves out (RFC 9110).
    length = 0 if head else int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body)


def send(served: Served, raw: bytes) -> Answer:
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def create(
    *headers: tuple[str, str | bytes], body: bytes = b""
) -> Callable[..., bytes]:
    return lambda ctx: request("POST", "/v1/sessions", list(headers), body)


def bearer(ctx: Context) -> tuple[str, str]:
    return ("Authorization", f"Bearer {ctx.key}")


def message(
    content_type: str | None, body: bytes, *, session: str | None = None
) -> Callable[[Context], bytes]:
    def build(ctx: Context) -> bytes:
        headers: list[tuple[str, str | bytes]] = [bearer(ctx)]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        path = f"/v1/sessions/{session or ctx.session}/messages"
        return request("POST", path, headers, body)

    return build


# (build the raw request from the context, expected (status, code, message))
REFUSED: dict[str, tuple[Callable[[Context], bytes], tuple[int, str, str]]] = {
    "no Authorization header": (create(), INVALID_KEY),
    "empty Authorization header": (create(("Authorization", "")), INVALID_KEY),
    "scheme without a key": (create(("Authorization", "Bearer")), INVALID_KEY),
    "Authorization twice, both valid": (
        lambda c: request("POST", "/v1/sessions", [bearer(c), bearer(c)]),
        INVALID_KEY,
    ),
    "Authorization twice, one empty": (
        lambda c: request("POST", "/v1/sessions", [bearer(c), ("Authorization", "")]),
        INVALID_KEY,
    ),
    "Basic scheme": (
        lambda c: request(
            "POST", "/v1/sessions", [("Authorization", f"Basic {c.key}")]
        ),
        INVALID_KEY,
    ),
    "bare key, no scheme": (
        lambda c: request("POST", "/v1/sessions", [("Authorization", c.key)]),
        INVALID_KEY,
    ),
    "tab between scheme and key": (
        lambda c: request(
            "POST", "/v1/sessions", [("Authorization", f"Bearer\t{c.key}")]
        ),
        INVALID_KEY,
    ),
    "space inside the key": (
        lambda c: request(
            "POST",
            "/v1/sessions",
            [("Authorization", f"Bearer {c.key[:15]} {c.key[15:]}")],
        ),
        INVALID_KEY,
    ),
    "non-ASCII key": (
        create(("Authorization", "Bearer sk-stw_emu_ключ".encode())),
        INVALID_KEY,
    ),
    "10 KB key": (
        create(("Authorization", "Bearer sk-stw_emu_" + "a" * 10_240)),
        INVALID_KEY,
    ),
    "body on create": (
        lambda c: request("POST", "/v1/sessions", [bearer(c)], b'{"name": "x"}'),
        NO_CREATE_BODY,
    ),
    "chunked body on create": (
        lambda c: request(
            "POST",
            "/v1/sessions",
            [bearer(c), ("Transfer-Encoding", "chunked")],
            b"2\r\n{}\r\n0\r\n\r\n",
        ),
        NO_CREATE_BODY,
    ),
    "unknown path": (
        lambda c: request("POST", "/v1/session", [bearer(c)]),
        (
            404,
            "not_found",
            "No route matches /v1/session. (This 404 is emulator-specific: the "
            "API does not document its answer to unknown paths.)",
        ),
    ),
    "trailing slash": (
        lambda c: request("POST", "/v1/sessions/", [bearer(c)]),
        (
            404,
            "not_found",
            "No route matches /v1/sessions/. (This 404 is emulator-specific: the "
            "API does not document its answer to unknown paths.)",
        ),
    ),
    "upper-case path": (
        lambda c: request("POST", "/V1/SESSIONS", [bearer(c)]),
        (
            404,
            "not_found",
            "No route matches /V1/SESSIONS. (This 404 is emulator-specific: the "
            "API does not document its answer to unknown paths.)",
        ),
    ),
    "empty session id": (
        lambda c: request("POST", "/v1/sessions//messages", [bearer(c)]),
        (
            404,
            "not_found",
            "No route matches /v1/sessions//messages. (This 404 is "
            "emulator-specific: the API does not document its answer to "
            "unknown paths.)",
        ),
    ),
    "message: invalid JSON": (message("application/json", b'{"message": '), NOT_JSON),
    "message: not UTF-8": (
        message("application/json", b'{"message": "\xff"}'),
        NOT_JSON,
    ),
    "message: JSON nested 100000 deep": (
        message("application/json", b"[" * 100_000 + b"]" * 100_000),
        NOT_JSON,
    ),
    "message: JSON array": (message("application/json", b'["hi"]'), NOT_OBJECT),
    "message: text/plain": (
        message("text/plain", b'{"message": "hi"}'),
        (
            400,
            "invalid_body",
            "The request body must be JSON sent with Content-Type: "
            "application/json; got text/plain. (Checking the content type is "
            "emulator-specific.)",
        ),
    ),
    "message: form-encoded": (
        message("application/x-www-form-urlencoded", b"message=hi"),
        (
            400,
            "invalid_body",
            "The request body must be JSON sent with Content-Type: "
            "application/json; got application/x-www-form-urlencoded. (Checking "
            "the content type is emulator-specific.)",
        ),
    ),
    "message: no content type": (
        message(None, b'{"message": "hi"}'),
        (
            400,
            "invalid_body",
            "The request body must be JSON sent with Content-Type: "
            "application/json; got none. (Checking the content type is "
            "emulator-specific.)",
        ),
    ),
    "message: empty object": (message("application/json", b"{}"), MISSING_MESSAGE),
    "message: number as message": (
        message("application/json", b'{"message": 5}'),
        MISSING_MESSAGE,
    ),
    "message: empty body": (message("application/json", b""), NOT_JSON),
    "message: unknown session": (
        message("application/json", b'{"message": "hi"}', session="nope"),
        (
            404,
            "session_not_found",
            "No active session nope in this project: it is unknown, expired or "
            "another project's. (This 404 is emulator-specific.)",
        ),
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused__with_the_error_envelope(
    served: Served, ctx: Context, case: str
) -> None:
    build, expected = REFUSED[case]

    answer = send(served, build(ctx))

    assert answer.envelope() == expected
    assert answer.headers["content-type"] == "application/json"


WRONG_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


@pytest.mark.parametrize("method", WRONG_METHODS)
def test_wrong_method_on_create__is_405_with_allow(
    served: Served, ctx: Context, method: str
) -> None:
    answer = send(served, request(method, "/v1/sessions", [bearer(ctx)]))

    assert answer.envelope() == (
        405,
        "method_not_allowed",
        f"{method} is not allowed on /v1/sessions; use POST. (This 405 is "
        "emulator-specific.)",
    )
    assert answer.headers["allow"] == "POST"


def test_head_on_create__is_405_without_a_body(served: Served, ctx: Context) -> None:
    raw = request("HEAD", "/v1/sessions", [bearer(ctx)])
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        answer = read_answer(sock, head=True)

    assert (answer.status, answer.headers["allow"], answer.body) == (405, "POST", b"")


def test_get_on_messages__is_405(served: Served, ctx: Context) -> None:
    path = f"/v1/sessions/{ctx.session}/messages"
    answer = send(served, request("GET", path, [bearer(ctx)]))

    assert answer.envelope() == (
        405,
        "method_not_allowed",
        f"GET is not allowed on {path}; use POST. (This 405 is emulator-specific.)",
    )


ACCEPTED = {
    "oddly cased header name": lambda c: ("aUtHoRiZaTiOn", f"Bearer {c.key}"),
    "oddly cased scheme": lambda c: ("Authorization", f"bEaReR {c.key}"),
    "extra whitespace around the key": lambda c: (
        "Authorization",
        f"Bearer   {c.key}  ",
    ),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_accepted__header_quirks_that_http_allows(
    served: Served, ctx: Context, case: str
) -> None:
    answer = send(served, request("POST", "/v1/sessions", [ACCEPTED[case](ctx)]))

    assert answer.status == 201
    assert CREATED.fullmatch(answer.body), answer.body


@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/sessions/{session}/messages"])
def test_10_mb_body__is_413_and_the_connection_stays_usable(
    served: Served, ctx: Context, path: str
) -> None:
    headers = {"Authorization": f"Bearer {ctx.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=served.base_url, timeout=TIMEOUT) as http:
        answer = http.post(
            path.format(session=ctx.session), headers=headers, content=b"x" * 10_000_000
        )
        again = http.get("/_emulator/state")

    assert (answer.status_code, answer.json()) == (
        413,
        {"error": {"code": TOO_LARGE[1], "message": TOO_LARGE[2]}},
    )
    assert again.status_code == 200


def test_chunked_2_mb_body__is_413(served: Served, ctx: Context) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(32):
            yield b'{"message": "' + b"y" * 65_536

    headers = {"Authorization": f"Bearer {ctx.key}", "Content-Type": "application/json"}
    answer = httpx.post(
        f"{served.base_url}/v1/sessions/{ctx.session}/messages",
        headers=headers,
        content=chunks(),
        timeout=TIMEOUT,
    )

    assert (answer.status_code, answer.json()["error"]["code"]) == (
        413,
        "body_too_large",
    )


def test_slow_client__dribbling_a_request_gets_its_answer(
    served: Served, ctx: Context
) -> None:
    raw = message("application/json", b'{"message": "slowly"}')(ctx)

    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        # Well under the body timeout between pieces, but slow overall.
        for start in range(0, len(raw), 16):
            sock.sendall(raw[start : start + 16])
            time.sleep(0.02)
        answer = read_answer(sock)

    assert (answer.status, json.loads(answer.body)["object"]) == (
        200,
        "session.message",
    )


def test_stalled_body__gets_408_and_the_connection_closes(
    served: Served, ctx: Context
) -> None:
    raw = message("application/json", b'{"message": "never finished"}')(ctx)

    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw[:-10])
        started = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - started
        closed = sock.recv(1) == b""

    assert answer.envelope() == (
        408,
        "request_timeout",
        f"The request body stalled for {BODY_TIMEOUT:g} seconds. (This timeout "
        "is emulator-specific.)",
    )
    assert (answer.headers["connection"], closed) == ("close", True)
    assert waited < TIMEOUT


def test_stalled_headers__do_not_hold_up_other_clients(
    served: Served, ctx: Context
) -> None:
    raw = request("POST", "/v1/sessions", [bearer(ctx)])
    head, tail = raw[:20], raw[20:]

    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as slow:
        slow.sendall(head)
        others = [send(served, request("GET", "/_emulator/state")) for _ in range(3)]
        slow.sendall(tail)
        answer = read_answer(slow)

    assert [o.status for o in others] == [200, 200, 200]
    assert (answer.status, bool(CREATED.fullmatch(answer.body))) == (201, True)


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"BREW /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    ],
    ids=[
        "not HTTP",
        "unknown method",
        "space in a header name",
        "negative length",
        "NUL in a header",
    ],
)
def test_unparsable_http__gets_400_in_the_envelope_and_a_close(
    served: Served, raw: bytes
) -> None:
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        answer = read_answer(sock)
        closed = sock.recv(1) == b""

    assert answer.envelope() == (
        400,
        "malformed_request",
        "The request is not valid HTTP/1.1 and was not read. (This answer is "
        "emulator-specific.)",
    )
    assert (answer.headers["connection"], closed) == ("close", True)


def test_100_kb_of_headers__still_gets_the_envelope(
    served: Served, ctx: Context
) -> None:
    # The HTTP parser (httptools) sets no header-size limit, so a huge header
    # reaches the emulator, which answers it like any other request.
    raw = request("POST", "/v1/sessions", [("X-Padding", "p" * 100_000)])

    assert send(served, raw).envelope() == INVALID_KEY
