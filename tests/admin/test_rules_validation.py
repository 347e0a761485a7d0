"""Every rule validation, through the model (``full_clean``) and through the admin forms.

The messages an admin sees are the model's and the rulebook's own (issue 2: "Model validation
that rejects nonsense … with clear messages in admin and API").
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from cc_admin.rule_matrix.form import STALE
from cc_rules.models import Agent, ReasonCode, Role, Rule

from .changeform import add_inline_row, changeform_data

pytestmark = pytest.mark.django_db

SCOPE_TARGET = (
    "Global rules name no role or agent; role rules name a role only; agent rules name an "
    "agent only."
)
DUPLICATE = "This rule is already set at this scope."


@pytest.fixture
def team(db):
    """A role with no reason codes of its own, and no global reason codes either."""
    return Role.objects.create(name="team", label="Team")


@pytest.fixture
def ann(team, django_user_model):
    user = django_user_model.objects.create_user("ann", password="x")
    return Agent.objects.create(user=user, role=team, extension="2001")


@pytest.fixture
def root_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(user)
    return client


def messages_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return exc.value.messages


def post_rule(client, **fields):
    """POST the admin's "add rule" form; JSON-encode the value as a person would type it."""
    data = {
        "key": fields["key"],
        "scope": fields.get("scope", "global"),
        "role": fields["role"].pk if fields.get("role") else "",
        "agent": fields["agent"].pk if fields.get("agent") else "",
        "channel": fields.get("channel") or "",
        "value": json.dumps(fields.get("value")),
        "note": "",
        "_save": "Save",
    }
    return client.post(reverse("admin:cc_rules_rule_add"), data)


def assert_refused_in_admin(response, message: str) -> None:
    assert response.status_code == 200, "the form is shown again, not saved"
    assert escape(message) in response.content.decode()
    assert "Please correct the error" in response.content.decode()


# -- value checks (rulebook) -----------------------------------------------------------------
VALUE_CASES = [
    pytest.param(
        {"key": "channel_cap", "channel": "voice", "value": -1},
        "A cap cannot be negative.",
        id="negative-channel-cap",
    ),
    pytest.param(
        {"key": "total_cap", "value": -2}, "A cap cannot be negative.", id="negative-total-cap"
    ),
    pytest.param(
        {"key": "channel_cap", "channel": "chat", "value": True},
        "A cap is a whole number of interactions, or null for unlimited.",
        id="bool-as-cap",
    ),
    pytest.param(
        {"key": "after_done", "channel": "voice", "value": "lunch"},
        "'lunch' is not one of: ready, not_ready, keep_acw, manual.",
        id="status-after-done-not-a-status",
    ),
    pytest.param(
        {"key": "acw_after_timer", "channel": "voice", "value": "after_call_work"},
        "'after_call_work' is not one of: ready, not_ready.",
        id="status-after-timer-not-allowed",
    ),
    pytest.param(
        {"key": "blocking_pairs", "value": [["chat", "chat"]]},
        "The pair [chat, chat] blocks a channel by itself; use the channel cap for that.",
        id="pair-blocks-channel-by-itself",
    ),
    pytest.param(
        {"key": "pending_release_on", "value": ["hangup", "teleport"]},
        "Unknown end event(s): teleport.",
        id="unknown-end-event",
    ),
    pytest.param(
        {"key": "acw_seconds", "channel": "voice", "value": 0},
        "Seconds must be positive; use null for no timer.",
        id="zero-seconds",
    ),
]


@pytest.mark.parametrize(("fields", "message"), VALUE_CASES)
def test_full_clean_refuses_nonsense_values(fields, message):
    rule = Rule(scope="global", key=fields["key"], channel_id=fields.get("channel"))
    rule.value = fields["value"]
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["value"] == [message]


@pytest.mark.parametrize(("fields", "message"), VALUE_CASES)
def test_admin_add_form_shows_the_value_message(root_client, fields, message):
    response = post_rule(root_client, **fields)
    assert_refused_in_admin(response, message)
    assert response.context["adminform"].form.errors["value"] == [message]
    assert not Rule.objects.exists()


def test_admin_value_that_is_not_json_is_refused_with_a_hint(root_client):
    response = root_client.post(
        reverse("admin:cc_rules_rule_add"),
        {"key": "total_cap", "scope": "global", "value": "[1,", "_save": "Save"},
    )
    assert response.status_code == 200
    assert "Enter JSON" in response.context["adminform"].form.errors["value"][0]


