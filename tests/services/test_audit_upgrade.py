"""Migration 0006 re-chains the rows hashed before the key (plain SHA-256) under the HMAC key,
and only as far as each legacy chain verifies: tampering done before the upgrade stays visible,
and rows forged afterwards with the old, unkeyed hash never pass as "legacy"."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from cc_rules.models import Agent, StatusChange
from cc_rules.models.agents import GENESIS_HASH
from cc_rules.services.audit import verify_chain
from cc_rules.services.history import plain_hash, row_fields
from tests.services.test_audit_tamper import AGENTS, ROWS, TriggersOff, append, raw

pytestmark = pytest.mark.django_db

upgrade = importlib.import_module("cc_rules.migrations.0006_history_keyed_chain")


def make_legacy() -> None:
    """Turn every chain into what a pre-0006 database held: plain SHA-256 hashes."""
    for agent in Agent.objects.all():
        prev = GENESIS_HASH
        for row in StatusChange.objects.filter(agent=agent).order_by("seq"):
            row.prev_hash = prev
            prev = plain_hash(row_fields(row))
            raw(
                f"UPDATE {ROWS} SET prev_hash = %s, hash = %s WHERE id = %s",
                [row.prev_hash, prev, row.pk],
            )
        raw(f"UPDATE {AGENTS} SET history_head = %s WHERE id = %s", [prev, agent.pk])


def test_the_upgrade_rechains_legacy_rows_and_keeps_old_tampering_visible():
    from tests.factories import an_agent

    an_agent("alice"), an_agent("bob")
    for i, status in enumerate(["not_ready", "ready", "not_ready"]):
        append("alice", i, status)
        append("bob", i, status)
    bob_second = StatusChange.objects.get(agent__user__username="bob", seq=2)
    with TriggersOff():
        make_legacy()
        raw(f"UPDATE {ROWS} SET reason = 'lunch' WHERE id = %s", [bob_second.pk])  # pre-upgrade
    broken = verify_chain()
    assert not broken.intact  # legacy hashes are not keyed: nothing passes before the upgrade

    with TriggersOff():  # the migration runs between removing and re-adding the triggers
        upgrade.rechain(apps, SimpleNamespace(connection=connection))

    assert verify_chain(Agent.objects.get(user__username="alice").pk).intact
    result = verify_chain()
    assert (result.first_broken, result.seq) == (bob_second.pk, 2)
    # a row appended now with the old unkeyed hash is not "legacy": it is named
    alice = Agent.objects.get(user__username="alice")
    forged = StatusChange(
        seq=4,
        agent=alice,
        channel_id="voice",
        event="status",
        from_status="not_ready",
        to_status="ready",
        cause="agent",
        at=bob_second.at,
        prev_hash=alice.history_head,
    )
    forged.hash = plain_hash(row_fields(forged))
    forged.save()
    Agent.objects.filter(pk=alice.pk).update(history_seq=4, history_head=forged.hash)
    result = verify_chain(alice.pk)
    assert (result.first_broken, result.seq) == (forged.pk, 4)
