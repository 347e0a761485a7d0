"""Issue 16, item 7: a database outage in the admin and the dashboards is an admin-styled 503
page ("The database is not reachable…"), never raw JSON or a traceback; the API keeps its JSON
``database_unavailable``.

The outage is real, not a mock: for the requests under test, the default connection is a fresh
one to a database that is not there (PostgreSQL: a port nothing listens on; SQLite: a file in a
directory that does not exist), so every query fails to connect as it would in production.
"""

from __future__ import annotations

import contextlib
import copy
import socket
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connections
from django.test import RequestFactory
from django.urls import reverse

from cc_rules.api.errors import handler500
from tests.factories import a_compliance_officer, a_user, an_agent, token_for

pytestmark = pytest.mark.django_db

HEADLINE = "The database is not reachable right now"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once closed: nothing listens there


@contextlib.contextmanager
def database_unreachable(tmp_path) -> Iterator[None]:
    original = connections["default"]
    settings = copy.deepcopy(original.settings_dict)
    if original.vendor == "postgresql":
        settings.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    else:
        settings["NAME"] = str(tmp_path / "no-such-directory" / "cc_rules.sqlite3")
    broken = original.__class__(settings, alias="default")
    connections["default"] = broken
    try:
        yield
    finally:
        broken.close()
        connections["default"] = original


def assert_outage_page(response, *, retry: bool = True) -> str:
    html = response.content.decode()
    assert response.status_code == 503, html[:500]
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"]
    assert HEADLINE in html
    assert 'id="header"' in html
    assert "cc-rules administration" in html
    assert "Traceback" not in html
    assert "OperationalError" not in html
    assert '"database_unavailable"' not in html  # not the API's JSON
    assert ("Try again" in html) is retry
    return html


@pytest.fixture
def cora(client):
    client.force_login(a_compliance_officer("cora"))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/cc_rules/statuschange/",
        "/admin/cc_rules/statuschange/?actor=sam",
        "/admin/dashboard/",
        "/admin/dashboard/history/?since=2026-02-02",
        "/admin/dashboard/live/",
    ],
)
def test_a_logged_in_admin_page_is_a_503_page_while_the_database_is_down(cora, tmp_path, url):
    with database_unreachable(tmp_path):
        html = assert_outage_page(cora.get(url))
    assert f'href="{url.replace("&", "&amp;")}"' in html  # "Try again" asks for the same page
    assert cora.get(url).status_code == 200  # and works once the database is back


def test_signing_in_while_the_database_is_down_is_the_503_page(client, tmp_path):
    a_user("root", is_superuser=True, is_staff=True, password="pw-of-root")
    with database_unreachable(tmp_path):
        login = client.get(reverse("admin:login"))  # the form needs no database
        assert login.status_code == 200
        assert_outage_page(
            client.post(reverse("admin:login"), {"username": "root", "password": "pw-of-root"}),
            retry=False,
        )


def test_the_api_still_answers_json_while_the_database_is_down(client, tmp_path):
    token = token_for(an_agent("alice").user)
    with database_unreachable(tmp_path):
        response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.parametrize(("path", "json"), [("/admin/", False), ("/api/v1/me/", True)])
def test_a_database_error_outside_any_view_is_a_503_not_a_500(path, json):
    """Django's 500 handler runs for an exception a middleware raised (no view to catch it)."""
    request = RequestFactory().get(path)
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = handler500(request)
    assert response.status_code == 503
    if json:
        assert response["Content-Type"] == "application/json"
    else:
        assert HEADLINE in response.content.decode()
