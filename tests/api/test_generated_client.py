"""A Python client generated from the served schema with openapi-python-client works first try
(issue 14, item 7): generation gives no warning, and the generated functions (named by the
operation ids) run an agent's day against the live test server: log in for a token, me, log
into a channel, ready (and its idempotent replay), the router offers, the agent accepts and
ends, a refusal parses as ``Error``, and compliance reads the history.

The request bodies are built through the generated functions' type hints, so the test depends
on operation ids, field names and enum values, not on the names of the models."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import typing

import pytest
import requests

from tests.factories import PASSWORD, a_compliance_officer, a_contact, a_router, an_agent

PACKAGE = "cc_generated_client"


def body_of(function: typing.Callable, **data: typing.Any) -> typing.Any:
    """The generated model ``function`` takes as ``body``, built from JSON-like ``data``."""
    hint = typing.get_type_hints(function)["body"]
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    model = next(c for c in candidates if hasattr(c, "from_dict"))
    return model.from_dict(data)


def generate(schema_url: str, where) -> types.ModuleType:
    schema = requests.get(schema_url, timeout=60)
    assert schema.status_code == 200, schema.text
    (where / "openapi.json").write_bytes(schema.content)
    (where / "config.yaml").write_text("post_hooks: []\n")  # no ruff run over the output
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(where / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
            "--config",
            str(where / "config.yaml"),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(where))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


@pytest.fixture
def generated(tmp_path):
    yield lambda url: generate(url, tmp_path)
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_runs_an_agents_day(live_server, generated, settings):
    settings.CC_SEND_WAKEUPS = False  # no worker here; the offer's deadline is not under test
    an_agent("gen_alice", visible=["chat", "voice"])
    a_router("gen_router")
    a_compliance_officer("gen_cora")
    contact = a_contact("Ada")

    client = generated(f"{live_server.url}/api/schema/?format=json")
    anonymous = client.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    opened = [anonymous]
    try:
        scenario(client, anonymous, opened, live_server, contact.pk)
    finally:  # an open keep-alive connection would keep a server thread (and its DB session)
        for each in opened:
            each.get_httpx_client().close()


def scenario(client, anonymous, opened, live_server, contact: int) -> None:
    api = importlib.import_module(f"{PACKAGE}.api")
    auth, me, interactions, audit = (
        importlib.import_module(f"{api.__name__}.{area}")
        for area in ("auth", "me", "interactions", "audit")
    )
    create_token = importlib.import_module(f"{auth.__name__}.create_token")

    def logged_in(username: str):
        answer = create_token.sync_detailed(
            client=anonymous,
            body=body_of(create_token.sync_detailed, username=username, password=PASSWORD),
        )
        assert answer.status_code == 200, answer.content
        authenticated = client.AuthenticatedClient(
            base_url=live_server.url,
            token=answer.parsed.token,
            prefix="Token",
            raise_on_unexpected_status=True,
        )
        opened.append(authenticated)
        return authenticated

    def op(area, name):
        return importlib.import_module(f"{area.__name__}.{name}")

    alice, router, cora = (logged_in(u) for u in ("gen_alice", "gen_router", "gen_cora"))

    profile = op(me, "get_me").sync(client=alice)
    assert profile.username == "gen_alice"

    login = op(me, "login")
    answer = login.sync_detailed(client=alice, body=body_of(login.sync_detailed, channels=["chat"]))
    assert answer.status_code == 200
    assert {c.channel.value: c.status.value for c in answer.parsed.channels}["chat"] == "not_ready"

    set_status = op(me, "set_channel_status")
    ready = body_of(set_status.sync_detailed, status="ready")
    for replay in (False, True):
        answer = set_status.sync_detailed(
            channel="chat", client=alice, body=ready, idempotency_key="ready-1"
        )
        assert answer.status_code == 200, answer.content
        assert answer.parsed.status.value == "ready"
        assert (answer.headers.get("Idempotent-Replayed") == "true") is replay

    create = op(interactions, "create_interaction")
    answer = create.sync_detailed(
        client=router,
        body=body_of(
            create.sync_detailed,
            channel="chat",
            direction="inbound",
            agent="gen_alice",
            contact=contact,
        ),
    )
    assert answer.status_code == 201, answer.content
    offer = answer.parsed
    assert (offer.state.value, offer.agent, offer.channel.value) == ("offered", "gen_alice", "chat")

    accept = op(interactions, "accept_interaction")
    answer = accept.sync_detailed(id=offer.id, client=alice)
    assert answer.status_code == 200, answer.content
    assert answer.parsed.state.value == "active"

    again = accept.sync_detailed(id=offer.id, client=alice)  # a refusal parses as Error
    assert again.status_code == 409
    assert again.parsed.code == "invalid_transition"

    end = op(interactions, "end_interaction")
    answer = end.sync_detailed(
        id=offer.id, client=alice, body=body_of(end.sync_detailed, how="chat_ended")
    )
    assert answer.status_code == 200, answer.content
    assert answer.parsed.state.value == "ended"
    assert answer.parsed.how.value == "chat_ended"

    history = op(audit, "list_status_changes").sync_detailed(client=cora, agent="gen_alice")
    assert history.status_code == 200, history.content
    rows = history.parsed.results
    assert any(r.to_status == "ready" and r.cause.value == "agent" for r in rows), rows
    assert all(r.agent == "gen_alice" for r in rows)
