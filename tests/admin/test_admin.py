"""The admin: every page renders, rule changes are recorded, compliance and supervisors only
read, and a change made here reaches the resolver (and the API) on the next request."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from cc_admin.forms import AgentForm
from cc_rules import selectors
from cc_rules.models import (
    Agent,
    AgentChannelState,
    Contact,
    Interaction,
    ReasonCode,
    Role,
    Rule,
    StatusChange,
    Workbin,
)
from cc_rules.services import status as status_service

from .changeform import add_inline_row, changeform_data

pytestmark = pytest.mark.django_db

EDITABLE = ["role", "reasoncode", "rule", "agent", "workbin", "contact"]
CHANGELISTS = [
    "channel",
    *EDITABLE,
    "statuschange",
    "agentchannelstate",
    "interaction",
    "historicalrule",
    "historicalrole",
    "historicalreasoncode",
]
# What compliance and supervisors may see (cc_rules.permissions_setup.READ_MODELS).
READ_ONLY_FOR_STAFF = [
    "channel",
    "role",
    "reasoncode",
    "rule",
    "agent",
    "workbin",
    "statuschange",
    "agentchannelstate",
    "interaction",
    "historicalrule",
    "historicalrole",
    "historicalreasoncode",
]
# Markers of anything that writes: add links, save buttons, delete links, the action select.
WRITE_MARKERS = [
    'class="addlink"',
    'name="_save"',
    'name="_continue"',
    'name="_addanother"',
    'class="deletelink"',
    'name="action"',
    'value="Revert"',
]


def login(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def root(client, demo_world):
    return login(client, "admin")


@pytest.fixture
def live(demo_world):
    """Alice logged in (status rows and history exist) with one chat offered to her."""
    alice = Agent.objects.get(user__username="alice")
    status_service.session_login(alice.pk, channels=None, actor=None, request_id="test")
    Interaction.objects.create(
        channel_id="chat",
        agent=alice,
        direction="inbound",
        contact=Contact.objects.first(),
        created_at=timezone.now(),
    )
    return alice


def some_object(model_name: str):
    models = {
        "channel": lambda: "voice",
        "role": lambda: Role.objects.get(name="blended").pk,
        "reasoncode": lambda: ReasonCode.objects.first().pk,
        "rule": lambda: Rule.objects.filter(scope="role").first().pk,
        "agent": lambda: Agent.objects.get(user__username="alice").pk,
        "workbin": lambda: Workbin.objects.first().pk,
        "contact": lambda: Contact.objects.first().pk,
        "statuschange": lambda: StatusChange.objects.first().pk,
        "agentchannelstate": lambda: AgentChannelState.objects.first().pk,
        "interaction": lambda: Interaction.objects.first().pk,
        "historicalrule": lambda: Rule.history.first().pk,
        "historicalrole": lambda: Role.history.first().pk,
        "historicalreasoncode": lambda: ReasonCode.history.first().pk,
    }
    return models[model_name]()


def page(client, name: str, *args, **query):
    response = client.get(reverse(f"admin:cc_rules_{name}", args=args), query)
    return response, response.content.decode()


def main(html: str) -> str:
    """The page without the navigation sidebar (which links to every model a user may add)."""
    return html[html.index('id="content-start"') :]


# -- every page renders -----------------------------------------------------------------------
@pytest.mark.parametrize("model", CHANGELISTS)
def test_every_changelist_renders_for_a_superuser(root, live, model):
    response, _ = page(root, f"{model}_changelist")
    assert response.status_code == 200


@pytest.mark.parametrize("model", EDITABLE)
def test_every_add_page_renders_for_a_superuser(root, model):
    response, _ = page(root, f"{model}_add")
    assert response.status_code == 200


@pytest.mark.parametrize("model", CHANGELISTS)
def test_every_change_page_renders_for_a_superuser(root, live, model):
    response, _ = page(root, f"{model}_change", some_object(model))
    assert response.status_code == 200


@pytest.mark.parametrize("model", ["rule", "role", "reasoncode"])
def test_history_pages_render_for_a_superuser(root, model):
    response, _ = page(root, f"{model}_history", some_object(model))
    assert response.status_code == 200


def test_changelist_search_and_filters_work(root, live):
    assert page(root, "agent_changelist", q="1001")[1].count("field-username") == 1
    assert "alice" in page(root, "agent_changelist", q="alice")[1]
    response, html = page(root, "rule_changelist", scope="role", key="channel_cap", q="blended")
    assert response.status_code == 200
    assert "Max open interactions on the channel" in html
    response, _ = page(root, "statuschange_changelist", channel__code__exact="voice")
    assert response.status_code == 200


def test_rule_changelist_reads_like_a_sentence(root):
    _, html = page(root, "rule_changelist", scope="role", q="blended")
    assert "R9 · Max open interactions on the channel" in html
    assert "role Blended agent" in html


def test_channels_cannot_be_added_or_deleted(root):
    assert page(root, "channel_add")[0].status_code == 403
    response = root.post(reverse("admin:cc_rules_channel_delete", args=["voice"]), {"post": "yes"})
    assert response.status_code == 403
    _, html = page(root, "channel_changelist")
    assert 'class="addlink"' not in main(html)
    assert 'name="form-0-visible_by_default"' in html  # list-editable


def test_channel_visibility_is_list_editable(root):
    _, html = page(root, "channel_changelist")
    response = root.post(
        reverse("admin:cc_rules_channel_changelist"),
        _channel_changelist_data(html, {"cobrowse": True}),
    )
    assert response.status_code == 302
    from cc_rules.models import Channel

    assert Channel.objects.get(code="cobrowse").visible_by_default is True


def _channel_changelist_data(html: str, visible: dict[str, bool]) -> dict:
    codes = re.findall(r'name="form-(\d+)-code" value="(\w+)"', html)
    data = {
        "form-TOTAL_FORMS": str(len(codes)),
        "form-INITIAL_FORMS": str(len(codes)),
        "_save": "Save",
    }
    for index, code in codes:
        data[f"form-{index}-code"] = code
        if visible.get(code):
            data[f"form-{index}-visible_by_default"] = "on"
    return data


@pytest.mark.parametrize("model", ["statuschange", "agentchannelstate", "interaction"])
def test_ledger_and_live_state_cannot_be_changed_even_by_a_superuser(root, live, model):
    obj = some_object(model)
    listing = main(page(root, f"{model}_changelist")[1])
    detail = main(page(root, f"{model}_change", obj)[1])
    for marker in WRITE_MARKERS:
        assert marker not in listing
        assert marker not in detail
    assert page(root, f"{model}_add")[0].status_code == 403
    assert root.post(reverse(f"admin:cc_rules_{model}_change", args=[obj]), {}).status_code == 403
    delete = reverse(f"admin:cc_rules_{model}_delete", args=[obj])
    assert root.post(delete, {"post": "yes"}).status_code == 403


def test_agents_cannot_be_deleted_only_deactivated(root):
    alice = some_object("agent")
    response = root.post(reverse("admin:cc_rules_agent_delete", args=[alice]), {"post": "yes"})
    assert response.status_code == 403
    assert Agent.objects.filter(pk=alice).exists()


# -- rule changes are recorded ------------------------------------------------------------------
def edit_rule(client, rule: Rule, value: str):
    url = reverse("admin:cc_rules_rule_change", args=[rule.pk])
    data = changeform_data(client.get(url))
    data.update({"value": value, "_save": "Save"})
    return client.post(url, data)


def test_a_rule_change_in_admin_is_recorded_with_user_old_and_new_value(root):
    rule = Rule.objects.get(scope="role", role__name="blended", key="channel_cap", channel="chat")
    assert edit_rule(root, rule, "4").status_code == 302
    record = rule.history.first()
    assert record.history_type == "~"
    assert record.history_user.username == "admin"
    assert record.prev_record.value == 2
    assert record.value == 4
    delta = record.diff_against(record.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("value", 2, 4)]


def test_the_rule_history_page_shows_who_and_the_old_and_new_value(root, client):
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    edit_rule(root, rule, "5")
    cora = login(client, "cora")
    response, html = page(cora, "rule_history", rule.pk)
    assert response.status_code == 200
    row = html[html.index("change-history") :]
    assert "admin" in row
    assert re.search(r"<strong>Value:</strong>\s*6\s*&nbsp;&rarr;&nbsp;&nbsp;5", row)
    assert '<th scope="col">value</th>' in row


def test_compliance_sees_every_rule_change_in_one_list(root, client):
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    edit_rule(root, rule, "5")
    root.post(reverse("admin:cc_rules_rule_delete", args=[rule.pk]), {"post": "yes"})
    assert not Rule.objects.filter(pk=rule.pk).exists()
    cora = login(client, "cora")
    response, html = page(cora, "historicalrule_changelist", q="total_cap")
    assert response.status_code == 200
    for kind in ("Created", "Changed", "Deleted"):
        assert kind in html
    assert "<strong>value</strong>: 6 → 5" in html
    assert "R9 · Max open interactions over all channels — role Blended agent" in html


def test_a_role_visibility_change_is_recorded_with_old_and_new_channels(root):
    role = Role.objects.get(name="email_specialist")
    url = reverse("admin:cc_rules_role_change", args=[role.pk])
    data = {**changeform_data(root.get(url)), "_save": "Save"}
    data["rm-visible-chat"] = "on"  # the rule matrix's "Sees" column
    assert root.post(url, data).status_code == 302
    _, html = page(root, "historicalrole_changelist", q="email_specialist")
    assert "<strong>visible_channels</strong>: email → chat, email" in html


# -- compliance and supervisors read, never write ---------------------------------------------
@pytest.mark.parametrize("username", ["cora", "sam"])
@pytest.mark.parametrize("model", READ_ONLY_FOR_STAFF)
def test_compliance_and_supervisors_see_every_list_and_page_without_write_buttons(
    client, live, username, model
):
    login(client, username)
    listing, list_html = page(client, f"{model}_changelist")
    detail, detail_html = page(client, f"{model}_change", some_object(model))
    assert listing.status_code == 200
    assert detail.status_code == 200
    for marker in WRITE_MARKERS:
        assert marker not in list_html, marker
        assert marker not in detail_html, marker


@pytest.mark.parametrize("model", ["rule", "role", "reasoncode", "agent", "workbin", "channel"])
def test_compliance_cannot_add_or_change_anything(client, live, model):
    login(client, "cora")
    obj = some_object(model)
    assert client.get(reverse(f"admin:cc_rules_{model}_add")).status_code == 403
    assert client.post(reverse(f"admin:cc_rules_{model}_add"), {}).status_code == 403
    change = reverse(f"admin:cc_rules_{model}_change", args=[obj])
    assert client.post(change, {}).status_code == 403
    delete = reverse(f"admin:cc_rules_{model}_delete", args=[obj])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_compliance_post_of_a_full_rule_form_changes_nothing(root, client):
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    url = reverse("admin:cc_rules_rule_change", args=[rule.pk])
    data = {**changeform_data(root.get(url)), "value": "99", "_save": "Save"}
    login(client, "cora")
    assert client.post(url, data).status_code == 403
    rule.refresh_from_db()
    assert rule.value == 6


def test_compliance_cannot_revert_a_rule_through_its_history(root, client):
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    edit_rule(root, rule, "5")
    old = rule.history.last()  # the version created by the seed, value 6
    url = reverse("admin:cc_rules_rule_simple_history", args=[rule.pk, old.history_id])
    login(client, "cora")
    response = client.get(url)
    assert response.status_code == 200
    assert 'value="Revert"' not in response.content.decode()
    data = {"key": "total_cap", "scope": "role", "role": rule.role_id, "value": "6"}
    assert client.post(url, {**data, "_save": "Revert"}).status_code == 403
    rule.refresh_from_db()
    assert rule.value == 5


def test_a_superuser_can_revert_a_rule_through_its_history(root):
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    edit_rule(root, rule, "5")
    old = rule.history.last()
    url = reverse("admin:cc_rules_rule_simple_history", args=[rule.pk, old.history_id])
    data = {**changeform_data(root.get(url)), "_save": "Revert"}
    assert root.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert rule.value == 6


def test_compliance_sees_the_history_button_on_a_rule(client, demo_world):
    login(client, "cora")
    rule = some_object("rule")
    _, html = page(client, "rule_change", rule)
    assert reverse("admin:cc_rules_rule_history", args=[rule]) in html


def test_agents_without_staff_status_do_not_reach_the_admin(client, demo_world):
    login(client, "alice")
    response = client.get(reverse("admin:cc_rules_rule_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# -- changes reach the resolver and the API without a restart -----------------------------------
def test_a_role_rule_changed_on_the_role_page_is_used_on_the_next_call(root):
    alice = Agent.objects.get(user__username="alice")
    assert selectors.effective_rules(alice).value("channel_cap", "chat") == 2  # now cached
    role = alice.role
    url = reverse("admin:cc_rules_role_change", args=[role.pk])
    data = {**changeform_data(root.get(url)), "_save": "Save"}
    assert data["rm-channel_cap-chat-n"] == "2"
    data["rm-channel_cap-chat-n"] = "4"
    assert root.post(url, data).status_code == 302
    setting = selectors.effective_rules(alice).setting("channel_cap", "chat")
    assert setting.value == 4
    assert setting.ref.scope == "role"
    assert selectors.effective_rules(alice).value("channel_cap", "email") == 3


def test_a_role_page_saves_several_new_rules_at_once(root):
    role = Role.objects.get(name="email_specialist")
    url = reverse("admin:cc_rules_role_change", args=[role.pk])
    data = {**changeform_data(root.get(url)), "_save": "Save"}
    data.update({"rm-total_cap": "n", "rm-total_cap-n": "5"})
    data["rm-acw-email"] = "manual"  # after done is manual already: ACW on, no timer
    add_inline_row(data, "reason_codes", {"code": "research", "label": "Research"})
    add_inline_row(data, "reason_codes", {"code": "callback", "label": "Call-back"})
    assert root.post(url, data).status_code == 302
    erin = Agent.objects.get(user__username="erin")
    rules = selectors.effective_rules(erin)
    assert rules.value("total_cap") == 5
    assert rules.value("acw_enabled", "email") is True
    assert rules.reason_codes == {"research", "callback"}
    assert Rule.objects.get(role=role, key="total_cap").history.first().history_user.username == (
        "admin"
    )


def test_an_agent_role_change_in_admin_is_used_on_the_next_call(root):
    erin = Agent.objects.get(user__username="erin")
    assert selectors.effective_rules(erin).visible == {"email"}
    url = reverse("admin:cc_rules_agent_change", args=[erin.pk])
    data = {**changeform_data(root.get(url)), "_save": "Save"}
    data["role"] = str(Role.objects.get(name="blended").pk)
    assert root.post(url, data).status_code == 302
    erin.refresh_from_db()
    assert selectors.effective_rules(erin).visible == {"voice", "email", "chat", "im"}


def set_cap_override_in_admin(client, agent: Agent, channel: str, value: str) -> None:
    url = reverse("admin:cc_rules_agent_change", args=[agent.pk])
    data = {**changeform_data(client.get(url)), "_save": "Save"}
    data.update({f"rm-channel_cap-{channel}": "n", f"rm-channel_cap-{channel}-n": value})
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]


def test_an_agent_override_set_in_admin_is_used_on_the_next_call(root):
    alice = Agent.objects.get(user__username="alice")
    assert selectors.effective_rules(alice).value("channel_cap", "chat") == 2
    set_cap_override_in_admin(root, alice, "chat", "1")
    rules = selectors.effective_rules(alice)
    assert rules.setting("channel_cap", "chat").value == 1
    assert rules.setting("channel_cap", "chat").ref.scope == "agent"
    assert rules.setting("channel_cap", "email").ref.scope == "role"  # per field


def test_an_agent_override_set_in_admin_changes_the_api_on_the_next_request(root, api):
    alice = Agent.objects.get(user__username="alice")
    client = api("alice")

    def chat_cap() -> dict:
        body = client.get("/api/v1/me/effective-rules/").json()
        return next(
            r for r in body["rules"] if r["key"] == "channel_cap" and r["channel"] == "chat"
        )

    assert (chat_cap()["value"], chat_cap()["scope"]) == (2, "role")
    set_cap_override_in_admin(root, alice, "chat", "1")
    assert (chat_cap()["value"], chat_cap()["scope"]) == (1, "agent")


def test_the_agent_page_shows_effective_rules_and_where_they_come_from(root):
    alice = Agent.objects.get(user__username="alice")
    Rule.objects.create(scope="agent", agent=alice, key="acw_seconds", channel_id="voice", value=40)
    _, html = page(root, "agent_change", alice.pk)
    panel = html[html.index("cc-effective-rules") :]
    assert re.search(
        r"Wrap-up timer \(seconds\) <small[^>]*>R14</small></td>\s*<td>Voice</td>\s*<td>40 s</td>",
        panel,
    )
    assert "<strong>agent override</strong>" in panel
    assert re.search(r"<td>3</td>\s*<td>role Blended agent</td>", panel)  # email cap
    assert "default (built in)" in panel
    assert "Chat, E-mail, Instant message (internal), Voice" in panel  # in words


# -- the agent page writes configuration only --------------------------------------------------
def test_saving_an_agent_in_admin_does_not_undo_live_state_changed_meanwhile(root, monkeypatch):
    alice = Agent.objects.get(user__username="alice")
    url = reverse("admin:cc_rules_agent_change", args=[alice.pk])
    data = {**changeform_data(root.get(url)), "extension": "1111", "_save": "Save"}
    clean = AgentForm.clean

    def clean_then_agent_switches_dnd_on(form):
        # the admin has loaded alice; now her client switches DND on (ledger row, chain head)
        status_service.agent_set_dnd(alice.pk, enabled=True, actor=None, request_id="test")
        return clean(form)

    monkeypatch.setattr(AgentForm, "clean", clean_then_agent_switches_dnd_on)
    assert root.post(url, data).status_code == 302
    alice.refresh_from_db()
    assert alice.extension == "1111"
    assert alice.dnd is True
    assert alice.history_seq == StatusChange.objects.filter(agent=alice).count()
    assert alice.history_head == StatusChange.objects.filter(agent=alice).last().hash


def test_dnd_and_forwarding_are_not_editable_in_admin(root):
    alice = some_object("agent")
    response, _ = page(root, "agent_change", alice)
    form = response.context["adminform"].form
    assert "dnd" not in form.fields
    assert "forward_to" not in form.fields
    assert "history_head" not in form.fields


def test_an_extension_others_forward_to_cannot_be_changed_under_them(root):
    bob = Agent.objects.get(user__username="bob")
    bob.forward_to = "1001"
    bob.save(update_fields=["forward_to"])
    alice = Agent.objects.get(user__username="alice")
    url = reverse("admin:cc_rules_agent_change", args=[alice.pk])
    data = {**changeform_data(root.get(url)), "extension": "1111", "_save": "Save"}
    response = root.post(url, data)
    assert response.status_code == 200
    assert "bob forward(s) calls to extension 1001" in response.content.decode()


def test_the_rule_form_shows_the_rulebook_help_for_its_key(root):
    rule = Rule.objects.get(scope="role", role__name="blended", key="acw_seconds")
    _, html = page(root, "rule_change", rule.pk)
    assert "R14 · Whole seconds, or null for no timer" in html
    assert 'id="cc-rule-help"' in html  # every key's help, for the key selector
