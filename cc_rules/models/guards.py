"""Triggers that guard the status ledger and its chain head, with no ``pgtrigger.ignore`` door.

django-pgtrigger wraps every trigger function in a check of the session setting
``pgtrigger.ignore``, which any SQL session may set (``SET pgtrigger.ignore = '{…}'``): for the
ledger that would be a bypass open to every role with DELETE. ``Sealed`` triggers are compiled
from the same template without that check, so only what the trigger's condition allows gets
through (docs/audit.md). They install, migrate and list like any pgtrigger trigger.
"""

from __future__ import annotations

import pgtrigger
from pgtrigger import compiler

# The database role that owns the archiving function (migration 0006): the ledger's DELETE
# trigger lets a row go only when ``current_user`` is this role, i.e. inside that function.
ARCHIVER_ROLE = "cc_rules_archiver"
ARCHIVE_FUNCTION = "cc_rules_archive_history"


class SealedTriggerSql(compiler.UpsertTriggerSql):
    """pgtrigger's installation template (v1) without the ``pgtrigger.ignore`` check."""

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class Sealed:
    """Mixin for a ``pgtrigger.Trigger`` subclass: compile with ``SealedTriggerSql``."""

    def compile(self, model) -> compiler.Trigger:
        compiled = super().compile(model)  # type: ignore[misc]
        return compiler.Trigger(name=compiled.name, sql=SealedTriggerSql(**compiled.sql.kwargs))


class SealedProtect(Sealed, pgtrigger.Protect):
    pass


class SealedTrigger(Sealed, pgtrigger.Trigger):
    pass


# DELETE passes only inside the archiving function (SECURITY DEFINER, owned by ARCHIVER_ROLE).
NOT_ARCHIVER = pgtrigger.Condition(f"current_user IS DISTINCT FROM '{ARCHIVER_ROLE}'::name")

# The chain head on Agent moves only forward, and only to a row of the agent's ledger: the
# row must already be there (rows.append_history inserts it in the same statement, before
# the UPDATE reads it; the sweeper's batch inserts its rows in the statement before).
HEAD_FORWARD_ONLY = """
IF NEW.history_seq <= OLD.history_seq OR NOT EXISTS (
    SELECT 1 FROM cc_rules_statuschange h
    WHERE h.agent_id = NEW.id AND h.seq = NEW.history_seq AND h.hash = NEW.history_head
) THEN
    RAISE EXCEPTION
        'cc_rules: the chain head of agent % may only move forward to a row of its ledger '
        '(seq % -> %)', NEW.id, OLD.history_seq, NEW.history_seq;
END IF;
RETURN NEW;
"""


def archiver_sql(schema: str, grantee: str) -> list[str]:
    """The archiving function and its role's rights (migration 0006; docs/audit.md prints it
    for a DBA to run when the migrating role may not create roles). ``grantee`` may execute
    it: the role ``manage.py archive_history`` connects as."""
    table = f'"{schema}"."cc_rules_statuschange"'
    function = f'"{schema}".{ARCHIVE_FUNCTION}(bigint, bigint, text)'
    return [
        f"""CREATE OR REPLACE FUNCTION "{schema}".{ARCHIVE_FUNCTION}(
    p_agent bigint, p_through_seq bigint, p_head text
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_hash text;
    deleted bigint;
BEGIN
    -- Only a prefix of one agent's chain, ending at the archived head, and never a row of the
    -- last day: whoever may call this cannot cut the recent or the middle of a chain.
    SELECT h.hash INTO found_hash FROM {table} h
     WHERE h.agent_id = p_agent AND h.seq = p_through_seq;
    IF found_hash IS NULL OR found_hash <> p_head THEN
        RAISE EXCEPTION 'cc_rules archive: agent % has no row seq % with the archived hash',
            p_agent, p_through_seq;
    END IF;
    IF EXISTS (SELECT 1 FROM {table} h WHERE h.agent_id = p_agent AND h.seq <= p_through_seq
               AND h.at > clock_timestamp() - interval '1 day') THEN
        RAISE EXCEPTION 'cc_rules archive: rows of the last day are never archived';
    END IF;
    DELETE FROM {table} h WHERE h.agent_id = p_agent AND h.seq <= p_through_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$""",
        f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC",
        f'GRANT EXECUTE ON FUNCTION {function} TO "{grantee}"',
        f'GRANT USAGE ON SCHEMA "{schema}" TO {ARCHIVER_ROLE}',
        f"GRANT SELECT, DELETE ON {table} TO {ARCHIVER_ROLE}",
        f"ALTER FUNCTION {function} OWNER TO {ARCHIVER_ROLE}",
    ]
