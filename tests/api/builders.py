"""Small builders for API tests that make their own world: a role, agents, a router, a contact,
and the few API calls (login, take a chat) every such test starts with. No demo personas."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from cc_rules.models import Agent, Channel, Contact, ContactPoint, Role, Rule
from cc_rules.permissions_setup import AGENT, ROUTER, ensure_groups
from tests.factories import token_for

API = "/api/v1"


def client(username: str) -> APIClient:
    api = APIClient()
    user = get_user_model().objects.get(username=username)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return api


def role(name: str, *, visible=("voice", "email", "chat"), **rules: Any) -> Role:
    """A role seeing ``visible``; ``rules``: role-scope values (a dict for per-channel ones)."""
    made = Role.objects.create(name=name, label=name)
    made.visible_channels.set(Channel.objects.filter(code__in=visible))
    for key, value in rules.items():
        per_channel = value.items() if isinstance(value, dict) else [(None, value)]
        for channel, v in per_channel:
            rule_row("role", key, v, role=made, channel_id=channel)
    return made


def rule_row(scope: str, key: str, value: Any, **target: Any) -> Rule:
    """A rule row, validated as admin validates it."""
    rule = Rule(scope=scope, key=key, value=value, **target)
    rule.full_clean()
    rule.save()
    return rule


def agent(username: str, of_role: Role) -> APIClient:
    """An agent of ``of_role``, logged in on every channel the role sees; their client."""
    groups = ensure_groups()
    user = get_user_model().objects.create_user(username=username, password="x")
    user.groups.set([groups[AGENT]])
    Agent.objects.create(user=user, role=of_role)
    api = client(username)
    assert api.post(f"{API}/me/login/", {}, format="json").status_code == 200
    return api


def router(username: str = "the-router") -> APIClient:
    groups = ensure_groups()
    user = get_user_model().objects.create_user(username=username, password="x")
    user.groups.set([groups[ROUTER]])
    return client(username)


def contact(name: str, *, phones=(), emails=()) -> Contact:
    made = Contact.objects.create(name=name)
    for value in phones:
        ContactPoint.objects.create(contact=made, kind="phone", value=value)
    for value in emails:
        ContactPoint.objects.create(contact=made, kind="email", value=value)
    return made


def post(api: APIClient, path: str, body: dict | None = None):
    return api.post(f"{API}{path}", body or {}, format="json")


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.json())
    return response.json()


def ready(api: APIClient, channel: str) -> None:
    ok(api.put(f"{API}/me/channels/{channel}/status/", {"status": "ready"}, format="json"))


def take(the_router: APIClient, api: APIClient, username: str, channel: str, who: Contact) -> dict:
    """The router offers ``channel`` work from ``who`` to ``username``, who accepts it."""
    body = {"channel": channel, "direction": "inbound", "agent": username, "contact": who.pk}
    offered = ok(post(the_router, "/interactions/", body), 201)
    return ok(post(api, f"/interactions/{offered['id']}/accept/"))


def refused(response, code: str, rule: str | None) -> dict:
    """A 409 with ``code``; ``rule``: the prefix the rule names, or None for no rule."""
    body = response.json()
    assert (response.status_code, body["code"]) == (409, code), body
    if rule is None:
        assert body["rule"] is None, body
    else:
        assert (body["rule"] or "").startswith(rule), body
    return body
