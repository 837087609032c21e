"""When and how long the client waits before sending a refused request again.

Only ``429 rate_limited`` is retried: it is the one refusal that waiting
cures. ``session_limit_reached``, ``plan_restricted`` and ``invalid_api_key``
are never retried (their messages say why), and neither is any failure
without an HTTP answer (a timeout, a broken connection, a proxy's 5xx page):
``POST /v1/sessions`` is not idempotent, so a request that may have reached
the API may already have created a session, and sending it again could leave
two sessions active for 30 minutes.

The loop itself is tenacity's; this module only says when to stop and how
long to wait, once, for the sync and the async client alike. The sync
client's first attempt runs before tenacity's loop is built (see
:meth:`_Plan.retrying`), as most requests never need it.

Waiting on the embedded emulator: its clock is frozen, so sleeping would
never let a rate-limit window pass, and a notebook would sit idle for
nothing. There the wait moves the emulator's clock forward instead: the
history shows the same rows and times the live API would give, at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NoReturn

from stewrd_lab._errors import APIError, UsageError

if TYPE_CHECKING:
    import tenacity

    from stewrd_lab._emulator import Emulator

__all__ = ["RetryPolicy", "retry_after_seconds"]

logger = logging.getLogger("stewrd_lab")


@dataclass(frozen=True)
class RetryPolicy:
    """How ``rate_limited`` answers are retried; ``Client(retry=...)`` takes one.

    The wait before attempt *n + 1* is the server's ``Retry-After`` when it
    sends one (seconds or an HTTP date), and otherwise
    ``min(maximum, initial * 2 ** (n - 1))`` plus a random jitter of up to
    ``jitter`` seconds, so that many clients refused together do not all come
    back at the same instant.

    ``budget`` bounds the whole call: no retry starts whose wait would end
    more than ``budget`` seconds after the first attempt began; a
    ``Retry-After`` longer than what is left ends the call at once. A request
    in flight is bounded by the client's timeout, not by the budget.
    ``max_attempts`` counts the first attempt: ``1`` switches retries off
    (``RetryPolicy.off()`` or ``Client(retry=False)`` say the same).

    The defaults (90 s, 8 attempts, waits of 1, 2, 4, 8, 16, then 30 s) are
    sized to ride out a full one-minute window: a burst of more than 60
    requests can be refused for up to 60 s, and a shorter budget would give
    up just before the window frees. That can hold a notebook cell for about
    a minute on the live API; pass ``RetryPolicy(budget=...)`` for less. The
    defaults are the same on every target; on the
    embedded emulator the waits advance its clock and cost no real time. A
    served emulator is waited on in real time, like the live API: if its
    clock is frozen, its rate-limit window passes only when that clock is
    advanced, so waiting there spends the budget for nothing.
    """

    budget: float = 90.0
    max_attempts: int = 8
    initial: float = 1.0
    maximum: float = 30.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        for name in ("budget", "initial", "maximum", "jitter"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value >= 0:
                raise UsageError(
                    f"RetryPolicy.{name} must be a number of seconds >= 0; "
                    f"got {value!r}."
                )
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise UsageError(
                "RetryPolicy.max_attempts counts the first attempt and must be "
                f"a whole number >= 1; got {self.max_attempts!r}."
            )

    @classmethod
    def off(cls) -> RetryPolicy:
        """A policy that sends every request once."""
        return cls(max_attempts=1)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Read a ``Retry-After`` header: seconds, or an HTTP date after ``now``.

    Returns ``None`` for a missing or unreadable value, and ``0.0`` for a date
    in the past.

    >>> retry_after_seconds("7", datetime(2026, 1, 1, tzinfo=UTC))
    7.0
    >>> retry_after_seconds("Thu, 01 Jan 2026 00:01:00 GMT",
    ...                     datetime(2026, 1, 1, tzinfo=UTC))
    60.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _Plan:
    """One client's retry settings turned into tenacity's parts.

    ``now`` is the client's clock (the emulator's on the embedded target) so
    that an HTTP-date ``Retry-After`` is read against the right time.
    ``emulator`` is set only for the embedded target, whose waits advance
    its clock instead of sleeping.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        now: Callable[[], datetime],
        emulator: Emulator | None,
    ) -> None:
        self.policy = policy
        self.now = now
        self.emulator = emulator
        self._rng: random.Random | None = None
        self._refused_at: datetime | None = None
        self._head_start = 0.0

    @property
    def rng(self) -> random.Random:
        # Made on the first wait, not per request: seeding one costs several
        # microseconds, which every create would pay for a retry it rarely
        # needs. The embedded emulator replays byte for byte, jitter included.
        if self._rng is None:
            seed = self.emulator.seed if self.emulator is not None else None
            self._rng = random.Random(seed)
        return self._rng

    def retrying(self) -> Iterator[Any]:
        """Attempts to run as ``with attempt:`` blocks, as tenacity's are.

        The first attempt runs outside tenacity's loop: building and entering
        the loop costs more than the rest of recording an exchange, and most
        requests are never refused. Only a retryable refusal of the first
        attempt starts the loop, which takes that refusal as its own first
        outcome (nothing is sent again for it) and goes on from there; the
        budget counts the first attempt's time all the same.
        """
        first = _FirstAttempt(self.policy.max_attempts > 1)
        started = time.monotonic()
        yield first

        # Reached only when the first attempt was refused with rate_limited;
        # a result or any other error has left the caller's loop already.
        import tenacity

        self._head_start = time.monotonic() - started
        sleep = self._advance if self.emulator is not None else time.sleep
        for attempt in tenacity.Retrying(sleep=sleep, **self._parts()):
            if attempt.retry_state.attempt_number > 1:
                yield attempt
                continue
            assert first.refusal is not None
            with attempt:
                raise first.refusal

    def async_retrying(self) -> tenacity.AsyncRetrying:
        import tenacity

        async def advance(seconds: float) -> None:
            self._advance(seconds)

        sleep: Callable[[float], Awaitable[None]] = (
            advance if self.emulator is not None else asyncio.sleep
        )
        return tenacity.AsyncRetrying(sleep=sleep, **self._parts())

    # -- the parts, shared by both loops ---------------------------------------

    def _parts(self) -> dict[str, Any]:
        import tenacity

        return {
            "retry": tenacity.retry_if_exception(_retryable),
            "wait": self._wait,
            "stop": self._stop,
            "before_sleep": self._before_sleep,
            "retry_error_callback": self._give_up,
        }

    def _advance(self, seconds: float) -> None:
        # Sleep until the refusal's time plus the wait, not for the wait:
        # concurrent creates waiting together must not add up their waits.
        assert self.emulator is not None
        start = self._refused_at or self.emulator.clock.now()
        behind = start + timedelta(seconds=seconds) - self.emulator.clock.now()
        self.emulator.advance(max(behind, timedelta()))

    def _hinted(self, state: tenacity.RetryCallState) -> float | None:
        error = _error_of(state)
        if error is None or error.response is None:
            return None
        return retry_after_seconds(
            error.response.headers.get("retry-after"), self.now()
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        self._refused_at = self.now()
        hinted = self._hinted(state)
        if hinted is not None:
            return hinted

        policy = self.policy
        doubling: float = 2.0 ** (state.attempt_number - 1)
        backoff = min(policy.maximum, policy.initial * doubling)
        return backoff + self.rng.uniform(0, policy.jitter)

    def _spent(self, state: tenacity.RetryCallState) -> float:
        # tenacity measures real time; the emulator's waits took none of it.
        spent = (state.seconds_since_start or 0.0) + self._head_start
        return spent + state.idle_for if self.emulator is not None else spent

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        return self._spent(state) + state.upcoming_sleep > self.policy.budget

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        logger.info(
            "rate_limited: waiting %.1f s before attempt %d%s",
            state.upcoming_sleep,
            state.attempt_number + 1,
            " (emulator clock advanced, no real wait)" if self.emulator else "",
        )

    def _give_up(self, state: tenacity.RetryCallState) -> NoReturn:
        error = _error_of(state)
        assert error is not None
        if self.policy.max_attempts == 1:
            raise error

        attempts = state.attempt_number
        spent = self._spent(state)
        if attempts >= self.policy.max_attempts:
            why = f"{attempts} attempts are the most its retry policy allows"
        elif self._hinted(state) is not None:
            why = (
                f"the server asked to wait {state.upcoming_sleep:.0f} s "
                f"(Retry-After), longer than what is left of the "
                f"{self.policy.budget:g} s retry budget"
            )
        else:
            why = (
                f"the next wait ({state.upcoming_sleep:.1f} s) would go past "
                f"the {self.policy.budget:g} s retry budget"
            )

        times = "once" if attempts == 1 else f"{attempts} times over {spent:.1f} s"
        text = f"{error} stewrd-lab sent the request {times} and stopped: {why}."
        raise type(error)(
            text,
            status=error.status,
            code=error.code,
            message=error.message,
            docs=error.docs,
            request=error.request,
            response=error.response,
        ) from None


class _FirstState:
    attempt_number = 1


class _FirstAttempt:
    """The first attempt's ``with`` block: keeps a refusal worth retrying."""

    retry_state = _FirstState()

    def __init__(self, retries: bool) -> None:
        self.retries = retries
        self.refusal: BaseException | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: object, error: BaseException | None, trace: object
    ) -> bool:
        if error is not None and self.retries and _retryable(error):
            self.refusal = error
            return True
        return False


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.retryable


def _error_of(state: tenacity.RetryCallState) -> APIError | None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    return error if isinstance(error, APIError) else None
