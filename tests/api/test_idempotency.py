"""Idempotency-Key on POST and PUT (API.md "Conventions"; cc_rules/api/idempotency.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone
from psycopg.errors import DeadlockDetected

from cc_rules.models import Agent, IdempotencyRecord, Interaction, StatusChange
from cc_rules.services import offers, sessions
from tests.factories import BLENDED, REASONS, VOICE_ONLY, a_role, a_router, an_agent, reason_codes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]

DND = "/api/v1/me/dnd/"
LOGIN = "/api/v1/me/login/"
LOGOUT = "/api/v1/me/logout/"
OFFERS = "/api/v1/interactions/"
OPEN = ("offered", "active")


@pytest.fixture
def people(db):
    """alice, sam (blended: voice, e-mail, chat and IM), bob (voice and IM), the router and
    the global reason codes (break, …)."""
    reason_codes(*REASONS)
    blended = a_role("blended", **BLENDED)
    an_agent("alice", role=blended)
    an_agent("sam", role=blended)
    an_agent("bob", role=a_role("voice_only", **VOICE_ONLY))
    a_router("router")


def _put(client, url, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.put(url, body, format="json", **headers)


def _post(client, url, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


def test_it_replays_the_first_response_without_doing_the_work_again(api):
    alice = api("alice")
    first = _post(alice, LOGIN, {"channels": ["voice", "chat"]}, key="login-1")
    assert first.status_code == 200
    rows = StatusChange.objects.count()
    assert rows == 2
    assert "Idempotent-Replayed" not in first

    # The world moves on; the retry still answers what the first request answered.
    assert _put(alice, "/api/v1/me/channels/voice/status/", {"status": "ready"}).status_code == 200
    rows = StatusChange.objects.count()
    retry = _post(alice, LOGIN, {"channels": ["voice", "chat"]}, key="login-1")
    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert StatusChange.objects.count() == rows  # no second login rows
    assert IdempotencyRecord.objects.count() == 1


def test_it_replays_an_offer_and_creates_one_interaction(api):
    alice, router = api("alice"), api("router")
    _post(alice, LOGIN, {"channels": ["voice"]})
    _put(alice, "/api/v1/me/channels/voice/status/", {"status": "ready"})
    body = {"channel": "voice", "direction": "inbound", "agent": "alice"}
    first = _post(router, OFFERS, body, key='"offer-7"')  # an RFC 8941 sf-string
    again = _post(router, OFFERS, body, key='"offer-7"')
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Interaction.objects.count() == 1


def test_the_same_key_with_another_body_is_422(api, snapshot):
    alice = api("alice")
    assert _put(alice, DND, {"enabled": True}, key="k1").status_code == 200
    before = snapshot()
    response = _put(alice, DND, {"enabled": False}, key="k1")
    assert response.status_code == 422
    assert response.json() == {
        "code": "idempotency_key_reused",
        "detail": response.json()["detail"],
        "rule": None,
    }
    assert snapshot() == before
    assert Agent.objects.get(user__username="alice").dnd is True


def test_json_key_order_does_not_change_the_fingerprint(api):
    alice = api("alice")
    body_a = '{"status": "not_ready", "reason": "break"}'
    body_b = '{"reason": "break", "status": "not_ready"}'
    _post(alice, LOGIN, {"channels": ["voice"]})
    url = "/api/v1/me/channels/voice/status/"
    first = alice.put(url, body_a, content_type="application/json", HTTP_IDEMPOTENCY_KEY="o")
    second = alice.put(url, body_b, content_type="application/json", HTTP_IDEMPOTENCY_KEY="o")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"


def test_keys_are_per_user_and_per_endpoint(api):
    alice, bob = api("alice"), api("bob")
    assert _put(alice, DND, {"enabled": True}, key="same").status_code == 200
    assert _put(bob, DND, {"enabled": True}, key="same").status_code == 200  # bob's own key
    assert "Idempotent-Replayed" not in _put(bob, DND, {"enabled": True}, key="x")
    response = _post(alice, LOGIN, {}, key="same")  # another endpoint: not a reuse
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert Agent.objects.get(user__username="bob").dnd is True


def test_a_refusal_is_stored_replayed_and_leaves_nothing_behind(api, snapshot):
    alice = api("alice")
    _post(alice, LOGIN, {"channels": ["voice"]})
    before = snapshot()
    url = "/api/v1/me/channels/voice/status/"
    refused = _put(alice, url, {"status": "not_ready", "reason": "no-such-reason"}, key="r")
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"
    after = snapshot()
    assert after.pop("cc_rules_idempotencyrecord") == before.pop("cc_rules_idempotencyrecord") + 1
    assert after == before
    replay = _put(alice, url, {"status": "not_ready", "reason": "no-such-reason"}, key="r")
    assert replay.status_code == 400
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == refused.json()


def test_a_refusal_echoing_a_nul_is_answered_not_stored(api):
    """jsonb cannot hold NUL: the 400 that names the field is answered (never a 500), and a
    retry recomputes the same refusal (found by schemathesis)."""
    alice = api("alice")
    raw = '{"\\u0000x": 1}'
    for _ in range(2):
        response = alice.put(DND, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="nul")
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["\x00x"]
    assert not Agent.objects.get(user__username="alice").dnd


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("x" * 256, "longer than 255"),
        ("tab\tinside", "printable"),
        ('""', "empty"),
    ],
)
def test_a_malformed_key_is_400_and_changes_nothing(api, snapshot, key, why):
    alice = api("alice")
    before = snapshot()
    response = _put(alice, DND, {"enabled": True}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert why.split()[0] in response.json()["detail"].lower() or why == "printable"
    assert snapshot() == before


def test_a_key_of_255_characters_is_accepted(api):
    response = _put(api("alice"), DND, {"enabled": True}, key="k" * 255)
    assert response.status_code == 200
    assert IdempotencyRecord.objects.get().key == "k" * 255


def test_an_anonymous_request_is_not_claimed(api):
    response = _put(api(), DND, {"enabled": True}, key="anon")
    assert response.status_code == 401
    assert IdempotencyRecord.objects.count() == 0


def test_throttled_and_unauthenticated_answers_are_not_stored(api, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user_writes": "1/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    alice = api("alice")
    assert _put(alice, DND, {"enabled": True}).status_code == 200
    throttled = _put(alice, DND, {"enabled": False}, key="t")
    if throttled.status_code == 200:
        pytest.skip("Redis unreachable: throttling fails open")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert IdempotencyRecord.objects.count() == 0


def test_only_a_hash_of_an_im_is_stored(api):
    alice = api("alice")
    text = "secret words 4711"
    response = _post(alice, "/api/v1/im/", {"to": "sam", "text": text}, key="im-1")
    assert response.status_code in (202, 503)
    for record in IdempotencyRecord.objects.all():
        stored = " ".join(str(v) for v in record.__dict__.values())
        assert "secret" not in stored
        assert len(record.body_hash) == 64


def test_an_expired_key_runs_the_request_again(api):
    alice = api("alice")
    _put(alice, DND, {"enabled": True}, key="old")
    _put(alice, DND, {"enabled": False})
    IdempotencyRecord.objects.update(expires_at=IdempotencyRecord.objects.get().created_at)
    response = _put(alice, DND, {"enabled": True}, key="old")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert Agent.objects.get(user__username="alice").dnd is True
    assert IdempotencyRecord.objects.count() == 1


def test_records_expire_after_the_ttl_and_are_purged(api, settings):
    settings.CC_IDEMPOTENCY_TTL_HOURS = 2
    _put(api("alice"), DND, {"enabled": True}, key="a")
    _put(api("bob"), DND, {"enabled": True}, key="b")
    record = IdempotencyRecord.objects.get(key="a")
    assert record.expires_at - record.created_at == timedelta(hours=2)
    IdempotencyRecord.objects.filter(key="a").update(expires_at=record.created_at)
    call_command("purge_idempotency", verbosity=0)
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["b"]


def test_get_requests_ignore_the_header(api):
    response = api("alice").get("/api/v1/me/", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 200
    assert IdempotencyRecord.objects.count() == 0


# --- concurrency (PostgreSQL: the advisory-lock claim) -----------------------------------------


def _agent_row_locked(username: str, hold: threading.Event, held: threading.Event):
    """In its own connection: lock the agent's row until ``hold`` is set."""
    try:
        with transaction.atomic():
            Agent.objects.select_for_update().get(user__username=username)
            held.set()
            hold.wait(20)
    finally:
        connections.close_all()


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _advisory_locks_granted() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_concurrent_duplicates_one_runs_the_other_gets_409(transactional_db, api):
    alice_first, alice_second = api("alice"), api("alice")
    results: dict[str, object] = {}
    hold, held = threading.Event(), threading.Event()
    locker = threading.Thread(target=_agent_row_locked, args=("alice", hold, held))
    locker.start()
    assert held.wait(10)

    def first():
        try:
            results["first"] = _post(alice_first, LOGIN, {"channels": ["voice"]}, key="dup")
        finally:
            connections.close_all()

    runner = threading.Thread(target=first)
    runner.start()
    try:
        # The first request holds the key's advisory lock and waits for alice's row.
        assert _wait_for(lambda: _advisory_locks_granted() >= 1)
        started = time.monotonic()
        second = _post(alice_second, LOGIN, {"channels": ["voice"]}, key="dup")
        assert time.monotonic() - started < 2  # at once, not after the first finishes
        assert second.status_code == 409
        assert second.json()["code"] == "request_in_progress"
        assert second["Retry-After"] == "1"
    finally:
        hold.set()
        locker.join(20)
        runner.join(20)
    assert results["first"].status_code == 200
    assert StatusChange.objects.count() == 1  # one login row: the work ran once
    replay = _post(alice_second, LOGIN, {"channels": ["voice"]}, key="dup")
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert StatusChange.objects.count() == 1


