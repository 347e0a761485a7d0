"""API tokens (issue 15, item 3; cc_rules/models/tokens.py, cc_rules/api/token_views.py):
per device, expiring, hashed at rest, listed and revoked by their user and by an admin, revoked
on password change and deactivation; ``Bearer`` accepted beside ``Token``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from cc_rules.models import ApiToken
from tests.factories import PASSWORD, a_compliance_officer, a_user, an_agent

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"


def login(username: str, device: str = "", ip: str = "10.9.0.1") -> dict:
    body = {"username": username, "password": PASSWORD}
    if device:
        body["device"] = device
    response = APIClient().post(LOGIN, body, format="json", REMOTE_ADDR=ip)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _refused(response, code: str = "not_authenticated") -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"]


def test_login_issues_an_expiring_device_token_stored_only_as_a_digest(settings):
    settings.CC_TOKEN_TTL_HOURS = 8
    an_agent("alice")
    body = login("alice", device="headset-pc")
    assert set(body) == {"token", "id", "device", "expires"}
    assert body["device"] == "headset-pc"
    expires = parse_datetime(body["expires"])
    assert abs(expires - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)

    row = ApiToken.objects.get(pk=body["id"])
    assert row.digest == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"][:8] == row.prefix
    stored = {str(v) for v in ApiToken.objects.values_list(*[f.attname for f in row._meta.fields])}
    assert not any(body["token"] in value for value in stored)  # the secret is nowhere at rest

    for scheme in ("Token", "Bearer", "bearer"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {body['token']}")
        assert client.get("/api/v1/me/").status_code == 200, scheme
    _refused(bearer(row.digest).get("/api/v1/me/"))  # the digest is not a credential
    for header in ("Bearer", "Bearer a b", "Token \xff"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        _refused(client.get("/api/v1/me/"))


def test_each_login_is_its_own_token_listed_without_its_secret():
    an_agent("alice")
    an_agent("bob")
    phone, laptop = login("alice", "phone"), login("alice", "laptop")
    login("bob", "desk")
    response = bearer(phone["token"]).get(TOKENS)
    assert response.status_code == 200
    listed = response.json()["results"]
    assert {t["id"] for t in listed} == {phone["id"], laptop["id"]}  # not bob's
    assert {t["device"]: t["current"] for t in listed} == {"phone": True, "laptop": False}
    for token in listed:
        assert set(token) == {"id", "device", "prefix", "created", "expires", "current"}
    assert phone["token"] not in response.content.decode()
    assert laptop["token"] not in response.content.decode()


def test_logout_revokes_only_the_token_in_use():
    an_agent("alice")
    phone, laptop = login("alice", "phone"), login("alice", "laptop")
    assert bearer(phone["token"]).delete(LOGIN).status_code == 204
    _refused(bearer(phone["token"]).get("/api/v1/me/"))
    _refused(bearer(phone["token"]).delete(LOGIN))
    assert bearer(laptop["token"]).get("/api/v1/me/").status_code == 200
    assert not ApiToken.objects.filter(pk=phone["id"]).exists()


def test_a_user_revokes_one_of_their_tokens_by_id_and_nobody_elses():
    an_agent("alice")
    an_agent("bob")
    phone, laptop = login("alice", "phone"), login("alice", "laptop")
    bob = login("bob")
    missing = bearer(bob["token"]).delete(f"{TOKENS}{laptop['id']}/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert bearer(laptop["token"]).get("/api/v1/me/").status_code == 200

    assert bearer(phone["token"]).delete(f"{TOKENS}{laptop['id']}/").status_code == 204
    _refused(bearer(laptop["token"]).get("/api/v1/me/"))
    assert bearer(phone["token"]).get("/api/v1/me/").status_code == 200
    assert bearer(phone["token"]).delete(f"{TOKENS}{laptop['id']}/").status_code == 404


def test_an_expired_token_is_refused_with_its_own_code_and_not_listed(settings):
    settings.CC_TOKEN_TTL_HOURS = 2
    an_agent("alice")
    old = login("alice", "old")
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=59)):
        assert bearer(old["token"]).get("/api/v1/me/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        _refused(bearer(old["token"]).get("/api/v1/me/"), "token_expired")
        fresh = login("alice", "new")  # a new login drops the expired row
        assert not ApiToken.objects.filter(pk=old["id"]).exists()
        listed = bearer(fresh["token"]).get(TOKENS).json()["results"]
        assert [t["device"] for t in listed] == ["new"]


def test_a_password_change_revokes_every_token_of_the_user():
    alice = an_agent("alice")
    an_agent("bob")
    phone, laptop = login("alice", "phone"), login("alice", "laptop")
    bob = login("bob")
    user = get_user_model().objects.get(pk=alice.user_id)
    user.set_password("a-new-password")
    user.save()
    for token in (phone, laptop):
        _refused(bearer(token["token"]).get("/api/v1/me/"))
    assert bearer(bob["token"]).get("/api/v1/me/").status_code == 200
    # Saving the user without touching the password keeps new tokens.
    fresh = APIClient().post(
        LOGIN, {"username": "alice", "password": "a-new-password"}, format="json"
    )
    user.first_name = "Alicia"
    user.save()
    assert bearer(fresh.json()["token"]).get("/api/v1/me/").status_code == 200


class FewIterations(PBKDF2PasswordHasher):
    iterations = 2


def test_a_hasher_upgrade_on_login_is_not_a_password_change(settings):
    """check_password re-hashes a hash made with fewer iterations than today's and saves
    ``password`` alone: the password is the same, so the user's tokens stay."""
    settings.PASSWORD_HASHERS = [f"{__name__}.FewIterations"]
    alice = an_agent("alice")
    User = get_user_model()
    older = FewIterations().encode(PASSWORD, "somesalt", iterations=1)
    User.objects.filter(pk=alice.user_id).update(password=older)
    phone = login("alice", "phone")  # upgrades the stored hash to 2 iterations
    assert User.objects.get(pk=alice.user_id).password.startswith("pbkdf2_sha256$2$")
    laptop = login("alice", "laptop")
    for token in (phone, laptop):
        assert bearer(token["token"]).get("/api/v1/me/").status_code == 200


