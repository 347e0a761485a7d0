"""Issue 15: a keyed ledger chain, a protected chain head, and an archiving door only the
archive function's own role can open (docs/audit.md).

1. The ledger's triggers are re-installed without pgtrigger's ``pgtrigger.ignore`` check, and
   DELETE passes only when ``current_user`` is ``cc_rules_archiver``.
2. Rows written before this migration (hash = plain SHA-256) are re-chained under the HMAC key
   ``CC_HISTORY_KEY``: each agent's chain is checked with the old hash first, and re-hashed
   only up to its first broken row, so tampering done before the upgrade is not laundered
   (verify names that row afterwards). The oldest remaining row keeps its ``prev_hash`` (an
   archived head, or the genesis hash). Archive files already written keep plain SHA-256
   (their format v1 says so).
3. On PostgreSQL, the role ``cc_rules_archiver`` (NOLOGIN) and the SECURITY DEFINER function
   ``cc_rules_archive_history`` it owns are created when the migrating role may do so; else a
   warning says to run the SQL of docs/audit.md as a superuser.
4. The chain head on ``Agent`` gets its forward-only trigger.
"""

import warnings

import cc_rules.models.guards
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, transaction

GENESIS = "0" * 64


def rechain(apps, schema_editor):
    from cc_rules.services.history import history_key, keyed_hash, plain_hash, row_fields

    StatusChange = apps.get_model("cc_rules", "StatusChange")
    Agent = apps.get_model("cc_rules", "Agent")
    db = schema_editor.connection.alias
    rows_of = StatusChange.objects.using(db)
    if not rows_of.exists():
        return
    key = history_key()
    for agent in Agent.objects.using(db).order_by("id").iterator():
        changed = []
        prev_old = prev_new = None
        last_seq = None
        for row in rows_of.filter(agent_id=agent.pk).order_by("seq").iterator(chunk_size=2000):
            if plain_hash(row_fields(row)) != row.hash:
                break
            if prev_old is None:
                if row.seq < 1 or (row.seq == 1 and row.prev_hash != GENESIS):
                    break
            elif row.seq != last_seq + 1 or row.prev_hash != prev_old:
                break
            prev_old, last_seq = row.hash, row.seq
            if prev_new is not None:
                row.prev_hash = prev_new
            row.hash = keyed_hash(row_fields(row), key)
            prev_new = row.hash
            changed.append(row)
        if changed:
            rows_of.bulk_update(changed, ["prev_hash", "hash"], batch_size=1000)
        if changed and (agent.history_seq, agent.history_head) == (last_seq, prev_old):
            Agent.objects.using(db).filter(pk=agent.pk).update(history_head=prev_new)


def create_archiver(apps, schema_editor):
    from cc_rules.models.guards import ARCHIVER_ROLE, archiver_sql

    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_user")
        schema, me = cursor.fetchone()
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute(
                    f"""DO $$ BEGIN
                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ARCHIVER_ROLE}')
                        THEN CREATE ROLE {ARCHIVER_ROLE} NOLOGIN;
                        END IF;
                    EXCEPTION WHEN duplicate_object THEN NULL;
                    END $$"""
                )
                for statement in archiver_sql(schema, me):
                    cursor.execute(statement)
        except Exception as exc:  # no CREATEROLE, or may not hand the function to the role
            warnings.warn(
                f"cc_rules: could not create the archiving role and function ({exc}). Until a "
                "superuser runs the SQL in docs/audit.md, archive_history cannot delete rows "
                "(nothing else can either).",
                stacklevel=1,
            )


class Migration(migrations.Migration):

    dependencies = [
        ('cc_rules', '0005_dialable_number_types'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='statuschange',
            name='history_no_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='statuschange',
            name='history_no_delete',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='statuschange',
            name='history_no_truncate',
        ),
        migrations.RunPython(rechain, migrations.RunPython.noop),
        migrations.RunPython(create_archiver, migrations.RunPython.noop),
        pgtrigger.migrations.AddTrigger(
            model_name='agent',
            trigger=pgtrigger.compiler.Trigger(name='history_head_forward', sql=cc_rules.models.guards.SealedTriggerSql(condition='WHEN (OLD."history_head" IS DISTINCT FROM (NEW."history_head") OR OLD."history_seq" IS DISTINCT FROM (NEW."history_seq"))', func="\nIF NEW.history_seq <= OLD.history_seq OR NOT EXISTS (\n    SELECT 1 FROM cc_rules_statuschange h\n    WHERE h.agent_id = NEW.id AND h.seq = NEW.history_seq AND h.hash = NEW.history_head\n) THEN\n    RAISE EXCEPTION\n        'cc_rules: the chain head of agent % may only move forward to a row of its ledger '\n        '(seq % -> %)', NEW.id, OLD.history_seq, NEW.history_seq;\nEND IF;\nRETURN NEW;\n", hash='fa925588b9d24506bf28577f3c2dc6e6de47bb1d', operation='UPDATE', pgid='pgtrigger_history_head_forward_e8c6a', table='cc_rules_agent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statuschange',
            trigger=pgtrigger.compiler.Trigger(name='history_no_update', sql=cc_rules.models.guards.SealedTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;", hash='5ec0251bd33c35b541a4fbada6b5df3f938bce0d', operation='UPDATE', pgid='pgtrigger_history_no_update_af2a7', table='cc_rules_statuschange', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statuschange',
            trigger=pgtrigger.compiler.Trigger(name='history_no_delete', sql=cc_rules.models.guards.SealedTriggerSql(condition="WHEN (current_user IS DISTINCT FROM 'cc_rules_archiver'::name)", func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;", hash='b46ffa56c2bf6d23883bb9c18a1e0e89d374ab29', operation='DELETE', pgid='pgtrigger_history_no_delete_bc3ef', table='cc_rules_statuschange', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statuschange',
            trigger=pgtrigger.compiler.Trigger(name='history_no_truncate', sql=cc_rules.models.guards.SealedTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME;", hash='3e3be9a3ad620b5efe2cdf7829e9efebcb77e5f2', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_history_no_truncate_fd888', table='cc_rules_statuschange', when='BEFORE')),
        ),
    ]
