"""What came back: sessions, messages, and errors made from an HTTP answer.

The client sends; this module reads. It turns a response into a
:class:`Session` or :class:`Message`, or into an error of the
:mod:`stewrd_lab._errors` tree with one sentence that says what happened and
what to do, and it turns the absence of an answer (DNS, refused, TLS,
timeout) into a :class:`TransportError`. Whatever a server says is quoted
only after every key in it has been redacted.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx

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
    TransportError,
    UnexpectedResponseError,
)
from stewrd_lab._keys import (
    KEY_PREFIX,
    describe_key,
    redact_key,
    scrub_keys,
    split_authorization,
)

__all__ = [
    "Message",
    "Session",
    "Target",
    "api_error",
    "parse_message",
    "parse_session",
    "scrub",
    "transport_error",
]

# How much of an unexpected body an error message quotes.
_SNIPPET: Final = 120


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


def _where(target: Target) -> str:
    if target.kind == "embedded emulator":
        return "the embedded emulator"
    return f"the {target.kind} at {target.base_url}"


def transport_error(
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


def parse_message(response: httpx.Response, target: str) -> Message:
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


def parse_session(response: httpx.Response, target: str) -> Session:
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


def api_error(
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
    code, message = scrub(code, authorization), scrub(message, authorization)
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
    text = " ".join(scrub(head, sent).split())
    if not text:
        return f"an empty body ({content_type})"

    more = "..." if len(text) > _SNIPPET or len(response.content) > len(head) else ""
    return f"{content_type}, starting {text[:_SNIPPET]!r}{more}"


def scrub(text: str, authorization: str | None = None) -> str:
    """``text`` with every key in it redacted: the one sent, and any other.

    A server or proxy may echo the request back (a debugging page, an error
    message quoting the header); what it says is shown in messages, history
    rows and files, so no key may pass through whole.
    """
    _, credential = split_authorization(authorization)
    if len(credential) >= 8:
        text = text.replace(credential, redact_key(credential))
    return scrub_keys(text)
