"""Shared fixtures. Tests run on PostgreSQL when DATABASE_URL points at it (CI), else SQLite.

Tests marked ``postgres`` need PostgreSQL features (row locks with real parallel writers,
triggers, ``SKIP LOCKED``) and are skipped on SQLite with a reason that says so; CI runs on
PostgreSQL and fails the run if anything is skipped.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from rest_framework.test import APIClient

from cc_rules import selectors
from cc_rules.models import Channel, RulesVersion
from cc_rules.reference_data import ensure_reference_data
from tests.factories import token_for

# Metrics in multiprocess mode (cc_rules/metrics.py), as under `serve`: this process and the
# Celery processes the worker tests start (they inherit the environment) write to one fresh
# directory, and GET /metrics adds them up. Set before any metric is first used.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cc-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

PG_ONLY = (
    "needs PostgreSQL (set DATABASE_URL=postgres://…): SQLite has no row locks for parallel "
    "writers, no triggers from django-pgtrigger and no SKIP LOCKED"
)


def pytest_collection_modifyitems(config, items):
    if settings.IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason=PG_ONLY)
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    selectors.clear_cache()
    yield
    selectors.clear_cache()


def _uses_db(request) -> bool:
    names = request.fixturenames
    return request.node.get_closest_marker("django_db") is not None or any(
        f in names for f in ("db", "transactional_db", "live_server")
    )


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    return bool(marker and marker.kwargs.get("transaction")) or any(
        f in names for f in ("transactional_db", "live_server")
    )


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Channels exist in every database test (a transactional test's flush removes them)."""
    if not _uses_db(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # the database is set up first
    ensure_reference_data(Channel, RulesVersion)
    if settings.IS_POSTGRES:
        with connection.cursor() as cursor:  # never run a test with history protection lifted
            cursor.execute("RESET session_replication_role")
    yield


@pytest.fixture(autouse=True)
def _allow_flush_of_protected_history(request, _reference_data):
    """Let a transactional test's final flush TRUNCATE the protected history table.

    Test-only: the history triggers let rows go only inside the archiving function
    (docs/audit.md), and TRUNCATE never; the test database's superuser skips every trigger with
    ``session_replication_role = replica`` just before pytest-django flushes, and it is reset
    at the start of every test so no test runs with protection lifted.
    """
    if not settings.IS_POSTGRES or not _uses_db(request) or not _is_transactional(request):
        yield
        return
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")


@pytest.fixture(autouse=True)
def _audit_dirs(request, settings):
    """Archives and checkpoints of a test go to its own ``tmp_path`` (the same directory the
    test gets when it asks for ``tmp_path``), never to var/."""
    if not _uses_db(request):
        return
    tmp_path = request.getfixturevalue("tmp_path")
    settings.CC_ARCHIVE_DIR = tmp_path
    settings.CC_CHECKPOINT_DIR = tmp_path / "checkpoints"


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed_demo_world() -> None:
    """fixtures/demo.json through ``seed_demo``. pytest-django runs tests with DEBUG off, where
    seed_demo rightly refuses (demo passwords): DEBUG is on only while seeding, and the hasher
    is fast (hashing the demo's nine passwords is not under test)."""
    with override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_HASHERS):
        call_command("seed_demo", "--quiet")


@pytest.fixture
def demo_world(db):
    """The demo configuration and personas (alice, bob, sam, cora, router, …), seeded for this
    test (committed in a ``transaction=True`` test).

    Only for tests that really want the demo: tests of the demo itself, browser tests and the
    schema fuzz. Every other test builds the data it reads (tests/factories.py).
    """
    seed_demo_world()


@pytest.fixture(scope="module")
def demo_world_module(django_db_setup, django_db_blocker):
    """``demo_world`` seeded once for a module of non-transactional tests (~700 queries saved
    per test).

    Seeded inside a module-wide transaction that is rolled back when the module ends; each test
    runs in a savepoint inside it (pytest-django's ``db``), as Django's
    ``TestCase.setUpTestData`` does. Never use it in a module with ``transaction=True`` tests.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            ensure_reference_data(Channel, RulesVersion)
            seed_demo_world()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests create users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def api():
    """``api("alice")``: an API client authenticated with that user's token."""

    def make(username: str | None = None) -> APIClient:
        client = APIClient()
        if username is not None:
            user = get_user_model().objects.get(username=username)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return client

    return make


# --- CC_FAIL_ON_SKIP: CI runs on PostgreSQL where nothing may be skipped ---------------------


def _fail_on_skip() -> bool:
    import os  # imported here: this block is appended to the file, not woven into its top

    return os.environ.get("CC_FAIL_ON_SKIP") == "1"


def _skipped_reports(config) -> list:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session, exitstatus):
    """Turn a green run with skips into a failure (``runtests --no-skips``, CI).

    A skip in CI means a capability went untested on the database it ships on, which a green
    tick would hide. Only the controlling process decides (xdist workers report to it).
    """
    if _fail_on_skip() and exitstatus == 0 and _skipped_reports(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Name every skipped test and why, so the failure above is actionable."""
    skipped = _skipped_reports(config)
    if not (_fail_on_skip() and skipped):
        return
    terminalreporter.section("skipped tests fail this run (CC_FAIL_ON_SKIP=1)", red=True)
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        terminalreporter.write_line(f"SKIPPED {report.nodeid}: {reason}", red=True)
