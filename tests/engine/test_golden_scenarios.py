"""The golden scenarios of fixtures/scenarios/engine.json, run through the engine (no database).

Each case traces a sentence of the seed to an R-number and pins the decision, the reason code
and the rule (scope and row) that decided.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cc_rules.engine import decide
from cc_rules.engine.resolve import RoleSets, RuleIndex, RuleRow
from cc_rules.engine.rulebook import RULES
from cc_rules.engine.types import AgentLive, ChannelLive, EffectiveRules

CASES = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "scenarios" / "engine.json").read_text()
)["cases"]
AGENT_ID, ROLE_ID = 1, 1


def build_rules(case: dict[str, Any]) -> EffectiveRules:
    rows, next_id = [], 1
    for scope, values in case["rules"].items():
        target = {"global": None, "role": ROLE_ID, "agent": AGENT_ID}[scope]
        for key, value in values.items():
            per_channel = value.items() if RULES[key].per_channel else [(None, value)]
            for channel, item in per_channel:
                parsed = RULES[key].parse(item)
                rows.append(RuleRow(next_id, key, scope, target, channel, parsed))
                next_id += 1
    role = RoleSets(ROLE_ID, "role", frozenset(case["visible"]), frozenset({"break", "lunch"}))
    return RuleIndex(rows, {ROLE_ID: role}, frozenset(), frozenset()).resolve(AGENT_ID, ROLE_ID)


def build_live(case: dict[str, Any]) -> AgentLive:
    spec = case["live"]
    channels = {
        code: ChannelLive(
            code,
            c["status"],
            c.get("reason"),
            c.get("pending_status"),
            c.get("pending_reason"),
            open_count=c.get("open", 0),
            open_work=c.get("open", 0),
        )
        for code, c in spec["channels"].items()
    }
    return AgentLive(dnd=spec.get("dnd", False), channels=channels)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_scenario(case):
    rules, live, ask, expect = build_rules(case), build_live(case), case["ask"], case["expect"]
    if "may_take_work" in ask:
        got = decide.may_take_work(
            rules, live, ask["may_take_work"], outbound=ask.get("outbound", False)
        )
        assert (got.allowed, got.code, str(got.rule)) == (
            expect["allowed"],
            expect["code"],
            expect["rule"],
        )
    elif "status_request" in ask:
        channel, status, reason = ask["status_request"]
        got = decide.status_request(rules, live.channel(channel), status, reason)
        assert (got.action, str(got.rule)) == (expect["action"], expect["rule"])
    elif "work_ended" in ask:
        channel, how = ask["work_ended"]
        got = decide.work_ended(rules, live.channel(channel), how, was_last=True)
        release = (
            [got.release.status, got.release.reason, got.release.cause] if got.release else None
        )
        assert got.start_acw == expect["start_acw"]
        assert release == expect["release"]
        assert str(got.rule) == expect["rule"]
        if "acw_seconds" in expect:
            assert got.acw_seconds == expect["acw_seconds"]
    else:
        channel, trigger = ask["acw_exit"]
        got = decide.acw_exit(rules, live.channel(channel), trigger)
        target = [got.target.status, got.target.reason, got.target.cause] if got.target else None
        assert (target, got.cancel_deadline) == (expect["target"], expect["cancel_deadline"])
