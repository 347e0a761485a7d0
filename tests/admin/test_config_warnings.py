"""Cross-rule warnings in the admin (issue 16, item 4): the "Check configuration" page and the
warnings shown after a save.

For each warning: the configuration is built with factories and the page shows the problem and
its fix; the same configuration finished by a save in the Rule admin shows them as a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import reverse
from django.utils.html import escape

from cc_rules.engine import config_check as cc
from cc_rules.models import Rule
from cc_rules.selectors import check_configuration, config_snapshot
from tests.factories import (
    RuleFactory,
    a_compliance_officer,
    a_role,
    a_supervisor,
    a_user,
    an_agent,
    reason_codes,
)

from .changeform import changeform_data

pytestmark = pytest.mark.django_db

PAGE = "/admin/check-configuration/"
ALL = ["voice", "email", "chat", "im"]


@dataclass
class Case:
    """A configuration that lacks one rule row; ``row`` is the row that completes the problem."""

    code: str
    visible: list[str]
    row: dict[str, Any]  # key, scope ("role" | "agent"), channel, value
    message: str
    fix: str
    role_rules: dict[str, Any] = field(default_factory=dict)


CASES = [
    pytest.param(
        Case(
            cc.ACW_TIMER_WITHOUT_ACW,
            ALL,
            {"scope": "agent", "key": "acw_seconds", "channel": "email", "value": 30},
            "The wrap-up timer of 30 s on e-mail (override for alice) never runs: after-call "
            "work is off on e-mail (built-in default).",
            "Turn on “After-call work follows the last interaction” (R14) for e-mail on agent "
            "alice's page, or remove the wrap-up timer there.",
        ),
        id="wrap-up-timer-where-acw-is-off",
    ),
    pytest.param(
        Case(
            cc.RULE_ON_INVISIBLE_CHANNEL,
            ["voice"],
            {"scope": "role", "key": "channel_cap", "channel": "chat", "value": 2},
            "Chat is not visible to role Blended agent (R1), so the rule “Max open interactions "
            "on the channel” (R9) for chat (role Blended agent) never applies.",
            "Delete this rule on role Blended agent's page, or make chat visible to role "
            "Blended agent (visible channels on the role's page).",
        ),
        id="cap-on-an-invisible-channel",
    ),
    pytest.param(
        Case(
            cc.RULE_ON_INVISIBLE_CHANNEL,
            ["voice", "email"],
            {"scope": "agent", "key": "acw_enabled", "channel": "chat", "value": True},
            "Chat is not visible to alice's role Blended agent (R1), so the rule “After-call "
            "work follows the last interaction” (R14) for chat (override for alice) never "
            "applies.",
            "Delete this rule on agent alice's page, or make chat visible to role Blended agent",
        ),
        id="acw-rule-on-an-invisible-channel",
    ),
    pytest.param(
        Case(
            cc.AFTER_DONE_NOT_READY_WITHOUT_REASON,
            ALL,
            {"scope": "role", "key": "after_done", "channel": "voice", "value": "not_ready"},
            "Marking done on voice sets Not Ready (role Blended agent) with no reason: “Reason "
            "code for not_ready after done” (R13) is empty (built-in default).",
            "Choose a reason for “Reason code for not_ready after done” (R13) on voice on role "
            "Blended agent's page (reason codes: break, lunch), or choose another status after "
            "done.",
        ),
        id="not-ready-after-done-without-reason",
    ),
    pytest.param(
        Case(
            cc.ACW_ON_IM,
            ALL,
            {"scope": "role", "key": "acw_enabled", "channel": "im", "value": True},
            "IM is internal messaging and has no after-call work, yet it has after-call work "
            "turned on (role Blended agent); this never applies.",
            "Remove “After-call work follows the last interaction” (R14) for IM on role Blended "
            "agent's page (or set after-call work off and no timer).",
        ),
        id="acw-enabled-on-im",
    ),
    pytest.param(
        Case(
            cc.ACW_ON_IM,
            ALL,
            {"scope": "agent", "key": "acw_seconds", "channel": "im", "value": 20},
            "IM is internal messaging and has no after-call work, yet it has a wrap-up timer of "
            "20 s (override for alice); this never applies.",
            "Remove “Wrap-up timer (seconds)” (R14) for IM on agent alice's page",
        ),
        id="acw-timer-on-im",
    ),
    pytest.param(
        Case(
            cc.PENDING_WITHOUT_RELEASE_EVENT,
            ALL,
            {"scope": "role", "key": "pending_release_on", "channel": None, "value": []},
            "Pending status is on (role Blended agent) but no end event releases it (“End "
            "events that release a pending status” (R8) is empty, role Blended agent): every "
            "held status is dropped when the work ends.",
            "Choose release events for “End events that release a pending status” (R8) on role "
            "Blended agent's page (hang-up, chat ended, sent, moved to a workbin), or turn "
            "pending status off.",
            role_rules={"pending_enabled": True},
        ),
        id="pending-without-release-event",
    ),
    pytest.param(
        Case(
            cc.PENDING_RELEASE_UNREACHABLE,
            ["email"],
            {"scope": "role", "key": "pending_release_on", "channel": None, "value": ["hangup"]},
            "Pending status is on (role Blended agent) and is released only by hang-up (role "
            "Blended agent), but none of the channels visible to role Blended agent (e-mail) "
            "ends work that way: every held status is dropped when the work ends.",
            "Add sent, moved to a workbin to “End events that release a pending status” (R8) on "
            "role Blended agent's page, or turn pending status off.",
            role_rules={"pending_enabled": True},
        ),
        id="pending-release-events-no-visible-channel-produces",
    ),
    pytest.param(
        Case(
            cc.OVERRIDE_SAME_AS_ROLE,
            ALL,
            {"scope": "agent", "key": "channel_cap", "channel": "chat", "value": 2},
            "The override of “Max open interactions on the channel” (R9) for chat (2) is the "
            "value alice has without it (role Blended agent).",
            "Delete this override on agent alice's page; the agent keeps the same value from "
            "the role Blended agent.",
            role_rules={"channel_cap": {"chat": 2}},
        ),
        id="override-equal-to-the-role",
    ),
    pytest.param(
        Case(
            cc.BLOCKING_PAIR_INVISIBLE_CHANNEL,
            ["voice", "email"],
            {
                "scope": "role",
                "key": "blocking_pairs",
                "channel": None,
                "value": [["voice", "chat"]],
            },
            "The blocking pair “while on voice, no new chat” (role Blended agent) names chat, not "
            "visible to role Blended agent (R1): it never blocks anything.",
            "Remove “while on voice, no new chat” from “While active on A, no new work on B” (R9) "
            "on role Blended agent's page, or make chat visible to role Blended agent.",
        ),
        id="blocking-pair-names-an-invisible-channel",
    ),
]


@pytest.fixture
def root(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@x.example", "x"))
    return client


def build(case: Case):
    """The case's configuration without its last row: role "Blended agent", agent alice."""
    reason_codes("break", "lunch")
    role = a_role("blended", visible=case.visible, rules=case.role_rules)
    role.label = "Blended agent"
    role.save()
    return role, an_agent("alice", role=role)


