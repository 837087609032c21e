"""The client: create sessions against a target and record every exchange.

The work of one exchange is split in three so that a sync and an async client
can share it: :meth:`Client._prepare` builds the request, the caller sends it,
and :meth:`Client._finish` turns the answer (or the failure) into a result or
an error of the :mod:`stewrd_lab._errors` tree, recording one row either way.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, TypeVar
from urllib.parse import quote, unquote

import httpx

from stewrd_lab._emulator import Emulator
from stewrd_lab._errors import (
    APIError,
    BadRequestError,
    ConnectError,
    InsufficientCreditsError,
    InvalidAPIKeyError,
    PlanRestrictedError,
    RateLimitedError,
    RequestTimeoutError,
    SessionLimitReachedError,
    SessionNotFoundError,
    StewrdError,
    TransportError,
    UnexpectedResponseError,
    UsageError,
)
from stewrd_lab._keys import (
    EMULATOR_KEY_PREFIX,
    KEY_PATTERN,
    KEY_PREFIX,
    describe_key,
    redact_key,
    scrub_keys,
)
from stewrd_lab._recording import Exchange, Recorder
from stewrd_lab._remote import RemoteEmulator
from stewrd_lab._retry import RetryPolicy, _Plan
from stewrd_lab._spec import NO_ANSWER, Answer
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

# How much of an unexpected body an error message quotes.
_SNIPPET = 120

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


@dataclass(frozen=True)
class Target:
    """Where requests go: the embedded emulator, a served one, or the live API.

    ``kind`` is told apart the way test and live keys are: a served emulator
    is any base URL reached with an emulator key (``sk-stw_emu_...``).
    """

    kind: Literal["embedded emulator", "served emulator", "live API"]
    base_url: str

    @property
    def label(self) -> str:
        """The short name recorded in the history's ``target`` column."""
        return (
            "embedded emulator" if self.kind == "embedded emulator" else self.base_url
        )

    def __str__(self) -> str:
        if self.kind == "embedded emulator":
            return "embedded emulator (in-process, no network, no real sessions)"
        if self.kind == "served emulator":
            return f"served emulator at {self.base_url} (no real sessions)"
        return f"live API at {self.base_url} (real sessions, real requests)"


@dataclass(frozen=True)
class Session:
    """A session the API created."""

    id: str
    object: str = "session"
    status: str = "active"


@dataclass(frozen=True)
class Message:
    """The answer to a message sent into a session.

    The usage fields are ``None`` when the answer lacks them; older API pages
    name them ``requests_used`` and ``requests_limit``, read as well. From an
    emulator, ``reply`` is a fixed text labelled as emulated.
    """

    session_id: str
    reply: str
    capabilities_used: tuple[str, ...] = ()
    files: tuple[Any, ...] = ()
    credits_this_request: int | None = None
    credits_remaining: int | None = None
    tokens_used: int | None = None
    requests_used: int | None = None
    requests_limit: int | None = None
    duration_ms: int | None = None
    project_id: str | None = None
    plan: str | None = None
    object: str = "session.message"


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
        return self._exchange("POST", "/v1/sessions", header, None, _parse_session)

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
        return self._exchange("POST", path, header, body, _parse_message)

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
                raise _api_error(response, self.target, authorization)
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
        return _transport_error(exc, request, self.target, timeout)

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
        scheme, _, credential = (authorization or "").strip().partition(" ")
        if not credential and scheme:
            scheme, credential = "", scheme

        # The check against the seed document waits until the history is
        # read (see Recorder); only what it needs is kept until then.
        answer = None
        if response is not None:
            answer = Answer(
                method,
                path,
                response.status_code,
                response.headers,
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
            redact_key(credential.strip()),  # key
            None if response is None else response.status_code,  # status
            code,
            message or "",
            _session_id(result, path),  # session_id
            elapsed_ms,
            type(error).__name__ if error is not None else "",  # error
            None,  # conforms: checked when the history is read
            "" if answer is not None else NO_ANSWER.violation,  # violation
        )
        self.recorder.add(record, answer)

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
            f"{DEFAULT_BASE_URL}; got {_scrub(base_url)!r}."
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


def _where(target: Target) -> str:
    if target.kind == "embedded emulator":
        return "the embedded emulator"
    return f"the {target.kind} at {target.base_url}"


