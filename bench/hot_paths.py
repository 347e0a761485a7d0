"""The API's hot paths, one agent at a time, through Django's test client in this process.

Shared by ``query_budget.py`` (SQL queries per step), ``scale.py`` (latency) and
``profile_hot_paths.py`` (pyinstrument), and by the query-budget tests
(``tests/api/test_query_budget.py``), so that what is counted, timed and profiled is one
sequence of requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The steps, in the order one agent's session runs them. Each name is what the bench prints.
STEPS = (
    "GET /me/",
    "status change",
    "offer decision",
    "offer",
    "accept",
    "end",
    "done",
    "routed offer",
)


def _ok(response, *codes: int) -> dict:
    if response.status_code not in codes:
        raise AssertionError(f"{response.status_code}: {response.content[:300]!r}")
    return response.json()


class AgentSession:
    """An agent's client and the router's, with the requests of each step.

    ``channel`` is a channel the agent's role sees with no wrap-up timer after it (chat for the
    demo's blended agent); the agent must be logged in and ready there before ``step``.
    """

    def __init__(self, agent_token: str, router_token: str, username: str, channel: str, contact):
        from rest_framework.test import APIClient

        self.agent = APIClient()
        self.agent.credentials(HTTP_AUTHORIZATION=f"Token {agent_token}")
        self.router = APIClient()
        self.router.credentials(HTTP_AUTHORIZATION=f"Token {router_token}")
        self.username = username
        self.channel = channel
        self.contact = contact
        self.interaction: int | None = None
        self.routed: dict | None = None

    def login_ready(self) -> None:
        _ok(self.agent.post("/api/v1/me/login/", {}, format="json"), 200)
        self.status("ready")

    def status(self, status: str) -> dict:
        body = {"status": status} | ({"reason": "break"} if status == "not_ready" else {})
        url = f"/api/v1/me/channels/{self.channel}/status/"
        return _ok(self.agent.put(url, body, format="json"), 200)

    def step(self, name: str) -> None:
        """Run one step; the steps keep the agent's state such that the sequence can repeat."""
        agent, router, pk = self.agent, self.router, self.interaction
        if name == "GET /me/":
            _ok(agent.get("/api/v1/me/"), 200)
        elif name == "status change":
            self.status("not_ready")  # settle() makes the agent ready again
        elif name == "offer decision":
            body = {"agent": self.username, "channel": self.channel}
            answer = _ok(router.post("/api/v1/decisions/offer/", body, format="json"), 200)
            if not answer["allowed"]:
                raise AssertionError(f"offer decision refused: {answer}")
        elif name == "offer":
            body = {"channel": self.channel, "contact": self.contact, "direction": "inbound"}
            body["agent"] = self.username
            self.interaction = _ok(router.post("/api/v1/interactions/", body, format="json"), 201)[
                "id"
            ]
        elif name == "accept":
            _ok(agent.post(f"/api/v1/interactions/{pk}/accept/", {}, format="json"), 200)
        elif name == "end":
            body = {"how": "chat_ended" if self.channel == "chat" else "sent"}
            _ok(agent.post(f"/api/v1/interactions/{pk}/end/", body, format="json"), 200)
        elif name == "done":
            _ok(agent.post(f"/api/v1/interactions/{pk}/done/", {}, format="json"), 200)
        elif name == "routed offer":
            # no agent named: the engine picks the longest-ready eligible one
            body = {"channel": self.channel, "contact": self.contact, "direction": "inbound"}
            self.routed = _ok(router.post("/api/v1/interactions/", body, format="json"), 201)
        else:
            raise ValueError(name)

    def settle(self, name: str, token_of: Callable[[str], str]) -> None:
        """After a step, outside what is measured, put things back so the sequence can repeat:
        the agent goes ready again after its status change, and the routed agent
        (``token_of(username)``) works the routed offer through."""
        if name == "status change":
            self.status("ready")
        if name != "routed offer" or self.routed is None:
            return
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(self.routed['agent'])}")
        pk, how = self.routed["id"], "chat_ended" if self.channel == "chat" else "sent"
        for action, body in (("accept", {}), ("end", {"how": how}), ("done", {})):
            _ok(client.post(f"/api/v1/interactions/{pk}/{action}/", body, format="json"), 200)
        self.routed = None


@contextmanager
def counting() -> Iterator[Callable[[], list[str]]]:
    """``with counting() as sql: …; sql()`` → the SQL statements run inside the block."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ctx = CaptureQueriesContext(connection)
    with ctx:
        yield lambda: [q["sql"] for q in ctx.captured_queries]


def measured_session(db: dict, prefix: str) -> AgentSession:
    """Django set up on the bench database ``db`` (``common.SMALL`` made afresh, ``common.LARGE``
    reused once built) with its population, and a new blended agent (``prefix…``) logged in and
    ready on chat, with the router beside it. One agent here sends far more than a person
    would: the per-user write throttle still runs (its Redis call is part of every write) with a
    budget no bench reaches."""
    import os
    import time

    from bench import common

    os.environ["CC_THROTTLE_USER_WRITES"] = "1000000/second"
    common.ensure_database(common.database_url(db["name"]), fresh=db is common.SMALL)
    common.setup_django(common.database_url(db["name"]))
    from cc_rules.models import Contact

    common.ensure_population(db["agents"], db["history_agents"], db["per_agent"])
    me = common.create_agents(1, f"{prefix}{time.time_ns()}-", roles=("blended",))[0]
    contact = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    sess = AgentSession(me["token"], token_of("router"), me["username"], "chat", contact)
    sess.login_ready()
    return sess


_SECRETS: dict[tuple[str, str], str] = {}


def token_of(username: str) -> str:
    """A live API token of the user (issued if this process has none that is still in the
    database): ``settle``'s way to act as the routed agent."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from cc_rules.models import ApiToken
    from cc_rules.models.tokens import digest_of

    key = (str(connection.settings_dict["NAME"]), username)
    secret = _SECRETS.get(key)
    if secret is None or not ApiToken.objects.filter(digest=digest_of(secret)).exists():
        user = get_user_model().objects.get(username=username)
        secret = _SECRETS[key] = ApiToken.issue(user, device="bench")[1]
    return secret