@pytest.mark.postgres
def test_many_parallel_retries_do_the_work_once(transactional_db, api):
    """Eight clients fire the same offer at once: one interaction; the rest replay or get 409."""
    _post(api("alice"), LOGIN, {"channels": ["chat"]})
    _put(api("alice"), "/api/v1/me/channels/chat/status/", {"status": "ready"})
    body = {"channel": "chat", "direction": "inbound", "agent": "alice"}
    barrier = threading.Barrier(8)
    codes: list[int] = []
    lock = threading.Lock()

    def fire():
        client = api("router")
        try:
            barrier.wait(10)
            response = _post(client, OFFERS, body, key="burst")
            with lock:
                codes.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(codes) == 8
    assert set(codes) <= {201, 409}
    assert 201 in codes
    assert Interaction.objects.count() == 1


# --- transaction boundaries (issue 12 item 6; issue 13 cases 11 and 12) ------------------------


def _ready_on_chat(api, username: str) -> None:
    _post(api(username), LOGIN, {"channels": ["chat"]})
    _put(api(username), "/api/v1/me/channels/chat/status/", {"status": "ready"})


@pytest.mark.parametrize("key", [None, "accept-late"])
def test_an_accept_after_the_deadline_is_409_and_the_offer_stays_missed(api, key):
    """DECISIONS.md "Accept after the offer's deadline": the miss stands with a key too (the
    middleware keeps what the service kept), and the refusal is stored like any other."""
    _ready_on_chat(api, "alice")
    offered = _post(
        api("router"), OFFERS, {"channel": "chat", "direction": "inbound", "agent": "alice"}
    )
    assert offered.status_code == 201
    pk = offered.json()["id"]
    Interaction.objects.filter(pk=pk).update(offer_deadline=timezone.now() - timedelta(seconds=1))

    late = _post(api("alice"), f"/api/v1/interactions/{pk}/accept/", {}, key=key)

    assert late.status_code == 409
    assert late.json()["code"] == "offer_expired"
    assert Interaction.objects.get(pk=pk).state == "missed"
    if key is not None:
        assert IdempotencyRecord.objects.filter(key=key, status_code=409).count() == 1
        replay = _post(api("alice"), f"/api/v1/interactions/{pk}/accept/", {}, key=key)
        assert (replay.status_code, replay["Idempotent-Replayed"]) == (409, "true")
        assert replay.json()["code"] == "offer_expired"
    assert Interaction.objects.get(pk=pk).state == "missed"


