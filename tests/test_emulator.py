from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stewrd_lab import EMULATOR_EPOCH, Clock, Emulator, Rules, UsageError
from stewrd_lab._emulator import Reply


def create(emulator: Emulator, key: str | None, **headers: str) -> Reply:
    pairs = list(headers.items())
    if key is not None:
        pairs.append(("Authorization", f"Bearer {key}"))
    return emulator.handle("POST", "/v1/sessions", pairs, b"")


def error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


SEED_403 = error(
    "plan_restricted", "Persistent sessions require the Scale plan or higher."
)
SEED_429 = error("session_limit_reached", "Maximum 10 active sessions per project.")
RATE_429 = error("rate_limited", "Too many requests. Limit: 60/minute.")
INVALID = error("invalid_api_key", "Invalid or missing API key.")


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=7)


def test_create__scale_key_gets_a_session(emulator: Emulator) -> None:
    reply = create(emulator, emulator.key_for("scale"))

    assert reply.status == 201
    assert reply.headers == [
        ("content-type", "application/json"),
        ("x-stewrd-emulator", "1"),
    ]
    body = reply.json()
    assert body == {"id": body["id"], "object": "session", "status": "active"}
    assert emulator.active_sessions("scale") == 1


@pytest.mark.parametrize("plan", ["free", "dev"])
def test_create__plans_below_scale_are_refused(emulator: Emulator, plan: str) -> None:
    reply = create(emulator, emulator.key_for(plan))

    assert (reply.status, reply.json()) == (403, SEED_403)


def test_create__credits_rule_lets_a_dev_project_with_credits_in(
    emulator: Emulator,
) -> None:
    emulator.configure(plan_rule="credits")
    broke = emulator.add_project("scale", credits=0)

    assert create(emulator, emulator.key_for("dev")).status == 201
    assert (create(emulator, broke.key).status, create(emulator, broke.key).json()) == (
        403,
        error("plan_restricted", "Persistent sessions require purchased credits."),
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "")],
        [("Authorization", "Bearer")],
        [("Authorization", "Basic KEY")],
        [("Authorization", "Bearer KEY"), ("Authorization", "Bearer KEY")],
        [("Authorization", "Bearer sk-stw_emu_00000000000000000000000000000000")],
    ],
    ids=["missing", "empty", "no-token", "basic", "duplicated", "unknown"],
)
def test_create__bad_credentials_get_invalid_api_key(
    emulator: Emulator, headers: list[tuple[str, str]]
) -> None:
    key = emulator.key_for("scale")
    headers = [(name, value.replace("KEY", key)) for name, value in headers]

    reply = emulator.handle("POST", "/v1/sessions", headers, b"")

    assert (reply.status, reply.json()) == (401, INVALID)


def test_create__scheme_case_and_whitespace_are_forgiven(emulator: Emulator) -> None:
    key = emulator.key_for("scale")
    headers = [("authorization", f"  bEaReR   {key}  ")]

    assert emulator.handle("POST", "/v1/sessions", headers, b"").status == 201


def test_regenerate_key__revokes_the_old_key_at_once(emulator: Emulator) -> None:
    old = emulator.key_for("scale")
    new = emulator.regenerate_key("scale")

    assert new != old
    assert emulator.key_for("scale") == new
    assert (create(emulator, old).status, create(emulator, old).json()) == (
        401,
        INVALID,
    )
    assert create(emulator, new).status == 201


def test_session_cap__eleventh_create_is_refused(emulator: Emulator) -> None:
    key = emulator.key_for("scale")
    statuses = [create(emulator, key).status for _ in range(10)]
    eleventh = create(emulator, key)

    assert statuses == [201] * 10
    assert (eleventh.status, eleventh.json()) == (429, SEED_429)
    assert emulator.active_sessions("scale") == 10


def test_session_cap__sessions_expire_after_exactly_thirty_idle_minutes(
    emulator: Emulator,
) -> None:
    key = emulator.key_for("scale")
    for _ in range(10):
        create(emulator, key)

    emulator.advance(timedelta(minutes=29, seconds=59))
    assert emulator.active_sessions("scale") == 10
    assert create(emulator, key).status == 429

    emulator.advance(timedelta(seconds=1))
    assert emulator.active_sessions("scale") == 0
    assert create(emulator, key).status == 201


def test_rate_limit__sixty_first_request_in_a_minute_is_limited(
    emulator: Emulator,
) -> None:
    key = emulator.key_for("free")
    statuses = [create(emulator, key).status for _ in range(60)]
    limited = create(emulator, key)

    assert statuses == [403] * 60
    assert (limited.status, limited.json()) == (429, RATE_429)
    assert ("retry-after", "60") not in limited.headers


