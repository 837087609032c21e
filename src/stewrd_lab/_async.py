"""The async client: many creates at once, with a bound on how many.

:class:`AsyncClient` sends with ``httpx.AsyncClient`` but builds, judges and
records each exchange with the steps of a :class:`~stewrd_lab.Client` it
wraps (``_prepare``, ``_finish``, the retry plan), so both clients give the
same rows, errors and retries.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from stewrd_lab._answers import (
    Message,
    Session,
    Target,
    parse_message,
    parse_session,
)
from stewrd_lab._client import _CLOSED, _UNSET, DEFAULT_TIMEOUT, Client, _Unset
from stewrd_lab._errors import StewrdError, UsageError
from stewrd_lab._keys import redact_key
from stewrd_lab._transport import EmulatorTransport

if TYPE_CHECKING:
    import pandas as pd

    from stewrd_lab._emulator import Emulator
    from stewrd_lab._recording import Recorder
    from stewrd_lab._remote import RemoteEmulator
    from stewrd_lab._retry import RetryPolicy

__all__ = ["DEFAULT_CONCURRENCY", "AsyncClient"]

DEFAULT_CONCURRENCY = 4

T = TypeVar("T")


class AsyncClient:
    """Create sessions concurrently; at most ``concurrency`` requests in flight.

    Takes the arguments of :class:`~stewrd_lab.Client`, chooses its target the
    same way, and records into the same kind of history. ``transport`` must be
    an async httpx transport. Use it with ``async with``, or call
    :meth:`aclose`. A retry's wait holds its slot, so waiting requests count
    toward ``concurrency``.

    Limit: the embedded emulator answers in-process without ever suspending,
    so there concurrent creates reach it one after another, and their retry
    waits advance its clock in turn rather than side by side. Over HTTP (a
    served emulator, the live API) they truly overlap.

    >>> import asyncio
    >>> async def three():
    ...     async with AsyncClient() as client:
    ...         return await client.create_sessions(3)
    >>> [s.status for s in asyncio.run(three())]
    ['active', 'active', 'active']
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        emulator: Emulator | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        recorder: Recorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | bool = True,
        history_file: str | os.PathLike[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        core = Client(
            api_key,
            base_url=base_url,
            emulator=emulator,
            timeout=timeout,
            recorder=recorder,
            retry=retry,
            history_file=history_file,
        )
        self._setup(core, transport, concurrency)
        self._owns_core = True

    @classmethod
    def from_client(
        cls,
        client: Client,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> AsyncClient:
        """An async twin of ``client``: same target, key, retries and history."""
        twin = cls.__new__(cls)
        twin._setup(client, transport, concurrency)
        twin._owns_core = False
        return twin

    def _setup(
        self,
        core: Client,
        transport: httpx.AsyncBaseTransport | None,
        concurrency: int,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(
                f"concurrency must be a whole number >= 1; got {concurrency!r}."
            )
        if transport is None and core._embedded is not None:
            transport = EmulatorTransport(core._embedded)

        self._core = core
        self._transport = transport
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._http = httpx.AsyncClient(
            base_url=core.target.base_url,
            timeout=core._http.timeout,
            transport=transport,
        )

    # -- what the sync client has too ------------------------------------------

    @property
    def target(self) -> Target:
        return self._core.target

    @property
    def emulator(self) -> Emulator | RemoteEmulator | None:
        return self._core.emulator

    @property
    def recorder(self) -> Recorder:
        return self._core.recorder

    @property
    def client(self) -> Client:
        """The sync client whose steps, key and history this one shares."""
        return self._core

    def history(self) -> pd.DataFrame:
        """Every exchange so far, one row each, as a DataFrame."""
        return self._core.history()

    # -- creating ----------------------------------------------------------------

    async def create_session(
        self,
        *,
        api_key: str | _Unset | None = _UNSET,
        authorization: str | _Unset | None = _UNSET,
    ) -> Session:
        """Create a session, or raise an error from the ``StewrdError`` tree.

        Takes the same arguments as :meth:`stewrd_lab.Client.create_session`.
        """
        header = self._core._authorization(api_key, authorization)
        return await self._exchange("POST", "/v1/sessions", header, None, parse_session)

    async def send_message(
        self,
        session_id: str,
        message: str,
        *,
        api_key: str | _Unset | None = _UNSET,
        authorization: str | _Unset | None = _UNSET,
    ) -> Message:
        """Send ``message`` into a session and return the answer.

        Takes the same arguments as :meth:`stewrd_lab.Client.send_message`.
        """
        core = self._core
        header = core._authorization(api_key, authorization)
        path, body = core._message_request(session_id, message, header)
        return await self._exchange("POST", path, header, body, parse_message)

    async def _exchange(
        self,
        method: str,
        path: str,
        header: str | None,
        body: Any,
        parse: Callable[[httpx.Response, str], T],
    ) -> T:
        core = self._core
        if self._http.is_closed:
            core._refuse(method, path, header, perf_counter(), _CLOSED)
        async with self._slots:
            async for attempt in core._retry_plan().async_retrying():
                with attempt:
                    number = attempt.retry_state.attempt_number
                    started, request = core._prepare(method, path, header, body)
                    try:
                        response: httpx.Response | Exception = await self._http.send(
                            request
                        )
                    except (httpx.HTTPError, OSError) as exc:
                        response = exc
                    return core._finish(
                        request, header, started, response, parse, number
                    )
        raise AssertionError("the retry loop ends by returning or raising")

    async def create_sessions(self, count: int) -> list[Session | StewrdError]:
        """Send ``count`` creates at once, ``concurrency`` at a time.

        Returns one outcome per create, in order: the :class:`Session`, or the
        error it raised (already recorded in the history). Nothing is raised
        for a refused create, so one failure does not hide the others.
        """
        if not isinstance(count, int) or count < 0:
            raise UsageError(f"count must be a whole number >= 0; got {count!r}.")
        return list(await asyncio.gather(*(self._outcome() for _ in range(count))))

    async def _outcome(self) -> Session | StewrdError:
        try:
            return await self.create_session()
        except StewrdError as error:
            return error

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._owns_core:
            self._core.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<AsyncClient {self.target.kind} key={redact_key(self._core._api_key)} "
            f"concurrency={self.concurrency}>"
        )
