"""Factories and small builders: every test builds the data it reads (STYLE.md, "Tests").

Factories (factory_boy) make one row with sensible defaults; keyword arguments override any
field. The builders below them read better in a test body::

    role = a_role(visible=["voice", "chat"], rules={"channel_cap": {"chat": 2}, "total_cap": 3})
    alice = an_agent("alice", role=role, ready_on=["chat"], rules={"pending_enabled": True})
    router = a_router_client()
    response = client_for(alice).get("/api/v1/me/")

Rule values are written as in fixtures/demo.json: a per-channel rule is ``{channel: value}``,
any other rule its value. Channels themselves are reference data that every database test
already has (tests/conftest.py, ``_reference_data``).

``ready_on`` and ``logged_in`` go through the public status services, so the status history
(R16) of a built agent is the one a real session writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory
from rest_framework.test import APIClient

from cc_rules.engine.rulebook import RULES
from cc_rules.models import (
    Agent,
    AgentChannelState,
    ApiToken,
    Contact,
    ContactPoint,
    Interaction,
    ReasonCode,
    Role,
    Rule,
    Team,
    Workbin,
)
from cc_rules.models.tokens import PREFIX_LENGTH, digest_of
from cc_rules.permissions_setup import AGENT, COMPLIANCE, ROUTER, SUPERVISOR, ensure_groups

PASSWORD = "pw-for-tests"


def _encoded(key: str, value: Any) -> Any:
    definition = RULES[key]
    return definition.encode(definition.parse(value))


def set_rules(rules: dict[str, Any] | None, **target: Any) -> list[Rule]:
    """Rule rows for ``rules`` (demo.json shape) at the scope ``target`` names (role=/agent=)."""
    made = []
    for key, value in (rules or {}).items():
        if RULES[key].per_channel:
            for channel, per_channel in value.items():
                made.append(RuleFactory(key=key, channel_id=channel, value=per_channel, **target))
        else:
            made.append(RuleFactory(key=key, value=value, **target))
    return made


# -- factories ----------------------------------------------------------------------------------
class UserFactory(DjangoModelFactory):
    """A user; ``groups=["router"]`` puts them in the product's groups (created on demand)."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def groups(self, create: bool, names: Iterable[str] | None, **kwargs: Any) -> None:
        if create and names:
            known = ensure_groups()
            self.groups.add(*(known[name] for name in names))


class ReasonCodeFactory(DjangoModelFactory):
    """A Not Ready reason code; global unless ``role`` is given."""

    class Meta:
        model = ReasonCode
        django_get_or_create = ("role", "code")

    code = factory.Sequence(lambda n: f"reason{n}")
    label = factory.LazyAttribute(lambda o: o.code.capitalize())
    role = None


class RoleFactory(DjangoModelFactory):
    """A role. ``visible=["voice", …]`` sets its visible channels (R1); none chosen inherits the
    channels visible by default. ``rules={…}`` adds role-scope rules (demo.json shape)."""

    class Meta:
        model = Role
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"role{n}")
    label = factory.LazyAttribute(lambda o: o.name.replace("_", " ").capitalize())

    @factory.post_generation
    def visible(self, create: bool, channels: Iterable[str] | None, **kwargs: Any) -> None:
        if create and channels is not None:
            self.visible_channels.set(list(channels))

    @factory.post_generation
    def rules(self, create: bool, rules: dict[str, Any] | None, **kwargs: Any) -> None:
        if create:
            set_rules(rules, role=self)


class RuleFactory(DjangoModelFactory):
    """One rule row. The scope follows the target: ``role=`` → role, ``agent=`` → agent, else
    global. ``value`` is validated and encoded by the rulebook, as the admin form does."""

    class Meta:
        model = Rule

    role = None
    agent = None
    scope = factory.LazyAttribute(
        lambda o: "agent" if o.agent is not None else "role" if o.role is not None else "global"
    )
    key = "total_cap"
    channel_id = None
    value = factory.LazyAttribute(lambda o: _encoded(o.key, RULES[o.key].default))

    @classmethod
    def _create(cls, model_class, *args: Any, **kwargs: Any):
        kwargs["value"] = _encoded(kwargs["key"], kwargs["value"])
        return super()._create(model_class, *args, **kwargs)


class AgentFactory(DjangoModelFactory):
    """An agent (in the ``agent`` group) with a role and an extension from 2001 up."""

    class Meta:
        model = Agent
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, groups=[AGENT])
    role = factory.SubFactory(RoleFactory)
    extension = factory.Sequence(lambda n: f"{2001 + n}")

    @factory.post_generation
    def rules(self, create: bool, rules: dict[str, Any] | None, **kwargs: Any) -> None:
        if create:
            set_rules(rules, agent=self)


