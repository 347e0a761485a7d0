"""The authorization matrix (issue 7; OWASP API1 "BOLA", API3 "mass assignment").

Every endpoint under /api/v1/ (enumerated from the URL resolver, so a new endpoint without an
entry here fails) x {anonymous, agent self, other agent, supervisor, other team's supervisor,
compliance, router, admin} → the expected status. The request is the same for every caller and
targets alice's things: her interactions, her name, her session. "Other agent" is bob: on
``/me/…`` he acts on his own session (bob's status on a channel his role does not see is 404,
R1), and on alice's interactions he must get 404 — as if they did not exist — never 200, 403 or
409.

Teams (issue 16): sam supervises ``front`` (alice and bob); sue supervises ``back`` (olga).
For sue, alice is another team's agent: ``/agents/alice/…`` is 404 exactly as an unknown name,
and ``/decisions/offer/`` about alice the 400 of an unknown name. The team tests at the end
cross the other way too (sam on olga) and check the lists and the time-in-status report.

Each case starts from the same state (a module-wide transaction, rolled back per test):
alice logged in on her channels with a chat offered (``offered``), a chat she handles
(``active``), an e-mail ended and not yet done (``ended``), an e-mail done (``done``) and voice
in after-call work after a call (``acw``); bob and sam logged in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from .conftest import db_state
from .world import client_for

ROLES = {
    "anonymous": None,
    "self": "alice",
    "other_agent": "bob",
    "supervisor": "sam",
    "other_team_supervisor": "sue",
    "compliance": "cora",
    "router": "router",
    "admin": "admin",
}
METHODS = ("get", "post", "put", "patch", "delete")


def api_endpoints() -> dict[tuple[str, str], str]:
    """{(url name, METHOD): route} for every view under /api/v1/, from the URL resolver."""
    found: dict[tuple[str, str], str] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith("api/v1/"):
                    continue
                view = getattr(pattern.callback, "view_class", None) or pattern.callback.cls
                for method in METHODS:
                    if hasattr(view, method):
                        found[(pattern.name, method.upper())] = route

    walk(get_resolver().url_patterns, "")
    return found


@dataclass(frozen=True)
class Case:
    """One endpoint and method: how to call it, and the status per caller."""

    url: str  # formatted with the fixture's ids: {offered}, {active}, {contact}…
    expect: dict[str, int]
    body: dict | Callable[[str], dict] | None = None
    note: str = ""
    params: dict = field(default_factory=dict)


# Shorthands for the common shapes of `expect`.
def agents_only(self_: int = 200, other: int = 200, sam: int = 200) -> dict[str, int]:
    """An agent's own session: agents yes; sue (not an agent), compliance, router, admin have
    no session (403)."""
    return {
        "anonymous": 401,
        "self": self_,
        "other_agent": other,
        "supervisor": sam,
        "other_team_supervisor": 403,
        "compliance": 403,
        "router": 403,
        "admin": 403,
    }


def own_interaction(self_: int) -> dict[str, int]:
    """Alice's interaction: any other agent (bob, and sam as an agent) gets 404 (BOLA)."""
    return agents_only(self_=self_, other=404, sam=404)


SUPERVISORS = {
    "anonymous": 401,
    "self": 403,
    "other_agent": 403,
    "supervisor": 200,
    "other_team_supervisor": 200,
    "compliance": 403,
    "router": 403,
    "admin": 200,
}
# Alice (or bob) through /agents/…: sam supervises their team, sue another one (404, as if
# absent).
ALICE_AS_SUPERVISED = {**SUPERVISORS, "other_team_supervisor": 404}
AUDITORS = {**SUPERVISORS, "compliance": 200}
AUDIT_JOB_STARTERS = {
    **AUDITORS,
    "supervisor": 202,
    "other_team_supervisor": 202,
    "compliance": 202,
    "admin": 202,
}
# cora's job: its requester and superusers; any other auditor gets 404 (as if absent).
CORAS_JOB = {**AUDITORS, "supervisor": 404, "other_team_supervisor": 404}


# Contacts: agents, supervisors (of any team: contacts belong to no team) and the router.
CONTACT_READERS = {**agents_only(), "other_team_supervisor": 200, "router": 200, "admin": 200}