def test_rate_limit__window_slides_with_the_clock(emulator: Emulator) -> None:
    key = emulator.key_for("free")
    for _ in range(30):
        create(emulator, key)
    emulator.advance(timedelta(seconds=30))
    for _ in range(30):
        create(emulator, key)

    assert create(emulator, key).status == 429
    emulator.advance(timedelta(seconds=30))
    # A minute after the first thirty, they have left the window.
    assert create(emulator, key).status == 403


def test_rate_limit__counts_per_project(emulator: Emulator) -> None:
    for _ in range(61):
        create(emulator, emulator.key_for("free"))

    assert create(emulator, emulator.key_for("free")).status == 429
    assert create(emulator, emulator.key_for("dev")).status == 403


def test_rate_limit__retry_after_header_when_switched_on() -> None:
    emulator = Emulator(rules=Rules(retry_after=True))
    key = emulator.key_for("free")
    for _ in range(60):
        create(emulator, key)
    emulator.advance(timedelta(seconds=20))

    limited = create(emulator, key)

    assert limited.headers[-1] == ("retry-after", "40")


def test_check_order__rate_limit_comes_before_the_plan(emulator: Emulator) -> None:
    key = emulator.key_for("free")
    replies = [create(emulator, key) for _ in range(61)]

    assert replies[-1].json() == RATE_429


def test_check_order__can_put_the_plan_first() -> None:
    emulator = Emulator(rules=Rules(check_order=("plan", "rate_limit", "session_cap")))
    key = emulator.key_for("free")
    replies = [create(emulator, key) for _ in range(61)]

    assert replies[-1].json() == SEED_403


def test_limits_can_be_switched_off() -> None:
    emulator = Emulator(rules=Rules(session_cap=None, rate_limit=None))
    key = emulator.key_for("scale")

    assert {create(emulator, key).status for _ in range(100)} == {201}


def test_unknown_path__is_404_before_authentication(emulator: Emulator) -> None:
    reply = emulator.handle("POST", "/v1/session", [], b"")

    assert (reply.status, reply.json()) == (
        404,
        error(
            "not_found",
            "No route matches /v1/session. (This 404 is emulator-specific: the "
            "API does not document its answer to unknown paths.)",
        ),
    )


def test_wrong_method__is_405_with_allow(emulator: Emulator) -> None:
    reply = emulator.handle("GET", "/v1/sessions", [], b"")

    assert reply.status == 405
    assert ("allow", "POST") in reply.headers
    assert reply.json() == error(
        "method_not_allowed",
        "GET is not allowed on /v1/sessions; use POST. (This 405 is "
        "emulator-specific.)",
    )


