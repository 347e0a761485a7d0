"""Fixtures for API tests.

Throttle counters live in Redis and outlive a test (cc_rules/api/throttling.py); every API test
starts with a fresh budget so one test's requests never make another's fail with 429.
"""

from __future__ import annotations

import contextlib

import pytest
import redis
from django.db import transaction
from django.test import override_settings

from cc_rules.api import throttling
from cc_rules.models import Channel, RulesVersion
from cc_rules.reference_data import ensure_reference_data
from tests.conftest import FAST_HASHERS


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    with contextlib.suppress(redis.RedisError):
        throttling.reset_all()


def db_state() -> dict:
    """Row counts of every cc_rules table (history and rule histories included), plus the live
    columns a refused request might touch in place; equal before/after = nothing changed."""
    from django.apps import apps

    from cc_rules.models import Agent, AgentChannelState, Interaction

    state: dict = {
        model._meta.db_table: model._default_manager.count()
        for model in apps.get_app_config("cc_rules").get_models()
    }
    state["live:agents"] = sorted(
        Agent.objects.values_list("pk", "dnd", "forward_to", "is_active", "extension")
    )
    state["live:channels"] = sorted(
        AgentChannelState.objects.values_list(
            "pk", "status", "reason", "pending_status", "pending_reason", "wrap_up_deadline"
        )
    )
    state["live:interactions"] = sorted(
        Interaction.objects.values_list("pk", "state", "agent_id", "ended_at", "done_at")
    )
    return state


@pytest.fixture
def snapshot():
    """``before = snapshot()`` … ``assert snapshot() == before``."""
    return db_state


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The cast (``build_cast``) and alice's interactions in every shape (``build_state``), in
    tests/api/world.py, built once per module inside a transaction rolled back when the module
    ends: every test sees the same ids and state, each in a savepoint of its own. Never use it
    in a module with ``transaction=True`` tests."""
    from .world import build_cast, build_state

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            ensure_reference_data(Channel, RulesVersion)
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
                build_cast()
            ids = build_state()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    yield ids
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)
