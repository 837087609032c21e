"""The emulator's switches (:class:`Rules`) and its time (:class:`Clock`).

Both are checked where they are set, so a bad value is refused in one
sentence (a :class:`~stewrd_lab.UsageError`) by Python and by the served
emulator's control routes alike, and never breaks a request later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any, Literal

from stewrd_lab._errors import UsageError

__all__ = [
    "CHECKS",
    "CLOCK_END",
    "EMULATOR_EPOCH",
    "MAX_DURATION",
    "Clock",
    "Rules",
    "changed_rules",
    "clock_seconds",
    "is_whole",
]

EMULATOR_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Where a new emulator's clock starts."""

# [emulator-specific] The clock starts no earlier and never passes the end,
# so every date the emulator computes (a window's start, an expiry) stays
# within what datetime can hold.
CLOCK_BEGIN = datetime(1900, 1, 1, tzinfo=UTC)
CLOCK_END = datetime(9000, 1, 1, tzinfo=UTC)

MAX_DURATION = timedelta(days=366)
"""The longest rate window or idle expiry ``Rules`` accepts."""

CHECKS = ("rate_limit", "plan", "session_cap")


@dataclass(frozen=True)
class Rules:
    """The switches of the emulator; the defaults follow the documentation.

    ``session_cap`` and ``rate_limit`` accept ``None`` to switch the limit
    off (for a benchmark, say). The messages keep the documented numbers
    whatever the limits are set to, as the API's fixed text would.

    Every value is checked when the rules are made (``configure`` included),
    and a bad one raises :class:`~stewrd_lab.UsageError`: limits and
    ``max_body`` are whole numbers >= 0, durations are ``timedelta`` longer
    than 0 and at most 366 days, switches are ``True`` or ``False``, and
    ``check_order`` (a tuple, or a list taken as one) names each check once.
    """

    session_cap: int | None = 10
    rate_limit: int | None = 60
    rate_window: timedelta = timedelta(seconds=60)
    idle_expiry: timedelta = timedelta(minutes=30)
    plan_rule: Literal["scale", "credits"] = "scale"
    check_order: tuple[str, ...] = CHECKS
    retry_after: bool = False
    max_body: int = 1024 * 1024
    refuse_create_body: bool = True

    def __post_init__(self) -> None:
        # Checked here, so a bad rule is refused where it is set (by Python
        # or through POST /_emulator/configure) and never breaks a request.
        for name in ("session_cap", "rate_limit"):
            value = getattr(self, name)
            if value is not None and not is_whole(value):
                raise UsageError(
                    f"{name} must be a whole number >= 0, or None for no limit, "
                    f"not {value!r}."
                )
        for name in ("rate_window", "idle_expiry"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or not (
                timedelta() < value <= MAX_DURATION
            ):
                raise UsageError(
                    f"{name} must be a timedelta longer than 0 and at most 366 "
                    f"days, not {value!r}."
                )
        if self.plan_rule not in ("scale", "credits"):
            raise UsageError(
                f"plan_rule must be 'scale' or 'credits', not {self.plan_rule!r}."
            )

        order = self.check_order
        named = isinstance(order, tuple | list) and all(
            isinstance(check, str) for check in order
        )
        if not named or sorted(order) != sorted(CHECKS):
            raise UsageError(
                f"check_order must order exactly {', '.join(CHECKS)}; got "
                f"{_shown_order(order)}."
            )
        # A list is taken as the tuple it stands for, so Rules stay hashable.
        object.__setattr__(self, "check_order", tuple(order))

        for name in ("retry_after", "refuse_create_body"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise UsageError(f"{name} must be True or False, not {value!r}.")
        if not is_whole(self.max_body):
            raise UsageError(
                f"max_body must be a whole number of bytes >= 0, not {self.max_body!r}."
            )


def changed_rules(rules: Rules, changes: dict[str, Any]) -> Rules:
    """``rules`` with ``changes`` applied, or :class:`UsageError` naming why not."""
    unknown = sorted(set(changes) - set(Rules.__dataclass_fields__))
    if unknown:
        raise UsageError(
            f"Unknown rule {unknown[0]!r}; the rules are "
            f"{', '.join(sorted(Rules.__dataclass_fields__))}."
        )
    return replace(rules, **changes)


def is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown_order(order: object) -> str:
    if isinstance(order, tuple | list) and all(isinstance(c, str) for c in order):
        return ", ".join(order) or "nothing"
    return repr(order)


def clock_seconds(amount: object) -> float:
    """Seconds to move a clock by, from a ``timedelta`` or a number, or raise.

    The embedded emulator, the control route and the served emulator's
    Python controls all check an amount here, so they refuse it alike.
    """
    if isinstance(amount, timedelta):
        seconds = amount.total_seconds()
    elif isinstance(amount, int | float) and not isinstance(amount, bool):
        try:
            seconds = float(amount)
        except OverflowError:
            # An int past float's range: far more than the clock can move.
            raise UsageError(
                f"The clock cannot pass {CLOCK_END.date()}; that many seconds would."
            ) from None
    else:
        raise UsageError(
            f"The clock moves by a timedelta or a number of seconds, not {amount!r}."
        )

    if not math.isfinite(seconds):
        raise UsageError(
            f"The clock moves by a finite number of seconds, not {seconds!r}."
        )
    if seconds < 0:
        raise UsageError(f"The clock only moves forward; got {seconds:g} seconds.")
    return seconds


class Clock:
    """The emulator's time: frozen until advanced, or ticking with real time.

    A frozen clock makes a walkthrough repeatable to the byte; a ticking one
    (``ticking=True``) lets a served emulator's rate-limit window pass on its
    own, as the real API's would.
    """

    def __init__(
        self, start: datetime = EMULATOR_EPOCH, *, ticking: bool = False
    ) -> None:
        if start.tzinfo is None:
            raise UsageError("Clock start must be timezone-aware, such as UTC.")
        if not CLOCK_BEGIN <= start < CLOCK_END:
            raise UsageError(
                f"Clock start must lie from {CLOCK_BEGIN.date()} to before "
                f"{CLOCK_END.date()} (UTC), not {start.isoformat()}."
            )
        self._start = start
        self._offset = timedelta()
        self._ticking = ticking
        self._origin = monotonic()

    @property
    def ticking(self) -> bool:
        return self._ticking

    def now(self) -> datetime:
        now = self._start + self._offset
        if self._ticking:
            now += timedelta(seconds=monotonic() - self._origin)
        return now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward and return the new time.

        ``delta`` is a ``timedelta`` or a number of seconds (``advance(60)``).
        Limits: it cannot be negative, and the clock never passes
        9000-01-01 (UTC), so the emulator's dates stay representable.
        """
        seconds = clock_seconds(delta)
        now = self.now()
        if seconds > (CLOCK_END - now).total_seconds():
            raise UsageError(
                f"The clock cannot pass {CLOCK_END.date()}; moving {seconds:g} "
                f"seconds from {now.isoformat()} would."
            )
        self._offset += (
            delta if isinstance(delta, timedelta) else timedelta(seconds=seconds)
        )
        return self.now()

    def reset(self) -> None:
        self._offset = timedelta()
        self._origin = monotonic()

    def __repr__(self) -> str:
        mode = "ticking" if self._ticking else "frozen"
        return f"<Clock {mode} at {self.now().isoformat()}>"
