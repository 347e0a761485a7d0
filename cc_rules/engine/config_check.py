"""Cross-rule warnings (issue 16, item 4): configurations that save but do not do what was meant.

Every rule row is valid on its own (the rulebook and ``Rule.clean`` see to that); these checks
look at rules *together*, on the values in force (agent → role → global → built-in default),
e.g. a wrap-up timer on a channel where after-call work is off never runs.

The input is a small frozen snapshot of the whole configuration (``cc_rules.selectors.
config_snapshot`` reads it); the output is a sorted list of ``ConfigWarning``, each with a stable
``code``, the R-number, where it is (scope, role, agent, channel), a message in the admin's words
and the fix. Plain Python, no database: the admin page, the save hooks and the API share it.

Where a warning is reported: at the most specific scope among the values that cause it. A
problem made only of global values (or defaults) is reported once, as global, however many roles
inherit it; a role that fixes it for itself does not inherit the warning. Global visibility
(R1, "visible by default") and global blocking pairs are defaults for every role: a role that
does not see a channel simply never meets them, so they are not warned about per role.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rulebook import CHANNEL_END_EVENTS, CHANNELS, END_EVENTS, RULES

# The codes, in the order warnings of one place are listed.
ACW_TIMER_WITHOUT_ACW = "acw_timer_without_acw"
RULE_ON_INVISIBLE_CHANNEL = "rule_on_invisible_channel"
AFTER_DONE_NOT_READY_WITHOUT_REASON = "after_done_not_ready_without_reason"
ACW_ON_IM = "acw_on_im"
PENDING_WITHOUT_RELEASE_EVENT = "pending_without_release_event"
PENDING_RELEASE_UNREACHABLE = "pending_release_unreachable"
OVERRIDE_SAME_AS_ROLE = "override_same_as_role"
BLOCKING_PAIR_INVISIBLE_CHANNEL = "blocking_pair_invisible_channel"
CODES: tuple[str, ...] = (
    ACW_TIMER_WITHOUT_ACW,
    RULE_ON_INVISIBLE_CHANNEL,
    AFTER_DONE_NOT_READY_WITHOUT_REASON,
    ACW_ON_IM,
    PENDING_WITHOUT_RELEASE_EVENT,
    PENDING_RELEASE_UNREACHABLE,
    OVERRIDE_SAME_AS_ROLE,
    BLOCKING_PAIR_INVISIBLE_CHANNEL,
)

CHANNEL_WORDS = {
    "voice": "voice",
    "email": "e-mail",
    "chat": "chat",
    "facebook": "Facebook",
    "twitter": "Twitter",
    "workitem": "workitems",
    "im": "IM",
    "cobrowse": "co-browse",
}
EVENT_WORDS = {
    "hangup": "hang-up",
    "chat_ended": "chat ended",
    "sent": "sent",
    "workbin": "moved to a workbin",
}
IM = "im"
_SCOPE_RANK = {"default": 0, "global": 0, "role": 1, "agent": 2}


@dataclass(frozen=True)
class SetRule:
    """One rule row's parsed value (``RuleDef.parse``) and the row's id."""

    value: Any
    rule_id: int | None = None


# (key, channel) → the value set at one scope; channel is None for rules not set per channel.
RuleValues = Mapping[tuple[str, str | None], SetRule]


@dataclass(frozen=True)
class RoleConfig:
    id: int
    name: str
    visible: frozenset[str] | None  # None: the channels visible by default (R1)
    reason_codes: frozenset[str] | None  # None: the global codes
    rules: RuleValues = field(default_factory=dict)


@dataclass(frozen=True)
class AgentConfig:
    id: int
    name: str
    role_id: int
    rules: RuleValues = field(default_factory=dict)
    active: bool = True


@dataclass(frozen=True)
class ConfigSnapshot:
    """The configuration the checks read: global rules and sets, every role, every agent."""

    global_rules: RuleValues = field(default_factory=dict)
    global_visible: frozenset[str] = frozenset()
    global_reason_codes: frozenset[str] = frozenset()
    roles: tuple[RoleConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()


@dataclass(frozen=True)
class ConfigWarning:
    """One problem: ``code`` is stable, ``rule`` the R-number, ``scope`` where it is caused
    (global, role or agent; an agent's warning names their role too), ``rule_ids`` the rule rows
    at that scope that cause it, ``message`` what is wrong and ``fix`` what to change."""

    code: str
    rule: str
    scope: str
    message: str
    fix: str
    role_id: int | None = None
    role: str | None = None
    agent_id: int | None = None
    agent: str | None = None
    channel: str | None = None
    key: str | None = None
    rule_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "scope": self.scope,
            "role": {"id": self.role_id, "name": self.role} if self.role_id else None,
            "agent": {"id": self.agent_id, "name": self.agent} if self.agent_id else None,
            "channel": self.channel,
            "key": self.key,
            "rule_ids": list(self.rule_ids),
            "message": self.message,
            "fix": self.fix,
        }


def check(
    snapshot: ConfigSnapshot, *, role_id: int | None = None, agent_id: int | None = None
) -> list[ConfigWarning]:
    """Every warning of the configuration, or those that concern one role (the role and its
    agents, including problems they inherit) or one agent (what is in force for them)."""
    roles = {role.id: role for role in snapshot.roles}
    contexts: list[_Context] = []
    if agent_id is not None:
        contexts += [
            _Context(snapshot, roles.get(a.role_id), a) for a in snapshot.agents if a.id == agent_id
        ]
    elif role_id is not None:
        if role_id in roles:
            contexts.append(_Context(snapshot, roles[role_id], None))
        contexts += [
            _Context(snapshot, roles[role_id], a)
            for a in snapshot.agents
            if a.role_id == role_id and a.active
        ]
    else:
        contexts.append(_Context(snapshot, None, None))
        contexts += [_Context(snapshot, role, None) for role in snapshot.roles]
        contexts += [
            _Context(snapshot, roles.get(a.role_id), a) for a in snapshot.agents if a.active
        ]
    found: set[ConfigWarning] = set()
    for context in contexts:
        for check_one in CHECKS:
            found.update(check_one(context))
    return sorted(found, key=_order)


def _order(w: ConfigWarning) -> tuple[Any, ...]:
    return (
        w.scope != "global",
        (w.role or "").lower(),
        w.role_id or 0,
        w.scope == "agent",
        (w.agent or "").lower(),
        w.agent_id or 0,
        CODES.index(w.code),
        CHANNELS.index(w.channel) if w.channel in CHANNELS else -1,
        w.key or "",
        w.message,
    )


# -- the context a check runs in: global, one role, or one agent of a role ----------------------
@dataclass(frozen=True)
class _Source:
    scope: str  # agent | role | global | default
    rule_id: int | None = None


@dataclass(frozen=True)
class _Context:
    snapshot: ConfigSnapshot
    role: RoleConfig | None
    agent: AgentConfig | None

    def layers(self) -> Iterator[tuple[str, RuleValues]]:
        if self.agent is not None:
            yield "agent", self.agent.rules
        if self.role is not None:
            yield "role", self.role.rules
        yield "global", self.snapshot.global_rules

    def setting(
        self, key: str, channel: str | None = None, *, skip_agent: bool = False
    ) -> tuple[Any, _Source]:
        """The value in force and where it comes from (agent, role, global or default)."""
        lookup = channel if RULES[key].per_channel else None
        for scope, rules in self.layers():
            if skip_agent and scope == "agent":
                continue
            found = rules.get((key, lookup))
            if found is not None:
                return found.value, _Source(scope, found.rule_id)
        return RULES[key].default, _Source("default")

    def visible(self) -> tuple[frozenset[str], _Source]:
        if self.role is not None and self.role.visible is not None:
            return self.role.visible, _Source("role")
        return self.snapshot.global_visible, _Source("global")

    def channels(self) -> list[str]:
        """The channels a check looks at: every one globally, else the visible ones."""
        if self.role is None:
            return list(CHANNELS)
        visible, _ = self.visible()
        return [c for c in CHANNELS if c in visible]

    def reason_codes(self, scope: str) -> frozenset[str]:
        """The reason codes that apply where a warning is reported (a role's own, or global)."""
        if scope != "global" and self.role is not None and self.role.reason_codes is not None:
            return self.role.reason_codes
        return self.snapshot.global_reason_codes

    # -- words ------------------------------------------------------------------------------
    def source_words(self, source: _Source) -> str:
        if source.scope == "agent" and self.agent is not None:
            return f"override for {self.agent.name}"
        if source.scope == "role" and self.role is not None:
            return f"role {self.role.name}"
        if source.scope == "global":
            return "global rule"
        return "built-in default"

    def place(self, scope: str) -> str:
        """Where the fix is made, for a warning reported at ``scope``."""
        if scope == "agent" and self.agent is not None:
            return f"on agent {self.agent.name}'s page"
        if scope == "role" and self.role is not None:
            return f"on role {self.role.name}'s page"
        return "in the global rules"

    def visible_to(self, scope: str) -> str:
        """Whose visible channels a warning reported at ``scope`` speaks of."""
        if self.role is None or scope == "global":
            return "visible by default"
        if scope == "agent" and self.agent is not None:
            return f"visible to {self.agent.name}'s role {self.role.name}"
        return f"visible to role {self.role.name}"

    def warning(
        self,
        code: str,
        rule: str,
        sources: Iterable[_Source],
        message: Any,
        fix: Any,
        *,
        channel: str | None = None,
        key: str | None = None,
    ) -> ConfigWarning:
        """A warning reported at the most specific scope among ``sources``. ``message`` and
        ``fix`` are callables of that scope, so the same problem found from a role and from each
        of its agents reads the same and is listed once."""
        causes = list(sources)
        rank = max(_SCOPE_RANK[s.scope] for s in causes)
        scope = {0: "global", 1: "role", 2: "agent"}[rank]
        role = self.role if scope in ("role", "agent") else None
        agent = self.agent if scope == "agent" else None
        rule_ids = sorted(
            {s.rule_id for s in causes if s.rule_id is not None and _SCOPE_RANK[s.scope] == rank}
        )
        return ConfigWarning(
            code=code,
            rule=rule,
            scope=scope,
            message=message(scope),
            fix=fix(scope),
            role_id=role.id if role else None,
            role=role.name if role else None,
            agent_id=agent.id if agent else None,
            agent=agent.name if agent else None,
            channel=channel,
            key=key,
            rule_ids=tuple(rule_ids),
        )


def _label(key: str) -> str:
    return f"“{RULES[key].label}” ({RULES[key].rule})"


def _events(events: Iterable[str]) -> str:
    return ", ".join(EVENT_WORDS[e] for e in END_EVENTS if e in set(events)) or "none"


def _channels(channels: Iterable[str]) -> str:
    return ", ".join(CHANNEL_WORDS[c] for c in CHANNELS if c in set(channels)) or "no channel"


def _seconds(value: int) -> str:
    return f"{value} s"


# -- the checks ---------------------------------------------------------------------------------
def _acw_timer_without_acw(ctx: _Context) -> Iterator[ConfigWarning]:
    """R14: a wrap-up timer runs only inside after-call work; where ACW is off it never runs."""
    for channel in ctx.channels():
        if channel == IM:
            continue  # IM has its own warning: it has no after-call work at all
        seconds, timer = ctx.setting("acw_seconds", channel)
        enabled, acw = ctx.setting("acw_enabled", channel)
        if seconds is None or enabled:
            continue
        words = CHANNEL_WORDS[channel]
        yield ctx.warning(
            ACW_TIMER_WITHOUT_ACW,
            "R14",
            [timer, acw],
            lambda _s, words=words, seconds=seconds, timer=timer, acw=acw: (
                f"The wrap-up timer of {_seconds(seconds)} on {words} ({ctx.source_words(timer)}) "
                f"never runs: after-call work is off on {words} ({ctx.source_words(acw)})."
            ),
            lambda s, words=words: (
                f"Turn on {_label('acw_enabled')} for {words} {ctx.place(s)}, "
                f"or remove the wrap-up timer there."
            ),
            channel=channel,
            key="acw_enabled",
        )


def _rule_on_invisible_channel(ctx: _Context) -> Iterator[ConfigWarning]:
    """R1: a per-channel rule set for this role (or agent) on a channel the role cannot see
    never applies. Global rows are defaults for every role and are not warned about."""
    if ctx.role is None:
        return
    visible, seen = ctx.visible()
    rules, scope = (ctx.agent.rules, "agent") if ctx.agent is not None else (ctx.role.rules, "role")
    for (key, channel), row in rules.items():
        if channel is None or not RULES[key].per_channel or channel in visible:
            continue
        words = CHANNEL_WORDS.get(channel, channel)
        yield ctx.warning(
            RULE_ON_INVISIBLE_CHANNEL,
            "R1",
            [_Source(scope, row.rule_id), seen],
            lambda s, key=key, words=words: (
                f"{_upper(words)} is not {ctx.visible_to(s)} (R1), so the rule {_label(key)} "
                f"for {words} ({ctx.source_words(_Source(s))}) never applies."
            ),
            lambda s, words=words: (
                f"Delete this rule {ctx.place(s)}, or make {words} visible to "
                f"role {ctx.role.name if ctx.role else ''} (visible channels on the role's page)."
            ),
            channel=channel,
            key=key,
        )


def _after_done_not_ready_without_reason(ctx: _Context) -> Iterator[ConfigWarning]:
    """R13: "not ready after done" needs the reason the channel is set not ready with."""
    for channel in ctx.channels():
        if channel == IM:
            continue
        after_done, status = ctx.setting("after_done", channel)
        reason, named = ctx.setting("after_done_reason", channel)
        if after_done != "not_ready" or reason is not None:
            continue
        words = CHANNEL_WORDS[channel]
        yield ctx.warning(
            AFTER_DONE_NOT_READY_WITHOUT_REASON,
            "R13",
            [status, named],
            lambda _s, words=words, status=status, named=named: (
                f"Marking done on {words} sets Not Ready ({ctx.source_words(status)}) "
                f"with no reason: {_label('after_done_reason')} is empty "
                f"({ctx.source_words(named)})."
            ),
            lambda s, words=words: (
                f"Choose a reason for {_label('after_done_reason')} on {words} {ctx.place(s)} "
                f"(reason codes: {', '.join(sorted(ctx.reason_codes(s))) or 'none defined yet'}),"
                " or choose another status after done."
            ),
            channel=channel,
            key="after_done_reason",
        )


def _acw_on_im(ctx: _Context) -> Iterator[ConfigWarning]:
    """R5/R14: IM is internal messaging, not routed work: it has no after-call work."""
    if ctx.role is not None and IM not in ctx.visible()[0]:
        return  # a rule on an invisible IM is the invisible-channel warning
    enabled, acw = ctx.setting("acw_enabled", IM)
    seconds, timer = ctx.setting("acw_seconds", IM)
    causes, what, keys = [], [], []
    if enabled:
        causes.append(acw)
        what.append(("after-call work turned on", acw))
        keys.append("acw_enabled")
    if seconds is not None:
        causes.append(timer)
        what.append((f"a wrap-up timer of {_seconds(seconds)}", timer))
        keys.append("acw_seconds")
    if not causes:
        return
    yield ctx.warning(
        ACW_ON_IM,
        "R14",
        causes,
        lambda _s: (
            "IM is internal messaging and has no after-call work, yet it has "
            + " and ".join(f"{text} ({ctx.source_words(src)})" for text, src in what)
            + "; this never applies."
        ),
        lambda s: (
            f"Remove {' and '.join(_label(k) for k in keys)} for IM {ctx.place(s)} "
            "(or set after-call work off and no timer)."
        ),
        channel=IM,
        key=keys[0],
    )


def _pending_release(ctx: _Context) -> Iterator[ConfigWarning]:
    """R8: a pending status waits for a release event; with none that can happen, every held
    status is dropped when the work ends (DECISIONS.md, "Pending and release events")."""
    enabled, pending = ctx.setting("pending_enabled")
    if not enabled:
        return
    events, release = ctx.setting("pending_release_on")
    if not events:
        yield ctx.warning(
            PENDING_WITHOUT_RELEASE_EVENT,
            "R8",
            [pending, release],
            lambda _s: (
                f"Pending status is on ({ctx.source_words(pending)}) but no end event releases "
                f"it ({_label('pending_release_on')} is empty, {ctx.source_words(release)}): "
                "every held status is dropped when the work ends."
            ),
            lambda s: (
                f"Choose release events for {_label('pending_release_on')} {ctx.place(s)} "
                "(hang-up, chat ended, sent, moved to a workbin), or turn pending status off."
            ),
            key="pending_release_on",
        )
        return
    visible, seen = ctx.visible()
    possible = frozenset().union(*(CHANNEL_END_EVENTS.get(c, frozenset()) for c in visible))
    if not possible or set(events) & possible:
        return  # no channel that ends work at all: nothing is ever held
    yield ctx.warning(
        PENDING_RELEASE_UNREACHABLE,
        "R8",
        [pending, release, seen],
        lambda s: (
            f"Pending status is on ({ctx.source_words(pending)}) and is released only by "
            f"{_events(events)} ({ctx.source_words(release)}), but none of the channels "
            f"{ctx.visible_to(s)} ({_channels(visible)}) ends work that way: every held "
            "status is dropped when the work ends."
        ),
        lambda s: (
            f"Add {_events(possible)} to {_label('pending_release_on')} {ctx.place(s)}, "
            "or turn pending status off."
        ),
        key="pending_release_on",
    )


def _override_same_as_role(ctx: _Context) -> Iterator[ConfigWarning]:
    """An agent override equal to the value the agent would have without it changes nothing
    and hides later changes of the role's value from this agent."""
    if ctx.agent is None:
        return
    visible, _ = ctx.visible()
    for (key, channel), row in ctx.agent.rules.items():
        if key not in RULES or (channel is not None and channel not in visible):
            continue  # an override on an invisible channel is the invisible-channel warning
        inherited, source = ctx.setting(key, channel, skip_agent=True)
        if inherited != row.value:
            continue
        where = f" for {CHANNEL_WORDS.get(channel, channel)}" if channel else ""
        shown = _show(key, row.value)
        yield ctx.warning(
            OVERRIDE_SAME_AS_ROLE,
            RULES[key].rule,
            [_Source("agent", row.rule_id)],
            lambda _s, key=key, where=where, shown=shown, source=source: (
                f"The override of {_label(key)}{where} ({shown}) is the value "
                f"{ctx.agent.name if ctx.agent else ''} has without it "
                f"({ctx.source_words(source)})."
            ),
            lambda _s, source=source: (
                f"Delete this override on agent {ctx.agent.name if ctx.agent else ''}'s page; "
                f"the agent keeps the same value from the {ctx.source_words(source)}."
            ),
            channel=channel,
            key=key,
        )


def _blocking_pair_invisible_channel(ctx: _Context) -> Iterator[ConfigWarning]:
    """R9/R1: a blocking pair set for this role (or agent) that names a channel the role
    cannot see never blocks anything. Global pairs are defaults and are not warned about."""
    if ctx.role is None:
        return
    pairs, source = ctx.setting("blocking_pairs")
    if source.scope not in ("role", "agent"):
        return
    visible, seen = ctx.visible()
    for active, blocked in sorted(pairs, key=_pair_order):
        hidden = [c for c in (active, blocked) if c not in visible]
        if not hidden:
            continue
        pair = f"while on {CHANNEL_WORDS[active]}, no new {CHANNEL_WORDS[blocked]}"
        names = " and ".join(CHANNEL_WORDS[c] for c in hidden)
        yield ctx.warning(
            BLOCKING_PAIR_INVISIBLE_CHANNEL,
            "R9",
            [source, seen],
            lambda s, pair=pair, names=names: (
                f"The blocking pair “{pair}” ({ctx.source_words(source)}) names {names}, not "
                f"{ctx.visible_to(s)} (R1): it never blocks anything."
            ),
            lambda s, pair=pair, names=names: (
                f"Remove “{pair}” from {_label('blocking_pairs')} {ctx.place(s)}, or make "
                f"{names} visible to role {ctx.role.name if ctx.role else ''}."
            ),
            channel=hidden[0],
            key="blocking_pairs",
        )


def _pair_order(pair: tuple[str, str]) -> tuple[int, int]:
    return CHANNELS.index(pair[0]), CHANNELS.index(pair[1])


def _show(key: str, value: Any) -> str:
    if value is None:
        nulls = {"acw_seconds": "no timer", "offer_timeout_seconds": "never expires"}
        return nulls.get(key, "unlimited" if key.endswith("_cap") else "none")
    if key == "blocking_pairs":
        return ", ".join(f"{a} → {b}" for a, b in sorted(value)) or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, frozenset):
        return ", ".join(sorted(str(v) for v in RULES[key].encode(value))) or "none"
    return str(value)


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


CHECKS = (
    _acw_timer_without_acw,
    _rule_on_invisible_channel,
    _after_done_not_ready_without_reason,
    _acw_on_im,
    _pending_release,
    _override_same_as_role,
    _blocking_pair_invisible_channel,
)
