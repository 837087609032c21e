"""A raw ASGI app that misbehaves on purpose, for the client's failure tests.

The first path segment picks the behaviour; the client's base URL includes
it, so ``Client(base_url=f"{url}/html502")`` posts to
``/html502/v1/sessions``:

- ``/ok``: 201 with a session, like the API.
- ``/html502``, ``/html503``: a proxy's HTML error page.
- ``/echo502``: a proxy page that quotes the request's Authorization header.
- ``/echo201``: 201 with JSON that is not a session and quotes that header.
- ``/echoerror``: a 403 ``plan_restricted`` envelope whose message quotes it.
- ``/truncated``: 201 with JSON cut off mid-object (a complete HTTP answer).
- ``/cut``: announces 200 body bytes, sends 20, and drops the connection.
- ``/notsession``: 201 with JSON that is not a session.
- ``/slow``: answers after two seconds.
- ``/error/<status>/<code>``: the documented error envelope.
- ``/flaky/<token>/<n>``: ``rate_limited`` for the first ``n`` requests of
  ``token`` (``Retry-After: 0``), then 201.
- ``/flakydate/<token>/<n>``: the same with an HTTP-date ``Retry-After``.
- ``/live/<project>``: an emulator standing in for the live API; a bearer
  token in ``LIVE_KEYS`` is swapped for the key of that emulator project.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

from stewrd_lab import Emulator

Scope = dict[str, Any]

HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    b"</body></html>"
)
HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><center><h1>503 Service Temporarily Unavailable</h1></center>"
    b"</body></html>"
)
TRUNCATED = b'{"id": "6f1c2b9e-1b7a-4c55-9d1e-2f0c8a4b7d31", "obj'

EMULATOR = Emulator(seed=7)
LIVE_KEYS: set[str] = set()
_seen: Counter[str] = Counter()


async def app(scope: Scope, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    parts = scope["path"].strip("/").split("/")
    mode = parts[0]
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]

    if mode == "ok":
        session = {"id": str(uuid.uuid4()), "object": "session", "status": "active"}
        await _reply(send, 201, "application/json", json.dumps(session).encode())
    elif mode in ("html502", "html503"):
        status, body = (502, HTML_502) if mode == "html502" else (503, HTML_503)
        await _reply(send, status, "text/html", body)
    elif mode == "echo502":
        auth = {k.lower(): v for k, v in headers}.get("authorization", "")
        body = f"<html><body>Bad gateway. You sent: {auth}</body></html>"
        await _reply(send, 502, "text/html", body.encode())
    elif mode == "echo201":
        auth = {k.lower(): v for k, v in headers}.get("authorization", "")
        await _reply(send, 201, "application/json", json.dumps({"you": auth}).encode())
    elif mode == "echoerror":
        auth = {k.lower(): v for k, v in headers}.get("authorization", "")
        body = {"error": {"code": "plan_restricted", "message": f"No for {auth}."}}
        await _reply(send, 403, "application/json", json.dumps(body).encode())
    elif mode == "truncated":
        await _reply(send, 201, "application/json", TRUNCATED)
    elif mode == "cut":
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"200"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": TRUNCATED[:20], "more_body": True}
        )
        # Returning now, short of the announced length, makes the server drop
        # the connection: the client sees a body that ends too early.
    elif mode == "notsession":
        await _reply(send, 201, "application/json", b'{"ok": true}')
    elif mode == "slow":
        await asyncio.sleep(2)
        await _reply(send, 201, "application/json", b"{}")
    elif mode == "error":
        status, code = int(parts[1]), parts[2]
        body = {"error": {"code": code, "message": f"Refused with {code}."}}
        await _reply(send, status, "application/json", json.dumps(body).encode())
    elif mode in ("flaky", "flakydate"):
        token, refusals = parts[1], int(parts[2])
        _seen[token] += 1
        if _seen[token] <= refusals:
            after = "0" if mode == "flaky" else "Thu, 01 Jan 2015 00:00:00 GMT"
            body = {"error": {"code": "rate_limited", "message": "Slow down."}}
            await _reply(
                send,
                429,
                "application/json",
                json.dumps(body).encode(),
                [(b"retry-after", after.encode())],
            )
        else:
            session = {"id": str(uuid.uuid4()), "object": "session", "status": "active"}
            await _reply(send, 201, "application/json", json.dumps(session).encode())
    elif mode == "live":
        project = parts[1]
        swapped = []
        for name, value in headers:
            token = value.partition(" ")[2]
            if name.lower() == "authorization" and token in LIVE_KEYS:
                value = f"Bearer {EMULATOR.key_for(project)}"
            swapped.append((name, value))
        reply = EMULATOR.handle("POST", "/v1/sessions", swapped, b"")
        raw = [(k.encode(), v.encode()) for k, v in reply.headers]
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": raw}
        )
        await send({"type": "http.response.body", "body": reply.body})
    else:
        await _reply(send, 404, "text/plain", b"no such mode")


async def _reply(
    send: Any,
    status: int,
    content_type: str,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type.encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
