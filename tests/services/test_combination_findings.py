"""Production bugs the combination machine's exploration found (issue 13), each pinned by a
test of its own once fixed. The machine (tests/combination_machine.py) explores at random; these
keep the exact case.
"""

from __future__ import annotations

import pytest

from cc_rules.models import Interaction
from cc_rules.services import deactivation, offers
from cc_rules.services import interactions as work
from tests.factories import a_contact, a_role, a_supervisor, an_agent


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


@pytest.mark.django_db
def test_deactivating_an_agent_leaves_active_work_that_can_still_be_ended():
    agent = an_agent(role=a_role(visible=["voice"]), ready_on=["voice"])
    call = offers.offer_inbound(
        channel="voice",
        contact=a_contact(),
        agent=agent,
        extension=None,
        actor=None,
        request_id="o",
    )
    work.interaction_accept(agent, call.pk, actor=agent.user, request_id="a")
    deactivation.agent_deactivate(agent.pk, actor=a_supervisor(is_superuser=True), request_id="d")

    work.interaction_end(agent, call.pk, how="hangup", workbin=None, actor=None, request_id="e")

    call.refresh_from_db()
    assert call.state == "ended"
    assert agent.channel_states.get(channel_id="voice").status == "logged_off"  # no ACW
    assert Interaction.objects.filter(agent=agent, state="active").count() == 0
