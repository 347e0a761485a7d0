"""Reads: ORM rows in, engine types out. The resolver lives here.

``effective_rules(agent)`` answers from a process-local snapshot of every rule row, keyed by
the rules version kept in PostgreSQL (``RulesVersion``). A rule change bumps the version in its
own transaction, so the next request anywhere reloads the snapshot: live sessions pick up the
change without a restart, and a hot request costs one tiny query for the version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from django.db import connection
from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Subquery
from django.utils import timezone

from cc_rules import rows
from cc_rules.choices import OPEN_STATES, Status
from cc_rules.engine import config_check, decide, forwarding
from cc_rules.engine.resolve import RoleSets, RuleIndex, RuleRow
from cc_rules.engine.rulebook import RULES
from cc_rules.engine.types import AgentLive, ChannelLive, EffectiveRules, OfferDecision
from cc_rules.models import (
    Agent,
    AgentChannelState,
    Channel,
    Interaction,
    ReasonCode,
    Role,
    Rule,
    RulesVersion,
)
from cc_rules.rows import (  # noqa: F401  (the hot reads, as fixed SQL; read through here)
    contact,
    open_children_locked,
    open_work_counts,
    own_interaction,
    session_reads,
)

_lock = threading.Lock()
_snapshot: tuple[tuple[int, str], RuleIndex] | None = None
_resolved: dict[tuple[int, int, int | None], EffectiveRules] = {}


def rules_version() -> tuple[int, str]:
    """The rules version and its random token (the pair identifies one configuration)."""
    row = RulesVersion.objects.filter(pk=1).values_list("value", "token").first()
    return (row[0], str(row[1])) if row else (0, "")


def _role_sets() -> tuple[dict[int, frozenset[str]], dict[int | None, frozenset[str]]]:
    """Each role's chosen visible channels (R1) and each role's reason codes (``None``: the
    global codes), in two queries. A role absent from a map chose none: it inherits."""
    visible: dict[int, set[str]] = {}
    for role_id, code in Role.visible_channels.through.objects.values_list("role_id", "channel_id"):
        visible.setdefault(role_id, set()).add(code)
    codes: dict[int | None, set[str]] = {}
    for role_id, code in ReasonCode.objects.values_list("role_id", "code"):
        codes.setdefault(role_id, set()).add(code)
    return (
        {role: frozenset(found) for role, found in visible.items()},
        {role: frozenset(found) for role, found in codes.items()},
    )


def _load_index() -> RuleIndex:
    history = Rule.history.model  # type: ignore[attr-defined]
    versions = dict(
        history.objects.values("id").annotate(v=Max("history_id")).values_list("id", "v")
    )
    rows = []
    for rule in Rule.objects.all():
        definition = RULES.get(rule.key)
        if definition is None:
            continue
        target = rule.role_id if rule.scope == "role" else rule.agent_id
        rows.append(
            RuleRow(
                id=rule.pk,
                key=rule.key,
                scope=rule.scope,
                target=target,
                channel=rule.channel_id,
                value=definition.parse(rule.value),
                version=versions.get(rule.pk),
            )
        )
    visible, codes = _role_sets()
    roles = {
        role.pk: RoleSets(
            id=role.pk,
            name=role.name,
            visible=visible.get(role.pk),
            reason_codes=codes.get(role.pk),
        )
        for role in Role.objects.all()
    }
    global_visible = frozenset(
        Channel.objects.filter(visible_by_default=True).values_list("code", flat=True)
    )
    return RuleIndex(rows, roles, global_visible, codes.get(None, frozenset()))


def clear_cache() -> None:
    """Forget the snapshot (tests that roll the database back reuse version numbers)."""
    global _snapshot
    with _lock:
        _snapshot = None
        _resolved.clear()


def rule_index(version: tuple[int, str] | None = None) -> RuleIndex:
    """The snapshot for the current rules version (reloaded when the version moves);
    ``version``: as just read by the caller (``session_reads``)."""
    global _snapshot
    if version is None:
        version = rules_version()
    with _lock:
        if _snapshot is not None and _snapshot[0] == version:
            return _snapshot[1]
    index = _load_index()
    with _lock:
        _snapshot = (version, index)
        _resolved.clear()
    return index


def effective_rules(agent: Agent, version: tuple[int, str] | None = None) -> EffectiveRules:
    """Every rule in force for ``agent``, each value with the scope and rule row it came from."""
    index = rule_index(version)
    key = (id(index), agent.pk, agent.role_id)
    with _lock:
        found = _resolved.get(key)
    if found is None:
        found = index.resolve(agent.pk, agent.role_id)
        with _lock:
            _resolved[key] = found
    return found


def locked_agents(
    agent_ids: list[int], *, skip_locked: bool = False, active_only: bool = True
) -> list[Agent]:
    """The agents among ``agent_ids`` (active ones only unless ``active_only`` is False), each
    with its user and role, ascending by id and locked ``FOR UPDATE`` on PostgreSQL (the lock
    every writer for an agent takes first); ``skip_locked``: an agent whose row is held
    elsewhere is left out, not waited for."""
    if not agent_ids:
        return []
    where = f"a.id IN ({', '.join(['%s'] * len(agent_ids))})"
    return rows.agents(
        where, list(agent_ids), lock=True, skip_locked=skip_locked, active_only=active_only
    )


def routing_candidates(channel: str, first: int, most: int) -> Iterator[list[int]]:
    """Ids of the agents a routed offer on ``channel`` tries, best first, in batches read only
    when the caller asks for the next (DECISIONS.md, "Routing spreads work"): ready, active, not
    in DND, no pending status (and for voice: not forwarding), ordered by fewest open
    interactions on the channel, then longest idle (``idle_since``), then lower agent id.

    Two reads, because ordering every ready agent by a count costs a count per ready agent
    (measured: ~45 ms at 10,000 ready agents, against ~0.2 ms for an index walk):

    1. agents with no open work on the channel, in ``routing_idx`` order (``first``, then up to
       ``most``): an anti-join that walks the index and stops at the limit, so its cost grows
       with the busy agents it passes, not with the head count;
    2. only when none of those could take the work: agents with open work there, by how much
       (a correlated count per such agent), up to ``most``.

    Both are the ORM's; the SQL of (1) is ``... WHERE NOT EXISTS (SELECT 1 FROM interaction i
    WHERE i.agent_id = s.agent_id AND i.channel_id = s.channel_id AND i.state IN (open))
    ORDER BY s.idle_since, s.agent_id LIMIT n``.
    """
    open_work = Interaction.objects.filter(
        agent_id=OuterRef("agent_id"), channel_id=OuterRef("channel_id"), state__in=OPEN_STATES
    )
    ready = AgentChannelState.objects.filter(
        channel_id=channel,
        status=Status.READY,
        agent__is_active=True,
        agent__dnd=False,
        pending_status__isnull=True,
    )
    if channel == "voice":
        ready = ready.filter(agent__forward_to__isnull=True)
    free = (
        ready.filter(~Exists(open_work))
        .order_by("idle_since", "agent_id")
        .values_list("agent_id", flat=True)
    )
    batch = list(free[:first])
    yield batch
    if len(batch) == first:  # fewer: there are no more free agents to read
        yield list(free[first:most])
    how_much = Subquery(
        open_work.order_by().values("agent_id").annotate(n=Count("pk")).values("n"),
        output_field=IntegerField(),
    )
    loaded = (
        ready.filter(Exists(open_work))
        .annotate(open_work=how_much)
        .order_by("open_work", "idle_since", "agent_id")
        .values_list("agent_id", flat=True)
    )
    yield list(loaded[:most])


def lock_agent_any(agent_id: int) -> Agent | None:
    """The agent ``agent_id``, active or not, locked ``FOR UPDATE`` (deactivation, and the
    sweeper's clean-up of a deactivated agent's leftovers)."""
    found = locked_agents([agent_id], active_only=False)
    return found[0] if found else None


def agent_id_with_extension(extension: str) -> int | None:
    """The id of the active agent whose extension is ``extension`` (R4), or None."""
    return (
        Agent.objects.filter(extension=extension, is_active=True)
        .values_list("pk", flat=True)
        .first()
    )


def forwarded_to(extension: str | None) -> bool:
    """Whether any agent forwards to ``extension`` (R4: a chain would start there)."""
    return bool(extension) and Agent.objects.filter(forward_to=extension).exists()


def active_agent_named(username: str) -> Agent | None:
    """The active agent whose user is ``username``, with user and role; None if there is none."""
    if "\x00" in username:  # no stored name holds NUL (PostgreSQL text cannot): absent, no SQL
        return None
    found = rows.agents("u.username = %s", [username])
    return found[0] if found else None


def channel_live(state: AgentChannelState, counts: tuple[int, int] = (0, 0)) -> ChannelLive:
    return ChannelLive(
        channel=state.channel_id,
        status=state.status,
        reason=state.reason,
        pending_status=state.pending_status,
        pending_reason=state.pending_reason,
        open_count=counts[0],
        open_work=counts[1],
        pre_acw_reason=state.pre_acw_reason,
        pre_acw_status=state.pre_acw_status,
        acw_interaction=state.wrap_up_interaction_id,
    )


def agent_live(
    agent: Agent,
    states: Iterable[AgentChannelState] | None = None,
    counts: dict[str, tuple[int, int]] | None = None,
) -> tuple[AgentLive, dict[str, AgentChannelState]]:
    """The agent's live state for the engine, plus the state rows by channel code
    (``counts``: ``open_work_counts(agent)`` if the caller has it)."""
    rows = {s.channel_id: s for s in (states if states is not None else agent.channel_states.all())}
    if counts is None:
        counts = open_work_counts(agent)
    channels = {code: channel_live(row, counts.get(code, (0, 0))) for code, row in rows.items()}
    for code, pair in counts.items():  # work on a channel without a state row still counts
        if code not in channels:
            channels[code] = ChannelLive(code, "logged_off", open_count=pair[0], open_work=pair[1])
    return AgentLive(dnd=agent.dnd, channels=channels), rows


def db_now():
    """The database clock, read once per service call after its locks (DECISIONS.md)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()


