"""Longest-idle routing reads its candidates in two batches (services/interactions._route)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cc_rules.models import Agent, AgentChannelState, Interaction, Role
from cc_rules.services import interactions as svc
from cc_rules.services import status as status_service

pytestmark = pytest.mark.django_db


def test_routing_reaches_past_the_first_batch_of_candidates_at_their_caps(demo_world, settings):
    settings.CC_SEND_WAKEUPS = False
    User = get_user_model()
    role = Role.objects.get(name="blended")  # chat cap 2
    long_ago = timezone.now() - timedelta(hours=1)
    full = svc.ROUTE_FIRST + 5
    for i in range(full):
        agent = Agent.objects.create(user=User.objects.create(username=f"busy{i:02d}"), role=role)
        AgentChannelState.objects.create(
            agent=agent,
            channel_id="chat",
            status="ready",
            since=long_ago,
            idle_since=long_ago + timedelta(seconds=i),
        )
        for _ in range(2):
            Interaction.objects.create(
                channel_id="chat",
                agent=agent,
                direction="inbound",
                state="active",
                created_at=long_ago,
            )
    alice = Agent.objects.get(user__username="alice")
    status_service.session_login(alice.pk, channels=["chat"], actor=None, request_id="t")
    status_service.channel_set_status(
        alice.pk, "chat", status="ready", reason=None, actor=None, request_id="t"
    )

    offered = svc.offer_inbound(
        channel="chat", contact=None, agent=None, extension=None, actor=None, request_id="t"
    )

    assert offered.agent_id == alice.pk  # the only one with a free slot, candidate #26
