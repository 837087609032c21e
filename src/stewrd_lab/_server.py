"""The emulator served over real HTTP: an ASGI app run by uvicorn.

Every request goes to :meth:`Emulator.handle`, the function the in-process
transport calls, so a served emulator answers curl exactly as an embedded one
answers Python. This module only moves bytes: it reads the body (bounded in
size and time), hands it over, and writes the reply.

What the server adds, all [emulator-specific]:

- A body is read until ``Rules.max_body + 1`` bytes (the emulator then
  answers 413 ``body_too_large``); uvicorn discards the rest unread.
- A body that stalls for ``body_timeout`` seconds gets 408
  ``request_timeout`` and the connection is closed.
- A request uvicorn cannot parse as HTTP gets 400 ``malformed_request`` in
  the error envelope (uvicorn would answer in plain text), and the
  connection is closed.
- A crash inside the app answers 500 ``internal_error`` in the envelope
  (starlette's ``ServerErrorMiddleware``, the app's one layer), with
  ``Connection: close``: the connection is closed after it.

Limits: one process holds the state, so run one worker (several would each
have their own projects and sessions). Headers are not bounded in size by
the HTTP parser used here (httptools); a request's headers wait as long as
the client takes to send them, without holding up other connections.

starlette and uvicorn come with the ``server`` extra and are imported only
by this module, which ``import stewrd_lab`` does not load.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stewrd_lab._emulator import Emulator

__all__ = ["DEFAULT_BODY_TIMEOUT", "EmulatorServer", "create_app", "make_server"]

DEFAULT_BODY_TIMEOUT = 10.0
"""Seconds a request body may stall before the server gives up on it."""

_ENVELOPE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-stewrd-emulator", b"1"),
]


def create_app(
    emulator: Emulator, *, body_timeout: float = DEFAULT_BODY_TIMEOUT
) -> ASGIApp:
    """Return the ASGI app that serves ``emulator`` (see the module docstring)."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
        ]
        body = await _read_body(
            receive, emulator.rules.max_body, body_timeout, _declares_body(headers)
        )
        if body is None:
            # The client went away mid-body: nobody is left to answer.
            return
        if isinstance(body, TimeoutError):
            status = 408
            answer = [*_ENVELOPE_HEADERS, (b"connection", b"close")]
            content = _envelope(
                "request_timeout",
                f"The request body stalled for {body_timeout:g} seconds. (This "
                "timeout is emulator-specific.)",
            )
        else:
            reply = emulator.handle(scope["method"], scope["path"], headers, body)
            status, content = reply.status, reply.body
            answer = [_encoded(pair) for pair in reply.headers]

        answer.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": content})

    async def crashed(request: Request, exc: Exception) -> Response:
        content = _envelope(
            "internal_error",
            "The emulator failed on this request; this is a bug in stewrd-lab. "
            "(This 500 is emulator-specific.)",
        )
        # uvicorn closes the connection after a crash; saying so lets a
        # keep-alive client open a new one instead of failing on this one.
        return Response(
            content,
            500,
            headers={"x-stewrd-emulator": "1", "connection": "close"},
            media_type="application/json",
        )

    # The emulator routes every path itself, so that the in-process
    # transport routes alike; a Starlette application would add a router
    # and an exception layer with nothing to do, at about a tenth of the
    # throughput. Starlette's outermost layer alone turns a crash into 500.
    return ServerErrorMiddleware(endpoint, handler=crashed)


def make_server(
    emulator: Emulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    access_log: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> EmulatorServer:
    """Return a uvicorn server for ``emulator``; call ``.run()`` to serve.

    ``port=0`` takes a free port. Once the socket listens, ``on_ready`` is
    called with the base URL (such as ``http://127.0.0.1:8000``). ``run()``
    returns after SIGINT or SIGTERM (when run in the main thread) or once
    ``server.should_exit`` is set.
    """
    config = uvicorn.Config(
        create_app(emulator, body_timeout=body_timeout),
        host=host,
        port=port,
        http=_EnvelopeHTTPProtocol,
        lifespan="off",
        ws="none",
        access_log=access_log,
        log_level="info" if access_log else "warning",
        server_header=False,
        # Nothing stands in front of it, so no X-Forwarded-* is trusted.
        proxy_headers=False,
    )
    return EmulatorServer(config, on_ready)


class EmulatorServer(uvicorn.Server):
    """A uvicorn server that knows its base URL (``base_url``) once started."""

    def __init__(
        self, config: uvicorn.Config, on_ready: Callable[[str], None] | None
    ) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self.base_url = ""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return

        host, port = self.servers[0].sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{host}:{port}"
        if self._on_ready is not None:
            self._on_ready(self.base_url)


def _protocol_base() -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is in the server extra
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


class _EnvelopeHTTPProtocol(_protocol_base()):  # type: ignore[misc]
    """uvicorn's HTTP protocol, answering unparsable requests in the envelope."""

    def send_400_response(self, msg: str) -> None:
        content = _envelope(
            "malformed_request",
            "The request is not valid HTTP/1.1 and was not read. (This answer "
            "is emulator-specific.)",
        )
        head = [b"HTTP/1.1 400 Bad Request"]
        head += [k + b": " + v for k, v in _ENVELOPE_HEADERS]
        head += [b"content-length: " + str(len(content)).encode(), b"connection: close"]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + content)
        self.transport.close()


def _declares_body(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        name = name.lower()
        if name == "transfer-encoding" or (name == "content-length" and value != "0"):
            return True
    return False


async def _read_body(
    receive: Receive, limit: int, timeout: float, declared: bool
) -> bytes | TimeoutError | None:
    """Read at most ``limit + 1`` bytes of the body; ``None`` on disconnect.

    Without a declared body the request is complete already, so the one
    ``receive`` returns at once and the timeout (costly per request) is skipped.
    """
    if not declared:
        message = await receive()
        return None if message["type"] == "http.disconnect" else b""

    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= limit:
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError as exc:
            return exc
        if message["type"] == "http.disconnect":
            return None

        chunk = message.get("body", b"")
        chunks.append(chunk[: limit + 1 - size])
        size += len(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


@functools.lru_cache(maxsize=256)
def _encoded(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    # Replies repeat the same few headers; encoding each once saves time.
    return pair[0].encode("latin-1"), pair[1].encode("latin-1")


def _envelope(code: str, message: str) -> bytes:
    payload = {"error": {"code": code, "message": message}}
    return json.dumps(payload, separators=(",", ":")).encode()
