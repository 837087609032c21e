"""[emulator-specific] The control routes of the emulator, under ``/_emulator/``.

The Stewrd API has none of these routes: they let curl, a notebook or a test
drive a served emulator the way Python drives an in-process one, with the
same names as the :class:`~stewrd_lab.Emulator` methods they call.

- ``GET /_emulator/state``: ``state()``
- ``POST /_emulator/reset``: ``reset()``
- ``POST /_emulator/advance`` with ``{"seconds": 60}``: ``advance(60)``
- ``POST /_emulator/configure`` with ``{"rate_limit": null}``:
  ``configure(**changes)`` (durations as ``rate_window_seconds`` and
  ``idle_expiry_seconds``)
- ``POST /_emulator/projects`` with ``{"plan": "scale", "credits": 10}``:
  ``add_project(plan, credits=..., project_id=...)``
- ``GET /_emulator/projects/{plan_or_id}``: the project, its key and its
  active sessions (``key_for``, ``active_sessions``)
- ``POST /_emulator/projects/{plan_or_id}/regenerate-key``:
  ``regenerate_key(plan_or_id)``

Every answer is JSON with ``"emulator_specific": true``; refusals use the
API's error envelope with the codes ``invalid_control_request`` (400) and
``project_not_found`` (404), and the sentence the in-process method raises
as :class:`~stewrd_lab.UsageError`, followed by a note that the route is
emulator-specific. Durations travel as seconds, more than 0 and at most
31622400 (366 days). Limits: the routes need no key and count toward
no rate limit, so anyone who can reach a served emulator can drive it; serve
it on 127.0.0.1 (the default) unless that is what you want.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stewrd_lab._emulator import MAX_DURATION, Reply, Rules, _error, _json
from stewrd_lab._errors import UsageError

if TYPE_CHECKING:
    from stewrd_lab._emulator import Emulator, Project

__all__ = ["NOTE", "control", "project_payload", "rules_changes", "rules_payload"]

NOTE = "(This control endpoint is emulator-specific.)"
"""What every refusal of a control route ends with, after the sentence."""

# The rules whose JSON name differs: durations travel as seconds.
_DURATIONS = {
    "rate_window": "rate_window_seconds",
    "idle_expiry": "idle_expiry_seconds",
}


def control(emulator: Emulator, route: str, param: str, body: bytes) -> Reply:
    """Answer one request to a control route (method already checked).

    Every refusal is a :class:`UsageError` raised by the checks here or by
    the emulator's own methods, so curl gets the sentence Python would;
    anything else is a bug and reaches the server's 500.
    """
    try:
        payload = _object(body)
        if route == "/_emulator/state":
            return _ok(200, emulator.state())
        if route == "/_emulator/reset":
            emulator.reset()
            return _ok(200, emulator.state())
        if route == "/_emulator/advance":
            now = emulator.advance(_seconds(payload))
            return _ok(200, {"object": "emulator.clock", "now": now.isoformat()})
        if route == "/_emulator/configure":
            rules = emulator.configure(**rules_changes(payload))
            return _ok(200, {"object": "emulator.rules", "rules": rules_payload(rules)})
        if route == "/_emulator/projects":
            project = _add_project(emulator, payload)
            return _ok(201, project_payload(project, 0))
    except UsageError as exc:
        return _error(400, "invalid_control_request", f"{exc} {NOTE}")

    try:
        project = emulator.project(param)
    except UsageError as exc:
        return _error(404, "project_not_found", f"{exc} {NOTE}")
    if route.endswith("/regenerate-key"):
        emulator.regenerate_key(project.id)
    return _ok(200, project_payload(project, emulator.active_sessions(project.id)))


def state_payload(emulator: Emulator) -> dict[str, Any]:
    """The data :meth:`Emulator.state` returns (call it with the lock held)."""
    return {
        "object": "emulator.state",
        "seed": emulator.seed,
        "now": emulator.clock.now().isoformat(),
        "clock": "ticking" if emulator.clock.ticking else "frozen",
        "rules": rules_payload(emulator.rules),
        "projects": [
            project_payload(p, emulator.active_sessions(p.id))
            for p in emulator.projects.values()
        ],
        "emulator_specific": True,
    }


def project_payload(project: Project, active_sessions: int) -> dict[str, Any]:
    return {
        "object": "emulator.project",
        "id": project.id,
        "plan": project.plan,
        "credits": project.credits,
        "key": project.key,
        "active_sessions": active_sessions,
    }


def rules_payload(rules: Rules) -> dict[str, Any]:
    """``rules`` as JSON-ready data; :func:`rules_changes` reads it back."""
    data: dict[str, Any] = {}
    for name in Rules.__dataclass_fields__:
        value = getattr(rules, name)
        if name in _DURATIONS:
            data[_DURATIONS[name]] = value.total_seconds()
        elif name == "check_order":
            data[name] = list(value)
        else:
            data[name] = value
    return data


def rules_changes(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON rule changes into ``Rules`` keyword arguments, or raise.

    Only the JSON names and the durations (seconds) are checked here;
    :class:`Rules` checks every value itself.
    """
    names = {_DURATIONS.get(name, name): name for name in Rules.__dataclass_fields__}
    changes: dict[str, Any] = {}
    for key, value in payload.items():
        name = names.get(key)
        if name is None:
            raise UsageError(
                f"Unknown rule {key!r}; the rules are {', '.join(sorted(names))}."
            )

        if name in _DURATIONS:
            value = _duration(key, value)
        changes[name] = value
    return changes


def _duration(key: str, value: Any) -> timedelta:
    limit = MAX_DURATION.total_seconds()
    number = isinstance(value, int | float) and not isinstance(value, bool)
    # Comparisons, not float(): a huge JSON integer cannot overflow them.
    if not number or not 0 < value <= limit:
        raise UsageError(
            f"{key} must be a number of seconds more than 0 and at most "
            f"{limit:.0f} (366 days), not {value!r}."
        )
    return timedelta(seconds=value)


def _add_project(emulator: Emulator, payload: dict[str, Any]) -> Project:
    unknown = sorted(set(payload) - {"plan", "credits", "project_id"})
    if unknown:
        raise UsageError(
            f"Unknown field {unknown[0]!r}; a project takes plan, credits and "
            "project_id."
        )

    plan: Any = payload.get("plan")  # add_project refuses a plan that is no str
    return emulator.add_project(
        plan,
        credits=payload.get("credits", 0),
        project_id=payload.get("project_id"),
    )


def _object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise UsageError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise UsageError("The request body must be a JSON object.")
    return payload


def _seconds(payload: dict[str, Any]) -> Any:
    # The emulator checks the amount itself, as it does for Python callers.
    if set(payload) != {"seconds"}:
        raise UsageError('The body must be {"seconds": <number>}, nothing else.')
    return payload["seconds"]


def _ok(status: int, payload: dict[str, Any]) -> Reply:
    return _json(status, {**payload, "emulator_specific": True})
