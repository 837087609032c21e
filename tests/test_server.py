from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import stewrd_lab
from served import Served
from stewrd_lab import (
    Client,
    Emulator,
    EmulatorTransport,
    InvalidAPIKeyError,
    RemoteEmulator,
    Rules,
    UsageError,
)
from stewrd_lab._control import NOTE

SEED_SPEC = Path(stewrd_lab.__file__).parent / "data" / "create-session-openapi.yaml"


@pytest.fixture
def fresh(
    serve: Callable[[Emulator], AbstractContextManager[Served]],
) -> Iterator[Served]:
    """A served emulator of its own: frozen clock, seed 0, known keys."""
    with serve(Emulator(seed=0)) as running:
        yield running


def _script(emulator: Emulator) -> list[tuple[str, str, dict[str, str], bytes]]:
    scale, free = emulator.key_for("scale"), emulator.key_for("free")
    auth = {"Authorization": f"Bearer {scale}"}
    json_type = {**auth, "Content-Type": "application/json"}
    steps = [("POST", "/v1/sessions", auth, b"")] * 11
    steps += [
        ("POST", "/v1/sessions", {"Authorization": f"Bearer {free}"}, b""),
        ("POST", "/v1/sessions", {"Authorization": "Bearer sk-stw_nope"}, b""),
        ("POST", "/v1/sessions", {}, b""),
        ("GET", "/v1/sessions", auth, b""),
        ("POST", "/v1/nothing", auth, b""),
        ("POST", "/v1/sessions/unknown/messages", json_type, b'{"message": "hi"}'),
        ("POST", "/v1/sessions/unknown/messages", json_type, b"{"),
        ("GET", "/_emulator/state", {}, b""),
    ]
    return steps


def test_served_and_embedded__answer_every_request_alike(fresh: Served) -> None:
    embedded = Emulator(seed=0)
    local = httpx.Client(
        transport=EmulatorTransport(embedded), base_url="http://emulator.invalid"
    )

    seen = []
    with local, httpx.Client(base_url=fresh.base_url) as remote:
        answers = [
            (
                local.request(method, path, headers=headers, content=body),
                remote.request(method, path, headers=headers, content=body),
            )
            for method, path, headers, body in _script(embedded)
        ]
    for a, b in answers:
        b_headers = {k: v for k, v in b.headers.items() if k not in ("date",)}
        a_headers = {**a.headers, "content-length": str(len(a.content))}
        assert (b.status_code, b_headers, b.content) == (
            a.status_code,
            a_headers,
            a.content,
        )
        seen.append(b.status_code)

    assert seen == [201] * 10 + [429, 403, 401, 401, 405, 404, 404, 400, 200]