def _teammate(user: str | None) -> dict:
    """Sam is alice's teammate; sam himself names bob (naming yourself is a 400 of its own)."""
    return {"to": "bob" if user == "sam" else "sam"}


MATRIX: dict[tuple[str, str], Case] = {
    ("token", "POST"): Case(
        "/api/v1/auth/token/",
        # Everyone may log in (the caller's own credentials; anonymous uses alice's).
        dict.fromkeys(ROLES, 200),
        body=lambda user: {"username": user or "alice", "password": "demo"},
    ),
    ("token", "DELETE"): Case(
        "/api/v1/auth/token/",
        # Logging out: every caller revokes the token it came with.
        {role: 401 if role == "anonymous" else 204 for role in ROLES},
    ),
    ("tokens", "GET"): Case(
        "/api/v1/auth/tokens/", {role: 401 if role == "anonymous" else 200 for role in ROLES}
    ),
    ("token-detail", "DELETE"): Case(
        "/api/v1/auth/tokens/{token}/",
        # Alice's laptop token: only alice may revoke it; for everyone else it does not exist.
        {role: {"anonymous": 401, "self": 204}.get(role, 404) for role in ROLES},
    ),
    ("me", "GET"): Case("/api/v1/me/", agents_only()),
    ("me-effective-rules", "GET"): Case("/api/v1/me/effective-rules/", agents_only()),
    ("me-login", "POST"): Case("/api/v1/me/login/", agents_only(), body={}),
    ("me-logout", "POST"): Case(
        "/api/v1/me/logout/", agents_only(self_=409), body={}, note="alice has open work"
    ),
    ("me-channel-status", "PUT"): Case(
        "/api/v1/me/channels/email/status/",
        agents_only(other=404),  # bob's role does not see email: invisible = absent (R1)
        body={"status": "not_ready", "reason": "break"},
    ),
    ("me-dnd", "PUT"): Case("/api/v1/me/dnd/", agents_only(), body={"enabled": True}),
    ("me-forwarding", "PUT"): Case(
        "/api/v1/me/forwarding/", agents_only(), body={"to_extension": None}
    ),
    ("agents", "GET"): Case("/api/v1/agents/", SUPERVISORS),
    ("agent-detail", "GET"): Case("/api/v1/agents/alice/", ALICE_AS_SUPERVISED),
    ("agent-channel-status", "PUT"): Case(
        "/api/v1/agents/alice/channels/email/status/",
        ALICE_AS_SUPERVISED,
        body={"status": "not_ready", "reason": "meeting"},
    ),
    # Supervisor actions (issue 16, item 2). Logout targets bob: alice has open work (409).
    ("agent-logout", "POST"): Case("/api/v1/agents/bob/logout/", ALICE_AS_SUPERVISED, body={}),
    ("agent-dnd", "PUT"): Case(
        "/api/v1/agents/alice/dnd/", ALICE_AS_SUPERVISED, body={"enabled": False}
    ),
    ("agent-wrap-up-extend", "POST"): Case(
        "/api/v1/agents/alice/channels/voice/wrap-up/extend/", ALICE_AS_SUPERVISED, body={}
    ),
    ("agent-wrap-up-end", "POST"): Case(
        "/api/v1/agents/alice/channels/voice/wrap-up/end/", ALICE_AS_SUPERVISED, body={}
    ),
    ("interactions", "GET"): Case("/api/v1/interactions/", agents_only()),
    ("interactions", "POST"): Case(
        "/api/v1/interactions/",
        # Inbound offers are the router's (admins too); agents may not offer work to alice.
        {**agents_only(self_=403, other=403, sam=403), "router": 201, "admin": 201},
        body={"channel": "email", "direction": "inbound", "agent": "alice", "contact": 0},
    ),
    ("interaction-detail", "GET"): Case("/api/v1/interactions/{offered}/", own_interaction(200)),
    ("interaction-accept", "POST"): Case(
        "/api/v1/interactions/{offered}/accept/", own_interaction(200), body={}
    ),
    ("interaction-reject", "POST"): Case(
        "/api/v1/interactions/{offered}/reject/", own_interaction(200), body={}
    ),
    ("interaction-end", "POST"): Case(
        "/api/v1/interactions/{active}/end/", own_interaction(200), body={"how": "chat_ended"}
    ),
    ("interaction-done", "POST"): Case(
        "/api/v1/interactions/{ended}/done/", own_interaction(200), body={}
    ),
    ("interaction-close", "POST"): Case(
        "/api/v1/interactions/{done}/close/", own_interaction(200), body={}
    ),
    ("interaction-wrap-up-extend", "POST"): Case(
        "/api/v1/interactions/{acw}/wrap-up/extend/", own_interaction(200), body={}
    ),
    ("interaction-consult", "POST"): Case(
        "/api/v1/interactions/{active}/consult/", own_interaction(201), body=_teammate
    ),
    ("interaction-conference", "POST"): Case(
        "/api/v1/interactions/{active}/conference/", own_interaction(201), body=_teammate
    ),
    ("interaction-messages", "GET"): Case(
        "/api/v1/interactions/{active}/messages/",
        # The transcript: its agent and the contact's side (router, admin) read it.
        {**own_interaction(200), "router": 200, "admin": 200},
    ),
    ("interaction-messages", "POST"): Case(
        "/api/v1/interactions/{active}/messages/",
        # The router (and admin) writes the contact's side of any chat.
        {**own_interaction(201), "router": 201, "admin": 201},
        body={"text": "Hello"},
    ),
    ("contacts", "GET"): Case("/api/v1/contacts/", CONTACT_READERS),
    ("contact-detail", "GET"): Case("/api/v1/contacts/{contact}/", CONTACT_READERS),
    ("decision-offer", "POST"): Case(
        "/api/v1/decisions/offer/",
        # Only the router, supervisors and admins ask (issue 15); agents, even about
        # themselves, get 403 before any lookup, so it tells nobody which usernames exist.
        # Sue asks about another team's agent: the 400 of an unknown name (issue 16).
        {
            **agents_only(self_=403, other=403),
            "other_team_supervisor": 400,
            "router": 200,
            "admin": 200,
        },
        body={"agent": "alice", "channel": "chat"},
    ),
    ("im-send", "POST"): Case(
        "/api/v1/im/", agents_only(202, 202, 202), body={"to": "sam", "text": "hi"}
    ),
    ("im-inbox", "GET"): Case("/api/v1/im/inbox/", agents_only()),
    ("im-inbox-ack", "POST"): Case(
        # Each agent acknowledges in their own inbox only; there is no one else's to name.
        "/api/v1/im/inbox/ack/",
        agents_only(),
        body={"up_to": "0-0"},
    ),
    ("config-warnings", "GET"): Case(
        "/api/v1/config/warnings/",
        {role: {"anonymous": 401, "admin": 200}.get(role, 403) for role in ROLES},
    ),
    ("audit-status-changes", "GET"): Case("/api/v1/audit/status-changes/", AUDITORS),
    ("audit-time-in-status", "GET"): Case("/api/v1/audit/time-in-status/", AUDITORS),
    ("audit-verify", "GET"): Case("/api/v1/audit/verify/", AUDITORS),
    ("audit-rule-changes", "GET"): Case("/api/v1/audit/rule-changes/", AUDITORS),
    ("audit-verify-jobs", "POST"): Case("/api/v1/audit/verify/jobs/", AUDIT_JOB_STARTERS, body={}),
    ("audit-export-jobs", "POST"): Case(
        "/api/v1/audit/status-changes/jobs/", AUDIT_JOB_STARTERS, body={}
    ),
    ("audit-jobs", "GET"): Case("/api/v1/audit/jobs/", AUDITORS),
    ("audit-job", "GET"): Case("/api/v1/audit/jobs/{audit_job}/", CORAS_JOB),
    ("audit-job-download", "GET"): Case(
        "/api/v1/audit/jobs/{audit_job}/download/",
        {**CORAS_JOB, "compliance": 409, "admin": 409},
        note="the job is still queued: 409 job_not_done once the caller may see it",
    ),
}


