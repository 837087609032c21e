"""Many creates at once over real HTTP: the session cap holds exactly.

These run on a served emulator of their own with the rate limit switched
off: 200 requests within a second on one project would otherwise meet the
documented 60 a minute first, and the point here is the session cap.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from served import Served
from stewrd_lab import Client, Emulator, Rules

CONCURRENT = 200


@pytest.fixture(scope="module")
def unlimited(
    serve: Callable[[Emulator], AbstractContextManager[Served]],
) -> Iterator[Served]:
    with serve(Emulator(seed=11, rules=Rules(rate_limit=None))) as running:
        yield running


def _new_scale_key(served: Served) -> str:
    with Client(served.emulator.key_for("scale"), base_url=served.base_url) as client:
        assert client.emulator is not None
        return client.emulator.add_project("scale", credits=1).key


async def _burst(base_url: str, keys: list[str]) -> dict[str, list[httpx.Response]]:
    limits = httpx.Limits(max_connections=CONCURRENT * len(keys))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        calls = [
            http.post("/v1/sessions", headers={"Authorization": f"Bearer {key}"})
            for _ in range(CONCURRENT)
            for key in keys
        ]
        answers = await asyncio.gather(*calls)

    by_key: dict[str, list[httpx.Response]] = {key: [] for key in keys}
    for answer in answers:
        key = answer.request.headers["authorization"].removeprefix("Bearer ")
        by_key[key].append(answer)
    return by_key


def _outcome(answers: list[httpx.Response]) -> tuple[Counter[tuple[int, str]], int]:
    outcomes: Counter[tuple[int, str]] = Counter()
    ids = set()
    for answer in answers:
        body = answer.json()
        if answer.status_code == 201:
            outcomes[(201, body["object"])] += 1
            ids.add(body["id"])
        else:
            error = body["error"]
            outcomes[(answer.status_code, error["code"])] += 1
            assert error["message"] == "Maximum 10 active sessions per project."
    return outcomes, len(ids)


EXPECTED = Counter({(201, "session"): 10, (429, "session_limit_reached"): 190})


@pytest.mark.parametrize("round_", range(3))
def test_200_concurrent_creates__give_exactly_ten_sessions(
    unlimited: Served, round_: int
) -> None:
    key = _new_scale_key(unlimited)

    answers = asyncio.run(_burst(unlimited.base_url, [key]))[key]

    assert _outcome(answers) == (EXPECTED, 10)


def test_concurrent_creates_on_several_projects__each_gets_exactly_ten(
    unlimited: Served,
) -> None:
    keys = [_new_scale_key(unlimited) for _ in range(3)]

    by_key = asyncio.run(_burst(unlimited.base_url, keys))

    assert [_outcome(by_key[key]) for key in keys] == [(EXPECTED, 10)] * 3
    with Client(keys[0], base_url=unlimited.base_url) as client:
        assert client.emulator is not None
        state = client.emulator.state()
    active = {p["key"]: p["active_sessions"] for p in state["projects"]}
    assert [active[key] for key in keys] == [10] * 3
