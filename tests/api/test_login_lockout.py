"""Login lockout (issue 15, items 2 and 6; django-axes, settings ``AXES_*``): after
``CC_LOGIN_FAILURE_LIMIT`` wrong passwords for one username from one address, that address is
refused for that username, even with the right password, until the cool-off ends; the real user
at another address is not locked out; every failure is recorded (admin: "Axes")."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import PASSWORD, a_user, an_agent

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/?next=/admin/"
TOKEN = "/api/v1/auth/token/"
ATTACKER, HOME = "203.0.113.7", "198.51.100.20"
LIMIT = 3


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def admin_login(username: str, password: str, ip: str):
    return Client().post(ADMIN_LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def api_login(username: str, password: str, ip: str):
    body = {"username": username, "password": password}
    return APIClient().post(TOKEN, body, format="json", REMOTE_ADDR=ip)


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_the_admin_login_locks_an_address_out_after_the_limit_but_not_the_real_user():
    a_user("root", is_staff=True, is_superuser=True)
    for _ in range(LIMIT - 1):
        response = admin_login("root", "guess", ATTACKER)
        assert response.status_code == 200  # the form again, with its error
    assert admin_login("root", "guess", ATTACKER).status_code == 429  # the limit: locked
    refused = admin_login("root", PASSWORD, ATTACKER)  # the right password, too late
    assert refused.status_code == 429
    assert "sessionid" not in refused.cookies
    assert _logged_in(admin_login("root", PASSWORD, HOME))  # the real root, elsewhere

    recorded = AccessAttempt.objects.get(username="root", ip_address=ATTACKER)
    assert recorded.failures_since_start >= LIMIT
    assert AccessFailureLog.objects.filter(username="root", ip_address=ATTACKER).count() >= LIMIT
    assert AccessFailureLog.objects.filter(locked_out=True).exists()

    # Audited: the attempts are on the admin's django-axes pages.
    audit = Client()
    audit.force_login(a_user("auditor", is_staff=True, is_superuser=True))
    for page in ("accessattempt", "accessfailurelog"):
        response = audit.get(f"/admin/axes/{page}/")
        assert response.status_code == 200
        assert ATTACKER in response.content.decode()


def test_the_admin_lockout_ends_with_the_cool_off():
    a_user("root", is_staff=True, is_superuser=True)
    for _ in range(LIMIT):
        admin_login("root", "guess", ATTACKER)
    assert admin_login("root", PASSWORD, ATTACKER).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert admin_login("root", PASSWORD, ATTACKER).status_code == 429  # still cooling
    # Each refused try started the cool-off again: 15 minutes after the last one it is over.
    with time_machine.travel(timezone.now() + timedelta(minutes=14 + 15, seconds=5)):
        assert _logged_in(admin_login("root", PASSWORD, ATTACKER))


def test_the_api_login_locks_an_address_and_username_pair_with_retry_after():
    an_agent("alice")
    an_agent("bob")
    for _ in range(LIMIT - 1):
        assert api_login("alice", "guess", ATTACKER).status_code == 400
    locked = api_login("alice", "guess", ATTACKER)
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_locked"
    assert set(locked.json()) == {"code", "detail", "rule"}
    refused = api_login("alice", PASSWORD, ATTACKER)
    assert refused.status_code == 429
    assert refused.json()["code"] == "login_locked"
    assert 60 * 14 < int(refused["Retry-After"]) <= 60 * 15
    # Not the user: alice elsewhere, and bob from the attacker's address, log in.
    assert api_login("alice", PASSWORD, HOME).status_code == 200
    assert api_login("bob", PASSWORD, ATTACKER).status_code == 200
    assert AccessAttempt.objects.filter(username="alice", ip_address=ATTACKER).exists()
    assert not AccessAttempt.objects.filter(ip_address=HOME).exists()


def test_many_addresses_guessing_one_name_do_not_lock_the_real_user_out(settings):
    """Issue 15, item 6: ten wrong passwords from anywhere locked alice out for a minute."""
    an_agent("alice")
    for n in range(10):
        assert api_login("alice", "guess", f"10.20.0.{n}").status_code == 400
    assert api_login("alice", PASSWORD, HOME).status_code == 200


def test_the_api_lockout_ends_with_the_cool_off():
    an_agent("alice")
    for _ in range(LIMIT):
        api_login("alice", "guess", ATTACKER)
    assert api_login("alice", PASSWORD, ATTACKER).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=5)):
        response = api_login("alice", PASSWORD, ATTACKER)
        assert response.status_code == 200, response.content
        assert response.json()["token"]


def test_failures_below_the_limit_do_not_lock():
    an_agent("alice")
    for _ in range(LIMIT - 1):
        assert api_login("alice", "guess", ATTACKER).status_code == 400
    assert api_login("alice", PASSWORD, ATTACKER).status_code == 200
