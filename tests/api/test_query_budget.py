"""Query budgets of the hot paths (issue 8): a regression that adds a query fails here.

The steps are bench/hot_paths.py's, the same ones ``bench/query_budget.py`` counts against
10,000 agents and 1,000,000 history rows. Inside the test's transaction a service's transaction
is a savepoint: SAVEPOINT and RELEASE stand where production sends BEGIN and COMMIT, so the
figures are the bench's. The second test checks what the bench shows at scale: the counts do
not change when history and agents are added.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.hot_paths import STEPS, AgentSession, token_of
from cc_rules.models import Agent, AgentChannelState, Contact, Role, StatusChange

pytestmark = pytest.mark.django_db

# Statements per request, production transactions (BEGIN … COMMIT) included.
BUDGET = {
    "GET /me/": 4,
    "status change": 8,
    "offer decision": 5,
    "offer": 9,
    "accept": 7,
    "end": 11,
    "done": 7,
    "routed offer": 9,
}


@pytest.fixture
def alice(demo_world, settings):
    """alice logged in and ready on chat; every step run once (caches warm)."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user_writes": "100000/second"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    contact = Contact.objects.order_by("pk").first().pk
    sess = AgentSession(token_of("alice"), token_of("router"), "alice", "chat", contact)
    sess.login_ready()
    for name in STEPS:
        sess.step(name)
        sess.settle(name, token_of)
    return sess


def _counts(sess: AgentSession) -> dict[str, int]:
    counts = {}
    for name in STEPS:
        with CaptureQueriesContext(connection) as ctx:
            sess.step(name)
        sess.settle(name, token_of)
        counts[name] = len(ctx.captured_queries)
    return counts


def test_each_hot_path_request_stays_within_its_query_budget(alice, django_assert_max_num_queries):
    # SQLite appends a history row and moves the chain head in two statements (history._append)
    extra = {"status change": 1} if connection.vendor != "postgresql" else {}
    for name in STEPS:
        with django_assert_max_num_queries(BUDGET[name] + extra.get(name, 0)):
            alice.step(name)
        alice.settle(name, token_of)


def _grow(agents: int, rows_each: int) -> None:
    """``agents`` more blended agents ready on chat (longer than alice, so routing meets them
    first) and ``rows_each`` history rows for each of them and for alice."""
    User = get_user_model()
    role = Role.objects.get(name="blended")
    users = User.objects.bulk_create(User(username=f"grow{i:04d}") for i in range(agents))
    new = Agent.objects.bulk_create(Agent(user=u, role=role) for u in users)
    long_ago = timezone.now() - timedelta(hours=2)
    AgentChannelState.objects.bulk_create(
        AgentChannelState(
            agent=a,
            channel_id=code,
            status="ready" if code == "chat" else "logged_off",
            since=long_ago,
            idle_since=long_ago if code == "chat" else None,
        )
        for a in new
        for code in ("voice", "email", "chat")
    )
    alice = Agent.objects.get(user__username="alice")
    rows = []
    for agent in [*new, alice]:
        base = agent.history_seq
        rows += [
            StatusChange(
                seq=base + j,
                agent=agent,
                channel_id="chat",
                event="status",
                from_status="ready",
                to_status="not_ready",
                cause="agent",
                at=long_ago - timedelta(minutes=j),
                prev_hash="0" * 64,
                hash="1" * 64,
            )
            for j in range(1, rows_each + 1)
        ]
    StatusChange.objects.bulk_create(rows, batch_size=2000)
    for agent in [*new, alice]:  # the head moves only onto a row that is there (docs/audit.md)
        Agent.objects.filter(pk=agent.pk).update(
            history_seq=agent.history_seq + rows_each, history_head="1" * 64
        )


def test_query_counts_do_not_grow_with_history_or_agents(alice):
    before = _counts(alice)
    _grow(agents=100, rows_each=200)
    assert StatusChange.objects.count() > 20_000
    assert _counts(alice) == before


# --- team scoping (issue 16): one subquery, never a query per agent -----------------------------
def _statements(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


def test_a_supervisors_team_scope_is_one_subquery_of_the_same_statements():
    from tests.factories import a_role, a_supervisor, a_team, a_user, an_agent, client_for

    role = a_role(visible=["voice", "chat"])
    members = [an_agent(f"member{i}", role=role, logged_in=True) for i in range(3)]
    boss = a_supervisor("boss", of=members[:2])
    a_team("elsewhere", agents=[members[2]])
    scoped, unscoped = client_for(boss), client_for(a_user("root", is_superuser=True))
    for client in (scoped, unscoped):
        client.get("/api/v1/agents/")  # caches warm
    for path in ("/api/v1/agents/", "/api/v1/agents/member0/"):
        statements = _statements(scoped, path)
        # The scope is a subquery inside the agents' SELECT: no statement of its own, and the
        # groups come with the token (no auth_group lookup but the token's own).
        assert [s for s in statements if "cc_rules_team" in s] == [
            s for s in statements if 'FROM "cc_rules_agent"' in s
        ]
        assert len([s for s in statements if "cc_rules_team" in s]) == 1
        assert not [s for s in statements if "auth_group" in s and "t.digest" not in s]
    # Per listed agent the list costs what it costs a superuser (scoping adds nothing per row).
    list_scoped = len(_statements(scoped, "/api/v1/agents/"))  # 2 agents
    list_all = len(_statements(unscoped, "/api/v1/agents/"))  # 3 agents
    detail = len(_statements(scoped, "/api/v1/agents/member0/"))
    assert detail == len(_statements(unscoped, "/api/v1/agents/member0/"))
    per_agent = list_all - list_scoped
    boss.supervised_teams.get().agents.add(members[2])
    assert len(_statements(scoped, "/api/v1/agents/")) == list_scoped + per_agent
    assert len(_statements(scoped, "/api/v1/agents/")) == list_all
