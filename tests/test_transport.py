from __future__ import annotations

import asyncio

import httpx

from stewrd_lab import Emulator, EmulatorTransport


def test_sync_client__gets_the_emulator_answer_with_no_socket() -> None:
    emulator = Emulator()
    transport = EmulatorTransport(emulator)
    headers = {"Authorization": f"Bearer {emulator.key_for('scale')}"}

    with httpx.Client(transport=transport, base_url="http://emulator.invalid") as http:
        response = http.post("/v1/sessions", headers=headers)

    assert response.status_code == 201
    assert response.headers["x-stewrd-emulator"] == "1"
    assert response.json()["object"] == "session"


def test_async_client__shares_the_same_emulator_state() -> None:
    emulator = Emulator()
    transport = EmulatorTransport(emulator)
    headers = {"Authorization": f"Bearer {emulator.key_for('scale')}"}

    async def create_twelve() -> list[int]:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://emulator.invalid"
        ) as http:
            replies = await asyncio.gather(
                *(http.post("/v1/sessions", headers=headers) for _ in range(12))
            )
        return sorted(r.status_code for r in replies)

    assert asyncio.run(create_twelve()) == [201] * 10 + [429] * 2
    assert emulator.active_sessions("scale") == 10


def test_query_string__does_not_change_the_route() -> None:
    emulator = Emulator()
    transport = EmulatorTransport(emulator)
    headers = {"Authorization": f"Bearer {emulator.key_for('free')}"}

    with httpx.Client(transport=transport, base_url="http://emulator.invalid") as http:
        response = http.post("/v1/sessions?debug=1", headers=headers)

    assert response.status_code == 403