def test_control_routes__answer_curl_with_labelled_json(
    fresh: Served, request: pytest.FixtureRequest
) -> None:
    expected_key = Emulator(seed=0)
    expected_key.add_project("dev", credits=5, project_id="team")
    http = httpx.Client(base_url=fresh.base_url)
    request.addfinalizer(http.close)

    added = http.post(
        "/_emulator/projects",
        json={"plan": "dev", "credits": 5, "project_id": "team"},
    )
    assert (added.status_code, added.json()) == (
        201,
        {
            "object": "emulator.project",
            "id": "team",
            "plan": "dev",
            "credits": 5,
            "key": expected_key.key_for("team"),
            "active_sessions": 0,
            "emulator_specific": True,
        },
    )

    advanced = http.post("/_emulator/advance", json={"seconds": 90})
    assert advanced.json() == {
        "object": "emulator.clock",
        "now": "2026-01-01T00:01:30+00:00",
        "emulator_specific": True,
    }

    old = added.json()["key"]
    new = http.post("/_emulator/projects/team/regenerate-key").json()["key"]
    assert new == expected_key.regenerate_key("team")
    refused = http.post("/v1/sessions", headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401


def test_control_routes__state_lists_clock_rules_and_projects(fresh: Served) -> None:
    embedded = Emulator(seed=0)
    state = httpx.get(f"{fresh.base_url}/_emulator/state").json()

    assert state == {
        "object": "emulator.state",
        "seed": 0,
        "now": "2026-01-01T00:00:00+00:00",
        "clock": "frozen",
        "rules": {
            "session_cap": 10,
            "rate_limit": 60,
            "rate_window_seconds": 60.0,
            "idle_expiry_seconds": 1800.0,
            "plan_rule": "scale",
            "check_order": ["rate_limit", "plan", "session_cap"],
            "retry_after": False,
            "max_body": 1048576,
            "refuse_create_body": True,
        },
        "projects": [
            {
                "object": "emulator.project",
                "id": f"proj_{plan}",
                "plan": plan,
                "credits": credits,
                "key": embedded.key_for(plan),
                "active_sessions": 0,
            }
            for plan, credits in (("free", 0), ("dev", 100), ("scale", 1000))
        ],
        "emulator_specific": True,
    }
    assert embedded.state() == state


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    [
        (
            "POST",
            "/_emulator/projects",
            {"plan": "enterprise"},
            400,
            "invalid_control_request",
            "Unknown plan 'enterprise': the documented plans are free, dev, "
            "scale. (This control endpoint is emulator-specific.)",
        ),
        (
            "POST",
            "/_emulator/advance",
            {"seconds": -1},
            400,
            "invalid_control_request",
            "The clock only moves forward; got -1 seconds. (This control "
            "endpoint is emulator-specific.)",
        ),
        (
            "POST",
            "/_emulator/configure",
            {"rate_limt": 5},
            400,
            "invalid_control_request",
            "Unknown rule 'rate_limt'; the rules are check_order, "
            "idle_expiry_seconds, max_body, plan_rule, rate_limit, "
            "rate_window_seconds, refuse_create_body, retry_after, "
            "session_cap. (This control endpoint is emulator-specific.)",
        ),
        (
            "GET",
            "/_emulator/projects/proj_nope",
            None,
            404,
            "project_not_found",
            "No project 'proj_nope' on this emulator; use a plan name or a "
            "project id from its state() (GET /_emulator/state when served). "
            "(This control endpoint is emulator-specific.)",
        ),
        *[
            ("POST", path, body, 400, "invalid_control_request", f"{sentence} {NOTE}")
            for path, body, sentence in [
                (
                    "/_emulator/configure",
                    {"rate_window_seconds": 1e12},
                    "rate_window_seconds must be a number of seconds more than 0 "
                    "and at most 31622400 (366 days), not 1000000000000.0.",
                ),
                (
                    "/_emulator/configure",
                    {"idle_expiry_seconds": 1e12},
                    "idle_expiry_seconds must be a number of seconds more than 0 "
                    "and at most 31622400 (366 days), not 1000000000000.0.",
                ),
                (
                    "/_emulator/configure",
                    {"idle_expiry_seconds": 10**400},
                    "idle_expiry_seconds must be a number of seconds more than 0 "
                    f"and at most 31622400 (366 days), not {10**400!r}.",
                ),
                (
                    "/_emulator/configure",
                    {"rate_window_seconds": "60"},
                    "rate_window_seconds must be a number of seconds more than 0 "
                    "and at most 31622400 (366 days), not '60'.",
                ),
                (
                    "/_emulator/configure",
                    {"rate_limit": "x"},
                    "rate_limit must be a whole number >= 0, or None for no "
                    "limit, not 'x'.",
                ),
                (
                    "/_emulator/configure",
                    {"check_order": [1, 2, 3]},
                    "check_order must order exactly rate_limit, plan, "
                    "session_cap; got [1, 2, 3].",
                ),
                (
                    "/_emulator/configure",
                    {"check_order": [None]},
                    "check_order must order exactly rate_limit, plan, "
                    "session_cap; got [None].",
                ),
                (
                    "/_emulator/configure",
                    {"check_order": "plan"},
                    "check_order must order exactly rate_limit, plan, "
                    "session_cap; got 'plan'.",
                ),
                (
                    "/_emulator/configure",
                    {"retry_after": "yes"},
                    "retry_after must be True or False, not 'yes'.",
                ),
                (
                    "/_emulator/configure",
                    {"max_body": 1.5},
                    "max_body must be a whole number of bytes >= 0, not 1.5.",
                ),
                (
                    "/_emulator/advance",
                    {"seconds": 1e308},
                    "The clock cannot pass 9000-01-01; moving 1e+308 seconds from "
                    "2026-01-01T00:00:00+00:00 would.",
                ),
                (
                    "/_emulator/advance",
                    {"seconds": "60"},
                    "The clock moves by a timedelta or a number of seconds, not '60'.",
                ),
                (
                    "/_emulator/advance",
                    {"seconds": 60, "minutes": 1},
                    'The body must be {"seconds": <number>}, nothing else.',
                ),
                (
                    "/_emulator/projects",
                    {"plan": 5},
                    "Unknown plan 5: the documented plans are free, dev, scale.",
                ),
                (
                    "/_emulator/projects",
                    {"plan": "dev", "credits": 1e3},
                    "credits must be a whole number >= 0, not 1000.0.",
                ),
                (
                    "/_emulator/projects",
                    {"plan": "dev", "project_id": "a/b"},
                    "project_id must be a non-empty string without '/', or None "
                    "for an automatic id, not 'a/b'.",
                ),
                (
                    "/_emulator/projects",
                    {"plan": "dev", "owner": "me"},
                    "Unknown field 'owner'; a project takes plan, credits and "
                    "project_id.",
                ),
                (
                    "/_emulator/projects",
                    ["dev"],
                    "The request body must be a JSON object.",
                ),
            ]
        ],
    ],
)
def test_control_routes__refuse_bad_requests_in_the_envelope(
    fresh: Served,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
    message: str,
) -> None:
    answer = httpx.request(method, f"{fresh.base_url}{path}", json=body)

    assert (answer.status_code, answer.json()) == (
        status,
        {"error": {"code": code, "message": message}},
    )
    # A refused control changes nothing: the emulator still answers as new.
    state = httpx.get(f"{fresh.base_url}/_emulator/state").json()
    assert state == Emulator(seed=0).state()
    key = fresh.emulator.key_for("scale")
    created = httpx.post(
        f"{fresh.base_url}/v1/sessions", headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201


def test_control_routes__a_body_that_is_not_json_is_refused(fresh: Served) -> None:
    answer = httpx.post(f"{fresh.base_url}/_emulator/configure", content=b"{")

    assert (answer.status_code, answer.json()) == (
        400,
        {
            "error": {
                "code": "invalid_control_request",
                "message": f"The request body is not valid JSON. {NOTE}",
            }
        },
    )


def test_control_routes__automatic_project_ids_skip_taken_ones(fresh: Served) -> None:
    url = f"{fresh.base_url}/_emulator/projects"

    chosen = httpx.post(url, json={"plan": "dev", "project_id": "proj_5"})
    automatic = [httpx.post(url, json={"plan": "dev"}) for _ in range(2)]

    assert chosen.status_code == 201
    assert [(a.status_code, a.json()["id"]) for a in automatic] == [
        (201, "proj_6"),
        (201, "proj_7"),
    ]


def test_remote_emulator__has_the_embedded_method_names() -> None:
    names = {"advance", "reset", "add_project", "regenerate_key", "key_for"}
    names |= {"active_sessions", "configure", "state"}

    assert {n for n in dir(RemoteEmulator) if not n.startswith("_")} == names
    assert names <= set(dir(Emulator))


def test_client__drives_a_served_emulator_through_client_emulator(
    fresh: Served, request: pytest.FixtureRequest
) -> None:
    embedded = Emulator(seed=0)
    client = Client(embedded.key_for("scale"), base_url=fresh.base_url)
    request.addfinalizer(client.close)
    assert isinstance(client.emulator, RemoteEmulator)
    remote = client.emulator

    assert remote.key_for("free") == embedded.key_for("free")
    project = remote.add_project("scale", credits=3)
    assert (project.id, project.plan, project.credits) == ("proj_4", "scale", 3)
    assert project.key == embedded.add_project("scale", credits=3).key

    client.create_session(api_key=project.key)
    client.create_session(api_key=project.key)
    assert remote.active_sessions("proj_4") == 2
    assert remote.advance(timedelta(minutes=30)).isoformat() == (
        "2026-01-01T00:30:00+00:00"
    )
    assert remote.active_sessions("proj_4") == 0

    rules = remote.configure(session_cap=None, rate_window=timedelta(seconds=5))
    assert rules == Rules(session_cap=None, rate_window=timedelta(seconds=5))

    new_key = remote.regenerate_key("proj_4")
    with pytest.raises(InvalidAPIKeyError):
        client.create_session(api_key=project.key)
    client.create_session(api_key=new_key)

    remote.reset()
    assert remote.state()["projects"][-1]["id"] == "proj_scale"


def test_remote_emulator__refusals_are_usage_errors(fresh: Served) -> None:
    with Client(Emulator(seed=0).key_for("scale"), base_url=fresh.base_url) as client:
        assert isinstance(client.emulator, RemoteEmulator)
        with pytest.raises(UsageError) as caught:
            client.emulator.key_for("gold")

    assert str(caught.value) == (
        "No project 'gold' on this emulator; use a plan name or a project id "
        "from its state() (GET /_emulator/state when served)."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda e: e.key_for("gold"),
            "No project 'gold' on this emulator; use a plan name or a project id "
            "from its state() (GET /_emulator/state when served).",
        ),
        (
            lambda e: e.regenerate_key("gold"),
            "No project 'gold' on this emulator; use a plan name or a project id "
            "from its state() (GET /_emulator/state when served).",
        ),
        (
            lambda e: e.active_sessions("gold"),
            "No project 'gold' on this emulator; use a plan name or a project id "
            "from its state() (GET /_emulator/state when served).",
        ),
        (
            lambda e: e.add_project("gold"),
            "Unknown plan 'gold': the documented plans are free, dev, scale.",
        ),
        (
            lambda e: e.add_project("dev", project_id="proj_dev"),
            "A project with id 'proj_dev' already exists.",
        ),
        (
            lambda e: e.add_project("dev", credits=-1),
            "credits must be a whole number >= 0, not -1.",
        ),
        (
            lambda e: e.advance(-1),
            "The clock only moves forward; got -1 seconds.",
        ),
        (
            lambda e: e.advance(float("inf")),
            "The clock moves by a finite number of seconds, not inf.",
        ),
        (
            lambda e: e.advance("60"),
            "The clock moves by a timedelta or a number of seconds, not '60'.",
        ),
        (
            lambda e: e.advance(timedelta(days=10**7)),
            "The clock cannot pass 9000-01-01; moving 8.64e+11 seconds from "
            "2026-01-01T00:00:00+00:00 would.",
        ),
        (
            lambda e: e.configure(rate_limit="x"),
            "rate_limit must be a whole number >= 0, or None for no limit, not 'x'.",
        ),
        (
            lambda e: e.configure(rate_window=timedelta(days=10**7)),
            "rate_window must be a timedelta longer than 0 and at most 366 days, "
            "not datetime.timedelta(days=10000000).",
        ),
        (
            lambda e: e.configure(idle_expiry=60),
            "idle_expiry must be a timedelta longer than 0 and at most 366 days, "
            "not 60.",
        ),
        (
            lambda e: e.configure(rate_limt=5),
            "Unknown rule 'rate_limt'; the rules are check_order, idle_expiry, "
            "max_body, plan_rule, rate_limit, rate_window, refuse_create_body, "
            "retry_after, session_cap.",
        ),
    ],
)
def test_remote_emulator__misuse_raises_what_the_embedded_one_raises(
    fresh: Served, call: Callable[[Any], object], message: str
) -> None:
    embedded = Emulator(seed=0)
    with Client(embedded.key_for("scale"), base_url=fresh.base_url) as client:
        assert isinstance(client.emulator, RemoteEmulator)
        with pytest.raises(UsageError) as remote:
            call(client.emulator)
    with pytest.raises(UsageError) as local:
        call(embedded)

    assert (str(remote.value), str(local.value)) == (message, message)
    assert fresh.emulator.state() == embedded.state() == Emulator(seed=0).state()


