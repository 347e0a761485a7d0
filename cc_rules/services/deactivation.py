"""Deactivating an agent (DECISIONS.md, "Combinations"): the agent, or their user, turned off.

``agent_deactivate`` is the service; the receivers below route every way an agent or a user is
deactivated (admin, shell, a data migration) to it, so no path leaves offers stuck or channels
ready. Connected in ``CcRulesConfig.ready``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save

from cc_rules import selectors
from cc_rules.choices import Cause, InteractionState
from cc_rules.engine import decide
from cc_rules.models import Agent, Interaction

from . import tokens
from .sessions import AgentResult, session_for
from .status import log_off_everything
from .work import transition


def agent_deactivate(agent_id: int, *, actor: Any, request_id: str) -> AgentResult | None:
    """Deactivate an agent: every channel logged off (cause ``system``, rule
    ``agent_deactivated``), DND off, open offers ``missed`` without the missed-offer rule, API
    tokens revoked; active work is left to be ended (its end changes no status: the channel is
    logged off). Idempotent; None if there is no agent.

    Takes the agent's row lock like every writer (an inactive agent is still locked here).
    """
    with transaction.atomic():
        agent = selectors.lock_agent_any(agent_id)
        if agent is None:
            return None
        sess = session_for(agent, actor=actor, request_id=request_id)
        rule = decide.DEACTIVATED_RULE
        offers = Interaction.objects.select_for_update().filter(
            agent_id=agent_id, state=InteractionState.OFFERED
        )
        for offer in offers:
            transition(offer, "miss", sess.now)
        sess.work_changed()
        log_off_everything(sess, cause=Cause.SYSTEM, rule=rule)
        if agent.is_active:
            Agent.objects.filter(pk=agent_id).update(is_active=False)
            agent.is_active = False
        tokens.revoke_all(agent.user_id)
        return sess.result()


def _deactivated(instance: Any, created: bool, update_fields: Any) -> bool:
    """A save that may have turned ``is_active`` off (live-state saves name other fields)."""
    named = update_fields is None or "is_active" in update_fields
    return not created and named and not instance.is_active


def _agent_saved(sender, instance: Agent, created: bool, update_fields=None, **kwargs) -> None:
    if _deactivated(instance, created, update_fields):
        agent_deactivate(instance.pk, actor=None, request_id="deactivate")


def _user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if not _deactivated(instance, created, update_fields):
        return
    agent_id = Agent.objects.filter(user=instance).values_list("pk", flat=True).first()
    if agent_id is not None:
        agent_deactivate(agent_id, actor=None, request_id="deactivate")


def connect() -> None:
    """Route every deactivation of an agent or a user to ``agent_deactivate``."""
    post_save.connect(_agent_saved, sender=Agent, dispatch_uid="cc_rules.agent_deactivated")
    User = get_user_model()
    post_save.connect(_user_saved, sender=User, dispatch_uid="cc_rules.user_deactivated")
