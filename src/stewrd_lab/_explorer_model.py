"""The explorer's logic, without widgets: state, actions, rows and HTML.

:class:`ExplorerModel` holds the key the user typed or picked, creates
sessions, moves the emulator's clock, and turns the client's history into
table rows and curl commands. The widgets of :mod:`stewrd_lab._explorer`
only forward their events here, so everything the explorer shows can be
checked without a browser, and without ipywidgets.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from stewrd_lab._emulator import PLANS
from stewrd_lab._errors import StewrdError, UsageError
from stewrd_lab._keys import redact_key

if TYPE_CHECKING:
    from stewrd_lab._client import Client

__all__ = [
    "EmulatorControls",
    "ExplorerModel",
    "Row",
    "banner_html",
    "message_html",
    "table_html",
]

# The embedded emulator has no address a shell could reach.
EMBEDDED_CURL_NOTE = (
    "The embedded emulator runs inside Python and has no URL: run this "
    "command against a served emulator or the live API."
)
FULL_KEY_UNKNOWN = (
    "The full key is known only for requests sent from this explorer with a "
    "key typed or picked in it; this row's key stays masked."
)

# Banner colours by target: calm for an emulator, loud for the live API.
_BANNER_COLOURS = {
    "embedded emulator": ("#e6f4ea", "#1e6b34"),
    "served emulator": ("#e8f0fe", "#1a4f9c"),
    "live API": ("#fde7e7", "#a50e0e"),
}

# Status cell colours by status class; "none" is a request that got no answer.
_STATUS_COLOURS = {
    "2xx": ("#e6f4ea", "#1e6b34"),
    "4xx": ("#fef3e0", "#8a4b00"),
    "5xx": ("#fde7e7", "#a50e0e"),
    "none": ("#eeeeee", "#444444"),
}

_COLUMNS = ("#", "time", "status", "code", "message", "session id", "key")


class EmulatorControls(Protocol):
    """What the explorer asks of an emulator, embedded or served."""

    def key_for(self, plan_or_id: str) -> str: ...

    def advance(self, delta: timedelta) -> Any: ...

    def active_sessions(self, plan_or_id: str) -> int: ...


@dataclass(frozen=True)
class Row:
    """One history row as the table shows it; every field is display text."""

    number: int
    time: str
    status: str
    code: str
    message: str
    session_id: str
    key: str
    status_class: str

    def cells(self) -> tuple[str, ...]:
        return (
            str(self.number),
            self.time,
            self.status,
            self.code,
            self.message,
            self.session_id,
            self.key,
        )


class ExplorerModel:
    """The explorer's state and actions, without any widget.

    ``message`` is the one line shown under the buttons and ``is_error``
    says whether it reports a failure. Actions never raise a
    :class:`StewrdError`: its message becomes ``message`` instead.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.emulator: EmulatorControls | None = getattr(client, "emulator", None)
        self.message = ""
        self.is_error = False
        self._key = ""

        # History position -> the full key this explorer sent there. Only
        # keys typed or picked here are ever known in full.
        self._sent_keys: dict[int, str] = {}

    # -- what the banner says ------------------------------------------------

    @property
    def banner_text(self) -> str:
        target = self.client.target
        return f"{target.kind.upper()}: {target}"

    # -- the key -------------------------------------------------------------

    @property
    def key(self) -> str:
        """The key typed or picked here; empty means the client's own key."""
        return self._key

    def set_key(self, key: str) -> None:
        self._key = key

    def use_client_key(self) -> None:
        """Go back to sending the client's own key."""
        self._key = ""
        self._say("Create session now sends the client's own key.")

    def pick_plan(self, plan: str) -> str:
        """Make the emulator's project on ``plan`` the key to send; return it."""
        if self.emulator is None:
            self._say("Only an emulator hands out keys by plan.", error=True)
            return self._key

        try:
            key = self.emulator.key_for(plan)
        except StewrdError as error:
            self._say(str(error), error=True)
            return self._key

        self._key = key
        self._say(
            f"Picked the {plan} plan's key ({redact_key(key)}); "
            "Create session sends it."
        )
        return key

    # -- actions -------------------------------------------------------------

    def create_session(self) -> None:
        """Send ``POST /v1/sessions`` with the key, and say what came of it."""
        key = self._key
        before = len(self.client.recorder)

        try:
            if key:
                session = self.client.create_session(api_key=key)
            else:
                session = self.client.create_session()
        except StewrdError as error:
            self._say(str(error), error=True)
        else:
            self._say(f"201 Created: session {session.id}.")
        finally:
            if key and len(self.client.recorder) == before + 1:
                self._sent_keys[before] = key

    def advance(self, minutes: int) -> None:
        """Move the emulator's clock forward (emulator-specific)."""
        if self.emulator is None:
            self._say("Only an emulator has a clock to move.", error=True)
            return
        if minutes < 1:
            self._say(
                f"Advance the clock by at least 1 minute; got {minutes}.",
                error=True,
            )
            return

        try:
            now = self.emulator.advance(timedelta(minutes=minutes))
            counts = ", ".join(
                f"{plan} {self.emulator.active_sessions(plan)}" for plan in PLANS
            )
        except StewrdError as error:
            self._say(str(error), error=True)
            return

        when = f" to {now:%Y-%m-%d %H:%M:%S %Z}" if isinstance(now, datetime) else ""
        self._say(
            f"The emulator's clock moved {minutes} min forward{when}. "
            f"Active sessions by plan: {counts}."
        )

    # -- the history ---------------------------------------------------------

    def rows(self) -> list[Row]:
        """The client's history, newest first, as display text."""
        frame = self.client.history()
        rows = [_row(position, record) for position, record in frame.iterrows()]
        return rows[::-1]

    def curl(self, number: int, *, full_key: bool = False) -> tuple[str, str]:
        """Return the curl command of history row ``number`` and a note.

        The key is masked as in the history unless ``full_key`` is set and
        this explorer sent that row with a key typed or picked here. The
        note says why a command cannot be run as it is (or is empty).
        """
        frame = self.client.history()
        if not 1 <= number <= len(frame):
            raise UsageError(
                f"There is no history row {number}; the history has {len(frame)} rows."
            )
        record = frame.iloc[number - 1]

        scheme = _text(record["scheme"])
        credential = _text(record["key"])
        notes = []
        sent = self._sent_keys.get(number - 1)
        if full_key:
            if sent is not None and redact_key(sent) == credential:
                credential = sent
            else:
                notes.append(FULL_KEY_UNKNOWN)

        target = self.client.target
        url = target.base_url.rstrip("/") + _text(record["path"])
        parts = ["curl", "-X", _text(record["method"]), url]
        header = " ".join(part for part in (scheme, credential) if part)
        if header:
            parts += ["-H", f"Authorization: {header}"]

        if target.kind == "embedded emulator":
            notes.append(EMBEDDED_CURL_NOTE)
        return " ".join(shlex.quote(part) for part in parts), " ".join(notes)

    # -- helpers -------------------------------------------------------------

    def _say(self, message: str, *, error: bool = False) -> None:
        self.message = message
        self.is_error = error

    def __repr__(self) -> str:
        return (
            f"<ExplorerModel {self.client.target.kind} "
            f"key={redact_key(self._key) or 'client'}>"
        )


