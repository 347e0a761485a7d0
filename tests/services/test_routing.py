"""Longest-idle routing reads its candidates in two batches (services/interactions._route)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cc_rules.models import Agent, AgentChannelState, Interaction
from cc_rules.services import interactions as svc
from cc_rules.services import offers
from tests.factories import AgentChannelStateFactory, InteractionFactory, a_role, an_agent

pytestmark = pytest.mark.django_db


def test_routing_reaches_past_the_first_batch_of_candidates_at_their_caps(settings):
    settings.CC_SEND_WAKEUPS = False
    role = a_role(visible=["chat"], rules={"channel_cap": {"chat": 2}})
    long_ago = timezone.now() - timedelta(hours=1)
    for i in range(offers.ROUTE_FIRST + 5):  # idle longest, every one at the chat cap
        busy = an_agent(f"busy{i:02d}", role=role)
        AgentChannelStateFactory(
            agent=busy,
            channel_id="chat",
            status="ready",
            since=long_ago,
            idle_since=long_ago + timedelta(seconds=i),
        )
        InteractionFactory.create_batch(
            2, agent=busy, channel_id="chat", state="active", created_at=long_ago
        )
    free = an_agent(role=role, ready_on=["chat"])

    offered = svc.offer_inbound(
        channel="chat", contact=None, agent=None, extension=None, actor=None, request_id="t"
    )

    assert offered.agent_id == free.pk  # the only one with a free slot, the last candidate


# -- Routing spreads work (DECISIONS.md, "Combinations"; issue 13 case 12) ----------------------
def _ready_agents(n: int, *, chat_cap: int) -> list[Agent]:
    """``n`` new agents, logged in and ready on chat in id order (so the first is the longest
    idle), each with an agent-scope chat cap."""
    role = a_role(visible=["chat"])
    return [
        an_agent(
            f"spread{i}", role=role, rules={"channel_cap": {"chat": chat_cap}}, ready_on=["chat"]
        )
        for i in range(n)
    ]


def _routed() -> Interaction:
    return svc.offer_inbound(
        channel="chat", contact=None, agent=None, extension=None, actor=None, request_id="t"
    )


def test_routed_offers_to_two_idle_agents_with_caps_of_three_spread_between_them(settings):
    settings.CC_SEND_WAKEUPS = False
    first, second = _ready_agents(2, chat_cap=3)

    offered = [_routed().agent_id for _ in range(3)]

    # fewest open first; between equals, the longest idle (the first agent never went idle
    # again: an offer does not reset idle_since)
    assert offered == [first.pk, second.pk, first.pk]


def test_an_agent_who_rejects_an_offer_is_offered_last(settings):
    settings.CC_SEND_WAKEUPS = False
    first, second, third = _ready_agents(3, chat_cap=3)
    rejected = _routed()
    assert rejected.agent_id == first.pk
    svc.interaction_reject(first, rejected.pk, actor=None, request_id="t")

    offered = [_routed().agent_id for _ in range(3)]

    assert offered == [second.pk, third.pk, first.pk]
    state = AgentChannelState.objects.get(agent=first, channel_id="chat")
    assert state.idle_since == Interaction.objects.get(pk=rejected.pk).ended_at  # the reject


def test_an_agent_who_misses_an_offer_is_offered_last(settings):
    settings.CC_SEND_WAKEUPS = False
    first, second, third = _ready_agents(3, chat_cap=3)
    missed = _routed()
    assert missed.agent_id == first.pk
    # tests move deadlines, not clocks, where PostgreSQL's clock is read (DECISIONS.md)
    Interaction.objects.filter(pk=missed.pk).update(
        offer_deadline=timezone.now() - timedelta(seconds=1)
    )
    assert offers.offer_expire(missed.pk, missed.offer_version)
    assert Interaction.objects.get(pk=missed.pk).state == "missed"

    offered = [_routed().agent_id for _ in range(3)]

    assert offered == [second.pk, third.pk, first.pk]
