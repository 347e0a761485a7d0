"""R16: the ledger cannot be altered in place, tampering behind the triggers is found, and
archiving moves old rows into a verified file without breaking the chain."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from cc_rules.management.commands.verify_history import Command as VerifyHistory
from cc_rules.models import Agent, StatusChange
from cc_rules.services.audit import verify_chain
from cc_rules.services.audit_archive import ArchiveError, archive_heads, read_archive
from cc_rules.services.history import Ctx, keyed_hash
from cc_rules.services.ledger import record
from tests.factories import a_compliance_officer, an_agent, client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TABLE = StatusChange._meta.db_table


def append(
    username: str, at: datetime, to_status: str, channel: str = "voice", **kw
) -> StatusChange:
    """One status row for ``username`` at ``at``, under the agent's row lock like a service."""
    agent = Agent.objects.select_for_update().get(user__username=username)
    last = (
        StatusChange.objects.filter(agent=agent, channel_id=channel, event="status")
        .order_by("-seq")
        .values_list("to_status", flat=True)
        .first()
    )
    return record(
        agent,
        Ctx(actor=None, request_id=kw.pop("request_id", "req-1"), now=at),
        event="status",
        channel=channel,
        from_status=last or "logged_off",
        to_status=to_status,
        reason=kw.pop("reason", "login" if to_status == "not_ready" else None),
        cause=kw.pop("cause", "agent"),
        rule=kw.pop("rule", "R2"),
    )


@pytest.fixture
def alice_and_bob():
    """Two agents with empty ledgers; nobody else has any history."""
    return an_agent("alice"), an_agent("bob")


@pytest.fixture
def ledger(alice_and_bob):
    """Five rows for alice and three for bob, a minute apart."""
    rows = []
    for i, status in enumerate(["not_ready", "ready", "not_ready", "ready", "after_call_work"]):
        rows.append(append("alice", T0 + timedelta(minutes=i), status))
    for i, status in enumerate(["not_ready", "ready", "logged_off"]):
        rows.append(append("bob", T0 + timedelta(minutes=i, seconds=30), status))
    return rows


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


class TriggersOff:
    """Tamper the way an attacker with table-owner rights would: triggers off, then back on."""

    def __enter__(self) -> None:
        # Django's foreign keys are deferred: fire their checks now, or PostgreSQL refuses to
        # alter a table with pending trigger events inside the test's transaction.
        raw("SET CONSTRAINTS ALL IMMEDIATE")
        raw(f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL")

    def __exit__(self, *exc: object) -> None:
        raw(f"ALTER TABLE {TABLE} ENABLE TRIGGER ALL")
        raw("SET CONSTRAINTS ALL DEFERRED")


def test_it_reports_an_untouched_ledger_intact(ledger, capsys):
    result = verify_chain()
    assert result.intact
    assert result.first_broken is None
    assert result.rows_checked == 8
    call_command("verify_history")
    assert "History intact: 8 rows checked." in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"UPDATE {TABLE} SET reason = 'edited' WHERE id = %s", "Cannot update rows"),
        (f"DELETE FROM {TABLE} WHERE id = %s", "Cannot delete rows"),
        (f"TRUNCATE {TABLE} CASCADE", "Cannot truncate"),
    ],
)
def test_it_refuses_update_delete_and_truncate_in_sql(ledger, sql, message):
    target = ledger[2]
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending (deferred) FK checks
    with pytest.raises(DatabaseError, match=message), transaction.atomic():
        raw(sql, [target.pk] if "%s" in sql else None)
    target.refresh_from_db()
    assert target.reason == "login"
    assert StatusChange.objects.count() == 8


@pytest.mark.postgres
def test_it_refuses_update_even_while_archiving_is_on(ledger):
    # The bypass lets rows *leave* (DELETE/TRUNCATE); nothing ever edits a row in place.
    with transaction.atomic():
        raw("SET LOCAL cc_rules.archiving = 'on'")
        with pytest.raises(DatabaseError, match="Cannot update rows"), transaction.atomic():
            raw(f"UPDATE {TABLE} SET reason = 'edited' WHERE id = %s", [ledger[0].pk])


@pytest.mark.postgres
def test_verify_history_names_a_row_altered_behind_the_triggers(ledger, capsys, monkeypatch):
    target = ledger[2]
    with TriggersOff():
        raw(f"UPDATE {TABLE} SET reason = 'lunch' WHERE id = %s", [target.pk])
    # the triggers are back: the ledger is protected again
    with pytest.raises(DatabaseError), transaction.atomic():
        raw(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [target.pk])

    with pytest.raises(CommandError) as caught:
        call_command("verify_history")
    assert caught.value.returncode == 1
    assert f"row id={target.pk} (agent alice, seq 3)" in str(caught.value)
    assert "altered" in str(caught.value)

    # as from the shell: exit status 1 and the row named on stderr (run_from_argv closes
    # every connection when done, which would end this test's transaction)
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        VerifyHistory().run_from_argv(["manage.py", "verify_history"])
    assert exited.value.code == 1
    assert f"row id={target.pk}" in capsys.readouterr().err

    body = client_for(a_compliance_officer()).get("/api/v1/audit/verify/").json()
    assert body["intact"] is False
    assert body["first_broken"] == target.pk
    assert body["rows_checked"] == 3


