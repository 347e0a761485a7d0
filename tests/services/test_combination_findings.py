"""Production bugs the combination machine's exploration found (issue 13), pinned as strict
xfails until they are fixed: each fails today and must pass once its fix lands (then drop the
mark). The machine (tests/combination_machine.py) treats the refusals below as answers.
"""

from __future__ import annotations

import pytest

from cc_rules.models import Interaction
from cc_rules.services import interactions as work
from cc_rules.services import offers, status
from tests.factories import a_contact, a_role, a_supervisor, an_agent


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


@pytest.mark.django_db
@pytest.mark.xfail(
    strict=True,
    reason="interaction_end locks the owner with lock_sessions, which reads active agents "
    "only: a deactivated agent's active work answers 404 'No such agent' and stays open for "
    "good, though DECISIONS.md says deactivation 'leaves active work to be ended'",
)
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
    status.agent_deactivate(agent.pk, actor=a_supervisor(is_superuser=True), request_id="d")

    work.interaction_end(agent, call.pk, how="hangup", workbin=None, actor=None, request_id="e")

    call.refresh_from_db()
    assert call.state == "ended"
    assert agent.channel_states.get(channel_id="voice").status == "logged_off"  # no ACW
    assert Interaction.objects.filter(agent=agent, state="active").count() == 0
