"""Metrics and logs with a REAL Celery worker and beat (issue 14, items 5 and 6; "Done when":
"/metrics shows the metrics above after a scenario run; wrap-up lateness has observations").

A scenario over HTTP (the live server in this process): log in with a password, go ready, an
idempotent retry, an offer accepted and ended into a 2 s wrap-up whose timer fires through the
worker, a write while the throttle's Redis is down. The worker and beat write their metrics to
the session's ``PROMETHEUS_MULTIPROC_DIR`` (tests/conftest.py; they inherit it), so one
``GET /metrics`` must show every metric with observations, the worker's included. The wake-up
task the ``end`` request published logs JSON lines that carry that request's id; at DEBUG,
the worker's and beat's lines hold neither a token nor the password.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from cc_rules.api import throttling
from cc_rules.models import RulesVersion
from tests.api.metrics_text import parse, value
from tests.factories import PASSWORD, a_contact, a_role, a_router, an_agent

from .calls import timer_rows
from .celery_procs import (
    celery_on_this_session,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def celery_processes(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real worker and beat on this session's test database and a Redis database of their
    own, stopped when this module is done (as in test_real_worker.py)."""
    with celery_on_this_session(
        django_db_blocker, tmp_path_factory.mktemp("celery-observability")
    ) as procs:
        procs.worker.env["LOG_LEVEL"] = "DEBUG"  # worker and beat share it: Celery's DEBUG too
        yield procs


def _api(base: str, token: str | None = None, **headers: str) -> requests.Session:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Token {token}"
    session.headers.update(headers)
    return session


