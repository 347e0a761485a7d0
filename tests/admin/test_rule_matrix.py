"""Issue 16, item 3: rule forms in the admin's words (``cc_admin.rule_matrix``).

The role page, the agent page and the global defaults page show a scope's rules as a table of
channels by concepts; saving writes the same rule rows the raw rule admin writes (history kept,
rules version bumped), only those that change.
"""

from __future__ import annotations

import dataclasses
import re
import threading

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from cc_admin.rule_matrix.form import STALE, RuleMatrixForm
from cc_rules import selectors
from cc_rules.engine.rulebook import RULES
from cc_rules.models import Channel, ReasonCode, Role, Rule, RulesVersion
from tests.factories import (
    a_compliance_officer,
    a_role,
    a_supervisor,
    an_agent,
    reason_codes,
    set_rules,
)

from .changeform import changeform_data, form_data

pytestmark = pytest.mark.django_db

GLOBAL = "/admin/cc_rules/rule/global/"


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(user)
    return client


def role_url(role: Role) -> str:
    return reverse("admin:cc_rules_role_change", args=[role.pk])


def agent_url(agent) -> str:
    return reverse("admin:cc_rules_agent_change", args=[agent.pk])


def page(client, url: str) -> tuple[object, dict, str]:
    """GET a matrix page: the response, the data its form would send, and its HTML."""
    response = client.get(url)
    assert response.status_code == 200
    data = form_data(response.context["matrix"]) if url == GLOBAL else changeform_data(response)
    return response, {**data, "_save": "Save"}, response.content.decode()


def save(client, url: str, **changes: object):
    """Load the page, change the matrix fields given (``rm-`` prefix implied), POST it."""
    _, data, _ = page(client, url)
    for name, value in changes.items():
        key = "rm-" + name
        if value is None:
            data.pop(key, None)  # an unticked box is not sent
        else:
            data[key] = value
    return client.post(url, data)


def cell_errors(html: str, cell: str) -> str:
    """The error list rendered next to one cell (``cell``: its field name, e.g.
    ``channel_cap-chat``)."""
    found = re.search(rf'<ul class="errorlist" id="rm-{re.escape(cell)}-errors">(.*?)</ul>', html)
    return found.group(1) if found else ""


def history_rows() -> int:
    return Rule.history.count() + Role.history.count()


def version() -> int:
    return RulesVersion.objects.get(pk=1).value


# -- what the pages show -------------------------------------------------------------------------
def test_the_role_page_shows_values_inherit_and_where_the_inherited_value_comes_from(root):
    set_rules({"offer_timeout_seconds": 30, "channel_cap": {"email": 4}})
    role = a_role(visible=["voice", "chat"], rules={"channel_cap": {"chat": 2}})
    _, data, html = page(root, role_url(role))
    assert data["rm-channel_cap-chat"] == "n"
    assert data["rm-channel_cap-chat-n"] == "2"
    assert data["rm-channel_cap-email"] == "inherit"
    assert data["rm-offer_timeout_seconds"] == "inherit"
    assert "inherit: 30 s (global)" in html
    assert "inherit: 4 (global)" in html  # the e-mail cap
    assert "inherit: unlimited (default)" in html  # voice: no row anywhere
    assert data["rm-visible"] == "set"
    assert "rm-visible-chat" in data
    assert "rm-visible-email" not in data  # an unticked box
    # R-numbers are small grey references, never the label; nothing is typed as JSON
    assert '<small class="cc-r">R9</small>' in html
    assert "R9 ·" not in html
    assert "<textarea" not in html
    assert 'name="rules-' not in html  # the old JSON rule rows are gone


def test_the_agent_page_shows_the_roles_values_and_the_channels_read_only(root):
    set_rules({"acw_seconds": {"voice": 20}, "acw_enabled": {"voice": True}})
    role = a_role(visible=["voice", "email"], rules={"channel_cap": {"email": 3}})
    agent = an_agent(role=role, rules={"channel_cap": {"voice": 1}})
    _, data, html = page(root, agent_url(agent))
    assert data["rm-channel_cap-voice"] == "n"
    assert data["rm-channel_cap-voice-n"] == "1"
    assert data["rm-channel_cap-email"] == "inherit"
    assert "role&#x27;s value: 3<" in html  # from the role itself: no source named
    assert "role&#x27;s value: timed 20 s (global)" in html
    assert "rm-visible" not in " ".join(data)  # visibility is the role's, shown as text
    assert "not visible to this role" in html


