"""Rate limits (issue 7; cc_rules/api/throttling.py): login per IP, writes per user except the
router, 429 ``throttled`` with ``Retry-After``, and fail-open without Redis."""

from __future__ import annotations

import time

import pytest

from cc_rules.api import throttling
from cc_rules.models import Interaction

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_world_module")]

TOKEN = "/api/v1/auth/token/"
DND = "/api/v1/me/dnd/"


@pytest.fixture
def rates(settings):
    """``rates(login="3/minute")``: lower a limit for one test, as the environment would."""

    def set_rates(**scoped: str) -> None:
        merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scoped}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged}

    return set_rates


def _login(client, username, password="demo", ip="10.0.0.1"):
    return client.post(
        TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def _assert_throttled(response, *, at_most: int):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert set(body) == {"code", "detail", "rule"}
    assert 1 <= int(response["Retry-After"]) <= at_most


def test_login_is_limited_per_ip(api, rates):
    rates(login="3/minute")
    client = api()
    codes = [_login(client, name).status_code for name in ("alice", "bob", "nobody")]
    assert codes == [200, 200, 400]
    _assert_throttled(_login(client, "erin"), at_most=60)
    assert _login(client, "erin", ip="10.0.0.2").status_code == 200  # another address


def test_login_is_not_limited_per_username_across_addresses(api, rates):
    """Issue 15, item 6: a per-username limit let anyone lock the real user out. Wrong passwords
    are django-axes' business, per address and username (tests/api/test_login_lockout.py)."""
    rates(login="3/minute")
    client = api()
    for n in range(5):
        assert _login(client, "alice", "wrong", ip=f"10.1.0.{n}").status_code == 400
    assert _login(client, "Alice", ip="10.1.0.9").status_code == 400  # no such user: not alice
    assert _login(client, "alice", ip="10.1.0.9").status_code == 200


def test_writes_are_limited_per_user_and_reads_are_not(api, rates):
    rates(user_writes="2/minute")
    alice, bob = api("alice"), api("bob")
    assert alice.put(DND, {"enabled": True}, format="json").status_code == 200
    assert alice.put(DND, {"enabled": False}, format="json").status_code == 200
    _assert_throttled(alice.put(DND, {"enabled": True}, format="json"), at_most=60)
    assert [alice.get("/api/v1/me/").status_code for _ in range(5)] == [200] * 5
    assert bob.put(DND, {"enabled": True}, format="json").status_code == 200


def test_retry_after_is_the_rest_of_the_window(api, rates):
    rates(user_writes="1/second")
    alice = api("alice")
    codes = []
    started = time.monotonic()
    while time.monotonic() - started < 1.2 and 429 not in codes:
        response = alice.put(DND, {"enabled": not codes}, format="json")
        codes.append(response.status_code)
    assert 429 in codes
    assert response["Retry-After"] == "1"


def test_the_router_is_exempt_from_the_write_rate(api, rates):
    rates(user_writes="1/minute")
    router = api("router")
    for channel in ("chat", "email", "voice"):
        api("alice").post("/api/v1/me/login/", {"channels": [channel]}, format="json")
    throttling.reset_all()
    for channel in ("chat", "email", "voice"):
        api("alice").put(
            f"/api/v1/me/channels/{channel}/status/", {"status": "ready"}, format="json"
        )
        throttling.reset_all()
    offers = [
        router.post(
            "/api/v1/interactions/",
            {"channel": "email", "direction": "inbound", "agent": "alice"},
            format="json",
        ).status_code
        for _ in range(3)
    ]
    assert offers == [201, 201, 201]
    assert Interaction.objects.count() == 3


def test_a_redis_that_is_down_lets_requests_through_quickly(api, rates, settings):
    """Fail open: the database is the truth; a limiter that cannot count does not refuse."""
    rates(user_writes="1/minute", login="1/minute")
    settings.CC_THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    alice = api("alice")
    started = time.monotonic()
    codes = [alice.put(DND, {"enabled": n % 2 == 0}, format="json").status_code for n in range(4)]
    codes += [_login(api(), "bob").status_code for _ in range(3)]
    assert codes == [200] * 7
    assert time.monotonic() - started < 5
