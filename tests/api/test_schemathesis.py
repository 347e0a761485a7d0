"""Schemathesis against the drf-spectacular schema (/api/schema/), as an agent, a supervisor and
compliance (issue 7): no 5xx, responses match their schemas, only documented status codes.

Bounded for CI (``CC_FUZZ_EXAMPLES``, default 12 per operation and caller, derandomized so a
run is reproducible); ``bench/fuzz_api.py`` runs the same test with 200+ random examples each.
Every operation gets positive and negative data, and a share of the cases aim their path
parameters at things that exist (alice's interactions, a contact, alice, her channels) so the
fuzzer gets past 404. Each operation starts from the same state (``world``, rolled back after).
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
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

    run()