def test_deactivating_a_user_without_an_agent_revokes_their_tokens():
    cora = a_compliance_officer("cora")
    token = login("cora")
    assert bearer(token["token"]).get("/api/v1/audit/verify/").status_code == 200
    cora.is_active = False
    cora.save()
    assert not ApiToken.objects.filter(user=cora).exists()
    _refused(bearer(token["token"]).get("/api/v1/audit/verify/"))


def test_an_admin_lists_tokens_and_revokes_them_with_the_action(client):
    an_agent("alice")
    phone, laptop = login("alice", "phone"), login("alice", "laptop")
    client.force_login(a_user("root", is_staff=True, is_superuser=True))
    page = client.get("/admin/cc_rules/apitoken/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "phone" in text
    assert "laptop" in text
    assert phone["token"] not in text
    assert client.get(f"/admin/cc_rules/apitoken/{phone['id']}/change/").status_code == 200
    assert client.get("/admin/cc_rules/apitoken/add/").status_code == 403
    response = client.post(
        "/admin/cc_rules/apitoken/",
        {"action": "revoke", "_selected_action": [phone["id"]]},
    )
    assert response.status_code == 302
    _refused(bearer(phone["token"]).get("/api/v1/me/"))
    assert bearer(laptop["token"]).get("/api/v1/me/").status_code == 200


def test_a_supervisor_cannot_see_the_tokens_in_the_admin(client):
    client.force_login(a_user("sam", is_staff=True, groups=["supervisor"]))
    assert client.get("/admin/cc_rules/apitoken/").status_code == 403