def test_same_seed__same_keys_and_ids() -> None:
    def run(seed: int) -> list[object]:
        emulator = Emulator(seed=seed)
        key = emulator.key_for("scale")
        return [key] + [create(emulator, key).body for _ in range(3)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_reset__starts_over_from_the_seed(emulator: Emulator) -> None:
    key = emulator.key_for("scale")
    first = create(emulator, key).body
    emulator.add_project("dev")
    emulator.advance(timedelta(hours=1))

    emulator.reset()

    assert sorted(emulator.projects) == ["proj_dev", "proj_free", "proj_scale"]
    assert emulator.clock.now() == EMULATOR_EPOCH
    assert create(emulator, emulator.key_for("scale")).body == first


def test_session_ids_are_version_4_uuids(emulator: Emulator) -> None:
    body = json.loads(create(emulator, emulator.key_for("scale")).body)

    assert body["id"][14] == "4"
    assert len(body["id"]) == 36


def test_concurrent_creates__never_pass_the_cap(emulator: Emulator) -> None:
    key = emulator.key_for("scale")
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def worker() -> None:
        barrier.wait()
        for _ in range(3):
            statuses.append(create(emulator, key).status)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 10 + [429] * 50


def test_add_project__unknown_plan_is_refused(emulator: Emulator) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.add_project("enterprise")

    assert str(caught.value) == (
        "Unknown plan 'enterprise': the documented plans are free, dev, scale."
    )


def test_add_project__duplicate_id_is_refused(emulator: Emulator) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.add_project("dev", project_id="proj_dev")

    assert str(caught.value) == "A project with id 'proj_dev' already exists."


def test_project__unknown_id_is_a_usage_error(emulator: Emulator) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.key_for("proj_nope")

    assert str(caught.value) == (
        "No project 'proj_nope' on this emulator; use a plan name or a project "
        "id from its state() (GET /_emulator/state when served)."
    )


def test_rules__check_order_must_name_every_check() -> None:
    with pytest.raises(UsageError) as caught:
        Rules(check_order=("plan",))

    assert str(caught.value) == (
        "check_order must order exactly rate_limit, plan, session_cap; got plan."
    )


def test_project_repr__redacts_the_key(emulator: Emulator) -> None:
    project = emulator.project("scale")

    assert repr(project) == (
        "<Project proj_scale plan=scale credits=1000 "
        f"key=sk-stw_emu_…{project.key[-4:]}>"
    )


def test_clock__frozen_until_advanced() -> None:
    clock = Clock()

    assert clock.now() == clock.now() == EMULATOR_EPOCH
    assert clock.advance(timedelta(minutes=5)) == EMULATOR_EPOCH + timedelta(minutes=5)


def test_clock__refuses_to_go_back() -> None:
    with pytest.raises(UsageError) as caught:
        Clock().advance(timedelta(seconds=-1))

    assert str(caught.value) == "The clock only moves forward; got -1 seconds."


def test_clock__ticking_follows_real_time() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = Clock(start, ticking=True)
    time.sleep(0.01)

    assert clock.now() - start >= timedelta(seconds=0.01)


def test_clock__needs_an_aware_start() -> None:
    with pytest.raises(UsageError) as caught:
        Clock(datetime(2030, 1, 1))

    assert str(caught.value) == "Clock start must be timezone-aware, such as UTC."


def test_rate_limit_log__keeps_only_what_can_decide_a_refusal() -> None:
    emulator = Emulator(rules=Rules(session_cap=None))
    headers = [("authorization", f"Bearer {emulator.key_for('scale')}")]

    statuses = [
        emulator.handle("POST", "/v1/sessions", headers, b"").status
        for _ in range(1000)
    ]

    assert statuses == [201] * 60 + [429] * 940
    assert len(emulator.project("scale").requests) == 61


def test_rate_limit_switched_on_later__counts_from_then() -> None:
    emulator = Emulator(rules=Rules(session_cap=None, rate_limit=None))
    headers = [("authorization", f"Bearer {emulator.key_for('scale')}")]
    for _ in range(100):
        emulator.handle("POST", "/v1/sessions", headers, b"")

    emulator.configure(rate_limit=2)
    statuses = [
        emulator.handle("POST", "/v1/sessions", headers, b"").status for _ in range(3)
    ]

    assert statuses == [201, 201, 429]


WHOLE_OR_NONE = "must be a whole number >= 0, or None for no limit, not"
DURATION = "must be a timedelta longer than 0 and at most 366 days, not"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate_limit": "x"}, f"rate_limit {WHOLE_OR_NONE} 'x'."),
        ({"rate_limit": -1}, f"rate_limit {WHOLE_OR_NONE} -1."),
        ({"rate_limit": 1.5}, f"rate_limit {WHOLE_OR_NONE} 1.5."),
        ({"session_cap": True}, f"session_cap {WHOLE_OR_NONE} True."),
        (
            {"rate_window": timedelta(days=10**7)},
            f"rate_window {DURATION} datetime.timedelta(days=10000000).",
        ),
        (
            {"rate_window": timedelta()},
            f"rate_window {DURATION} datetime.timedelta(0).",
        ),
        ({"rate_window": 60}, f"rate_window {DURATION} 60."),
        (
            {"idle_expiry": timedelta(days=367)},
            f"idle_expiry {DURATION} datetime.timedelta(days=367).",
        ),
        (
            {"idle_expiry": timedelta(seconds=-1)},
            f"idle_expiry {DURATION} datetime.timedelta(days=-1, seconds=86399).",
        ),
        ({"plan_rule": "gold"}, "plan_rule must be 'scale' or 'credits', not 'gold'."),
        (
            {"check_order": (1, 2, 3)},
            "check_order must order exactly rate_limit, plan, session_cap; got "
            "(1, 2, 3).",
        ),
        (
            {"check_order": "plan"},
            "check_order must order exactly rate_limit, plan, session_cap; got 'plan'.",
        ),
        (
            {"check_order": ("plan", "plan", "rate_limit")},
            "check_order must order exactly rate_limit, plan, session_cap; got "
            "plan, plan, rate_limit.",
        ),
        ({"retry_after": "yes"}, "retry_after must be True or False, not 'yes'."),
        ({"refuse_create_body": 1}, "refuse_create_body must be True or False, not 1."),
        ({"max_body": -5}, "max_body must be a whole number of bytes >= 0, not -5."),
        (
            {"rate_limt": 5},
            "Unknown rule 'rate_limt'; the rules are check_order, idle_expiry, "
            "max_body, plan_rule, rate_limit, rate_window, refuse_create_body, "
            "retry_after, session_cap.",
        ),
    ],
)
def test_configure__bad_rules_are_refused_and_change_nothing(
    emulator: Emulator, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.configure(**changes)

    assert str(caught.value) == message
    assert emulator.rules == Rules()
    assert create(emulator, emulator.key_for("scale")).status == 201


def test_rules__same_checks_when_built_directly() -> None:
    with pytest.raises(UsageError) as caught:
        Rules(rate_limit="x")  # type: ignore[arg-type]

    assert str(caught.value) == f"rate_limit {WHOLE_OR_NONE} 'x'."


def test_rules__the_widest_accepted_values_still_serve_requests() -> None:
    emulator = Emulator(
        rules=Rules(
            rate_window=timedelta(days=366),
            idle_expiry=timedelta(days=366),
            rate_limit=10**30,
            session_cap=0,
            check_order=["session_cap", "plan", "rate_limit"],  # type: ignore[arg-type]
        )
    )

    reply = create(emulator, emulator.key_for("scale"))

    assert (reply.status, reply.json()) == (429, SEED_429)
    assert emulator.rules.check_order == ("session_cap", "plan", "rate_limit")
    assert emulator.state()["rules"]["rate_window_seconds"] == 31622400.0


def test_advance__takes_seconds_as_a_number(emulator: Emulator) -> None:
    assert emulator.advance(60) == EMULATOR_EPOCH + timedelta(minutes=1)
    assert emulator.advance(0.5) == EMULATOR_EPOCH + timedelta(seconds=60.5)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (-1, "The clock only moves forward; got -1 seconds."),
        (timedelta(minutes=-1), "The clock only moves forward; got -60 seconds."),
        (math.inf, "The clock moves by a finite number of seconds, not inf."),
        (math.nan, "The clock moves by a finite number of seconds, not nan."),
        ("60", "The clock moves by a timedelta or a number of seconds, not '60'."),
        (True, "The clock moves by a timedelta or a number of seconds, not True."),
        (
            1e308,
            "The clock cannot pass 9000-01-01; moving 1e+308 seconds from "
            "2026-01-01T00:00:00+00:00 would.",
        ),
        (10**400, "The clock cannot pass 9000-01-01; that many seconds would."),
        (
            timedelta(days=10**7),
            "The clock cannot pass 9000-01-01; moving 8.64e+11 seconds from "
            "2026-01-01T00:00:00+00:00 would.",
        ),
    ],
)
def test_advance__refuses_what_the_clock_cannot_do(
    emulator: Emulator, amount: Any, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.advance(amount)

    assert str(caught.value) == message
    assert emulator.clock.now() == EMULATOR_EPOCH


def test_advance__far_but_within_the_end_keeps_the_emulator_working(
    emulator: Emulator,
) -> None:
    emulator.advance(timedelta(days=2_540_000))

    assert create(emulator, emulator.key_for("scale")).status == 201
    assert emulator.state()["now"] == "8980-04-14T00:00:00+00:00"


def test_clock__start_must_be_within_the_supported_years() -> None:
    with pytest.raises(UsageError) as caught:
        Clock(datetime(9999, 12, 31, tzinfo=UTC))

    assert str(caught.value) == (
        "Clock start must lie from 1900-01-01 to before 9000-01-01 (UTC), not "
        "9999-12-31T00:00:00+00:00."
    )


def test_add_project__automatic_ids_skip_taken_ones(emulator: Emulator) -> None:
    emulator.add_project("dev", project_id="proj_5")

    assert emulator.add_project("dev").id == "proj_6"
    assert emulator.add_project("dev").id == "proj_7"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"plan": 5}, "Unknown plan 5: the documented plans are free, dev, scale."),
        (
            {"plan": "dev", "credits": -1},
            "credits must be a whole number >= 0, not -1.",
        ),
        (
            {"plan": "dev", "project_id": "a/b"},
            "project_id must be a non-empty string without '/', or None for an "
            "automatic id, not 'a/b'.",
        ),
        (
            {"plan": "dev", "project_id": ""},
            "project_id must be a non-empty string without '/', or None for an "
            "automatic id, not ''.",
        ),
    ],
)
def test_add_project__bad_arguments_are_usage_errors(
    emulator: Emulator, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        emulator.add_project(**arguments)

    assert str(caught.value) == message
    assert list(emulator.projects) == ["proj_free", "proj_dev", "proj_scale"]
