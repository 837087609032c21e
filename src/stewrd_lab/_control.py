"""[emulator-specific] The control routes of the emulator, under ``/_emulator/``.

The Stewrd API has none of these routes: they let curl, a notebook or a test
drive a served emulator the way Python drives an in-process one, with the
same names as the :class:`~stewrd_lab.Emulator` methods they call.

- ``GET /_emulator/state``: ``state()``
- ``POST /_emulator/reset``: ``reset()``
- ``POST /_emulator/advance`` with ``{"seconds": 60}``: ``advance(timedelta)``
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
``project_not_found`` (404). Limits: the routes need no key and count toward
no rate limit, so anyone who can reach a served emulator can drive it; serve
it on 127.0.0.1 (the default) unless that is what you want.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stewrd_lab._emulator import Reply, Rules, _error, _json

if TYPE_CHECKING:
    from stewrd_lab._emulator import Emulator, Project

__all__ = ["control", "project_payload", "rules_changes", "rules_payload"]

_NOTE = "(This control endpoint is emulator-specific.)"

# How each rule travels as JSON: its JSON name and the accepted types.
_DURATIONS = {
    "rate_window": "rate_window_seconds",
    "idle_expiry": "idle_expiry_seconds",
}
_OPTIONAL_INTS = ("session_cap", "rate_limit")
_BOOLS = ("retry_after", "refuse_create_body")


def control(emulator: Emulator, route: str, param: str, body: bytes) -> Reply:
    """Answer one request to a control route (method already checked)."""
    try:
        payload = _object(body)
        if route == "/_emulator/state":
            return _ok(200, emulator.state())
        if route == "/_emulator/reset":
            emulator.reset()
            return _ok(200, emulator.state())
        if route == "/_emulator/advance":
            now = emulator.advance(timedelta(seconds=_seconds(payload)))
            return _ok(200, {"object": "emulator.clock", "now": now.isoformat()})
        if route == "/_emulator/configure":
            rules = emulator.configure(**rules_changes(payload))
            return _ok(200, {"object": "emulator.rules", "rules": rules_payload(rules)})
        if route == "/_emulator/projects":
            project = _add_project(emulator, payload)
            return _ok(201, project_payload(project, 0))

        project = emulator.project(param)
        if route.endswith("/regenerate-key"):
            emulator.regenerate_key(project.id)
        return _ok(200, project_payload(project, emulator.active_sessions(project.id)))
    except KeyError:
        return _error(
            404,
            "project_not_found",
            f"No project {param!r} on this emulator; use a plan name or a "
            f"project id from GET /_emulator/state. {_NOTE}",
        )
    except (ValueError, TypeError, OverflowError) as exc:
        return _error(400, "invalid_control_request", f"{exc} {_NOTE}")


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
    """Turn JSON rule changes into ``Rules`` keyword arguments, or raise."""
    names = {_DURATIONS.get(name, name): name for name in Rules.__dataclass_fields__}
    changes: dict[str, Any] = {}
    for key, value in payload.items():
        name = names.get(key)
        if name is None:
            raise ValueError(
                f"Unknown rule {key!r}; the rules are {', '.join(sorted(names))}."
            )

        if name in _DURATIONS:
            value = timedelta(seconds=_number(key, value))
        elif (name in _OPTIONAL_INTS and value is not None) or name == "max_body":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a whole number >= 0, not {value!r}.")
        elif name in _BOOLS and not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, not {value!r}.")
        elif name == "check_order":
            if not isinstance(value, list):
                raise ValueError(f"check_order must be a list, not {value!r}.")
            value = tuple(value)
        changes[name] = value
    return changes


def _add_project(emulator: Emulator, payload: dict[str, Any]) -> Project:
    unknown = sorted(set(payload) - {"plan", "credits", "project_id"})
    if unknown:
        raise ValueError(
            f"Unknown field {unknown[0]!r}; a project takes plan, credits and "
            "project_id."
        )

    plan, credits = payload.get("plan"), payload.get("credits", 0)
    project_id = payload.get("project_id")
    if not isinstance(plan, str):
        raise ValueError(f'"plan" must be a plan name, not {plan!r}.')
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
        raise ValueError(f'"credits" must be a whole number >= 0, not {credits!r}.')
    if project_id is not None and (not isinstance(project_id, str) or not project_id):
        raise ValueError(
            f'"project_id" must be a non-empty string, not {project_id!r}.'
        )
    if project_id is not None and "/" in project_id:
        raise ValueError(f'"project_id" cannot hold "/", as in {project_id!r}.')
    return emulator.add_project(plan, credits=credits, project_id=project_id)


def _object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ValueError("The request body must be a JSON object.")
    return payload


def _seconds(payload: dict[str, Any]) -> float:
    if set(payload) != {"seconds"}:
        raise ValueError('The body must be {"seconds": <number>}, nothing else.')
    seconds = _number("seconds", payload["seconds"])
    if seconds < 0:
        raise ValueError(f"The clock only moves forward; got {seconds} seconds.")
    return seconds


def _number(key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{key} must be a number of seconds, not {value!r}.")
    if not float("-inf") < value < float("inf"):
        raise ValueError(f"{key} must be finite, not {value!r}.")
    return float(value)


def _ok(status: int, payload: dict[str, Any]) -> Reply:
    return _json(status, {**payload, "emulator_specific": True})