def test_admin_accepts_a_bare_word_as_text(root_client):
    response = root_client.post(
        reverse("admin:cc_rules_rule_add"),
        {"key": "after_done", "scope": "global", "channel": "voice", "value": "ready"},
    )
    assert response.status_code == 302
    assert Rule.objects.get(key="after_done").value == "ready"


# -- reason codes must exist ---------------------------------------------------------------------
def test_full_clean_refuses_reason_required_when_no_reason_codes_exist():
    rule = Rule(scope="global", key="reason_required", value=True)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["value"] == [
        "A reason is required, but no reason codes are defined for it."
    ]


def test_full_clean_refuses_reason_required_for_a_role_without_any_codes(team):
    rule = Rule(scope="role", role=team, key="reason_required", value=True)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert "no reason codes are defined" in exc.value.message_dict["value"][0]


def test_reason_required_is_accepted_once_the_role_has_codes(team):
    ReasonCode.objects.create(role=team, code="coaching", label="Coaching")
    Rule(scope="role", role=team, key="reason_required", value=True).full_clean()


def test_admin_refuses_reason_required_when_no_reason_codes_exist(root_client, team):
    response = post_rule(root_client, key="reason_required", scope="role", role=team, value=True)
    assert_refused_in_admin(
        response, "A reason is required, but no reason codes are defined for it."
    )


def test_full_clean_refuses_a_status_after_done_reason_that_is_not_a_code(team):
    ReasonCode.objects.create(role=None, code="break", label="Break")
    rule = Rule(scope="role", role=team, key="after_done_reason", channel_id="voice", value="nap")
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["value"] == ["'nap' is not a reason code of this scope."]


def test_admin_refuses_a_status_after_done_reason_that_is_not_a_code(root_client, ann):
    ReasonCode.objects.create(role=None, code="break", label="Break")
    response = post_rule(
        root_client, key="after_done_reason", scope="agent", agent=ann, channel="voice", value="nap"
    )
    assert_refused_in_admin(response, "'nap' is not a reason code of this scope.")


# -- channel or not --------------------------------------------------------------------------------
def test_full_clean_refuses_a_per_channel_rule_without_a_channel():
    rule = Rule(scope="global", key="channel_cap", value=2)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["channel"] == ["This rule is set per channel; choose a channel."]


def test_admin_refuses_a_per_channel_rule_without_a_channel(root_client):
    response = post_rule(root_client, key="channel_cap", value=2)
    assert_refused_in_admin(response, "This rule is set per channel; choose a channel.")
    assert response.context["adminform"].form.errors["channel"]


def test_full_clean_refuses_a_global_key_with_a_channel():
    rule = Rule(scope="global", key="total_cap", channel_id="voice", value=2)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["channel"] == [
        "This rule applies to all channels; leave the channel empty."
    ]


def test_admin_refuses_a_global_key_with_a_channel(root_client):
    response = post_rule(root_client, key="total_cap", channel="voice", value=2)
    assert_refused_in_admin(response, "This rule applies to all channels; leave the channel empty.")


# -- scope and target ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scope", "with_role", "with_agent"),
    [
        ("global", True, False),
        ("global", False, True),
        ("role", False, False),
        ("role", True, True),
        ("agent", False, False),
        ("agent", True, True),
    ],
)
def test_full_clean_refuses_a_scope_that_does_not_match_its_target(
    team, ann, scope, with_role, with_agent
):
    rule = Rule(
        scope=scope,
        role=team if with_role else None,
        agent=ann if with_agent else None,
        key="total_cap",
        value=2,
    )
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert SCOPE_TARGET in messages_of(exc)


@pytest.mark.parametrize(
    ("scope", "with_role", "with_agent", "field", "message"),
    [
        (
            "global",
            True,
            False,
            "role",
            "A global rule names no role; clear it or pick scope Role.",
        ),
        ("role", False, False, "role", "Choose the role this rule applies to."),
        ("role", True, True, "agent", "A role rule names no agent."),
        ("agent", False, False, "agent", "Choose the agent this rule applies to."),
        (
            "agent",
            True,
            True,
            "role",
            "An agent rule names no role (the agent's own role is implied).",
        ),
    ],
)
def test_admin_names_the_field_to_fix_when_scope_and_target_do_not_match(
    root_client, team, ann, scope, with_role, with_agent, field, message
):
    response = post_rule(
        root_client,
        key="total_cap",
        scope=scope,
        role=team if with_role else None,
        agent=ann if with_agent else None,
        value=2,
    )
    assert_refused_in_admin(response, message)
    assert response.context["adminform"].form.errors[field] == [message]
    assert not Rule.objects.exists()


