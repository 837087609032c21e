"""[emulator-specific] Drive a served emulator from Python, as if it were local.

:class:`RemoteEmulator` has the method names of :class:`~stewrd_lab.Emulator`
(``advance``, ``reset``, ``add_project``, ``regenerate_key``, ``key_for``,
``active_sessions``, ``configure``, ``state``) and calls the emulator's
control routes (see :mod:`stewrd_lab._control`), so a notebook works the same
whether ``client.emulator`` is embedded or served.

Limits: each call is one HTTP request that is not recorded in the client's
history (it is no API exchange); it has no ``clock`` or ``projects``
attributes, since that state lives in the server (read ``state()``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from stewrd_lab._control import NOTE, rules_changes
from stewrd_lab._emulator import Project, Rules, changed_rules, clock_seconds
from stewrd_lab._errors import ConnectError, UsageError

__all__ = ["RemoteEmulator"]

logger = logging.getLogger("stewrd_lab")


class RemoteEmulator:
    """The controls of a served emulator, named as :class:`Emulator`'s methods.

    A :class:`~stewrd_lab.Client` whose target is a served emulator has one
    as ``client.emulator``. A refused control (unknown plan or project, a
    backwards clock) raises :class:`~stewrd_lab.UsageError` with the
    sentence the embedded emulator would give (amounts and rules are
    checked before anything is sent); an unreachable server raises
    :class:`~stewrd_lab.ConnectError`.
    """

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self._http = http
        self.base_url = base_url

    def state(self) -> dict[str, Any]:
        """The served emulator's clock, rules and projects (with their keys)."""
        return self._call("GET", "/_emulator/state")

    def reset(self) -> None:
        """Forget every project and session, and start over from the seed."""
        self._call("POST", "/_emulator/reset")

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the served emulator's clock forward and return the new time.

        ``delta`` is a ``timedelta`` or a number of seconds, as for
        :meth:`Emulator.advance`.
        """
        seconds = clock_seconds(delta)
        payload = self._call("POST", "/_emulator/advance", {"seconds": seconds})
        return datetime.fromisoformat(payload["now"])

    def configure(self, **changes: Any) -> Rules:
        """Switch rules on the served emulator, as :meth:`Emulator.configure`."""
        # Checked here first, so a bad change gets the embedded sentence,
        # in Python's names, not the one for JSON names.
        changed_rules(Rules(), changes)

        body: dict[str, Any] = {}
        for name, value in changes.items():
            if isinstance(value, timedelta):
                body[f"{name}_seconds"] = value.total_seconds()
            else:
                body[name] = list(value) if isinstance(value, tuple) else value

        payload = self._call("POST", "/_emulator/configure", body)
        return Rules(**rules_changes(payload["rules"]))

    def add_project(
        self, plan: str, *, credits: int = 0, project_id: str | None = None
    ) -> Project:
        """Create a project on ``plan`` and return it (its key is ``.key``)."""
        body: dict[str, Any] = {"plan": plan, "credits": credits}
        if project_id is not None:
            body["project_id"] = project_id
        return _project(self._call("POST", "/_emulator/projects", body))

    def key_for(self, plan_or_id: str) -> str:
        """The current key of a project, by plan name or project id."""
        return str(self._project(plan_or_id)["key"])

    def regenerate_key(self, plan_or_id: str) -> str:
        """Give a project a new key; the old one is revoked at once."""
        path = f"/_emulator/projects/{quote(plan_or_id, safe='')}/regenerate-key"
        return str(self._call("POST", path)["key"])

    def active_sessions(self, plan_or_id: str) -> int:
        """How many sessions of a project are active now."""
        return int(self._project(plan_or_id)["active_sessions"])

    def __repr__(self) -> str:
        return f"<RemoteEmulator {self.base_url}>"

    def _project(self, plan_or_id: str) -> dict[str, Any]:
        return self._call("GET", f"/_emulator/projects/{quote(plan_or_id, safe='')}")

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ConnectError(
                f"Could not reach the served emulator at {self.base_url}: "
                f"{exc or type(exc).__name__}. Is `stewrd-lab serve` running?",
                target=self.base_url,
            ) from None
        status = response.status_code
        logger.info("%s %s -> %s (emulator control)", method, path, status)

        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success and isinstance(payload, dict):
            return payload

        envelope = payload.get("error") if isinstance(payload, dict) else None
        code = envelope.get("code") if isinstance(envelope, dict) else None
        if code in ("invalid_control_request", "project_not_found"):
            # Without the note for curl users, the sentence is the one the
            # embedded emulator raises for the same call.
            message = str(envelope["message"])  # type: ignore[index]
            raise UsageError(message.removesuffix(f" {NOTE}"))
        raise UsageError(
            f"{self.base_url} answered {response.status_code} to {method} {path}; "
            "it does not look like a served stewrd-lab emulator (start one with "
            "`stewrd-lab serve`)."
        )


def _project(payload: dict[str, Any]) -> Project:
    return Project(
        payload["id"], payload["plan"], int(payload["credits"]), payload["key"]
    )
