"""The hot path's fixed SQL (cc_rules/rows.py and its users) reads and writes exactly what the
ORM would: same instances, same values, same relations loaded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.utils import timezone

from cc_rules import rows
from cc_rules.models import Agent, AgentChannelState, ApiToken, Interaction, StatusChange
from cc_rules.rows import load_token
from cc_rules.selectors import (
    active_agent_named,
    locked_agents,
    open_work_counts,
    own_interaction,
    rules_version,
    session_reads,
)
from cc_rules.services import history, ledger
from cc_rules.services.history import Ctx
from tests.factories import (
    AgentChannelStateFactory,
    ContactFactory,
    InteractionFactory,
    a_compliance_officer,
    a_role,
    an_agent,
)

pytestmark = pytest.mark.django_db


def _fields(instance: Model) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _same(a: Model, b: Model) -> None:
    assert type(a) is type(b)
    assert _fields(a) == _fields(b)
    assert a._state.adding is False
    assert a._state.db == b._state.db


@pytest.fixture
def alice():
    """An agent with channel states (chat ready) and chat work in every state."""
    agent = an_agent("alice", role=a_role("blended", visible=["voice", "email", "chat", "im"]))
    for code in ("voice", "email"):
        AgentChannelStateFactory(agent=agent, channel_id=code)
    AgentChannelStateFactory(agent=agent, channel_id="chat", status="ready")
    contact = ContactFactory()
    for state, counts in (("offered", True), ("active", True), ("active", False), ("ended", True)):
        InteractionFactory(
            channel_id="chat", contact=contact, agent=agent, state=state, counts_toward_cap=counts
        )
    return agent


@pytest.fixture
def bob():
    return an_agent("bob")


def test_the_token_query_loads_user_agent_role_and_group_flags(alice, django_assert_num_queries):
    token, secret = ApiToken.issue(alice.user, device="laptop")
    with django_assert_num_queries(1):
        loaded = load_token(secret)
        assert loaded.user.agent.role.name == "blended"
    _same(loaded, ApiToken.objects.get(pk=token.pk))
    _same(loaded.user, get_user_model().objects.get(pk=alice.user_id))
    _same(loaded.user.agent, Agent.objects.get(pk=alice.pk))
    _same(loaded.user.agent.role, alice.role)
    assert loaded.user._cc_known_groups == {
        "router": False,
        "supervisor": False,
        "compliance": False,
    }

    _, sam = ApiToken.issue(an_agent(groups=["supervisor"]).user)
    assert load_token(sam).user._cc_known_groups["supervisor"] is True
    cora = load_token(ApiToken.issue(a_compliance_officer())[1])
    assert cora.user._cc_known_groups == {"router": False, "supervisor": False, "compliance": True}
    with django_assert_num_queries(0), pytest.raises(Agent.DoesNotExist):
        cora.user.agent  # noqa: B018  (no agent: known without asking again)
    assert load_token("no-such-token") is None
    assert load_token(token.digest) is None  # the stored digest is not a credential


def test_locked_agents_clock_version_and_states_match_the_orm(alice, bob):
    found = locked_agents([bob.pk, alice.pk])
    assert [a.pk for a in found] == sorted([alice.pk, bob.pk])
    for agent in found:
        _same(agent, Agent.objects.get(pk=agent.pk))
        _same(agent.user, get_user_model().objects.get(pk=agent.user_id))
        _same(agent.role, Agent.objects.get(pk=agent.pk).role)
    Agent.objects.filter(pk=bob.pk).update(is_active=False)
    assert [a.pk for a in locked_agents([bob.pk, alice.pk])] == [alice.pk]

    now, version, states = session_reads(alice)
    assert version == rules_version()
    assert now is not None
    assert [s.channel_id for s in states] == ["chat", "email", "voice"]
    by_pk = {s.pk: s for s in AgentChannelState.objects.filter(agent=alice)}
    for state in states:
        _same(state, by_pk[state.pk])


def test_open_work_and_own_interaction_match_the_orm(alice, bob):
    assert open_work_counts(alice) == {"chat": (2, 3)}
    offered = Interaction.objects.get(agent=alice, state="offered")
    found, has_children = own_interaction(offered.pk, alice, lock=True, children=("offered",))
    _same(found, offered)
    assert found.agent is alice
    assert has_children is False
    Interaction.objects.create(
        channel_id="chat",
        agent=alice,
        direction="inbound",
        state="offered",
        parent=offered,
        kind="consultation",
        created_at=offered.created_at,
    )
    assert own_interaction(offered.pk, alice, children=("offered",))[1] is True
    assert own_interaction(offered.pk, bob) == (None, False)


def test_update_writes_what_save_would(alice):
    state = AgentChannelState.objects.get(agent=alice, channel_id="chat")
    state.reason = "break"
    state.since = state.since + timedelta(seconds=5)
    rows.update(state)
    _same(AgentChannelState.objects.get(pk=state.pk), state)
    gone = AgentChannelState(pk=10**9, agent=alice, channel_id="chat", since=state.since)
    with pytest.raises(AgentChannelState.DoesNotExist):
        rows.update(gone)


def test_history_append_stores_the_row_and_moves_the_chain_head(alice):
    at = timezone.now()
    row = ledger.record(
        alice,
        Ctx(actor=None, request_id="r1", now=at),
        event="status",
        channel="chat",
        from_status="ready",
        to_status="not_ready",
        reason="break",
        cause="agent",
        rule="R2",
    )
    stored = StatusChange.objects.get(pk=row.pk)
    _same(stored, row)
    assert history.row_hash(stored) == stored.hash
    fresh = Agent.objects.get(pk=alice.pk)
    assert (fresh.history_seq, fresh.history_head) == (row.seq, row.hash)


def test_insert_writes_what_save_would(alice):
    made = Interaction(
        channel_id="email",
        agent=alice,
        direction="inbound",
        state="offered",
        created_at=timezone.now(),
        offer_deadline=timezone.now() + timedelta(seconds=30),
    )
    rows.insert(made)
    assert made.pk is not None
    _same(Interaction.objects.get(pk=made.pk), made)
    assert active_agent_named("alice").pk == alice.pk
    assert active_agent_named("nobody") is None


def test_session_reads_answers_for_an_agent_without_states(bob):
    assert not AgentChannelState.objects.filter(agent=bob).exists()
    now, version, states = session_reads(bob)
    assert states == []
    assert version == rules_version()
    assert abs((timezone.now() - now).total_seconds()) < 60