@pytest.mark.postgres
def test_verify_finds_a_row_whose_hash_was_recomputed_by_the_next_link(ledger):
    # A careful forger also rewrites the hash; the next row's prev_hash no longer matches.
    target = ledger[1]
    with TriggersOff():
        raw(f"UPDATE {TABLE} SET to_status = 'not_ready' WHERE id = %s", [target.pk])
        target.refresh_from_db()
        from cc_rules.services.history import row_hash

        raw(f"UPDATE {TABLE} SET hash = %s WHERE id = %s", [row_hash(target), target.pk])
    result = verify_chain()
    assert not result.intact
    assert result.first_broken == ledger[2].pk
    assert "prev_hash" in result.problem


@pytest.mark.postgres
def test_verify_finds_a_deleted_row_and_a_cut_tail(ledger):
    with TriggersOff():
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [ledger[6].pk])  # bob's seq 2
    result = verify_chain()
    assert (result.intact, result.first_broken, result.seq) == (False, ledger[7].pk, 3)
    assert "follows seq 1" in result.problem

    with TriggersOff():
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [ledger[4].pk])  # alice's last row
    result = verify_chain(ledger[0].agent_id)
    assert (result.intact, result.first_broken) == (False, ledger[3].pk)
    assert "head is seq 5" in result.problem


def test_it_archives_old_rows_into_a_verified_file_and_verify_stays_intact(alice_and_bob, tmp_path):
    now = datetime.now(UTC)
    old = [
        append("alice", now - timedelta(days=800, minutes=10 - i), s)
        for i, s in enumerate(["not_ready", "ready", "not_ready"])
    ]
    old += [append("bob", now - timedelta(days=750), "not_ready")]
    recent = [
        append("alice", now - timedelta(days=3), "ready"),
        append("bob", now - timedelta(days=1), "ready"),
    ]

    call_command("archive_history", "--out", str(tmp_path))  # default retention: 730 days

    assert list(StatusChange.objects.order_by("id")) == recent
    (manifest_path,) = tmp_path.glob("*.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    data = (tmp_path / manifest["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    rows = [line for line in lines if line["kind"] == "row"]
    assert [r["id"] for r in rows] == [r.pk for r in old]
    assert manifest["rows"] == 4
    for line, row in zip(rows, old, strict=True):
        assert line["hash"] == row.hash
        assert keyed_hash(line["fields"]) == row.hash  # HMAC-SHA256 under CC_HISTORY_KEY
    heads = {h["username"]: (h["seq"], h["hash"]) for h in lines if h["kind"] == "head"}
    assert heads == {"alice": (3, old[2].hash), "bob": (1, old[3].hash)}
    assert recent[0].prev_hash == old[2].hash  # the remaining chain continues the head

    assert verify_chain().intact
    call_command("verify_history")
    call_command("verify_history", "--archives", str(tmp_path))
    assert archive_heads(tmp_path) == {
        old[2].agent_id: (3, old[2].hash),
        old[3].agent_id: (1, old[3].hash),
    }


@pytest.mark.postgres
def test_archiving_lifts_protection_only_for_its_own_delete(alice_and_bob, tmp_path):
    now = datetime.now(UTC)
    append("alice", now - timedelta(days=800), "not_ready")
    keep = append("alice", now - timedelta(days=1), "ready")
    call_command(
        "archive_history",
        "--out",
        str(tmp_path),
        "--before",
        (now - timedelta(days=30)).date().isoformat(),
    )
    assert list(StatusChange.objects.all()) == [keep]
    with pytest.raises(DatabaseError, match="Cannot delete rows"), transaction.atomic():
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [keep.pk])


def test_a_forged_archive_head_is_reported(alice_and_bob, tmp_path):
    now = datetime.now(UTC)
    append("alice", now - timedelta(days=800), "not_ready")
    append("alice", now - timedelta(days=799), "ready")
    append("alice", now - timedelta(days=1), "not_ready")
    call_command("archive_history", "--out", str(tmp_path))
    (manifest_path,) = tmp_path.glob("*.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["heads"][0]["seq"] = 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="heads"):
        read_archive(manifest_path)
    with pytest.raises(CommandError, match="Archive check failed"):
        call_command("verify_history", "--archives", str(tmp_path))


@pytest.mark.postgres
def test_archiving_refuses_a_broken_chain_and_deletes_nothing(ledger, tmp_path):
    with TriggersOff():
        raw(f"UPDATE {TABLE} SET rule = 'forged' WHERE id = %s", [ledger[1].pk])
    with pytest.raises(CommandError, match=f"row {ledger[1].pk}"):
        call_command("archive_history", "--out", str(tmp_path), "--before", "2026-02-01")
    assert StatusChange.objects.count() == 8
    assert list(Path(tmp_path).iterdir()) == []


def test_archiving_refuses_a_cutoff_in_the_future(ledger, tmp_path):
    with pytest.raises(CommandError, match="future"):
        call_command("archive_history", "--out", str(tmp_path), "--before", "2999-01-01")
    assert StatusChange.objects.count() == 8


def test_archiving_with_nothing_old_writes_nothing(ledger, tmp_path, capsys):
    call_command("archive_history", "--out", str(tmp_path), "--before", "2025-01-01")
    assert "nothing to archive" in capsys.readouterr().out
    assert list(Path(tmp_path).iterdir()) == []
    assert StatusChange.objects.count() == 8


def test_a_dry_run_only_counts(ledger, tmp_path, capsys):
    call_command(
        "archive_history", "--out", str(tmp_path), "--before", "2026-01-05T08:02:00Z", "--dry-run"
    )
    assert "4 rows are older than 2026-01-05T08:02:00+00:00" in capsys.readouterr().out
    assert list(Path(tmp_path).iterdir()) == []
    assert StatusChange.objects.count() == 8
