"""The client: create sessions against a target and record every exchange.

What an answer means (a session, a message, which error) is read in
:mod:`stewrd_lab._answers`; this module sends and records.

The work of one exchange is split in three so that a sync and an async client
can share it: :meth:`Client._prepare` builds the request, the caller sends it,
and :meth:`Client._finish` turns the answer (or the failure) into a result or
an error of the :mod:`stewrd_lab._errors` tree, recording one row either way.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar
from urllib.parse import quote, unquote

import httpx

from stewrd_lab._answers import (
    Message,
    Session,
    Target,
    api_error,
    parse_message,
    parse_session,
    scrub,
    transport_error,
)
from stewrd_lab._emulator import Emulator
from stewrd_lab._errors import (
    APIError,
    StewrdError,
    TransportError,
    UsageError,
)
from stewrd_lab._keys import (
    EMULATOR_KEY_PREFIX,
    KEY_PATTERN,
    redact_key,
    split_authorization,
)
from stewrd_lab._recording import Exchange, Recorder
from stewrd_lab._remote import RemoteEmulator
from stewrd_lab._retry import RetryPolicy, _Plan
from stewrd_lab._spec import NO_ANSWER, check_response
from stewrd_lab._transport import EmulatorTransport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_BASE_URL", "Client", "Message", "Session", "Target"]

logger = logging.getLogger("stewrd_lab")

DEFAULT_BASE_URL: Final = "https://api.stewrd.dev"
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

# The embedded emulator answers at this host; the .invalid TLD (RFC 2606)
# guarantees that a request leaking past the transport could not resolve.
_EMBEDDED_URL: Final = "http://emulator.invalid"


T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()

# Why a request is refused before it is sent (each raised as a UsageError).
_CLOSED: Final = (
    "This client is closed (a `with` block around it has ended, or close() "
    "was called); make a new Client to send more requests."
)
_UNSENDABLE: Final = (
    "The Authorization header holds characters HTTP cannot carry (only "
    "printable ASCII can be sent); copy the key again from the Stewrd "
    "dashboard."
)
_UNENCODABLE: Final = (
    "The message holds characters that cannot be encoded as UTF-8 (such as "
    "a lone surrogate); send ordinary text."
)
_SPACED: Final = (
    "The Authorization header starts or ends with a space, which HTTP does "
    "not allow; remove the spaces around the key."
)


class Client:
    """Create Stewrd sessions and record every exchange.

    With no ``base_url`` (and no ``STEWRD_BASE_URL`` in the environment) the
    client talks to an embedded :class:`Emulator`, in-process: nothing leaves
    the machine, and without an ``api_key`` it uses the key of the emulator's
    Scale project. Given a base URL, it sends ``api_key`` or, failing that,
    ``STEWRD_API_KEY``; the environment key is read only then, so a live key
    in the environment is never sent to an emulator by surprise.

    ``retry`` says how ``rate_limited`` answers are retried (a
    :class:`~stewrd_lab.RetryPolicy`; ``True`` for the default, ``False`` for
    none); no other failure is retried. ``history_file`` also appends every
    exchange to a JSON Lines file (see :func:`stewrd_lab.load_history`).

    >>> client = Client()
    >>> client.create_session().object
    'session'
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        emulator: Emulator | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        recorder: Recorder | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | bool = True,
        history_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if emulator is None:
            # The environment picks the target only when the caller did not:
            # an explicit emulator always means the embedded one.
            base_url = base_url or os.environ.get("STEWRD_BASE_URL") or None
        if base_url is not None and emulator is not None:
            raise UsageError(
                "Pass either base_url (a served or live target) or emulator "
                "(the embedded one), not both."
            )
        if recorder is not None and history_file is not None:
            raise UsageError(
                "Pass either recorder or history_file, not both; a recorder "
                "writes a file when made as Recorder(path=...)."
            )

        # The embedded Emulator, or for a served one a remote control with
        # the same method names (see RemoteEmulator); None for the live API.
        self.emulator: Emulator | RemoteEmulator | None = None
        if base_url is None:
            self.emulator = emulator or Emulator()
            api_key = api_key if api_key is not None else self.emulator.key_for("scale")
            transport = transport or EmulatorTransport(self.emulator)
            self.target = Target("embedded emulator", _EMBEDDED_URL)
        else:
            api_key = (
                api_key if api_key is not None else os.environ.get("STEWRD_API_KEY")
            )
            self.target = _remote_target(base_url, api_key)

        if api_key is not None and not isinstance(api_key, str):
            raise UsageError(
                f"api_key must be a str (or None); got {type(api_key).__name__}."
            )
        self._api_key = api_key or None
        if recorder is None:
            recorder = Recorder(history_file) if history_file else Recorder()
        self.recorder = recorder
        if isinstance(retry, bool):
            retry = RetryPolicy() if retry else RetryPolicy.off()
        if not isinstance(retry, RetryPolicy):
            raise UsageError(
                "retry must be True, False or a stewrd_lab.RetryPolicy; "
                f"got {type(retry).__name__}."
            )
        self.retry = retry
        _check_timeout(timeout)
        self._http = httpx.Client(
            base_url=self.target.base_url, timeout=timeout, transport=transport
        )
        if self.target.kind == "served emulator":
            self.emulator = RemoteEmulator(self._http, self.target.base_url)

    # -- public API ----------------------------------------------------------

    def create_session(
        self,
        *,
        api_key: str | _Unset | None = _UNSET,
        authorization: str | _Unset | None = _UNSET,
    ) -> Session:
        """Create a session, or raise an error from the ``StewrdError`` tree.

        By default the client's key is sent as ``Authorization: Bearer <key>``.
        For exploring, ``api_key`` sends another key for this call only, and
        ``authorization`` sends exactly the given header value (``None``: no
        header at all).
        """
        header = self._authorization(api_key, authorization)
        return self._exchange("POST", "/v1/sessions", header, None, parse_session)

    def send_message(
        self,
        session_id: str,
        message: str,
        *,
        api_key: str | _Unset | None = _UNSET,
        authorization: str | _Unset | None = _UNSET,
    ) -> Message:
        """Send ``message`` into a session and return the answer.

        Raises an error of the ``StewrdError`` tree as :meth:`create_session`
        does; an emulator answers an unknown or expired session with
        :class:`SessionNotFoundError` (the API does not document that case).
        ``api_key`` and ``authorization`` work as for :meth:`create_session`.
        """
        header = self._authorization(api_key, authorization)
        path, body = self._message_request(session_id, message, header)
        return self._exchange("POST", path, header, body, parse_message)

    def _message_request(
        self, session_id: str, message: str, header: str | None
    ) -> tuple[str, dict[str, str]]:
        """The path and body of a message, or a recorded :class:`UsageError`."""
        path = f"/v1/sessions/{quote(str(session_id), safe='')}/messages"
        if not isinstance(session_id, str) or not session_id:
            error = UsageError(
                f"The session id must be a non-empty str; got {session_id!r}. "
                "Use the id of a session from create_session()."
            )
            self._record("POST", path, header, perf_counter(), error=error)
            raise error
        if not isinstance(message, str):
            error = UsageError(
                f"The message must be a str, not {type(message).__name__}; "
                "send text such as 'Summarise the last report'."
            )
            self._record("POST", path, header, perf_counter(), error=error)
            raise error
        return path, {"message": message}

    def _exchange(
        self,
        method: str,
        path: str,
        header: str | None,
        body: Any,
        parse: Callable[[httpx.Response, str], T],
    ) -> T:
        # Only rate_limited is retried; see stewrd_lab._retry for why.
        for attempt in self._retry_plan().retrying():
            with attempt:
                number = attempt.retry_state.attempt_number
                started, request = self._prepare(method, path, header, body)
                try:
                    response: httpx.Response | Exception = self._http.send(request)
                except (httpx.HTTPError, OSError) as exc:
                    response = exc
                return self._finish(request, header, started, response, parse, number)
        raise AssertionError("the retry loop ends by returning or raising")

    def history(self) -> pd.DataFrame:
        """Every exchange so far, one row each, as a DataFrame."""
        return self.recorder.frame()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.target.kind} key={redact_key(self._api_key)}>"

    # -- one exchange, in steps ------------------------------------------------

    def _retry_plan(self) -> _Plan:
        return _Plan(self.retry, self._now, self._embedded)

    def _authorization(
        self, api_key: str | _Unset | None, authorization: str | _Unset | None
    ) -> str | None:
        if api_key is _UNSET and authorization is _UNSET:
            # The usual call: the client's own key, checked when it was given.
            key = self._api_key
            return f"Bearer {key}" if key else None

        for name, value in (("api_key", api_key), ("authorization", authorization)):
            if not isinstance(value, str | _Unset | None):
                raise UsageError(
                    f"{name} must be a str (or None); got {type(value).__name__}."
                )
        if not isinstance(authorization, _Unset):
            return authorization
        key = self._api_key if isinstance(api_key, _Unset) else api_key
        return f"Bearer {key}" if key else None

    def _prepare(
        self, method: str, path: str, authorization: str | None, body: Any = None
    ) -> tuple[float, httpx.Request]:
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        started = perf_counter()

        if self._http.is_closed:
            self._refuse(method, path, authorization, started, _CLOSED)
        if not _is_sendable(authorization):
            self._refuse(method, path, authorization, started, _UNSENDABLE)
        try:
            url = _absolute(self.target.base_url, path)
            request = self._http.build_request(method, url, headers=headers, json=body)
        except UnicodeEncodeError:
            self._refuse(method, path, authorization, started, _UNENCODABLE)

        # HTTP forbids spaces around a header value; sent anyway, the HTTP
        # library would refuse it with an error (and a debug log) quoting the
        # whole header, key included.
        if authorization is not None and authorization != authorization.strip():
            self._refuse(method, path, authorization, started, _SPACED)
        return started, request

    def _refuse(
        self,
        method: str,
        path: str,
        authorization: str | None,
        started: float,
        why: str,
    ) -> NoReturn:
        """Record a request refused before sending, and raise its UsageError."""
        error = UsageError(why)
        self._record(method, path, authorization, started, error=error)
        raise error

    def _finish(
        self,
        request: httpx.Request,
        authorization: str | None,
        started: float,
        response: httpx.Response | Exception,
        parse: Callable[[httpx.Response, str], T],
        attempt: int = 1,
    ) -> T:
        method, path = request.method, request.url.path

        if isinstance(response, Exception):
            error: StewrdError = self._transport_error(response, request)
            self._record(
                method, path, authorization, started, error=error, attempt=attempt
            )
            raise error from None

        try:
            if response.is_success:
                result = parse(response, self.target.label)
            else:
                raise api_error(response, self.target, authorization)
        except APIError as exc:
            self._record(
                method, path, authorization, started, response, exc, attempt=attempt
            )
            raise

        self._record(
            method,
            path,
            authorization,
            started,
            response,
            result=result,
            attempt=attempt,
        )
        return result

    def _transport_error(
        self, exc: Exception, request: httpx.Request
    ) -> TransportError:
        timeout = self._http.timeout
        return transport_error(exc, request, self.target, timeout)

    def _record(
        self,
        method: str,
        path: str,
        authorization: str | None,
        started: float,
        response: httpx.Response | None = None,
        error: StewrdError | None = None,
        result: Any = None,
        attempt: int = 1,
    ) -> None:
        elapsed_ms = (perf_counter() - started) * 1000
        scheme, credential = split_authorization(authorization)

        # Every answer is checked against the seed OpenAPI document as it is
        # recorded (a few microseconds; see stewrd_lab._spec).
        verdict = NO_ANSWER
        if response is not None:
            verdict = check_response(
                method,
                path,
                response.status_code,
                response.headers.get("content-type"),
                response.content,
            )

        code = message = None
        if isinstance(error, APIError):
            code, message = error.code, error.message
        elif error is not None:
            message = str(error)

        # Positional, in COLUMNS order: fifteen keywords cost a microsecond
        # more per request (the tests compare whole frames, so order holds).
        record = Exchange(
            self._now(),  # time
            self.target.label,  # target
            method,
            path,
            attempt,
            scheme,
            redact_key(credential),  # key
            None if response is None else response.status_code,  # status
            code,
            message or "",
            _session_id(result, path),  # session_id
            elapsed_ms,
            type(error).__name__ if error is not None else "",  # error
            *verdict,  # conforms, violation
        )
        self.recorder.add(record)

        # Asked first, as the arguments alone cost more than a disabled log.
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s -> %s %s (%s, %.1f ms)",
                method,
                path,
                record.status if record.status is not None else "no answer",
                record.code or record.error or "ok",
                record.target,
                elapsed_ms,
            )

    @property
    def _embedded(self) -> Emulator | None:
        """The in-process emulator, if that is the target (not a served one)."""
        return self.emulator if isinstance(self.emulator, Emulator) else None

    def _now(self) -> datetime:
        if isinstance(self.emulator, Emulator):
            return self.emulator.clock.now()
        return datetime.now(UTC)


