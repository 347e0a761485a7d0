"""Longest-idle routing reads its candidates in two batches (services/interactions._route)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

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