# -- one value per scope ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scope", "key", "channel"),
    [
        ("global", "total_cap", None),
        ("global", "channel_cap", "chat"),
        ("role", "total_cap", None),
        ("agent", "channel_cap", "voice"),
    ],
)
def test_full_clean_refuses_a_second_rule_at_the_same_scope(team, ann, scope, key, channel):
    target = {"role": team if scope == "role" else None, "agent": ann if scope == "agent" else None}
    Rule.objects.create(scope=scope, key=key, channel_id=channel, value=2, **target)
    second = Rule(scope=scope, key=key, channel_id=channel, value=3, **target)
    with pytest.raises(ValidationError) as exc:
        second.full_clean()
    assert DUPLICATE in messages_of(exc)


def test_the_same_key_on_another_channel_or_scope_is_not_a_duplicate(team):
    Rule.objects.create(scope="global", key="channel_cap", channel_id="chat", value=2)
    Rule(scope="global", key="channel_cap", channel_id="email", value=2).full_clean()
    Rule(scope="role", role=team, key="channel_cap", channel_id="chat", value=2).full_clean()


def test_admin_refuses_a_second_rule_at_the_same_scope(root_client, team):
    Rule.objects.create(scope="role", role=team, key="total_cap", value=4)
    response = post_rule(root_client, key="total_cap", scope="role", role=team, value=5)
    assert_refused_in_admin(response, DUPLICATE)
    assert Rule.objects.get().value == 4


# -- the same checks on a role's and an agent's page (the rule matrix, cc_admin.rule_matrix) ----
# A row twice, or a per-channel rule without its channel, cannot be asked for there.
def role_page_data(client, role: Role) -> dict:
    response = client.get(reverse("admin:cc_rules_role_change", args=[role.pk]))
    assert response.status_code == 200
    return {**changeform_data(response), "_save": "Save"}


def test_role_page_refuses_a_negative_cap(root_client, team):
    data = role_page_data(root_client, team)
    data.update({"rm-channel_cap-voice": "n", "rm-channel_cap-voice-n": "-1"})
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert_refused_in_admin(response, "A cap cannot be negative.")
    assert not Rule.objects.exists()


def test_role_page_refuses_a_row_someone_else_saved_meanwhile(root_client, team):
    data = role_page_data(root_client, team)
    Rule.objects.create(scope="role", role=team, key="total_cap", value=4)  # another admin
    data.update({"rm-total_cap": "n", "rm-total_cap-n": "5"})
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert_refused_in_admin(response, STALE)
    assert list(Rule.objects.values_list("value", flat=True)) == [4]


def test_role_page_refuses_reason_required_when_neither_role_nor_global_has_codes(
    root_client, team
):
    data = {**role_page_data(root_client, team), "rm-reason_required": "yes"}
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert_refused_in_admin(
        response, "A reason is required, but no reason codes are defined for it."
    )
    assert not Rule.objects.exists()


def test_role_page_refuses_a_reason_code_twice(root_client, team):
    ReasonCode.objects.create(role=team, code="coaching", label="Coaching")
    data = role_page_data(root_client, team)
    add_inline_row(data, "reason_codes", {"code": "coaching", "label": "Again"})
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert response.status_code == 200
    assert "The reason code coaching appears twice" in response.content.decode()
    assert ReasonCode.objects.filter(role=team).count() == 1


def test_role_page_refuses_a_reason_code_someone_else_saved_meanwhile(root_client, team):
    data = role_page_data(root_client, team)
    ReasonCode.objects.create(role=team, code="coaching", label="Coaching")
    add_inline_row(data, "reason_codes", {"code": "coaching", "label": "Again"})
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert response.status_code == 200
    assert "Please correct the error" in response.content.decode()
    assert ReasonCode.objects.filter(role=team).count() == 1


def test_role_page_refuses_a_system_reason_as_reason_code(root_client, team):
    data = role_page_data(root_client, team)
    add_inline_row(data, "reason_codes", {"code": "login", "label": "Login"})
    response = root_client.post(reverse("admin:cc_rules_role_change", args=[team.pk]), data)
    assert_refused_in_admin(response, "'login' is a system reason; pick another code.")


def test_agent_page_refuses_an_override_someone_else_saved_meanwhile(root_client, ann):
    url = reverse("admin:cc_rules_agent_change", args=[ann.pk])
    data = {**changeform_data(root_client.get(url)), "_save": "Save"}
    Rule.objects.create(scope="agent", agent=ann, key="channel_cap", channel_id="chat", value=1)
    data.update({"rm-channel_cap-chat": "n", "rm-channel_cap-chat-n": "2"})
    response = root_client.post(url, data)
    assert_refused_in_admin(response, STALE)
    assert Rule.objects.get().value == 1
