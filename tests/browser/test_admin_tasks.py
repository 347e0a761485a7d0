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

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import transaction

from cc_rules.models import (
    Agent,
    AgentChannelState,
    Contact,
    Role,
    Rule,
    RulesVersion,
    StatusChange,
)
from cc_rules.services import status as status_svc
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record
from tests.factories import InteractionFactory, token_for
from tests.tasks.celery_procs import (
    celery_on_this_session,
    wait_until,
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
    with celery_on_this_session(django_db_blocker, tmp_path) as procs:
        settings.CC_SEND_WAKEUPS = True
        # worker processes cache resolved rules per version: a value no earlier test used
        RulesVersion.objects.filter(pk=1).update(value=time.time_ns() // 1000)
        procs.ensure_running()
        procs.test_mark = procs.mark()
        yield procs
        print(f"--- celery log during this test ---\n{procs.tail(procs.test_mark, 300)}")


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
        InteractionFactory(agent=alice, channel_id="email", contact=contact)


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


def _rule(client: requests.Session, key: str, channel: str | None = None) -> dict:
    found = client.get(f"{client.base}/me/effective-rules/", timeout=10)
    assert found.status_code == 200, found.text
    return next(r for r in found.json()["rules"] if r["key"] == key and r.get("channel") == channel)


# -- 1. give a role chat with a cap of 2 ---------------------------------------------------------
def test_admin_gives_the_voice_role_chat_with_a_cap_of_2(live_server, monkeypatch, fast_hasher):
    role = Role.objects.get(name="voice_only")
    bob = _client(live_server, "bob")
    assert "chat" not in _rule(bob, "visible_channels")["value"]
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "admin")
        page.click("#content-main a:text-is('Roles')")
        page.click(f"#result_list a:text-is('{role.name}')")
        page.wait_for_url(f"**/cc_rules/role/{role.pk}/change/**")
        page.get_by_label("Chat: visible").check()
        page.get_by_label("Chat: cap: choice").select_option(label="at most")
        page.get_by_label("Chat: cap: number").fill("2")
        shot(page, "task1-role-matrix")
        assert horizontal_overflow(page) <= 0
        page.locator("input[name=_save]").click()
        page.wait_for_url(lambda url: "/cc_rules/role/" in url and "/change/" not in url)
        assert page.locator(".messagelist .success").count() == 1
        assert page.locator(".messagelist .warning").count() == 0  # nothing contradicts
    # bob (voice_only) logs in: chat is his now, with a cap of 2 from his role
    assert sorted(_rule(bob, "visible_channels")["value"]) == ["chat", "im", "voice"]
    cap = _rule(bob, "channel_cap", "chat")
    assert (cap["value"], cap["scope"]) == (2, "role")
    logged_in = bob.post(f"{bob.base}/me/login/", json={"channels": ["chat"]}, timeout=10)
    assert logged_in.status_code == 200, logged_in.text
    assert _channel(bob, "chat")["status"] == "not_ready"
    # the change is in the rules' history, by admin
    assert Rule.history.filter(key="channel_cap", channel_id="chat", role=role).count() == 1


# -- 2. a 30 s e-mail wrap-up timer for one agent, and it fires ----------------------------------
@pytest.mark.postgres  # a real worker and beat share the test database: not SQLite's in-memory one
def test_admin_gives_alice_a_30_s_email_wrap_up_timer_and_it_fires(
    live_server, monkeypatch, fast_hasher, worker
):
    alice = _agent("alice")
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "admin")
        page.goto(f"{live_server.url}/admin/cc_rules/agent/?q=alice")
        page.click("#result_list a:text-is('alice')")
        page.wait_for_url(f"**/cc_rules/agent/{alice.pk}/change/**")
        page.get_by_label("E-mail: after-call work").select_option("timed")
        page.get_by_label("E-mail: wrap-up timer in seconds").fill("30")
        shot(page, "task2-agent-overrides")
        assert horizontal_overflow(page) <= 0
        page.locator("input[name=_save]").click()
        page.wait_for_url(lambda url: "/cc_rules/agent/" in url and "/change/" not in url)
        assert page.locator(".messagelist .success").count() == 1
        assert page.locator(".messagelist .warning").count() == 0
    # one setting in the admin's words wrote both rows the engine needs (ACW on, 30 s)
    assert dict(
        Rule.objects.filter(agent=alice, channel_id="email").values_list("key", "value")
    ) == {"acw_enabled": True, "acw_seconds": 30}

    me, router = _client(live_server, "alice"), _client(live_server, "router")
    assert me.post(f"{me.base}/me/login/", json={"channels": ["email"]}, timeout=10).ok
    ready = me.put(f"{me.base}/me/channels/email/status/", json={"status": "ready"}, timeout=10)
    assert ready.status_code == 200, ready.text
    offer = router.post(
        f"{router.base}/interactions/",
        json={
            "channel": "email",
            "contact": Contact.objects.order_by("pk").first().pk,
            "direction": "inbound",
            "agent": "alice",
        },
        timeout=10,
    )
    assert offer.status_code == 201, offer.text
    work = offer.json()["id"]
    assert me.post(f"{me.base}/interactions/{work}/accept/", timeout=10).status_code == 200
    ended = me.post(f"{me.base}/interactions/{work}/end/", json={"how": "sent"}, timeout=10)
    assert ended.status_code == 200, ended.text
    state = AgentChannelState.objects.get(agent=alice, channel_id="email")
    assert state.status == "after_call_work"
    assert state.wrap_up_deadline - state.since == timedelta(seconds=30)

    left = wait_until(
        lambda: (c := _channel(me, "email"))["status"] != "after_call_work" and c,
        30 + 3 + 5,
        "alice's e-mail wrap-up timer to fire",
        worker,
        worker.test_mark,
        interval=0.5,
    )
    assert left["status"] == "ready"  # the after-timer status (R14, global default)
    row = StatusChange.objects.filter(agent=alice, cause="wrap_up_timer").get()
    assert row.at - state.wrap_up_deadline < timedelta(seconds=3)  # on time, never early
    assert row.at >= state.wrap_up_deadline


