"""Fixtures for API tests.

Throttle counters live in Redis and outlive a test (cc_rules/api/throttling.py); every API test
starts with a fresh budget so one test's requests never make another's fail with 429. Passwords
are hashed with MD5 here: seeding the demo users is otherwise most of an API test's time.
"""

from __future__ import annotations

import contextlib

import pytest
import redis
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from cc_rules.api import throttling
from cc_rules.models import Channel, RulesVersion
from cc_rules.reference_data import ensure_reference_data

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Seeding nine demo users with PBKDF2 costs seconds per test; hashing is not under test."""
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    with contextlib.suppress(redis.RedisError):
        throttling.reset_all()


def _seed() -> None:
    # seed_demo refuses to run with DEBUG off (pytest-django's default): demo passwords.
    with override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_HASHERS):
        call_command("seed_demo", "--quiet")


@pytest.fixture
def demo_data(db):
    """The demo configuration and users (fixtures/demo.json), seeded for this test."""
    _seed()


@pytest.fixture(scope="module")
def demo_module(django_db_setup, django_db_blocker):
    """The demo data seeded once for a module of non-transactional tests.

    Seeded inside a module-wide transaction that is rolled back afterwards; each test runs in a
    savepoint inside it (pytest-django's ``db``), as Django's ``TestCase.setUpTestData`` does.
    Never use it in a module with ``transactional_db`` tests.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            ensure_reference_data(Channel, RulesVersion)
            _seed()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


def db_state() -> dict:
    """Row counts of every cc_rules table (history and rule histories included), plus the live
    columns a refused request might touch in place; equal before/after = nothing changed."""
    from django.apps import apps
    from rest_framework.authtoken.models import Token

    from cc_rules.models import Agent, AgentChannelState, Interaction

    state: dict = {
        model._meta.db_table: model._default_manager.count()
        for model in apps.get_app_config("cc_rules").get_models()
    }
    state["authtoken_token"] = Token.objects.count()
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
def world(demo_module, django_db_blocker):
    """Alice's interactions in every shape (tests/api/world.py), built once per module inside
    ``demo_module``'s transaction: every test sees the same ids and state."""
    from .world import build_state

    with django_db_blocker.unblock():
        return build_state()
