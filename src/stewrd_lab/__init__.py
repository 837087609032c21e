"""stewrd-lab: learn, explore and document the Stewrd sessions API.

Everything public is importable from here; the ``_modules`` behind it are
private and may change.

>>> import stewrd_lab
>>> client = stewrd_lab.Client()          # the embedded emulator
>>> client.create_session().status
'active'
"""

from __future__ import annotations

from typing import Any

from stewrd_lab._answers import Message, Session, Target
from stewrd_lab._async import AsyncClient
from stewrd_lab._client import DEFAULT_BASE_URL, Client
from stewrd_lab._emulator import EMULATOR_EPOCH, PLANS, Clock, Emulator, Project, Rules
from stewrd_lab._errors import (
    APIError,
    BadRequestError,
    ConnectError,
    InsufficientCreditsError,
    InvalidAPIKeyError,
    PlanRestrictedError,
    RateLimitedError,
    RequestTimeoutError,
    SessionLimitReachedError,
    SessionNotFoundError,
    StewrdError,
    TransportError,
    UnexpectedResponseError,
    UsageError,
)
from stewrd_lab._history import HistoryFileWarning, load_history, save_history
from stewrd_lab._keys import EMULATOR_KEY_PREFIX, KEY_PREFIX, redact_key
from stewrd_lab._probe import probe_session_cap
from stewrd_lab._recording import COLUMNS, DTYPES, Exchange, Recorder
from stewrd_lab._remote import RemoteEmulator
from stewrd_lab._retry import RetryPolicy
from stewrd_lab._transport import EmulatorTransport

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "DEFAULT_BASE_URL",
    "DTYPES",
    "EMULATOR_EPOCH",
    "EMULATOR_KEY_PREFIX",
    "KEY_PREFIX",
    "PLANS",
    "APIError",
    "AsyncClient",
    "BadRequestError",
    "Client",
    "Clock",
    "ConnectError",
    "Emulator",
    "EmulatorTransport",
    "Exchange",
    "HistoryFileWarning",
    "InsufficientCreditsError",
    "InvalidAPIKeyError",
    "Message",
    "PlanRestrictedError",
    "Project",
    "RateLimitedError",
    "Recorder",
    "RemoteEmulator",
    "RequestTimeoutError",
    "RetryPolicy",
    "Rules",
    "Session",
    "SessionLimitReachedError",
    "SessionNotFoundError",
    "StewrdError",
    "Target",
    "TransportError",
    "UnexpectedResponseError",
    "UsageError",
    "load_history",
    "probe_session_cap",
    "redact_key",
    "save_history",
]


def __getattr__(name: str) -> Any:
    # The explorer loads ipywidgets, so it is imported on first use only:
    # ``import stewrd_lab`` stays fast and works without the widgets extra.
    # For the same reason it is left out of __all__: a star import must not
    # fail where ipywidgets is not installed.
    if name == "Explorer":
        from stewrd_lab._explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'stewrd_lab' has no attribute {name!r}")
