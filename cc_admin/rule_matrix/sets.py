"""Set-valued cells: blocking pairs (R9), release events (R8), number types (R11), visibility (R1).

A set is replaced whole by a more specific scope (DECISIONS.md, "Rules"): a cell either inherits
or holds exactly the ticked boxes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cc_admin.live import CHANNEL_WORDS
from cc_rules.engine.rulebook import CHANNEL_END_EVENTS, RULES
from cc_rules.models import Channel

from .cells import (
    END_EVENT_WORDS,
    INHERIT,
    INHERIT_ROW,
    SHORT_CHANNEL_WORDS,
    Cell,
    RuleMatrixForm,
    checkbox_field,
    hint_html,
    select_field,
)

if TYPE_CHECKING:
    from .scope import ScopeRules


class SetCell(Cell):
    """A set replaced whole by a more specific scope: inherit, or exactly the ticked boxes.

    While the select says inherit, the boxes show the inherited set.
    """

    set_word = "as ticked"

    def __init__(
        self,
        key: str,
        label: str,
        options: Iterable[tuple[str, Any, str]],
        rnum: str | None = None,
    ) -> None:
        self.key, self.label, self.name = key, label, key
        self.options = list(options)
        self.rnum = rnum or RULES[key].rule

    def box_name(self, token: str) -> str:
        return f"{self.key}-{token}"

    def field_names(self) -> list[str]:
        return [self.name, *(self.box_name(t) for t, _, _ in self.options)]

    def mode_field(self) -> forms.ChoiceField:
        return select_field(
            f"{self.label}: inherit or as ticked",
            [(INHERIT, "inherit"), ("set", self.set_word)],
        )

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {self.name: self.mode_field()}
        for token, _, word in self.options:
            fields[self.box_name(token)] = checkbox_field(
                word, **{"class": "cc-m-box", "data-cc-mode": self.name}
            )
        return fields

    def read(self, rules: ScopeRules) -> Any:
        if not rules.has_own(self.key):
            return INHERIT
        return frozenset(rules.own_value(self.key))

    def shown(self, value: Any, rules: ScopeRules) -> frozenset:
        return rules.parent(self.key)[0] if value == INHERIT else value

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        ticked = self.shown(value, rules)
        found: dict[str, Any] = {self.name: INHERIT if value == INHERIT else "set"}
        for token, item, _ in self.options:
            found[self.box_name(token)] = item in ticked
        return found

    def ticked(self, data: dict[str, Any], current: Any, rules: ScopeRules) -> frozenset:
        return frozenset(item for token, item, _ in self.options if data.get(self.box_name(token)))

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        if self.name not in data:
            return None
        ticked = self.ticked(data, current, form.rules)
        if data[self.name] == INHERIT:
            # the boxes as the page showed them, or as the script shows inherit: both fine
            if ticked not in (self.shown(current, form.rules), self.shown(INHERIT, form.rules)):
                form.add_error(
                    self.name,
                    f"Choose “{self.set_word}” to use the boxes you changed, or undo them.",
                )
                return None
            return INHERIT
        return ticked

    def rows(self, value: Any, rules: ScopeRules) -> dict:
        if value == INHERIT:
            return {(self.key, None): INHERIT_ROW}
        return {(self.key, None): RULES[self.key].encode(frozenset(value))}

    def _list(self, items: Iterable[Any]) -> str:
        words = {item: word for _, item, word in self.options}
        shown = [words.get(i, str(i)) for _, i, _ in self.options if i in set(items)]
        return ", ".join(shown) if shown else "none"

    def words(self, value: Any, rules: ScopeRules) -> str:
        return "inherit" if value == INHERIT else self._list(value)

    def hint(self, rules: ScopeRules) -> str:
        value, source = rules.parent(self.key)
        return rules.hint(self._list(value), [source])

    def render_box(self, form: RuleMatrixForm, token: str) -> SafeString:
        return format_html("{}", form[self.box_name(token)])

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<div class="cc-m-boxes">{}</div>',
            format_html_join(
                "",
                '<label class="cc-m-check">{} {}</label>',
                ((form[self.box_name(t)], word) for t, _, word in self.options),
            ),
        )

    def render(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<div class="cc-m-cell{}">{}{}{}{}</div>',
            " cc-m-invalid" if self.has_errors(form) else "",
            form[self.name],
            hint_html(self.hint(form.rules)),
            self.render_boxes(form),
            self.errors(form),
        )


class PairsCell(SetCell):
    """R9 blocking pairs as a grid: row "while on X", column "no new Y"."""

    def __init__(self, channels: list[str]) -> None:
        options = [
            (f"{a}-{b}", (a, b), f"while on {CHANNEL_WORDS[a]}, no new {CHANNEL_WORDS[b]}")
            for a in channels
            for b in channels
            if a != b
        ]
        super().__init__("blocking_pairs", "Blocking pairs", options)
        self.channels = channels

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        head = format_html_join(
            "", '<th scope="col">{}</th>', ((SHORT_CHANNEL_WORDS[b],) for b in self.channels)
        )
        rows = []
        for a in self.channels:
            cells = format_html_join(
                "",
                "<td>{}</td>",
                ((form[self.box_name(f"{a}-{b}")] if a != b else "-",) for b in self.channels),
            )
            rows.append(
                format_html('<tr><th scope="row">{}</th>{}</tr>', SHORT_CHANNEL_WORDS[a], cells)
            )
        return format_html(
            '<table class="cc-m-grid"><caption>While on the channel of the row, no new work '
            "on the channel of the column</caption><thead><tr>"
            '<th scope="col"><span class="cc-m-corner">on ↓ · no new →</span></th>{}</tr>'
            "</thead><tbody>{}</tbody></table>",
            head,
            format_html_join("", "{}", ((r,) for r in rows)),
        )

    def _list(self, items: Iterable[Any]) -> str:
        pairs = set(items)
        shown = [
            f"{SHORT_CHANNEL_WORDS[a]} → {SHORT_CHANNEL_WORDS[b]}"
            for a in self.channels
            for b in self.channels
            if (a, b) in pairs
        ]
        return ", ".join(shown) if shown else "none"


class ReleaseCell(SetCell):
    """R8 release events, one role-wide set shown per channel as the end events it produces.

    An event appears in every row of a channel that produces it (chat ended: chat, Facebook,
    Twitter, co-browse). The page's script keeps those boxes in step; without it, a box the
    admin changed wins over the copies left as they were.
    """

    def __init__(self, channels: list[str]) -> None:
        super().__init__(
            "pending_release_on",
            "Release events",
            [(e, e, w) for e, w in END_EVENT_WORDS.items()],
        )
        self.channels = [c for c in channels if CHANNEL_END_EVENTS[c]]

    def box_name(self, token: str) -> str:  # token: "channel:event"
        return f"{self.key}-{token.replace(':', '-')}"

    def boxes(self) -> list[tuple[str, str]]:
        return [
            (channel, event)
            for channel in self.channels
            for event in END_EVENT_WORDS
            if event in CHANNEL_END_EVENTS[channel]
        ]

    def field_names(self) -> list[str]:
        return [self.name, *(self.box_name(f"{c}:{e}") for c, e in self.boxes())]

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {self.name: self.mode_field()}
        for channel, event in self.boxes():
            fields[self.box_name(f"{channel}:{event}")] = checkbox_field(
                f"{CHANNEL_WORDS[channel]}: {END_EVENT_WORDS[event]} releases a pending status",
                **{"class": "cc-m-box", "data-cc-mode": self.name, "data-cc-event": event},
            )
        return fields

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        ticked = self.shown(value, rules)
        found: dict[str, Any] = {self.name: INHERIT if value == INHERIT else "set"}
        for channel, event in self.boxes():
            found[self.box_name(f"{channel}:{event}")] = event in ticked
        return found

    def ticked(self, data: dict[str, Any], current: Any, rules: ScopeRules) -> frozenset:
        before = self.shown(current, rules)
        result = set()
        for event in END_EVENT_WORDS:
            boxes = [
                bool(data.get(self.box_name(f"{c}:{e}"))) for c, e in self.boxes() if e == event
            ]
            was = event in before
            # every changed copy says "not was"; copies left alone say "was"
            if any(box != was for box in boxes) != was:
                result.add(event)
        return frozenset(result)

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<p class="cc-m-note">{}</p>', "Tick the events in the table's “Releases” column."
        )

    def render_channel(self, form: RuleMatrixForm, channel: str) -> SafeString:
        items = [
            format_html(
                '<label class="cc-m-check">{} {}</label>',
                form[self.box_name(f"{c}:{e}")],
                END_EVENT_WORDS[e],
            )
            for c, e in self.boxes()
            if c == channel
        ]
        if not items:
            return format_html('<span class="cc-m-none">{}</span>', "no end event")
        return format_html_join("", "{}", ((i,) for i in items))


class VisibleCell(SetCell):
    """R1 on a role: inherit the channels visible by default, or exactly the ticked ones.

    Not a rule row: it writes ``Role.visible_channels`` (an empty set *is* inherit).
    """

    set_word = "only the ticked channels"

    def __init__(self, channels: list[str]) -> None:
        options = [(c, c, CHANNEL_WORDS[c]) for c in channels]
        super().__init__("visible", "Visible channels", options, rnum="R1")

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields = super().build(rules)
        for token, _, word in self.options:
            fields[self.box_name(token)].widget.attrs["aria-label"] = f"{word}: visible"
        return fields

    def read(self, rules: ScopeRules) -> Any:
        return rules.role_visible or INHERIT

    def shown(self, value: Any, rules: ScopeRules) -> frozenset:
        return rules.default_visible if value == INHERIT else value

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        value = super().parse(form, data, current)
        if value is not None and value != INHERIT and not value:
            form.add_error(
                self.name,
                "Tick at least one channel, or choose inherit (a role with no channels chosen "
                "sees the channels visible by default).",
            )
            return None
        return value

    def rows(self, value: Any, rules: ScopeRules) -> dict:
        return {}

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<p class="cc-m-note">{}</p>', "Tick the channels in the table's “Sees” column."
        )

    def hint(self, rules: ScopeRules) -> str:
        return rules.hint(self._list(rules.default_visible), ["global"])

    def apply(self, value: Any, rules: ScopeRules) -> None:
        role = rules.target.role
        assert role is not None
        role.visible_channels.set([] if value == INHERIT else sorted(value))


class DefaultVisibleCell(VisibleCell):
    """R1 globally: the channels a role that chooses none sees (``Channel.visible_by_default``)."""

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields = super().build(rules)
        del fields[self.name]
        return fields

    def field_names(self) -> list[str]:
        return [self.box_name(t) for t, _, _ in self.options]

    def read(self, rules: ScopeRules) -> Any:
        return rules.default_visible

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        return {self.box_name(t): item in value for t, item, _ in self.options}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        return self.ticked(data, current, form.rules)

    def words(self, value: Any, rules: ScopeRules) -> str:
        return self._list(value)

    def hint(self, rules: ScopeRules) -> str:
        return ""

    def apply(self, value: Any, rules: ScopeRules) -> None:
        for channel in Channel.objects.all():
            wanted = channel.code in value
            if channel.visible_by_default != wanted:
                channel.visible_by_default = wanted
                channel.save(update_fields=["visible_by_default"])
