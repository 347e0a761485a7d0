"""The world the authorization, bad-input and schema tests start from: a small cast built with
factories (``build_cast``), then alice busy with work in every shape (``build_state``)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from cc_rules.models import AgentChannelState, ApiToken, Contact, Interaction
from tests.factories import (
    BLENDED,
    REASONS,
    VOICE_ONLY,
    WorkbinFactory,
    a_compliance_officer,
    a_contact,
    a_role,
    a_router,
    a_supervisor,
    a_team,
    a_user,
    an_agent,
    reason_codes,
    token_for,
)

PASSWORD = "demo"  # every member of the cast logs in with it (POST /auth/token/)


def _ok(response, *codes: int) -> dict:
    assert response.status_code in codes, (response.status_code, response.content)
    return response.json()


def client_for(username: str | None) -> APIClient:
    """An API client with ``username``'s token; ``None``: anonymous."""
    client = APIClient()
    if username is None:
        return client
    user = get_user_model().objects.get(username=username)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def build_cast() -> None:
    """alice and sam (blended: voice, e-mail, chat, IM; pending on; sam is also a supervisor),
    bob and olga (voice_only: voice and IM), cora (compliance), the router, admin (a
    superuser), sue (a supervisor, not an agent); two teams: ``front`` (alice and bob,
    supervised by sam) and ``back`` (olga, supervised by sue); the global reason codes, two
    workbins and one contact with two phones and two e-mails."""
    reason_codes(*REASONS)
    WorkbinFactory(name="follow-up")
    WorkbinFactory(name="escalations")
    blended = a_role("blended", **BLENDED)
    voice_only = a_role("voice_only", **VOICE_ONLY)
    alice = an_agent("alice", role=blended, extension="1001", password=PASSWORD)
    bob = an_agent("bob", role=voice_only, extension="1002", password=PASSWORD)
    olga = an_agent("olga", role=voice_only, extension="1003", password=PASSWORD)
    sam = an_agent(
        "sam",
        role=blended,
        extension="1009",
        groups=["supervisor"],
        is_staff=True,
        password=PASSWORD,
    )
    a_team("front", agents=[alice, bob], supervisors=[sam.user])
    a_team("back", agents=[olga], supervisors=[a_supervisor("sue", password=PASSWORD)])
    a_compliance_officer("cora", password=PASSWORD)
    a_router("router", password=PASSWORD)
    a_user("admin", is_superuser=True, is_staff=True, password=PASSWORD)
    a_contact(
        "Jonas Weber",
        phones=["+4930123456", "+4915112345678"],
        emails=["jonas.weber@example.com", "j.weber@example.org"],
    )


def build_state() -> dict[str, int]:
    """Through the API: alice logged in on voice, e-mail and chat (ready), bob, olga and sam
    logged in (sam ready on chat). Returns ids: ``offered`` (chat), ``active`` (chat), ``ended``
    (e-mail, not done), ``done`` (e-mail), ``acw`` (the voice call whose wrap-up is running),
    ``contact``, ``token`` (the id of a second API token of alice's, her "laptop"),
    ``audit_job`` (cora's export job, queued).
    """
    alice, router = client_for("alice"), client_for("router")
    contact = Contact.objects.order_by("pk").first().pk

    def status(client, channel, body):
        _ok(client.put(f"/api/v1/me/channels/{channel}/status/", body, format="json"), 200)

    def offer(channel):
        body = {"channel": channel, "direction": "inbound", "agent": "alice", "contact": contact}
        return _ok(router.post("/api/v1/interactions/", body, format="json"), 201)["id"]

    def act(pk, action, body=None):
        _ok(alice.post(f"/api/v1/interactions/{pk}/{action}/", body or {}, format="json"), 200)

    for username in ("alice", "bob", "olga", "sam"):
        _ok(client_for(username).post("/api/v1/me/login/", {}, format="json"), 200)
    for channel in ("voice", "email", "chat"):
        status(alice, channel, {"status": "ready"})
    status(client_for("sam"), "chat", {"status": "ready"})
    ids = {"contact": contact}
    ids["acw"] = offer("voice")
    act(ids["acw"], "accept")
    act(ids["acw"], "end", {"how": "hangup"})  # voice → after-call work (15 s, extendable)
    ids["done"] = offer("email")
    act(ids["done"], "accept")
    act(ids["done"], "end", {"how": "sent"})
    act(ids["done"], "done")
    ids["ended"] = offer("email")
    act(ids["ended"], "accept")
    act(ids["ended"], "end", {"how": "sent"})
    ids["active"] = offer("chat")
    act(ids["active"], "accept")
    ids["offered"] = offer("chat")
    # An export job cora asked for (queued: no worker runs in these tests).
    job = client_for("cora").post("/api/v1/audit/status-changes/jobs/", {}, format="json")
    ids["audit_job"] = _ok(job, 202)["id"]
    # Deadlines far ahead: an offer or a wrap-up must not expire while the module runs.
    later = timezone.now() + timedelta(days=1)
    Interaction.objects.filter(state="offered").update(offer_deadline=later)
    AgentChannelState.objects.filter(wrap_up_deadline__isnull=False).update(wrap_up_deadline=later)
    laptop, _ = ApiToken.issue(get_user_model().objects.get(username="alice"), device="laptop")
    ids["token"] = laptop.pk
    return ids
