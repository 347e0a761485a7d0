"""Wrap-up timer logic (R13-R15, R8; DECISIONS.md "After-call work"), without a broker.

Tasks run in-process (``Task.apply``) or their services are called directly; ETA wake-ups are
off (``CC_SEND_WAKEUPS``). Deadlines are moved into the past, never the clock. The ``people``
fixture: alice and sam (blended) have 15 s voice ACW → ready, extendable, done → ready; bob
(voice_only) has 10 s voice ACW → not_ready/acw_timeout, not extendable, pending off.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from cc_rules import tasks
from cc_rules.celery import MAX_ETA_SECONDS
from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.selectors import db_now
from cc_rules.services import audit, timers, wakeups, wrap_up_firing
from cc_rules.services import interactions as svc
from tests.factories import (
    BLENDED,
    REASONS,
    VOICE_ONLY,
    a_contact,
    a_role,
    a_router,
    an_agent,
    reason_codes,
)

from .calls import (
    agent,
    agent_rule,
    bulk_agents_in_acw,
    call_and_hang_up,
    end_call,
    extend,
    history,
    login_ready,
    make_due,
    mark_done,
    set_status,
    start_call,
    start_outbound_call,
    state,
    timer_rows,
)

API = "/api/v1"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]


@pytest.fixture
def people(db):
    """alice and sam (blended), bob (voice_only), the router, a contact with a phone number,
    and the reason codes break, lunch, meeting, training."""
    reason_codes(*REASONS)
    blended = a_role("blended", **BLENDED)
    an_agent("alice", role=blended, extension="1001")
    an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), extension="1002")
    an_agent("sam", role=blended, extension="1009")
    a_router("router")
    a_contact("Jonas Weber", phones=["+4930123456"])


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


def state_by_pk(pk: int) -> AgentChannelState:
    return AgentChannelState.objects.get(pk=pk)


def fire(username: str, channel: str = "voice", version: int | None = None) -> bool:
    """Deliver the wake-up task for the channel's current (or a given) version, in-process."""
    s = state(username, channel)
    v = s.wrap_up_version if version is None else version
    return tasks.fire_wrap_up.apply(args=[s.pk, v]).get()


# -- ACW starts (R14) -----------------------------------------------------------------------------
def test_acw_starts_when_the_last_voice_call_ends_with_the_deadline_stored():
    login_ready("bob")
    call = call_and_hang_up("bob")

    s = state("bob")
    assert s.status == "after_call_work"
    assert s.wrap_up_interaction_id == call.pk
    row = history("bob").last()
    assert (row.from_status, row.to_status, row.cause) == ("ready", "after_call_work", "system")
    assert row.rule.startswith("R14:acw_seconds[voice]@role")
    assert row.interaction_id == call.pk
    assert s.wrap_up_deadline == row.at + timedelta(seconds=10)


def test_acw_waits_for_the_last_open_interaction_of_the_channel():
    agent_rule("alice", "acw_enabled", True, channel="chat")
    login_ready("alice", "chat")
    first, second = start_call("alice", "chat"), start_call("alice", "chat")

    end_call("alice", first, how="chat_ended")
    assert state("alice", "chat").status == "ready"

    end_call("alice", second, how="chat_ended")
    assert state("alice", "chat").status == "after_call_work"
    assert state("alice", "chat").wrap_up_deadline is None  # no acw_seconds on chat: no timer


# -- the timer fires (R14) ------------------------------------------------------------------------
def test_wrap_up_fire_before_the_deadline_does_nothing():
    login_ready("bob")
    call_and_hang_up("bob")

    assert fire("bob") is False
    assert timers.sweep() == {"wrap_up": 0, "offers": 0, "invisible": 0}
    assert state("bob").status == "after_call_work"
    assert not timer_rows("bob").exists()


def test_bob_lands_in_not_ready_acw_timeout_when_his_deadline_passes():
    login_ready("bob")
    call = call_and_hang_up("bob")
    deadline = make_due("bob")

    assert fire("bob") is True

    s = state("bob")
    assert (s.status, s.reason) == ("not_ready", "acw_timeout")
    assert s.wrap_up_deadline is None
    row = timer_rows("bob").get()
    assert (row.from_status, row.to_status, row.reason) == (
        "after_call_work",
        "not_ready",
        "acw_timeout",
    )
    assert row.rule.startswith("R14:acw_after_timer[voice]@role")
    assert row.interaction_id == call.pk
    assert row.at >= deadline