# -- 4. compliance: who changed alice's status at 22:56, and why; export it ----------------------
@transaction.atomic
def an_evening_of_changes(day: datetime) -> None:
    """alice's evening: login, ready, a supervisor's forced break at 22:56:12, then ready;
    bob's changes in the same minutes (filtered out by agent)."""
    sam = _user("sam")
    plan = [
        ("alice", time_of(day, 22, 40), "logged_off", "not_ready", "login", "system", None),
        ("alice", time_of(day, 22, 50), "not_ready", "ready", None, "agent", "alice"),
        ("bob", time_of(day, 22, 55), "logged_off", "not_ready", "login", "system", None),
        ("alice", time_of(day, 22, 56, 12), "ready", "not_ready", "break", "supervisor", "sam"),
        ("alice", time_of(day, 23, 5), "not_ready", "ready", None, "agent", "alice"),
    ]
    for name, at, before, after, reason, cause, actor in plan:
        agent = Agent.objects.select_for_update().get(user__username=name)
        who = sam if actor == "sam" else (_user(actor) if actor else None)
        record(
            agent,
            Ctx(actor=who, request_id="evening", now=at),
            event="status",
            channel="voice",
            from_status=before,
            to_status=after,
            reason=reason,
            cause=cause,
            rule="R2",
        )


def time_of(day: datetime, hour: int, minute: int, second: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second, microsecond=0)


def test_cora_finds_the_2256_change_and_exports_the_pages_rows(
    live_server, monkeypatch, fast_hasher
):
    day = datetime.now(UTC) - timedelta(days=1)
    an_evening_of_changes(day)
    since, until = time_of(day, 22, 50), time_of(day, 23, 0)
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "cora")
        page.click("text=Status history")
        page.wait_for_url("**/dashboard/history/**")
        page.select_option("select[name=agent]", "alice")
        page.fill("input[name=since]", since.strftime("%Y-%m-%dT%H:%M:%S"))
        page.fill("input[name=until]", until.strftime("%Y-%m-%dT%H:%M:%S"))
        page.click(".cc-filters button[type=submit]")
        page.wait_for_url("**agent=alice**")
        row = page.locator(".cc-history tbody tr", has_text="22:56:12")
        assert row.count() == 1
        text = row.inner_text()
        for word in ("sam", "break", "Supervisor"):
            assert word in text
        shot(page, "task4-history-2256")
        assert horizontal_overflow(page) <= 0
        seqs = page.locator(".cc-history tbody tr td:last-child").all_inner_texts()
        shown = sorted(int(s) for s in seqs)
        with page.expect_download() as info:
            page.locator("#cc-history-count a", has_text="CSV: all").click()
        exported = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert shown == [2, 3]  # alice's 22:50 and 22:56:12; not 22:40, 23:05, nor bob
    assert sorted(int(r["seq"]) for r in exported) == shown
    assert {r["agent"] for r in exported} == {"alice"}
    forced = next(r for r in exported if r["reason"] == "break")
    assert (forced["actor"], forced["cause"]) == ("sam", "supervisor")
    # the API, asked the same, answers the same rows
    cora = _client(live_server, "cora")
    listed = cora.get(
        f"{cora.base}/audit/status-changes/",
        params={"agent": "alice", "since": since.isoformat(), "until": until.isoformat()},
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    assert sorted(r["seq"] for r in listed.json()["results"]) == shown


# -- every admin page at 1366 x 768: no horizontal scrollbar -------------------------------------
def test_no_admin_page_scrolls_sideways_at_1366(live_server, monkeypatch, fast_hasher):
    alice_at_her_email_cap()
    an_evening_of_changes(datetime.now(UTC) - timedelta(days=1))
    alice = _agent("alice")
    pages = [
        "/admin/",
        "/admin/dashboard/",
        "/admin/dashboard/live/",
        "/admin/dashboard/history/",
        "/admin/dashboard/integrity/",
        "/admin/check-configuration/",
        "/admin/cc_rules/rule/global/",
        f"/admin/cc_rules/agent/{alice.pk}/simulate/?channel=email&direction=inbound",
    ]
    too_wide = {}
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "admin")
        # every model's list and its first object's page, as linked from the admin index
        lists = page.eval_on_selector_all(
            "#content-main table a[href$='/']:not(.addlink)", "links => links.map(a => a.href)"
        )
        assert len([u for u in lists if "/admin/cc_rules/" in u]) >= 12  # every model's list
        for url in dict.fromkeys([*(f"{live_server.url}{p}" for p in pages), *lists]):
            response = page.goto(url)
            assert response.status == 200, url
            if (overflow := horizontal_overflow(page)) > 0:
                too_wide[url] = overflow
            first = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
            if "/admin/cc_rules/" in url and url.endswith("/") and first.count():
                first.click()
                page.wait_for_load_state()
                if (overflow := horizontal_overflow(page)) > 0:
                    too_wide[page.url] = overflow
        shot(page, "no-sideways-scroll-last-page")
        for name in ("sam", "cora"):
            other = login(browser, live_server.url, name)
            for path in pages[:7]:
                other.goto(f"{live_server.url}{path}")
                if (overflow := horizontal_overflow(other)) > 0:
                    too_wide[f"{name}: {path}"] = overflow
    assert too_wide == {}
