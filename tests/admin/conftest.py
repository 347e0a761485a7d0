"""Admin test fixtures.

``demo`` shadows the shared fixture: pytest-django runs tests with ``DEBUG`` off and
``seed_demo`` rightly refuses to run then, so DEBUG is on only while seeding; the admin is
tested with DEBUG off, as in production.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings


@pytest.fixture
def demo(db):
    """The demo configuration and users of fixtures/demo.json."""
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--quiet")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The demo creates nine users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
