"""Find a project's session cap by creating sessions until one is refused."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from stewrd_lab._async import DEFAULT_CONCURRENCY, AsyncClient
from stewrd_lab._client import Client, Session
from stewrd_lab._errors import SessionLimitReachedError, StewrdError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DOCUMENTED_CAP", "probe_session_cap"]

DOCUMENTED_CAP = 10
"""Active sessions per project, as the seed document's 429 message says."""

COLUMNS = (
    "target",
    "requests",
    "created",
    "refused_at_cap",
    "other_errors",
    "session_cap",
    "verdict",
)


def probe_session_cap(
    client: Client | AsyncClient,
    *,
    attempts: int = 12,
    concurrency: int = DEFAULT_CONCURRENCY,
    confirm_live: bool = False,
) -> pd.DataFrame:
    """Create sessions until the project's cap refuses one; report it as a frame.

    Sends up to ``attempts`` creates with the client's key, at most
    ``concurrency`` at a time, and stops sending at the first error. Returns
    one row: the target, how many requests were sent, how many sessions were
    created, how many creates were refused with ``session_limit_reached``,
    how many failed otherwise, the cap found (``<NA>`` when none was
    reached) and a one-sentence verdict. Every request is also a row of the
    client's history.

    Limits: the cap found counts only the sessions this probe created, so
    sessions the project already had active make it look lower; and requests
    in flight when the cap is met are refused too, so ``refused_at_cap`` can
    exceed one.

    On the live API this creates real sessions that stay active for 30 idle
    minutes and cannot be closed, so it refuses to run unless
    ``confirm_live=True``. It works from a script and from a notebook cell
    alike (in a notebook it runs its event loop in a worker thread).
    """
    core = client.client if isinstance(client, AsyncClient) else client
    transport = client._transport if isinstance(client, AsyncClient) else None
    if not isinstance(attempts, int) or attempts < 1:
        raise UsageError(f"attempts must be a whole number >= 1; got {attempts!r}.")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(
            f"concurrency must be a whole number >= 1; got {concurrency!r}."
        )

    if core.target.kind == "live API" and not confirm_live:
        sessions = min(attempts, DOCUMENTED_CAP)
        raise UsageError(
            f"probe_session_cap would send up to {attempts} create requests to "
            f"the live API at {core.target.base_url} and leave up to "
            f"{sessions} sessions active in the project for 30 minutes, and "
            "the API has no way to close them; pass confirm_live=True "
            "(stewrd-lab probe --confirm-live) to run it anyway."
        )

    async def run() -> list[Session | StewrdError | None]:
        async with AsyncClient.from_client(
            core, transport=transport, concurrency=concurrency
        ) as twin:
            return await _probe(twin, attempts)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        outcomes = asyncio.run(run())
    else:
        # A notebook's loop is already running: asyncio.run would refuse.
        with ThreadPoolExecutor(1, thread_name_prefix="stewrd-probe") as pool:
            outcomes = pool.submit(asyncio.run, run()).result()
    return _report(core, outcomes)


async def _probe(
    twin: AsyncClient, attempts: int
) -> list[Session | StewrdError | None]:
    stop = asyncio.Event()
    gate = asyncio.Semaphore(twin.concurrency)

    async def one() -> Session | StewrdError | None:
        # Checked once a slot is free, so nothing more is sent after the
        # first error; the client's own slots never make this one wait.
        async with gate:
            if stop.is_set():
                return None
            try:
                return await twin.create_session()
            except StewrdError as error:
                stop.set()
                return error

    return list(await asyncio.gather(*(one() for _ in range(attempts))))


def _report(
    client: Client, outcomes: list[Session | StewrdError | None]
) -> pd.DataFrame:
    import pandas as pd

    sent = [o for o in outcomes if o is not None]
    created = sum(isinstance(o, Session) for o in sent)
    at_cap = sum(isinstance(o, SessionLimitReachedError) for o in sent)
    others = [o for o in sent if isinstance(o, StewrdError)]
    others = [o for o in others if not isinstance(o, SessionLimitReachedError)]

    if others:
        verdict = (
            f"The probe stopped after {created} new sessions because a create "
            f"failed: {others[0]}"
        )
    elif at_cap:
        verdict = (
            f"The cap was met after {created} new sessions (the documented cap "
            f"is {DOCUMENTED_CAP}; sessions already active count toward it)."
        )
    else:
        verdict = (
            f"All {created} creates succeeded: the cap is above {created}, or "
            "sessions expired during the probe."
        )

    row = {
        "target": [client.target.label],
        "requests": [len(sent)],
        "created": [created],
        "refused_at_cap": [at_cap],
        "other_errors": [len(others)],
        "session_cap": [created if at_cap and not others else None],
        "verdict": [verdict],
    }
    dtypes = {
        "target": "string",
        "requests": "int64",
        "created": "int64",
        "refused_at_cap": "int64",
        "other_errors": "int64",
        "session_cap": "Int64",
        "verdict": "string",
    }
    return pd.DataFrame(row, columns=list(COLUMNS)).astype(dtypes)
