"""Issue 15, item 1: every kind of cut in the status ledger is refused or named by verify.

One test per attack the issue lists. Where the database's triggers refuse the attack (on
PostgreSQL), the test shows the refusal, then does it the way only a table owner or superuser
can (triggers off) and shows that ``verify_chain`` (the API and ``verify_history`` too) names
the first broken row or the missing range. The detection tests also run on SQLite, which has no
triggers to switch off.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from cc_rules.models import Agent, StatusChange
from cc_rules.models.guards import ARCHIVE_FUNCTION
from cc_rules.services.audit import verify_chain
from cc_rules.services.checkpoints import latest_checkpoint, write_checkpoint
from cc_rules.services.history import Ctx, plain_hash, row_fields
from cc_rules.services.ledger import record
from tests.factories import a_compliance_officer, an_agent, client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ROWS = StatusChange._meta.db_table
AGENTS = Agent._meta.db_table
PG = pytest.mark.postgres


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


class TriggersOff:
    """What a table owner or superuser can do: the ledger's and the agents' triggers off (a
    no-op on SQLite, which has none)."""

    def __enter__(self) -> None:
        if connection.vendor == "postgresql":
            raw("SET CONSTRAINTS ALL IMMEDIATE")
            raw(f"ALTER TABLE {ROWS} DISABLE TRIGGER ALL")
            raw(f"ALTER TABLE {AGENTS} DISABLE TRIGGER ALL")

    def __exit__(self, *exc: object) -> None:
        if connection.vendor == "postgresql":
            raw(f"ALTER TABLE {ROWS} ENABLE TRIGGER ALL")
            raw(f"ALTER TABLE {AGENTS} ENABLE TRIGGER ALL")
            raw("SET CONSTRAINTS ALL DEFERRED")


def refused(sql: str, params: list | None = None, *, match: str) -> None:
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        raw(sql, params)


def append(username: str, minutes: int, to_status: str) -> StatusChange:
    agent = Agent.objects.select_for_update().get(user__username=username)
    return record(
        agent,
        Ctx(actor=None, request_id="req", now=T0 + timedelta(minutes=minutes)),
        event="status",
        channel="voice",
        from_status="logged_off" if agent.history_seq == 0 else "ready",
        to_status=to_status,
        reason="login" if to_status == "not_ready" else None,
        cause="agent",
        rule="R2",
    )


@pytest.fixture
def ledger():
    """alice: five rows; bob: three rows; carol: an agent with no history."""
    an_agent("alice"), an_agent("bob"), an_agent("carol")
    rows = [append("alice", i, s) for i, s in enumerate(["not_ready", "ready"] * 2 + ["ready"])]
    rows += [append("bob", i, s) for i, s in enumerate(["not_ready", "ready", "ready"])]
    assert verify_chain().intact
    return rows


def alice() -> Agent:
    return Agent.objects.get(user__username="alice")


def api_verify(query: str = "") -> dict:
    return client_for(a_compliance_officer()).get(f"/api/v1/audit/verify/{query}").json()


# 1. BEGIN; SET LOCAL cc_rules.archiving='on'; DELETE …; COMMIT — and all of an agent's rows gone
@PG
def test_the_old_archive_switch_and_pgtrigger_ignore_no_longer_open_the_ledger(ledger):
    with transaction.atomic():
        raw("SET LOCAL cc_rules.archiving = 'on'")
        refused(f"DELETE FROM {ROWS} WHERE agent_id = %s", [alice().pk], match="Cannot delete")
    with transaction.atomic():  # pgtrigger's own escape hatch is closed on these triggers
        raw("SET LOCAL pgtrigger.ignore = '{pgtrigger_history_no_delete_bc3ef}'")
        refused(f"DELETE FROM {ROWS} WHERE agent_id = %s", [alice().pk], match="Cannot delete")
    assert StatusChange.objects.count() == 8
    assert verify_chain().intact


def test_all_rows_of_an_agent_deleted_is_named_by_its_missing_range(ledger, capsys):
    with TriggersOff():
        raw(f"DELETE FROM {ROWS} WHERE agent_id = %s", [alice().pk])
    result = verify_chain()
    assert (result.intact, result.agent_id, result.missing) == (False, alice().pk, (1, 5))
    assert result.first_broken is None
    assert "head is seq 5 but it has no rows" in result.problem
    assert "rows seq 1..5 are missing" in result.problem

    body = api_verify("?agent=alice")
    assert body["intact"] is False
    assert (body["agent"], body["missing_range"], body["rows_checked"]) == ("alice", [1, 5], 0)
    with pytest.raises(CommandError, match=r"agent alice: seq 1\.\.5 missing"):
        call_command("verify_history")


# 2. an agent's oldest rows deleted with no archive file
def test_oldest_rows_deleted_without_an_archive_are_named(ledger):
    with TriggersOff():
        raw(f"DELETE FROM {ROWS} WHERE agent_id = %s AND seq <= 2", [alice().pk])
    result = verify_chain()
    assert (result.intact, result.first_broken, result.seq) == (False, ledger[2].pk, 3)
    assert result.missing == (1, 2)
    assert "rows seq 1..2 are missing and no archive manifest covers them" in result.problem


@PG
def test_the_archive_function_itself_cannot_cut_quietly(ledger):
    # Whoever may execute the archiving function (the archive command's role) can delete a
    # prefix through it; without the archive files verify still names the range.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ARCHIVE_FUNCTION}(%s, 2, %s)", [alice().pk, ledger[1].hash])
        assert cursor.fetchone()[0] == 2
    result = verify_chain()
    assert (result.first_broken, result.missing) == (ledger[2].pk, (1, 2))
    # and it deletes nothing but a prefix ending at a row it is shown, nor today's rows
    with pytest.raises(DatabaseError, match="no row seq 4"), transaction.atomic():
        raw(f"SELECT {ARCHIVE_FUNCTION}(%s, 4, %s)", [alice().pk, "f" * 64])
    fresh = append("bob", 0, "ready")
    fresh_now = StatusChange.objects.filter(pk=fresh.pk)
    with TriggersOff():
        raw(f"UPDATE {ROWS} SET at = now() WHERE id = %s", [fresh.pk])
    with pytest.raises(DatabaseError, match="last day"), transaction.atomic():
        raw(f"SELECT {ARCHIVE_FUNCTION}(%s, %s, %s)", [fresh.agent_id, fresh.seq, fresh.hash])
    assert fresh_now.exists()


# 3. the newest rows deleted and history_head wound back
@PG
def test_deleting_the_newest_rows_and_winding_back_the_head_is_refused(ledger):
    a = alice()
    refused(f"DELETE FROM {ROWS} WHERE agent_id = %s AND seq > 3", [a.pk], match="Cannot delete")
    refused(
        f"UPDATE {AGENTS} SET history_seq = 3, history_head = %s WHERE id = %s",
        [ledger[2].hash, a.pk],
        match="may only move forward",
    )
    refused(  # nor forward to a row that is not there
        f"UPDATE {AGENTS} SET history_seq = 9 WHERE id = %s", [a.pk], match="may only move forward"
    )
    a.refresh_from_db()
    assert (a.history_seq, a.history_head) == (5, ledger[4].hash)
    assert verify_chain().intact


def test_newest_rows_cut_behind_the_triggers_are_named_by_the_head(ledger):
    with TriggersOff():
        raw(f"DELETE FROM {ROWS} WHERE agent_id = %s AND seq > 3", [alice().pk])
    result = verify_chain()
    assert (result.first_broken, result.seq, result.missing) == (ledger[2].pk, 3, (4, 5))
    assert "head is seq 5" in result.problem


# 4. a row edited with triggers off and the chain re-hashed forward without the key
def test_a_row_edited_and_rehashed_forward_without_the_key_is_named(ledger):
    a = alice()
    prev = ledger[0].hash
    with TriggersOff():
        raw(f"UPDATE {ROWS} SET to_status = 'break' WHERE id = %s", [ledger[1].pk])
        for row in StatusChange.objects.filter(agent=a, seq__gte=2).order_by("seq"):
            row.prev_hash = prev
            prev = plain_hash(row_fields(row))  # what the forger can compute: no key
            raw(
                f"UPDATE {ROWS} SET prev_hash = %s, hash = %s WHERE id = %s",
                [row.prev_hash, prev, row.pk],
            )
        raw(f"UPDATE {AGENTS} SET history_head = %s WHERE id = %s", [prev, a.pk])
    result = verify_chain()
    assert (result.intact, result.first_broken, result.seq) == (False, ledger[1].pk, 2)
    assert "under the history key" in result.problem


# 5. a forged row appended by a plain INSERT (the triggers allow INSERT: the one writer appends)
def test_a_forged_row_appended_by_a_plain_insert_is_named(ledger):
    a = alice()
    forged = StatusChange(
        seq=6,
        agent=a,
        channel_id="voice",
        event="status",
        from_status="ready",
        to_status="logged_off",
        cause="agent",
        at=T0 + timedelta(hours=1),
        prev_hash=a.history_head,
    )
    forged.hash = plain_hash(row_fields(forged))
    forged.save()  # a plain INSERT
    result = verify_chain()
    assert (result.first_broken, result.seq) == (forged.pk, 6)
    assert "under the history key" in result.problem

    # moving the head onto it is allowed (the row is there), and verify still names the row
    Agent.objects.filter(pk=a.pk).update(history_seq=6, history_head=forged.hash)
    result = verify_chain()
    assert (result.first_broken, result.seq) == (forged.pk, 6)


def test_a_row_appended_past_the_head_with_the_key_is_named(ledger):
    # Even with the key (the one writer's hash), a row the head never reached is reported.
    a = alice()
    extra = StatusChange(
        seq=6,
        agent=a,
        channel_id="voice",
        event="status",
        from_status="ready",
        to_status="logged_off",
        cause="agent",
        at=T0 + timedelta(hours=1),
        prev_hash=a.history_head,
    )
    from cc_rules.services.history import row_hash

    extra.hash = row_hash(extra)
    extra.save()
    result = verify_chain()
    assert (result.first_broken, result.seq) == (extra.pk, 6)
    assert "past the agent's chain head" in result.problem


# 6. an agent with a head and no rows
def test_an_agent_with_a_head_and_no_rows_is_named(ledger):
    carol = Agent.objects.get(user__username="carol")
    if connection.vendor == "postgresql":
        refused(
            f"UPDATE {AGENTS} SET history_seq = 7 WHERE id = %s",
            [carol.pk],
            match="may only move forward",
        )
    with TriggersOff():
        raw(f"UPDATE {AGENTS} SET history_seq = 7 WHERE id = %s", [carol.pk])
    result = verify_chain()
    assert (result.intact, result.agent_id, result.missing) == (False, carol.pk, (1, 7))
    assert "head is seq 7 but it has no rows" in result.problem
    body = api_verify()
    assert (body["intact"], body["agent"], body["missing_range"]) == (False, "carol", [1, 7])


# 7. a rewind to an older state, consistent in itself, found by a signed checkpoint
def test_a_rewind_is_detected_by_the_signed_checkpoint(ledger, settings, capsys):
    call_command("checkpoint_history")
    assert "Checkpoint of 3 chain heads written" in capsys.readouterr().out
    checkpoint, problem = latest_checkpoint()
    assert problem == ""
    assert checkpoint.heads[alice().pk] == (5, ledger[4].hash)

    a = alice()
    with TriggersOff():  # cut seq 4..5 and wind the head back: the chain is consistent again
        raw(f"DELETE FROM {ROWS} WHERE agent_id = %s AND seq > 3", [a.pk])
        raw(
            f"UPDATE {AGENTS} SET history_seq = 3, history_head = %s WHERE id = %s",
            [ledger[2].hash, a.pk],
        )
    assert verify_chain(checkpoint_dir=settings.CC_CHECKPOINT_DIR / "none").intact  # no checkpoint
    result = verify_chain()
    assert (result.intact, result.agent_id, result.missing) == (False, a.pk, (4, 5))
    assert f"checkpoint {checkpoint.name}" in result.problem
    assert "recorded seq 5" in result.problem
    with pytest.raises(CommandError, match=r"agent alice, seq 3\): .*rows seq 4\.\.5 were cut"):
        call_command("verify_history")


def test_an_edited_checkpoint_is_reported(ledger, settings):
    checkpoint = write_checkpoint()
    body = json.loads(checkpoint.path.read_text())
    body["heads"] = [[pk, 1, h] for pk, _seq, h in body["heads"]]  # "older" heads
    checkpoint.path.write_text(json.dumps(body))
    result = verify_chain()
    assert not result.intact
    assert "signature does not match" in result.problem
    assert checkpoint.name in result.problem


def test_verify_reports_progress_per_chunk(ledger):
    seen: list[int] = []
    assert verify_chain(chunk_size=3, progress=seen.append).intact
    assert seen == [3, 6, 8]


def test_archived_rows_verify_only_against_their_manifests(ledger, tmp_path, settings):
    call_command("archive_history", "--before", "2026-01-05T08:02:30Z")  # to CC_ARCHIVE_DIR
    assert tmp_path == settings.CC_ARCHIVE_DIR
    assert StatusChange.objects.filter(agent=alice()).count() == 2
    assert verify_chain().intact
    manifest = next(tmp_path.glob("*.manifest.json"))
    other = tmp_path / "elsewhere"
    other.mkdir()
    manifest.rename(other / manifest.name)  # the manifest is gone from the archive directory
    result = verify_chain()
    assert result.missing == (1, 3)
    assert result.seq == 4


def test_the_admin_shows_the_checkpoints_and_a_rewind(ledger, client):
    first = write_checkpoint()
    with TriggersOff():
        raw(f"DELETE FROM {ROWS} WHERE agent_id = %s AND seq > 3", [alice().pk])
        raw(
            f"UPDATE {AGENTS} SET history_seq = 3, history_head = %s WHERE id = %s",
            [ledger[2].hash, alice().pk],
        )
    client.force_login(a_compliance_officer())
    page = client.get("/admin/dashboard/integrity/").content.decode()
    assert first.name in page
    assert "valid" in page
    assert "REWOUND: rows seq 4..5 missing" in page

    body = json.loads(first.path.read_text())
    body["heads"][0][1] = 3  # an edited checkpoint is shown as such
    first.path.write_text(json.dumps(body))
    page = client.get("/admin/dashboard/integrity/").content.decode()
    assert "signature does not match" in page


def test_the_beat_task_writes_a_signed_checkpoint(ledger, settings):
    from cc_rules.tasks import checkpoint_history

    name = checkpoint_history()
    checkpoint, problem = latest_checkpoint()
    assert problem == ""
    assert checkpoint.name == name
    assert checkpoint.path.parent == settings.CC_CHECKPOINT_DIR
    assert checkpoint.heads[alice().pk] == (5, ledger[4].hash)
    assert verify_chain().intact


@pytest.mark.django_db(transaction=True)
def test_verify_outside_a_transaction_walks_one_snapshot():
    # As the command and the API run it: its own (REPEATABLE READ, on PostgreSQL) transaction.
    an_agent("alice")
    with transaction.atomic():
        rows = [append("alice", i, s) for i, s in enumerate(["not_ready", "ready", "ready"])]
    assert not connection.in_atomic_block
    assert verify_chain().intact
    with transaction.atomic(), TriggersOff():
        raw(f"DELETE FROM {ROWS} WHERE id = %s", [rows[2].pk])
    result = verify_chain()
    assert (result.first_broken, result.missing) == (rows[1].pk, (3, 3))
