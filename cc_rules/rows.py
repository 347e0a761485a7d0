"""The hot path's reads and writes as fixed SQL, on ordinary model instances.

Profiling the hot paths (bench/profile_hot_paths.py, bench/RESULTS.md) showed the ORM building
SQL (``SQLCompiler.as_sql``) costing more than PostgreSQL answering it: a select_related join
with three EXISTS columns took ~3 ms of Python per request and 0.1 ms in the database. The few
statements every request runs are therefore written once as SQL text, their columns taken from
the models' own field lists (a migration that adds a field is picked up), and rows are turned
into instances with Django's ``Model.from_db``, the constructor the ORM itself uses; values go
through the fields' own converters and ``get_db_prep_save``. ``update``/``insert`` serve only the
live-state models, which have no save() override, no save signals and no auto_now fields.

This is the one module with hand-written SQL (the house rule: only per-request hot statements,
each with its ORM twin in its docstring); ``selectors`` and the services read and write through
it. tests/services/test_rows.py checks every statement against the ORM, on PostgreSQL and
SQLite.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from cc_rules.choices import OPEN_STATES
from cc_rules.models import (
    Agent,
    AgentChannelState,
    ApiToken,
    Contact,
    Interaction,
    Role,
    RulesVersion,
)
from cc_rules.models.tokens import digest_of
from cc_rules.permissions_setup import COMPLIANCE, ROUTER, SUPERVISOR


@cache
def _plan(model: type[Model], vendor: str) -> tuple:
    """Columns, attribute names, the pk's position and the value converters of the model's
    concrete fields, in field order (what ``from_db`` takes)."""
    fields = model._meta.concrete_fields
    names = tuple(f.attname for f in fields)
    converters = []
    for i, f in enumerate(fields):
        column = f.get_col(model._meta.db_table)  # the expression the ORM would convert
        found = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
        if found:
            converters.append((i, f, tuple(found)))
    return tuple(f.column for f in fields), names, names.index(model._meta.pk.attname), converters


def select_list(model: type[Model], alias: str) -> str:
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(c)}" for c in _plan(model, connection.vendor)[0])


def width(model: type[Model]) -> int:
    return len(_plan(model, connection.vendor)[1])


def hydrate(model: type[Model], row: tuple, start: int) -> Model | None:
    """The instance whose columns start at ``row[start]`` (None for an outer join's nulls),
    its values converted as the ORM converts them (JSON, SQLite datetimes, …)."""
    _, names, pk_index, converters = _plan(model, connection.vendor)
    values = list(row[start : start + len(names)])
    if values[pk_index] is None:
        return None
    for i, field, found in converters:
        for convert in found:
            values[i] = convert(values[i], field, connection)
    return model.from_db(connection.alias, names, values)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


BIGINT = 2**63


def storable(value: int) -> bool:
    """Whether an id fits a 64-bit column. PostgreSQL answers "no row" for a larger one; SQLite's
    driver raises ``OverflowError``, so the statements below answer "no row" themselves."""
    return -BIGINT <= value < BIGINT


def fetch_one(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def fetch_all(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@cache
def _update_sql(model: type[Model], vendor: str) -> tuple[str, list]:
    q = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    sets = ", ".join(f"{q(f.column)} = %s" for f in fields)
    pk = q(model._meta.pk.column)
    return f"UPDATE {q(model._meta.db_table)} SET {sets} WHERE {pk} = %s", fields


def update(instance: Model) -> None:
    """Write every field of an existing row, like ``instance.save()`` on a model with no save()
    override and no save signals (the caller's models: live state rows, not configuration)."""
    sql, fields = _update_sql(type(instance), connection.vendor)
    values = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, instance.pk])
        if cursor.rowcount != 1:
            raise type(instance).DoesNotExist(f"{type(instance).__name__} {instance.pk} is gone")


