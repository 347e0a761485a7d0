"""The state API tests start from: alice busy with work in every shape (see ``build_state``)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cc_rules.models import AgentChannelState, Contact, Interaction


def _ok(response, *codes: int) -> dict:
    assert response.status_code in codes, (response.status_code, response.content)
    return response.json()


def client_for(username: str | None) -> APIClient:
    """An API client with ``username``'s token; ``None``: anonymous."""
    client = APIClient()
    if username is None:
        return client
    token, _ = Token.objects.get_or_create(user=get_user_model().objects.get(username=username))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def build_state() -> dict[str, int]:
    """Through the API: alice logged in on voice, e-mail and chat (ready), bob and sam logged in
    (sam ready on chat). Returns ids: ``offered`` (chat), ``active`` (chat), ``ended`` (e-mail,
    not done), ``done`` (e-mail), ``acw`` (the voice call whose wrap-up is running), ``contact``.
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

    for username in ("alice", "bob", "sam"):
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
    # Deadlines far ahead: an offer or a wrap-up must not expire while the module runs.
    later = timezone.now() + timedelta(days=1)
    Interaction.objects.filter(state="offered").update(offer_deadline=later)
    AgentChannelState.objects.filter(wrap_up_deadline__isnull=False).update(wrap_up_deadline=later)
    return ids