def party(agent: Agent) -> forwarding.Party:
    """An agent as an offer sees them (R4), read without locks (decisions, the simulator)."""
    live, _ = agent_live(agent)
    return forwarding.Party(
        agent.pk, agent.extension, agent.forward_to, effective_rules(agent), live
    )


def offer_decision(agent: Agent, channel: str, *, outbound: bool = False) -> OfferDecision:
    """What a real offer to ``agent`` on ``channel`` would answer now, forwarding applied (the
    engine's ``forwarding.offer_to``, as ``services.offers`` calls it under locks); read-only.
    ``/decisions/offer/`` and the admin simulator answer with this (DECISIONS.md, "Decisions
    mirror offers")."""
    named = party(agent)
    if outbound:
        return OfferDecision(
            decide.may_take_work(named.rules, named.live, channel, outbound=True), agent.pk
        )
    target = None
    if forwarding.forwards(named, channel):
        found = rows.agents("a.extension = %s", [agent.forward_to])
        target = party(found[0]) if found else None
    return forwarding.offer_to(named, channel, target)


# -- cross-rule warnings (issue 16, item 4) ----------------------------------------------------
def config_snapshot() -> config_check.ConfigSnapshot:
    """The whole configuration as the cross-rule checks read it, in six queries (rule rows,
    visible channels, reason codes, roles, agents, channels visible by default). Read fresh,
    not from the per-version cache: it runs right after an admin's save, in that transaction."""
    global_rules: dict[tuple[str, str | None], config_check.SetRule] = {}
    scoped: dict[tuple[str, int | None], dict] = {}
    for key, scope, role_id, agent_id, channel, value, pk in Rule.objects.values_list(
        "key", "scope", "role_id", "agent_id", "channel_id", "value", "pk"
    ):
        definition = RULES.get(key)
        if definition is None:
            continue
        entry = config_check.SetRule(definition.parse(value), pk)
        lookup = channel if definition.per_channel else None
        if scope == "global":
            global_rules[(key, lookup)] = entry
        else:
            target = role_id if scope == "role" else agent_id
            scoped.setdefault((scope, target), {})[(key, lookup)] = entry
    visible, codes = _role_sets()
    roles = tuple(
        config_check.RoleConfig(
            id=role.pk,
            name=str(role),
            visible=visible.get(role.pk),
            reason_codes=codes.get(role.pk),
            rules=scoped.get(("role", role.pk), {}),
        )
        for role in Role.objects.all()
    )
    agents = tuple(
        config_check.AgentConfig(
            id=pk,
            name=username,
            role_id=role_id,
            rules=scoped.get(("agent", pk), {}),
            active=active,
        )
        for pk, username, role_id, active in Agent.objects.values_list(
            "pk", "user__username", "role_id", "is_active"
        )
    )
    return config_check.ConfigSnapshot(
        global_rules=global_rules,
        global_visible=frozenset(
            Channel.objects.filter(visible_by_default=True).values_list("code", flat=True)
        ),
        global_reason_codes=codes.get(None, frozenset()),
        roles=roles,
        agents=agents,
    )


def check_configuration(
    role: Role | None = None, agent: Agent | None = None
) -> list[config_check.ConfigWarning]:
    """The configuration's cross-rule warnings: all of them, or those that concern ``role``
    (the role and its active agents) or ``agent`` (what is in force for them)."""
    return config_check.check(
        config_snapshot(),
        role_id=role.pk if role is not None else None,
        agent_id=agent.pk if agent is not None else None,
    )