@cache
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, list]:
    q = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    sql = (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return sql, fields


def insert_statement(instance: Model) -> tuple[str, list]:
    """``INSERT INTO … VALUES (…)`` for a new instance and its values, prepared as save() would
    (for a caller that wraps the INSERT in a larger statement; see ``insert``)."""
    sql, fields = _insert_sql(type(instance), connection.vendor)
    return sql, [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def saved(instance: Model, pk) -> None:
    """Mark a new instance as stored under ``pk``, as save() leaves it."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def insert(instance: Model) -> None:
    """Write a new row and set its pk, like ``instance.save()`` on a new instance of a model with
    no save() override, no save signals and no auto_now fields (live rows, not configuration)."""
    sql, values = insert_statement(instance)
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {connection.ops.quote_name(instance._meta.pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        saved(instance, cursor.fetchone()[0] if returning else cursor.lastrowid)


def update_fields(instance: Model, names: tuple[str, ...]) -> None:
    """``instance.save(update_fields=names)`` as fixed SQL (no signals: live rows only)."""
    update_many([instance], names)


def update_many(instances: list[Model], names: tuple[str, ...]) -> None:
    """``UPDATE … SET <names> WHERE pk = %s`` for each instance, as one ``executemany``.

    ORM twin: ``Model.objects.bulk_update(instances, names)``. psycopg 3 pipelines it (one
    round trip), and it skips the per-row CASE expressions that make ``bulk_update`` cost more
    CPU than the saves it replaces. Like ``bulk_update``, it sends no signals.
    """
    meta = instances[0]._meta
    fields = [meta.get_field(name) for name in names]
    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(f.column)} = %s" for f in fields)
    sql = f"UPDATE {q(meta.db_table)} SET {assignments} WHERE {q(meta.pk.column)} = %s"
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk]
        for row in instances
    ]
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)


def append_history(row: Model, agent: Model) -> None:
    """INSERT a ledger row and move the agent's chain head to it.

    ORM twin: ``row.save(); Agent.objects.filter(pk=agent.pk).update(history_seq=row.seq,
    history_head=row.hash)``. On PostgreSQL one statement (a data-modifying WITH), elsewhere
    the same two statements as fixed SQL.

    The UPDATE joins the inserted row (``FROM appended``), so the row is in the table before
    the agent's row is updated: the head's trigger (``models.guards.HEAD_FORWARD_ONLY``) sees
    it and lets the head move onto it.
    """
    if connection.vendor != "postgresql":
        insert(row)
        update_fields(agent, ("history_seq", "history_head"))
        return
    sql, values = insert_statement(row)
    found = fetch_one(
        f"WITH appended AS ({sql} RETURNING id, agent_id, seq, hash) "
        f"UPDATE {table(type(agent))} a SET history_seq = appended.seq, "
        f"history_head = appended.hash FROM appended "
        f"WHERE a.id = %s AND appended.agent_id = a.id RETURNING appended.id",
        [*values, agent.pk],
    )
    saved(row, found[0])


# -- the hot statements: what every request reads, as fixed SQL ------------------------------
# Each gives its ORM twin; tests/services/test_rows.py checks them against the ORM.
def agents(
    where: str,
    params: list,
    *,
    lock: bool = False,
    skip_locked: bool = False,
    active_only: bool = True,
) -> list[Agent]:
    """ORM twin: ``Agent.objects.select_related("user", "role").filter(...).order_by("id")
    .select_for_update(of=("self",), skip_locked=...)``.

    Active agents matching ``where`` (over ``a``, the agent, and ``u``, its user), each with
    its user and role loaded, ascending by id; locked ``FOR UPDATE`` on PostgreSQL if ``lock``
    (``SKIP LOCKED``: rows another transaction holds are left out instead of waited for)."""
    User = Agent.user.field.related_model
    suffix = ""
    if lock and connection.features.has_select_for_update_of:
        suffix = " FOR UPDATE OF a" + (" SKIP LOCKED" if skip_locked else "")
    found = fetch_all(
        f"SELECT {select_list(Agent, 'a')}, {select_list(User, 'u')}, "
        f"{select_list(Role, 'r')} FROM {table(Agent)} a "
        f"JOIN {table(User)} u ON u.id = a.user_id "
        f"JOIN {table(Role)} r ON r.id = a.role_id "
        f"WHERE {where}{' AND a.is_active' if active_only else ''} ORDER BY a.id{suffix}",
        params,
    )
    agents = []
    for row in found:
        agent = hydrate(Agent, row, 0)
        agent.user = hydrate(User, row, width(Agent))
        agent.role = hydrate(Role, row, width(Agent) + width(User))
        agents.append(agent)
    return agents


def own_interaction(
    interaction_id: int, agent: Agent, *, lock: bool = False, children: tuple[str, ...] = ()
) -> tuple[Interaction | None, bool]:
    """ORM twin: ``Interaction.objects.filter(pk=…, agent=agent).select_for_update(of=("self",))
    .annotate(has_children=Exists(Interaction.objects.filter(parent=OuterRef("pk"),
    state__in=children)))``.

    The agent's interaction ``interaction_id`` (None if it is not theirs), locked
    ``FOR UPDATE`` when ``lock``; and whether it has a child in one of the ``children`` states."""
    if not storable(interaction_id):
        return None, False
    has_children = "FALSE"
    params: list = []
    if children:
        has_children = (
            f"EXISTS (SELECT 1 FROM {table(Interaction)} c WHERE c.parent_id = i.id "
            f"AND c.state IN ({', '.join(['%s'] * len(children))}))"
        )
        params += children
    suffix = " FOR UPDATE OF i" if lock and connection.features.has_select_for_update_of else ""
    row = fetch_one(
        f"SELECT {select_list(Interaction, 'i')}, {has_children} "
        f"FROM {table(Interaction)} i WHERE i.id = %s AND i.agent_id = %s{suffix}",
        [*params, interaction_id, agent.pk],
    )
    if row is None:
        return None, False
    interaction = hydrate(Interaction, row, 0)
    interaction.agent = agent
    return interaction, bool(row[-1])


def open_children_locked(parent_id: int, states: tuple[str, ...]) -> list[Interaction]:
    """ORM twin: ``Interaction.objects.filter(parent_id=…, state__in=states)
    .select_for_update()``.

    The children of ``parent_id`` in ``states``, locked ``FOR UPDATE`` on PostgreSQL."""
    suffix = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
    found = fetch_all(
        f"SELECT {select_list(Interaction, 'c')} FROM {table(Interaction)} c "
        f"WHERE c.parent_id = %s AND c.state IN ({', '.join(['%s'] * len(states))}) "
        f"ORDER BY c.id DESC{suffix}",  # newest first, as Interaction.Meta.ordering
        [parent_id, *states],
    )
    return [hydrate(Interaction, row, 0) for row in found]


def contact(contact_id: int) -> Contact | None:
    """ORM twin: ``Contact.objects.filter(pk=contact_id).first()``."""
    if not storable(contact_id):
        return None
    row = fetch_one(
        f"SELECT {select_list(Contact, 'c')} FROM {table(Contact)} c WHERE c.id = %s",
        [contact_id],
    )
    return hydrate(Contact, row, 0) if row else None


def open_work_counts(agent: Agent) -> dict[str, tuple[int, int]]:
    """Per channel: (open work counting toward caps, all open work).

    ORM twin: ``Interaction.objects.filter(agent=agent, state__in=OPEN_STATES)
    .values("channel_id", "counts_toward_cap").annotate(n=Count("id"))``.
    """
    counting: Counter[str] = Counter()
    total: Counter[str] = Counter()
    found = fetch_all(
        f"SELECT channel_id, counts_toward_cap, COUNT(*) FROM {table(Interaction)} "
        f"WHERE agent_id = %s AND state IN ({', '.join(['%s'] * len(OPEN_STATES))}) "
        f"GROUP BY channel_id, counts_toward_cap",
        [agent.pk, *OPEN_STATES],
    )
    for channel, counts, n in found:
        total[channel] += n
        if counts:
            counting[channel] += n
    return {c: (counting[c], total[c]) for c in total}


def session_reads(agent: Agent) -> tuple[datetime, tuple[int, str], list[AgentChannelState]]:
    """What a service reads first after locking ``agent``, in one round trip: the database clock
    (DECISIONS.md: read once, after the locks), the rules version (RulesVersion) and the agent's
    channel-state rows (in the ORM's order). SQLite has no clock function: Django's clock.

    ORM twin: three queries: ``SELECT clock_timestamp()``, ``RulesVersion.objects.get(pk=1)``
    and ``agent.channel_states.order_by("channel_id")``."""
    postgres = connection.vendor == "postgresql"
    found = fetch_all(
        f"SELECT {'clock_timestamp()' if postgres else 'NULL'}, v.value, v.token, "
        f"{select_list(AgentChannelState, 's')} FROM (SELECT 1) AS one "
        f"LEFT JOIN {table(RulesVersion)} v ON v.id = 1 "
        f"LEFT JOIN {table(AgentChannelState)} s ON s.agent_id = %s "
        f"ORDER BY s.channel_id",
        [agent.pk],
    )
    first = found[0]  # one row even without states (the outer joins keep "one")
    now = first[0] if postgres else timezone.now()
    version = (first[1], str(uuid.UUID(str(first[2])))) if first[1] is not None else (0, "")
    states = []
    for row in found:
        state = hydrate(AgentChannelState, row, 3)
        if state is not None:
            state.agent = agent
            states.append(state)
    return now, version, states


# -- authentication: token, user, agent, role and group flags in one read --------------------
KNOWN_GROUPS = (ROUTER, SUPERVISOR, COMPLIANCE)


@cache
def _sql() -> str:
    User = get_user_model()
    member = User.groups.through
    in_group = (
        f"EXISTS (SELECT 1 FROM {table(member)} m JOIN {table(Group)} g "
        f"ON g.id = m.group_id WHERE m.user_id = u.id AND g.name = %s)"
    )
    return (
        f"SELECT {select_list(ApiToken, 't')}, {select_list(User, 'u')}, "
        f"{select_list(Agent, 'a')}, {select_list(Role, 'r')}, "
        + ", ".join(in_group for _ in KNOWN_GROUPS)
        + f" FROM {table(ApiToken)} t JOIN {table(User)} u ON u.id = t.user_id"
        f" LEFT JOIN {table(Agent)} a ON a.user_id = u.id"
        f" LEFT JOIN {table(Role)} r ON r.id = a.role_id"
        f" WHERE t.digest = %s"
    )


def load_token(key: str) -> ApiToken | None:
    """ORM twin: ``ApiToken.objects.select_related("user", "user__agent__role")
    .get(digest=digest_of(key))`` plus ``user.groups.filter(name=…).exists()`` for each known
    group. Expired tokens are found too (the caller tells expired from unknown).

    The token with ``token.user``, ``user.agent`` (or its absence) and ``agent.role`` loaded,
    and ``user._cc_known_groups`` answering ``in_group`` for the three known groups."""
    row = fetch_one(_sql(), [*KNOWN_GROUPS, digest_of(key)])
    if row is None:
        return None
    User = get_user_model()
    at = 0
    token = hydrate(ApiToken, row, at)
    at += width(ApiToken)
    user = hydrate(User, row, at)
    at += width(User)
    agent = hydrate(Agent, row, at)
    at += width(Agent)
    role = hydrate(Role, row, at)
    at += width(Role)
    token.user = user
    if agent is None:
        Agent.user.field.remote_field.set_cached_value(user, None)  # user.agent: DoesNotExist
    else:
        agent.role = role
        agent.user = user
        Agent.user.field.remote_field.set_cached_value(user, agent)
    user._cc_known_groups = {name: bool(row[at + i]) for i, name in enumerate(KNOWN_GROUPS)}
    return token
