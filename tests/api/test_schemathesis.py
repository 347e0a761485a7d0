"""Schemathesis against the drf-spectacular schema (/api/schema/), as an agent, a supervisor and
compliance (issue 7): no 5xx, responses match their schemas, only documented status codes.

Bounded for CI (``CC_FUZZ_EXAMPLES``, default 12 per operation and caller, derandomized so a
run is reproducible); ``bench/fuzz_api.py`` runs the same test with 200+ random examples each.
Every operation gets positive and negative data, and a share of the cases aim their path
parameters at things that exist (alice's interactions, a contact, alice, her channels) so the
fuzzer gets past 404. Each operation starts from the same state (``world``, rolled back after).

Crafted cursors (issue 15: ``p=abc``, a NUL, ``1e999``, ids beyond 64 bits…) are explicit
examples of every operation that takes a ``cursor``, so every run sends them, whatever the
fuzzer draws.
"""

from __future__ import annotations

import base64
import os
import re

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from .world import client_for

EXAMPLES = int(os.environ.get("CC_FUZZ_EXAMPLES", "12"))
BENCH = EXAMPLES > 50
CALLERS = {"agent": "alice", "supervisor": "sam", "compliance": "cora"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# Cursors a client can craft (issue 15, item 3); each must be a 400 with the error body.
CRAFTED_CURSORS = [
    "cD1hYmM=",  # the issue's own: p=abc
    _cursor("p=%00"),
    _cursor("p=1e999"),
    _cursor("p=" + str(2**64)),
    _cursor("p=-" + "9" * 400),
    _cursor("p=99999-01-01T00:00:00"),
    _cursor("o=abc"),
    _cursor("r=yes&p=1"),
    _cursor("p=1&p=abc"),
    "%%%",
    "\x00",
]


# Who may read each paginated list, so that their crafted cursors reach the cursor check.
PAGES_OF = {
    ("agent", "/api/v1/interactions/"),
    ("agent", "/api/v1/interactions/{id}/messages/"),
    ("agent", "/api/v1/contacts/"),
    ("supervisor", "/api/v1/agents/"),
    ("compliance", "/api/v1/audit/status-changes/"),
}


def _with_crafted_cursors(operation, world, test):
    """``test`` with each crafted cursor as an explicit example, if ``operation`` pages; a path
    parameter names alice's active chat (the only one: the transcript)."""
    if not any(p.name == "cursor" for p in operation.query):
        return test
    path = {"id": world["active"]} if "{id}" in operation.path else None
    for crafted in CRAFTED_CURSORS:
        case = operation.Case(path_parameters=path, query={"cursor": crafted})
        test = example(case=case)(test)
    return test


def _known_path_parameters(path: str, world: dict[str, int]) -> list[dict]:
    """Path parameters that name existing things, for the cases that should get past 404."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return []
    values = {
        "id": [world[k] for k in ("offered", "active", "ended", "done", "acw", "contact")],
        "username": ["alice", "bob", "sam"],
        "channel": ["chat", "voice", "email", "im"],
    }
    if any(name not in values for name in names):
        return []
    combos: list[dict] = [{}]
    for name in names:
        combos = [{**c, name: v} for c in combos for v in values[name]]
    return combos


def _strategy(operation, world):
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        for known in _known_path_parameters(operation.path, world):
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=known))
    return st.one_of(strategies)


@pytest.fixture
def generous_rates(settings):
    """The fuzzer is one very busy user: raise the limits, as benchmarks do (DECISIONS.md)."""
    rates = {"user_writes": "100000/second", "login": "100000/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def wsgi_keeps_the_test_transaction():
    """The fuzzer calls the WSGI app itself; like Django's test client, keep the request signals
    from closing the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("generous_rates", "wsgi_keeps_the_test_transaction")
@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_api_conforms_to_its_schema(world, operation, caller):
    client = client_for(CALLERS[caller])
    headers = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not BENCH,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=_strategy(operation, world))
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if "cursor" in (case.query or {}) and case.query["cursor"] in CRAFTED_CURSORS:
            crafted.append(response.status_code)

    crafted: list[int] = []
    _with_crafted_cursors(operation, world, run)()
    if any(p.name == "cursor" for p in operation.query):
        # The explicit examples ran, and every one was refused as a bad cursor (or earlier).
        assert len(crafted) >= len(CRAFTED_CURSORS), crafted
        assert set(crafted) <= {400, 401, 403, 404}, crafted
        if (caller, operation.path) in PAGES_OF:
            assert set(crafted) == {400}, crafted
