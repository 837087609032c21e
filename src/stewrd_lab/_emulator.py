"""A stateful, deterministic emulator of the Stewrd API.

What the seed OpenAPI document and the public docs say, the emulator does.
Where they are silent, it decides, and every such decision is marked
**[emulator-specific]** below and can be switched through :class:`Rules`:

- [emulator-specific] The checks on ``POST /v1/sessions`` run in the order
  authentication, rate limit, plan, active-session cap (``Rules.check_order``
  reorders the last three).
- [emulator-specific] Every authenticated request counts toward its project's
  rate limit, refused ones included, in a sliding window of 60 seconds.
  With the limit switched off nothing is counted, so a limit switched on
  later counts from that moment.
- [emulator-specific] A session expires once it has been idle for the full
  30 minutes (idle time >= 30 min).
- [emulator-specific] The 401 message is "Invalid or missing API key."; the
  docs name the code, not the message.
- [emulator-specific] The ``Authorization`` scheme is matched without regard
  to case (``bearer`` works, as RFC 9110 allows), surrounding whitespace is
  ignored, and a request with two ``Authorization`` headers is refused.
- [emulator-specific] Unknown paths answer 404 ``not_found`` and known paths
  with the wrong method answer 405 ``method_not_allowed`` with an ``Allow``
  header, both in the documented error envelope, before any key is checked.
- [emulator-specific] No ``Retry-After`` header unless
  ``Rules.retry_after`` is on: the real API documents none.
- [emulator-specific] A body larger than ``Rules.max_body`` (1 MiB) is refused
  with 413 ``body_too_large``, after the route and method checks and before
  the key is checked.
- [emulator-specific] ``POST /v1/sessions`` takes no body (the seed defines
  none); a non-empty one is refused with 400 ``invalid_body`` after the key
  and before the other checks, unless ``Rules.refuse_create_body`` is off.
- ``POST /v1/sessions/{session_id}/messages`` checks the key and the rate
  limit as create does, then the body: 400 ``invalid_body`` when it is not a
  JSON object ([emulator-specific]: also when ``Content-Type`` is not
  ``application/json``), 400 ``missing_message`` when it has no non-empty
  ``message`` string. A message is activity: it keeps its session alive.
- [emulator-specific] A message to a session that is unknown, expired or of
  another project answers 404 ``session_not_found``; the docs leave it open.
- [emulator-specific] Each message costs 1 credit, and a project with no
  credits left gets 402 ``insufficient_credits``. The reply is a fixed,
  labelled text: no agent runs, no capability is used, no file is made,
  ``meta.duration_ms`` is 0, and ``usage.tokens_used`` counts words.
- [emulator-specific] Routes under ``/_emulator/`` control the emulator
  itself (clock, reset, projects, keys, rules, state): see
  :mod:`stewrd_lab._control`. The Stewrd API has no such routes. They need
  no key and never count toward a rate limit.
- [emulator-specific] The clock starts between 1900 and 9000 and never moves
  past 9000-01-01; an ``advance`` that would is refused.
- The docs contradict themselves on who may create sessions: the seed says
  the Scale plan (the default, ``Rules.plan_rule="scale"``); the sessions
  guide says accounts with purchased credits (``plan_rule="credits"``).

Every response carries an ``X-Stewrd-Emulator`` header, so a client can tell
the emulator from the live API.

Determinism: keys and session ids come from generators seeded by ``seed``,
and time comes from a :class:`Clock` that moves only when told to (unless it
is made to tick with the wall clock), so two runs give the same bytes.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil
from typing import Any, NamedTuple

from stewrd_lab._errors import UsageError
from stewrd_lab._keys import EMULATOR_KEY_PREFIX, redact_key
from stewrd_lab._rules import (
    CHECKS,
    CLOCK_END,
    EMULATOR_EPOCH,
    MAX_DURATION,
    Clock,
    Rules,
    changed_rules,
    clock_seconds,
    is_whole,
)

__all__ = [
    "CHECKS",
    "CLOCK_END",
    "EMULATOR_EPOCH",
    "MAX_DURATION",
    "PLANS",
    "Clock",
    "Emulator",
    "Project",
    "Reply",
    "Rules",
    "changed_rules",
    "clock_seconds",
]

PLANS = ("free", "dev", "scale")
"""The documented plans, lowest first. No plan above Scale is documented."""

PLAN_RESTRICTED = "Persistent sessions require the Scale plan or higher."
# [emulator-specific] wording for the "purchased credits" rule of the guide.
CREDITS_REQUIRED = "Persistent sessions require purchased credits."
SESSION_LIMIT = "Maximum 10 active sessions per project."
RATE_LIMITED = "Too many requests. Limit: 60/minute."
INVALID_KEY = "Invalid or missing API key."
# [emulator-specific] wordings and amounts: the docs name only the codes.
CREATE_TAKES_NO_BODY = (
    "POST /v1/sessions takes no request body; send none. (Refusing a body is "
    "emulator-specific.)"
)
MISSING_MESSAGE = 'The request body needs a non-empty "message" string.'
NO_CREDITS = "The project has no credits left for this request."
MESSAGE_COST = 1
EMULATED_REPLY = (
    "[emulated reply] The Stewrd emulator received your message ({chars} "
    "characters). No agent ran: this fixed answer is emulator-specific."
)


@dataclass(eq=False)
class Project:
    """One project: a plan, a current key, and its sessions.

    ``sessions`` maps a session id to the time of its last activity.
    """

    id: str
    plan: str
    credits: int
    key: str = field(repr=False)
    revoked_keys: list[str] = field(default_factory=list, repr=False)
    sessions: dict[str, datetime] = field(default_factory=dict, repr=False)
    requests: deque[datetime] = field(default_factory=deque, repr=False)

    def __repr__(self) -> str:
        return (
            f"<Project {self.id} plan={self.plan} credits={self.credits} "
            f"key={redact_key(self.key)}>"
        )


class Reply(NamedTuple):
    """What the emulator answers: status, headers and a JSON body as bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Emulator:
    """The Stewrd API, in-process, with the rules in the module docstring.

    A new emulator has one project per documented plan, with ids
    ``proj_free``, ``proj_dev`` and ``proj_scale``; :meth:`key_for` hands out
    their keys. All methods are thread-safe: one lock guards the state, so
    many threads creating at once never get past the session cap.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        rules: Rules | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.seed = seed
        self.rules = rules or Rules()
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        self.reset()

    # -- state -------------------------------------------------------------

    def reset(self) -> None:
        """Forget every project and session, and start over from the seed."""
        with self._lock:
            self._key_rng = random.Random(f"{self.seed}:keys")
            self._id_rng = random.Random(f"{self.seed}:sessions")
            self.projects: dict[str, Project] = {}
            self._by_key: dict[str, Project] = {}
            self._revoked: set[str] = set()
            self.clock.reset()

            # [emulator-specific] credits per default project: the docs give
            # none; these only matter under plan_rule="credits".
            for plan, credits in (("free", 0), ("dev", 100), ("scale", 1000)):
                self.add_project(plan, credits=credits, project_id=f"proj_{plan}")

    def configure(self, **changes: Any) -> Rules:
        """Switch rules on the fly, for example ``configure(plan_rule="credits")``.

        A change :class:`Rules` refuses raises :class:`UsageError` and
        leaves the rules as they were.
        """
        with self._lock:
            self.rules = changed_rules(self.rules, changes)
            return self.rules

    def add_project(
        self, plan: str, *, credits: int = 0, project_id: str | None = None
    ) -> Project:
        """Create a project on ``plan`` and return it (its key is ``.key``).

        Without ``project_id`` the project gets the first free id of
        ``proj_4``, ``proj_5``, ... (counting the projects there are).
        """
        if not isinstance(plan, str) or plan not in PLANS:
            raise UsageError(
                f"Unknown plan {plan!r}: the documented plans are {', '.join(PLANS)}."
            )
        if not is_whole(credits):
            raise UsageError(f"credits must be a whole number >= 0, not {credits!r}.")
        if project_id is not None and (
            not isinstance(project_id, str) or not project_id or "/" in project_id
        ):
            raise UsageError(
                "project_id must be a non-empty string without '/', or None for "
                f"an automatic id, not {project_id!r}."
            )

        with self._lock:
            if project_id is None:
                # Counting from the number of projects keeps ids short; an id
                # a user took already is skipped, not reused.
                number = len(self.projects) + 1
                while f"proj_{number}" in self.projects:
                    number += 1
                project_id = f"proj_{number}"
            if project_id in self.projects:
                raise UsageError(f"A project with id {project_id!r} already exists.")

            project = Project(project_id, plan, credits, self._new_key())
            self.projects[project_id] = project
            self._by_key[project.key] = project
            return project

    def project(self, plan_or_id: str) -> Project:
        """Return a project by id, or the default project of a plan."""
        with self._lock:
            found = None
            if isinstance(plan_or_id, str):
                found = self.projects.get(plan_or_id) or self.projects.get(
                    f"proj_{plan_or_id}"
                )
        if found is None:
            raise UsageError(
                f"No project {plan_or_id!r} on this emulator; use a plan name or a "
                "project id from its state() (GET /_emulator/state when served)."
            )
        return found

    def key_for(self, plan_or_id: str) -> str:
        """Return the current key of a project, by plan name or project id."""
        return self.project(plan_or_id).key

    def regenerate_key(self, plan_or_id: str) -> str:
        """Give a project a new key; the old one is revoked at once."""
        with self._lock:
            project = self.project(plan_or_id)
            old = project.key
            project.revoked_keys.append(old)
            self._revoked.add(old)
            del self._by_key[old]

            project.key = self._new_key()
            self._by_key[project.key] = project
            return project.key

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the emulator's clock forward; sessions and windows age with it.

        ``delta`` is a ``timedelta`` or a number of seconds; see
        :meth:`Clock.advance` for what is refused.
        """
        with self._lock:
            return self.clock.advance(delta)

    def active_sessions(self, plan_or_id: str) -> int:
        """How many sessions of a project are active now."""
        with self._lock:
            project = self.project(plan_or_id)
            self._expire(project, self.clock.now())
            return len(project.sessions)

    def state(self) -> dict[str, Any]:
        """[emulator-specific] The emulator's state as plain JSON-ready data.

        The clock, the rules, and every project with its plan, credits, key
        and number of active sessions: what ``GET /_emulator/state`` answers.
        """
        from stewrd_lab._control import state_payload

        with self._lock:
            return state_payload(self)

    def _new_key(self) -> str:
        return EMULATOR_KEY_PREFIX + f"{self._key_rng.getrandbits(128):032x}"

    def _new_session_id(self) -> str:
        # What str(uuid.UUID(int=bits, version=4)) gives, without building a
        # UUID object per request: set the version and variant bits, format.
        bits = self._id_rng.getrandbits(128)
        bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
        bits = (bits & ~(0xF000 << 64)) | (4 << 76)
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # -- HTTP --------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        """Answer one HTTP request. ``path`` excludes the query string.

        The in-process transport and the served emulator both call this, so
        they answer alike; ``body`` is the whole request body (the server
        passes at most ``Rules.max_body + 1`` bytes of it).
        """
        route, param = _match(path)
        if route is None:
            return _error(
                404,
                "not_found",
                f"No route matches {path}. (This 404 is emulator-specific: "
                "the API does not document its answer to unknown paths.)",
            )
        allowed = _ROUTES[route]
        if method not in allowed:
            return _error(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path}; use {', '.join(allowed)}. "
                "(This 405 is emulator-specific.)",
                [("allow", ", ".join(allowed))],
            )
        if len(body) > self.rules.max_body:
            return _error(
                413,
                "body_too_large",
                f"The request body is larger than {self.rules.max_body} bytes. "
                "(This limit is emulator-specific.)",
            )

        if route.startswith("/_emulator"):
            from stewrd_lab._control import control

            with self._lock:
                return control(self, route, param, body)

        with self._lock:
            if route == "/v1/sessions":
                return self._create_session(headers, body)
            return self._send_message(headers, body, param)

    def _create_session(self, headers: list[tuple[str, str]], body: bytes) -> Reply:
        project = self._authenticate(headers)
        if project is None:
            return _error(401, "invalid_api_key", INVALID_KEY)

        now = self.clock.now()
        self._note_request(project, now)
        if body and self.rules.refuse_create_body:
            return _error(400, "invalid_body", CREATE_TAKES_NO_BODY)
        checks = {
            "rate_limit": self._check_rate_limit,
            "plan": self._check_plan,
            "session_cap": self._check_session_cap,
        }
        for name in self.rules.check_order:
            refusal = checks[name](project, now)
            if refusal is not None:
                return refusal

        session_id = self._new_session_id()
        project.sessions[session_id] = now
        # The bytes json.dumps would give, written out: this is the hot path.
        text = f'{{"id":"{session_id}","object":"session","status":"active"}}'
        return Reply(201, list(_BASE_HEADERS), text.encode())

    def _send_message(
        self, headers: list[tuple[str, str]], body: bytes, session_id: str
    ) -> Reply:
        project = self._authenticate(headers)
        if project is None:
            return _error(401, "invalid_api_key", INVALID_KEY)

        now = self.clock.now()
        self._note_request(project, now)
        refusal = self._check_rate_limit(project, now)
        if refusal is not None:
            return refusal

        message = _read_message(headers, body)
        if isinstance(message, Reply):
            return message

        self._expire(project, now)
        if session_id not in project.sessions:
            return _error(
                404,
                "session_not_found",
                f"No active session {session_id} in this project: it is unknown, "
                "expired or another project's. (This 404 is emulator-specific.)",
            )
        if project.credits < MESSAGE_COST:
            return _error(402, "insufficient_credits", NO_CREDITS)

        # Activity moves the session to the end, so the dict stays ordered by
        # last activity and expiry can stop at the first live session.
        del project.sessions[session_id]
        project.sessions[session_id] = now
        project.credits -= MESSAGE_COST

        reply = EMULATED_REPLY.format(chars=len(message))
        payload = {
            "object": "session.message",
            "session_id": session_id,
            "message": reply,
            "capabilities_used": [],
            "files": [],
            "usage": {
                "credits_this_request": MESSAGE_COST,
                "credits_remaining": project.credits,
                "tokens_used": len(message.split()) + len(reply.split()),
            },
            "meta": {"duration_ms": 0, "project_id": project.id, "plan": project.plan},
        }
        return _json(200, payload)

    def _authenticate(self, headers: list[tuple[str, str]]) -> Project | None:
        values = [v for k, v in headers if k.lower() == "authorization"]
        if len(values) != 1:
            return None

        scheme, _, token = values[0].strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._by_key.get(token.strip())

    def _note_request(self, project: Project, now: datetime) -> None:
        # Only the last limit + 1 times can decide a refusal (the window holds
        # more than `limit` requests exactly when the (limit + 1)-th latest
        # is in it), so the log keeps no more: at thousands of requests a
        # second it stays small. Without a limit nothing is kept, and one
        # switched on later counts from then on.
        limit = self.rules.rate_limit
        if limit is None:
            project.requests.clear()
            return
        project.requests.append(now)
        while len(project.requests) > limit + 1:
            project.requests.popleft()

    def _check_rate_limit(self, project: Project, now: datetime) -> Reply | None:
        limit = self.rules.rate_limit
        window_start = now - self.rules.rate_window
        while project.requests and project.requests[0] <= window_start:
            project.requests.popleft()
        if limit is None or len(project.requests) <= limit:
            return None

        extra = []
        if self.rules.retry_after:
            wait = project.requests[-limit] - window_start
            extra.append(("retry-after", str(max(1, ceil(wait.total_seconds())))))
        return _error(429, "rate_limited", RATE_LIMITED, extra)

    def _check_plan(self, project: Project, now: datetime) -> Reply | None:
        if self.rules.plan_rule == "credits":
            if project.credits > 0:
                return None
            return _error(403, "plan_restricted", CREDITS_REQUIRED)

        if PLANS.index(project.plan) >= PLANS.index("scale"):
            return None
        return _error(403, "plan_restricted", PLAN_RESTRICTED)

    def _check_session_cap(self, project: Project, now: datetime) -> Reply | None:
        self._expire(project, now)
        cap = self.rules.session_cap
        if cap is None or len(project.sessions) < cap:
            return None
        return _error(429, "session_limit_reached", SESSION_LIMIT)

    def _expire(self, project: Project, now: datetime) -> None:
        # Sessions are kept in order of last activity (see _send_message), so
        # the scan stops at the first live one: without a cap, a benchmark's
        # many thousands of sessions cost nothing per request.
        cutoff = now - self.rules.idle_expiry
        expired = []
        for session_id, seen in project.sessions.items():
            if seen > cutoff:
                break
            expired.append(session_id)
        for session_id in expired:
            del project.sessions[session_id]

    def __repr__(self) -> str:
        return (
            f"<Emulator seed={self.seed} projects={len(self.projects)} "
            f"clock={self.clock.now().isoformat()}>"
        )


# Route patterns and their methods; "{}" stands for one path segment.
_ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/sessions": ("POST",),
    "/v1/sessions/{}/messages": ("POST",),
    "/_emulator/state": ("GET",),
    "/_emulator/reset": ("POST",),
    "/_emulator/advance": ("POST",),
    "/_emulator/configure": ("POST",),
    "/_emulator/projects": ("POST",),
    "/_emulator/projects/{}": ("GET",),
    "/_emulator/projects/{}/regenerate-key": ("POST",),
}


def _match(path: str) -> tuple[str | None, str]:
    """Return the route pattern ``path`` matches and its segment, if any."""
    if path in _ROUTES:
        return path, ""

    # Every pattern with a segment has it fourth: /v1/sessions/{}/...
    parts = path.split("/")
    if len(parts) > 3 and parts[3]:
        pattern = "/".join([*parts[:3], "{}", *parts[4:]])
        if pattern in _ROUTES:
            return pattern, parts[3]
    return None, ""


def _read_message(headers: list[tuple[str, str]], body: bytes) -> str | Reply:
    """Return the ``message`` of a message body, or the 400 that refuses it."""
    types = [v for k, v in headers if k.lower() == "content-type"]
    media = types[0].partition(";")[0].strip().lower() if len(types) == 1 else ""
    if media != "application/json":
        shown = "none" if not types else ", ".join(types)
        return _error(
            400,
            "invalid_body",
            "The request body must be JSON sent with Content-Type: "
            f"application/json; got {shown}. (Checking the content type is "
            "emulator-specific.)",
        )

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested thousands deep is still not a body.
        return _error(400, "invalid_body", "The request body is not valid JSON.")
    if not isinstance(payload, dict):
        return _error(400, "invalid_body", "The request body must be a JSON object.")

    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        return _error(400, "missing_message", MISSING_MESSAGE)
    return message


_BASE_HEADERS = [("content-type", "application/json"), ("x-stewrd-emulator", "1")]


def _json(
    status: int, payload: dict[str, Any], extra: list[tuple[str, str]] | None = None
) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, _BASE_HEADERS + (extra or []), body)


def _error(
    status: int,
    code: str,
    message: str,
    extra: list[tuple[str, str]] | None = None,
) -> Reply:
    return _json(status, {"error": {"code": code, "message": message}}, extra)
