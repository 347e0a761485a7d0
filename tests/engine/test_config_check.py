"""Cross-rule warnings (issue 16, item 4): ``cc_rules.engine.config_check``, no database.

Each warning has a configuration that shows it and the fixed configuration that does not.
Rule values are written as in fixtures/demo.json (a per-channel rule is ``{channel: value}``).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cc_rules.engine import config_check as cc
from cc_rules.engine.rulebook import RULES

_ids = itertools.count(1)


def values(rules: dict[str, Any] | None) -> dict:
    """demo.json shape → {(key, channel): SetRule(parsed value, a fresh row id)}."""
    out = {}
    for key, value in (rules or {}).items():
        definition = RULES[key]
        if definition.per_channel:
            for channel, one in value.items():
                out[(key, channel)] = cc.SetRule(definition.parse(one), next(_ids))
        else:
            out[(key, None)] = cc.SetRule(definition.parse(value), next(_ids))
    return out


def role(rid=10, name="Blended", visible=("voice", "email", "chat", "im"), rules=None, codes=None):
    return cc.RoleConfig(
        id=rid,
        name=name,
        visible=None if visible is None else frozenset(visible),
        reason_codes=None if codes is None else frozenset(codes),
        rules=values(rules),
    )


def agent(aid=100, name="alice", role_id=10, rules=None, active=True):
    return cc.AgentConfig(id=aid, name=name, role_id=role_id, rules=values(rules), active=active)


def snapshot(global_rules=None, roles=(), agents=(), visible_by_default=(), codes=("break",)):
    return cc.ConfigSnapshot(
        global_rules=values(global_rules),
        global_visible=frozenset(visible_by_default),
        global_reason_codes=frozenset(codes),
        roles=tuple(roles),
        agents=tuple(agents),
    )


def codes_of(found: list[cc.ConfigWarning]) -> list[tuple[str, str, str | None]]:
    return [(w.code, w.scope, w.channel) for w in found]


# (problem configuration, fixed configuration, the one warning expected: code, scope, channel)
CASES = [
    pytest.param(
        snapshot(roles=[role(rules={"acw_seconds": {"voice": 30}})]),
        snapshot(
            roles=[role(rules={"acw_seconds": {"voice": 30}, "acw_enabled": {"voice": True}})]
        ),
        (cc.ACW_TIMER_WITHOUT_ACW, "role", "voice"),
        id="R14-role-timer-where-acw-is-off",
    ),
    pytest.param(  # the case: a 30 s e-mail timer for one agent did nothing
        snapshot(roles=[role()], agents=[agent(rules={"acw_seconds": {"email": 30}})]),
        snapshot(
            roles=[role()],
            agents=[agent(rules={"acw_seconds": {"email": 30}, "acw_enabled": {"email": True}})],
        ),
        (cc.ACW_TIMER_WITHOUT_ACW, "agent", "email"),
        id="R14-agent-timer-where-acw-is-off",
    ),
    pytest.param(
        snapshot(
            roles=[role(rules={"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 15}})],
            agents=[agent(rules={"acw_enabled": {"voice": False}})],
        ),
        snapshot(
            roles=[role(rules={"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 15}})],
            agents=[agent(rules={"acw_enabled": {"voice": False}, "acw_seconds": {"voice": None}})],
        ),
        (cc.ACW_TIMER_WITHOUT_ACW, "agent", "voice"),
        id="R14-agent-turns-acw-off-under-the-roles-timer",
    ),
    pytest.param(
        snapshot(global_rules={"acw_seconds": {"email": 30}}, roles=[role()]),
        snapshot(
            global_rules={"acw_seconds": {"email": 30}, "acw_enabled": {"email": True}},
            roles=[role()],
        ),
        (cc.ACW_TIMER_WITHOUT_ACW, "global", "email"),
        id="R14-global-timer-where-acw-is-off",
    ),
    pytest.param(
        snapshot(roles=[role(visible=["voice"], rules={"channel_cap": {"chat": 2}})]),
        snapshot(roles=[role(visible=["voice", "chat"], rules={"channel_cap": {"chat": 2}})]),
        (cc.RULE_ON_INVISIBLE_CHANNEL, "role", "chat"),
        id="R1-role-cap-on-an-invisible-channel",
    ),
    pytest.param(
        snapshot(
            roles=[role(visible=["voice", "email"])],
            agents=[agent(rules={"acw_enabled": {"chat": True}})],
        ),
        snapshot(
            roles=[role(visible=["voice", "email"])],
            agents=[agent(rules={"acw_enabled": {"email": True}})],
        ),
        (cc.RULE_ON_INVISIBLE_CHANNEL, "agent", "chat"),
        id="R1-agent-acw-rule-on-a-channel-the-role-cannot-see",
    ),
    pytest.param(
        snapshot(
            roles=[role(visible=None, rules={"channel_cap": {"cobrowse": 1}})],
            visible_by_default=["voice"],
        ),
        snapshot(
            roles=[role(visible=None, rules={"channel_cap": {"cobrowse": 1}})],
            visible_by_default=["voice", "cobrowse"],
        ),
        (cc.RULE_ON_INVISIBLE_CHANNEL, "role", "cobrowse"),
        id="R1-role-inheriting-default-visibility",
    ),
    pytest.param(
        snapshot(roles=[role(rules={"after_done": {"voice": "not_ready"}})]),
        snapshot(
            roles=[
                role(
                    rules={
                        "after_done": {"voice": "not_ready"},
                        "after_done_reason": {"voice": "break"},
                    }
                )
            ]
        ),
        (cc.AFTER_DONE_NOT_READY_WITHOUT_REASON, "role", "voice"),
        id="R13-not-ready-after-done-without-reason",
    ),
    pytest.param(
        snapshot(
            roles=[role(rules={"after_done_reason": {"email": "break"}})],
            agents=[
                agent(
                    rules={
                        "after_done": {"email": "not_ready"},
                        "after_done_reason": {"email": None},
                    }
                )
            ],
        ),
        snapshot(
            roles=[role(rules={"after_done_reason": {"email": "break"}})],
            agents=[agent(rules={"after_done": {"email": "not_ready"}})],
        ),
        (cc.AFTER_DONE_NOT_READY_WITHOUT_REASON, "agent", "email"),
        id="R13-agent-clears-the-reason",
    ),
    pytest.param(
        snapshot(roles=[role(rules={"acw_enabled": {"im": True}})]),
        snapshot(roles=[role(rules={"acw_enabled": {"im": False}})]),
        (cc.ACW_ON_IM, "role", "im"),
        id="R14-acw-enabled-on-im",
    ),
    pytest.param(
        snapshot(global_rules={"acw_seconds": {"im": 20}}, roles=[role()]),
        snapshot(global_rules={"acw_seconds": {"im": None}}, roles=[role()]),
        (cc.ACW_ON_IM, "global", "im"),
        id="R14-acw-timer-on-im-globally",
    ),
    pytest.param(
        snapshot(roles=[role(rules={"pending_enabled": True, "pending_release_on": []})]),
        snapshot(roles=[role(rules={"pending_enabled": True, "pending_release_on": ["hangup"]})]),
        (cc.PENDING_WITHOUT_RELEASE_EVENT, "role", None),
        id="R8-pending-on-without-release-events",
    ),
    pytest.param(
        snapshot(
            roles=[
                role(
                    visible=["email"],
                    rules={"pending_enabled": True, "pending_release_on": ["hangup"]},
                )
            ]
        ),
        snapshot(
            roles=[
                role(
                    visible=["email"],
                    rules={"pending_enabled": True, "pending_release_on": ["sent"]},
                )
            ]
        ),
        (cc.PENDING_RELEASE_UNREACHABLE, "role", None),
        id="R8-release-events-no-visible-channel-produces",
    ),
    pytest.param(
        snapshot(
            global_rules={"pending_enabled": True, "pending_release_on": ["chat_ended"]},
            roles=[role(visible=["voice", "im"])],
        ),
        snapshot(
            global_rules={"pending_enabled": True, "pending_release_on": ["chat_ended"]},
            roles=[role(visible=["voice", "chat", "im"])],
        ),
        (cc.PENDING_RELEASE_UNREACHABLE, "role", None),
        id="R8-global-release-events-a-role-cannot-produce",
    ),
    pytest.param(
        snapshot(
            roles=[role(rules={"channel_cap": {"chat": 2}})],
            agents=[agent(rules={"channel_cap": {"chat": 2}})],
        ),
        snapshot(
            roles=[role(rules={"channel_cap": {"chat": 2}})],
            agents=[agent(rules={"channel_cap": {"chat": 3}})],
        ),
        (cc.OVERRIDE_SAME_AS_ROLE, "agent", "chat"),
        id="R9-override-equal-to-the-roles-cap",
    ),
    pytest.param(
        snapshot(
            global_rules={"pending_release_on": ["hangup", "sent"]},
            roles=[role()],
            agents=[agent(rules={"pending_release_on": ["sent", "hangup"]})],
        ),
        snapshot(
            global_rules={"pending_release_on": ["hangup", "sent"]},
            roles=[role()],
            agents=[agent(rules={"pending_release_on": ["sent"]})],
        ),
        (cc.OVERRIDE_SAME_AS_ROLE, "agent", None),
        id="R8-override-equal-to-the-global-set",
    ),
    pytest.param(
        snapshot(roles=[role()], agents=[agent(rules={"mark_done_required": {"voice": False}})]),
        snapshot(roles=[role()], agents=[agent(rules={"mark_done_required": {"voice": True}})]),
        (cc.OVERRIDE_SAME_AS_ROLE, "agent", "voice"),
        id="R12-override-equal-to-the-default",
    ),
    pytest.param(
        snapshot(
            roles=[role(visible=["voice", "email"], rules={"blocking_pairs": [["voice", "chat"]]})]
        ),
        snapshot(
            roles=[role(visible=["voice", "email"], rules={"blocking_pairs": [["voice", "email"]]})]
        ),
        (cc.BLOCKING_PAIR_INVISIBLE_CHANNEL, "role", "chat"),
        id="R9-role-blocking-pair-names-an-invisible-channel",
    ),
    pytest.param(
        snapshot(
            roles=[role(visible=["voice", "email"])],
            agents=[agent(rules={"blocking_pairs": [["twitter", "email"]]})],
        ),
        snapshot(
            roles=[role(visible=["voice", "email"])],
            agents=[agent(rules={"blocking_pairs": [["voice", "email"]]})],
        ),
        (cc.BLOCKING_PAIR_INVISIBLE_CHANNEL, "agent", "twitter"),
        id="R9-agent-blocking-pair-names-an-invisible-channel",
    ),
]


@pytest.mark.parametrize(("problem", "fixed", "expected"), CASES)
def test_each_warning_is_found_and_gone_once_fixed(problem, fixed, expected):
    assert codes_of(cc.check(problem)) == [expected]
    assert cc.check(fixed) == []


@pytest.mark.parametrize(("problem", "fixed", "expected"), CASES)
def test_every_warning_names_its_rule_and_its_fix(problem, fixed, expected):
    (warning,) = cc.check(problem)
    assert warning.rule.startswith("R")
    assert warning.message.endswith(".")
    assert warning.fix
    if not warning.rule_ids:  # no rule row at its scope: the role's visible channels caused it
        assert warning.code == cc.PENDING_RELEASE_UNREACHABLE
        assert "on role Blended's page" in warning.fix
    if warning.scope == "role":
        assert "on role Blended's page" in warning.fix or "role Blended" in warning.fix
    if warning.scope == "agent":
        assert warning.agent == "alice"
        assert warning.role == "Blended"
        assert "alice" in warning.fix


def test_a_default_configuration_has_no_warnings():
    assert cc.check(snapshot()) == []
    assert cc.check(snapshot(roles=[role()], agents=[agent()])) == []


def test_the_timer_warning_says_what_and_where_in_the_admins_words():
    (warning,) = cc.check(
        snapshot(roles=[role()], agents=[agent(rules={"acw_seconds": {"email": 30}})])
    )
    assert warning.message == (
        "The wrap-up timer of 30 s on e-mail (override for alice) never runs: after-call work "
        "is off on e-mail (built-in default)."
    )
    assert warning.fix == (
        "Turn on “After-call work follows the last interaction” (R14) for e-mail on agent "
        "alice's page, or remove the wrap-up timer there."
    )
    assert warning.rule == "R14"
    assert warning.key == "acw_enabled"


def test_a_global_problem_is_reported_once_for_global_however_many_roles_inherit_it():
    config = snapshot(
        global_rules={"acw_seconds": {"voice": 30}},
        roles=[role(10, "Blended"), role(11, "Voice", visible=["voice"])],
        agents=[agent(100, "alice", 10), agent(101, "bob", 11)],
    )
    assert codes_of(cc.check(config)) == [(cc.ACW_TIMER_WITHOUT_ACW, "global", "voice")]
    # and it concerns a role (or agent) that inherits it
    assert codes_of(cc.check(config, role_id=11)) == [(cc.ACW_TIMER_WITHOUT_ACW, "global", "voice")]
    assert codes_of(cc.check(config, agent_id=100)) == [
        (cc.ACW_TIMER_WITHOUT_ACW, "global", "voice")
    ]


def test_a_role_that_fixes_a_global_problem_for_itself_is_not_concerned():
    config = snapshot(
        global_rules={"acw_seconds": {"voice": 30}},
        roles=[role(10, "Blended", rules={"acw_enabled": {"voice": True}})],
        agents=[agent(100, "alice", 10)],
    )
    assert cc.check(config, role_id=10) == []
    assert cc.check(config, agent_id=100) == []
    assert codes_of(cc.check(config)) == [(cc.ACW_TIMER_WITHOUT_ACW, "global", "voice")]


def test_the_agents_own_problem_is_reported_for_the_agent_and_the_roles_for_the_role():
    config = snapshot(
        roles=[role(rules={"acw_seconds": {"voice": 30}})],
        agents=[agent(rules={"acw_seconds": {"voice": 40}})],
    )
    found = cc.check(config)
    assert [(w.code, w.scope, w.agent) for w in found] == [
        (cc.ACW_TIMER_WITHOUT_ACW, "role", None),
        (cc.ACW_TIMER_WITHOUT_ACW, "agent", "alice"),
    ]
    assert "30 s" in found[0].message
    assert "40 s" in found[1].message


def test_global_blocking_pairs_and_global_rows_are_defaults_not_warnings_per_role():
    config = snapshot(
        global_rules={"blocking_pairs": [["voice", "chat"]], "channel_cap": {"chat": 2}},
        roles=[role(visible=["email"])],
        agents=[agent()],
    )
    assert cc.check(config) == []


def test_pending_with_no_channel_that_ends_work_holds_nothing_and_is_not_warned():
    config = snapshot(
        roles=[
            role(visible=["im"], rules={"pending_enabled": True, "pending_release_on": ["sent"]})
        ]
    )
    assert cc.check(config) == []


def test_partly_reachable_release_events_are_a_valid_choice():
    config = snapshot(
        roles=[role(rules={"pending_enabled": True, "pending_release_on": ["hangup"]})],
    )
    assert cc.check(config) == []


def test_an_override_on_an_invisible_channel_is_one_warning_not_two():
    config = snapshot(
        roles=[role(visible=["voice"])], agents=[agent(rules={"channel_cap": {"chat": None}})]
    )
    assert codes_of(cc.check(config)) == [(cc.RULE_ON_INVISIBLE_CHANNEL, "agent", "chat")]


def test_a_timer_on_im_is_the_im_warning_only():
    config = snapshot(roles=[role(rules={"acw_seconds": {"im": 30}})])
    (warning,) = cc.check(config)
    assert warning.code == cc.ACW_ON_IM
    assert "a wrap-up timer of 30 s (role Blended)" in warning.message
    assert "“Wrap-up timer (seconds)” (R14)" in warning.fix
    assert "After-call work follows" not in warning.fix


def test_a_rule_on_im_the_role_cannot_see_is_the_invisible_channel_warning():
    config = snapshot(roles=[role(visible=["voice"], rules={"acw_enabled": {"im": True}})])
    assert codes_of(cc.check(config)) == [(cc.RULE_ON_INVISIBLE_CHANNEL, "role", "im")]


def test_the_reason_codes_named_in_the_fix_are_the_roles_own():
    config = snapshot(
        roles=[role(codes=["coaching", "lunch"], rules={"after_done": {"voice": "not_ready"}})],
        codes=["break"],
    )
    (warning,) = cc.check(config)
    assert "(reason codes: coaching, lunch)" in warning.fix


def test_deactivated_agents_are_checked_only_when_asked_for():
    config = snapshot(
        roles=[role()], agents=[agent(rules={"acw_seconds": {"voice": 5}}, active=False)]
    )
    assert cc.check(config) == []
    assert cc.check(config, role_id=10) == []
    assert codes_of(cc.check(config, agent_id=100)) == [
        (cc.ACW_TIMER_WITHOUT_ACW, "agent", "voice")
    ]


def test_one_role_or_agent_gets_only_what_concerns_it():
    config = snapshot(
        roles=[
            role(10, "Blended", rules={"acw_seconds": {"voice": 30}}),
            role(11, "Mail", visible=["email"], rules={"channel_cap": {"chat": 1}}),
        ],
        agents=[
            agent(100, "alice", 10, rules={"channel_cap": {"voice": None}}),
            agent(101, "erin", 11, rules={"channel_cap": {"email": None}}),
        ],
    )
    assert [(w.code, w.role, w.agent) for w in cc.check(config, role_id=11)] == [
        (cc.RULE_ON_INVISIBLE_CHANNEL, "Mail", None),
        (cc.OVERRIDE_SAME_AS_ROLE, "Mail", "erin"),
    ]
    assert [(w.code, w.role, w.agent) for w in cc.check(config, agent_id=100)] == [
        (cc.ACW_TIMER_WITHOUT_ACW, "Blended", None),
        (cc.OVERRIDE_SAME_AS_ROLE, "Blended", "alice"),
    ]


def test_the_order_is_deterministic_global_then_each_role_then_its_agents():
    roles = [
        role(11, "voice team", visible=["voice"], rules={"acw_seconds": {"voice": 10}}),
        role(
            10, "Blended", rules={"after_done": {"chat": "not_ready"}, "acw_seconds": {"chat": 5}}
        ),
    ]
    agents = [
        agent(101, "zed", 10, rules={"acw_enabled": {"im": True}}),
        agent(100, "amy", 11, rules={"channel_cap": {"chat": 1}}),
    ]
    config = snapshot(global_rules={"acw_seconds": {"cobrowse": 9}}, roles=roles, agents=agents)
    shuffled = cc.ConfigSnapshot(
        global_rules=config.global_rules,
        global_reason_codes=config.global_reason_codes,
        roles=config.roles[::-1],
        agents=config.agents[::-1],
    )
    found = cc.check(config)
    assert found == cc.check(shuffled)
    assert [(w.scope, w.role, w.agent, w.code) for w in found] == [
        ("global", None, None, cc.ACW_TIMER_WITHOUT_ACW),
        ("role", "Blended", None, cc.ACW_TIMER_WITHOUT_ACW),
        ("role", "Blended", None, cc.AFTER_DONE_NOT_READY_WITHOUT_REASON),
        ("agent", "Blended", "zed", cc.ACW_ON_IM),
        ("role", "voice team", None, cc.ACW_TIMER_WITHOUT_ACW),
        ("agent", "voice team", "amy", cc.RULE_ON_INVISIBLE_CHANNEL),
    ]


def test_a_warning_reads_as_json():
    (warning,) = cc.check(snapshot(roles=[role(rules={"acw_enabled": {"im": True}})]))
    body = warning.as_dict()
    assert body["code"] == "acw_on_im"
    assert body["rule"] == "R14"
    assert body["role"] == {"id": 10, "name": "Blended"}
    assert body["agent"] is None
    assert body["rule_ids"] == list(warning.rule_ids)
