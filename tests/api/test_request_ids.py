"""Client request ids (issue 15, item 6): a client's ``X-Request-ID`` is kept only if it matches
a safe pattern and is outside the system's own namespaces; otherwise the server makes one. The
response's ``X-Request-ID`` says which id was used, and the ledger row carries the same one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cc_rules.api.middleware import SYSTEM_REQUEST_ID_NAMESPACES, client_request_id
from cc_rules.models import StatusChange
from tests.factories import an_agent, client_for

SERVER_ID = re.compile(r"^[0-9a-f]{32}$")
SERVICES = Path(__file__).resolve().parents[2] / "cc_rules" / "services"


@pytest.fixture
def alice(db):
    an_agent("alice", visible=["chat", "im"])
    return client_for("alice")


def _login(client, request_id: str):
    response = client.post(
        "/api/v1/me/login/", {"channels": ["chat"]}, format="json", HTTP_X_REQUEST_ID=request_id
    )
    assert response.status_code == 200, response.content
    rows = StatusChange.objects.filter(agent__user__username="alice")
    return response["X-Request-ID"], set(rows.values_list("request_id", flat=True))


@pytest.mark.parametrize("given", ["abc", "client-42.retry_1", "A" * 64, "0", "Sweeper-1"])
def test_a_safe_client_id_is_kept_on_the_response_and_the_ledger(alice, given):
    used, on_rows = _login(alice, given)
    assert used == given
    assert on_rows == {given}


@pytest.mark.parametrize(
    "given",
    [
        "sweep:42:7",  # the issue's own: it passed for the sweeper's row
        "timer:3:1",
        "sweep:visibility",
        "deactivate",
        "DEACTIVATE",
        "sweep.42.7",
        "timer-3-1",
        "Sweep_1",
        "system",
        "A" * 65,
        "-abc",
        ".abc",
        "a b",
        "a/b",
        "ünïcode",
        "a\tb",
    ],
)
def test_an_unsafe_or_system_looking_id_is_replaced_by_the_servers(alice, given):
    used, on_rows = _login(alice, given)
    assert SERVER_ID.match(used), used
    assert on_rows == {used}


def test_without_a_client_id_the_server_makes_one(alice):
    response = alice.get("/api/v1/me/")
    assert SERVER_ID.match(response["X-Request-ID"])


def _system_ids_written_by_services() -> set[str]:
    """Every literal request id a service passes, and every timer ``source`` (ids
    ``<source>:<state>:<version>``)."""
    found: set[str] = set()
    for path in SERVICES.glob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"request_id=\"([^\"]+)\"", text))
        found |= set(re.findall(r"request_id=f\"([^\"{]+)", text))
        found |= set(re.findall(r"source=\"([^\"]+)\"", text))
    return found


def test_every_namespace_the_system_writes_is_refused_from_clients():
    written = _system_ids_written_by_services()
    assert {"sweep", "timer", "deactivate"} <= {re.split(r"[:._-]", w)[0] for w in written}
    for literal in written:
        namespace = re.split(r"[:._-]", literal)[0]
        assert namespace.lower() in SYSTEM_REQUEST_ID_NAMESPACES, literal
        assert client_request_id(literal) is None, literal
        assert client_request_id(f"{namespace}-1") is None, literal
