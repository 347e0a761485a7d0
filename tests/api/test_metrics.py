"""``GET /metrics`` (issue 14, item 5; cc_rules/metrics.py): who may read it, and that each
metric counts where it should, in this process (the worker's part: tests/tasks/
test_observability_worker.py).

The test session runs in multiprocess mode (tests/conftest.py), as ``serve`` does, so the
exposition read here is the one a deployment serves. Counters only grow: each test compares
before and after.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from cc_rules import celery_signals, logs
from cc_rules.api import throttling
from cc_rules.celery import app
from cc_rules.models import AgentChannelState
from cc_rules.selectors import db_now
from cc_rules.services import wrap_up_firing
from tests.api.metrics_text import label_values, parse, value
from tests.factories import a_contact, a_role, a_router, an_agent, client_for

pytestmark = pytest.mark.django_db

API = "/api/v1"


def scrape(**extra) -> dict:
    response = APIClient().get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


@pytest.fixture
def alice(db):
    """alice: voice only, 30 s of ACW, logged in; the router exists."""
    a_router("router")
    role = a_role(
        visible=["voice"], rules={"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 30}}
    )
    return an_agent("alice", role=role, logged_in=True)


# -- access ---------------------------------------------------------------------------------------
def test_metrics_are_served_on_loopback_and_refused_elsewhere(settings):
    assert APIClient().get("/metrics").status_code == 200  # the test client is 127.0.0.1
    far = APIClient().get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert far.status_code == 403
    assert far.json() == {"code": "forbidden", "detail": far.json()["detail"], "rule": None}
    # A proxy on this machine connects from loopback: what it forwards is not local.
    proxied = APIClient().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403
    assert APIClient().get("/metrics", HTTP_FORWARDED="for=203.0.113.9").status_code == 403
    assert APIClient().post("/metrics").status_code == 405

    settings.CC_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert APIClient().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert APIClient().get("/metrics").status_code == 403  # loopback is no longer listed


def test_a_bearer_token_opens_metrics_from_anywhere_when_set(settings):
    remote = {"REMOTE_ADDR": "198.51.100.7"}
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer ", **remote).status_code == 403
    settings.CC_METRICS_TOKEN = "s3cret-metrics-token"
    ok = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", **remote)
    assert ok.status_code == 200
    wrong = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-tokem", **remote)
    assert wrong.status_code == 403
    as_token = APIClient().get(
        "/metrics", HTTP_AUTHORIZATION="Token s3cret-metrics-token", **remote
    )
    assert as_token.status_code == 403
    # A header with characters outside ASCII is a wrong token, not a 500.
    odd = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cr\u00e9t", **remote)
    assert odd.status_code == 403


def test_metrics_make_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert APIClient().get("/metrics").status_code == 200


# -- what is counted ------------------------------------------------------------------------------
def test_request_latency_is_labelled_by_route_name_never_by_path(alice):
    client = client_for(alice)
    ready = client.put(f"{API}/me/channels/voice/status/", {"status": "ready"}, format="json")
    assert ready.status_code == 200
    before = scrape()
    contact = a_contact()
    offer = client_for("router").post(
        f"{API}/interactions/",
        {"channel": "voice", "direction": "inbound", "agent": "alice", "contact": contact.pk},
        format="json",
    )
    assert offer.status_code == 201, offer.content
    pk = offer.json()["id"]
    assert client.get(f"{API}/interactions/{pk}/").status_code == 200
    assert client.get(f"{API}/interactions/{pk}/").status_code == 200
    assert client.get(f"{API}/no-such-{pk}/").status_code == 404
    after = scrape()

    name = "cc_http_request_duration_seconds_count"
    detail = {"route": "interaction-detail", "method": "GET", "status": "2xx"}
    assert value(after, name, **detail) - value(before, name, **detail) == 2
    for labels in ({"route": "interactions", "method": "POST"}, {"route": "unmatched"}):
        assert value(after, name, **labels) - value(before, name, **labels) == 1, labels
    assert value(after, "cc_http_request_duration_seconds_sum", **detail) > value(
        before, "cc_http_request_duration_seconds_sum", **detail
    )
    routes = label_values(after, name, "route")
    assert not [r for r in routes if "/" in r or str(pk) in r], routes


def test_decisions_status_changes_and_replays_are_counted(
    alice, django_capture_on_commit_callbacks
):
    before = scrape()
    client = client_for(alice)
    status_url = f"{API}/me/channels/voice/status/"
    with django_capture_on_commit_callbacks(execute=True):
        ready = client.put(
            status_url, {"status": "ready"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert ready.status_code == 200, ready.content
        again = client.put(
            status_url, {"status": "ready"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert again["Idempotent-Replayed"] == "true"
        offer = client_for("router").post(
            f"{API}/interactions/",
            {"channel": "voice", "direction": "inbound", "agent": "alice"},
            format="json",
        )
        assert offer.status_code == 201, offer.content
        asked = client_for("router").post(
            f"{API}/decisions/offer/", {"agent": "alice", "channel": "voice"}, format="json"
        )
        assert asked.status_code == 200, asked.content
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("cc_idempotent_replays_total") == 1
    assert delta("cc_decisions_total", kind="status", code="applied") == 1  # not the replay
    assert delta("cc_decisions_total", kind="offer", code="allowed") == 1
    # alice now has the offer: voice is at its cap of one.
    assert delta("cc_decisions_total", kind="query") == 1
    assert delta("cc_status_changes_total", event="status", cause="agent") == 1
    rules = label_values(after, "cc_decisions_total", "rule")
    assert all("#" not in r and "@" not in r for r in rules), rules  # bounded: number:key


def test_a_status_change_that_is_rolled_back_is_not_counted(alice):
    """Counted on commit: in this test's transaction nothing commits, so nothing counts."""
    before = scrape()
    ready = client_for(alice).put(
        f"{API}/me/channels/voice/status/", {"status": "ready"}, format="json"
    )
    assert ready.status_code == 200
    name = "cc_status_changes_total"
    assert value(scrape(), name, cause="agent") == value(before, name, cause="agent")


