"""``GET /api/v1/config/warnings/`` (issue 16, item 4): the admin page's warnings as JSON."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.factories import a_role, a_supervisor, an_agent, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/config/warnings/"


@pytest.fixture
def admin_api():
    return client_for(get_user_model().objects.create_superuser("root", "root@x.example", "x"))


@pytest.fixture
def config():
    blended = a_role("blended", visible=["voice", "email"], rules={"channel_cap": {"chat": 2}})
    mail = a_role("mail", visible=["email"])
    alice = an_agent("alice", role=blended, rules={"acw_seconds": {"email": 30}})
    an_agent("erin", role=mail, rules={"channel_cap": {"email": None}})
    return blended, alice


def test_it_lists_every_warning_with_code_place_message_and_fix(admin_api, config):
    blended, alice = config
    response = admin_api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    assert [(w["code"], w["scope"], w["channel"]) for w in body["results"]] == [
        ("rule_on_invisible_channel", "role", "chat"),
        ("acw_timer_without_acw", "agent", "email"),
        ("override_same_as_role", "agent", "email"),
    ]
    first = body["results"][0]
    assert first["rule"] == "R1"
    assert first["role"] == {"id": blended.pk, "name": "Blended"}
    assert first["agent"] is None
    assert first["key"] == "channel_cap"
    assert first["message"].startswith("Chat is not visible to role Blended (R1)")
    assert first["fix"].startswith("Delete this rule on role Blended's page")
    assert body["results"][1]["agent"] == {"id": alice.pk, "name": "alice"}


def test_it_narrows_to_a_role_or_an_agent(admin_api, config):
    by_role = admin_api.get(URL, {"role": "mail"}).json()["results"]
    assert [(w["code"], w["agent"]["name"]) for w in by_role] == [("override_same_as_role", "erin")]
    by_agent = admin_api.get(URL, {"agent": "alice"}).json()["results"]
    assert [w["code"] for w in by_agent] == ["acw_timer_without_acw"]


@pytest.mark.parametrize(("param", "value"), [("role", "nobody"), ("agent", "nobody")])
def test_an_unknown_role_or_agent_is_a_400(admin_api, config, param, value):
    response = admin_api.get(URL, {param: value})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert param in response.json()["fields"]


def test_an_unknown_query_field_is_a_400(admin_api):
    response = admin_api.get(URL, {"team": "front"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_clean_configuration_has_an_empty_list(admin_api):
    a_role("blended", visible=["voice"])
    assert admin_api.get(URL).json()["results"] == []


def test_supervisors_use_the_admin_page_not_the_api(config):
    response = client_for(a_supervisor()).get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
