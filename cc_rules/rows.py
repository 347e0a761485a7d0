"""The hot path's reads and writes as fixed SQL, on ordinary model instances.

Profiling the hot paths (bench/profile_hot_paths.py, bench/RESULTS.md) showed the ORM building
SQL (``SQLCompiler.as_sql``) costing more than PostgreSQL answering it: a select_related join
with three EXISTS columns took ~3 ms of Python per request and 0.1 ms in the database. The few
statements every request runs are therefore written once as SQL text, their columns taken from
the models' own field lists (a migration that adds a field is picked up), and rows are turned
into instances with Django's ``Model.from_db``, the constructor the ORM itself uses; values go
through the fields' own converters and ``get_db_prep_save``. ``update``/``insert`` serve only the
live-state models, which have no save() override, no save signals and no auto_now fields.
tests/services/test_rows.py checks every use against the ORM, on PostgreSQL and SQLite.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.db.models import Model


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
    """
    if connection.vendor != "postgresql":
        insert(row)
        update_fields(agent, ("history_seq", "history_head"))
        return
    sql, values = insert_statement(row)
    found = fetch_one(
        f"WITH appended AS ({sql} RETURNING id) UPDATE {table(type(agent))} "
        f"SET history_seq = %s, history_head = %s WHERE id = %s "
        f"RETURNING (SELECT id FROM appended)",
        [*values, row.seq, row.hash, agent.pk],
    )
    saved(row, found[0])
