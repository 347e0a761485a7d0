"""``demo`` seeded once per module and rolled back after it (a faster conftest ``demo``).

conftest's ``demo`` runs ``seed_demo`` (~700 queries) before every test. Like Django's
``TestCase.setUpTestData``, this one seeds once per module inside an outer transaction; each
test's own transaction (pytest-django's ``db``) is a savepoint inside it, rolled back after the
test, and the outer one is rolled back when the module ends. Nothing is ever committed, so the
data is the same fixtures/demo.json for every test. ``DEBUG`` is on only while seeding
(``seed_demo`` refuses otherwise), and the hasher is fast (conftest's autouse hasher fixture is
function-scoped, too late for a module-scoped seed).

Use: ``from tests.demo_seed import demo, demo_module`` in a test module. Not for
``transaction=True`` tests, which commit and flush.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def demo_module(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_HASHERS):
                call_command("seed_demo", "--quiet")
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(demo_module, db):
    """The demo configuration and users of fixtures/demo.json."""