class AgentChannelStateFactory(DjangoModelFactory):
    """An agent's live row on one channel (default: voice, logged off, since now).

    Written directly: no history row. Use ``an_agent(ready_on=…)`` for a session with history.
    """

    class Meta:
        model = AgentChannelState

    agent = factory.SubFactory(AgentFactory)
    channel_id = "voice"
    status = "logged_off"
    since = factory.LazyFunction(timezone.now)
    idle_since = factory.LazyAttribute(lambda o: o.since if o.status == "ready" else None)


class ContactFactory(DjangoModelFactory):
    """A contact with ``phones=[…]`` and ``emails=[…]`` (one of each by default)."""

    class Meta:
        model = Contact
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Contact {n}")

    @factory.post_generation
    def phones(self, create: bool, values: Iterable[str] | None, **kwargs: Any) -> None:
        if create:
            for value in ["+4930123456"] if values is None else values:
                ContactPoint.objects.create(contact=self, kind="phone", value=value)

    @factory.post_generation
    def emails(self, create: bool, values: Iterable[str] | None, **kwargs: Any) -> None:
        if create:
            default = [f"contact{self.pk}@example.com"]
            for value in default if values is None else values:
                ContactPoint.objects.create(contact=self, kind="email", value=value)


class WorkbinFactory(DjangoModelFactory):
    class Meta:
        model = Workbin
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"bin-{n}")
    label = factory.LazyAttribute(lambda o: o.name.replace("-", " ").capitalize())

    @factory.post_generation
    def channels(self, create: bool, codes: Iterable[str] | None, **kwargs: Any) -> None:
        if create:
            self.channels.set(list(codes) if codes is not None else ["email", "workitem"])


class InteractionFactory(DjangoModelFactory):
    """One interaction, written directly (default: an active inbound chat, created now).

    Written directly, it skips the engine: use it for work the engine would have let in (an
    offer, a party action), and the API (``a_router_client``) to test the admission itself.
    """

    class Meta:
        model = Interaction

    agent = factory.SubFactory(AgentFactory)
    channel_id = "chat"
    direction = "inbound"
    state = "active"
    created_at = factory.LazyFunction(timezone.now)


# -- builders -----------------------------------------------------------------------------------
def reason_codes(*codes: str, role: Role | None = None) -> list[ReasonCode]:
    """Not Ready reason codes (global unless ``role``): ``reason_codes("break", "lunch")``."""
    return [ReasonCodeFactory(code=code, role=role) for code in codes]


def a_role(name: str | None = None, *, visible: Iterable[str] | None = None, rules=None) -> Role:
    extra = {} if name is None else {"name": name}
    return RoleFactory(visible=visible, rules=rules or {}, **extra)


def a_user(username: str | None = None, *, groups: Iterable[str] = (), **fields: Any):
    if username is not None:
        fields["username"] = username
    return UserFactory(groups=list(groups), **fields)


def a_supervisor(username: str | None = None, *, of: Iterable[Agent] = (), **fields: Any):
    """A supervisor (staff, in the supervisor group), without an agent of their own. ``of``:
    the agents of a team of their own (a supervisor sees and acts on their teams' agents
    only: issue 16)."""
    user = a_user(username, groups=[SUPERVISOR], is_staff=True, **fields)
    agents = list(of)
    if agents:
        a_team(f"team-of-{user.username}", agents=agents, supervisors=[user])
    return user


_team_numbers = iter(range(1, 1_000_000))


def a_team(name: str | None = None, *, agents: Iterable[Agent] = (), supervisors=()) -> Team:
    """A team: its ``supervisors`` (users) see and act on its ``agents`` (issue 16)."""
    team = Team.objects.create(name=name or f"team-{next(_team_numbers)}")
    team.agents.set(list(agents))
    team.supervisors.set(list(supervisors))
    return team


def a_compliance_officer(username: str | None = None, **fields: Any):
    return a_user(username, groups=[COMPLIANCE], is_staff=True, **fields)


def an_agent(
    username: str | None = None,
    *,
    role: Role | None = None,
    visible: Iterable[str] | None = None,
    rules: dict[str, Any] | None = None,
    logged_in: bool | Iterable[str] = False,
    ready_on: Iterable[str] = (),
    groups: Iterable[str] = (),
    **fields: Any,
) -> Agent:
    """An agent, by default in a role of its own (``visible`` channels, R1).

    ``rules`` are agent-scope rules. ``logged_in=True`` logs into every visible channel
    (``logged_in=["chat"]``: those only) and ``ready_on=["chat"]`` then asks for ``ready`` there,
    both through the status services, as the agent would.
    """
    if role is None:
        role = a_role(visible=visible)
    user_fields = {
        k: fields.pop(k) for k in ("first_name", "email", "is_staff", "password") if k in fields
    }
    user = a_user(username, groups=[AGENT, *groups], **user_fields)
    agent = AgentFactory(user=user, role=role, rules=rules or {}, **fields)
    ready_on = list(ready_on)
    if logged_in or ready_on:
        from cc_rules.services import status

        ctx = {"actor": user, "request_id": f"build-{user.username}"}
        channels = None if logged_in is True else sorted({*(logged_in or ()), *ready_on})
        status.session_login(agent.pk, channels=channels, **ctx)
        for channel in ready_on:
            status.channel_set_status(agent.pk, channel, status="ready", reason=None, **ctx)
    return Agent.objects.select_related("user", "role").get(pk=agent.pk)


