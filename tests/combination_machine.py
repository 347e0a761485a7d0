"""Where rules meet (issue 13; DECISIONS.md "Combinations"): a hypothesis state machine.

``CombinationMachine`` builds two agents, ``a`` and ``b``, each in a role of its own with a
random rule set: pending on/off and its release events, after-call work per channel (on/off,
a timer or none, the status after the timer and after done, extendable or not), caps, blocking
pairs, the missed-offer rule, "reason required". It then drives the real services (not the
HTTP layer) with random events: logins and logouts, status requests (ready, not_ready with or
without a reason, logged_off), supervisor force, DND, forwarding between the two agents,
offers (to a named agent, by extension, or routed), accept (in time and late), reject, end by
every valid ``how``, done, extend, outbound calls and e-mails, wrap-up timers and offers that
expire (their deadline moved into the past, then the sweeper), visibility changes mid-work
(a channel removed from or added to a role) and deactivation.

A ``ServiceError`` is an answer, not a failure; any other exception is, and so is an error the
sweeper logs and swallows (a failing batch or row). After every step, for every agent and
channel (``check_all``):
- the channel's status and reason are the last ``status`` row's, DND the last ``dnd`` row's;
- pending rows form closed series: one opens (``'' → X``), may be replaced (``X → Y``, the
  agent asked again), and is closed by a row, either dropped (``X → ''``: cancelled,
  ``not_released``, supervisor, logout, system) or applied (``X → X`` with the cause that
  released it, followed at once by the status row landing in X); a channel with no pending
  status has no open series, one with a pending status has it as its open series;
- no channel holds a pending status without open work, except during ACW, where R8 makes the
  held status wait for ACW's end;
- a channel in ACW has a deadline, or is in a no-timer mode: no timer configured, extended
  (R15) or marked done under ``after_done = manual``; never a silently stuck ACW;
- once a sweep has run since the last visibility change, no channel the role does not see is
  logged in without open work (R1);
- open work counting toward caps stays within the channel and total caps (R9);
- the hash chain verifies (``audit.verify_chain``, R16).

Each example runs in a savepoint rolled back at teardown, so nothing is ever deleted from the
protected ledger. Used by ``tests/services/test_combination_machine.py`` (CI budget) and
``bench/combinations.py`` (thousands of examples).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cc_rules import selectors
from cc_rules.choices import Cause, Event, InteractionState, Status
from cc_rules.engine.rulebook import END_EVENTS
from cc_rules.models import Agent, AgentChannelState, Interaction, Role, StatusChange
from cc_rules.services import audit, deactivation, offers, status, timers, wrap_up_firing
from cc_rules.services import interactions as work
from cc_rules.services.errors import NotFound, ServiceError
from tests.factories import (
    WorkbinFactory,
    a_contact,
    a_role,
    a_supervisor,
    an_agent,
    reason_codes,
    set_rules,
)

AGENTS = ("a", "b")
CHANNELS = ("voice", "chat", "email")
END_HOW = {"voice": ("hangup",), "chat": ("chat_ended",), "email": ("sent", "workbin")}
REASONS = ("break", "lunch")
WORKBIN = "follow-up"
PAIRS = tuple((x, y) for x in CHANNELS for y in CHANNELS if x != y)

# Known production bugs the machine steps around until they are fixed; each is pinned by an
# xfail test in tests/services/test_combination_findings.py. Empty: nothing is stepped around.
KNOWN_BUGS: frozenset[str] = frozenset()


# -- rule sets ------------------------------------------------------------------------------------
channel_rules = st.fixed_dictionaries(
    {
        "acw_enabled": st.booleans(),
        "acw_seconds": st.sampled_from((30, None, 120)),
        "acw_after_timer": st.sampled_from(("ready", "not_ready")),
        "after_done": st.sampled_from(("ready", "not_ready", "keep_acw", "manual")),
        "after_done_reason": st.sampled_from((None, "break")),
        "acw_extendable": st.booleans(),
        "channel_cap": st.sampled_from((None, 1, 2, 3)),
    }
)
role_config = st.fixed_dictionaries(
    {
        "visible": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
        "pending_enabled": st.sampled_from((True, True, True, False)),
        "pending_release_on": st.lists(st.sampled_from(END_EVENTS), unique=True),
        "total_cap": st.sampled_from((None, 1, 2, 4)),
        "blocking_pairs": st.lists(st.sampled_from(PAIRS), unique=True, max_size=2),
        "missed_offer_not_ready": st.booleans(),
        "reason_required": st.booleans(),
        "per_channel": st.fixed_dictionaries(dict.fromkeys(CHANNELS, channel_rules)),
    }
)


def role_rules(config: dict[str, Any]) -> dict[str, Any]:
    """A drawn ``role_config`` as rule values (tests/factories.py's demo.json shape)."""
    rules: dict[str, Any] = {
        key: config[key]
        for key in (
            "pending_enabled",
            "pending_release_on",
            "total_cap",
            "missed_offer_not_ready",
            "reason_required",
        )
    }
    rules["blocking_pairs"] = [list(pair) for pair in config["blocking_pairs"]]
    for channel, values in config["per_channel"].items():
        for key, value in values.items():
            rules.setdefault(key, {})[channel] = value
    return rules


# -- events ---------------------------------------------------------------------------------------
whos = st.sampled_from(AGENTS)
picks = st.integers(0, 20)
asks = st.sampled_from(
    (
        ("ready", None),
        ("ready", None),
        ("ready", None),
        ("not_ready", None),
        ("not_ready", "break"),
        ("not_ready", "lunch"),
        ("logged_off", None),
    )
)
busy_asks = st.sampled_from(  # on a channel with work: mostly what gets held (R8)
    (
        ("not_ready", "break"),
        ("not_ready", None),
        ("ready", None),
        ("not_ready", "break"),
        ("not_ready", "lunch"),
        ("logged_off", None),
        ("logged_off", None),
    )
)
offer_to = st.sampled_from(("a", "b", "ext:a", "ext:b", "routed", "routed"))


def weighted(*pairs: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """Draw from the strategies in proportion to their weights. (``st.one_of`` would not do it
    with a strategy repeated: it keeps each distinct strategy once.)"""
    return st.sampled_from(
        [index for index, (weight, _) in enumerate(pairs) for _ in range(weight)]
    ).flatmap(lambda index: pairs[index][1])


# One rule draws a weighted action (as tests/services/test_status_properties.py explains: with
# one rule per action, swarm testing switches off whole actions and the sequences that matter
# become rare).
actions = weighted(
    (10, st.tuples(st.just("offer"), whos, picks, offer_to, st.booleans())),
    (5, st.tuples(st.just("status"), whos, picks, asks)),
    (7, st.tuples(st.just("accept"), picks)),
    (7, st.tuples(st.just("end"), picks, st.integers(0, 1))),
    (6, st.tuples(st.just("busy_status"), picks, busy_asks)),
    (3, st.tuples(st.just("done"), picks)),
    (5, st.tuples(st.just("timer"), picks, st.sampled_from(("sweep", "sweep", "fire_one")))),
    (2, st.tuples(st.just("extend"), picks)),
    (2, st.tuples(st.just("all_timers"))),
    (2, st.tuples(st.just("outbound"), whos, st.sampled_from(("voice", "email")), st.booleans())),
    (2, st.tuples(st.just("offer_expiry"), picks, st.sampled_from(("sweep", "offer_expire")))),
    (2, st.tuples(st.just("force"), whos, picks, asks)),
    (2, st.tuples(st.just("visibility"), whos, st.sampled_from(CHANNELS))),
    (1, st.tuples(st.just("late_accept"), picks)),
    (1, st.tuples(st.just("reject"), picks)),
    (1, st.tuples(st.just("login"), whos, st.none() | st.lists(picks, max_size=2))),
    (1, st.tuples(st.just("logout"), whos)),
    (1, st.tuples(st.just("dnd"), whos, st.booleans())),
    (1, st.tuples(st.just("forward"), whos, st.booleans())),
    (1, st.tuples(st.just("sweep"))),
    (1, st.tuples(st.just("deactivate"), whos, st.integers(0, 3))),  # 1 in 4 deactivates
)


class SweeperErrors(logging.Handler):
    """Collects errors the services log and swallow (the sweeper's failing batch or row)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class CombinationMachine(RuleBasedStateMachine):
    """Two agents with random rule sets, random events, the invariants after every step."""

    examples = 0  # examples started in this process (bench/combinations.py reports it)
    steps = 0
    outcomes: Counter[str] = Counter()  # "action: ok" / "action: Refused code", all examples

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        self._savepoint = transaction.savepoint()
        selectors.clear_cache()
        self.errors = SweeperErrors()
        logging.getLogger("cc_rules").addHandler(self.errors)
        self.calls = 0
        self.swept_since_visibility_change = True
        self.agents: dict[str, Agent] = {}
        self.manual_done_at: dict[tuple[int, str], Any] = {}
        self.roles: dict[str, Role] = {}

    def teardown(self) -> None:
        logging.getLogger("cc_rules").removeHandler(self.errors)
        transaction.savepoint_rollback(self._savepoint)
        selectors.clear_cache()

    # -- the world --------------------------------------------------------------------------------
    @initialize(
        configs=st.tuples(role_config, role_config),
        logged_in=st.tuples(*[st.sampled_from(("ready", "in", "ready", "off"))] * 2),
        busy=st.lists(st.tuples(whos, st.sampled_from(CHANNELS)), min_size=1, max_size=3),
    )
    def build(self, configs, logged_in, busy):
        reason_codes(*REASONS)
        WorkbinFactory(name=WORKBIN, channels=["email"])
        self.contact = a_contact()
        self.supervisor = a_supervisor(is_superuser=True)
        for name, config, login in zip(AGENTS, configs, logged_in, strict=True):
            role = a_role(visible=config["visible"])
            set_rules(role_rules(config), role=role)
            self.roles[name] = role
            self.agents[name] = an_agent(
                role=role,
                logged_in=login != "off",
                ready_on=config["visible"] if login == "ready" else (),
            )
        self.names = {agent.pk: name for name, agent in self.agents.items()}
        for who, channel in busy:  # most examples start with calls, chats, e-mails in hand
            with contextlib.suppress(ServiceError):
                self.do_offer(who, CHANNELS.index(channel), who, True)
        event(f"pending on: {sum(c['pending_enabled'] for c in configs)}")

    @rule(action=actions)
    def act(self, action):
        name, *args = action
        type(self).steps += 1
        try:
            acted = getattr(self, f"do_{name}")(*args)
        except ServiceError as exc:
            self.note(f"{name}: {type(exc).__name__} {exc.code}")
        else:
            self.note(f"{name}: {'nothing to act on' if acted is False else 'ok'}")

    def note(self, text: str) -> None:
        event(text)
        type(self).outcomes[text] += 1

    # -- actions ----------------------------------------------------------------------------------
    def do_login(self, who, chans):
        if chans is not None:
            chans = list(dict.fromkeys(self.channel(who, pick) for pick in chans))
        status.session_login(self.agents[who].pk, channels=chans, **self.ctx(who))

    def do_logout(self, who):
        status.session_logout(self.agents[who].pk, **self.ctx(who))

    def do_status(self, who, pick, ask):
        self.request(who, self.channel(who, pick), *ask)

    def do_busy_status(self, pick, ask):
        """A request on a channel with open work or in ACW: where pending (R8) happens."""
        busy = sorted(
            {
                (i.agent_id, i.channel_id)
                for i in Interaction.objects.filter(state__in=("offered", "active"))
            }
            | set(
                AgentChannelState.objects.filter(status=Status.AFTER_CALL_WORK).values_list(
                    "agent_id", "channel_id"
                )
            )
        )
        if not busy:
            return False
        agent_id, channel = busy[pick % len(busy)]
        self.request(self.names[agent_id], channel, *ask)
        return True

    def request(self, who, channel, want, reason):
        result = status.channel_set_status(
            self.agents[who].pk, channel, status=want, reason=reason, **self.ctx(who)
        )
        self.note(f"status held: {result.held}")

    def do_force(self, who, pick, ask):
        want, reason = ask
        status.supervisor_force_status(
            self.agents[who].pk,
            self.channel(who, pick),
            status=want,
            reason=reason,
            actor=self.supervisor,
            request_id=self.rid("sup"),
        )

    def do_dnd(self, who, enabled):
        status.agent_set_dnd(self.agents[who].pk, enabled=enabled, **self.ctx(who))

    def do_forward(self, who, on):
        other = self.agents["b" if who == "a" else "a"]
        status.agent_set_forwarding(
            self.agents[who].pk, to_extension=other.extension if on else None, **self.ctx(who)
        )

    def do_offer(self, who, pick, to, accept):
        """An offer on a channel ``who`` sees (mostly), to them, to the other agent, by
        extension (forwarding applies either way), or routed; ``accept``: taken at once."""
        channel = self.channel(who, pick, work=True)
        agent = extension = None
        if to.startswith("ext:"):
            extension = self.agents[to[4:]].extension
        elif to != "routed":
            agent = self.agents[to]
        offer = offers.offer_inbound(
            channel=channel,
            contact=self.contact,
            agent=agent,
            extension=extension,
            actor=None,
            request_id=self.rid("router"),
        )
        if accept:
            work.interaction_accept(offer.agent, offer.pk, **self.ctx(offer))

    def do_accept(self, pick):
        offer = self.pick(pick, state=InteractionState.OFFERED)
        if offer is None:
            return False
        work.interaction_accept(offer.agent, offer.pk, **self.ctx(offer))

    def do_late_accept(self, pick):
        """Accept after the deadline: 409 ``offer_expired`` and the offer is ``missed``."""
        offer = self.pick(pick, state=InteractionState.OFFERED, offer_deadline__isnull=False)
        if offer is None:
            return False
        self.move_into_past(Interaction, offer.pk, "offer_deadline")
        try:
            work.interaction_accept(offer.agent, offer.pk, **self.ctx(offer))
        except ServiceError as exc:
            refusal = exc
        else:
            raise AssertionError(f"offer {offer.pk} accepted after its deadline")
        offer.refresh_from_db()
        if isinstance(refusal, NotFound):
            assert not self.active(offer.agent_id), refusal.detail
        else:
            assert refusal.code == "offer_expired", refusal.code
            assert offer.state == InteractionState.MISSED, offer.state
        raise refusal

    def do_reject(self, pick):
        offer = self.pick(pick, state=InteractionState.OFFERED)
        if offer is None:
            return False
        work.interaction_reject(offer.agent, offer.pk, **self.ctx(offer))

    def do_end(self, pick, how_index):
        """End active work, work on a channel holding a pending status first (hypothesis
        favours small picks), so a held status is often followed by its release or drop."""
        active = list(
            Interaction.objects.filter(state=InteractionState.ACTIVE)
            .select_related("agent")
            .order_by("pk")
        )
        if not active:
            return False
        held = set(
            AgentChannelState.objects.filter(pending_status__isnull=False).values_list(
                "agent_id", "channel_id"
            )
        )
        active.sort(key=lambda i: ((i.agent_id, i.channel_id) not in held, i.pk))
        found = active[pick % len(active)]
        hows = END_HOW[found.channel_id]
        how = hows[how_index % len(hows)]
        self.note(f"end by {how}")
        work.interaction_end(
            found.agent,
            found.pk,
            how=how,
            workbin=WORKBIN if how == "workbin" else None,
            **self.ctx(found),
        )
        # "Pending and release events": the last open work ended by another event drops it.
        agent, channel = found.agent, found.channel_id
        after = AgentChannelState.objects.get(agent=agent, channel_id=channel)
        self.note(f"end: then {after.status}{' with deadline' if after.wrap_up_deadline else ''}")
        if not self.open_work(agent.pk, channel) and how not in self.rules_of(agent).value(
            "pending_release_on"
        ):
            state = AgentChannelState.objects.get(agent=agent, channel_id=channel)
            assert state.pending_status is None, (
                f"{self.where(state)}: pending {state.pending_status} outlived work ended by "
                f"{how}, not a release event"
            )

    def acw_owners_first(self, pick):
        """An ended interaction, those whose end started a current ACW first."""
        owners = set(
            AgentChannelState.objects.filter(status=Status.AFTER_CALL_WORK).values_list(
                "wrap_up_interaction_id", flat=True
            )
        )
        ended = list(
            Interaction.objects.filter(state=InteractionState.ENDED)
            .select_related("agent")
            .order_by("pk")
        )
        if not ended:
            return None
        ended.sort(key=lambda i: (i.pk not in owners, i.pk))
        return ended[pick % len(ended)] if pick % 3 else ended[0]

    def do_done(self, pick):
        found = self.acw_owners_first(pick)
        if found is None:
            return False
        state = AgentChannelState.objects.get(agent=found.agent, channel_id=found.channel_id)
        owner = state.status == Status.AFTER_CALL_WORK and state.wrap_up_interaction_id == found.pk
        expected = self.expected_acw_exit(state, "done") if owner else None
        before = (state.status, state.reason or "")
        work.interaction_done(found.agent, found.pk, **self.ctx(found))
        state.refresh_from_db()
        after = (state.status, state.reason or "")
        if not owner:  # "ACW belongs to the interaction whose end started it"
            assert after == before, f"{self.where(state)}: done on another interaction moved it"
        elif expected is not None:
            assert after == expected, (
                f"{self.where(state)}: done left ACW for {after}, expected {expected}"
            )
        if owner:
            # Done on the interaction that owns ACW under ``manual``: ACW without a timer.
            self.manual_done_at[(state.agent_id, state.channel_id)] = state.since

    def do_extend(self, pick):
        found = self.acw_owners_first(pick)
        if found is None:
            return False
        work.wrap_up_extend(found.agent, found.pk, **self.ctx(found))

    def do_outbound(self, who, channel, with_parent):
        agent = self.agents[who]
        parent = (
            Interaction.objects.filter(agent=agent, channel_id__in=("chat", "email"))
            .order_by("-pk")
            .first()
            if with_parent
            else None
        )
        work.start_outbound(
            agent,
            channel=channel,
            contact=None if parent else self.contact,
            to=None,
            parent_id=parent.pk if parent else None,
            **self.ctx(who),
        )

    def do_timer(self, pick, how):
        """A wrap-up timer expires: its deadline moved into the past (never the clock), then
        the sweeper (or a single firing, the wake-up's path)."""
        due = list(AgentChannelState.objects.filter(wrap_up_deadline__isnull=False).order_by("pk"))
        if not due:
            return False
        row = due[pick % len(due)]
        expected = self.expected_acw_exit(row, "timer")
        self.move_into_past(AgentChannelState, row.pk, "wrap_up_deadline")
        if how == "fire_one":
            wrap_up_firing.fire_one(row.pk, row.wrap_up_version, source="test")
        else:
            self.sweep()
        row.refresh_from_db()
        if expected is not None:
            assert (row.status, row.reason or "") == expected, (
                f"{self.where(row)}: the timer left ACW for {row.status}/{row.reason}, "
                f"expected {expected}"
            )
        # A deadline that has passed was acted on: ACW was left (or the row is no longer due).
        assert row.wrap_up_deadline is None or row.wrap_up_deadline > selectors.db_now(), (
            f"{self.where(row)}: a due wrap-up timer did not fire"
        )

    def do_all_timers(self):
        """Every wrap-up deadline passes at once: the sweeper fires them as one batch (both
        agents, several channels of one agent), the same exits as one by one."""
        due = list(AgentChannelState.objects.filter(wrap_up_deadline__isnull=False))
        if not due:
            return False
        expected = {row.pk: self.expected_acw_exit(row, "timer") for row in due}
        AgentChannelState.objects.filter(pk__in=expected).update(
            wrap_up_deadline=selectors.db_now() - timedelta(seconds=1)
        )
        self.sweep()
        for row in AgentChannelState.objects.filter(pk__in=expected):
            assert row.wrap_up_deadline is None, f"{self.where(row)}: a due timer did not fire"
            if expected[row.pk] is not None:
                assert (row.status, row.reason or "") == expected[row.pk], (
                    f"{self.where(row)}: the batch left ACW for {row.status}/{row.reason}, "
                    f"expected {expected[row.pk]}"
                )
        return True

    def do_offer_expiry(self, pick, how):
        offer = self.pick(pick, state=InteractionState.OFFERED, offer_deadline__isnull=False)
        if offer is None:
            return False
        self.move_into_past(Interaction, offer.pk, "offer_deadline")
        if how == "offer_expire":
            offers.offer_expire(offer.pk, offer.offer_version)
        else:
            self.sweep()
        offer.refresh_from_db()
        assert offer.state == InteractionState.MISSED, f"expired offer {offer.pk} {offer.state}"

    def do_sweep(self):
        self.sweep()

    def do_visibility(self, who, channel):
        """An admin adds or removes a channel of the role mid-work (the rules cache follows
        the rules version, bumped by the m2m signal). A role keeps at least one channel: an
        empty choice would mean "inherit the default channels"."""
        role = self.roles[who]
        visible = set(role.visible_channels.values_list("code", flat=True))
        if channel in visible:
            if len(visible) == 1:
                return False
            role.visible_channels.remove(channel)
            self.note("visibility: removed")
        else:
            role.visible_channels.add(channel)
            self.note("visibility: added")
        self.swept_since_visibility_change = False

    def do_deactivate(self, who, draw):
        if draw == 0:
            deactivation.agent_deactivate(
                self.agents[who].pk, actor=self.supervisor, request_id=self.rid("admin")
            )

    # -- helpers ----------------------------------------------------------------------------------
    def sweep(self) -> None:
        timers.sweep()
        self.swept_since_visibility_change = True

    def channel(self, who: str, pick: int, *, work: bool = False) -> str:
        """Mostly a channel ``who`` sees now, sometimes one they do not (404, R1)."""
        visible = sorted(selectors.effective_rules(self.agents[who]).visible & set(CHANNELS))
        hidden = sorted(set(CHANNELS) - set(visible)) + ([] if work else ["facebook"])
        options = visible * 4 + hidden
        return options[pick % len(options)]

    def rules_of(self, agent: Agent):
        return selectors.effective_rules(Agent.objects.get(pk=agent.pk))

    def open_work(self, agent_id: int, channel: str) -> int:
        return Interaction.objects.filter(
            agent_id=agent_id, channel_id=channel, state__in=("offered", "active")
        ).count()

    def pre_acw(self, state: AgentChannelState) -> tuple[str, str]:
        """The (status, reason) the channel had before its current ACW, from the ledger."""
        before = (Status.LOGGED_OFF, "")
        previous = before
        for row in StatusChange.objects.filter(
            agent_id=state.agent_id, channel_id=state.channel_id, event=Event.STATUS
        ).order_by("seq"):
            if row.to_status == Status.AFTER_CALL_WORK:
                before = previous
            previous = (row.to_status, row.reason)
        return before

    def expected_acw_exit(self, state: AgentChannelState, trigger: str) -> tuple[str, str] | None:
        """Where leaving ACW by ``trigger`` must land (DECISIONS.md "After-call work" and
        "Combinations"): invisible → logged off; else the pending status; else the whole
        pre-ACW pair if it was not_ready; else the rule's status. None: not checked (work
        opened during ACW is open, or the agent is inactive)."""
        agent = Agent.objects.get(pk=state.agent_id)
        if not agent.is_active or self.open_work(agent.pk, state.channel_id):
            return None
        code, rules = state.channel_id, selectors.effective_rules(agent)
        if trigger == "done":
            after = rules.value("after_done", code)
            if after in ("keep_acw", "manual"):
                return (Status.AFTER_CALL_WORK, "")
        if code not in rules.visible:
            return (Status.LOGGED_OFF, "")
        if state.pending_status is not None:
            return (state.pending_status, state.pending_reason or "")
        pre = self.pre_acw(state)
        if pre[0] == Status.NOT_READY:
            return pre
        if trigger == "timer":
            after = rules.value("acw_after_timer", code)
            return (after, "acw_timeout" if after == Status.NOT_READY else "")
        return (after, rules.value("after_done_reason", code) or "" if after == "not_ready" else "")

    def rid(self, who: str) -> str:
        self.calls += 1
        return f"{who}-{self.calls}"

    def ctx(self, who) -> dict[str, Any]:
        """The acting user: ``who`` is an agent name or an interaction (its agent)."""
        agent = self.agents[who] if isinstance(who, str) else self.agents[self.names[who.agent_id]]
        return {"actor": agent.user, "request_id": self.rid(agent.user.username)}

    def pick(self, pick: int, **where: Any) -> Interaction | None:
        found = list(Interaction.objects.filter(**where).select_related("agent").order_by("pk"))
        return found[pick % len(found)] if found else None

    def active(self, agent_id: int) -> bool:
        return Agent.objects.filter(pk=agent_id, is_active=True).exists()

    def move_into_past(self, model, pk: int, field: str) -> None:
        model.objects.filter(pk=pk).update(**{field: selectors.db_now() - timedelta(seconds=1)})

    def where(self, state: AgentChannelState) -> str:
        return f"agent {self.names[state.agent_id]} {state.channel_id}"

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def check_all(self):
        if not self.agents:
            return
        assert not self.errors.records, "the services logged an error: " + "; ".join(
            self.errors.format(r) for r in self.errors.records
        )
        for agent in Agent.objects.filter(pk__in=self.names).select_related("role"):
            self.check_agent(agent)

    def check_agent(self, agent: Agent) -> None:
        name = self.names[agent.pk]
        rules = selectors.effective_rules(agent)
        states = {s.channel_id: s for s in AgentChannelState.objects.filter(agent=agent)}
        open_work = dict(
            Interaction.objects.filter(agent=agent, state__in=("offered", "active"))
            .values_list("channel_id")
            .annotate(n=Count("pk"))
        )
        counting = dict(
            Interaction.objects.filter(
                agent=agent, state__in=("offered", "active"), counts_toward_cap=True
            )
            .values_list("channel_id")
            .annotate(n=Count("pk"))
        )
        self.check_ledger(agent, states)
        for code, state in states.items():
            where = f"agent {name} {code} ({state.status}/{state.reason})"
            busy = open_work.get(code, 0)
            # R8: a held status never outlives the work it waits for (during ACW it waits for
            # ACW's end) and never blocks a channel with no open work.
            if state.pending_status is not None:
                assert busy or state.status == Status.AFTER_CALL_WORK, (
                    f"{where}: pending {state.pending_status} with no open work"
                )
            # R14/R15: never a silently stuck ACW.
            if state.status == Status.AFTER_CALL_WORK and state.wrap_up_deadline is None:
                assert (
                    rules.value("acw_seconds", code) is None
                    or state.wrap_up_extended
                    or self.manual_done(rules, state)
                ), f"{where}: in ACW with no deadline and no no-timer mode"
            if state.wrap_up_deadline is not None:
                assert state.status == Status.AFTER_CALL_WORK, f"{where}: deadline outside ACW"
            # R1: logged off within one sweep of losing visibility, once its work is done.
            if (
                self.swept_since_visibility_change
                and code not in rules.visible
                and not busy
                and agent.is_active
            ):
                assert state.status == Status.LOGGED_OFF, f"{where}: invisible, no work, logged in"
            # R9 caps.
            cap = rules.value("channel_cap", code)
            if cap is not None:
                assert counting.get(code, 0) <= cap, f"{where}: {counting[code]} over cap {cap}"
        total = rules.value("total_cap")
        used = sum(n for code, n in counting.items() if code != "im")
        assert total is None or used <= total, f"agent {name}: {used} over total cap {total}"
        if not agent.is_active:
            assert all(s.status == Status.LOGGED_OFF for s in states.values())
            assert not agent.dnd
            assert not Interaction.objects.filter(agent=agent, state="offered").exists()
        verified = audit.verify_chain(agent_id=agent.pk)
        assert verified.intact, f"agent {name}: chain broken at seq {verified.seq}: {verified}"

    def manual_done(self, rules, state: AgentChannelState) -> bool:
        """This ACW's own interaction was marked done under ``after_done = manual``: no timer,
        the agent sets the status (DECISIONS.md, "After-call work")."""
        return rules.value("after_done", state.channel_id) == "manual" and (
            self.manual_done_at.get((state.agent_id, state.channel_id)) == state.since
        )

    def check_ledger(self, agent: Agent, states: dict[str, AgentChannelState]) -> None:
        rows = StatusChange.objects.filter(agent=agent).order_by("seq")
        last: dict[str, tuple[str, str]] = {}
        held: dict[str, tuple[str, str] | None] = {}
        landing: dict[str, tuple[str, str]] = {}  # an applied pending awaits its status row
        dnd = "off"
        for row in rows.iterator():
            where = (
                f"agent {self.names[agent.pk]} seq {row.seq} ({row.event} {row.channel_id} "
                f"{row.from_status}->{row.to_status}/{row.reason} cause {row.cause})"
            )
            if row.event == Event.DND:
                assert row.from_status == dnd, where
                assert row.to_status != dnd, where
                dnd = row.to_status
                continue
            code = row.channel_id
            if row.event == Event.STATUS:
                assert row.from_status == last.get(code, (Status.LOGGED_OFF, ""))[0], where
                if code in landing:
                    assert (row.to_status, row.reason) == landing.pop(code), (
                        f"{where}: does not land in the pending status just applied"
                    )
                last[code] = (row.to_status, row.reason)
                continue
            assert row.event == Event.PENDING, where
            assert code not in landing, f"{where}: an applied pending status never landed"
            series = held.get(code)
            closes = row.to_status == "" or row.cause != Cause.AGENT
            if closes:
                assert series is not None, f"{where}: closes no open pending series"
                assert (row.from_status, row.reason) == series, where
                if row.to_status:
                    assert row.to_status == row.from_status, where
                    landing[code] = series
                held[code] = None
            else:
                assert row.from_status == (series[0] if series else ""), where
                held[code] = (row.to_status, row.reason)
        assert not landing, f"agent {self.names[agent.pk]}: applied pending never landed"
        assert agent.dnd == (dnd == "on"), f"agent {self.names[agent.pk]}: DND differs"
        for code, state in states.items():
            where = f"agent {self.names[agent.pk]} {code}"
            assert last.get(code, (Status.LOGGED_OFF, "")) == (state.status, state.reason or ""), (
                f"{where}: {state.status}/{state.reason} but the ledger says {last.get(code)}"
            )
            expected = (
                (state.pending_status, state.pending_reason or "") if state.pending_status else None
            )
            assert held.get(code) == expected, (
                f"{where}: pending {expected} but the ledger's series is {held.get(code)}"
            )