def test_wrap_up_lateness_is_observed_where_the_timer_fires(
    alice, django_capture_on_commit_callbacks, settings
):
    settings.CC_SEND_WAKEUPS = False
    client = client_for(alice)
    assert (
        client.put(
            f"{API}/me/channels/voice/status/", {"status": "ready"}, format="json"
        ).status_code
        == 200
    )
    offer = client_for("router").post(
        f"{API}/interactions/",
        {"channel": "voice", "direction": "inbound", "agent": "alice"},
        format="json",
    )
    pk = offer.json()["id"]
    assert client.post(f"{API}/interactions/{pk}/accept/", format="json").status_code == 200
    assert (
        client.post(f"{API}/interactions/{pk}/end/", {"how": "hangup"}, format="json").status_code
        == 200
    )
    state = AgentChannelState.objects.get(agent=alice, channel_id="voice")
    assert state.status == "after_call_work"
    AgentChannelState.objects.filter(pk=state.pk).update(
        wrap_up_deadline=db_now() - timedelta(seconds=2)
    )
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        fired = wrap_up_firing.fire_all_due(50, source="sweep")
    assert fired == {(state.pk, state.wrap_up_version)}
    after = scrape()

    name = "cc_wrap_up_lateness_seconds"
    count = value(after, f"{name}_count", source="sweep") - value(
        before, f"{name}_count", source="sweep"
    )
    late = value(after, f"{name}_sum", source="sweep") - value(
        before, f"{name}_sum", source="sweep"
    )
    assert count == 1
    assert 2 <= late < 30
    # ... in the bucket it belongs to: not under 1 s, under 5 s... unless this machine stalls.
    assert value(after, f"{name}_bucket", source="sweep", le="1.0") == value(
        before, f"{name}_bucket", source="sweep", le="1.0"
    )
    timer = value(after, "cc_status_changes_total", event="status", cause="wrap_up_timer")
    assert (
        timer - value(before, "cc_status_changes_total", event="status", cause="wrap_up_timer") == 1
    )


def test_a_throttle_that_fails_open_is_counted(alice, settings):
    settings.CC_THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    throttling._down_until = 0.0
    before = scrape()
    try:
        client = client_for(alice)
        for enabled in (True, False):  # the first finds Redis down, the second is in back-off
            assert (
                client.put(f"{API}/me/dnd/", {"enabled": enabled}, format="json").status_code == 200
            )
    finally:
        throttling._down_until = 0.0
    after = scrape()
    name = "cc_throttle_fail_open_total"
    assert value(after, name, scope="user_writes") - value(before, name, scope="user_writes") == 2


# -- the request id reaches Celery messages -------------------------------------------------------
def test_a_published_task_carries_the_request_id_and_its_publish_time():
    """A real publish to the real broker (no worker consumes the private queue)."""
    queue = f"cc-test-headers-{uuid.uuid4().hex}"
    token = logs.request_id.set("req-for-the-task")
    try:
        app.send_task("cc_rules.sweep", queue=queue, retry=False)
    finally:
        logs.request_id.reset(token)
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        (raw,) = broker.lrange(queue, 0, -1)
    finally:
        broker.delete(queue)
    headers = json.loads(raw)["headers"]
    assert headers[celery_signals.REQUEST_ID_HEADER] == "req-for-the-task"