def a_contact(name: str | None = None, **points: Any) -> Contact:
    return ContactFactory(**({} if name is None else {"name": name}), **points)


# -- API clients --------------------------------------------------------------------------------
def client_for(who=None) -> APIClient:
    """An API client with the token of ``who`` (a user, an agent or a username); ``None``:
    anonymous."""
    client = APIClient()
    if who is None:
        return client
    if isinstance(who, Agent):
        user = who.user
    elif isinstance(who, str):
        user = get_user_model().objects.get(username=who)
    else:
        user = who
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def token_for(user) -> str:
    """The secret of ``user``'s test API token, made if missing (as DRF's
    ``Token.objects.get_or_create`` was): the secret is derived from the user so every client of
    a test presents the same token. Real secrets are random (``services.tokens.issue``)."""
    secret = f"test-{user.pk}-{user.get_username()}"
    ApiToken.objects.get_or_create(
        digest=digest_of(secret),
        defaults={
            "user": user,
            "prefix": secret[:PREFIX_LENGTH],
            "device": "tests",
            "expires": timezone.now() + timedelta(days=365),
        },
    )
    return secret


def a_router(username: str = "router", **fields: Any):
    """The service account that offers inbound work."""
    return a_user(username, groups=[ROUTER], **fields)


def a_router_client(username: str = "router") -> APIClient:
    user = get_user_model().objects.filter(username=username).first() or a_router(username)
    return client_for(user)


# -- role recipes -------------------------------------------------------------------------------
# Configurations several modules test against, written out here rather than read from the
# demo: ``a_role("blended", **BLENDED)``. Rules not named keep the rulebook's global defaults.
BLENDED = {
    "visible": ["voice", "email", "chat", "im"],
    "rules": {
        "channel_cap": {"voice": 1, "chat": 2, "email": 3},
        "total_cap": 6,
        "pending_enabled": True,  # R8: a status asked for during open work waits
        "pending_release_on": ["hangup", "chat_ended", "sent", "workbin"],
        "acw_enabled": {"voice": True},
        "acw_seconds": {"voice": 15},
        "acw_after_timer": {"voice": "ready"},
        "acw_extendable": {"voice": True},
        "after_done": {"voice": "ready"},
        "mark_done_required": {"email": True},
    },
}
VOICE_ONLY = {
    "visible": ["voice", "im"],
    "rules": {
        "channel_cap": {"voice": 1},
        "pending_enabled": False,  # R7: a status applies at once, even during a call
        "acw_enabled": {"voice": True},
        "acw_seconds": {"voice": 10},
        "acw_after_timer": {"voice": "not_ready"},
        "acw_extendable": {"voice": False},
    },
}
SINGLE_TASK = {
    "visible": ["voice", "email", "chat"],
    "rules": {"channel_cap": {"voice": 1, "email": 1, "chat": 1}, "total_cap": 1},
}
EMAIL_SPECIALIST = {
    "visible": ["email"],
    "rules": {"channel_cap": {"email": 5}, "after_done": {"email": "manual"}},
}
SOCIAL = {
    "visible": ["chat", "facebook", "twitter", "workitem", "cobrowse"],
    "rules": {
        "channel_cap": {"chat": 3, "facebook": 2, "twitter": 2, "workitem": 2, "cobrowse": 2},
        "total_cap": 5,
    },
}
REASONS = ("break", "lunch", "meeting", "training")


def two_teams(*, superuser: str = "admin") -> None:
    """The supervision floor (issue 16): alice (blended, logged in, ready on voice) and bob
    (voice only, ready on voice) in team ``front``, supervised by sam; nina (blended, logged in)
    in team ``back``, supervised by nobody; cora (compliance), a superuser; the reason codes."""
    reason_codes(*REASONS)
    blended = a_role("blended", **BLENDED)
    alice = an_agent("alice", role=blended, logged_in=True, ready_on=["voice"])
    bob = an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), ready_on=["voice"])
    nina = an_agent("nina", role=blended, logged_in=True)
    a_team("front", agents=[alice, bob], supervisors=[a_supervisor("sam")])
    a_team("back", agents=[nina])
    a_compliance_officer("cora")
    a_user(superuser, is_superuser=True, is_staff=True)
