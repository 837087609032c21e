"""An ipywidgets explorer: drive ``POST /v1/sessions`` with clicks.

The :class:`Explorer` builds the widgets and forwards their events to an
:class:`~stewrd_lab._explorer_model.ExplorerModel`, plain Python that does
the work, so everything it shows can be checked without a browser.

Limits:

- The history table refreshes after the explorer's own actions and on
  *Refresh*; requests made elsewhere with the same client appear then.
- The full key of a curl command is known only for requests this explorer
  sent with a key typed or picked in it. The history holds keys redacted,
  so older rows (or the client's own key) can only be shown masked.
- The key field, and the curl box while *Show the full key* is ticked,
  hold the full key in their widget state. JupyterLab writes widget state
  into a saved notebook only when its "Save Jupyter widget state in
  notebooks" setting is on (it is off by default).
- The plan picker and the clock control appear only when the client has an
  emulator to control (``client.emulator``); they are emulator-specific.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from stewrd_lab._emulator import PLANS
from stewrd_lab._explorer_model import (
    ExplorerModel,
    Row,
    banner_html,
    message_html,
    table_html,
)

try:
    import ipywidgets as widgets
except ImportError as exc:  # the widgets extra is optional
    raise ImportError(
        "The explorer needs ipywidgets: pip install 'stewrd-lab[widgets]'."
    ) from exc

if TYPE_CHECKING:
    from stewrd_lab._client import Client

__all__ = ["Explorer"]


class Explorer:
    """Widgets to create sessions and read the history, on one client.

    Show it by making it a cell's last expression. The widgets are
    attributes (``create_button``, ``key``, ``plan``, ``table``, ...), so a
    notebook or a test can drive it from code: set values, ``click()``
    buttons. Without a client it explores a new ``Client()``: the embedded
    emulator, unless ``STEWRD_BASE_URL`` names another target.

    >>> import stewrd_lab
    >>> explorer = stewrd_lab.Explorer()
    >>> explorer.create_button.click()
    >>> explorer.model.rows()[0].status
    '201'
    """

    def __init__(self, client: Client | None = None) -> None:
        if client is None:
            from stewrd_lab._client import Client

            client = Client()
        self.client = client
        self.model = ExplorerModel(client)
        self._syncing = False

        # What the target is, before anything else.
        self.banner = widgets.HTML(
            banner_html(client.target.kind, self.model.banner_text)
        )

        # The key: a password field, so the key is never echoed on screen.
        self.key = widgets.Password(
            description="API key", placeholder="empty: the client's own key"
        )
        self.plan = widgets.Dropdown(
            options=[("(client's own key)", ""), *((p, p) for p in PLANS)],
            value="",
            description="Plan key",
        )
        self.create_button = widgets.Button(
            description="Create session", button_style="primary"
        )
        self.refresh_button = widgets.Button(description="Refresh")
        self.message = widgets.HTML()

        # The emulator's clock (emulator-specific).
        self.minutes = widgets.BoundedIntText(
            value=30, min=1, max=7 * 24 * 60, description="Minutes"
        )
        self.advance_button = widgets.Button(description="Advance clock")

        # The history and a curl command for one of its rows.
        self.table = widgets.HTML()
        self.row = widgets.Dropdown(description="Row", options=[])
        self.full_key = widgets.Checkbox(value=False, description="Show the full key")
        self.curl = widgets.Textarea(
            description="curl", layout=widgets.Layout(width="100%", height="4em")
        )
        self.curl_note = widgets.HTML()

        # Anything a callback prints or raises unexpectedly lands here
        # instead of vanishing into the browser's log.
        self.output = widgets.Output()

        # Class names for a page (and a browser test) to find each widget by.
        classes = {
            "banner": "banner-line",
            "key": "key-field",
            "plan": "plan-picker",
            "create_button": "create-button",
            "message": "message-line",
            "minutes": "minutes-field",
            "advance_button": "advance-button",
            "table": "history-table",
            "row": "row-picker",
            "full_key": "full-key-box",
            "curl": "curl-box",
            "output": "output-area",
        }
        for name, css in classes.items():
            getattr(self, name).add_class(f"stewrd-{css}")

        self._wire()
        self.view = widgets.VBox(self._layout())
        self.refresh()

    # -- building ------------------------------------------------------------

    def _wire(self) -> None:
        def on(handler: Any) -> Any:
            return self.output.capture()(handler)

        self.key.observe(on(self._on_key), names="value")
        self.plan.observe(on(self._on_plan), names="value")
        self.create_button.on_click(on(self._on_create))
        self.refresh_button.on_click(on(self._on_refresh))
        self.advance_button.on_click(on(self._on_advance))
        self.row.observe(on(self._on_curl_choice), names="value")
        self.full_key.observe(on(self._on_curl_choice), names="value")

    def _layout(self) -> list[Any]:
        children: list[Any] = [self.banner]
        if self.model.emulator is not None:
            children.append(widgets.HBox([self.key, self.plan]))
        else:
            children.append(self.key)
        children += [
            widgets.HBox([self.create_button, self.refresh_button]),
            self.message,
        ]
        if self.model.emulator is not None:
            children.append(widgets.HBox([self.minutes, self.advance_button]))
        children += [
            self.table,
            widgets.HBox([self.row, self.full_key]),
            self.curl,
            self.curl_note,
            self.output,
        ]
        return children

    # -- events --------------------------------------------------------------

    def _on_key(self, change: dict[str, Any]) -> None:
        self.model.set_key(change["new"])
        if not self._syncing and self.plan.value:
            # A key typed by hand is no longer the picked plan's key.
            with self._sync():
                self.plan.value = ""

    def _on_plan(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return

        plan = change["new"]
        if plan:
            key = self.model.pick_plan(plan)
        else:
            self.model.use_client_key()
            key = ""
        with self._sync():
            self.key.value = key
        self._show_message()

    def _on_create(self, _button: Any) -> None:
        self.model.create_session()
        self.refresh()

    def _on_refresh(self, _button: Any) -> None:
        self.refresh()

    def _on_advance(self, _button: Any) -> None:
        self.model.advance(int(self.minutes.value))
        self._show_message()

    def _on_curl_choice(self, _change: dict[str, Any]) -> None:
        self._show_curl()

    # -- showing -------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the table, select the newest row, and show its curl."""
        rows = self.model.rows()
        self.table.value = table_html(rows)

        with self._sync():
            self.row.options = [(_row_label(row), row.number) for row in rows]
            self.row.value = rows[0].number if rows else None
        self._show_curl()
        self._show_message()

    def _show_message(self) -> None:
        self.message.value = message_html(self.model.message, error=self.model.is_error)

    def _show_curl(self) -> None:
        if self.row.value is None:
            self.curl.value = ""
            self.curl_note.value = ""
            return

        command, note = self.model.curl(self.row.value, full_key=self.full_key.value)
        self.curl.value = command
        self.curl_note.value = f"<small>{escape(note)}</small>" if note else ""

    def _sync(self) -> _Syncing:
        return _Syncing(self)

    # -- display -------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.view._repr_mimebundle_(**kwargs)
        # The widgets' own text repr would list their values, the key field's
        # among them; a plain text reader gets this line instead.
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return (
            f"<Explorer on the {self.client.target}: "
            f"{len(self.client.recorder)} requests>"
        )


class _Syncing:
    """Marks widget changes made by the explorer itself, not by the user."""

    def __init__(self, explorer: Explorer) -> None:
        self._explorer = explorer

    def __enter__(self) -> None:
        self._explorer._syncing = True

    def __exit__(self, *exc_info: object) -> None:
        self._explorer._syncing = False


def _row_label(row: Row) -> str:
    outcome = " ".join(part for part in (row.status, row.code) if part)
    return f"#{row.number} {outcome}"