def test_after_a_scenario_metrics_show_every_metric_and_the_task_logs_carry_the_request_id(
    celery_processes, live_server, settings
):
    settings.CC_SEND_WAKEUPS = True
    a_router("router")
    role = a_role(
        visible=["voice"],
        rules={
            "acw_enabled": {"voice": True},
            "acw_seconds": {"voice": 2},
            "acw_after_timer": {"voice": "not_ready"},
        },
    )
    an_agent("alice", role=role)
    contact = a_contact()
    # The worker caches resolved rules per rules version: make this one unique to this test.
    RulesVersion.objects.filter(pk=1).update(value=time.time_ns() // 1000)
    celery_processes.ensure_running()
    mark = celery_processes.mark()
    # Earlier tests of this session may have counted too (one directory per session).
    before = parse(requests.get(f"{live_server.url}/metrics", timeout=10).text)

    api = f"{live_server.url}/api/v1"
    anonymous = _api(api)
    tokens = {}
    for name in ("alice", "router"):
        got = anonymous.post(
            f"{api}/auth/token/", json={"username": name, "password": PASSWORD}, timeout=10
        )
        assert got.status_code == 200, got.text
        tokens[name] = got.json()["token"]
    alice, router = _api(api, tokens["alice"]), _api(api, tokens["router"])

    assert alice.post(f"{api}/me/login/", json={}, timeout=10).status_code == 200
    key = {"Idempotency-Key": f"ready-{uuid.uuid4().hex}"}
    url = f"{api}/me/channels/voice/status/"
    first = alice.put(url, json={"status": "ready"}, headers=key, timeout=10)
    assert first.status_code == 200, first.text
    replay = alice.put(url, json={"status": "ready"}, headers=key, timeout=10)
    assert replay.headers.get("Idempotent-Replayed") == "true"

    offer = router.post(
        f"{api}/interactions/",
        json={"channel": "voice", "contact": contact.pk, "direction": "inbound", "agent": "alice"},
        timeout=10,
    )
    assert offer.status_code == 201, offer.text
    call = offer.json()["id"]
    assert alice.post(f"{api}/interactions/{call}/accept/", timeout=10).status_code == 200
    rid = f"end-{uuid.uuid4().hex[:16]}"
    ended = alice.post(
        f"{api}/interactions/{call}/end/",
        json={"how": "hangup"},
        headers={"X-Request-ID": rid},
        timeout=10,
    )
    assert ended.status_code == 200, ended.text
    assert ended.headers["X-Request-ID"] == rid

    settings.CC_THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    throttling._down_until = 0.0
    try:
        dnd = alice.put(f"{api}/me/dnd/", json={"enabled": False}, timeout=10)
        assert dnd.status_code == 200, dnd.text
    finally:
        throttling._down_until = 0.0

    row = wait_until(
        lambda: timer_rows("alice").first(), 2 + 5, "the wrap-up timer", celery_processes, mark
    )
    assert row.to_status == "not_ready"

    def scraped() -> dict | None:
        response = requests.get(f"{live_server.url}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        samples = parse(response.text)
        fired = value(samples, "cc_celery_tasks_total", task="cc_rules.fire_wrap_up") - value(
            before, "cc_celery_tasks_total", task="cc_rules.fire_wrap_up"
        )
        swept = value(samples, "cc_sweep_duration_seconds_count") - value(
            before, "cc_sweep_duration_seconds_count"
        )
        late = value(samples, "cc_wrap_up_lateness_seconds_count") - value(
            before, "cc_wrap_up_lateness_seconds_count"
        )
        return samples if fired and swept and late else None

    samples = wait_until(scraped, 10, "the worker's metrics", celery_processes, mark)

    def delta(name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    # Request latency per route, decisions by code and rule, status changes by cause.
    latency = "cc_http_request_duration_seconds_count"
    assert delta(latency, route="interaction-accept", method="POST", status="2xx") == 1
    assert delta(latency, route="me-channel-status", method="PUT", status="2xx") == 2
    assert delta("cc_decisions_total", kind="offer", code="allowed") == 1
    assert delta("cc_decisions_total", kind="status", code="applied") == 1
    assert delta("cc_status_changes_total", event="status", cause="agent") == 2  # login, ready
    assert delta("cc_status_changes_total", event="status", cause="wrap_up_timer") == 1
    # Wrap-up lateness, observed where the timer fired (in the worker): 0 to 3 s late.
    lateness = {
        source: (
            delta("cc_wrap_up_lateness_seconds_count", source=source),
            delta("cc_wrap_up_lateness_seconds_sum", source=source),
        )
        for source in ("timer", "sweep")
    }
    assert sum(count for count, _ in lateness.values()) == 1, lateness
    assert 0 <= sum(total for _, total in lateness.values()) <= 3, lateness
    # Sweeper lag and duration (observed by the beat's in-process sweeper); idempotent replays;
    # throttle fail-opens; Celery outcomes.
    assert delta("cc_sweep_lag_seconds_count") >= 1
    assert delta("cc_sweep_duration_seconds_count") >= 1
    assert delta("cc_idempotent_replays_total") == 1
    assert delta("cc_throttle_fail_open_total", scope="user_writes") == 1
    tasks = "cc_celery_tasks_total"
    assert delta(tasks, task="cc_rules.fire_wrap_up", outcome="succeeded") >= 1

    # The wake-up the `end` request published ran with that request's id in its log lines.
    lines = wait_until(
        lambda: celery_processes.log_lines(mark, rid, "fire_wrap_up", "succeeded"),
        10,
        "the wake-up's log line",
        celery_processes,
        mark,
    )
    record = json.loads(lines[0])
    assert record["request_id"] == rid
    assert record["task_name"] == "cc_rules.fire_wrap_up"
    assert record["level"] == "INFO"
    # Every log line of the worker and beat is JSON (the start-up banner aside: not a log line).
    logged = [ln for ln in celery_processes.logs_since(mark).splitlines() if ln.startswith("{")]
    assert logged
    assert all(json.loads(ln)["logger"] for ln in logged)
    log_text = celery_processes.logs_since(mark)
    assert '"level": "DEBUG"' in log_text  # the capture sees Celery's DEBUG lines
    for secret in (tokens["alice"], tokens["router"], PASSWORD):
        assert secret not in log_text