def test_alice_lands_in_ready_when_her_deadline_passes():
    login_ready("alice")
    call_and_hang_up("alice")
    make_due("alice")

    assert fire("alice") is True

    assert (state("alice").status, state("alice").reason) == ("ready", None)
    assert timer_rows("alice").get().to_status == "ready"


def test_the_sweeper_fires_what_is_due_and_only_that():
    login_ready("alice")
    login_ready("bob")
    call_and_hang_up("alice")
    call_and_hang_up("bob")
    make_due("bob")

    assert timers.sweep() == {"wrap_up": 1, "offers": 0, "invisible": 0}
    assert tasks.sweep.apply().get() == {"wrap_up": 0, "offers": 0, "invisible": 0}

    assert state("bob").status == "not_ready"
    assert state("alice").status == "after_call_work"
    assert timer_rows("bob").get().request_id.startswith("sweep:")


def test_one_sweep_fires_two_due_channels_of_the_same_agent():
    """Two rows of one agent in one batch share the agent's history chain head."""
    agent_rule("alice", "acw_enabled", True, channel="chat")
    agent_rule("alice", "acw_seconds", 5, channel="chat")
    login_ready("alice", "voice", "chat")
    call_and_hang_up("alice", "voice")
    call_and_hang_up("alice", "chat")
    make_due("alice", "voice")
    make_due("alice", "chat")

    assert timers.sweep()["wrap_up"] == 2

    assert state("alice", "voice").status == "ready"
    assert state("alice", "chat").status == "ready"
    seqs = list(StatusChange.objects.filter(agent=agent("alice")).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


# -- stale and duplicate deliveries ---------------------------------------------------------------
def test_a_stale_version_does_nothing():
    login_ready("bob")
    call_and_hang_up("bob")
    s = state("bob")

    assert fire("bob", version=s.wrap_up_version - 1) is False
    assert fire("bob", version=s.wrap_up_version + 1) is False

    assert state("bob").status == "after_call_work"
    assert state("bob").wrap_up_deadline == s.wrap_up_deadline
    assert not timer_rows("bob").exists()


def test_a_duplicate_delivery_does_nothing():
    login_ready("bob")
    call_and_hang_up("bob")
    make_due("bob")
    version = state("bob").wrap_up_version

    assert fire("bob", version=version) is True
    assert fire("bob", version=version) is False
    assert timers.wrap_up_fire(state("bob").pk, version) is False
    assert timers.sweep()["wrap_up"] == 0

    assert timer_rows("bob").count() == 1


def test_a_delivery_for_a_previous_acw_does_not_end_the_next_one():
    login_ready("bob")
    call_and_hang_up("bob")
    make_due("bob")
    first_version = state("bob").wrap_up_version
    assert fire("bob") is True
    set_status("bob", "ready")
    call_and_hang_up("bob")

    assert state("bob").wrap_up_version != first_version
    assert fire("bob", version=first_version) is False
    assert state("bob").status == "after_call_work"
    assert timer_rows("bob").count() == 1


def test_a_wake_up_fires_every_timer_due_by_now():
    """Wake-ups are shared per slot: whichever arrives fires all that is due, in one batch."""
    login_ready("alice")
    login_ready("bob")
    call_and_hang_up("alice")
    call_and_hang_up("bob")
    make_due("alice")
    make_due("bob")
    stale = state("alice").wrap_up_version - 1

    assert fire("alice", version=stale) is False  # not this delivery's own timer...

    assert timer_rows("alice").count() == timer_rows("bob").count() == 1  # ...but both were due
    assert {r.request_id.split(":")[0] for r in timer_rows("alice") | timer_rows("bob")} == {
        "timer"
    }


def test_timers_due_in_the_same_slot_share_one_wake_up(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CC_SEND_WAKEUPS = True
    sent = []
    monkeypatch.setattr(
        wakeups.app,
        "send_task",
        lambda name, args, eta, **kw: (
            sent.append((args, eta)) if name == tasks.fire_wrap_up.name else None
        ),
    )
    monkeypatch.setattr(wakeups, "_slots_sent", {})
    login_ready("alice")
    login_ready("bob")
    base = timezone.now().replace(microsecond=0) + timedelta(seconds=30)
    rows = []
    for name, offset_ms in (("alice", 10), ("bob", 60)):
        with django_capture_on_commit_callbacks(execute=True):
            call_and_hang_up(name)
            AgentChannelState.objects.filter(pk=state(name).pk).update(
                wrap_up_deadline=base + timedelta(milliseconds=offset_ms)
            )
            rows.append(state(name))
            wakeups.schedule_wrap_up(rows[-1])

    # Ending the calls asked for wake-ups at the demo's own deadlines (two other slots), and the
    # two rescheduled deadlines 10 ms and 60 ms past a whole second share one slot's wake-up.
    ((args, eta),) = [(a, e) for a, e in sent if e >= base]
    assert args == [rows[0].pk, rows[0].wrap_up_version]
    assert eta == base + timedelta(microseconds=wakeups.WAKE_UP_SLOT_US)
    assert eta >= rows[1].wrap_up_deadline  # never before a deadline it stands for


def test_offers_due_in_one_slot_share_a_wake_up_that_expires_them_all(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CC_SEND_WAKEUPS = True
    sent = []
    monkeypatch.setattr(
        wakeups.app,
        "send_task",
        lambda name, args, eta, **kw: (
            sent.append((args, eta)) if name == tasks.expire_offer.name else None
        ),
    )
    monkeypatch.setattr(wakeups, "_slots_sent", {})
    login_ready("alice", "chat")
    login_ready("sam", "chat")
    base = timezone.now().replace(microsecond=0) + timedelta(seconds=20)
    offers = []
    for name, offset_ms in (("alice", 10), ("sam", 60)):
        with django_capture_on_commit_callbacks(execute=True):
            offer = svc.offer_inbound(
                channel="chat",
                contact=None,
                agent=agent(name),
                extension=None,
                actor=None,
                request_id="t",
            )
            Interaction.objects.filter(pk=offer.pk).update(
                offer_deadline=base + timedelta(milliseconds=offset_ms)
            )
            offer.refresh_from_db()
            offers.append(offer)
            wakeups.schedule_offer_expiry(offer)

    # Each offer asked for a wake-up at its own 30 s deadline's slot when it was made; the two
    # deadlines moved 10 ms and 60 ms past a whole second share one slot's wake-up.
    ((args, eta),) = [(a, e) for a, e in sent if e >= base and e < base + timedelta(seconds=1)]
    assert args == [offers[0].pk, offers[0].offer_version]
    assert eta == base + timedelta(microseconds=wakeups.WAKE_UP_SLOT_US)
    assert eta >= offers[1].offer_deadline

    # The wake-up, run once both are due, expires sam's offer too.
    Interaction.objects.filter(pk__in=[o.pk for o in offers]).update(
        offer_deadline=db_now() - timedelta(seconds=1)
    )
    assert timers.offer_wake(*args) is True
    assert set(
        Interaction.objects.filter(pk__in=[o.pk for o in offers]).values_list("state", flat=True)
    ) == {"missed"}
    assert timers.offer_wake(*args) is False  # a second delivery finds nothing to do


def test_no_wake_up_is_sent_for_a_deadline_beyond_the_visibility_margin(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CC_SEND_WAKEUPS = True
    sent = []
    monkeypatch.setattr(wakeups.app, "send_task", lambda name, *a, **kw: sent.append(name))
    agent_rule("bob", "acw_seconds", MAX_ETA_SECONDS + 60)
    login_ready("bob")

    with django_capture_on_commit_callbacks(execute=True):
        call_and_hang_up("bob")

    assert state("bob").wrap_up_deadline is not None  # the sweeper will fire it
    assert tasks.fire_wrap_up.name not in sent  # (the call's offer had its own wake-up)


@pytest.mark.parametrize(
    ("role", "row"),
    [
        ("voice_only", {}),
        ("blended", {}),
        ("blended", {"pending_status": "not_ready", "pending_reason": "lunch"}),
        ("blended", {"pending_status": "logged_off"}),
        ("voice_only", {"pre_acw_reason": "meeting"}),
    ],
)
def test_a_batch_fire_writes_what_a_single_fire_writes(role, row):
    """One writer (issue "One writer"): the same due row fired alone (``fire_one``: an
    immediate writer) and by the sweeper's batch (one batch writer, flushed with bulk SQL)
    leaves byte-identical channel and ledger rows, hashes included."""
    deadline = db_now() - timedelta(seconds=1)
    (state_id,) = bulk_agents_in_acw(1, role=role, deadline=deadline, prefix="twin-")
    AgentChannelState.objects.filter(pk=state_id).update(**row)
    version = state_by_pk(state_id).wrap_up_version
    agent_id = state_by_pk(state_id).agent_id
    now = db_now()

    def written():
        fields = [f.attname for f in StatusChange._meta.concrete_fields if f.attname != "id"]
        ledger_rows = list(
            StatusChange.objects.filter(agent_id=agent_id).order_by("seq").values(*fields)
        )
        head = Agent.objects.filter(pk=agent_id).values("history_seq", "history_head").get()
        return state_by_pk(state_id), ledger_rows, head

    with transaction.atomic():
        point = transaction.savepoint()
        assert wrap_up_firing.fire_one(state_id, version, source="sweep", now=now) is True
        single = written()
        transaction.savepoint_rollback(point)
        assert not StatusChange.objects.filter(agent_id=agent_id).exists()
        fired = wrap_up_firing.fire_all_due(10, source="sweep", now=now)
        assert fired == {(state_id, version)}
        batch = written()

    fields = [f.attname for f in AgentChannelState._meta.concrete_fields]
    assert {f: getattr(single[0], f) for f in fields} == {f: getattr(batch[0], f) for f in fields}
    assert single[1] == batch[1]  # every column, the hash and the request id included
    assert single[1]
    assert all(r["hash"] for r in single[1])
    assert single[2] == batch[2]
    assert audit.verify_chain().intact


def test_a_deleted_state_row_is_a_quiet_no_op():
    assert timers.wrap_up_fire(10**9, 0) is False
    assert tasks.fire_wrap_up.apply(args=[10**9, 0]).get() is False


# -- where the timer lands (DECISIONS.md: pending, then pre-ACW reason, then the rule) -------------
def test_a_held_pending_status_wins_over_the_after_timer_status():
    login_ready("alice")
    call = start_call("alice")
    assert set_status("alice", "not_ready", "break") is True  # held: alice has pending on (R8)

    end_call("alice", call)
    assert state("alice").status == "after_call_work"
    assert state("alice").pending_status == "not_ready"
    make_due("alice")
    assert fire("alice") is True

    s = state("alice")
    assert (s.status, s.reason, s.pending_status) == ("not_ready", "break", None)
    row = timer_rows("alice").get()
    assert (row.to_status, row.reason) == ("not_ready", "break")
    assert row.rule.startswith("R8:pending_enabled")


def test_the_pre_acw_not_ready_reason_wins_over_the_rule():
    login_ready("alice")
    set_status("alice", "not_ready", "meeting")
    call = start_outbound_call("alice")  # outbound skips not_ready (DECISIONS.md)

    end_call("alice", call)
    assert state("alice").status == "after_call_work"
    make_due("alice")
    assert fire("alice") is True

    assert (state("alice").status, state("alice").reason) == ("not_ready", "meeting")
    assert timer_rows("alice").get().reason == "meeting"


# -- extend (R15) ---------------------------------------------------------------------------------
def test_extend_clears_the_deadline_and_the_timer_never_fires():
    login_ready("alice")
    call = call_and_hang_up("alice")
    old = state("alice")

    s = extend("alice", call)

    assert (s.status, s.wrap_up_deadline, s.wrap_up_extended) == ("after_call_work", None, True)
    assert s.wrap_up_version > old.wrap_up_version
    assert fire("alice", version=old.wrap_up_version) is False
    assert fire("alice") is False
    assert timers.sweep()["wrap_up"] == 0
    assert state("alice").status == "after_call_work"
    assert not timer_rows("alice").exists()


def test_bob_cannot_extend(api):
    login_ready("bob")
    call = call_and_hang_up("bob")

    response = api("bob").post(f"{API}/interactions/{call.pk}/wrap-up/extend/")

    assert response.status_code == 409
    assert response.json()["code"] == "wrap_up_not_extendable"
    assert response.json()["rule"] is not None
    assert state("bob").wrap_up_deadline is not None


def test_an_agent_extending_100_times_gets_exactly_one_transition(api, settings):
    # 100 extends in a loop outrun the per-user write limit (50/s); that limit is not under test
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user_writes": "100000/second"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    login_ready("alice")
    call = call_and_hang_up("alice")
    versions = [state("alice").wrap_up_version]
    acw_started = history("alice").last().seq
    client = api("alice")

    for _ in range(100):
        response = client.post(f"{API}/interactions/{call.pk}/wrap-up/extend/")
        assert response.status_code == 200
        assert response.json()["wrap_up"] == {"interaction": call.pk, "ends_at": None}
        versions.append(state("alice").wrap_up_version)
        assert fire("alice", version=versions[0]) is False
    assert timers.sweep()["wrap_up"] == 0
    assert client.post(f"{API}/interactions/{call.pk}/done/").status_code == 200

    after = StatusChange.objects.filter(agent=agent("alice"), seq__gt=acw_started)
    assert [(r.from_status, r.to_status, r.cause) for r in after] == [
        ("after_call_work", "ready", "after_done")
    ]
    assert len(set(versions)) == 2  # only the first extend moved the version


# -- mark done (R13) ------------------------------------------------------------------------------
def test_done_during_acw_applies_the_status_after_done():
    login_ready("alice")
    call = call_and_hang_up("alice")
    version = state("alice").wrap_up_version

    mark_done("alice", call)

    s = state("alice")
    assert (s.status, s.wrap_up_deadline) == ("ready", None)
    row = history("alice").last()
    assert (row.from_status, row.to_status, row.cause) == ("after_call_work", "ready", "after_done")
    assert row.rule.startswith("R13:after_done[voice]@role")
    assert fire("alice", version=version) is False


def test_done_with_not_ready_after_done_uses_the_configured_reason():
    agent_rule("alice", "after_done", "not_ready")
    agent_rule("alice", "after_done_reason", "lunch")
    login_ready("alice")
    call = call_and_hang_up("alice")

    mark_done("alice", call)

    assert (state("alice").status, state("alice").reason) == ("not_ready", "lunch")
    assert history("alice").last().rule.startswith("R13:after_done[voice]@agent")


def test_done_with_keep_acw_is_not_an_exit_and_the_timer_still_ends_acw():
    agent_rule("alice", "after_done", "keep_acw")
    login_ready("alice")
    call = call_and_hang_up("alice")
    before = state("alice")

    mark_done("alice", call)

    s = state("alice")
    assert s.status == "after_call_work"
    assert (s.wrap_up_deadline, s.wrap_up_version) == (
        before.wrap_up_deadline,
        before.wrap_up_version,
    )
    make_due("alice")
    assert fire("alice") is True
    assert state("alice").status == "ready"
    assert timer_rows("alice").count() == 1


def test_done_with_manual_cancels_the_timer_until_the_agent_sets_a_status():
    agent_rule("alice", "after_done", "manual")
    login_ready("alice")
    call = call_and_hang_up("alice")
    version = state("alice").wrap_up_version

    mark_done("alice", call)

    s = state("alice")
    assert (s.status, s.wrap_up_deadline) == ("after_call_work", None)
    assert fire("alice", version=version) is False
    assert timers.sweep()["wrap_up"] == 0
    set_status("alice", "not_ready", "training")
    assert (state("alice").status, state("alice").reason) == ("not_ready", "training")
    assert history("alice").last().cause == "agent"
    assert not timer_rows("alice").exists()


# -- a manual status during ACW (DECISIONS.md "Statuses") ------------------------------------------
def test_a_manual_status_during_acw_applies_at_once_and_cancels_the_deadline():
    login_ready("bob")
    call_and_hang_up("bob")
    version = state("bob").wrap_up_version

    set_status("bob", "ready")

    s = state("bob")
    assert (s.status, s.wrap_up_deadline) == ("ready", None)
    assert s.wrap_up_version > version
    assert history("bob").last().cause == "agent"
    assert fire("bob", version=version) is False
    assert not timer_rows("bob").exists()


# -- time accounting -------------------------------------------------------------------------------
def test_acw_time_is_its_own_status_in_the_history():
    login_ready("bob")
    call_and_hang_up("bob")
    make_due("bob", ago=timedelta(0))
    fire("bob")

    rows = list(history("bob"))
    statuses = [r.to_status for r in rows]
    assert statuses[-3:] == ["ready", "after_call_work", "not_ready"]
    acw, after = rows[-2], rows[-1]
    assert after.at > acw.at  # the ACW interval is [acw.at, after.at)

    report = audit.time_in_status(
        agent=agent("bob"), since=rows[0].at, until=after.at + timedelta(hours=1)
    )
    series = {(r["channel"], r["status"]) for r in report}
    assert ("voice", "after_call_work") in series
    assert ("voice", "ready") in series


def test_the_deadline_only_exists_in_acw():
    """The check constraint the sweeper relies on: a due row is always an ACW row."""
    login_ready("bob")
    call_and_hang_up("bob")
    make_due("bob")
    fire("bob")
    assert not AgentChannelState.objects.filter(
        wrap_up_deadline__isnull=False, status__in=["ready", "not_ready", "logged_off"]
    ).exists()
