"""The tour: three walkthroughs of ``POST /v1/sessions`` on the emulator.

Each walkthrough drives a fresh embedded emulator, builds one table from the
client's history, and lists every way the answers differed from the
documentation. With the same seed, two runs give byte-identical tables.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from stewrd_lab._client import Client
from stewrd_lab._emulator import (
    PLAN_RESTRICTED,
    PLANS,
    SESSION_LIMIT,
    Emulator,
)
from stewrd_lab._errors import StewrdError
from stewrd_lab._keys import KEY_PREFIX

__all__ = ["WALKTHROUGHS", "Walkthrough", "run_tour"]

# What the documentation promises for each outcome: (status, code).
CREATED = (201, None)
INVALID_KEY = (401, "invalid_api_key")
RESTRICTED = (403, "plan_restricted")
AT_CAP = (429, "session_limit_reached")


@dataclass
class Walkthrough:
    """One walkthrough's table and the ways it differed from the docs."""

    name: str
    title: str
    table: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The table as text: words left-aligned, numbers right, "-" if missing."""
        table = self.table
        shown = table.astype(object).where(table.notna(), "-")
        words = [str(c) for c in table if not pd.api.types.is_numeric_dtype(table[c])]
        widths = {c: max(len(c), *(len(str(v)) for v in shown[c])) for c in words}
        formatters = {c: f"{{:<{widths[c]}}}".format for c in words}
        text = shown.to_string(index=False, formatters=formatters, justify="left")
        return "\n".join(line.rstrip() for line in text.splitlines())


def _attempt(client: Client, **kwargs: Any) -> None:
    # Errors are the point of a walkthrough: each is already a history row.
    with suppress(StewrdError):
        client.create_session(**kwargs)


def _compare(
    name: str, labels: list[str], history: pd.DataFrame, expected: list[Any]
) -> list[str]:
    problems = []
    rows = zip(labels, history["status"], history["code"], expected, strict=True)
    for label, status, code, (want_status, want_code) in rows:
        got = (
            None if pd.isna(status) else int(status),
            None if pd.isna(code) else code,
        )
        if got != (want_status, want_code):
            problems.append(
                f"{name}: {label!r} expected {_outcome(want_status, want_code)}, "
                f"got {_outcome(*got)}"
            )
    return problems


def _outcome(status: int | None, code: str | None) -> str:
    if status is None:
        return "no answer"
    return f"{status} {code}" if code else str(status)


def authentication(seed: int = 0) -> Walkthrough:
    """Every way a key can be wrong, then a right one."""
    emulator = Emulator(seed=seed)
    client = Client(emulator=emulator)
    revoked = emulator.key_for("scale")
    valid = emulator.regenerate_key("scale")

    cases: list[tuple[str, dict[str, Any], tuple[int, str | None]]] = [
        ("no Authorization header", {"authorization": None}, INVALID_KEY),
        ("Basic scheme, not Bearer", {"authorization": f"Basic {valid}"}, INVALID_KEY),
        ("no sk-stw_ prefix", {"api_key": "my-stewrd-key-0123456789"}, INVALID_KEY),
        ("well-formed, unknown", {"api_key": KEY_PREFIX + "0" * 32}, INVALID_KEY),
        ("revoked by regeneration", {"api_key": revoked}, INVALID_KEY),
        ("current key", {"api_key": valid}, CREATED),
    ]
    for _, kwargs, _ in cases:
        _attempt(client, **kwargs)

    history = client.history()
    labels = [case for case, _, _ in cases]
    sent = (history["scheme"].astype("string") + " " + history["key"]).str.strip()
    table = pd.DataFrame(
        {
            "case": labels,
            "sent": sent.replace("", "(no header)"),
            "status": history["status"],
            "code": history["code"],
            "message": history["message"],
        }
    )
    problems = _compare("authentication", labels, history, [c[2] for c in cases])
    return Walkthrough("authentication", "1. Authentication", table, problems)


def plans(seed: int = 0) -> Walkthrough:
    """One key per plan: only Scale may create sessions."""
    emulator = Emulator(seed=seed)
    client = Client(emulator=emulator)
    for plan in PLANS:
        _attempt(client, api_key=emulator.key_for(plan))

    history = client.history()
    table = pd.DataFrame(
        {
            "plan": list(PLANS),
            "key": history["key"],
            "status": history["status"],
            "code": history["code"],
            "message": history["message"],
            "session_id": history["session_id"],
        }
    )
    expected = [RESTRICTED, RESTRICTED, CREATED]
    problems = _compare("plans", list(PLANS), history, expected)
    problems += _messages("plans", history, PLAN_RESTRICTED)
    return Walkthrough("plans", "2. Plans", table, problems)


def session_limit(seed: int = 0) -> Walkthrough:
    """Twelve creates against the cap of ten, then an expiry frees a slot."""
    emulator = Emulator(seed=seed)
    client = Client(emulator=emulator)
    active = []
    for _ in range(12):
        _attempt(client)
        active.append(emulator.active_sessions("scale"))

    # Past the idle expiry, every earlier session has expired.
    emulator.advance(emulator.rules.idle_expiry + timedelta(minutes=1))
    _attempt(client)
    active.append(emulator.active_sessions("scale"))

    history = client.history()
    table = pd.DataFrame(
        {
            "attempt": range(1, len(history) + 1),
            "clock": history["time"].dt.strftime("%H:%M"),
            "status": history["status"],
            "code": history["code"],
            "message": history["message"],
            "session_id": history["session_id"],
            "active": active,
        }
    )
    labels = [f"attempt {n}" for n in table["attempt"]]
    expected = [CREATED] * 10 + [AT_CAP] * 2 + [CREATED]
    problems = _compare("session limit", labels, history, expected)
    problems += _messages("session limit", history, SESSION_LIMIT)
    ids = history["session_id"].dropna()
    if ids.nunique() != len(ids):
        problems.append("session limit: two created sessions got the same id")
    return Walkthrough("session_limit", "3. Session limit", table, problems)


def _messages(name: str, history: pd.DataFrame, documented: str) -> list[str]:
    errors = history[history["code"].notna()]
    wrong = errors[errors["message"] != documented]
    return [
        f"{name}: {code} came with the message {message!r}, not {documented!r}"
        for code, message in zip(wrong["code"], wrong["message"], strict=True)
    ]


WALKTHROUGHS: tuple[Callable[[int], Walkthrough], ...] = (
    authentication,
    plans,
    session_limit,
)


def run_tour(seed: int = 0) -> list[Walkthrough]:
    """Run every walkthrough on fresh emulators seeded with ``seed``."""
    return [walkthrough(seed) for walkthrough in WALKTHROUGHS]