def _text(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def _row(position: Any, record: pd.Series[Any]) -> Row:
    status = record["status"]
    if pd.isna(status):
        status_text, status_class = "", "none"
    else:
        status_text = str(int(status))
        status_class = f"{status_text[0]}xx"

    return Row(
        number=int(position) + 1,
        time=f"{record['time']:%Y-%m-%d %H:%M:%S}",
        status=status_text,
        code=_text(record["code"]) or _text(record["error"]),
        message=_text(record["message"]),
        session_id=_text(record["session_id"]),
        key=_text(record["key"]),
        status_class=status_class,
    )


def banner_html(kind: str, text: str) -> str:
    """The banner: the target's kind and description, coloured by kind."""
    background, colour = _BANNER_COLOURS.get(kind, _BANNER_COLOURS["live API"])
    return (
        f'<div class="stewrd-banner" style="background:{background};'
        f"color:{colour};border:2px solid {colour};padding:6px 10px;"
        f'font-weight:bold">{escape(text)}</div>'
    )


def message_html(message: str, *, error: bool) -> str:
    """The one status line; red when it reports a failure."""
    if not message:
        return ""
    colour = "#a50e0e" if error else "#1e6b34"
    return f'<div class="stewrd-message" style="color:{colour}">{escape(message)}</div>'


def table_html(rows: list[Row]) -> str:
    """The history as an HTML table, with every cell escaped."""
    if not rows:
        return '<p class="stewrd-empty">No requests yet: click Create session.</p>'

    head = "".join(f"<th>{escape(name)}</th>" for name in _COLUMNS)
    body = []
    for row in rows:
        background, colour = _STATUS_COLOURS.get(row.status_class, ("", ""))
        cells = []
        for name, value in zip(_COLUMNS, row.cells(), strict=True):
            style = ""
            if name in ("status", "code"):
                style = f' style="background:{background};color:{colour}"'
            cells.append(
                f'<td class="stewrd-{name.replace(" ", "-")}"{style}>'
                f"{escape(value)}</td>"
            )
        body.append(f'<tr class="stewrd-{row.status_class}">{"".join(cells)}</tr>')
    return (
        '<table class="stewrd-history"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