def target(case: Case, role, alice) -> dict[str, Any]:
    return {"role": role} if case.row["scope"] == "role" else {"agent": alice}


def post_rule(client, *, key, scope, channel, value, role=None, agent=None):
    """The Rule admin's "add rule" form, saved as a person types it."""
    data = {
        "key": key,
        "scope": scope,
        "role": role.pk if role else "",
        "agent": agent.pk if agent else "",
        "channel": channel or "",
        "value": json.dumps(value),
        "note": "",
        "_save": "Save",
    }
    return client.post(reverse("admin:cc_rules_rule_add"), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def warning_rows(html: str) -> int:
    return html.count('class="cc-warning"')


# -- each warning, on the page and after a save -----------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_the_page_shows_each_warning_with_its_fix(root, case):
    role, alice = build(case)
    RuleFactory(
        **{k: case.row[k] for k in ("key", "value")},
        channel_id=case.row["channel"],
        **target(case, role, alice),
    )

    response = root.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert escape(case.message) in html
    assert escape(case.fix) in html
    assert f'data-code="{case.code}"' in html
    assert warning_rows(html) == 1
    assert "No problems found" not in html


@pytest.mark.parametrize("case", CASES)
def test_saving_the_rule_in_the_rule_admin_shows_the_warning_and_its_fix(root, case):
    role, alice = build(case)
    assert root.get(PAGE).content.decode().count('class="cc-warning"') == 0

    response = post_rule(root, **case.row, **target(case, role, alice))

    assert response.status_code == 200
    assert Rule.objects.filter(key=case.row["key"], scope=case.row["scope"]).exists()
    (shown,) = [m for m in messages_of(response) if "Fix:" in m]
    assert case.message in shown
    assert f"Fix: {case.fix}" in shown


@pytest.mark.parametrize("case", CASES)
def test_the_page_links_to_where_the_fix_is_made(root, case):
    role, alice = build(case)
    rule = RuleFactory(
        **{k: case.row[k] for k in ("key", "value")},
        channel_id=case.row["channel"],
        **target(case, role, alice),
    )

    html = root.get(PAGE).content.decode()

    page = (
        reverse("admin:cc_rules_role_change", args=[role.pk])
        if case.row["scope"] == "role"
        else reverse("admin:cc_rules_agent_change", args=[alice.pk])
    )
    assert f'href="{page}"' in html
    assert f'href="{reverse("admin:cc_rules_rule_change", args=[rule.pk])}"' in html


# -- the role and agent pages, deletes ------------------------------------------------------
def test_saving_a_role_page_that_hides_a_channel_with_rules_warns(root):
    role = a_role("blended", visible=["voice", "chat"], rules={"channel_cap": {"chat": 2}})
    url = reverse("admin:cc_rules_role_change", args=[role.pk])
    data = changeform_data(root.get(url))
    del data["rm-visible-chat"]  # the role's matrix: untick chat in "Visible"

    response = root.post(url, {**data, "_save": "Save"}, follow=True)

    assert response.status_code == 200
    assert list(role.visible_channels.values_list("code", flat=True)) == ["voice"]
    (shown,) = [m for m in messages_of(response) if "Fix:" in m]
    assert shown.startswith(
        "Chat is not visible to role Blended (R1), so the rule “Max open interactions on the "
        "channel” (R9) for chat (role Blended) never applies."
    )
    assert "Fix: Delete this rule on role Blended's page" in shown


def test_saving_an_agent_page_warns_about_the_agents_overrides(root):
    role = a_role("blended", visible=ALL, rules={"channel_cap": {"chat": 2}})
    alice = an_agent("alice", role=role, rules={"channel_cap": {"chat": 2}})
    url = reverse("admin:cc_rules_agent_change", args=[alice.pk])
    data = changeform_data(root.get(url))

    response = root.post(url, {**data, "_save": "Save"}, follow=True)

    assert response.status_code == 200
    (shown,) = [m for m in messages_of(response) if "Fix:" in m]
    assert "The override of “Max open interactions on the channel” (R9) for chat (2)" in shown
    assert "Fix: Delete this override on agent alice's page" in shown


def test_deleting_the_rule_that_turned_acw_on_warns_about_the_timer_left_behind(root):
    role = a_role(
        "blended", visible=ALL, rules={"acw_seconds": {"voice": 15}, "acw_enabled": {"voice": True}}
    )
    row = Rule.objects.get(role=role, key="acw_enabled")

    response = root.post(
        reverse("admin:cc_rules_rule_delete", args=[row.pk]), {"post": "yes"}, follow=True
    )

    assert not Rule.objects.filter(pk=row.pk).exists()
    (shown,) = [m for m in messages_of(response) if "Fix:" in m]
    assert "The wrap-up timer of 15 s on voice (role Blended)" in shown
    assert "never runs: after-call work is off on voice (built-in default)." in shown


def test_a_save_that_causes_no_problem_shows_no_warning(root):
    role = a_role("blended", visible=ALL)
    response = post_rule(root, key="channel_cap", scope="role", channel="chat", value=2, role=role)
    assert response.status_code == 200
    assert Rule.objects.filter(role=role, key="channel_cap").exists()
    assert not [m for m in messages_of(response) if "Fix:" in m]


def test_many_warnings_after_a_save_end_with_a_link_to_the_page(root):
    role = a_role("blended", visible=ALL)
    for n in range(12):
        an_agent(f"agent{n:02}", role=role, rules={"mark_done_required": {"voice": False}})

    response = post_rule(root, key="channel_cap", scope="role", channel="chat", value=2, role=role)

    shown = messages_of(response)
    assert len([m for m in shown if "Fix:" in m]) == 10
    assert f'2 more warnings: see <a href="{PAGE}">Check configuration</a>.' in shown
    assert warning_rows(root.get(PAGE).content.decode()) == 12


# -- the page itself ------------------------------------------------------------------------
def test_a_clean_configuration_shows_no_problems_found(root):
    a_role(
        "blended", visible=ALL, rules={"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 15}}
    )
    response = root.get(PAGE)
    assert response.status_code == 200
    assert "No problems found." in response.content.decode()
    assert warning_rows(response.content.decode()) == 0


def test_the_page_groups_global_then_each_role_then_its_agents(root):
    RuleFactory(key="acw_seconds", channel_id="cobrowse", value=9)
    role = a_role("blended", visible=["voice"], rules={"channel_cap": {"chat": 1}})
    an_agent("alice", role=role, rules={"acw_seconds": {"voice": 5}})
    html = root.get(PAGE).content.decode()
    captions = [
        "Global rules (every role that does not set its own)",
        "Role Blended",
        "Agent alice (role ",
    ]
    positions = [html.find(c) for c in captions]
    assert all(p > 0 for p in positions), positions
    assert positions == sorted(positions)
    assert "3 problems found." in html
    global_rules = reverse("admin:cc_rules_rule_changelist") + "?scope__exact=global"
    assert f'href="{global_rules}"' in html
    listed = root.get(global_rules)
    assert listed.status_code == 200
    assert [r.key for r in listed.context["cl"].result_list] == ["acw_seconds"]


@pytest.mark.parametrize("who", ["compliance", "supervisor"])
def test_read_only_staff_may_view_the_page(client, who):
    user = a_compliance_officer() if who == "compliance" else a_supervisor()
    a_role("blended", visible=["voice"], rules={"channel_cap": {"chat": 1}})
    client.force_login(user)

    response = client.get(PAGE)

    assert response.status_code == 200
    assert "Chat is not visible to role" in response.content.decode()
    index = client.get(reverse("admin:index")).content.decode()
    assert f'href="{PAGE}"' in index


def test_anonymous_users_go_to_the_admin_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_permission_on_rules_are_refused(client):
    client.force_login(a_user("intern", is_staff=True))
    assert client.get(PAGE).status_code == 403
    assert f'href="{PAGE}"' not in client.get(reverse("admin:index")).content.decode()


def test_the_snapshot_is_read_in_six_queries_however_many_agents(django_assert_max_num_queries):
    role = a_role("blended", visible=ALL, rules={"channel_cap": {"chat": 2}})
    for n in range(5):
        an_agent(f"agent{n}", role=role, rules={"channel_cap": {"chat": 3}})
    with django_assert_max_num_queries(6):
        snapshot = config_snapshot()
    assert len(snapshot.agents) == 5
    assert snapshot.roles[0].rules[("channel_cap", "chat")].value == 2


def test_the_demo_configuration_has_no_warnings(demo_world):
    assert check_configuration() == []
