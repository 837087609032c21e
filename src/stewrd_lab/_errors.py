"""The one error tree of stewrd_lab.

    StewrdError                     anything this package raises on purpose
    ├── UsageError                  a bad argument, caught before anything is sent
    ├── TransportError              no (complete) HTTP answer came back
    │   ├── ConnectError            DNS failure, refused connection, TLS failure
    │   └── RequestTimeoutError     the target did not answer in time
    └── APIError                    the target answered with an error status
        ├── InvalidAPIKeyError      401 invalid_api_key
        ├── PlanRestrictedError     403 plan_restricted
        ├── SessionLimitReachedError  429 session_limit_reached
        ├── RateLimitedError        429 rate_limited
        ├── BadRequestError         400 invalid_body, missing_message
        ├── InsufficientCreditsError  402 insufficient_credits
        ├── SessionNotFoundError    404 session_not_found (emulator-specific)
        └── UnexpectedResponseError  a body that is not the documented shape

Every message is one sentence (or two) that names what happened and what to do
about it. No message, ``str`` or ``repr`` ever holds a full API key: keys are
shown redacted by :func:`stewrd_lab.redact_key`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIError",
    "BadRequestError",
    "ConnectError",
    "InsufficientCreditsError",
    "InvalidAPIKeyError",
    "PlanRestrictedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SessionLimitReachedError",
    "SessionNotFoundError",
    "StewrdError",
    "TransportError",
    "UnexpectedResponseError",
    "UsageError",
]


class StewrdError(Exception):
    """The root of every error stewrd_lab raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        # IPython and Jupyter call this hook instead of printing the stack:
        # the message already says what happened and what to do.
        return [f"{type(self).__name__}: {self}"]


class UsageError(StewrdError, ValueError):
    """An argument was wrong before any request was sent."""


class TransportError(StewrdError):
    """The request did not get an HTTP answer from the target.

    ``target`` is the base URL (or "embedded emulator") that was tried.
    """

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class ConnectError(TransportError):
    """The target could not be reached: DNS, refused connection or TLS."""


class RequestTimeoutError(TransportError):
    """The target took longer than the client's timeout to answer."""


class APIError(StewrdError):
    """The target answered with an HTTP error status.

    The attributes mirror the documented error envelope
    ``{"error": {"code", "message", "docs"}}`` plus the exchange itself.
    ``code`` is ``None`` when the body was not that envelope.
    """

    def __init__(
        self,
        text: str,
        *,
        status: int,
        code: str | None,
        message: str,
        docs: str | None = None,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = message
        self.docs = docs
        self.request = request
        self.response = response

    @property
    def retryable(self) -> bool:
        """Whether waiting and sending the same request again can succeed."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r})"


class InvalidAPIKeyError(APIError):
    """401 ``invalid_api_key``: the key is missing, malformed, unknown or revoked.

    The API uses one code for all four cases; the client adds what it can
    tell from the key it sent (see the message).
    """


class PlanRestrictedError(APIError):
    """403 ``plan_restricted``: the project's plan does not include sessions."""


class SessionLimitReachedError(APIError):
    """429 ``session_limit_reached``: the project has its maximum of sessions.

    Waiting a few seconds does not help: a slot frees only when a session has
    been idle for 30 minutes, and the API has no call that closes one.
    """


class RateLimitedError(APIError):
    """429 ``rate_limited``: too many requests in the last minute.

    This one is worth retrying after a pause.
    """

    @property
    def retryable(self) -> bool:
        return True


class BadRequestError(APIError):
    """400 ``invalid_body`` or ``missing_message``: the request body was refused."""


class InsufficientCreditsError(APIError):
    """402 ``insufficient_credits``: the project has no credits for the request."""


class SessionNotFoundError(APIError):
    """404 ``session_not_found``: no active session has that id in the project.

    Emulator-specific: the API does not document what it answers for an
    unknown or expired session id, so a live answer may differ.
    """


class UnexpectedResponseError(APIError):
    """The answer was not the documented shape.

    Raised for an error body that is not JSON (a proxy's HTML page, say), an
    error envelope with a code this package does not know, or a success body
    that is not a session. ``code`` is ``None`` unless the body held one.
    """
