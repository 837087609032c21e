"""An httpx transport that hands requests to an in-process :class:`Emulator`.

No socket is opened: the request goes straight to ``Emulator.handle``, the
same function the served emulator calls, so both answer alike.
"""

from __future__ import annotations

import httpx

from stewrd_lab._emulator import Emulator

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serve httpx requests, sync or async, from an :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return self._answer(request, body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return self._answer(request, body)

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
        ]
        reply = self.emulator.handle(request.method, request.url.path, headers, body)
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )

    def __repr__(self) -> str:
        return f"<EmulatorTransport {self.emulator!r}>"
