"""Helpers for the timer tests: put agents through calls by the services, read the results.

Every write goes through ``cc_rules.services`` exactly as the API would make it; only the
deadline is moved directly (``make_due``), because tests move deadlines, never clocks
(DECISIONS.md, "Engineering").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from cc_rules.models import Agent, AgentChannelState, Contact, Interaction, Rule, StatusChange
from cc_rules.selectors import db_now
from cc_rules.services import interactions as svc
from cc_rules.services import status

RID = "test"
# Test-only: PBKDF2 makes creating users take a noticeable time per test.
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def user(username: str):
    return get_user_model().objects.get(username=username)


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user", "role").get(user__username=username)


def agent_rule(username: str, key: str, value, channel: str | None = "voice") -> Rule:
    """An agent-scope rule, validated the way admin validates it."""
    rule = Rule(scope="agent", agent=agent(username), key=key, channel_id=channel, value=value)
    rule.full_clean()
    rule.save()
    return rule


def login_ready(username: str, *channels: str) -> None:
    """Log in on every visible channel and make ``channels`` (default voice) ready."""
    a = agent(username)
    status.session_login(a.pk, channels=None, actor=a.user, request_id=RID)
    for channel in channels or ("voice",):
        status.channel_set_status(
            a.pk, channel, status="ready", reason=None, actor=a.user, request_id=RID
        )


def set_status(username: str, status_: str, reason: str | None = None, channel: str = "voice"):
    """The agent's own PUT …/status/; returns ``held_as_pending``."""
    a = agent(username)
    return status.channel_set_status(
        a.pk, channel, status=status_, reason=reason, actor=a.user, request_id=RID
    ).held


def start_call(username: str, channel: str = "voice") -> Interaction:
    """The router offers inbound work to ``username``, who accepts it."""
    a = agent(username)
    offer = svc.offer_inbound(
        channel=channel,
        contact=Contact.objects.order_by("pk").first(),
        agent=a,
        extension=None,
        actor=user("router"),
        request_id=RID,
    )
    return svc.interaction_accept(a, offer.pk, actor=a.user, request_id=RID)


def start_outbound_call(username: str) -> Interaction:
    """The agent calls a contact (R10); allowed while not ready."""
    a = agent(username)
    contact = Contact.objects.filter(points__kind="phone").order_by("pk").first()
    return svc.start_outbound(
        a,
        channel="voice",
        contact=contact,
        to=None,
        parent_id=None,
        actor=a.user,
        request_id=RID,
    )


def end_call(username: str, interaction: Interaction, how: str = "hangup") -> Interaction:
    a = agent(username)
    return svc.interaction_end(
        a, interaction.pk, how=how, workbin=None, actor=a.user, request_id=RID
    )


def call_and_hang_up(username: str, channel: str = "voice") -> Interaction:
    return end_call(username, start_call(username, channel), how=_END[channel])


_END = {"voice": "hangup", "chat": "chat_ended", "email": "sent"}


def mark_done(username: str, interaction: Interaction) -> Interaction:
    a = agent(username)
    return svc.interaction_done(a, interaction.pk, actor=a.user, request_id=RID)


def extend(username: str, interaction: Interaction) -> AgentChannelState:
    a = agent(username)
    return svc.wrap_up_extend(a, interaction.pk, actor=a.user, request_id=RID).state


def state(username: str, channel: str = "voice") -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def make_due(username: str, channel: str = "voice", ago: timedelta = timedelta(0)) -> datetime:
    """Move the stored wrap-up deadline to the database's now (minus ``ago``); return it."""
    deadline = db_now() - ago - timedelta(milliseconds=1)
    moved = AgentChannelState.objects.filter(
        agent__user__username=username, channel_id=channel, wrap_up_deadline__isnull=False
    ).update(wrap_up_deadline=deadline)
    assert moved == 1, f"{username} has no wrap-up deadline on {channel}"
    return deadline


def history(username: str, channel: str = "voice", **filters) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(
        agent__user__username=username, channel_id=channel, event="status", **filters
    ).order_by("seq")


def timer_rows(username: str, channel: str = "voice") -> QuerySet[StatusChange]:
    return history(username, channel, cause="wrap_up_timer")


def bulk_agents_in_acw(n: int, *, role: str, deadline: datetime, prefix: str) -> list[int]:
    """``n`` new agents of ``role`` whose voice channel is in ACW until ``deadline``.

    Created in bulk (no history of how they got there): for tests of the firing side only.
    Returns the voice state ids.
    """
    from cc_rules.models import Role

    User = get_user_model()
    role_row = Role.objects.get(name=role)
    users = User.objects.bulk_create([User(username=f"{prefix}{i}") for i in range(n)])
    if users[0].pk is None:  # backends without RETURNING
        users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    agents = Agent.objects.bulk_create([Agent(user=u, role=role_row) for u in users])
    if agents[0].pk is None:
        agents = list(Agent.objects.filter(user__in=users).order_by("pk"))
    since = deadline - timedelta(seconds=10)
    states = AgentChannelState.objects.bulk_create(
        [
            AgentChannelState(
                agent=a,
                channel_id="voice",
                status="after_call_work",
                since=since,
                wrap_up_deadline=deadline,
            )
            for a in agents
        ]
    )
    if states[0].pk is None:
        return list(AgentChannelState.objects.filter(agent__in=agents).values_list("pk", flat=True))
    return [s.pk for s in states]
