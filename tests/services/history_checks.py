"""Invariants of the status ledger (R16), shared by the service, concurrency and property tests.

``assert_history_consistent(agent)`` replays an agent's ``StatusChange`` rows in ``seq`` order and
checks, against the live rows:
- the chain: ``seq`` is 1..N without gaps, each ``prev_hash`` is the previous row's ``hash``
  (genesis for the first), each ``hash`` recomputes, and the Agent's chain head matches;
- time: ``at`` never decreases along the chain;
- per channel, status rows tile time: each row's ``from_status`` is the previous row's
  ``to_status`` (``logged_off`` before the first), and the last row's status and reason are the
  channel's current ones, entered at that row's ``at`` (``since``);
- DND rows alternate off→on→off and the last one matches ``Agent.dnd``;
- pending: an explicit ``pending`` row starts from the pending status in force; a status row
  that releases a pending status (cause ``pending_released``, or an ACW exit while one was
  held) lands exactly in it; any other status row happens with nothing pending (the service
  writes the clearing row first); and what is left pending matches the channel's row.
"""

from __future__ import annotations

import itertools

from cc_rules.choices import Cause, Event, Status
from cc_rules.models import Agent, AgentChannelState, StatusChange
from cc_rules.models.agents import GENESIS_HASH
from cc_rules.services.history import row_hash

ACW_EXIT_CAUSES = {Cause.WRAP_UP_TIMER, Cause.AFTER_DONE}
# A supervisor's "end wrap-up now" lands where the timer would, a held pending status first.
RELEASING_CAUSES = {*ACW_EXIT_CAUSES, Cause.SUPERVISOR}


def history(agent: Agent) -> list[StatusChange]:
    return list(StatusChange.objects.filter(agent=agent).order_by("seq"))


def status_rows(agent: Agent, channel: str) -> list[StatusChange]:
    return [r for r in history(agent) if r.event == Event.STATUS and r.channel_id == channel]


def assert_chain_intact(agent: Agent, rows: list[StatusChange]) -> None:
    agent.refresh_from_db()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1)), "seq has gaps or repeats"
    prev = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == prev, f"chain broken at seq {row.seq}"
        assert row.hash == row_hash(row), f"hash of seq {row.seq} does not recompute"
        prev = row.hash
    assert (agent.history_seq, agent.history_head) == (len(rows), prev)
    for before, after in itertools.pairwise(rows):
        assert before.at <= after.at, f"time runs backwards at seq {after.seq}"


def assert_history_consistent(agent: Agent) -> list[StatusChange]:
    rows = history(agent)
    assert_chain_intact(agent, rows)
    agent.refresh_from_db()

    status: dict[str, tuple[str, str]] = {}
    entered: dict[str, object] = {}
    pending: dict[str, tuple[str, str] | None] = {}
    dnd = "off"
    for row in rows:
        where = f"seq {row.seq} ({row.event} {row.channel_id} {row.from_status}→{row.to_status})"
        if row.event == Event.DND:
            assert row.channel_id is None, where
            assert row.from_status == dnd, where
            assert row.to_status != dnd, where
            dnd = row.to_status
            continue
        channel = row.channel_id
        assert channel, where
        held = pending.get(channel)
        if row.event == Event.PENDING:
            assert row.from_status == (held[0] if held else ""), where
            pending[channel] = (row.to_status, row.reason) if row.to_status else None
            continue
        previous = status.get(channel, (Status.LOGGED_OFF, ""))
        assert row.from_status == previous[0], f"gap or overlap at {where}"
        lands_in_held = held is not None and (row.to_status, row.reason) == held
        releases = row.cause == Cause.PENDING_RELEASED or (
            row.cause in RELEASING_CAUSES and lands_in_held
        )
        if releases:
            assert held is not None, f"released nothing at {where}"
            assert (row.to_status, row.reason) == held, f"released the wrong status at {where}"
            pending[channel] = None
        elif held is not None and row.to_status == Status.AFTER_CALL_WORK:
            pass  # ACW starts with the pending status still held (R8)
        elif held is not None and row.cause in ACW_EXIT_CAUSES:
            pass  # leaving ACW with work opened during it open: the pending status keeps waiting
        else:
            assert held is None, f"status changed under a pending status at {where}"
        status[channel] = (row.to_status, row.reason)
        entered[channel] = row.at

    assert agent.dnd == (dnd == "on")
    for state in AgentChannelState.objects.filter(agent=agent):
        code = state.channel_id
        assert status.get(code, (Status.LOGGED_OFF, "")) == (state.status, state.reason or ""), (
            f"{code}: live state differs from the last history row"
        )
        if code in entered:  # the current status's duration is derivable exactly (R16)
            assert state.since == entered[code], f"{code}: since is not the last row's at"
        expected = (
            (state.pending_status, state.pending_reason or "") if state.pending_status else None
        )
        assert pending.get(code) == expected, f"{code}: pending differs from the history"
    return rows
