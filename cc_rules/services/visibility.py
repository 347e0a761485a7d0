"""Channels a rule change made invisible: logged off within one sweep (R1; DECISIONS.md
"Rules": a channel that stops being visible stays for its open work only).

A channel with open work is logged off when that work ends (``decide.work_ended``); one in ACW
leaves ACW as ``logged_off``. This module finds the rest: logged-in channels the agent's role no
longer sees, with no open work. Only a configuration change can make a channel invisible, so a
process checks again only when the rules version moved since its last complete pass.
"""

from __future__ import annotations

import logging
import threading

from django.db import transaction
from django.db.models import Q

from cc_rules import selectors
from cc_rules.choices import Status
from cc_rules.engine import decide
from cc_rules.models import AgentChannelState, Role

from . import ledger
from .sessions import session_for

log = logging.getLogger(__name__)

_done_version: tuple[int, str] | None = None  # the rules version of the last complete pass
_lock = threading.Lock()


def log_off_invisible(*, force: bool = False) -> int:
    """Log off every logged-in channel its agent no longer sees and has no open work on; the
    number logged off. A row whose agent is busy (locked) or fails is left for the next sweep."""
    global _done_version
    version = selectors.rules_version()
    with _lock:
        if not force and version == _done_version:
            return 0
    index = selectors.rule_index(version)
    stale = Q()
    for role_id in Role.objects.values_list("pk", flat=True):
        visible = index.resolve(0, role_id).visible
        stale |= Q(agent__role_id=role_id) & ~Q(channel_id__in=visible)
    found = (
        AgentChannelState.objects.filter(stale, agent__is_active=True)
        .exclude(status=Status.LOGGED_OFF)
        .values_list("agent_id", flat=True)
        .distinct()
        if stale
        else []
    )
    logged_off, complete = 0, True
    for agent_id in sorted(set(found)):
        try:
            moved = _log_off_agent(agent_id)
        except Exception:
            log.exception("channels of agent %s not logged off; retried next sweep", agent_id)
            moved = None
        if moved is None:
            complete = False
        else:
            logged_off += moved
    if complete:
        with _lock:
            _done_version = version
    return logged_off


def _log_off_agent(agent_id: int) -> int | None:
    """Under the agent's lock (skipped if busy: None), log off what the engine says to."""
    with transaction.atomic():
        found = selectors.locked_agents([agent_id], skip_locked=True)
        if not found:
            return None
        sess = session_for(found[0], actor=None, request_id="sweep:visibility")
        moved = 0
        for state in list(sess.states.values()):
            target = decide.visibility_lost(sess.rules, sess.live.channel(state.channel_id))
            if target is not None:
                ledger.land(sess, state, target, interaction_id=None)
                moved += 1
        return moved
