"""Log lines (issue 14, item 6; cc_rules/logs.py): one JSON object per line (or plain text with
``CC_LOG_FORMAT=text``), each with the request id, and never a password, a token or IM text.

The scenario runs with every logger at DEBUG, Django's query log included (DEBUG on), and the
output of the project's own formatters is captured as an operator would read it. The worker's
side (a task's lines carry the request that published it) is in
tests/tasks/test_observability_worker.py.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import uuid

import pytest
from rest_framework.test import APIClient

from cc_rules.logs import JsonFormatter, TextFormatter, scrub
from cc_rules.services import im as im_service
from tests.factories import a_role, a_router, an_agent, client_for

pytestmark = pytest.mark.django_db

API = "/api/v1"
LOGGERS = (
    "",
    "django",
    "django.request",
    "django.server",
    "django.db.backends",
    "django.security",
    "celery",
    "kombu",
    "cc_rules",
    "cc_rules.access",
)


@pytest.fixture
def captured(request, settings):
    """Everything logged at DEBUG, through the project's formatter (``request.param``)."""
    settings.DEBUG = True  # Django logs every SQL statement with its parameters
    settings.CC_ACCESS_LOG = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(request.param())
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("captured", [JsonFormatter, TextFormatter], indirect=True, ids=str)
def test_a_full_scenario_logs_no_password_token_or_im_text(
    captured, settings, django_capture_on_commit_callbacks
):
    password, wrong = f"pw-{uuid.uuid4().hex}", f"wrong-{uuid.uuid4().hex}"
    im_text = f"IM-SECRET-{uuid.uuid4().hex}"
    rid = f"scenario-{uuid.uuid4().hex[:12]}"
    settings.CC_SEND_WAKEUPS = True  # the offer's wake-up is published: Celery logs too
    role = a_role(visible=["voice", "im"])
    a_router("router")
    alice = an_agent("alice", role=role)
    alice.user.set_password(password)
    alice.user.save()
    # Start from an empty inbox: Redis outlives a test's database, and reading no longer empties.
    im_service.discard(an_agent("bob", role=role).pk)

    anonymous = APIClient()
    got = anonymous.post(
        f"{API}/auth/token/", {"username": "alice", "password": password}, format="json"
    )
    assert got.status_code == 200, got.content
    token = got.json()["token"]
    alice_api = APIClient()
    alice_api.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_REQUEST_ID=rid)
    assert alice_api.get(f"{API}/me/").status_code == 200
    assert alice_api.post(f"{API}/me/login/", {}, format="json").status_code == 200
    ready = alice_api.put(f"{API}/me/channels/voice/status/", {"status": "ready"}, format="json")
    assert ready.status_code == 200, ready.content
    sent = alice_api.post(
        f"{API}/im/",
        {"to": "bob", "text": im_text},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"im-{uuid.uuid4().hex}",
    )
    assert sent.status_code == 202, sent.content
    bob_token = anonymous.post(
        f"{API}/auth/token/", {"username": "bob", "password": "pw-for-tests"}, format="json"
    ).json()["token"]
    bob_api = APIClient()
    bob_api.credentials(HTTP_AUTHORIZATION=f"Token {bob_token}")
    inbox = bob_api.get(f"{API}/im/inbox/")
    assert inbox.status_code == 200
    assert [m["text"] for m in inbox.json()["results"]] == [im_text]
    with django_capture_on_commit_callbacks(execute=True) as published:
        offer = client_for("router").post(
            f"{API}/interactions/",
            {"channel": "voice", "direction": "inbound", "agent": "alice"},
            format="json",
        )
    assert offer.status_code == 201, offer.content
    assert published, "no wake-up was published"
    failed = anonymous.post(
        f"{API}/auth/token/", {"username": "alice", "password": wrong}, format="json"
    )
    assert failed.status_code == 400
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token[::-1]}").get(f"{API}/me/").status_code == 401

    output = captured.getvalue()
    lines = output.splitlines()
    # The capture sees what it should: SQL at DEBUG, the request's lines with its id.
    assert any("django.db.backends" in line and "SELECT" in line for line in lines), output[:2000]
    assert any(rid in line and "django.db.backends" in line for line in lines)
    assert any(rid in line and "cc_rules.access" in line for line in lines)
    assert any("django.request" in line and "auth/token" in line for line in lines)

    for secret, what in (
        (password, "password"),
        (wrong, "failed password"),
        (token, "alice's token"),
        (bob_token, "bob's token"),
        (im_text, "IM text"),
    ):
        assert secret not in output, f"the {what} is in the log"


@pytest.mark.parametrize("captured", [JsonFormatter], indirect=True, ids=str)
def test_json_lines_each_carry_their_request_id(captured):
    role = a_role(visible=["voice"])
    an_agent("alice", role=role)
    client = client_for("alice")
    first = client.get(f"{API}/me/", HTTP_X_REQUEST_ID="req-one")
    second = client.put(
        f"{API}/me/channels/voice/status/",
        {"status": "bogus"},
        format="json",
        HTTP_X_REQUEST_ID="req-two",
    )
    assert (first.status_code, second.status_code) == (200, 400)
    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert records
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    by_id = {r["request_id"] for r in records}
    assert {"req-one", "req-two"} <= by_id
    access = [r for r in records if r["logger"] == "cc_rules.access"]
    assert [(r["request_id"], r["route"], r["status"]) for r in access] == [
        ("req-one", "me", 200),
        ("req-two", "me-channel-status", 400),
    ]
    # Django's own line for the 400 comes after the middleware returned: it still has the id,
    # and the request object is not serialised (its method and path are).
    (bad,) = [r for r in records if r["logger"] == "django.request"]
    assert (bad["request_id"], bad["http_method"], bad["path"]) == (
        "req-two",
        "PUT",
        f"{API}/me/channels/voice/status/",
    )
    assert "request" not in bad


def test_scrub_removes_credentials_and_url_passwords():
    text = "Authorization: Token 0123456789abcdef, bearer abc.def-ghi, postgres://u:pw@db:5432/x"
    assert scrub(text) == (
        "Authorization: Token [redacted], bearer [redacted], postgres://u:[redacted]@db:5432/x"
    )
    assert scrub("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_serve_empties_the_metrics_directory_and_logs_gunicorn_in_the_same_format(
    tmp_path, monkeypatch, capsys, settings
):
    settings.CC_LOG_FORMAT = "json"
    from cc_rules.logs import gunicorn_config
    from cc_rules.management.commands import serve

    stale = tmp_path / "metrics" / "counter_4242.db"
    stale.parent.mkdir()
    stale.write_bytes(b"from an earlier run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(stale.parent))
    kept = stale.parent / "README"
    kept.write_text("not a metrics file")
    assert serve._fresh_metrics_dir() == stale.parent
    assert list(stale.parent.iterdir()) == [kept]

    written = serve._gunicorn_logging(tmp_path)
    assert json.loads(written.read_text()) == gunicorn_config("json")
    gunicorn = logging.getLogger("gunicorn.error")
    saved = (gunicorn.handlers[:], gunicorn.level, gunicorn.propagate)
    try:
        logging.config.dictConfig(gunicorn_config("json"))
        gunicorn.info("Booting worker with pid: %s", 4242)
        (line,) = capsys.readouterr().err.splitlines()
        assert json.loads(line)["message"] == "Booting worker with pid: 4242"
    finally:
        gunicorn.handlers[:], gunicorn.level, gunicorn.propagate = saved