def _transport_error(
    exc: BaseException, request: httpx.Request, target: Target, timeout: httpx.Timeout
) -> TransportError:
    """Say in one sentence why no HTTP answer came back.

    The cause is read from the exception chain (httpx wraps httpcore, which
    wraps the socket or ssl error) rather than from platform-worded text.
    """
    where, label = _where(target), target.label
    url = request.url
    host = f"{url.host}:{url.port}" if url.port else url.host
    causes = _chain(exc)

    if isinstance(exc, httpx.ConnectTimeout):
        limit = "" if timeout.connect is None else f" within {timeout.connect:g} s"
        return RequestTimeoutError(
            f"Could not connect to {where}{limit}, so nothing was sent; check "
            "the network, or raise the client's timeout.",
            target=label,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(
            f"{_capital(where)} did not answer within the timeout "
            f"({type(exc).__name__}); the request may still have created a "
            "session, so check before sending it again, or raise the "
            "client's timeout.",
            target=label,
        )
    if any(isinstance(c, socket.gaierror) for c in causes):
        return ConnectError(
            f"The host name {url.host} of {where} does not resolve (DNS); "
            "check the base URL for a typo, and the network.",
            target=label,
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return ConnectError(
            f"Nothing accepts connections at {host}, the address of {where}; "
            "check the base URL, or start the server it names.",
            target=label,
        )
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return ConnectError(
            f"The TLS certificate of {host} could not be verified, so "
            f"nothing was sent to {where}; check the base URL's host name.",
            target=label,
        )
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return ConnectError(
            f"The TLS handshake with {host} failed, so nothing was sent to "
            f"{where}; if that server speaks plain HTTP, use http:// in the "
            "base URL.",
            target=label,
        )
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(
            f"Could not connect to {where}: {exc or type(exc).__name__}; "
            "check the base URL and the network.",
            target=label,
        )
    return TransportError(
        f"The connection to {where} broke before a complete answer arrived "
        f"({type(exc).__name__}); the request may still have created a "
        "session, so check before sending it again.",
        target=label,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    causes: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in causes:
        causes.append(current)
        current = current.__cause__ or current.__context__
    return causes


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_sendable(header: str | None) -> bool:
    # Printable ASCII is exactly " " to "~"; the str methods test it in C,
    # which matters on the recording path (a Python loop cost microseconds).
    return header is None or (header.isascii() and header.isprintable())


def _session_id(result: Any, path: str) -> str | None:
    if isinstance(result, Session):
        return result.id
    if isinstance(result, Message):
        return _scrub(result.session_id)

    # A refused message still names its session, in the path.
    parts = path.split("/")
    if len(parts) == 5 and parts[4] == "messages":
        return _scrub(unquote(parts[3])) or None
    return None


def _parse_message(response: httpx.Response, target: str) -> Message:
    payload = _json_or_none(response)
    if (
        isinstance(payload, dict)
        and payload.get("object") == "session.message"
        and isinstance(payload.get("session_id"), str)
        and isinstance(payload.get("message"), str)
    ):
        usage, meta = payload.get("usage"), payload.get("meta")
        usage = usage if isinstance(usage, dict) else {}
        meta = meta if isinstance(meta, dict) else {}
        return Message(
            session_id=payload["session_id"],
            reply=payload["message"],
            capabilities_used=tuple(payload.get("capabilities_used") or ()),
            files=tuple(payload.get("files") or ()),
            credits_this_request=_int_or_none(usage.get("credits_this_request")),
            credits_remaining=_int_or_none(usage.get("credits_remaining")),
            tokens_used=_int_or_none(usage.get("tokens_used")),
            requests_used=_int_or_none(usage.get("requests_used")),
            requests_limit=_int_or_none(usage.get("requests_limit")),
            duration_ms=_int_or_none(meta.get("duration_ms")),
            project_id=_str_or_none(meta.get("project_id")),
            plan=_str_or_none(meta.get("plan")),
        )

    raise _not_a("session message", response, target)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_session(response: httpx.Response, target: str) -> Session:
    payload = _json_or_none(response)
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("id"), str)
        and payload.get("object") == "session"
    ):
        session_id, status = payload["id"], str(payload.get("status", ""))
        # A server that echoes the request could put a key here; a session
        # id never holds one, and a key must not reach the history.
        if KEY_PREFIX not in session_id and KEY_PREFIX not in status:
            return Session(session_id, "session", status)

    raise _not_a("session", response, target)


def _not_a(what: str, response: httpx.Response, target: str) -> UnexpectedResponseError:
    """The error for a success status whose body is not the documented shape."""
    return UnexpectedResponseError(
        f"{target} answered {response.status_code} but the body is not a "
        f"{what}: {_snippet(response)}.",
        status=response.status_code,
        code=None,
        message=f"the body is not a {what}",
        request=response.request,
        response=response,
    )


_ERRORS: dict[str, tuple[type[APIError], str]] = {
    "invalid_api_key": (InvalidAPIKeyError, ""),
    "plan_restricted": (
        PlanRestrictedError,
        "Retrying will not help: the project needs the Scale plan.",
    ),
    "session_limit_reached": (
        SessionLimitReachedError,
        "Retrying now will not help: a slot frees only when one of the "
        "project's sessions has been idle for 30 minutes.",
    ),
    "rate_limited": (
        RateLimitedError,
        "Wait and retry: the limit is 60 requests a minute.",
    ),
    "invalid_body": (
        BadRequestError,
        "Send a JSON object with Content-Type: application/json.",
    ),
    "missing_message": (
        BadRequestError,
        'Send a JSON object with a non-empty "message" string.',
    ),
    "insufficient_credits": (
        InsufficientCreditsError,
        "Retrying will not help: the project needs more credits.",
    ),
    "session_not_found": (
        SessionNotFoundError,
        "Create a new session: an idle session expires after 30 minutes.",
    ),
}


def _api_error(
    response: httpx.Response, target: Target, authorization: str | None
) -> APIError:
    status = response.status_code
    payload = _json_or_none(response)
    envelope = payload.get("error") if isinstance(payload, dict) else None
    code = envelope.get("code") if isinstance(envelope, dict) else None
    message = envelope.get("message") if isinstance(envelope, dict) else None

    if not isinstance(code, str) or not isinstance(message, str):
        # A 502, 503 or 504 page that is not the envelope comes from a proxy
        # or gateway in front of the API, not from the API itself.
        gateway = (
            " It looks like a proxy's page: the API behind it may be down or "
            "overloaded, so try again in a minute."
            if status in (502, 503, 504)
            else ""
        )
        return UnexpectedResponseError(
            f"The {target} answered {status} {response.reason_phrase} with a "
            f"body that is not the documented error envelope: "
            f"{_snippet(response)}.{gateway}",
            status=status,
            code=None,
            message=f"{status} {response.reason_phrase}, not the error envelope",
            request=response.request,
            response=response,
        )

    docs = envelope.get("docs") if isinstance(envelope, dict) else None
    docs = docs if isinstance(docs, str) else None
    # The server's words are quoted in messages, rows and files: never a key.
    code, message = _scrub(code, authorization), _scrub(message, authorization)
    cls, hint = _ERRORS.get(code, (UnexpectedResponseError, ""))
    if cls is InvalidAPIKeyError:
        hint = f"From the client's side: {_diagnose(authorization)}."
    elif cls is UnexpectedResponseError and "x-stewrd-emulator" in response.headers:
        hint = (
            "The code is the emulator's own: the API documents no answer for this case."
        )
    elif cls is UnexpectedResponseError:
        hint = "stewrd-lab does not know this code; see the Stewrd error docs."

    text = f"{status} {code}: {message} {hint}".rstrip()
    return cls(
        text,
        status=status,
        code=code,
        message=message,
        docs=docs,
        request=response.request,
        response=response,
    )


def _diagnose(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").strip().partition(" ")
    if authorization is None:
        return "no Authorization header was sent"
    if not scheme:
        return "the Authorization header was empty"
    if scheme.lower() != "bearer":
        # Name the scheme only when it is a short word: a bare key sent
        # without any scheme would otherwise be quoted here.
        named = scheme if scheme.isalpha() and len(scheme) <= 10 else ""
        return f"the header uses the {named or 'wrong'} scheme, not Bearer"
    return describe_key(key.strip())


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _snippet(response: httpx.Response) -> str:
    content_type = response.headers.get("content-type", "no content type")
    # Scrubbed before it is cut, so that no cut can leave most of a key.
    head = response.content[: _SNIPPET * 8].decode("utf-8", "replace")
    sent = response.request.headers.get("authorization")
    text = " ".join(_scrub(head, sent).split())
    if not text:
        return f"an empty body ({content_type})"

    more = "..." if len(text) > _SNIPPET or len(response.content) > len(head) else ""
    return f"{content_type}, starting {text[:_SNIPPET]!r}{more}"


def _scrub(text: str, authorization: str | None = None) -> str:
    """``text`` with every key in it redacted: the one sent, and any other.

    A server or proxy may echo the request back (a debugging page, an error
    message quoting the header); what it says is shown in messages, history
    rows and files, so no key may pass through whole.
    """
    scheme, _, credential = (authorization or "").strip().partition(" ")
    credential = credential.strip() or scheme
    if len(credential) >= 8:
        text = text.replace(credential, redact_key(credential))
    return scrub_keys(text)