def _deadlock() -> OperationalError:
    """What Django raises for PostgreSQL's "deadlock detected" (SQLSTATE 40P01)."""
    try:
        raise OperationalError("deadlock detected") from DeadlockDetected("deadlock detected")
    except OperationalError as exc:
        return exc


@pytest.mark.postgres
@pytest.mark.parametrize("key", [None, "retried"])
def test_a_request_that_loses_a_deadlock_is_run_again_not_answered_5xx(
    transactional_db, api, monkeypatch, key
):
    _ready_on_chat(api, "alice")
    real, tries = offers._route, []

    def loses_once(*args, **kwargs):
        tries.append(1)
        if len(tries) == 1:
            raise _deadlock()
        return real(*args, **kwargs)

    monkeypatch.setattr(offers, "_route", loses_once)

    routed = _post(api("router"), OFFERS, {"channel": "chat", "direction": "inbound"}, key=key)

    assert routed.status_code == 201, routed.content
    assert len(tries) == 2
    assert Interaction.objects.count() == 1
    if key is not None:
        assert IdempotencyRecord.objects.get(key=key).status_code == 201


@pytest.mark.postgres
def test_a_request_that_loses_every_try_is_409_and_changes_nothing(
    transactional_db, api, monkeypatch
):
    _ready_on_chat(api, "alice")
    monkeypatch.setattr(offers, "_route", lambda *a, **k: (_ for _ in ()).throw(_deadlock()))
    monkeypatch.setattr(sessions, "RETRY_BASE_DELAY", 0.001)

    routed = _post(api("router"), OFFERS, {"channel": "chat", "direction": "inbound"}, key="k")

    assert routed.status_code == 409
    assert (routed.json()["code"], routed["Retry-After"]) == ("request_in_progress", "1")
    assert Interaction.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def _deadlocks_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_concurrent_routed_offers_with_keys_never_deadlock_nor_exceed_a_cap(
    transactional_db, api, settings
):
    """The soak of issue 12 item 6, in small: routers offer chats, all with Idempotency-Keys,
    over a shared pool of 6 agents (chat cap 2), while the agents accept, reject and end them,
    also with keys. Every offer is 201 or 409 no_eligible_agent, nothing is 5xx, no cap is
    ever exceeded and PostgreSQL detects no deadlock."""
    settings.CC_SEND_WAKEUPS = False
    names = [f"pool{i}" for i in range(1, 7)]
    pool = a_role("pool", visible=["chat", "email"], rules={"channel_cap": {"chat": 2}})
    for name in names:
        an_agent(name, role=pool)
    for name in names:
        _ready_on_chat(api, name)
    ids = dict(Agent.objects.filter(user__username__in=names).values_list("user__username", "pk"))
    deadlocks_before = _deadlocks_so_far()
    routers, offers_each = 4, 25
    routed: list[tuple[int, str | None]] = []
    worked: list[tuple[int, str | None]] = []
    over_cap: list[dict] = []
    done = threading.Event()
    lock = threading.Lock()

    def route(n: int) -> None:
        client = api("router")
        try:
            for i in range(offers_each):
                body = {"channel": "chat", "direction": "inbound"}
                response = _post(client, OFFERS, body, key=f"route-{n}-{i}")
                with lock:
                    routed.append((response.status_code, response.json().get("code")))
        finally:
            connections.close_all()

    def work(name: str) -> None:
        """The agent accepts or rejects what is offered and ends what is active."""
        client = api(name)
        step = 0
        try:
            while not done.is_set():
                mine = Interaction.objects.filter(
                    agent_id=ids[name], state__in=("offered", "active")
                )
                for pk, state in list(mine.values_list("pk", "state")):
                    step += 1
                    if state == "active":
                        action, body = "end", {"how": "chat_ended"}
                    else:
                        action, body = ("reject" if step % 3 == 0 else "accept"), {}
                    url = f"/api/v1/interactions/{pk}/{action}/"
                    response = _post(client, url, body, key=f"{name}-{pk}-{action}")
                    with lock:
                        worked.append((response.status_code, response.json().get("code")))
                time.sleep(0.01)
        finally:
            connections.close_all()

    def watch() -> None:
        try:
            while not done.is_set():
                counts = Counter(
                    Interaction.objects.filter(
                        agent_id__in=ids.values(),
                        channel_id="chat",
                        state__in=("offered", "active"),
                    ).values_list("agent_id", flat=True)
                )
                if any(n > 2 for n in counts.values()):
                    over_cap.append(dict(counts))
                time.sleep(0.005)
        finally:
            connections.close_all()

    routing = [threading.Thread(target=route, args=(n,)) for n in range(routers)]
    helpers = [threading.Thread(target=work, args=(name,)) for name in names]
    helpers.append(threading.Thread(target=watch))
    for thread in routing + helpers:
        thread.start()
    for thread in routing:
        thread.join(120)
    done.set()
    for thread in helpers:
        thread.join(30)
    assert not any(t.is_alive() for t in routing + helpers), "a request never returned"

    assert len(routed) == routers * offers_each
    assert set(routed) <= {(201, None), (409, "no_eligible_agent")}, Counter(routed)
    assert (201, None) in routed
    assert worked
    assert not [answer for answer in worked if answer[0] >= 500], Counter(worked)
    stored = IdempotencyRecord.objects.filter(key__startswith="route-")
    assert stored.count() == routers * offers_each  # every answer kept with its work
    assert not over_cap, over_cap[:3]
    connections.close_all()  # the threads' backends have reported their statistics by now
    time.sleep(1.0)
    assert _deadlocks_so_far() == deadlocks_before