def test_the_global_page_shows_built_in_defaults(root):
    Channel.objects.filter(code="voice").update(visible_by_default=True)
    _, data, html = page(root, GLOBAL)
    assert data["rm-offer_timeout_seconds"] == "inherit"
    assert "inherit: 30 s (default)" in html
    assert data["rm-visible-voice"] == "on"
    assert "rm-visible-chat" not in data
    assert 'name="_save"' in html


def test_the_wrap_up_cell_reads_the_three_rules_as_one_mode(root):
    role = a_role(
        visible=["voice", "chat", "email"],
        rules={
            "acw_enabled": {"voice": True, "chat": True, "email": False},
            "acw_seconds": {"voice": 15, "chat": None},
            "after_done": {"chat": "ready"},
        },
    )
    _, data, _ = page(root, role_url(role))
    assert (data["rm-acw-voice"], data["rm-acw-voice-s"]) == ("timed", "15")
    assert data["rm-acw-chat"] == "until_done"
    assert data["rm-acw-email"] == "off"
    assert data["rm-acw-workitem"] == "inherit"
    Rule.objects.filter(key="after_done").update(value="manual")
    _, data, _ = page(root, role_url(role))
    assert data["rm-acw-chat"] == "manual"


# -- the five everyday tasks' writes ---------------------------------------------------------------
def test_giving_a_role_chat_with_a_cap_of_2_writes_visibility_and_the_cap_row(root):
    role = a_role(visible=["voice"])
    agent = an_agent(role=role)
    before = version()
    response = save(
        root,
        role_url(role),
        **{"visible-chat": "on", "channel_cap-chat": "n", "channel_cap-chat-n": "2"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    role.refresh_from_db()
    assert set(role.visible_channels.values_list("code", flat=True)) == {"voice", "chat"}
    rule = Rule.objects.get(scope="role", role=role, key="channel_cap", channel_id="chat")
    assert rule.value == 2
    assert rule.history.get().history_user.username == "root"
    assert version() > before
    rules = selectors.effective_rules(agent)
    assert "chat" in rules.visible
    assert rules.setting("channel_cap", "chat").value == 2
    assert rules.setting("channel_cap", "chat").ref.scope == "role"
    assert Rule.objects.count() == 1  # nothing else was written
    entry = LogEntry.objects.latest("action_time")
    assert "Chat: cap (inherit → 2)" in entry.get_change_message()


def test_an_agent_30_s_email_wrap_up_timer_turns_after_call_work_on_too(root):
    role = a_role(visible=["email"])
    agent = an_agent(role=role)
    response = save(root, agent_url(agent), **{"acw-email": "timed", "acw-email-s": "30"})
    assert response.status_code == 302, response.context and response.context["errors"]
    rows = {
        r.key: r.value for r in Rule.objects.filter(scope="agent", agent=agent, channel="email")
    }
    assert rows == {"acw_enabled": True, "acw_seconds": 30}
    rules = selectors.effective_rules(agent)
    assert rules.value("acw_enabled", "email") is True
    assert rules.value("acw_seconds", "email") == 30
    assert rules.setting("acw_seconds", "email").ref.scope == "agent"
    assert rules.setting("channel_cap", "email").ref.scope == "default"  # per field


def test_switching_a_cell_back_to_inherit_deletes_its_row(root):
    role = a_role(visible=["chat"], rules={"channel_cap": {"chat": 2}})
    rule = Rule.objects.get(role=role)
    response = save(root, role_url(role), **{"channel_cap-chat": "inherit"})
    assert response.status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert Rule.history.filter(id=rule.pk).latest("history_id").history_type == "-"


def test_unlimited_is_a_value_not_inherit(root):
    role = a_role(visible=["chat"], rules={"channel_cap": {"chat": 2}})
    assert save(root, role_url(role), **{"channel_cap-chat": "none"}).status_code == 302
    assert Rule.objects.get(role=role, key="channel_cap").value is None


@pytest.mark.parametrize("which", ["role", "agent", "global"])
def test_a_save_with_nothing_changed_writes_nothing(root, which):
    set_rules({"offer_timeout_seconds": 30, "blocking_pairs": [["voice", "chat"]]})
    role = a_role(
        visible=["voice", "chat"],
        rules={
            "channel_cap": {"chat": 2},
            "acw_enabled": {"voice": True},
            "acw_seconds": {"voice": 15},
            "after_done": {"voice": "not_ready"},
            "pending_release_on": ["hangup"],
        },
    )
    reason_codes("break", role=role)
    Rule.objects.create(
        scope="role", role=role, key="after_done_reason", channel_id="voice", value="break"
    )
    agent = an_agent(role=role, rules={"acw_seconds": {"chat": 10}})
    url = {"role": role_url(role), "agent": agent_url(agent), "global": GLOBAL}[which]
    rows, before = history_rows(), version()
    response = save(root, url)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert history_rows() == rows
    assert version() == before


def test_only_the_rows_that_change_are_written(root):
    role = a_role(visible=["voice"], rules={"channel_cap": {"voice": 1}, "total_cap": 3})
    untouched = {r.pk: r.history.count() for r in Rule.objects.all()}
    save(root, role_url(role), **{"total_cap-n": "4", "total_cap": "n"})
    counts = {r.pk: r.history.count() for r in Rule.objects.all()}
    cap = Rule.objects.get(key="channel_cap")
    assert counts[cap.pk] == untouched[cap.pk]
    assert Rule.objects.get(key="total_cap").value == 4


# -- wrap-up modes --------------------------------------------------------------------------------
def test_wrap_up_off_deletes_the_timer_row_at_this_scope(root):
    role = a_role(
        visible=["voice"], rules={"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 15}}
    )
    assert save(root, role_url(role), **{"acw-voice": "off", "acw-voice-s": ""}).status_code == 302
    rows = {r.key: r.value for r in Rule.objects.filter(role=role)}
    assert rows == {"acw_enabled": False}


def test_wrap_up_until_done_needs_a_status_after_done_to_land_in(root):
    role = a_role(visible=["chat"])
    response = save(root, role_url(role), **{"acw-chat": "until_done"})
    assert response.status_code == 200
    html = response.content.decode()
    assert escape("needs “After done” Ready or Not ready (now: manual)") in cell_errors(
        html, "acw-chat"
    )
    assert not Rule.objects.exists()
    response = save(root, role_url(role), **{"acw-chat": "until_done", "after_done-chat": "ready"})
    assert response.status_code == 302
    rows = {r.key: r.value for r in Rule.objects.filter(role=role)}
    assert rows == {"acw_enabled": True, "acw_seconds": None, "after_done": "ready"}


def test_wrap_up_manual_writes_after_done_manual_and_refuses_another(root):
    role = a_role(visible=["chat"])
    response = save(root, role_url(role), **{"acw-chat": "manual", "after_done-chat": "ready"})
    assert response.status_code == 200
    message = escape("needs “After done” manual (now: Ready)")
    assert message in cell_errors(response.content.decode(), "acw-chat")
    assert save(root, role_url(role), **{"acw-chat": "manual"}).status_code == 302
    rows = {r.key: r.value for r in Rule.objects.filter(role=role)}
    assert rows == {"acw_enabled": True, "acw_seconds": None, "after_done": "manual"}


def test_changing_after_done_under_a_manual_wrap_up_is_refused_at_that_cell(root):
    role = a_role(
        visible=["chat"],
        rules={
            "acw_enabled": {"chat": True},
            "acw_seconds": {"chat": None},
            "after_done": {"chat": "manual"},
        },
    )
    response = save(root, role_url(role), **{"after_done-chat": "ready"})
    assert response.status_code == 200
    html = response.content.decode()
    assert escape("needs “After done” manual (now: Ready)") in cell_errors(html, "after_done-chat")
    assert cell_errors(html, "acw-chat") == ""
    assert Rule.objects.get(key="after_done").value == "manual"


def test_status_after_done_not_ready_takes_one_of_the_roles_reasons(root):
    role = a_role(visible=["voice"])
    reason_codes("coaching", role=role)
    response = save(
        root,
        role_url(role),
        **{"after_done-voice": "not_ready", "after_done-voice-reason": "coaching"},
    )
    assert response.status_code == 302
    rows = {r.key: r.value for r in Rule.objects.filter(role=role)}
    assert rows == {"after_done": "not_ready", "after_done_reason": "coaching"}


# -- errors next to the cell, never a 500 ---------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "cell", "message"),
    [
        (
            {"channel_cap-chat": "n", "channel_cap-chat-n": "-1"},
            "channel_cap-chat",
            "A cap cannot be negative.",
        ),
        (
            {"channel_cap-chat": "n", "channel_cap-chat-n": "lots"},
            "channel_cap-chat",
            "Enter a whole number.",
        ),
        (
            {"channel_cap-chat": "n", "channel_cap-chat-n": "5000"},
            "channel_cap-chat",
            "A cap above 1000 is not a cap; use null for unlimited.",
        ),
        ({"channel_cap-chat": "n"}, "channel_cap-chat", "Enter the number for “at most”."),
        (
            {"channel_cap-chat-n": "3"},
            "channel_cap-chat",
            "Choose “at most” to use this number, or clear it.",
        ),
        ({"acw-voice": "timed", "acw-voice-s": "0"}, "acw-voice", "Seconds must be positive"),
        (
            {"reason_required": "yes"},
            "reason_required",
            "A reason is required, but no reason codes are defined for it.",
        ),
        (
            {"visible": "set", "visible-voice": None},
            "visible",
            "Tick at least one channel, or choose inherit",
        ),
        (
            {"blocking_pairs-voice-chat": "on"},
            "blocking_pairs",
            "Choose “as ticked” to use the boxes you changed, or undo them.",
        ),
        ({"channel_cap-chat": "lots"}, "channel_cap-chat", "Select a valid choice."),
    ],
)
def test_invalid_input_is_shown_next_to_its_cell_and_nothing_is_written(
    root, changes, cell, message
):
    role = a_role(visible=["voice"])
    rows, before = history_rows(), version()
    response = save(root, role_url(role), **changes)
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(message) in cell_errors(html, cell)
    assert "Please correct the error" in html
    assert not Rule.objects.exists()
    assert history_rows() == rows
    assert version() == before


def test_an_error_in_one_cell_saves_none_of_the_others(root):
    role = a_role(visible=["voice"])
    response = save(
        root,
        role_url(role),
        **{
            "total_cap": "n",
            "total_cap-n": "3",
            "channel_cap-voice": "n",
            "channel_cap-voice-n": "-4",
        },
    )
    assert response.status_code == 200
    assert not Rule.objects.exists()


def test_the_global_page_shows_errors_next_to_the_cell_too(root):
    response = save(root, GLOBAL, **{"offer_timeout_seconds": "n", "offer_timeout_seconds-n": "0"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Seconds must be positive" in cell_errors(html, "offer_timeout_seconds")
    assert not Rule.objects.exists()


def test_a_concurrent_edit_is_refused_once_then_saving_again_applies_the_table(root):
    role = a_role(visible=["chat"])
    _, data, _ = page(root, role_url(role))
    Rule.objects.create(scope="role", role=role, key="total_cap", value=4)  # another admin
    data.update({"rm-channel_cap-chat": "n", "rm-channel_cap-chat-n": "2"})
    response = root.post(role_url(role), data)
    assert response.status_code == 200
    assert escape(STALE) in response.content.decode()
    assert list(Rule.objects.values_list("key", "value")) == [("total_cap", 4)]
    again = {**changeform_data(response), "_save": "Save"}  # the page as shown after refusal
    assert root.post(role_url(role), again).status_code == 302
    assert dict(Rule.objects.values_list("key", "value")) == {"channel_cap": 2}


# -- set-valued rules ---------------------------------------------------------------------------
def test_the_blocking_pair_grid_writes_while_on_x_no_new_y(root):
    role = a_role(visible=["voice", "chat", "email"])
    agent = an_agent(role=role)
    response = save(
        root,
        role_url(role),
        **{
            "blocking_pairs": "set",
            "blocking_pairs-voice-chat": "on",
            "blocking_pairs-chat-email": "on",
        },
    )
    assert response.status_code == 302
    assert Rule.objects.get(role=role, key="blocking_pairs").value == [
        ["chat", "email"],
        ["voice", "chat"],
    ]
    assert selectors.effective_rules(agent).value("blocking_pairs") == {
        ("voice", "chat"),
        ("chat", "email"),
    }
    _, data, html = page(root, role_url(role))
    assert data["rm-blocking_pairs"] == "set"
    assert "rm-blocking_pairs-voice-chat" in data
    assert "rm-blocking_pairs-chat-voice" not in data
    assert 'name="rm-blocking_pairs-voice-voice"' not in html  # a channel never blocks itself
    # none ticked is a value (no pairs), not inherit
    set_rules({"blocking_pairs": [["voice", "email"]]})
    save(
        root,
        role_url(role),
        **{"blocking_pairs-voice-chat": None, "blocking_pairs-chat-email": None},
    )
    assert Rule.objects.get(role=role, key="blocking_pairs").value == []
    response = save(
        root, role_url(role), **{"blocking_pairs": "inherit", "blocking_pairs-voice-email": "on"}
    )
    assert response.status_code == 302, response.context["errors"]
    assert not Rule.objects.filter(role=role, key="blocking_pairs").exists()


def test_release_events_are_one_set_shown_per_channel(root):
    role = a_role(visible=["voice", "chat", "facebook", "email"])
    _, data, html = page(root, role_url(role))
    assert data["rm-pending_release_on"] == "inherit"
    # each channel shows the end events it can produce, ticked as inherited (all by default)
    for box in (
        "voice-hangup",
        "chat-chat_ended",
        "facebook-chat_ended",
        "email-sent",
        "email-workbin",
        "workitem-workbin",
    ):
        assert data[f"rm-pending_release_on-{box}"] == "on"
    assert 'name="rm-pending_release_on-voice-sent"' not in html
    assert 'name="rm-pending_release_on-im-' not in html
    # unticking "chat ended" on the chat row alone removes the event (its copies on
    # Facebook, Twitter and co-browse were left as they were)
    response = save(
        root,
        role_url(role),
        **{
            "pending_release_on": "set",
            "pending_release_on-chat-chat_ended": None,
            "pending_release_on-email-workbin": None,
            "pending_release_on-workitem-workbin": None,
        },
    )
    assert response.status_code == 302
    assert Rule.objects.get(role=role, key="pending_release_on").value == ["hangup", "sent"]
    _, data, _ = page(root, role_url(role))
    assert "rm-pending_release_on-twitter-chat_ended" not in data
    # ticking it on one row brings it back
    save(root, role_url(role), **{"pending_release_on-twitter-chat_ended": "on"})
    assert Rule.objects.get(role=role, key="pending_release_on").value == [
        "chat_ended",
        "hangup",
        "sent",
    ]


def test_dialable_number_types_are_checkboxes(root):
    role = a_role(visible=["voice"])
    response = save(
        root,
        role_url(role),
        **{"dialable_number_types": "set", "dialable_number_types-toll_free": None},
    )
    assert response.status_code == 302
    assert Rule.objects.get(role=role).value == ["fixed_line", "fixed_line_or_mobile", "mobile"]


# -- the global page ------------------------------------------------------------------------------
def test_the_global_page_writes_global_rows_and_default_visibility(root):
    response = save(
        root,
        GLOBAL,
        **{"offer_timeout_seconds": "n", "offer_timeout_seconds-n": "45", "visible-chat": "on"},
    )
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.scope, rule.key, rule.value) == ("global", "offer_timeout_seconds", 45)
    assert Channel.objects.get(code="chat").visible_by_default is True
    role = a_role(visible=[])
    assert selectors.effective_rules(an_agent(role=role)).visible == {"chat"}


# -- agent scope --------------------------------------------------------------------------------
def test_the_agent_page_offers_only_rules_settable_per_agent(root, monkeypatch):
    agent = an_agent(visible=["voice"])
    _, data, _ = page(root, agent_url(agent))
    assert "rm-total_cap" in data
    monkeypatch.setitem(
        RULES, "total_cap", dataclasses.replace(RULES["total_cap"], agent_scope=False)
    )
    monkeypatch.setitem(
        RULES, "channel_cap", dataclasses.replace(RULES["channel_cap"], agent_scope=False)
    )
    _, data, _ = page(root, agent_url(agent))
    assert "rm-total_cap" not in data
    assert not any(name.startswith("rm-channel_cap") for name in data)
    assert "rm-acw-voice" in data
    assert save(root, agent_url(agent), **{"acw-voice": "off"}).status_code == 302


# -- who may change -------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["compliance", "supervisor"])
def test_read_only_users_see_the_matrix_disabled_and_cannot_post(root, client, who):
    role = a_role(visible=["chat"])
    agent = an_agent(role=role)
    _, role_data, _ = page(root, role_url(role))
    _, agent_data, _ = page(root, agent_url(agent))
    _, global_data, _ = page(root, GLOBAL)
    reader = a_compliance_officer() if who == "compliance" else a_supervisor(of=[agent])
    client.force_login(reader)
    for url, data in [
        (role_url(role), role_data),
        (agent_url(agent), agent_data),
        (GLOBAL, global_data),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        matrix = html[html.index('id="cc-rule-matrix"') :]
        assert re.search(r'<select name="rm-channel_cap-chat"[^>]*disabled', matrix), url
        assert 'name="_save"' not in html, url
        data = {**data, "rm-channel_cap-chat": "n", "rm-channel_cap-chat-n": "2"}
        assert client.post(url, data).status_code == 403, url
    assert not Rule.objects.exists()


def test_a_post_without_the_table_changes_no_rule(root):
    role = a_role(visible=["chat"], rules={"channel_cap": {"chat": 2}})
    agent = an_agent(role=role, rules={"total_cap": 1})
    other = a_role(visible=["voice"])
    data = {"user": agent.user_id, "role": other.pk, "extension": "4242", "is_active": "on"}
    rows = history_rows()
    assert root.post(agent_url(agent), {**data, "_save": "Save"}).status_code == 302
    agent.refresh_from_db()
    assert (agent.role, agent.extension) == (other, "4242")
    assert history_rows() == rows


def test_reason_codes_stay_an_inline_of_the_role_page(root):
    role = a_role(visible=["voice"])
    _, data, _ = page(root, role_url(role))
    data.update(
        {
            "reason_codes-TOTAL_FORMS": "1",
            "reason_codes-0-code": "coaching",
            "reason_codes-0-label": "Coaching",
            "rm-total_cap": "n",
            "rm-total_cap-n": "2",
        }
    )
    assert root.post(role_url(role), data).status_code == 302
    assert ReasonCode.objects.get(role=role).code == "coaching"
    assert Rule.objects.get(role=role).value == 2


# -- getting there ------------------------------------------------------------------------------
def test_adding_a_role_continues_to_its_rules(root):
    response = root.post(
        reverse("admin:cc_rules_role_add"),
        {
            "name": "night",
            "label": "Night shift",
            "visible_channels": ["voice"],
            "reason_codes-TOTAL_FORMS": "0",
            "reason_codes-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    role = Role.objects.get(name="night")
    assert response.status_code == 302
    assert response["Location"] == role_url(role)
    _, _, html = page(root, role_url(role))
    assert 'id="cc-rule-matrix"' in html


def test_the_global_defaults_page_is_linked_from_the_index_and_the_rule_list(root):
    assert GLOBAL in root.get(reverse("admin:index")).content.decode()
    assert GLOBAL in root.get(reverse("admin:cc_rules_rule_changelist")).content.decode()
    response = root.get(reverse("admin:cc_rules_reasoncode_changelist"), {"role__isnull": "True"})
    assert response.status_code == 200  # the page's link to the global reason codes


# -- the raw rule admin: the value of an existing rule is typed by its key ------------------------
def rule_page(client, rule: Rule) -> tuple[dict, str]:
    response = client.get(reverse("admin:cc_rules_rule_change", args=[rule.pk]))
    assert response.status_code == 200
    return {**changeform_data(response), "_save": "Save"}, response.content.decode()


def test_the_raw_rule_page_edits_a_set_with_checkboxes(root):
    (rule,) = set_rules({"pending_release_on": ["hangup", "sent"]})
    data, html = rule_page(root, rule)
    assert 'name="key"' not in html  # another key is another rule
    ticked = re.findall(r'<input type="checkbox" name="value" value="([^"]*)"[^>]*checked', html)
    assert ticked == ["&quot;hangup&quot;", "&quot;sent&quot;"]
    assert "<textarea" not in html
    data["value"] = ['"chat_ended"']
    url = reverse("admin:cc_rules_rule_change", args=[rule.pk])
    assert root.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert rule.value == ["chat_ended"]
    data["value"] = []  # none ticked is the empty set
    assert root.post(url, {k: v for k, v in data.items() if k != "value"}).status_code == 302
    rule.refresh_from_db()
    assert rule.value == []


@pytest.mark.parametrize(
    ("rules", "sent", "stored"),
    [
        ({"pending_enabled": False}, "true", True),
        ({"after_done": {"voice": "manual"}}, '"ready"', "ready"),
        ({"channel_cap": {"chat": 2}}, "", None),
        ({"blocking_pairs": []}, ['["voice", "chat"]'], [["voice", "chat"]]),
    ],
)
def test_the_raw_rule_page_types_the_value_by_key(root, rules, sent, stored):
    (rule,) = set_rules(rules)
    data, html = rule_page(root, rule)
    assert "<textarea" not in html
    data["value"] = sent
    assert root.post(reverse("admin:cc_rules_rule_change", args=[rule.pk]), data).status_code == 302
    rule.refresh_from_db()
    assert rule.value == stored


def test_the_raw_rule_page_still_refuses_nonsense_next_to_the_value(root):
    (rule,) = set_rules({"channel_cap": {"chat": 2}})
    data, _ = rule_page(root, rule)
    data["value"] = "-3"
    response = root.post(reverse("admin:cc_rules_rule_change", args=[rule.pk]), data)
    assert response.status_code == 200
    assert "A cap cannot be negative." in response.content.decode()
    rule.refresh_from_db()
    assert rule.value == 2


# -- two admins at once ---------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_saving_one_role_at_once_get_a_save_and_a_message_never_a_500(
    django_user_model, monkeypatch
):
    role = a_role(visible=["chat"])
    url = role_url(role)
    clients = []
    for name in ("first", "second"):
        client = Client()
        client.force_login(django_user_model.objects.create_superuser(name, f"{name}@x.org", "x"))
        clients.append(client)
    bodies = [page(client, url)[1] for client in clients]
    for body, cap in zip(bodies, ("2", "3"), strict=True):
        body.update({"rm-total_cap": "n", "rm-total_cap-n": cap})

    first_planning, go_on = threading.Event(), threading.Event()
    plan = RuleMatrixForm._plan

    def first_waits_while_planning(form, values, changed):
        if threading.current_thread().name == "first":
            first_planning.set()
            go_on.wait(10)
        return plan(form, values, changed)

    monkeypatch.setattr(RuleMatrixForm, "_plan", first_waits_while_planning)
    statuses: dict[str, int] = {}

    def post(index: int, name: str) -> None:
        try:
            statuses[name] = clients[index].post(url, bodies[index]).status_code
        finally:
            connection.close()

    first = threading.Thread(target=post, args=(0, "first"), name="first")
    second = threading.Thread(target=post, args=(1, "second"), name="second")
    first.start()
    assert first_planning.wait(10)
    second.start()
    second.join(1)  # the second admin waits for the first one's transaction
    assert second.is_alive()
    go_on.set()
    first.join(10)
    second.join(10)
    assert statuses == {"first": 302, "second": 200}  # the second is told, not crashed
    assert list(Rule.objects.values_list("key", "value")) == [("total_cap", 2)]