# --- the one parametrized test -----------------------------------------------------------------
ENDPOINTS = api_endpoints()


def _params():
    for key in sorted(set(ENDPOINTS) | set(MATRIX)):
        for role in ROLES:
            yield pytest.param(key, role, id=f"{key[1]} {key[0]} as {role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "role"), list(_params()))
def test_authorization_matrix(world, endpoint, role):
    assert endpoint in ENDPOINTS, f"stale matrix entry {endpoint}: no such endpoint any more"
    assert endpoint in MATRIX, (
        f"{endpoint} ({ENDPOINTS[endpoint]}) has no entry in the authorization matrix: add one "
        "with the expected status for every caller"
    )
    case = MATRIX[endpoint]
    assert set(case.expect) == set(ROLES), f"{endpoint}: expect must name every caller"
    username = ROLES[role]
    client = client_for(username) if username else APIClient()
    url = case.url.format(**world)
    body = case.body(username) if callable(case.body) else case.body
    if body is not None and "contact" in body and body["contact"] == 0:
        body = {**body, "contact": world["contact"]}
    before = db_state()
    response = getattr(client, endpoint[1].lower())(url, body, format="json")
    expected = case.expect[role]
    assert response.status_code == expected, (
        f"{endpoint[1]} {url} as {role}: {response.status_code} {response.content[:300]!r}"
        + (f" ({case.note})" if case.note else "")
    )
    if response.status_code >= 400:
        error = response.json()
        assert {"code", "detail", "rule"} <= set(error), error
        if response.status_code in (401, 403, 404):
            # A refusal leaves nothing behind (the token row of a login is the only write).
            assert db_state() == before
    if role in ("other_agent", "other_team_supervisor") and expected == 404:
        assert response.json()["code"] == "not_found"


# --- mass assignment: only documented fields are accepted --------------------------------------
SMUGGLED = {"agent_id": 2, "state": "closed", "role": "admin", "is_superuser": True, "user": 1}


def _writes():
    for key, case in sorted(MATRIX.items()):
        if key[1] in ("POST", "PUT"):
            role = next(r for r in ROLES if 200 <= case.expect[r] < 300)
            yield pytest.param(key, role, id=f"{key[1]} {key[0]} as {role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "role"), list(_writes()))
def test_unknown_fields_are_refused_and_change_nothing(world, endpoint, role):
    """No mass assignment (OWASP API3): ``agent``, ``state``, ``role``… are never accepted."""
    case = MATRIX[endpoint]
    username = ROLES[role]
    client = client_for(username) if username else APIClient()
    body = case.body(username) if callable(case.body) else dict(case.body or {})
    if body.get("contact") == 0:
        body["contact"] = world["contact"]
    before = db_state()
    response = getattr(client, endpoint[1].lower())(
        case.url.format(**world), {**body, **SMUGGLED}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid"
    assert set(SMUGGLED) <= set(error["fields"]), error
    assert db_state() == before


# --- teams: who sees and acts on which agent (issue 16) ----------------------------------------
# (caller, agent) → GET /agents/{agent}/ and PUT …/channels/voice/status/. sam supervises
# front (alice, bob), sue back (olga); nobody supervises sam. Superusers see and act on all.
TEAM_CASES = {
    ("sam", "alice"): 200,
    ("sam", "bob"): 200,
    ("sam", "olga"): 404,
    ("sam", "sam"): 404,  # not in a team he supervises (his own session is /me/)
    ("sue", "olga"): 200,
    ("sue", "alice"): 404,
    ("sue", "bob"): 404,
    ("admin", "alice"): 200,
    ("admin", "olga"): 200,
    ("admin", "sam"): 200,
}


def _not_found(username: str) -> dict:
    """The body of a name that does not exist at all."""
    return {"code": "not_found", "detail": f"No agent {username!r}.", "rule": None}


@pytest.mark.django_db
@pytest.mark.parametrize(("caller", "agent"), sorted(TEAM_CASES))
def test_a_supervisor_sees_and_acts_only_on_their_teams_agents(world, caller, agent):
    expected = TEAM_CASES[(caller, agent)]
    client = client_for(caller)
    detail = client.get(f"/api/v1/agents/{agent}/")
    before = db_state()
    forced = client.put(
        f"/api/v1/agents/{agent}/channels/voice/status/",
        {"status": "not_ready", "reason": "meeting"},
        format="json",
    )
    assert detail.status_code == expected, detail.content
    assert forced.status_code == expected, forced.content
    if expected == 404:
        # Exactly what a name that does not exist gets: another team's agent is not "hidden".
        assert detail.json() == forced.json() == _not_found(agent)
        unknown = client.get("/api/v1/agents/nobody/").json()
        assert unknown == _not_found("nobody")
        assert db_state() == before
    else:
        assert detail.json()["username"] == agent
        assert forced.json()["status"] == "not_ready"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "listed"),
    [("sam", ["alice", "bob"]), ("sue", ["olga"]), ("admin", ["alice", "bob", "olga", "sam"])],
)
def test_the_agent_list_holds_only_the_callers_teams(world, caller, listed):
    response = client_for(caller).get("/api/v1/agents/")
    assert response.status_code == 200
    assert sorted(row["username"] for row in response.json()["results"]) == listed


@pytest.mark.django_db
def test_compliance_reads_every_agent_but_acts_on_none(world):
    cora = client_for("cora")
    forced = cora.put(
        "/api/v1/agents/olga/channels/voice/status/", {"status": "not_ready"}, format="json"
    )
    assert forced.status_code == 403  # not a supervisor: refused before any lookup
    report = cora.get("/api/v1/audit/time-in-status/").json()
    assert {row["agent"] for row in report} == {"alice", "bob", "olga", "sam"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "reported"),
    [("sam", {"alice", "bob"}), ("sue", {"olga"}), ("admin", {"alice", "bob", "olga", "sam"})],
)
def test_the_time_in_status_report_covers_the_callers_teams(world, caller, reported):
    client = client_for(caller)
    report = client.get("/api/v1/audit/time-in-status/").json()
    assert {row["agent"] for row in report} == reported
    outside = ({"alice", "bob", "olga", "sam"} - reported) or {"nobody"}
    for name in outside:
        named = client.get("/api/v1/audit/time-in-status/", {"agent": name})
        assert named.status_code == 400, (name, named.content)
        unknown = client.get("/api/v1/audit/time-in-status/", {"agent": "nobody"})
        assert named.json() == unknown.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "mine", "theirs"), [("sam", "alice", "olga"), ("sue", "olga", "bob")]
)
def test_a_supervisor_verifies_the_chain_of_their_teams_agents_only(world, caller, mine, theirs):
    client = client_for(caller)
    assert client.get("/api/v1/audit/verify/", {"agent": mine}).status_code == 200
    other = client.get("/api/v1/audit/verify/", {"agent": theirs})
    unknown = client.get("/api/v1/audit/verify/", {"agent": "nobody"})
    assert other.status_code == 400
    assert other.json() == unknown.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "agent", "allowed"),
    [
        ("sam", "alice", True),
        ("sam", "olga", False),
        ("sue", "olga", True),
        ("sue", "bob", False),
        ("router", "olga", True),  # the router offers work to anyone
        ("admin", "olga", True),
    ],
)
def test_a_supervisor_asks_offer_decisions_about_their_teams_agents_only(
    world, caller, agent, allowed
):
    client = client_for(caller)
    asked = client.post(
        "/api/v1/decisions/offer/", {"agent": agent, "channel": "voice"}, format="json"
    )
    if allowed:
        assert asked.status_code == 200, asked.content
        return
    unknown = client.post(
        "/api/v1/decisions/offer/", {"agent": "nobody", "channel": "voice"}, format="json"
    )
    assert asked.status_code == unknown.status_code == 400
    assert asked.json()["code"] == unknown.json()["code"] == "invalid"
    assert asked.json()["fields"] == unknown.json()["fields"] == {"agent": ["unknown"]}
    assert asked.json()["detail"] == f"No agent {agent!r}."


@pytest.mark.django_db
def test_a_supervisor_in_compliance_too_reads_every_agent_but_acts_on_their_teams_only(world):
    from cc_rules.models import Team
    from tests.factories import a_user

    both = a_user("both", groups=["supervisor", "compliance"], is_staff=True)
    Team.objects.get(name="back").supervisors.add(both)
    client = client_for("both")
    assert client.get("/api/v1/agents/alice/").status_code == 200
    listed = {a["username"] for a in client.get("/api/v1/agents/").json()["results"]}
    assert listed == {"alice", "bob", "olga", "sam"}
    body = {"status": "not_ready", "reason": "meeting"}
    alice = client.put("/api/v1/agents/alice/channels/voice/status/", body, format="json")
    olga = client.put("/api/v1/agents/olga/channels/voice/status/", body, format="json")
    assert (alice.status_code, olga.status_code) == (404, 200)
