"""Issue 16, "Done when": the five everyday tasks of a new contact-center admin, in Chromium at
1366 x 768, as ``admin``, ``sam`` (supervisor of the front team) and ``cora`` (compliance), each
checked afterwards through the API:

1. admin gives a role chat with a cap of 2 (the role matrix);
2. admin gives one agent a 30 s e-mail wrap-up timer (the agent-override matrix), and the timer
   then really fires on a real Celery worker and beat;
3. sam finds out why alice cannot take an e-mail (live board → agent page → simulator);
4. cora finds who changed alice's status in a ten-minute window and why, and exports exactly
   the rows the page shows as CSV;
5. sam forces an agent to Not Ready from the admin.

Then every admin page at 1366 x 768: no horizontal scrollbar anywhere.

The demo configuration and personas (``demo_world``) are the point here: these are the demo's
own tasks. Debian's ``chromium`` only (tests/browser/harness.py); screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import time

import pytest
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone

from cc_rules.models import (
    Agent,
    Contact,
    Interaction,
    RulesVersion,
)
from cc_rules.services import status as status_svc
from tests.factories import token_for
from tests.tasks.celery_procs import (
    CeleryProcesses,
    broker_of_this_process,
    claimed_redis_db,
    database_url_of_this_session,
)

from .harness import api, chromium, horizontal_overflow, login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("transactional_db", "demo_world"),
]


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def worker(django_db_blocker, tmp_path, settings, demo_world):
    """A real Celery worker and beat on this test's database and a Redis database of its own;
    this process's wake-ups go to them. Stopped (and their broker flushed) after the test."""
    with django_db_blocker.unblock():
        database_url = database_url_of_this_session()
    with claimed_redis_db() as broker_url, broker_of_this_process(broker_url):
        procs = CeleryProcesses(broker_url=broker_url, database_url=database_url, workdir=tmp_path)
        settings.CC_SEND_WAKEUPS = True
        # worker processes cache resolved rules per version: a value no earlier test used
        RulesVersion.objects.filter(pk=1).update(value=time.time_ns() // 1000)
        try:
            procs.ensure_running()
            procs.test_mark = procs.mark()
            yield procs
            print(f"--- celery log during this test ---\n{procs.tail(procs.test_mark, 300)}")
        finally:
            procs.stop_all()


def _user(name: str):
    return get_user_model().objects.get(username=name)


def _agent(name: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=name)


def _client(live_server, name: str) -> requests.Session:
    return api(live_server.url, token_for(_user(name)))


def _channel(client: requests.Session, channel: str) -> dict:
    me = client.get(f"{client.base}/me/", timeout=10)
    assert me.status_code == 200, me.text
    return next(c for c in me.json()["channels"] if c["channel"] == channel)


# -- 3. why can't alice take an e-mail ----------------------------------------------------------
def alice_at_her_email_cap() -> None:
    """alice logged in and ready on e-mail with three e-mails open: her role's cap is 3."""
    who = {"actor": _user("alice"), "request_id": "browser-setup"}
    alice = _agent("alice")
    status_svc.session_login(alice.pk, channels=["voice", "email"], **who)
    status_svc.channel_set_status(alice.pk, "email", status="ready", reason=None, **who)
    contact = Contact.objects.order_by("pk").first()
    for _ in range(3):
        Interaction.objects.create(
            agent=alice,
            channel_id="email",
            direction="inbound",
            state="active",
            contact=contact,
            created_at=timezone.now(),
        )


def test_sam_finds_why_alice_cannot_take_an_email(live_server, monkeypatch, fast_hasher):
    alice_at_her_email_cap()
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "sam")
        page.click("text=Live board")
        page.wait_for_url("**/dashboard/live/**")
        email = page.locator("tr[data-agent=alice] td[data-channel=email]")
        assert "3/3" in email.inner_text()  # cap use on the board
        shot(page, "task3-live-board")
        page.click("tr[data-agent=alice] a.cc-agent")
        page.wait_for_url("**/cc_rules/agent/*/change/**")
        page.click("text=Decision simulator")
        page.wait_for_url("**/simulate/**")
        page.select_option("select[name=channel]", "email")
        page.click("input[value=Decide]")
        page.wait_for_url("**channel=email**")
        answer = page.locator(".cc-decision, #decision").first.inner_text()
        shot(page, "task3-simulator")
        assert "cap" in answer.lower()
        assert horizontal_overflow(page) <= 0
    # the router asks the same question through the API and gets the same answer
    decision = _client(live_server, "sam").post(
        f"{live_server.url}/api/v1/decisions/offer/",
        json={"agent": "alice", "channel": "email"},
        timeout=10,
    )
    assert decision.status_code == 200, decision.text
    assert (decision.json()["allowed"], decision.json()["code"]) == (False, "channel_cap_reached")


# -- 5. a supervisor forces an agent to Not Ready ------------------------------------------------
def test_sam_forces_bob_to_not_ready_from_the_admin(live_server, monkeypatch, fast_hasher):
    who = {"actor": _user("bob"), "request_id": "browser-setup"}
    bob = _agent("bob")
    status_svc.session_login(bob.pk, channels=None, **who)
    status_svc.channel_set_status(bob.pk, "voice", status="ready", reason=None, **who)
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "sam")
        page.click("text=Live board")
        page.wait_for_url("**/dashboard/live/**")
        page.click("tr[data-agent=bob] a.cc-act")
        page.wait_for_url("**/cc_rules/agent/*/change/**")
        row = page.locator(".cc-supervise tr[data-channel=voice]")
        row.locator("select[name=status]").select_option("not_ready")
        row.locator("select[name=reason]").select_option("meeting")
        row.locator("button:has-text('Apply')").click()
        page.wait_for_load_state()
        assert page.locator(".messagelist .success").count() == 1
        shot(page, "task5-forced-not-ready")
    sam = _client(live_server, "sam")
    shown = sam.get(f"{sam.base}/agents/bob/", timeout=10).json()
    voice = next(c for c in shown["channels"] if c["channel"] == "voice")
    assert (voice["status"], voice["reason"]) == ("not_ready", "meeting")
    rows = _client(live_server, "cora").get(
        f"{sam.base}/audit/status-changes/", params={"agent": "bob", "cause": "supervisor"}
    )
    (row,) = rows.json()["results"]
    assert (row["to_status"], row["reason"], row["actor"]) == ("not_ready", "meeting", "sam")