def test_remote_emulator__advance_takes_seconds(fresh: Served) -> None:
    with Client(Emulator(seed=0).key_for("scale"), base_url=fresh.base_url) as client:
        assert isinstance(client.emulator, RemoteEmulator)
        moved = client.emulator.advance(90)

    assert moved.isoformat() == "2026-01-01T00:01:30+00:00"
    assert fresh.emulator.clock.now() == moved


def test_remote_emulator__names_a_target_that_is_no_emulator() -> None:
    def live_like(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="Not Found")

    http = httpx.Client(
        base_url="https://api.example.test", transport=httpx.MockTransport(live_like)
    )
    remote = RemoteEmulator(http, "https://api.example.test")

    with pytest.raises(UsageError) as caught:
        remote.state()

    assert str(caught.value) == (
        "https://api.example.test answered 404 to GET /_emulator/state; it does "
        "not look like a served stewrd-lab emulator (start one with "
        "`stewrd-lab serve`)."
    )


def test_served_emulator__ticks_with_real_time(served: Served) -> None:
    state = httpx.get(f"{served.base_url}/_emulator/state").json()

    assert state["clock"] == "ticking"
    assert state["now"] > "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("stop", "status"),
    # After a graceful shutdown the exit status tells the signal, as shells
    # expect: 130 after Ctrl+C, death by the signal itself after SIGTERM.
    [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)],
)
def test_cli_serve__prints_url_and_keys_answers_and_stops_on_signal(
    stop: signal.Signals, status: int
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "stewrd_lab", "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(7)]
        base_url = banner[0].split()[3]
        keys = Emulator(seed=3)

        assert banner == [
            f"Stewrd emulator at {base_url} (seed 3, clock ticking with real time)\n",
            "Emulator keys (not live keys; they work only here):\n",
            f"  free   {keys.key_for('free')}\n",
            f"  dev    {keys.key_for('dev')}\n",
            f"  scale  {keys.key_for('scale')}\n",
            f"Try: curl -X POST {base_url}/v1/sessions "
            f"-H 'Authorization: Bearer {keys.key_for('scale')}'\n",
            "Stop with Ctrl+C (or SIGTERM).\n",
        ]
        created = httpx.post(
            f"{base_url}/v1/sessions",
            headers={"Authorization": f"Bearer {keys.key_for('scale')}"},
        )
        assert (created.status_code, created.json()["object"]) == (201, "session")

        process.send_signal(stop)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()

    assert (process.returncode, out, err) == (status, "", "")


def test_cli_serve__help_says_the_clock_ticks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stewrd_lab", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )

    description = " ".join(result.stdout.split("\n\n")[1].split())
    assert description == (
        "Serve the emulator over HTTP until Ctrl+C (SIGINT) or SIGTERM. It "
        "answers exactly as the embedded emulator does and adds "
        "emulator-specific control routes under /_emulator/ (state, reset, "
        "advance, configure, projects). Its clock ticks with real time, so "
        "rate-limit windows pass and idle sessions expire as on the real API "
        "(--frozen-clock stops it; then only POST /_emulator/advance moves "
        "it). Keys and session ids depend only on --seed. Needs the server "
        "extra: pip install 'stewrd-lab[server]'."
    )


def test_import__does_not_load_the_server_libraries() -> None:
    code = (
        "import sys, stewrd_lab; "
        "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout == "[]\n"


def test_schemathesis__finds_no_failure_with_all_checks(
    served: Served, tmp_path: Path
) -> None:
    key = served.emulator.add_project("scale", credits=10).key
    cli = "import sys; from schemathesis.cli import schemathesis as st; sys.exit(st())"
    options = ["--url", served.base_url, "--checks", "all", "--no-color"]
    options += ["--header", f"Authorization: Bearer {key}"]
    # Bounded and seeded, so the run is short and the same every time.
    options += ["--max-examples", "25", "--seed", "1"]
    result = subprocess.run(
        [sys.executable, "-c", cli, "run", str(SEED_SPEC), *options],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
    )

    assert result.returncode == 0, result.stdout[-2000:]
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"=+ No issues found in [0-9.]+m?s =+", last), last


class _Broken(Emulator):
    def handle(self, *args: object) -> stewrd_lab._emulator.Reply:
        raise RuntimeError("a bug")


def test_a_crash__answers_500_in_the_envelope(
    serve: Callable[[Emulator], AbstractContextManager[Served]],
) -> None:
    with serve(_Broken()) as running:
        answer = httpx.post(f"{running.base_url}/v1/sessions")

    assert (answer.status_code, answer.json()) == (
        500,
        {
            "error": {
                "code": "internal_error",
                "message": "The emulator failed on this request; this is a bug in "
                "stewrd-lab. (This 500 is emulator-specific.)",
            }
        },
    )
    assert (answer.headers["connection"], answer.headers["x-stewrd-emulator"]) == (
        "close",
        "1",
    )


def test_a_crash__closes_the_connection_openly_so_the_next_request_is_answered(
    serve: Callable[[Emulator], AbstractContextManager[Served]],
) -> None:
    # uvicorn closes the connection after a crash; with Connection: close
    # the client knows, and sends the next request on a new connection.
    with serve(_Broken()) as running, httpx.Client(base_url=running.base_url) as http:
        answers = [http.post("/v1/sessions") for _ in range(3)]

    assert [(a.status_code, a.headers["connection"]) for a in answers] == [
        (500, "close")
    ] * 3


def test_hot_path__session_ids_and_body_are_what_uuid_and_json_give() -> None:
    # The create path formats ids and bodies by hand for speed; they must be
    # exactly what the uuid and json modules would have made.
    emulator = Emulator(seed=5)
    bits = random.Random("5:sessions")
    headers = [("authorization", f"Bearer {emulator.key_for('scale')}")]
    emulator.configure(session_cap=None, rate_limit=None)

    for _ in range(500):
        reply = emulator.handle("POST", "/v1/sessions", headers, b"")
        expected = str(uuid.UUID(int=bits.getrandbits(128), version=4))
        payload = {"id": expected, "object": "session", "status": "active"}
        assert reply.body == json.dumps(payload, separators=(",", ":")).encode()


def test_cli_serve__a_busy_port_is_one_clear_sentence() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "stewrd_lab", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "ERROR:    [Errno 98] error while attempting to bind on address "
        f"('127.0.0.1', {port}): address already in use",
        f"stewrd-lab: could not serve on 127.0.0.1:{port}; pick another --port, "
        "or --port 0 for a free one.",
    ]