def _remote_target(base_url: str, api_key: str | None) -> Target:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(
            f"The base URL must be an http or https URL such as "
            f"{DEFAULT_BASE_URL}; got {scrub(base_url)!r}."
        )
    if url.userinfo or KEY_PATTERN.search(base_url):
        # Said without the URL: the part that is wrong may be the key itself.
        raise UsageError(
            "The base URL must not hold a user name, password or key; pass "
            "the key as api_key or STEWRD_API_KEY instead."
        )
    if url.query or url.fragment:
        # Paths are appended to the base URL: after a query they would land
        # inside it.
        raise UsageError(
            "The base URL must not have a query (?...) or fragment (#...); "
            f"use the API's address alone, such as {DEFAULT_BASE_URL}."
        )

    clean = str(url).rstrip("/")
    if api_key and api_key.startswith(EMULATOR_KEY_PREFIX):
        return Target("served emulator", clean)
    return Target("live API", clean)


@functools.lru_cache(maxsize=256)
def _absolute(base_url: str, path: str) -> httpx.URL:
    """The request URL, parsed once per path rather than on every request.

    httpx would otherwise parse the relative path and merge it with the base
    URL each time, the largest single cost of an in-process request. The
    result is the same: ``base_url`` has no trailing slash (see
    ``_remote_target``) and every path starts with one.
    """
    return httpx.URL(base_url + path)


def _check_timeout(timeout: object) -> None:
    if isinstance(timeout, httpx.Timeout) or timeout is None:
        return
    if (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and 0 < timeout < float("inf")
    ):
        return
    raise UsageError(
        "timeout must be a number of seconds > 0, an httpx.Timeout, or None "
        f"for no limit; got {timeout!r}."
    )


def _is_sendable(header: str | None) -> bool:
    # Printable ASCII is exactly " " to "~"; the str methods test it in C,
    # which matters on the recording path (a Python loop cost microseconds).
    return header is None or (header.isascii() and header.isprintable())


def _session_id(result: Any, path: str) -> str | None:
    if isinstance(result, Session):
        return result.id
    if isinstance(result, Message):
        return scrub(result.session_id)

    # A refused message still names its session, in the path.
    parts = path.split("/")
    if len(parts) == 5 and parts[4] == "messages":
        return scrub(unquote(parts[3])) or None
    return None
