"""Recorded responses are checked against the seed OpenAPI document."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import stewrd_lab
from stewrd_lab._spec import Verdict, _Spec, check_response

SESSION_ID = "3f0c2a4e-8d1b-4c6f-9a7e-2b5d8c1e4f60"
LIVE_KEY = stewrd_lab.KEY_PREFIX + "live" + "x" * 28
SEED = "the seed OpenAPI document"
VERDICT_COLUMNS = ["status", "code", "conforms", "violation"]


def _attempt(client: stewrd_lab.Client, **kwargs: Any) -> None:
    # Refusals are the point here: each one is already a history row.
    with contextlib.suppress(stewrd_lab.StewrdError):
        client.create_session(**kwargs)


def _expected(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    return frame.astype({name: stewrd_lab.DTYPES[name] for name in VERDICT_COLUMNS})


def _verdicts(client: stewrd_lab.Client) -> pd.DataFrame:
    history = client.history()[VERDICT_COLUMNS]
    # Categories depend on which values occurred; compare values and dtypes.
    return history.astype({"code": "object", "violation": "object"})


def _assert_verdicts(client: stewrd_lab.Client, rows: list[tuple[Any, ...]]) -> None:
    expected = _expected(rows).astype({"code": "object", "violation": "object"})
    pd.testing.assert_frame_equal(_verdicts(client), expected)
    dtypes = client.history().dtypes
    assert {name: str(dtype) for name, dtype in dtypes.items()} == stewrd_lab.DTYPES


def _target(*responses: httpx.Response, **options: Any) -> stewrd_lab.Client:
    """A client on a live-looking target that answers ``responses`` in turn."""
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return stewrd_lab.Client(
        LIVE_KEY,
        base_url="https://api.stewrd.dev",
        transport=httpx.MockTransport(answer),
        retry=False,
        **options,
    )


def _json(status: int, payload: Any) -> httpx.Response:
    return httpx.Response(status, json=payload)


# -- the emulator conforms ----------------------------------------------------


def test_every_emulator_answer_to_create_session_conforms() -> None:
    # A rate limit of 11 lets the 11th create reach the session cap and the
    # 12th hit the limit, so one run shows every documented answer.
    emulator = stewrd_lab.Emulator(rules=stewrd_lab.Rules(rate_limit=11))
    client = stewrd_lab.Client(emulator=emulator, retry=False)

    _attempt(client, authorization=None)
    _attempt(client, api_key=emulator.key_for("free"))
    for _ in range(12):
        _attempt(client)

    _assert_verdicts(
        client,
        [
            (401, "invalid_api_key", True, ""),
            (403, "plan_restricted", True, ""),
            *[(201, None, True, "")] * 10,
            (429, "session_limit_reached", True, ""),
            (429, "rate_limited", True, ""),
        ],
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "violation"),
    [
        # The seed documents only POST /v1/sessions: the emulator's own 404
        # and 405 answer requests the document says nothing about.
        ("POST", "/v1/unknown", 404, f"not checked: POST /v1/unknown is not in {SEED}"),
        ("GET", "/v1/sessions", 405, f"not checked: GET /v1/sessions is not in {SEED}"),
        (
            "POST",
            "/v1/sessions/",
            404,
            f"not checked: POST /v1/sessions/ is not in {SEED}",
        ),
    ],
)
def test_emulator_answers_outside_the_seed_are_not_checked(
    method: str, path: str, status: int, violation: str
) -> None:
    reply = stewrd_lab.Emulator().handle(method, path, [], b"")
    content_type = dict(reply.headers)["content-type"]

    verdict = check_response(method, path, reply.status, content_type, reply.body)

    assert reply.status == status
    assert verdict == Verdict(None, violation)


def test_messages_are_not_in_the_seed_so_not_checked() -> None:
    path = f"/v1/sessions/{SESSION_ID}/messages"
    body = json.dumps({"object": "session.message"}).encode()

    verdict = check_response("POST", path, 200, "application/json", body)

    assert verdict == Verdict(None, f"not checked: POST {path} is not in {SEED}")


def test_no_answer_and_unsendable_header_are_not_checked() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = stewrd_lab.Client(
        stewrd_lab.EMULATOR_KEY_PREFIX + "a" * 32,
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(refuse),
    )
    _attempt(client)
    _attempt(client, authorization="Bearer cl\N{LATIN SMALL LETTER E WITH ACUTE}")

    unchecked = "not checked: no HTTP answer"
    _assert_verdicts(client, [(None, None, None, unchecked)] * 2)


# -- wrong answers are flagged, whatever the target -----------------------------


def test_wrong_session_bodies_are_violations() -> None:
    client = _target(
        _json(201, {"id": "sess_42", "object": "session", "status": "active"}),
        _json(201, {"id": SESSION_ID, "object": "sesion", "status": "active"}),
        _json(201, {"id": SESSION_ID, "object": "session", "status": "closed"}),
        _json(201, [SESSION_ID]),
        _json(201, {"id": SESSION_ID, "object": "session", "status": "active"}),
    )
    for _ in range(5):
        _attempt(client)

    wrong = "POST /v1/sessions answered 201 with a body that does not match "
    _assert_verdicts(
        client,
        [
            # The client takes any string id; only the check sees it is no UUID.
            (201, None, False, wrong + "SessionResponse: data.id must be uuid."),
            (
                201,
                None,
                False,
                wrong + "SessionResponse: data.object must be one of ['session'].",
            ),
            (
                201,
                None,
                False,
                wrong + "SessionResponse: data.status must be one of ['active'].",
            ),
            (201, None, False, wrong + "SessionResponse: data must be object."),
            (201, None, True, ""),
        ],
    )


def test_wrong_error_bodies_are_violations() -> None:
    client = _target(
        _json(401, {"error": "invalid_api_key"}),
        _json(403, {"error": {"code": "plan_restricted", "message": 403}}),
        _json(
            429,
            {"error": {"code": "rate_limited", "message": "Slow down.", "docs": "x"}},
        ),
        # The seed marks no property required: a body without "error" is not
        # a violation of the document (the client still refuses it).
        _json(401, {"detail": "Unauthorized"}),
    )
    for _ in range(4):
        _attempt(client)

    wrong = "POST /v1/sessions answered {} with a body that does not match "
    _assert_verdicts(
        client,
        [
            (
                401,
                None,
                False,
                wrong.format(401) + "ErrorResponse: data.error must be object.",
            ),
            # A message that is no string is not the envelope: no code recorded.
            (
                403,
                None,
                False,
                wrong.format(403) + "ErrorResponse: data.error.message must be string.",
            ),
            (
                429,
                "rate_limited",
                False,
                wrong.format(429) + "ErrorResponse: data.error.docs must be uri.",
            ),
            (401, None, True, ""),
        ],
    )


def test_undocumented_status_content_type_and_non_json_are_violations() -> None:
    client = _target(
        _json(500, {"error": {"code": "internal", "message": "Oops."}}),
        httpx.Response(
            201, text="<h1>Created</h1>", headers={"content-type": "text/html"}
        ),
        httpx.Response(201, content=b'{"id": '),
        httpx.Response(
            201,
            content=b'{"id": "x"}',
            headers={"content-type": "application/json; charset=latin-1"},
        ),
        httpx.Response(502, text="Bad gateway", headers={"content-type": "text/plain"}),
    )
    for _ in range(5):
        _attempt(client)

    _assert_verdicts(
        client,
        [
            (
                500,
                "internal",
                False,
                f"POST /v1/sessions answered 500, a status {SEED} does not list "
                "for it (it lists 201, 401, 403, 429).",
            ),
            (
                201,
                None,
                False,
                f"POST /v1/sessions answered 201 as text/html; {SEED} lists "
                "application/json for it.",
            ),
            (
                201,
                None,
                False,
                f"POST /v1/sessions answered 201 without a content type; {SEED} "
                "lists application/json for it.",
            ),
            (
                201,
                None,
                False,
                "POST /v1/sessions answered 201 with a body that does not match "
                "SessionResponse: data.id must be uuid.",
            ),
            (
                502,
                None,
                False,
                f"POST /v1/sessions answered 502, a status {SEED} does not list "
                "for it (it lists 201, 401, 403, 429).",
            ),
        ],
    )


def test_a_body_that_is_not_json_is_a_violation() -> None:
    verdict = check_response(
        "POST", "/v1/sessions", 403, "application/json", b"<html>Forbidden</html>"
    )

    assert verdict == Verdict(
        False, "POST /v1/sessions answered 403 with a body that is not JSON."
    )


# -- when the check runs -------------------------------------------------------


def test_client_records_each_verdict_as_the_answer_arrives() -> None:
    good = json.dumps({"id": SESSION_ID, "object": "session"}).encode()
    answers = iter(
        [
            httpx.Response(
                201, content=good, headers={"content-type": "application/json"}
            ),
            httpx.Response(201, content=good, headers={"content-type": "text/plain"}),
        ]
    )
    client = stewrd_lab.Client(
        "sk-stw_" + "x" * 32,
        base_url="https://api.stewrd.dev",
        transport=httpx.MockTransport(lambda request: next(answers)),
    )
    client.create_session()
    client.create_session()
    with pytest.raises(stewrd_lab.UsageError):
        client.create_session(api_key="sk-stw_\N{LATIN SMALL LETTER E WITH ACUTE}")

    verdicts = [(record.conforms, record.violation) for record in client.recorder]

    assert verdicts == [
        (True, ""),
        (
            False,
            f"POST /v1/sessions answered 201 as text/plain; {SEED} lists "
            "application/json for it.",
        ),
        (None, "not checked: no HTTP answer"),
    ]


def test_concurrent_recording_and_reading_checks_every_row() -> None:
    emulator = stewrd_lab.Emulator(
        rules=stewrd_lab.Rules(rate_limit=None, session_cap=None)
    )
    recorder = stewrd_lab.Recorder()
    done = threading.Event()
    partial_frames: list[pd.DataFrame] = []

    def create() -> None:
        client = stewrd_lab.Client(emulator=emulator, recorder=recorder)
        for _ in range(150):
            client.create_session()

    def read() -> None:
        while not done.is_set():
            partial_frames.append(recorder.frame())

    workers = [threading.Thread(target=create) for _ in range(4)]
    reader = threading.Thread(target=read)
    reader.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    reader.join()

    history = recorder.frame()
    assert len(history) == 600
    assert history["conforms"].tolist() == [True] * 600
    assert history["session_id"].nunique() == 600
    assert all(frame["conforms"].eq(True).all() for frame in partial_frames)


def test_templated_paths_match_one_segment_and_status_ranges_apply() -> None:
    spec = _Spec(
        {
            "paths": {
                "/v1/sessions/{session_id}/messages": {
                    "post": {
                        "responses": {
                            "200": {"content": {"application/json": {}}},
                            "4XX": {"content": {"application/json": {}}},
                            "default": {"content": {"text/plain": {}}},
                        }
                    }
                }
            }
        }
    )

    found = spec.operation("post", f"/v1/sessions/{SESSION_ID}/messages")
    assert found is not None
    assert found.response(200) == found.responses["200"]
    assert found.response(404) == found.responses["4XX"]
    assert found.response(503) == found.responses["default"]
    assert spec.operation("GET", f"/v1/sessions/{SESSION_ID}/messages") is None
    assert spec.operation("POST", "/v1/sessions/a/b/messages") is None
    assert spec.operation("POST", "/v1/sessions//messages") is None


def test_history_file_holds_each_verdict(tmp_path: Path) -> None:
    client = _target(
        _json(201, {"id": SESSION_ID, "object": "session", "status": "active"}),
        _json(201, {"id": "sess_42", "object": "session", "status": "active"}),
        history_file=tmp_path / "run.jsonl",
    )
    _attempt(client)
    _attempt(client)

    loaded = stewrd_lab.load_history(tmp_path / "run.jsonl")

    assert loaded["conforms"].tolist() == [True, False]
    assert loaded["violation"].tolist() == [
        "",
        "POST /v1/sessions answered 201 with a body that does not match "
        "SessionResponse: data.id must be uuid.",
    ]
